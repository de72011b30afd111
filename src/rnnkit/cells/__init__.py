"""Cells: one time step each, ``cell(x_t, state) -> (h_t, new_state)``.

RNN (tanh/relu), LSTM (+peephole, +layer/batch norm, +projection) and GRU (both reset
conventions), minGRU and minLSTM, with typed states and the helpers that map over them.
"""

from rnnkit.cells.base import BNLSTMState, LSTMState, RecurrentCell, detach, map_state
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.minimal import MinGRUCell, MinLSTMCell
from rnnkit.cells.rnn import RNNCell

CELLS = {
    "rnn": RNNCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
    "mingru": MinGRUCell,
    "minlstm": MinLSTMCell,
}

__all__ = [
    "CELLS",
    "BNLSTMState",
    "GRUCell",
    "LSTMCell",
    "LSTMState",
    "MinGRUCell",
    "MinLSTMCell",
    "RNNCell",
    "RecurrentCell",
    "detach",
    "map_state",
]
