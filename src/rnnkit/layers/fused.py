"""The fused path: standard cells run through torch's own RNN kernels with the same parameters.

``torch.lstm`` / ``torch.gru`` / ``torch.rnn_tanh`` / ``torch.rnn_relu`` are the ops behind
``torch.nn.LSTM`` & co.: oneDNN on CPU (LSTM), cuDNN on GPU. Results equal ``torch.nn``'s.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells import GRUCell, LSTMCell, LSTMState, RNNCell, map_state
from rnnkit.layers import paths


def supports(cell) -> bool:
    """Whether torch's fused kernels compute exactly this cell."""
    if type(cell) is LSTMCell:
        return not cell.peephole and cell.norm is None
    if type(cell) is GRUCell:
        return cell.reset_after
    return type(cell) is RNNCell


def op_name(cell) -> str:
    """The name of the ``torch`` op that runs ``cell``: lstm, gru, rnn_tanh or rnn_relu."""
    if isinstance(cell, LSTMCell):
        return "lstm"
    if isinstance(cell, GRUCell):
        return "gru"
    return f"rnn_{cell.nonlinearity}"


def runs_in(cell, device_type: str, dtype: torch.dtype) -> bool:
    """Whether torch's op for ``cell`` runs in ``dtype`` under autocast here (probed once)."""
    return paths.fused_runs_in(op_name(cell), device_type, dtype)


def flat_weights(cell) -> list[Tensor]:
    """``torch.nn.RNNBase`` order for one layer and direction: w_ih, w_hh, b_ih, b_hh, w_hr."""
    weights = [cell.weight_ih, cell.weight_hh]
    if cell.bias:
        weights += [cell.bias_ih, cell.bias_hh]
    if getattr(cell, "proj_size", 0):
        weights.append(cell.weight_hr)
    return weights


def run_layer(cells, x: Tensor, state, lengths: Tensor | None, batch_sizes, training: bool):
    """One layer (one or two directions) over time-major, length-sorted ``x`` (T, B, D), from
    ``state`` stacked over the directions.

    Returns ``(out (T, B, dirs*H_out), [final state per direction])``.
    """
    cell = cells[0]
    device = x.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        if not runs_in(cell, device, dtype):
            # No kernel in the autocast dtype on this CPU (oneDNN's bfloat16 LSTM needs
            # AVX-512 bf16): the op runs in the parameters' dtype, outside autocast.
            with torch.autocast(device, enabled=False):
                like = cell.weight_ih.dtype
                state = map_state(lambda t: t.to(like), state)
                return run_layer(cells, x.to(like), state, lengths, batch_sizes, training)
    T = x.shape[0]
    bidirectional = len(cells) == 2
    params = [w for c in cells for w in flat_weights(c)]
    if lengths is not None:
        packed = pack_padded_sequence(x, lengths, enforce_sorted=True)
        head = (packed.data, packed.batch_sizes)
        tail: tuple = ()
    else:
        head, tail = (x,), (False,)  # batch_first=False
    common = (cell.bias, 1, 0.0, training, bidirectional, *tail)
    with warnings.catch_warnings():
        # torch warns on every projected-LSTM call on CPU that oneDNN cannot run it;
        # Recurrent.resolve_path already takes rnnkit's kernel there when that is faster.
        warnings.filterwarnings("ignore", "LSTM with projections is not supported")
        # cuDNN wants all weights in one buffer; each cell owns its own, so torch copies them
        # into one per call (0.15-0.55 ms on an H100, see BENCHMARKS.md) and says so, every
        # call. Known and measured: not worth a warning per step.
        warnings.filterwarnings("ignore", "RNN module weights are not part of single contiguous")
        if isinstance(cell, LSTMCell):
            out, h, c = torch.lstm(*head, [state.h, state.c], params, *common)
            finals = [LSTMState(h[d], c[d]) for d in range(len(cells))]
        else:
            if isinstance(cell, GRUCell):
                op = torch.gru
            else:
                op = torch.rnn_tanh if cell.nonlinearity == "tanh" else torch.rnn_relu
            out, h = op(*head, state, params, *common)
            finals = [h[d] for d in range(len(cells))]
    if lengths is not None:
        out, _ = pad_packed_sequence(PackedSequence(out, packed.batch_sizes), total_length=T)
    return out, finals
