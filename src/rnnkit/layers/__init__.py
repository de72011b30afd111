"""Layers: the runner that applies any cell over time (``Recurrent``), its fused torch path,
the custom hand-differentiated kernels, and converters to and from ``torch.nn.LSTM/GRU/RNN``."""

from rnnkit.layers.convert import from_torch, to_torch
from rnnkit.layers.recurrent import Recurrent

__all__ = ["Recurrent", "from_torch", "to_torch"]
