"""Adding a task is one module and one registry line (README, "Adding a task"): a task defined
outside rnnkit, registered by a line, trains, resumes, loads back, and has its own flags."""

from __future__ import annotations

import sys
import textwrap

import pytest

from rnnkit.cli.main import main
from rnnkit.tasks import registry
from rnnkit.training.trainer import load_run, train

ECHO = '''
"""Echo: repeat a sequence's first value at every step."""
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from rnnkit.tasks.base import GeneratedSets, Task, stream_generator


@dataclass(frozen=True)
class EchoConfig(GeneratedSets):
    """The echo task's length."""

    seq_len: int = 50
    """T, the sequence length."""


class EchoTask(Task):
    name, output, metrics = "echo", "tagging", {"mse": "min"}
    Config = EchoConfig
    input_size = output_size = 1
    baseline = {"mse": 1 / 12}

    def __init__(self, config):
        self.config = config

    @classmethod
    def from_config(cls, config, state=None):
        return cls(config)

    @classmethod
    def example(cls, name, directory):
        return {"seq_len": 8, "valid_size": 20, "test_size": 20}

    def _batch(self, n, generator):
        x = torch.rand(n, self.config.seq_len, 1, generator=generator)
        return x, x[:, :1, 0].expand(n, self.config.seq_len)

    def train_batch(self, step, batch_size, seed):
        return self._batch(batch_size, stream_generator(seed, "train", step))

    def eval_set(self, split):
        n = {"valid": self.config.valid_size, "test": self.config.test_size}[split]
        return self._batch(n, stream_generator(self.config.data_seed, split))

    def loss(self, output, y):
        return F.mse_loss(output[..., 0].float(), y)

    def score(self, output, y):
        mse = self.loss(output, y).item()
        return {"mse": mse, "loss": mse}
'''


@pytest.fixture
def echo(tmp_path, monkeypatch):
    (tmp_path / "echo_task.py").write_text(textwrap.dedent(ECHO))
    monkeypatch.syspath_prepend(str(tmp_path))
    # The one registration line.
    monkeypatch.setitem(registry.TASKS, "echo", registry.Entry("echo_task:EchoTask", "echo"))
    yield
    sys.modules.pop("echo_task", None)


def test_a_registered_task_trains_resumes_and_loads(echo, tmp_path):
    tiny = dict(hidden=8, eval_every=2, batch_size=8, quiet=True, tensorboard=False)
    run = train(task="echo", seq_len=8, valid_size=20, test_size=20, steps=4, **tiny,
                out=str(tmp_path / "a"))  # fmt: skip
    assert run.summary["task"] == "echo" and run.config.task.seq_len == 8
    resumed = train(resume=tmp_path / "a", steps=6)
    assert resumed.summary["steps"] == 6
    config, task, model = load_run(tmp_path / "a")
    assert type(config.task).__name__ == "EchoConfig" and task.name == "echo"


def test_a_registered_task_has_its_flags(echo, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--task", "echo", "--help"])
    out = capsys.readouterr().out
    assert "task echo: The echo task's length" in out
    assert "--seq-len SEQ_LEN" in out and "T, the sequence length. (default: 50)" in out
    # Another task's flag is refused with the task that has it.
    with pytest.raises(SystemExit):
        main(["train", "--task", "echo", "--lookback", "3"])
    assert "--lookback: not a flag of task 'echo' (only of task 'forecast')" in (
        capsys.readouterr().err
    )
