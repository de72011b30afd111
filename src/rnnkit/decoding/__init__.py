"""Decoding: greedy and beam search over a step function (no model code inside)."""

from rnnkit.decoding.search import Hypothesis, beam_search, greedy, length_penalty

__all__ = ["Hypothesis", "beam_search", "greedy", "length_penalty"]
