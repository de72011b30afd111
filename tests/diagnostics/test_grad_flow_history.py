"""The gradient-by-time profile recorded during training (``--grad-flow-every``)."""

from __future__ import annotations

import copy
import csv
import json

import torch

from rnnkit.diagnostics import diagnose
from rnnkit.diagnostics.history import FlowHistory, read
from rnnkit.training.config import RunConfig
from rnnkit.training.trainer import Trainer

TINY = dict(task="adding", seq_len=12, hidden=8, batch_size=8, eval_every=3, valid_size=16,
            test_size=16, quiet=True, tensorboard=False, device="cpu")  # fmt: skip


def test_a_recorded_step_logs_what_diagnose_measures_on_the_same_batch(tmp_path):
    trainer = Trainer(RunConfig().replace(**TINY, cell="lstm", steps=4, out=str(tmp_path / "r"),
                                          grad_flow_every=2))  # fmt: skip
    trainer.flow_history = FlowHistory(tmp_path)
    x, y = trainer.task.train_batch(2, 8, 0)
    before = copy.deepcopy(trainer.model)
    trainer.step = 2
    trainer.train_step(x, y)
    (row,) = read(tmp_path)
    expected = diagnose(before, x, y, trainer.task.loss).cells[0]
    logged = row["cells"]["encoder.cells.0"]
    assert row["step"] == 2
    torch.testing.assert_close(torch.tensor(logged["h"]), torch.tensor(expected.grad_norms))
    torch.testing.assert_close(torch.tensor(logged["c"]), torch.tensor(expected.cell_grad_norms))
    trainer.step = 3  # not a multiple of 2: nothing recorded
    trainer.train_step(x, y)
    assert len(read(tmp_path)) == 1


def losses(run) -> list[float]:
    with open(run / "metrics.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_recording_leaves_training_unchanged_and_resume_drops_later_lines(tmp_path):
    plain, recorded = tmp_path / "plain", tmp_path / "recorded"
    Trainer(RunConfig().replace(**TINY, cell="gru", steps=7, out=str(plain))).fit()
    Trainer(RunConfig().replace(**TINY, cell="gru", steps=7, out=str(recorded),
                                grad_flow_every=2)).fit()  # fmt: skip
    torch.testing.assert_close(torch.tensor(losses(recorded)), torch.tensor(losses(plain)),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    rows = read(recorded)
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert all(len(r["cells"]["encoder.cells.0"]["h"]) == 12 for r in rows)
    assert (recorded / "grad_flow.png").stat().st_size > 1000
    # A resumed run (from the step-6 checkpoint) rewrites what came after it.
    with (recorded / "grad_flow.jsonl").open("a") as f:
        f.write(json.dumps({"step": 8, "cells": {}}) + "\n")
    FlowHistory(recorded, resume_step=6)
    assert [r["step"] for r in read(recorded)] == [2, 4, 6]
