"""rnnkit: recurrent neural networks on PyTorch.

Every known remedy for hard-to-train RNNs one flag away, fast, and measured. The public API:

- cells (one time step each): :class:`RNNCell`, :class:`LSTMCell`, :class:`GRUCell`, with typed
  states :class:`LSTMState`, :class:`BNLSTMState` and the helpers :func:`map_state`, :func:`detach`;
- the runner :class:`Recurrent` (layers, directions, lengths; fused/custom/reference paths);
- converters :func:`from_torch`, :func:`to_torch`; initializers :func:`initialize`;
- whole models :class:`SequenceModel` (encoder + classification/regression/tagging head);
- :class:`Forecaster`: fit/predict/save/load for time-series forecasts;
- training: :func:`train` (the Python face of ``rnnkit train``) with a :class:`RunConfig`,
  returning a :class:`Run`; :func:`load_run` to get a trained run's model back; :func:`export`
  to ONNX or TorchScript;
- errors: every problem a user can fix raises a :class:`RnnkitError` (its kinds, such as
  ``DataError`` and ``CheckpointError``, are in :mod:`rnnkit.errors`).

Glossary used in every docstring: B batch, T time, D input features, H hidden units,
P projection size, G gates, L layers.
"""

import os as _os
import sys as _sys

# Transparent huge pages for torch's large CPU tensors: far fewer page faults, 1.3-1.7x faster
# recurrent layers on VMs (see BENCHMARKS.md). torch reads the variable once, so it only takes
# effect when rnnkit is imported before torch; set THP_MEM_ALLOC_ENABLE=0 to opt out.
if _sys.platform.startswith("linux") and "torch" not in _sys.modules:
    _os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0"  # before the imports below: training/ records it in checkpoints

from rnnkit.cells import (  # noqa: E402
    BNLSTMState,
    GRUCell,
    LSTMCell,
    LSTMState,
    MinGRUCell,
    MinLSTMCell,
    RecurrentCell,
    RNNCell,
    detach,
    map_state,
)
from rnnkit.diagnostics import Diagnosis, diagnose  # noqa: E402
from rnnkit.errors import RnnkitError  # noqa: E402
from rnnkit.export import export  # noqa: E402
from rnnkit.init import initialize  # noqa: E402
from rnnkit.layers import Recurrent, from_torch, to_torch  # noqa: E402
from rnnkit.models import SequenceModel  # noqa: E402
from rnnkit.timeseries.estimator import Forecaster  # noqa: E402
from rnnkit.training import Run, RunConfig, train  # noqa: E402
from rnnkit.training.trainer import load_run  # noqa: E402

__all__ = [
    "BNLSTMState",
    "Diagnosis",
    "Forecaster",
    "GRUCell",
    "LSTMCell",
    "LSTMState",
    "MinGRUCell",
    "MinLSTMCell",
    "RNNCell",
    "Recurrent",
    "RecurrentCell",
    "RnnkitError",
    "Run",
    "RunConfig",
    "SequenceModel",
    "__version__",
    "detach",
    "diagnose",
    "export",
    "from_torch",
    "initialize",
    "load_run",
    "map_state",
    "to_torch",
    "train",
]
