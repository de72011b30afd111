r"""Converters between rnnkit and ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` (and their ``*Cell``\ s).

Weight layout
-------------
rnnkit stores exactly the tensors ``torch.nn`` stores, under the same names, so conversion is a
copy. Glossary: D input, H hidden, P projection (LSTMP), G gates (RNN 1, GRU 3, LSTM 4).
Every rnnkit cell (and ``nn.LSTMCell`` / ``GRUCell`` / ``RNNCell``) holds:

- ``weight_ih`` (G*H, D_k): input weights; D_0 = D, D_k = dirs * (P or H) for k > 0
- ``weight_hh`` (G*H, P or H): recurrent weights
- ``bias_ih``, ``bias_hh`` (G*H): biases; absent when ``bias=False``
- ``weight_hr`` (P, H): the LSTM projection, only with ``proj_size=P``

In ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` layer ``k`` names them ``weight_ih_l{k}``, ... and
``weight_ih_l{k}_reverse``, ... for the backward direction; in a :class:`Recurrent` layer
``k``, direction ``d`` (0 forward, 1 reverse) is the cell ``rnn.cells[k * num_directions + d]``.

Gate order: the G*H rows are G blocks of H rows, one per gate, in torch's order,
**LSTM i, f, g, o** (input, forget, cell candidate, output) and **GRU r, z, n** (reset, update,
candidate). Each gate has two biases, ``b_ih`` and ``b_hh``; only their sum matters except for
the GRU candidate ``n``, where ``b_hn`` sits inside the reset product
(``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``).

Converting from other libraries by hand
---------------------------------------
**cuDNN** uses this layout itself (LSTM i, f, g, o; GRU r, z, n; two biases per gate):
``torch.nn`` hands these very tensors to cuDNN, so cuDNN-trained ``torch.nn`` weights need no
conversion, and cuDNN's canonical per-gate matrices concatenate in that order.

**Keras** stores ``kernel`` (D, G*H) and ``recurrent_kernel`` (H, G*H), the transposes of ours.
LSTM gates are i, f, c, o (``c`` is our ``g``: the same order) with ONE ``bias`` (4H). GRU gates
are z, r, h (update first); with ``reset_after=True`` (the TF2 default) ``bias`` is (2, 3H),
row 0 the input bias and row 1 the recurrent bias; ``reset_after=False`` has one bias (3H) and
needs ``GRUCell(reset_after=False)``. With one bias, put it in ``bias_ih`` and zero ``bias_hh``::

    import numpy as np
    k, rk, b = keras_lstm.get_weights()                  # (D, 4H), (H, 4H), (4H,)
    cell = LSTMCell(D, H)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(k.T))
        cell.weight_hh.copy_(torch.from_numpy(rk.T))
        cell.bias_ih.copy_(torch.from_numpy(b))
        cell.bias_hh.zero_()
    # Keras GRU: reorder each (z, r, h) block to (r, z, h) first, e.g.
    # z, r, h = np.split(k, 3, axis=1); k = np.concatenate([r, z, h], axis=1)

**haste** also stores transposed ``kernel`` (D, G*H) / ``recurrent_kernel`` (H, G*H). Its LSTM
orders gates **i, g, f, o** and has one ``bias`` (reorder to i, f, g, o; bias into ``bias_ih``,
zeros in ``bias_hh``); its GRU orders gates **z, r, n** with ``bias`` and ``recurrent_bias``
(reorder to r, z, n; they map to ``bias_ih`` and ``bias_hh``). haste's own
``to_native_weights()`` returns torch tensors that :func:`from_torch` then takes as they are.

Example::

    >>> lstm = torch.nn.LSTM(8, 16, num_layers=2, bidirectional=True)
    >>> rnn = from_torch(lstm)            # a Recurrent with the same weights and flags
    >>> back = to_torch(rnn)              # an nn.LSTM again, bit-identical state_dict
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import overload

import torch
from torch import Tensor, nn

from rnnkit.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell
from rnnkit.cells.base import check_shape
from rnnkit.layers import fused
from rnnkit.layers.recurrent import Recurrent

# Our standard cells and the torch.nn classes that compute the same step.
_TORCH_LAYERS: dict[type[RecurrentCell], type[nn.RNNBase]] = {
    LSTMCell: nn.LSTM,
    GRUCell: nn.GRU,
    RNNCell: nn.RNN,
}
_TORCH_CELLS: dict[type[RecurrentCell], type[nn.RNNCellBase]] = {
    LSTMCell: nn.LSTMCell,
    GRUCell: nn.GRUCell,
    RNNCell: nn.RNNCell,
}
_CELL_FOR_MODE = {"LSTM": LSTMCell, "GRU": GRUCell, "RNN_TANH": RNNCell, "RNN_RELU": RNNCell}
_PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")

# Recurrent keywords that from_torch fills from the module; residual is refused because it adds
# a connection torch.nn does not have, so the result would no longer compute the same function.
_FROM_MODULE = ("num_layers", "bidirectional", "batch_first", "dropout")
# Residual connections and zoneout (whose evaluation mixes old and new states) change what the
# converted module computes; weight drop and variational dropout act only in training.
_REFUSED = ("residual", "zoneout")


@overload
def from_torch(module: nn.RNNBase, **runner_options) -> Recurrent: ...
@overload
def from_torch(module: nn.RNNCellBase) -> RecurrentCell: ...
def from_torch(module, **runner_options):
    """Build the rnnkit equivalent of a ``torch.nn`` recurrent module, weights copied exactly.

    Args:
        module: ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (any layers, directions, ``bias``,
            ``proj_size``, ``batch_first``, ``dropout``, ``nonlinearity``) or ``nn.LSTMCell`` /
            ``nn.GRUCell`` / ``nn.RNNCell``.
        **runner_options: further :class:`Recurrent` keywords that do not change the function
            computed, e.g. ``path="custom"`` (layers only).

    Returns:
        A :class:`Recurrent` (for a layer) or a cell (for a cell) on the module's device and
        dtype, in the module's train/eval mode, whose outputs equal the module's. The weights
        are copies: training one does not change the other.

    Example::

        >>> gru = torch.nn.GRU(4, 6, num_layers=2, batch_first=True)
        >>> rnn = from_torch(gru)
        >>> x = torch.randn(3, 5, 4)
        >>> torch.allclose(rnn(x)[0], gru(x)[0], atol=1e-6)
        True
    """
    if isinstance(module, nn.RNNCellBase):
        if runner_options:
            raise ValueError(
                f"runner_options: a single cell takes none, got {sorted(runner_options)}"
            )
        return _cell_from_torch(module)
    if not isinstance(module, nn.RNNBase) or module.mode not in _CELL_FOR_MODE:
        raise ValueError(
            "module: expected nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell or nn.RNNCell, "
            f"got {type(module).__name__}"
        )
    _check_runner_options(runner_options)
    cell_type = _CELL_FOR_MODE[module.mode]
    cell_options: dict = {"bias": module.bias}
    if cell_type is LSTMCell:
        cell_options["proj_size"] = module.proj_size
    if cell_type is RNNCell:
        cell_options["nonlinearity"] = module.nonlinearity
    rnn = Recurrent(
        cell_type,
        module.input_size,
        module.hidden_size,
        num_layers=module.num_layers,
        bidirectional=module.bidirectional,
        batch_first=module.batch_first,
        dropout=float(module.dropout),
        **cell_options,
        **runner_options,
    )
    like = module.weight_ih_l0
    rnn.to(device=like.device, dtype=like.dtype)
    with torch.no_grad():
        for torch_name, cell, name in _layer_pairs(rnn):
            _copy(getattr(cell, name), getattr(module, torch_name), torch_name)
    return rnn.train(module.training)


def to_torch(rnn: Recurrent | RecurrentCell) -> nn.RNNBase | nn.RNNCellBase:
    """Build the ``torch.nn`` module that computes what ``rnn`` computes, weights copied exactly.

    Only standard configurations have one: LSTM (optionally with ``proj_size`` for a layer),
    GRU with ``reset_after=True``, RNN, and no ``residual``. Everything else raises.

    Args:
        rnn: a :class:`Recurrent` (gives ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``) or a single
            cell (gives ``nn.LSTMCell`` / ``nn.GRUCell`` / ``nn.RNNCell``).

    Returns:
        The ``torch.nn`` module on ``rnn``'s device and dtype, in its train/eval mode.

    Raises:
        ValueError: naming every option without a ``torch.nn`` equivalent, e.g.
            ``peephole=True``, ``norm='layer'``, ``reset_after=False``, ``residual=True``.

    Example::

        >>> rnn = Recurrent("lstm", 4, 6, num_layers=2, proj_size=3)
        >>> to_torch(rnn)
        LSTM(4, 6, proj_size=3, num_layers=2, batch_first=True)
    """
    if isinstance(rnn, RecurrentCell):
        return _cell_to_torch(rnn)
    if not isinstance(rnn, Recurrent):
        raise ValueError(f"rnn: expected a Recurrent or a RecurrentCell, got {type(rnn).__name__}")
    problems = [p for cell in rnn.cells for p in _unsupported(cell)]
    if rnn.residual:
        problems.append("residual=True")
    if problems:
        raise ValueError(
            f"rnn: torch.nn has no equivalent for {', '.join(dict.fromkeys(problems))} "
            "(torch.nn.LSTM/GRU/RNN run standard cells without residual connections)"
        )
    cell = rnn.cells[0]
    signatures = {_signature(c) for c in rnn.cells}
    if len(signatures) > 1:
        raise ValueError(
            "rnn.cells: expected one cell configuration in every layer and direction (torch.nn "
            f"has one set of flags), got {sorted(signatures)}"
        )
    like = cell.weight_ih
    options: dict = {}
    if isinstance(cell, LSTMCell):
        options["proj_size"] = cell.proj_size
    if isinstance(cell, RNNCell):
        options["nonlinearity"] = cell.nonlinearity
    module = _TORCH_LAYERS[type(cell)](
        input_size=rnn.input_size,
        hidden_size=rnn.hidden_size,
        num_layers=rnn.num_layers,
        bias=cell.bias,
        batch_first=rnn.batch_first,
        dropout=rnn.dropout,
        bidirectional=rnn.bidirectional,
        device=like.device,
        dtype=like.dtype,
        **options,
    )
    with torch.no_grad():
        for torch_name, c, name in _layer_pairs(rnn):
            _copy(getattr(module, torch_name), getattr(c, name), f"rnn.cells.{name}")
    return module.train(rnn.training)


# -- single cells ------------------------------------------------------------------------------
def _cell_from_torch(module: nn.RNNCellBase) -> RecurrentCell:
    cell_type = next((ours for ours, t in _TORCH_CELLS.items() if isinstance(module, t)), None)
    if cell_type is None:
        raise ValueError(
            f"module: expected nn.LSTMCell, nn.GRUCell or nn.RNNCell, got {type(module).__name__}"
        )
    options: dict = {"bias": module.bias}
    if cell_type is RNNCell:
        options["nonlinearity"] = module.nonlinearity
    like = module.weight_ih
    cell = cell_type(module.input_size, module.hidden_size, **options)
    cell.to(device=like.device, dtype=like.dtype)
    with torch.no_grad():
        for name in _present(cell):
            _copy(getattr(cell, name), getattr(module, name), name)
    return cell.train(module.training)


def _cell_to_torch(cell: RecurrentCell) -> nn.RNNCellBase:
    problems = _unsupported(cell)
    if getattr(cell, "proj_size", 0):
        problems.append(f"proj_size={cell.proj_size} (nn.LSTMCell has no projection)")
    if problems:
        raise ValueError(f"cell: torch.nn has no equivalent for {', '.join(problems)}")
    like = cell.weight_ih
    options: dict = {}
    if isinstance(cell, RNNCell):
        options["nonlinearity"] = cell.nonlinearity
    module = _TORCH_CELLS[type(cell)](
        cell.input_size,
        cell.hidden_size,
        bias=cell.bias,
        device=like.device,
        dtype=like.dtype,
        **options,
    )
    with torch.no_grad():
        for name in _present(cell):
            _copy(getattr(module, name), getattr(cell, name), f"cell.{name}")
    return module.train(cell.training)


# -- helpers -----------------------------------------------------------------------------------
def _unsupported(cell: RecurrentCell) -> list[str]:
    """The options of ``cell`` that torch.nn cannot express, as ``name=value`` strings."""
    if fused.supports(cell):
        return []
    if type(cell) not in _TORCH_LAYERS:
        return [f"cell type {type(cell).__name__}"]
    found = []
    if getattr(cell, "peephole", False):
        found.append("peephole=True")
    if getattr(cell, "norm", None) is not None:
        found.append(f"norm={cell.norm!r}")
    if getattr(cell, "reset_after", True) is False:
        found.append("reset_after=False")
    # fused.supports may learn to refuse more than the flags above know about.
    return found or [f"{type(cell).__name__}({cell.extra_repr()})"]


def _signature(cell: RecurrentCell) -> str:
    """The flags torch.nn holds once per module, as text for an error message."""
    flags = [f"hidden_size={cell.hidden_size}", f"bias={cell.bias}"]
    for name in ("proj_size", "nonlinearity"):
        if hasattr(cell, name):
            flags.append(f"{name}={getattr(cell, name)!r}")
    return f"{type(cell).__name__}({', '.join(flags)})"


def _present(cell: RecurrentCell) -> Iterator[str]:
    """Names of the torch.nn-layout parameters ``cell`` has (no biases when bias=False)."""
    return (n for n in _PARAM_NAMES if getattr(cell, n, None) is not None)


def _layer_pairs(rnn: Recurrent) -> Iterator[tuple[str, RecurrentCell, str]]:
    """``(torch.nn name, our cell, our name)`` for every parameter of every layer/direction."""
    dirs = rnn.num_directions
    for layer in range(rnn.num_layers):
        for d in range(dirs):
            cell = rnn.cells[layer * dirs + d]
            suffix = "_reverse" if d == 1 else ""
            for name in _present(cell):
                yield f"{name}_l{layer}{suffix}", cell, name


def _copy(dst: Tensor, src: Tensor, name: str) -> None:
    # copy_ would broadcast a wrong shape silently; a layout bug must fail loudly instead.
    check_shape(src, name, tuple(dst.shape))
    dst.copy_(src)


def _check_runner_options(options: dict) -> None:
    keywords = [
        name
        for name, p in inspect.signature(Recurrent.__init__).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    allowed = [k for k in keywords if k not in _FROM_MODULE + _REFUSED]
    for key in options:
        if key in _FROM_MODULE:
            raise ValueError(
                f"runner_options: {key!r} is taken from the module; got {key}={options[key]!r}"
            )
        if key not in allowed:
            raise ValueError(
                f"runner_options: expected only {allowed} (options that keep the module's "
                f"function), got {key}={options[key]!r}"
            )
