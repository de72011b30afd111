"""Language modelling: streams that continue from batch to batch, a state that carries across
them (detached), scores that equal one pass over the whole text, tied tables, sampling, and
generation through a saved run."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.cells.base import LSTMState
from rnnkit.decoding import sample
from rnnkit.errors import ConfigError
from rnnkit.tasks.lm import LanguageModelTask
from rnnkit.text.parallel import DataError
from rnnkit.training.config import RunConfig
from rnnkit.training.trainer import Trainer, build_model


def lm_config(path, **kw) -> RunConfig:
    fields = dict(task="lm", data=str(path), tokenizer="char", seq_len=8, batch_size=4,
                  hidden=16, device="cpu", threads=1, quiet=True, tensorboard=False)  # fmt: skip
    return RunConfig().replace(**{**fields, **kw})


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("the cat sat on the mat.\nthe dog sat on the log.\n" * 20)
    return path


def test_a_uniform_model_scores_perplexity_equal_to_the_vocabulary_size(text_file):
    task = LanguageModelTask(lm_config(text_file).task)
    task.load()
    V = task.output_size
    x, y = task.eval_set("valid")
    scores = task.score(torch.zeros(*y.shape, V), y)
    assert scores["perplexity"] == pytest.approx(V)
    assert scores["bpc"] == pytest.approx(math.log2(V))
    assert task.baseline["perplexity"] < V  # the unigram baseline knows the frequencies


def test_batches_continue_the_streams_and_unknown_characters_read_as_unk(tmp_path, text_file):
    task = LanguageModelTask(lm_config(text_file).task)
    task.load()
    for step in range(1, 6):
        x, y = task.train_batch(step, 4, seed=0)
        assert x.shape == (4, 8) and (x[:, 1:] == y[:, :-1]).all()
        if not task.resets(step + 1, 4):
            nxt, _ = task.train_batch(step + 1, 4, seed=0)
            assert (nxt[:, 0] == y[:, -1]).all()  # step k+1 starts where step k stopped
    valid = tmp_path / "v.txt"
    valid.write_text("the cat sat on the ZZZ.\n")
    task = LanguageModelTask(lm_config(text_file, valid=str(valid)).task)
    task.load()
    assert (task.ids["valid"] == 3).sum() == 3  # Z is not in the training text: <unk>


def test_the_trainer_carries_a_detached_state_across_batches(text_file):
    config = lm_config(text_file, steps=3, eval_every=3)
    trainer = Trainer(config)
    task, model = trainer.task, trainer.model  # no dropout: train and eval compute alike

    def final_state(x, state=None):
        with torch.no_grad():
            return model(x, state)[1]

    x1, y1 = task.train_batch(1, 4, 0)
    x2, y2 = task.train_batch(2, 4, 0)
    want = final_state(x1)  # the weights before the update, from zeros
    trainer.step = 1
    trainer.train_step(x1, y1)
    assert not task.carry.h.requires_grad and not task.carry.c.requires_grad
    torch.testing.assert_close(task.carry.h, want.h)
    # Step 2 starts from step 1's state: the stream continues.
    want = final_state(x2, task.carry)
    trainer.step = 2
    trainer.train_step(x2, y2)
    torch.testing.assert_close(task.carry.c, want.c)
    with torch.no_grad():  # and carrying equals reading both windows in one pass
        whole, _ = model(torch.cat([x1, x2], 1))
        second, _ = model(x2, model(x1)[1])
    torch.testing.assert_close(second, whole[:, 8:], atol=1e-5, rtol=1e-5)
    # An epoch starts from zeros, whatever was carried.
    epoch = next(s for s in range(3, 500) if task.resets(s, 4))
    xe, ye = task.train_batch(epoch, 4, 0)
    want = final_state(xe)
    trainer.step = epoch
    trainer.train_step(xe, ye)
    torch.testing.assert_close(task.carry.h, want.h)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_checkpoint_keeps_the_carried_state_and_forgets_it_on_demand(text_file, cell):
    task = LanguageModelTask(lm_config(text_file, cell=cell).task)
    assert task.carried() == {}  # nothing carried before the first step
    h = torch.randn(1, 4, 16)
    task.carry = LSTMState(h, -h) if cell == "lstm" else h
    saved = task.carried()
    assert set(saved) == ({"c", "h"} if cell == "lstm" else {"h"})
    again = LanguageModelTask(lm_config(text_file, cell=cell).task)
    again.load_carried(saved, torch.device("cpu"))
    if cell == "lstm":
        assert torch.equal(again.carry.h, h) and torch.equal(again.carry.c, -h)
    else:
        assert torch.equal(again.carry, h)
    again.forget_carried()
    assert again.carry is None and again.carried() == {}


def test_evaluation_equals_one_pass_over_each_stream(text_file):
    config = lm_config(text_file, cell="gru")
    task = LanguageModelTask(config.task)
    task.load()
    torch.manual_seed(0)
    model = build_model(config, task).eval()
    x, y = task.eval_set("valid")
    with torch.no_grad():
        logits, _ = model(x)
    nats = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    assert task.evaluate(model, "valid")["loss"] == pytest.approx(nats, rel=1e-5)


def test_tied_embeddings_are_one_tensor_and_need_matching_sizes(text_file):
    config = lm_config(text_file, tie_embeddings=True, embed=16)
    task = LanguageModelTask(config.task)
    task.load()
    model = build_model(config, task)
    assert model.output.weight is model.embed.weight
    projected = build_model(lm_config(text_file, tie_embeddings=True, embed=8, proj_size=8), task)
    assert projected.output.weight is projected.embed.weight
    with pytest.raises(ConfigError, match=r"^task\.tie_embeddings: needs embed == hidden"):
        LanguageModelTask.check(lm_config(text_file, tie_embeddings=True, embed=8))


def test_config_refusals(text_file):
    with pytest.raises(ConfigError, match=r"^task\.data: task 'lm' needs --data FILE"):
        RunConfig().replace(task="lm")
    with pytest.raises(ConfigError, match=r"^task\.embed_dropout: expected a number in \[0, 1\)"):
        lm_config(text_file, embed_dropout=1.0)
    why = r"not for task 'lm' \(a left-to-right model of every next token"
    for flags, field in [
        ({"bidirectional": True}, "model.bidirectional"),
        ({"residual": True, "layers": 2}, "model.residual"),
        ({"pooling": "mean"}, "model.pooling"),
        ({"tbptt": 4}, "train.tbptt"),
    ]:
        with pytest.raises(ConfigError, match=f"^{field}: {why}"):
            Trainer(lm_config(text_file, **flags))
    with pytest.raises(ConfigError, match=r"^model\.name: task 'lm' builds 'sequence'"):
        Trainer(lm_config(text_file, model="seq2seq"))
    with pytest.raises(ConfigError, match=r"^crf: not a field of task 'lm'"):
        lm_config(text_file, crf=True)


def test_sampling_follows_temperature_and_top_k():
    log_probs = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))

    def step(tokens, state):
        return log_probs.expand(len(tokens), -1), state

    first = torch.zeros(2000, dtype=torch.long)
    greedy = sample(step, None, first[:3], length=4, temperature=0)
    assert (greedy == 0).all()
    gen = torch.Generator().manual_seed(0)
    draws = sample(step, None, first, length=1, temperature=0.5, top_k=2, generator=gen)[:, 0]
    share = torch.bincount(draws, minlength=4).float() / len(draws)
    # top-2 of (0.5, 0.3) at temperature 0.5: 0.25 : 0.09, renormalized.
    assert share[2:].sum() == 0
    assert share[0].item() == pytest.approx(0.25 / 0.34, abs=0.03)


def test_text_files_that_cannot_be_read_say_which_line(tmp_path):
    from rnnkit.tasks.lm import read_text

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nstill fine\n\xff\xfe broken\n")
    with pytest.raises(DataError, match=r"bad.txt:3: not UTF-8 text"):
        read_text(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="empty.txt: empty text"):
        read_text(empty)


def test_generate_continues_a_learned_pattern_through_a_saved_run(tmp_path, capsys):
    from rnnkit.cli.main import main
    from rnnkit.training.trainer import load_run, train

    path = tmp_path / "abc.txt"
    path.write_text("abcd" * 400)
    run = train(lm_config(path, seq_len=16, batch_size=8, steps=150, eval_every=150, lr=1e-2,
                          cell="gru", out=str(tmp_path / "run")))  # fmt: skip
    assert run.summary["test"]["bpc"] < 0.2  # the cycle is deterministic
    assert main(["generate", str(tmp_path / "run"), "--prompt", "ab", "--length", "10",
                 "--temperature", "0"]) == 0  # fmt: skip
    assert capsys.readouterr().out == "ab" + "cdabcdabcd" + "\n"
    _, task, model = load_run(tmp_path / "run")
    assert task.generate(model, "ab", length=10, temperature=0) == "cdabcdabcd"


def test_a_resumed_language_model_run_ends_exactly_as_an_uninterrupted_one(text_file, tmp_path):
    from rnnkit.training.trainer import train

    whole = train(lm_config(text_file, steps=12, eval_every=4, out=str(tmp_path / "a")))
    train(lm_config(text_file, steps=6, eval_every=4, out=str(tmp_path / "b")))
    # A run stopped after step 6 (its last checkpoint, with the carried state), resumed to 12.
    resumed = train(resume=str(tmp_path / "b"), steps=12)
    assert resumed.summary["valid"] == whole.summary["valid"]
    for name, value in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, rtol=0, atol=0)


@pytest.mark.parametrize("kernel", ["this-cpu", "no-bf16-kernel"])
def test_a_state_carried_out_of_bfloat16_autocast_feeds_the_next_batch(
    text_file, tmp_path, monkeypatch, kernel
):
    """On every CPU: with whatever kernels it has, and as on a CPU without a bfloat16 LSTM
    kernel (oneDNN's needs AVX-512 bf16), where the fused LSTM runs in float32."""
    from rnnkit.layers import fused
    from rnnkit.training.trainer import train

    if kernel == "no-bf16-kernel":
        monkeypatch.setattr(fused, "runs_in", lambda c, device, dtype: dtype == torch.float32)

    run = train(lm_config(text_file, steps=3, eval_every=3, precision="bf16",
                          out=str(tmp_path / "bf16")))  # fmt: skip
    assert run.summary["steps"] == 3 and math.isfinite(run.summary["valid"]["loss"])
