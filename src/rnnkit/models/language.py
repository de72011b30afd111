"""A recurrent language model with the AWD-LSTM regularizers (Merity et al. 2017): embedding
dropout, variational (locked) dropout on the inputs, between layers and on the outputs,
DropConnect on the recurrent weights, and tied input/output embeddings (Inan et al. 2017;
Press & Wolf 2017).

Shapes: B streams, T steps, V vocabulary, E embedding size, H hidden units.
"""

from __future__ import annotations

from torch import Tensor, nn

from rnnkit.cells.base import map_state
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.regularize import embedding_dropout, locked_dropout


class LanguageModel(nn.Module):
    """Token ids (B, T) and a carried state -> next-token logits (B, T, V) and the new state.

    Args:
        vocab_size: V. embed_size: E.
        tie_embeddings: the output layer's weight *is* the embedding table (needs the last
            layer's output size to equal E: hidden_size == E, or an LSTM with proj_size E).
        embed_dropout: drop whole words from the table (AWD's dropoute).
        input_dropout: locked dropout on the embeddings (dropouti).
        dropout: locked dropout between layers (dropouth) when ``variational``, else the
            runner's per-step dropout; and on the last layer's outputs (AWD's dropout).
        variational: masks fixed across time (Gal & Ghahramani 2016) for the dropout on the
            inputs, between layers and on the outputs; False draws a fresh mask per step.
        weight_drop, zoneout, cell, hidden_size, num_layers, path, **cell_options: the runner
            (:class:`~rnnkit.layers.Recurrent`).

    Example::

        >>> lm = LanguageModel(100, embed_size=16, hidden_size=16, tie_embeddings=True)
        >>> logits, state = lm(torch.randint(0, 100, (2, 8)))
        >>> logits.shape, lm.output.weight is lm.embed.weight
        (torch.Size([2, 8, 100]), True)
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        embed_size: int = 128,
        hidden_size: int = 256,
        cell: str = "lstm",
        num_layers: int = 1,
        tie_embeddings: bool = False,
        embed_dropout: float = 0.0,
        input_dropout: float = 0.0,
        dropout: float = 0.0,
        variational: bool = True,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        path: str = "auto",
        **cell_options,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = Recurrent(cell, embed_size, hidden_size, num_layers=num_layers,
                             dropout=dropout, variational=variational, weight_drop=weight_drop,
                             zoneout=zoneout, path=path, **cell_options)  # fmt: skip
        out = self.rnn.output_size
        if tie_embeddings and out != embed_size:
            raise ValueError(
                f"tie_embeddings: the last layer gives {out} features and the embeddings have "
                f"{embed_size}; set hidden_size (or an LSTM's proj_size) to {embed_size}"
            )
        self.output = nn.Linear(out, vocab_size)
        if tie_embeddings:
            self.output.weight = self.embed.weight
        self.embed_dropout, self.input_dropout = embed_dropout, input_dropout
        self.dropout, self.variational = dropout, variational
        self.cell = cell

    @property
    def encoder(self) -> Recurrent:
        return self.rnn

    def resolve_path(self, ids: Tensor) -> str:
        return self.rnn.resolve_path(ids.new_zeros(*ids.shape, self.embed.embedding_dim).float())

    def _drop(self, x: Tensor, p: float) -> Tensor:
        if self.variational:
            return locked_dropout(x, p, training=self.training)
        return nn.functional.dropout(x, p, training=self.training)

    def forward(self, ids: Tensor, state=None) -> tuple[Tensor, object]:
        """ids (B, T), state as returned (None: zeros) -> (logits (B, T, V), state)."""
        x = embedding_dropout(self.embed, ids, self.embed_dropout, training=self.training)
        x = self._drop(x, self.input_dropout)  # (B, T, E)
        if state is not None:  # a state carried out of bfloat16 autocast comes back as bf16
            state = map_state(lambda s: s.to(x.dtype), state)
        out, state = self.rnn(x, state)  # (B, T, H)
        return self.output(self._drop(out, self.dropout)), state
