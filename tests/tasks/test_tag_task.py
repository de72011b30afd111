"""The tag task: vocabulary and <unk>, tags and their order, batches (padding ignored, a pure
function of seed and step), entity and token metrics that do not depend on the batch size,
the checkpoint state, config refusals; then a BiLSTM-CRF trained end to end on a synthetic NER
problem and ``rnnkit tag`` through the saved run, giving the tags the task's evaluation scores."""

import random

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.models.crf import CRFScores
from rnnkit.models.tagger import IGNORE, Tagger
from rnnkit.tasks import build_task
from rnnkit.text.conll import read_conll
from rnnkit.text.parallel import DataError
from rnnkit.text.vocab import PAD, UNK
from rnnkit.training.config import ConfigError, RunConfig
from rnnkit.training.trainer import Trainer, load_run

FILLER = ["the", "a", "saw", "met", "in", "and", "went", "to", "with", "today"]
ENTITIES = {
    "PER": [["john", "smith"], ["mary"], ["ann", "lee"], ["bob"]],
    "LOC": [["new", "york"], ["paris"], ["rome"], ["los", "angeles"]],
}


def synthetic(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """Sentences of filler words with one or two entities (single or two tokens, BIO)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(1, 2)):
            for _ in range(rng.randint(1, 3)):
                tokens.append(rng.choice(FILLER))
                tags.append("O")
            kind = rng.choice(sorted(ENTITIES))
            words = rng.choice(ENTITIES[kind])
            tokens += words
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)
        out.append((tokens, tags))
    return out


def write(path, sentences) -> str:
    lines = []
    for tokens, tags in sentences:
        lines += [f"{t}\t{g}" for t, g in zip(tokens, tags, strict=True)] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


TRAIN = [(["Mary", "met", "bob", "in", "paris"], ["B-PER", "O", "B-PER", "O", "B-LOC"]),
         (["bob", "went", "to", "new", "york"], ["B-PER", "O", "O", "B-LOC", "I-LOC"]),
         (["the", "end"], ["O", "O"])]  # fmt: skip
VALID = [(["zed", "met", "bob"], ["B-PER", "O", "B-PER"])]


@pytest.fixture
def files(tmp_path):
    return {"data": write(tmp_path / "train.conll", TRAIN),
            "valid": write(tmp_path / "valid.conll", VALID)}  # fmt: skip


def tag_config(files, **overrides) -> RunConfig:
    return RunConfig().replace(task="tag", **files, **overrides)


def test_vocabulary_unknown_tokens_tags_and_state(files, tmp_path):
    task = build_task(tag_config(files, min_freq=2).task)
    task.load()
    # Seen twice or more: bob, met, to... ; once: Mary, paris, ...; never: zed.
    assert "bob" in task.vocab.stoi and "paris" not in task.vocab.stoi
    assert task.encode(["bob", "paris", "zed"]) == [task.vocab.stoi["bob"], UNK, UNK]
    assert task.unknown([["bob", "paris", "zed"]]) == 2
    assert task.tags == ["O", "B-LOC", "B-PER", "I-LOC"]  # O first, then by name
    assert task.output_size == 4 and task.entities
    assert list(task.metrics) == ["f1", "precision", "recall", "accuracy"]
    lower = build_task(tag_config(files, lowercase=True).task)
    assert lower.encode(["MARY"]) == [lower.vocab.stoi["mary"]]
    # The checkpoint state rebuilds the task without its files.
    state = task.state_dict()
    for path in files.values():
        (tmp_path / path).unlink()
    again = build_task(tag_config(files, min_freq=2).task, state)
    assert again.vocab.itos == task.vocab.itos and again.tags == task.tags


def test_batches_pad_with_ignore_and_repeat_for_seed_and_step(files):
    task = build_task(tag_config(files).task)
    task.load()
    (inputs, y), (inputs2, y2) = task.train_batch(3, 2, 7), task.train_batch(3, 2, 7)
    assert torch.equal(inputs.ids, inputs2.ids) and torch.equal(y, y2)
    for b, n in enumerate(inputs.lengths.tolist()):
        assert (inputs.ids[b, n:] == PAD).all() and (y[b, n:] == IGNORE).all()
        assert (y[b, :n] >= 0).all()
    x, y = task.eval_set("valid")
    assert x.ids.shape == (1, 3) and y.tolist() == [[2, 0, 2]]


def test_unseen_tag_and_pos_tags(files, tmp_path):
    bad = write(tmp_path / "bad.conll", [(["bob"], ["B-ORG"])])
    task = build_task(tag_config({**files, "test": bad}).task)
    with pytest.raises(DataError, match=r"bad\.conll: tag\(s\) 'B-ORG' \(1 tokens\) not among"):
        task.load()
    pos = [(["the", "dog"], ["DT", "NN"])]
    task = build_task(tag_config({"data": write(tmp_path / "p.conll", pos),
                                  "valid": write(tmp_path / "q.conll", pos)}).task)  # fmt: skip
    task.load()
    assert not task.entities and list(task.metrics) == ["accuracy"]
    assert set(task.baseline) == {"accuracy"}


@pytest.mark.parametrize("crf", [False, True])
def test_metrics_do_not_depend_on_the_batch_size(files, crf):
    task = build_task(tag_config(files).task)
    task.load()
    model = Tagger(len(task.vocab), task.output_size, embed_size=8, hidden_size=8,
                   bidirectional=True, crf=crf)  # fmt: skip
    whole = task.evaluate(model, "test", batch_size=500)
    assert whole == pytest.approx(task.evaluate(model, "test", batch_size=1))
    x, y = task.eval_set("test")
    with torch.no_grad():
        assert whole == pytest.approx(task.score(model(*x), y))
    # Perfect scores from one-hot emissions; the CRF path (zero transitions) agrees.
    one_hot = torch.nn.functional.one_hot(y.clamp(min=0), task.output_size).float() * 10
    zeros = torch.zeros(task.output_size)
    for out in (one_hot, CRFScores(one_hot, zeros, zeros, torch.zeros(4, 4))):
        scores = task.score(out, y)
        assert scores["f1"] == scores["accuracy"] == 1.0


def test_config_refusals(files):
    with pytest.raises(
        ConfigError, match=r"^crf: not a field of task 'adding' \(only of task 'tag'\)"
    ):
        RunConfig().replace(crf=True, quiet=True)
    with pytest.raises(ConfigError, match=r"^model\.name: task 'tag' builds 'sequence'"):
        Trainer(tag_config(files, model="tree-lstm"))
    with pytest.raises(ConfigError, match="model.pooling: not for task 'tag'"):
        Trainer(tag_config(files, pooling="mean"))
    with pytest.raises(ConfigError, match="train.tbptt: not for task 'tag'"):
        Trainer(tag_config(files, tbptt=2))
    with pytest.raises(ConfigError, match="task.valid: task 'tag' needs --valid FILE"):
        RunConfig().replace(task="tag", data=files["data"])
    with pytest.raises(ConfigError, match="task.tag_col: expected a column after the token's"):
        tag_config(files, tag_col=0)


def test_pretrained_vectors_fill_the_table_and_fix_its_size(files, tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("bob 1 2 3\nparis -1 -2 -3\n")
    config = tag_config(files, embeddings=str(vectors), hidden=4, quiet=True,
                        out=str(tmp_path / "r"))  # fmt: skip
    trainer = Trainer(config)
    assert trainer.config.task.embed == 3  # the file's dimension, saved with the run
    vocab, table = trainer.task.vocab, trainer.model.embed.weight
    assert table.shape == (len(vocab), 3)
    torch.testing.assert_close(table[vocab.stoi["paris"]], torch.tensor([-1.0, -2, -3]))
    with pytest.raises(ConfigError, match=r"^task\.embed: 4 differs from the 3 dimensions of "):
        Trainer(config.replace(embed=4, out=str(tmp_path / "r2")))


# -- end to end --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tag-e2e")
    data = {
        "data": write(root / "train.conll", synthetic(300, seed=1)),
        "valid": write(root / "valid.conll", synthetic(40, seed=2)),
        "test": write(root / "test.conll", synthetic(40, seed=3)),
    }
    out = root / "run"
    args = ["train", "--task", "tag", *(x for k, v in data.items() for x in (f"--{k}", v)),
            "--bidirectional", "--crf", "--hidden", "16", "--embed", "16", "--lr", "1e-2",
            "--steps", "120", "--batch-size", "16", "--eval-every", "40", "--device", "cpu",
            "--quiet", "--no-tensorboard", "--out", str(out)]  # fmt: skip
    torch.manual_seed(0)
    assert main(args) == 0
    return out, data


def test_bilstm_crf_learns_and_rnnkit_tag_round_trips(ner_run, tmp_path, capsys):
    run_dir, data = ner_run
    config, task, model = load_run(run_dir)
    assert config.task.crf and isinstance(model, Tagger) and model.crf is not None
    scores = task.evaluate(model, "test")
    assert scores["f1"] > 0.9, scores
    # Transitions were learned: O -> I-LOC (an entity's inside after no beginning) is unlikely.
    outside, inside = task.tags.index("O"), task.tags.index("I-LOC")
    assert model.crf.transitions[outside, inside] < model.crf.transitions.mean()
    # Plain text in: one sentence per line, tokens as written.
    sentences = read_conll(data["test"])
    plain = tmp_path / "in.txt"
    plain.write_text("".join(" ".join(s.tokens) + "\n" for s in sentences), encoding="utf-8")
    out = tmp_path / "out.conll"
    capsys.readouterr()
    assert main(["tag", str(run_dir), "--input", str(plain), "--output", str(out)]) == 0
    assert f"tagged {len(sentences)} sentences" in capsys.readouterr().err
    tagged = read_conll(out)
    assert [s.tokens for s in tagged] == [s.tokens for s in sentences]
    assert [s.tags for s in tagged] == task.tag(model, [s.tokens for s in sentences])
    # The written tags score what the task's evaluation scored.
    gold = [s.tags for s in sentences]
    assert task.score_tags(gold, [s.tags for s in tagged]) == pytest.approx(
        {k: v for k, v in scores.items() if k != "loss"}
    )
    # The CoNLL test file itself (gold tags in the last column) gives the same tags.
    assert main(["tag", str(run_dir), "--input", data["test"]]) == 0
    lines = capsys.readouterr().out
    assert lines == out.read_text(encoding="utf-8")


def test_tag_and_predict_errors(ner_run, tmp_path, capsys):
    run_dir, _ = ner_run
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert main(["tag", str(run_dir), "--input", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit tag: error: ") and "no sentences" in err
    assert main(["predict", str(run_dir), "--input", str(empty)]) == 2
    assert "a tag model reads sentences; use rnnkit tag" in capsys.readouterr().err
    assert main(["export", str(run_dir), "--format", "onnx"]) == 2
    assert "export covers sequence models, not tag models" in capsys.readouterr().err
