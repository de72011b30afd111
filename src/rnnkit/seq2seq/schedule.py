"""Scheduled sampling (Bengio et al. 2015): how often the decoder is fed the gold previous
token during training, decaying from 1 (pure teacher forcing) towards a final ratio."""

from __future__ import annotations

import math
from typing import Literal

SamplingSchedule = Literal["constant", "linear", "exponential", "inverse_sigmoid"]


def teacher_forcing_ratio(
    step: int, total: int, *, final: float, schedule: SamplingSchedule = "constant"
) -> float:
    """The probability of feeding the gold token at training step ``step`` of ``total``.

    ``constant`` is ``final`` throughout. The others fall from 1 at step 0 to ``final`` at
    step ``total`` along a decay curve d(p), p = step / total, d(0) = 1, d(1) = 0:

    - ``linear``: d = 1 - p;
    - ``exponential``: d = (0.01^p - 0.01) / 0.99, fast at first (Bengio's k^i);
    - ``inverse_sigmoid``: a logistic curve centred on p = 0.5, slow, then fast, then slow
      (Bengio's k / (k + exp(i / k))), rescaled to reach exactly 0 at p = 1.

    The ratio is ``final + (1 - final) * d(p)``.
    """
    if not 0.0 <= final <= 1.0:
        raise ValueError(f"final: expected a number in [0, 1], got {final}")
    if schedule == "constant":
        return final
    p = min(max(step / max(total, 1), 0.0), 1.0)
    if schedule == "linear":
        d = 1.0 - p
    elif schedule == "exponential":
        d = (0.01**p - 0.01) / 0.99
    elif schedule == "inverse_sigmoid":

        def s(x: float) -> float:
            return 1.0 / (1.0 + math.exp(10.0 * (x - 0.5)))

        d = (s(p) - s(1.0)) / (s(0.0) - s(1.0))
    else:
        raise ValueError(
            f"schedule: expected 'constant', 'linear', 'exponential' or 'inverse_sigmoid', "
            f"got {schedule!r}"
        )
    return final + (1.0 - final) * d
