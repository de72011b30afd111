"""Sequence-to-sequence runs in the trainer: text metrics and a baseline in the summary, the
attention heatmap, vocabularies in the checkpoint (a loaded run translates without its data),
BPE, tied embeddings, exact resume under scheduled sampling, the config checks, and the final
scores' beam."""

import json
import os

import pytest
import torch

from rnnkit.tasks.translate import Seq2SeqTask
from rnnkit.training import ConfigError, RunConfig, Trainer, evaluate, train
from rnnkit.training.checkpoint import checkpoint_dir, read_json
from rnnkit.training.config import load_file
from rnnkit.training.trainer import load_run

PAIRS = [
    ("the cat sat", "le chat assis"),
    ("a dog ran", "un chien courait"),
    ("the dog sat", "le chien assis"),
    ("a cat ran", "un chat courait"),
    ("the cat ran home", "le chat courait maison"),
    ("a dog sat on the mat", "un chien assis sur le tapis"),
]
SOURCES = ["the cat sat", "a dog ran home", "the mat", "cat"]
METRICS = {"exact_match", "token_accuracy", "bleu", "chrf", "loss"}


def tiny(tmp_path, name="run", **overrides) -> RunConfig:
    """A reverse run small enough for a unit test: sources of 1-5 letters, GRU H=8, 6 steps."""
    base = dict(
        task="reverse",
        seq_len=5,
        valid_size=16,
        test_size=16,
        cell="gru",
        hidden=8,
        lr=1e-2,
        steps=6,
        batch_size=8,
        eval_every=3,
        eval_batch_size=16,
        quiet=True,
        tensorboard=False,
        out=str(tmp_path / name),
    )
    return RunConfig().replace(**{**base, **overrides})


def write_tsv(path, pairs) -> str:
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return str(path)


def tiny_translate(tmp_path, name="run", **overrides) -> RunConfig:
    """A translate run on a six-sentence corpus in ``tmp_path``."""
    data = write_tsv(tmp_path / "train.tsv", PAIRS * 3)
    valid = write_tsv(tmp_path / "valid.tsv", PAIRS)
    return tiny(tmp_path, name, task="translate", data=data, valid=valid, **overrides)


def assert_same_translations(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.texts == y.texts
        assert x.scores == y.scores  # floats, exactly


def translations(task, model):
    return [task.translate(model, SOURCES, beam=beam, n_best=beam) for beam in (1, 3)]


# -- one real run, inspected several ways ----------------------------------------------------


@pytest.fixture(scope="module")
def reverse_run(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("reverse")
    config = tiny(
        out, hidden=16, steps=60, batch_size=16, eval_every=30, valid_size=32, test_size=32,
        eval_batch_size=32,
    )  # fmt: skip
    return train(config)


def test_summary_has_text_metrics_and_a_copy_baseline(reverse_run):
    summary = json.loads((reverse_run.run_dir / "summary.json").read_text())
    for split in ("valid", "test"):
        assert set(summary[split]) == METRICS
        assert 0.0 <= summary[split]["exact_match"] <= 1.0
        assert 0.0 <= summary[split]["token_accuracy"] <= 1.0
        assert 0.0 <= summary[split]["bleu"] <= 100.0
        assert 0.0 <= summary[split]["chrf"] <= 100.0
    assert summary["baseline_label"] == "copy-the-source baseline"
    assert {"exact_match", "bleu", "chrf"} <= set(summary["baseline"])
    # Copying the source scores what text_metrics says it does on the validation pairs.
    sources, references = zip(*reverse_run.task.pairs("valid"), strict=True)
    copy = Seq2SeqTask.text_metrics(list(sources), list(references))
    for name, value in summary["baseline"].items():
        assert value == pytest.approx(copy[name])
    assert summary["target"]["metric"] == "exact_match"
    assert summary["steps"] == 60 and summary["stopped"] == "completed"
    losses = [row["loss"] for row in reverse_run.history]
    assert sum(losses[-5:]) < sum(losses[:5])


def test_attention_heatmap_is_a_png(reverse_run):
    path = reverse_run.run_dir / "attention.png"
    assert path.is_file()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_loaded_run_translates_identically(reverse_run):
    before = translations(reverse_run.task, reverse_run.model)
    assert all(len(t.texts) == 3 for t in before[1])
    _, task, model = load_run(reverse_run.run_dir)
    after = translations(task, model)
    for a, b in zip(before, after, strict=True):
        assert_same_translations(a, b)


def test_checkpoint_holds_the_vocabularies(reverse_run):
    for which in ("best", "last"):
        state = read_json(checkpoint_dir(reverse_run.run_dir, which) / "state.json")
        saved = state["task"]
        assert set(saved) == {"source", "target"}
        assert saved["source"] == reverse_run.task.src_codec.to_dict()
        assert saved["target"] == reverse_run.task.tgt_codec.to_dict()
        assert saved["source"]["kind"] == "char"
        assert saved["source"]["vocab"]["tokens"][4:] == list("abcdefghijklmnopqrstuvwxyz")


# -- translate runs from files ---------------------------------------------------------------


def test_translate_run_loads_without_its_data_files(tmp_path):
    run = train(tiny_translate(tmp_path, tokenizer="word"))
    assert set(run.summary["test"]) == METRICS
    state = read_json(checkpoint_dir(run.run_dir, "best") / "state.json")
    assert state["task"]["source"]["kind"] == "word"
    assert "chien" in state["task"]["target"]["vocab"]["tokens"]
    assert "dog" in state["task"]["source"]["vocab"]["tokens"]
    before = translations(run.task, run.model)
    os.remove(tmp_path / "train.tsv")
    os.remove(tmp_path / "valid.tsv")
    _, task, model = load_run(run.run_dir)
    assert task.src_codec.vocab.itos == run.task.src_codec.vocab.itos
    assert task.tgt_codec.vocab.itos == run.task.tgt_codec.vocab.itos
    for a, b in zip(before, translations(task, model), strict=True):
        assert_same_translations(a, b)


def test_translate_run_with_chrono_init_loads_without_its_data_files(tmp_path):
    """Chrono init sizes T_max from a training batch; loading overwrites those biases, so it
    must not need the training file."""
    run = train(tiny_translate(tmp_path, init="chrono", steps=3))
    before = translations(run.task, run.model)
    os.remove(tmp_path / "train.tsv")
    _, task, model = load_run(run.run_dir)
    for a, b in zip(before, translations(task, model), strict=True):
        assert_same_translations(a, b)


def test_bpe_run_trains_and_loads_back(tmp_path):
    run = train(tiny_translate(tmp_path, tokenizer="bpe", bpe_size=40))
    assert run.task.src_codec.kind == "bpe" and len(run.task.src_codec) <= 40
    assert run.task.src_codec.decode(run.task.src_codec.encode("the cat sat")) == "the cat sat"
    state = read_json(checkpoint_dir(run.run_dir, "best") / "state.json")
    assert state["task"]["source"]["kind"] == "bpe" and "bpe" in state["task"]["source"]
    before = translations(run.task, run.model)
    _, task, model = load_run(run.run_dir)
    assert task.src_codec.tokens("the dog sat") == run.task.src_codec.tokens("the dog sat")
    for a, b in zip(before, translations(task, model), strict=True):
        assert_same_translations(a, b)


# -- tied embeddings -------------------------------------------------------------------------


def test_tied_embeddings_save_and_load(tmp_path):
    run = train(tiny(tmp_path, tie_embeddings=True, embed=8, hidden=8))
    assert run.model.output.weight is run.model.tgt_embed.weight
    _, _, model = load_run(run.run_dir)
    assert model.output.weight is model.tgt_embed.weight
    assert torch.equal(model.output.weight, run.model.output.weight)
    # Resuming loads the optimizer state of the one shared parameter too.
    resumed = train(resume=run.run_dir, steps=8)
    assert resumed.summary["steps"] == 8
    assert resumed.model.output.weight is resumed.model.tgt_embed.weight


# -- scheduled sampling and exact resume -----------------------------------------------------


def test_resume_continues_exactly_with_scheduled_sampling(tmp_path, monkeypatch):
    """A 12-step run interrupted after step 6's checkpoint and resumed matches the run that was
    never interrupted (the schedule depends on the step and the total, the samples on the
    restored RNG)."""
    options = dict(steps=12, eval_every=6, teacher_forcing=0.5, sampling_schedule="linear")
    whole = train(tiny(tmp_path, "whole", **options))

    step = Trainer.train_step

    def crash_after_six(self, x, y):
        if self.step > 6:
            raise KeyboardInterrupt
        return step(self, x, y)

    monkeypatch.setattr(Trainer, "train_step", crash_after_six)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(tmp_path, "half", **options))
    monkeypatch.setattr(Trainer, "train_step", step)
    resumed = train(resume=tmp_path / "half", steps=12)

    assert [r["step"] for r in resumed.history] == list(range(1, 13))
    for key in ("loss", "grad_norm", "valid_loss", "valid_exact_match"):
        assert [r.get(key) for r in resumed.history] == [r.get(key) for r in whole.history], key
    assert resumed.summary["test"] == whole.summary["test"]
    assert_same_translations(
        whole.task.translate(whole.model, SOURCES), resumed.task.translate(resumed.model, SOURCES)
    )


def test_sampling_draws_from_the_global_rng(tmp_path):
    """Guard for the test above: with teacher forcing below 1 the loss depends on the RNG."""
    trainer = Trainer(tiny(tmp_path, teacher_forcing=0.5))
    x, y = trainer.task.train_batch(1, 8, 0)
    model = trainer.model
    with torch.no_grad():
        torch.manual_seed(1)
        first = model(*x, teacher_forcing=0.5)
        torch.manual_seed(2)
        second = model(*x, teacher_forcing=0.5)
        gold = model(*x)
    assert torch.equal(first[:, 0], gold[:, 0])  # the first input is always BOS
    assert not torch.equal(first, second)


def test_teacher_forcing_zero_feeds_samples(tmp_path):
    forced = train(tiny(tmp_path, "forced", steps=3, teacher_forcing=1.0))
    sampled = train(tiny(tmp_path, "sampled", steps=3, teacher_forcing=0.0))
    for a, b in zip(forced.history, sampled.history, strict=True):
        assert a["loss"] != b["loss"], a["step"]


def test_linear_schedule_starts_near_full_teacher_forcing(tmp_path):
    """Step 1 of a linear schedule to 0 over many steps feeds almost only gold tokens: its loss
    is close to the teacher-forced one, unlike constant 0."""

    def first_loss(**options):
        trainer = Trainer(tiny(tmp_path, steps=10_000, **options))
        x, y = trainer.task.train_batch(1, 8, 0)
        trainer.step = 1
        return trainer.train_step(x, y)["loss"]

    forced = first_loss()
    scheduled = first_loss(teacher_forcing=0.0, sampling_schedule="linear")
    constant = first_loss(teacher_forcing=0.0)
    assert abs(scheduled - forced) < abs(constant - forced)


# -- config errors ---------------------------------------------------------------------------

SEQ2SEQ_FIELDS = {
    "attention": "additive",
    "tie_embeddings": True,
    "input_feeding": False,
    "beam": 3,
    "teacher_forcing": 0.5,
    "sampling_schedule": "linear",
    "length_penalty": 0.6,
}


@pytest.mark.parametrize("key", list(SEQ2SEQ_FIELDS))
def test_seq2seq_fields_with_another_task_are_errors(key):
    with pytest.raises(ConfigError) as info:
        RunConfig().replace(task="adding", **{key: SEQ2SEQ_FIELDS[key]})
    message = str(info.value)
    assert message.startswith(
        f"{key}: not a field of task 'adding' (only of task 'reverse', 'sort', 'dates', 'translate'"
    ), message


@pytest.mark.parametrize(("section", "key"), [("model", "attention"), ("train", "beam")])
def test_seq2seq_fields_of_an_old_file_with_another_task_are_errors(tmp_path, section, key):
    """rnnkit 0.1 files kept them in the model and train sections; set there for another task,
    they are refused as before, not dropped."""
    path = tmp_path / "old.yaml"
    path.write_text(f"task: {{name: adding}}\n{section}: {{{key}: {SEQ2SEQ_FIELDS[key]}}}\n")
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert f"{section}.{key}: not a field of task 'adding' (only of task 'reverse'" in str(
        info.value
    )


def test_embed_needs_a_task_that_reads_tokens():
    with pytest.raises(ConfigError, match=r"^embed: not a field of task 'adding' \(only of"):
        RunConfig().replace(task="adding", embed=8)
    assert RunConfig().replace(task="reverse", embed=8).task.embed == 8


def test_translate_needs_valid(tmp_path):
    data = write_tsv(tmp_path / "train.tsv", PAIRS)
    with pytest.raises(ConfigError, match=r"^task\.valid: task 'translate' needs --valid"):
        RunConfig().replace(task="translate", data=data)
    with pytest.raises(ConfigError, match=r"^task\.data: task 'translate' needs --data"):
        RunConfig().replace(task="translate", valid=data)


@pytest.mark.parametrize("task", ["reverse", "sort", "dates"])
@pytest.mark.parametrize("key", ["data", "valid", "test"])
def test_data_files_with_a_generated_task_are_errors(task, key):
    with pytest.raises(ConfigError) as info:
        RunConfig().replace(task=task, **{key: "pairs.tsv"})
    message = str(info.value)
    assert message == (
        f"task.{key}: only for task 'translate' (task {task!r} makes its own data), got 'pairs.tsv'"
    )


@pytest.mark.parametrize(
    ("overrides", "start"),
    [
        ({"pooling": "mean"}, "model.pooling: not for sequence-to-sequence tasks"),
        ({"cell": "lstm", "proj_size": 4}, "model.proj_size: not for sequence-to-sequence tasks"),
        ({"tbptt": 2}, "train.tbptt: not for task 'reverse' (the encoder reads the whole source"),
    ],
)
def test_sequence_model_fields_with_a_seq2seq_task_are_errors(tmp_path, overrides, start):
    with pytest.raises(ConfigError) as info:
        Trainer(tiny(tmp_path, **overrides))
    message = str(info.value)
    # Like every other config error, the message starts with the field's full name.
    assert message.startswith(start), message
    assert "'reverse'" in message
    assert not (tmp_path / "run").exists()


def test_tie_embeddings_needs_embed_equal_to_hidden(tmp_path):
    config = tiny(tmp_path, tie_embeddings=True, embed=8, hidden=16)
    with pytest.raises(ConfigError) as info:
        Trainer(config)
    message = str(info.value)
    assert message.startswith("task.tie_embeddings: needs embed == hidden")
    assert "embed 8" in message and "hidden 16" in message
    assert not (tmp_path / "run").exists()
    # embed None means "the hidden size": allowed.
    Seq2SeqTask.check(tiny(tmp_path, tie_embeddings=True, hidden=16))


# -- the final scores ------------------------------------------------------------------------


def test_final_scores_decode_with_the_task_beam(tmp_path):
    run = train(tiny(tmp_path, steps=3, beam=3, length_penalty=0.5))
    assert (run.task.beam, run.task.length_penalty) == (3, 0.5)
    for split in ("valid", "test"):
        scores = evaluate(run.model, run.task, split, batch_size=16, beam=3, length_penalty=0.5)
        assert run.summary[split] == scores, split
