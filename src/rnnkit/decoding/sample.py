"""Sampling from a step function: temperature and top-k (Fan et al. 2018), no model code
inside. A step function maps the last tokens and a state to next-token log-probabilities
and the new state: ``step(tokens (N,), state) -> (log_probs (N, V), state)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]


def sample(
    step: StepFn,
    state: Any,
    tokens: Tensor,
    *,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw ``length`` tokens after ``tokens`` (N,), the last given token of each sequence.

    Each next token is drawn from softmax(log_probs / temperature), restricted to the
    ``top_k`` most likely tokens when given; temperature 0 takes the most likely (greedy).
    Returns (N, length) token ids."""
    if temperature < 0:
        raise ValueError(f"temperature: expected a number >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k: expected a positive number of tokens, got {top_k}")
    out = []
    for _ in range(length):
        log_probs, state = step(tokens, state)  # (N, V)
        if temperature == 0:
            tokens = log_probs.argmax(-1)
        else:
            scores = log_probs / temperature
            if top_k is not None and top_k < scores.shape[-1]:
                kth = scores.topk(top_k, dim=-1).values[:, -1:]  # (N, 1)
                scores = scores.masked_fill(scores < kth, float("-inf"))
            probs = scores.softmax(-1)
            tokens = torch.multinomial(probs.float().cpu(), 1, generator=generator)[:, 0]
            tokens = tokens.to(log_probs.device)
        out.append(tokens)
    return torch.stack(out, dim=1)
