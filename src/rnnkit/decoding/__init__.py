"""Decoding over a step function (no model code inside): greedy and beam search, and sampling
with temperature and top-k."""

from rnnkit.decoding.sample import sample
from rnnkit.decoding.search import Hypothesis, beam_search, greedy, length_penalty

__all__ = ["Hypothesis", "beam_search", "greedy", "length_penalty", "sample"]
