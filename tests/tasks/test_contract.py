"""The contract every registered task keeps, run for each (tiny sizes, seconds each): train a
few steps, resume without a kill and match an uninterrupted run exactly, load the run back and
score what its summary says, predict, and export where the task supports it. A new task gets
this by registering (its ``example`` hook gives the tiny run)."""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.errors import ExportError, UsageError
from rnnkit.tasks import registry
from rnnkit.training.config import RunConfig
from rnnkit.training.trainer import evaluate, load_run, train

# Loading the TorchScript export back: torch 2.13 deprecates torch.jit for torch.export.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

TINY = dict(hidden=8, steps=4, eval_every=2, batch_size=8, eval_batch_size=64, quiet=True,
            tensorboard=False, keep_checkpoints=1, memory_check=False)  # fmt: skip


@pytest.mark.parametrize("name", sorted(registry.TASKS))
def test_train_resume_load_predict_export(name, tmp_path):
    task_cls = registry.task_class(name)
    overrides = task_cls.example(name, tmp_path)
    config = RunConfig().replace(task=name, **overrides, **TINY)

    # Resumed after 4 of 6 steps, without a kill, it ends where an uninterrupted run does.
    train(config.replace(out=str(tmp_path / "a")))
    resumed = train(resume=tmp_path / "a", steps=6)
    whole = train(config.replace(steps=6, out=str(tmp_path / "b")))
    assert resumed.summary["test"] == whole.summary["test"]
    assert resumed.summary["best_step"] == whole.summary["best_step"]

    # Loaded back, the best checkpoint scores what the summary says.
    loaded, task, model = load_run(tmp_path / "b")
    assert loaded == whole.config
    scores = evaluate(model, task, "test", batch_size=64, final=True)
    assert scores == pytest.approx(whole.summary["test"], rel=1e-5, abs=1e-6)

    # rnnkit predict: the task's own input (here its validation inputs as JSON lines of
    # steps), or a one-line refusal naming the command that reads what the model reads.
    x = task.eval_set("valid")[0]
    rows = task.steps_of(x)[:3] if task.input_size else torch.zeros(0)
    path = tmp_path / "input.jsonl"
    path.write_text("".join(json.dumps(r.tolist()) + "\n" for r in rows) or "a text\n")
    try:
        items = task.predict_input(str(path))
    except UsageError as e:
        assert "rnnkit " in str(e) and "\n" not in str(e)
    else:
        lines = task.predict_batch(model, items)
        assert len(lines) == len(items) and all(json.loads(line) for line in lines)

    # rnnkit export: a traced model that gives the model's outputs, or a reason.
    try:
        example = task.export_example()
    except ExportError as e:
        assert str(e) and "\n" not in str(e)
        return
    from rnnkit.export import export

    exported = torch.jit.load(str(export(model, tmp_path / "m.pt", format="torchscript",
                                         example=example)))  # fmt: skip
    with torch.no_grad():
        assert torch.allclose(exported(example), model(example), atol=1e-5)
