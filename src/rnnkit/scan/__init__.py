"""Parallel and sequential solvers for linear recurrences h_t = a_t * h_{t-1} + b_t, the
recurrence of the minGRU and minLSTM cells."""

from rnnkit.scan.linear import MODES, chunked_scan, log_scan, mix_sequential, solve

__all__ = ["MODES", "chunked_scan", "log_scan", "mix_sequential", "solve"]
