"""--embeddings FILE: the token table starts from the file, its size is recorded in the run's
config, and a mismatched --embed or a task without tokens is an error."""

import pytest
import torch

from rnnkit.training import ConfigError, RunConfig, Trainer
from rnnkit.training.config import load_file
from rnnkit.training.trainer import load_run

TREES = "(3 (2 very) (3 good))\n(1 (2 very) (0 bad))\n(4 (3 good) (4 great))\n"


def _config(tmp_path, **overrides):
    data = tmp_path / "trees.txt"
    data.write_text(TREES)
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("good 1 2 3\nbad -1 -2 -3\n")
    base = dict(task="trees", data=str(data), valid=str(data), model="tree-lstm",
                embeddings=str(vectors), hidden=4, steps=2, eval_every=1, batch_size=2,
                quiet=True, tensorboard=False, out=str(tmp_path / "run"))  # fmt: skip
    return RunConfig().replace(**{**base, **overrides})


def test_embedding_table_starts_from_the_file(tmp_path):
    trainer = Trainer(_config(tmp_path))
    table = trainer.model.encoder.embed.weight
    vocab = trainer.task.vocab
    assert table.shape[1] == 3  # the file's dimension, with no --embed given
    torch.testing.assert_close(table[vocab.stoi["good"]], torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(table[vocab.stoi["bad"]], torch.tensor([-1.0, -2.0, -3.0]))
    run = trainer.fit()
    assert load_file(run.run_dir / "config.yaml").task.embed == 3
    (tmp_path / "vectors.txt").unlink()  # a finished run needs no vectors file
    _, _, model = load_run(run.run_dir)
    assert torch.equal(model.encoder.embed.weight, run.model.encoder.embed.weight)


def test_sequence_model_table_starts_from_the_file(tmp_path):
    trainer = Trainer(_config(tmp_path, model="sequence"))
    table = trainer.model.model.embed.weight
    torch.testing.assert_close(
        table[trainer.task.vocab.stoi["good"]], torch.tensor([1.0, 2.0, 3.0])
    )


def test_mismatched_size_and_wrong_task_are_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"^task\.embed: 5 differs from the 3 dimensions"):
        Trainer(_config(tmp_path, embed=5))
    assert not (tmp_path / "run").exists()
    for task in ("adding", "reverse"):
        with pytest.raises(ConfigError) as info:
            RunConfig().replace(task=task, embeddings=str(tmp_path / "vectors.txt"))
        assert str(info.value).startswith(
            f"embeddings: not a field of task {task!r} (only of task 'trees', 'listops'"
        ), str(info.value)
