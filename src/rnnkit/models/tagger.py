"""A sequence tagger: token ids in, one tag per token out, from a recurrent encoder (usually
bidirectional: the BiLSTM tagger) with a per-step linear layer, and optionally a CRF over the
whole tag sequence (the BiLSTM-CRF).

How the CRF plugs into training: the trainer calls ``task.loss(model(*inputs), targets)`` and
knows nothing of CRFs. A CRF tagger's forward therefore returns
:class:`~rnnkit.models.crf.CRFScores` (the emissions and the CRF's start, end and transition
scores, as tensors that carry their gradients) instead of a plain (B, T, C) tensor, and the
task turns either kind of output into a loss (:func:`tagging_loss`: cross-entropy per token, or
the CRF's negative log-likelihood) and into tags (:func:`best_tags`: argmax per token, or
Viterbi). Shapes: B batch, T time, V vocabulary, E embedding size, C tags.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.models.crf import CRF, CRFScores, log_likelihood
from rnnkit.models.sequence import SequenceModel

IGNORE = -100
"""The target at padded steps (cross-entropy's ``ignore_index``)."""

TaggerOutput = Tensor | CRFScores


class Tagger(SequenceModel):
    """Token ids (B, T) -> tag scores: per-token logits (B, T, C), or with ``crf``
    :class:`~rnnkit.models.crf.CRFScores` (those logits as emissions, plus transitions).

    Args:
        vocab_size: V (id 0, ``<pad>``, embeds to zeros). num_tags: C.
        embed_size: E.
        crf: score whole tag sequences with a linear-chain CRF.
        **encoder: the recurrent part, as for :class:`SequenceModel` (``cell``,
            ``hidden_size``, ``num_layers``, ``bidirectional``, ``dropout``, ...).

    Example::

        >>> model = Tagger(100, 5, embed_size=16, hidden_size=16, bidirectional=True, crf=True)
        >>> ids, lengths = torch.randint(4, 100, (2, 7)), torch.tensor([7, 4])
        >>> model.tag(ids, lengths)[1, 4:]  # -1 past the length
        tensor([-1, -1, -1])
    """

    def __init__(
        self, vocab_size: int, num_tags: int, *, embed_size: int, crf: bool = False, **encoder
    ) -> None:
        super().__init__(embed_size, num_tags, head="step", vocab_size=vocab_size, **encoder)
        self.crf = CRF(num_tags) if crf else None

    def forward(self, ids: Tensor, lengths: Tensor | None = None) -> TaggerOutput:
        emissions = super().forward(ids, lengths)  # (B, T, C)
        return emissions if self.crf is None else self.crf(emissions)

    @torch.no_grad()
    def tag(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """(B, T) the best tag of each token (Viterbi with a CRF), -1 past each length."""
        mask = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None].to(
            ids.device
        )
        return best_tags(self(ids, lengths), mask)


def best_tags(output: TaggerOutput, mask: Tensor) -> Tensor:
    """(B, T) the tags a tagger's ``output`` picks: the best sequence under a CRF (Viterbi),
    else the best tag of each token; -1 where ``mask`` (B, T) is False."""
    if isinstance(output, CRFScores):
        return output.decode(mask)
    return output.argmax(-1).masked_fill(~mask.bool(), -1)


def tagging_loss(output: TaggerOutput, tags: Tensor, *, reduction: str = "mean") -> Tensor:
    """The training loss of a tagger's ``output`` against ``tags`` (B, T), :data:`IGNORE` at
    padded steps: cross-entropy per token, or the CRF's negative log-likelihood of each
    sentence's tag sequence. ``reduction="mean"`` divides by the number of tokens in both
    cases (so the two losses have the same scale, and one learning rate serves both);
    ``"sum"`` does not."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction: expected 'mean' or 'sum', got {reduction!r}")
    if isinstance(output, CRFScores):
        mask = tags != IGNORE
        total = -log_likelihood(output, tags, mask).sum()
        return total / mask.sum() if reduction == "mean" else total
    return F.cross_entropy(
        output.float().flatten(0, 1), tags.flatten(), ignore_index=IGNORE, reduction=reduction
    )
