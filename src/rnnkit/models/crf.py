r"""A linear-chain conditional random field over per-step tag scores (Lafferty et al. 2001;
the BiLSTM-CRF of Huang et al. 2015 and Lample et al. 2016).

A tag sequence :math:`y_1 \dots y_n` of a sentence with emission scores :math:`E_{t,c}` (from
the encoder) scores

.. math::

    s(y) = \text{start}_{y_1} + \sum_{t=1}^{n} E_{t, y_t}
           + \sum_{t=2}^{n} A_{y_{t-1}, y_t} + \text{end}_{y_n},

and :math:`p(y) = \exp s(y) / Z` with :math:`Z = \sum_{y'} \exp s(y')` over all :math:`C^n`
sequences, computed by the forward algorithm in log space (:func:`log_partition`); the best
sequence comes from Viterbi (:func:`viterbi`). With all of ``start``, ``end`` and ``A`` zero,
the CRF factorizes into one softmax per step, so :class:`CRF` starts as the plain tagger.

Shapes: B batch, T time (the longest sentence), C tags. ``mask`` (B, T) is True at each
sentence's valid steps: a prefix of every row, at least one step long. Everything is batched;
the loops run over time only. Scores are computed in float32 (float64 if given) whatever the
emissions' dtype.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


class CRFScores(NamedTuple):
    """Everything that scores tag sequences, as plain tensors: what a CRF tagger returns, so
    that a task computes the loss and decodes without knowing the model.

    Attributes:
        emissions: (B, T, C) per-step tag scores.
        start: (C,) score of each tag first. end: (C,) score of each tag last.
        transitions: (C, C); ``transitions[i, j]`` scores tag i followed by tag j.
    """

    emissions: Tensor
    start: Tensor
    end: Tensor
    transitions: Tensor

    def log_likelihood(self, tags: Tensor, mask: Tensor) -> Tensor:
        """(B,) log p(tags) of each sentence; see :func:`log_likelihood`."""
        return log_likelihood(self, tags, mask)

    def decode(self, mask: Tensor) -> Tensor:
        """(B, T) the best tag sequences, -1 past each length; see :func:`viterbi`."""
        return viterbi(self, mask)[0]


class CRF(nn.Module):
    """The parameters of a linear-chain CRF over ``num_tags`` tags; calling it on emissions
    attaches them (:class:`CRFScores`).

    Args:
        num_tags: C.

    The start, end and transition scores start at zero (a per-step softmax; see the module
    docstring).

    Example::

        >>> crf = CRF(3)
        >>> scores = crf(torch.randn(2, 4, 3))
        >>> mask = torch.tensor([[True] * 4, [True, True, False, False]])
        >>> scores.decode(mask).shape
        torch.Size([2, 4])
    """

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags: expected at least 1, got {num_tags}")
        self.num_tags = num_tags
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))

    def forward(self, emissions: Tensor) -> CRFScores:
        """(B, T, C) emissions -> :class:`CRFScores` with this CRF's parameters."""
        if emissions.shape[-1] != self.num_tags:
            raise ValueError(
                f"emissions: expected {self.num_tags} tag scores per step, got shape "
                f"{tuple(emissions.shape)}"
            )
        return CRFScores(emissions, self.start, self.end, self.transitions)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"


def _check(scores: CRFScores, mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The scores in float32 (or float64), after checking their shapes and ``mask``."""
    emissions = scores.emissions
    if emissions.dim() != 3:
        raise ValueError(f"emissions: expected (B, T, C), got shape {tuple(emissions.shape)}")
    if mask.shape != emissions.shape[:2]:
        raise ValueError(
            f"mask: expected shape {tuple(emissions.shape[:2])} (B, T), got {tuple(mask.shape)}"
        )
    mask = mask.bool()
    if emissions.shape[1] == 0 or not bool(mask[:, 0].all()):
        raise ValueError("mask: every sentence needs at least one step (mask[:, 0] all true)")
    dtype = torch.promote_types(emissions.dtype, torch.float32)  # bf16 and fp16 -> fp32
    return tuple(t.to(dtype) for t in scores)


def log_partition(scores: CRFScores, mask: Tensor) -> Tensor:
    """(B,) log Z of each sentence: the log-sum-exp of the scores of all its tag sequences
    (the forward algorithm; padded steps carry the forward variables unchanged)."""
    emissions, start, end, transitions = _check(scores, mask)
    mask = mask.bool()
    alpha = start + emissions[:, 0]  # (B, C): log-sum over the paths ending in each tag
    for t in range(1, emissions.shape[1]):
        # (B, C_prev, 1) + (C_prev, C): sum out the previous tag.
        step = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[:, t]
        alpha = torch.where(mask[:, t, None], step, alpha)
    return torch.logsumexp(alpha + end, dim=1)


def path_score(scores: CRFScores, tags: Tensor, mask: Tensor) -> Tensor:
    """(B,) the score s(tags) of each sentence's tag sequence (tags (B, T); values at padded
    steps are ignored)."""
    emissions, start, end, transitions = _check(scores, mask)
    mask = mask.bool()
    tags = tags.masked_fill(~mask, 0)  # any valid index; masked out below
    weights = mask.float()
    emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T)
    total = start[tags[:, 0]] + (emitted * weights).sum(1)
    total = total + (transitions[tags[:, :-1], tags[:, 1:]] * weights[:, 1:]).sum(1)
    last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)
    return total + end[last]


def log_likelihood(scores: CRFScores, tags: Tensor, mask: Tensor) -> Tensor:
    """(B,) log p(tags | sentence) = s(tags) - log Z."""
    return path_score(scores, tags, mask) - log_partition(scores, mask)


def viterbi(scores: CRFScores, mask: Tensor) -> tuple[Tensor, Tensor]:
    """The highest-scoring tag sequence of each sentence.

    Returns:
        ``(tags, best)``: tags (B, T) long, -1 past each sentence's length; best (B,) their
        scores s(tags). Ties go to the lower tag index.
    """
    emissions, start, end, transitions = _check(scores, mask)
    mask = mask.bool()
    B, T, _ = emissions.shape
    score = start + emissions[:, 0]  # (B, C): the best path ending in each tag
    pointers = []  # pointers[t - 1][b, c]: the best tag before tag c at step t
    for t in range(1, T):
        best, previous = (score.unsqueeze(2) + transitions).max(dim=1)
        pointers.append(previous)
        score = torch.where(mask[:, t, None], best + emissions[:, t], score)
    best, current = (score + end).max(dim=1)
    tags = torch.full((B, T), -1, dtype=torch.long, device=emissions.device)
    # Backwards from each sentence's last step; before it (t >= length) the tag waits.
    for t in range(T - 1, -1, -1):
        valid = mask[:, t]
        tags[:, t] = torch.where(valid, current, tags[:, t])
        if t > 0:
            before = pointers[t - 1].gather(1, current.unsqueeze(1)).squeeze(1)
            current = torch.where(valid, before, current)
    return tags, best
