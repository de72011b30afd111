"""Run directories written by rnnkit 0.1 (every task's fields in one task section, task heads
in the model and train sections) still load, score as they did, and resume.

The fixture (tests/fixtures/runs_0_1) was written by the release before tasks owned their
configs: tiny runs of eight tasks, each with a non-default task-head field where it has one
(a CRF, additive attention with beam 2, tied embeddings, an N-ary Tree-LSTM, a seq2seq
forecaster). Their data files are in its data/ folder; the configs name /tmp/fx/data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rnnkit.training.config import load_file
from rnnkit.training.trainer import evaluate, load_run, train

FIXTURE = Path(__file__).parent.parent / "fixtures" / "runs_0_1"
RUNS = sorted(p.name for p in FIXTURE.iterdir() if (p / "config.yaml").is_file())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A copy of the fixture with its configs pointing at the copy's data files."""
    root = tmp_path_factory.mktemp("old") / "runs"
    shutil.copytree(FIXTURE, root)
    for run in RUNS:
        config = root / run / "config.yaml"
        config.write_text(config.read_text().replace("/tmp/fx/data", str(root / "data")))
    return root


def test_the_fixture_has_the_old_layout():
    text = (FIXTURE / "tag" / "config.yaml").read_text()
    assert "  crf: true" in text.split("model:")[1]  # a head field in the model section
    assert "  horizon: 12" in text.split("model:")[0]  # another task's field in task
    assert len(RUNS) == 8


@pytest.mark.parametrize("run", RUNS)
def test_an_old_run_loads_and_scores_as_its_summary_says(runs, run):
    config, task, model = load_run(runs / run)
    assert config.task.name == run
    assert type(config.task) is type(task).Config  # the task's own config, not a flat one
    summary = json.loads((runs / run / "summary.json").read_text())
    metrics = evaluate(model, task, "test", batch_size=config.train.eval_batch_size, final=True)
    assert metrics == pytest.approx(summary["test"], rel=1e-5, abs=1e-6)


def test_old_head_fields_land_in_the_task_config(runs):
    assert load_file(runs / "tag" / "config.yaml").task.crf is True
    assert load_file(runs / "tag" / "config.yaml").task.embed == 6
    reverse = load_file(runs / "reverse" / "config.yaml").task
    assert (reverse.attention, reverse.beam) == ("additive", 2)
    assert load_file(runs / "lm" / "config.yaml").task.tie_embeddings is True
    listops = load_file(runs / "listops" / "config.yaml")
    assert (listops.model.name, listops.task.tree_cell) == ("tree-lstm", "nary")
    forecast = load_file(runs / "forecast" / "config.yaml")
    assert (forecast.model.name, forecast.task.attention) == ("seq2seq", "dot")
    assert not hasattr(load_file(runs / "adding" / "config.yaml").task, "horizon")


@pytest.mark.parametrize("run", ["adding", "tag", "lm"])
def test_an_old_run_resumes(runs, run):
    resumed = train(resume=runs / run, steps=6)
    assert resumed.summary["steps"] == 6
    # The resumed run saved its config in this release's layout, and it loads back.
    config = load_file(runs / run / "config.yaml")
    assert config.task.name == run
