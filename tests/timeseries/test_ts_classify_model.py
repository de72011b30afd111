"""ts-classify's default model (LSTM-FCN) and training length (--steps auto)."""

from __future__ import annotations

import pytest

from rnnkit.errors import ConfigError
from rnnkit.models import SequenceModel
from rnnkit.models.fcn import RecurrentFCN
from rnnkit.tasks.ts_classify import EPOCHS, MAX_STEPS, MIN_STEPS, TSClassifyTask
from rnnkit.training.config import RunConfig
from rnnkit.training.trainer import Trainer, load_run, train

TINY = dict(hidden=8, eval_every=5, batch_size=8, quiet=True, tensorboard=False)


@pytest.fixture
def files(tmp_path):
    return TSClassifyTask.example("ts-classify", tmp_path)  # 30 training series of 16 steps


def test_the_default_is_lstm_fcn_sized_to_the_longest_series_and_it_reloads(files, tmp_path):
    run = train(task="ts-classify", **files, **TINY, steps=10, out=str(tmp_path / "run"))
    assert run.config.model.name == "rnn-fcn"  # 'auto' resolved, and recorded
    assert run.summary["cell"] == "lstm-fcn"
    assert isinstance(run.model, RecurrentFCN) and run.model.max_len == 16
    _, task, model = load_run(tmp_path / "run")
    assert isinstance(model, RecurrentFCN) and task.max_len == 16  # from the checkpoint


def test_gru_fcn_and_the_plain_sequence_model_are_one_flag_away(files, tmp_path):
    gru = train(task="ts-classify", **files, **TINY, steps=5, cell="gru", out=str(tmp_path / "gru"))
    assert gru.summary["cell"] == "gru-fcn"
    plain = train(
        task="ts-classify", **files, **TINY, steps=5, model="sequence", out=str(tmp_path / "seq")
    )
    assert isinstance(plain.model, SequenceModel) and plain.summary["cell"] == "lstm"


def test_pooling_is_refused_for_the_fcn_model(files, tmp_path):
    config = RunConfig().replace(task="ts-classify", **files, pooling="mean", out=str(tmp_path))
    with pytest.raises(ConfigError, match="model.pooling: not for --model rnn-fcn"):
        Trainer(config)


@pytest.mark.parametrize(("batch", "expected"), [(8, EPOCHS * 4), (64, MIN_STEPS), (1, MAX_STEPS)])
def test_steps_auto_is_epochs_over_the_training_series_within_bounds(files, batch, expected):
    task = TSClassifyTask.from_config(RunConfig().replace(task="ts-classify", **files).task)
    task.load()
    assert len(task.data["train"][1]) == 27  # 10% of the 30 held out for validation
    assert task.default_steps(batch) == expected  # ceil(27 / 8) = 4 steps an epoch


def test_the_run_records_the_steps_auto_chose(files, tmp_path):
    tiny = {**TINY, "batch_size": 64}
    trainer = Trainer(RunConfig().replace(task="ts-classify", **files, **tiny, out=str(tmp_path)))
    assert trainer.config.train.steps == MIN_STEPS
