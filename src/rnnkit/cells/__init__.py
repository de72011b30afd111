"""Cells: one time step each, ``cell(x_t, state) -> (h_t, new_state)``.

RNN (tanh/relu), LSTM (+peephole, +layer/batch norm, +projection) and GRU (both reset
conventions), with typed states and the helpers that map over them.
"""

from rnnkit.cells.base import BNLSTMState, LSTMState, RecurrentCell, detach, map_state
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell

CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}

__all__ = [
    "CELLS",
    "BNLSTMState",
    "GRUCell",
    "LSTMCell",
    "LSTMState",
    "RNNCell",
    "RecurrentCell",
    "detach",
    "map_state",
]
