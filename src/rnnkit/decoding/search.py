"""Greedy and beam search over a step function, with no model code inside.

A step function maps the last tokens and a state to next-token log-probabilities and the new
state: ``step(tokens (N,), state) -> (log_probs (N, V), state)``. The search owns scores and
back-pointers; it reorders the state through ``reorder(state, indices)``, which by default
``index_select``-s dim 0 of every tensor in the state (batch-first states: a tensor, or tuples
and NamedTuples of tensors). Pass your own for states whose batch is elsewhere, e.g.
``lambda s, i: map_state(lambda t: t.index_select(1, i), s)`` for (L, N, H) RNN states.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]


def reorder_batch_first(state: Any, indices: Tensor) -> Any:
    """Select rows ``indices`` of dim 0 of every tensor in ``state`` (nested tuples too)."""
    if isinstance(state, Tensor):
        return state.index_select(0, indices.to(state.device))
    if isinstance(state, tuple):
        items = [reorder_batch_first(s, indices) for s in state]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    if state is None:
        return None
    raise TypeError(f"state: cannot reorder a {type(state).__name__}; pass reorder=")


@dataclass(frozen=True)
class Hypothesis:
    """One output sequence: ``tokens`` without BOS (ending with EOS if it finished),
    ``log_prob`` its total log-probability and ``score`` the length-penalized value it was
    ranked by."""

    tokens: list[int]
    log_prob: float
    score: float


def length_penalty(length: int, alpha: float) -> float:
    """Wu et al. (2016): ((5 + |Y|) / 6) ** alpha; alpha 0 ranks by total log-probability."""
    return ((5.0 + length) / 6.0) ** alpha


def greedy(
    step: StepFn, state: Any, *, batch_size: int, bos: int, eos: int, max_len: int
) -> list[Hypothesis]:
    """Take the most likely token at every step until EOS or ``max_len`` tokens.

    Returns one :class:`Hypothesis` per batch item (score = log-probability).
    """
    _check_args(batch_size=batch_size, max_len=max_len)
    tokens = torch.full((batch_size,), bos, dtype=torch.long)
    total = torch.zeros(batch_size, dtype=torch.float64)
    done = torch.zeros(batch_size, dtype=torch.bool)
    out: list[list[int]] = [[] for _ in range(batch_size)]
    for _ in range(max_len):
        log_probs, state = step(tokens, state)  # (B, V)
        best, tokens = log_probs.max(-1)
        tokens = tokens.cpu()
        total += torch.where(done, 0.0, best.double().cpu())
        for b in range(batch_size):
            if not done[b]:
                out[b].append(int(tokens[b]))
        done |= tokens == eos
        if bool(done.all()):
            break
    return [Hypothesis(out[b], float(total[b]), float(total[b])) for b in range(batch_size)]


def beam_search(
    step: StepFn,
    state: Any,
    *,
    batch_size: int,
    bos: int,
    eos: int,
    max_len: int,
    beam_size: int = 5,
    n_best: int = 1,
    alpha: float = 0.0,
    reorder: Callable[[Any, Tensor], Any] = reorder_batch_first,
) -> list[list[Hypothesis]]:
    """Batched beam search.

    Each batch item keeps ``beam_size`` live hypotheses. At every step the best ``2 *
    beam_size`` extensions are ranked; those ending in EOS are finished (ranked by
    log-probability / :func:`length_penalty`), the best others live on. A batch item stops
    when it has ``beam_size`` finished hypotheses, or (``alpha`` 0) when its ``n_best``-th
    finished one outscores every live one; at ``max_len`` live hypotheses are finished as they
    stand.

    Args:
        step, state: the model, as in the module docstring; ``state`` holds ``batch_size``
            rows and is expanded to ``batch_size * beam_size`` rows here.
        n_best: how many hypotheses to return per batch item (<= ``beam_size``).
        alpha: length penalty exponent (Wu et al. 2016; 0.6-1.0 is common).

    Returns:
        per batch item, its ``n_best`` hypotheses, best first.
    """
    _check_args(batch_size=batch_size, max_len=max_len)
    if beam_size < 1 or not 1 <= n_best <= beam_size:
        raise ValueError(
            f"beam_size, n_best: expected 1 <= n_best <= beam_size, got {n_best}, {beam_size}"
        )
    B, K = batch_size, beam_size
    state = reorder(state, torch.arange(B).repeat_interleave(K))  # (B*K, ...)
    scores = torch.full((B, K), float("-inf"), dtype=torch.float64)
    scores[:, 0] = 0.0  # one live hypothesis per item at first: the others are copies
    history = torch.empty(B, K, 0, dtype=torch.long)
    tokens = torch.full((B * K,), bos, dtype=torch.long)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    active = [True] * B
    for _ in range(max_len):
        log_probs, state = step(tokens, state)  # (B*K, V)
        V = log_probs.shape[-1]
        cand = scores[:, :, None] + log_probs.double().cpu().view(B, K, V)  # (B, K, V)
        top_scores, top_index = cand.view(B, K * V).topk(min(2 * K, K * V), dim=1)
        next_scores = torch.full((B, K), float("-inf"), dtype=torch.float64)
        next_beam = torch.zeros(B, K, dtype=torch.long)
        next_token = torch.full((B, K), eos, dtype=torch.long)
        for b in range(B):
            if not active[b]:
                continue
            live = 0
            for score, index in zip(top_scores[b].tolist(), top_index[b].tolist(), strict=True):
                if score == float("-inf"):
                    break
                beam, token = divmod(index, V)
                if token == eos:
                    seq = history[b, beam].tolist() + [eos]
                    norm = score / length_penalty(len(seq), alpha)
                    finished[b].append(Hypothesis(seq, score, norm))
                elif live < K:
                    next_scores[b, live], next_beam[b, live] = score, beam
                    next_token[b, live] = token
                    live += 1
                if live == K:
                    break
            active[b] = not _item_done(finished[b], next_scores[b], K, n_best, alpha)
        rows = (torch.arange(B)[:, None] * K + next_beam).view(-1)
        state = reorder(state, rows)
        history = torch.cat([history.gather(1, next_beam[..., None].expand_as(history)),
                             next_token[..., None]], dim=2)  # fmt: skip
        scores = next_scores.masked_fill(~torch.tensor(active)[:, None], float("-inf"))
        tokens = next_token.view(-1)
        if not any(active):
            break
    for b in range(B):
        if not active[b]:
            continue
        for k in range(K):  # still searching at max_len: its live hypotheses end here
            score = float(scores[b, k])
            if score > float("-inf"):
                seq = history[b, k].tolist()
                finished[b].append(Hypothesis(seq, score, score / length_penalty(len(seq), alpha)))
    return [sorted(f, key=lambda h: h.score, reverse=True)[:n_best] for f in finished]


def _item_done(
    finished: list[Hypothesis], live_scores: Tensor, K: int, n_best: int, alpha: float
) -> bool:
    if len(finished) >= K:
        return True
    if len(finished) < n_best or alpha != 0.0:
        return False
    # With alpha 0 a live score can only fall: once the n_best-th finished hypothesis
    # outscores every live one, none of them can enter the n best.
    kth = sorted((h.score for h in finished), reverse=True)[n_best - 1]
    return kth >= float(live_scores.max())


def _check_args(*, batch_size: int, max_len: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size: expected at least 1, got {batch_size}")
    if max_len < 1:
        raise ValueError(f"max_len: expected at least 1, got {max_len}")
