"""Guards before and during training (issue 10): non-finite data and losses skip steps, then
stop with the last checkpoint intact; every config field is checked with a message naming it;
a run too large for the memory stops before it starts."""

import dataclasses
import math
import types
import typing
from typing import Literal, get_args, get_origin

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from robust import FUZZ

from rnnkit.errors import ConfigError, ResourceError
from rnnkit.training import RunConfig, Trainer, resources, train
from rnnkit.training.config import SECTIONS
from rnnkit.training.trainer import load_run


def tiny(tmp_path, name="run", **overrides) -> RunConfig:
    base = dict(
        task="adding", seq_len=6, valid_size=32, test_size=32, cell="lstm", hidden=8,
        dropout=0.0, steps=20, batch_size=8, eval_every=5, eval_batch_size=32, quiet=True,
        tensorboard=False, out=str(tmp_path / name),
    )  # fmt: skip
    if overrides.get("task", "adding") != "adding":  # fields of the adding task's config
        for key in ("seq_len", "valid_size", "test_size"):
            del base[key]
    return RunConfig().replace(**{**base, **overrides})


def poison(trainer: Trainer, steps: set[int]) -> None:
    """Training batches of ``steps`` get a NaN in their inputs."""
    original = trainer.task.train_batch_part

    def batch(step, *args, **kwargs):
        x, y = original(step, *args, **kwargs)
        if step in steps:
            x = x.clone()
            x[0, 0, 0] = float("nan")
        return x, y

    trainer.task.train_batch_part = batch


# -- non-finite data and losses --------------------------------------------------------------


def test_nan_in_the_data_skips_those_steps_and_training_goes_on(tmp_path, capsys):
    trainer = Trainer(tiny(tmp_path, quiet=False))
    poison(trainer, {3, 4, 11})
    weights = {}
    step_fn = trainer.train_step

    def recorded(x, y):
        row = step_fn(x, y)
        weights[trainer.step] = [p.detach().clone() for p in trainer.params]
        return row

    trainer.train_step = recorded
    run = trainer.fit()
    # A skipped step leaves every weight as it was; the others move them.
    for step in (3, 4, 11):
        assert all(torch.equal(a, b) for a, b in zip(weights[step - 1], weights[step], strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(weights[4], weights[5], strict=True))
    assert run.summary["skipped_steps"] == 3
    assert math.isfinite(run.summary["test"]["mse"])
    losses = {int(r["step"]): r.get("loss") for r in run.history}
    assert [s for s, loss in losses.items() if loss is None] == [3, 4, 11]  # logged empty
    err = capsys.readouterr().err
    assert "step 3: non-finite loss (nan)" in err and "update skipped (1 in a row" in err
    assert "step 4:" in err and "(2 in a row, training stops at 10)" in err


def test_k_non_finite_steps_in_a_row_stop_with_the_last_checkpoint_intact(tmp_path):
    config = tiny(tmp_path, max_nonfinite=3, steps=40)
    trainer = Trainer(config)
    poison(trainer, set(range(6, 41)))
    with pytest.raises(FloatingPointError) as info:
        trainer.fit()
    message = str(info.value)
    assert message.startswith("step 8: non-finite loss or gradient in 3 steps in a row")
    assert str(trainer.run_dir) in message and "intact" in message
    # The step-5 checkpoint loads; its weights are those training had before the NaNs (the
    # steps after it were all skipped).
    _, _, model = load_run(trainer.run_dir, which="last")
    for (name, saved), now in zip(model.state_dict().items(), trainer.params, strict=False):
        assert torch.equal(saved, now.detach()), name
    # Without the NaNs, the run resumes from it and finishes.
    resumed = train(resume=trainer.run_dir, steps=12)
    assert resumed.summary["steps"] == 12


def test_a_nan_loss_is_guarded_like_nan_data(tmp_path):
    trainer = Trainer(tiny(tmp_path, max_nonfinite=2))
    original = trainer.task.loss
    trainer.task.loss = lambda out, y: original(out, y) + float("inf")
    with pytest.raises(FloatingPointError, match="step 2: .* in 2 steps in a row"):
        trainer.fit()


# -- every config field ----------------------------------------------------------------------

FIELDS = [(name, cls, f) for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)]
ANY_VALUE = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.lists(st.integers(), max_size=2)
)


def wrong_type(hint):
    """A value of a type ``hint`` does not admit."""
    if get_origin(hint) is Literal:
        return "no-such-choice"
    union = get_origin(hint) in (typing.Union, types.UnionType)
    return 12345 if str in (get_args(hint) if union else (hint,)) else [1, 2]


@pytest.mark.parametrize(
    ("section", "cls", "field"), FIELDS, ids=[f"{s}.{f.name}" for s, _, f in FIELDS]
)
def test_a_wrong_type_names_the_field_the_value_and_what_is_allowed(section, cls, field):
    hint = typing.get_type_hints(cls)[field.name]
    value = wrong_type(hint)
    with pytest.raises(ConfigError) as info:
        cls(**{field.name: value})
    message = str(info.value)
    assert message.startswith(f"{section}.{field.name}: expected "), message
    assert repr(value) in message
    if get_origin(hint) is Literal:
        assert all(repr(choice) in message for choice in get_args(hint))


@FUZZ
@given(index=st.integers(0, len(FIELDS) - 1), value=ANY_VALUE)
def test_any_value_is_taken_or_refused_naming_its_field(index, value):
    section, cls, field = FIELDS[index]
    try:
        built = cls(**{field.name: value})
    except ConfigError as e:
        assert str(e).startswith(f"{section}.{field.name}: "), str(e)
        assert "\n" not in str(e)
        return
    kept = getattr(built, field.name)
    assert kept == value
    assert not (isinstance(kept, float) and not math.isfinite(kept))  # NaN is never taken


# -- memory ----------------------------------------------------------------------------------


def test_saved_bytes_counts_each_saved_storage_once():
    a = torch.randn(100, requires_grad=True)
    b = torch.randn(100, requires_grad=True)
    assert resources.saved_bytes(lambda: (a * b).sum(), budget=1e9) == 800  # a and b
    assert resources.saved_bytes(lambda: (a * a).sum(), budget=1e9) == 400  # a, once
    assert resources.saved_bytes(lambda: torch.tanh(a).sum(), budget=1e9) == 400  # tanh(a)


def test_saved_bytes_stops_the_forward_at_the_budget():
    a = torch.randn(100, requires_grad=True)
    steps = []

    def forward():
        h = a
        for i in range(1000):
            steps.append(i)
            h = torch.tanh(h)

    assert resources.saved_bytes(forward, budget=4000) is None
    assert len(steps) == 11  # 10 outputs make 4000 bytes; the 11th passes: stopped there


def test_a_model_too_large_is_refused_before_it_is_built(tmp_path):
    with pytest.raises(ResourceError) as info:
        Trainer(tiny(tmp_path, hidden=200_000))
    message = str(info.value)
    assert message.startswith("model: ")
    assert "parameters need at least" in message and "adam state" in message
    assert "the largest is encoder.layers.0.0.weight_hh" in message or "weight_hh" in message
    assert "(800000, 200000)" in message  # the LSTM's recurrent weights, 4H x H


def test_a_step_too_large_is_refused_with_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda device: 64 * 2**20)
    with pytest.raises(ResourceError) as info:
        Trainer(tiny(tmp_path, seq_len=20_000, batch_size=256))
    message = str(info.value)
    assert message.startswith(
        "train.batch_size: one training step of 256 sequences (20000x2 each) would need"
    )
    assert "64.0 MiB free on cpu" in message and "--batch-size" in message
    # The same run with the guard off builds (and would be left to the allocator).
    Trainer(tiny(tmp_path, "off", seq_len=20_000, batch_size=256, memory_check=False))


def test_the_memory_check_does_not_change_the_run(tmp_path):
    """It runs a forward pass, in eval mode and with every RNG restored after it."""
    kwargs = dict(cell="lstm", layers=2, dropout=0.3, norm="batch", steps=10)
    on = train(tiny(tmp_path, "on", memory_check=True, **kwargs))
    off = train(tiny(tmp_path, "off", memory_check=False, **kwargs))
    assert on.summary["test"] == off.summary["test"]
    for (name, a), b in zip(
        on.model.state_dict().items(), off.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_the_step_guard_measures_the_longest_training_text(tmp_path, monkeypatch):
    lines = [
        f"{'pos' if i % 2 else 'neg'} {'good' if i % 2 else 'bad'} film {i % 7}" for i in range(40)
    ]
    data = tmp_path / "train.txt"
    data.write_text("\n".join(lines) + "\n")
    kwargs = dict(task="classify", data=str(data), tokenizer="word", batch_size=32, hidden=8)
    monkeypatch.setattr(resources, "available_memory", lambda device: 256 * 2**20)
    Trainer(tiny(tmp_path, "short", **kwargs))  # short texts fit
    long = tmp_path / "long.txt"
    long.write_text("\n".join([*lines, "pos " + "word " * 30_000]) + "\n")
    with pytest.raises(ResourceError, match=r"32 sequences \(30000 each\)"):
        Trainer(tiny(tmp_path, "long", **{**kwargs, "data": str(long)}))


def test_a_vocabulary_too_large_is_refused_naming_the_embedding(tmp_path, monkeypatch):
    text = tmp_path / "words.txt"
    words = [f"w{i}" for i in range(5000)]
    text.write_text("\n".join(" ".join(words[i : i + 10]) for i in range(0, 5000, 10)) + "\n")
    kwargs = dict(task="lm", data=str(text), tokenizer="word", seq_len=20, embed=64, hidden=64)
    monkeypatch.setattr(resources, "available_memory", lambda device: 8 * 2**20)
    with pytest.raises(ResourceError) as info:
        Trainer(tiny(tmp_path, "big", **kwargs))
    message = str(info.value)
    assert "the largest is embed.weight (" in message and ", 64)" in message  # V x E
    assert "--max-vocab" in message
    Trainer(tiny(tmp_path, "capped", max_vocab=500, **kwargs))  # a capped vocabulary fits


def test_the_weights_count_once_not_once_per_sequence(tmp_path, monkeypatch):
    """Large weights, small activations: a matmul saves its weight for the backward pass, but
    that does not grow with the batch (measured as the difference of two batch sizes)."""
    config = tiny(tmp_path, cell="gru", hidden=1024, seq_len=6, batch_size=64)
    weights = Trainer(tiny(tmp_path, "probe", cell="gru", hidden=1024, memory_check=False))
    size = sum(p.numel() * 4 for p in weights.params)  # ~12.6 MB
    # Room for the model check (weights, gradients, Adam's two moments) and a little more;
    # counting the weights once per sequence would ask for 64 x 12.6 MB.
    monkeypatch.setattr(resources, "available_memory", lambda device: 4 * size + 2**24)
    Trainer(config)


def test_nonfinite_steps_in_a_row_carry_over_a_resume(tmp_path):
    config = tiny(tmp_path, max_nonfinite=3, steps=5, eval_every=5)
    trainer = Trainer(config)
    poison(trainer, {4, 5})
    assert trainer.fit().summary["skipped_steps"] == 2  # 2 in a row: not yet stopped
    resumed = Trainer(config.replace(steps=20), resume=True)
    assert resumed.step == 5 and resumed.nonfinite == 2  # one more NaN step would stop it


def test_a_language_model_recovers_after_a_skipped_step(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat and the dog ran to the cat\n" * 40)
    trainer = Trainer(tiny(tmp_path, task="lm", data=str(text), seq_len=8, hidden=16, steps=15))
    original, calls = trainer.task.loss, {"n": 0}

    def once_nan(out, y):
        calls["n"] += 1
        return original(out, y) * (float("nan") if calls["n"] == 3 else 1.0)

    trainer.task.loss = once_nan
    run = trainer.fit()  # the NaN state of step 3 is not carried into step 4
    assert run.summary["skipped_steps"] == 1
    assert all(math.isfinite(r["loss"]) for r in run.history if r["step"] != 3)


def test_a_batch_of_one_is_measured_once(monkeypatch):
    """With one sequence a step, a batch of two copies is never built: it could need more
    memory than the step itself."""
    sizes = []

    def forward(copies):
        sizes.append(copies)
        torch.tanh(torch.randn(copies, 100, requires_grad=True)).sum()

    monkeypatch.setattr(resources, "available_memory", lambda device: 2**30)
    kwargs = dict(state_bytes=0, device=torch.device("cpu"), sequence="100")
    resources.check_step(forward, batch_size=1, **kwargs)
    assert sizes == [1]
    resources.check_step(forward, batch_size=8, **kwargs)
    assert sizes == [1, 1, 2]
