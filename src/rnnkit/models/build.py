"""Model builders every task shares: the recurrent part a :class:`ModelConfig` describes, its
configured initialization, pretrained token embeddings, and the plain sequence model.

A task's ``build_model`` calls these and adds its head; nothing here knows a task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from rnnkit.init import initialize

if TYPE_CHECKING:
    from rnnkit.training.config import ModelConfig


def runner_options(m: ModelConfig) -> dict[str, Any]:
    """Keyword arguments of :class:`~rnnkit.layers.Recurrent` (and of the models wrapping
    one) for model config ``m``: the cell and its options, sizes, directions, dropout,
    residual connections, path, and the regularizers that are set."""
    options: dict[str, Any] = {}
    if m.cell == "rnn":
        options["nonlinearity"] = m.nonlinearity
    if m.cell == "lstm":
        options.update(peephole=m.peephole, norm=None if m.norm == "none" else m.norm)
        if m.proj_size is not None:
            options["proj_size"] = m.proj_size
    if m.cell in ("mingru", "minlstm"):
        options.update(mode=m.scan, chunk_size=m.chunk_size, block=m.block)
    runner = dict(
        cell=m.cell,
        hidden_size=m.hidden,
        num_layers=m.layers,
        bidirectional=m.bidirectional,
        dropout=m.dropout,
        residual=m.residual,
        path=m.path,
        **options,
    )
    # The runner's regularizers, passed only when set (every model takes them then).
    regularizers = dict(variational=m.variational, weight_drop=m.weight_drop, zoneout=m.zoneout)
    runner.update({k: v for k, v in regularizers.items() if v})
    return runner


def initialize_runners(m: ModelConfig, runners: list[nn.Module], *, span: int) -> None:
    """Initialize the recurrent ``runners`` as ``m.init`` and ``m.forget_bias`` say; ``span``
    is the number of steps the task's sequences have (chrono's T_max)."""
    for runner in runners:
        if m.init == "xavier":
            initialize(runner, input_weights="xavier_uniform", recurrent_weights="xavier_uniform")
        elif m.init == "orthogonal":
            initialize(runner, input_weights="xavier_uniform", recurrent_weights="orthogonal")
        elif m.init == "identity":
            initialize(runner, input_weights="xavier_uniform", recurrent_weights="identity")
        elif m.init == "chrono":
            # Chrono's T_max is the longest dependency: at most the whole sequence.
            initialize(runner, input_weights="keep", recurrent_weights="keep", bias="chrono",
                       t_max=max(2, span))  # fmt: skip
        if m.forget_bias is not None:
            initialize(runner, input_weights="keep", recurrent_weights="keep", bias="keep",
                       forget_bias=m.forget_bias)  # fmt: skip


def load_embeddings(path: str | None, vocab, table: nn.Embedding, *, quiet: bool) -> None:
    """Fill the token ``table`` from a GloVe/word2vec text file at ``path`` (None: leave it)
    for the tokens of ``vocab``; prints how many were found unless ``quiet``."""
    if path is None:
        return
    from rnnkit.text.vectors import read_word_vectors

    weights, found = read_word_vectors(path, vocab)
    with torch.no_grad():
        table.weight.copy_(weights)
    if not quiet:
        print(f"embeddings: {found} of {len(vocab) - 4} words found in {path}")
