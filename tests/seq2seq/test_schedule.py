"""Scheduled sampling: the teacher-forcing ratio starts at 1, ends at ``final`` and follows the
documented curve in between."""

import math

import pytest

from rnnkit.seq2seq import teacher_forcing_ratio

DECAYING = ["linear", "exponential", "inverse_sigmoid"]
TOTAL = 200


def _curve(schedule, final, total=TOTAL):
    return [
        teacher_forcing_ratio(step, total, final=final, schedule=schedule)
        for step in range(total + 1)
    ]


@pytest.mark.parametrize("final", [0.0, 0.25, 1.0])
def test_constant_is_final_at_every_step(final):
    assert _curve("constant", final) == [final] * (TOTAL + 1)
    assert teacher_forcing_ratio(5, 10, final=final) == final  # the default schedule


@pytest.mark.parametrize("schedule", DECAYING)
@pytest.mark.parametrize("final", [0.0, 0.3])
def test_decaying_schedules_start_at_one_and_end_at_final(schedule, final):
    assert teacher_forcing_ratio(0, TOTAL, final=final, schedule=schedule) == pytest.approx(1.0)
    assert teacher_forcing_ratio(TOTAL, TOTAL, final=final, schedule=schedule) == pytest.approx(
        final, abs=1e-12
    )
    # past the end the ratio stays at final
    late = teacher_forcing_ratio(3 * TOTAL, TOTAL, final=final, schedule=schedule)
    assert late == pytest.approx(final, abs=1e-12)


@pytest.mark.parametrize("step, total, final", [(50, 200, 0.0), (30, 120, 0.4), (7, 10, 0.1)])
def test_linear_formula(step, total, final):
    p = step / total
    expected = 1 - (1 - final) * p
    assert teacher_forcing_ratio(step, total, final=final, schedule="linear") == pytest.approx(
        expected
    )


def test_exponential_and_inverse_sigmoid_follow_their_curves():
    final, step = 0.2, 60
    p = step / TOTAL
    d_exp = (0.01**p - 0.01) / 0.99

    def s(x):
        return 1 / (1 + math.exp(10 * (x - 0.5)))

    d_sig = (s(p) - s(1)) / (s(0) - s(1))
    exp = teacher_forcing_ratio(step, TOTAL, final=final, schedule="exponential")
    sig = teacher_forcing_ratio(step, TOTAL, final=final, schedule="inverse_sigmoid")
    assert exp == pytest.approx(final + (1 - final) * d_exp)
    assert sig == pytest.approx(final + (1 - final) * d_sig)


@pytest.mark.parametrize("schedule", DECAYING)
def test_decaying_schedules_never_increase(schedule):
    curve = _curve(schedule, 0.1)
    assert all(b <= a for a, b in zip(curve, curve[1:], strict=False))
    assert curve[0] > curve[TOTAL // 2] > curve[-1]  # and actually decay
    assert all(0.1 - 1e-12 <= r <= 1.0 + 1e-12 for r in curve)


def test_exponential_falls_fast_and_inverse_sigmoid_slow_at_first():
    final = 0.0
    linear = _curve("linear", final)
    exponential = _curve("exponential", final)
    sigmoid = _curve("inverse_sigmoid", final)
    quarter = TOTAL // 4
    for step in range(1, quarter + 1):
        assert exponential[step] < linear[step], step
        assert sigmoid[step] > linear[step], step
    # the inverse sigmoid is symmetric about the midpoint: below linear in the last quarter
    for step in range(TOTAL - quarter, TOTAL):
        assert sigmoid[step] < linear[step], step


@pytest.mark.parametrize("final", [-0.1, 1.5])
def test_final_outside_unit_interval_is_rejected(final):
    for schedule in ["constant", *DECAYING]:
        with pytest.raises(ValueError, match=rf"final: expected a number in \[0, 1\], got {final}"):
            teacher_forcing_ratio(1, 10, final=final, schedule=schedule)


def test_unknown_schedule_is_named():
    with pytest.raises(ValueError, match=r"schedule: expected 'constant', .*got 'cosine'"):
        teacher_forcing_ratio(1, 10, final=0.5, schedule="cosine")
