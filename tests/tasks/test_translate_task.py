"""Sequence-to-sequence tasks: padded batches with BOS/EOS where the docs put them, generated
tasks as pure functions of (seed, step), file-backed epochs that visit every pair once, codecs
restored from a checkpoint without the files, metrics recomputed by hand, decoding in input
order, and the task's own config (its checks, old files' head fields, the final scores' beam)."""

import datetime
import json
from collections import Counter

import pytest
import sacrebleu
import torch
import torch.nn.functional as F

import rnnkit.text.batching as batching_module
from rnnkit.decoding import greedy
from rnnkit.errors import ConfigError, ExportError, UsageError
from rnnkit.seq2seq import Seq2Seq
from rnnkit.tasks import registry
from rnnkit.tasks.pairs import dates
from rnnkit.tasks.translate import Seq2SeqConfig, Seq2SeqTask, collate, read_pairs
from rnnkit.text import DataError
from rnnkit.training.config import load_file

PAD, BOS, EOS, UNK = 0, 1, 2, 3


def _decode_batch(task, inputs, y):
    """The (source, target) strings of a batch."""
    return [
        (task.src_codec.decode(s.tolist()), task.tgt_codec.decode(t.tolist()))
        for s, t in zip(inputs.src, y, strict=True)
    ]


# -- collate --------------------------------------------------------------------------------


def test_collate_pads_and_frames_targets():
    src = [[5, 6, 7, EOS], [8, EOS], [9, 10, EOS]]
    tgt = [[11, 12], [13, 14, 15, 16], [17]]
    inputs, tgt_out = collate(src, tgt)
    B, S, T = 3, 4, 5  # T: longest target + 1 (for BOS in, EOS out)
    assert inputs.src.shape == (B, S) and inputs.tgt_in.shape == (B, T)
    assert tgt_out.shape == (B, T)
    assert inputs.src.dtype == inputs.tgt_in.dtype == tgt_out.dtype == torch.long
    assert inputs.src_lengths.tolist() == [4, 2, 3]
    for b in range(B):
        n, m = len(src[b]), len(tgt[b])
        assert inputs.src[b, :n].tolist() == src[b]
        assert (inputs.src[b, n:] == PAD).all()
        assert inputs.tgt_in[b, : m + 1].tolist() == [BOS, *tgt[b]]
        assert tgt_out[b, : m + 1].tolist() == [*tgt[b], EOS]
        assert (inputs.tgt_in[b, m + 1 :] == PAD).all() and (tgt_out[b, m + 1 :] == PAD).all()
        # teacher forcing: the input at t+1 is the output at t, wherever both are real tokens
        assert inputs.tgt_in[b, 1 : m + 1].tolist() == tgt_out[b, :m].tolist()
    assert (inputs.tgt_in[:, 0] == BOS).all()
    both = (inputs.tgt_in[:, 1:] != PAD) & (tgt_out[:, :-1] != PAD)
    assert torch.equal(inputs.tgt_in[:, 1:][both], tgt_out[:, :-1][both])


def test_collate_empty_targets_are_bos_then_eos():
    inputs, tgt_out = collate([[4, EOS], [EOS]], [[], []])
    assert inputs.tgt_in.tolist() == [[BOS], [BOS]]
    assert tgt_out.tolist() == [[EOS], [EOS]]


# -- generated tasks ------------------------------------------------------------------------


def _reverse(**options):
    config = dict(name="reverse", seq_len=5, min_len=2, valid_size=16, test_size=16) | options
    return Seq2SeqTask.from_config(Seq2SeqConfig(**config))


def test_reverse_batches_are_a_function_of_seed_and_step():
    task = _reverse()
    a, b = task.train_batch(3, 8, 0), task.train_batch(3, 8, 0)
    for x, y in zip([*a[0], a[1]], [*b[0], b[1]], strict=True):
        assert torch.equal(x, y)
    fresh = _reverse().train_batch(3, 8, 0)  # a new task object draws the same batch
    assert _decode_batch(task, *a) == _decode_batch(task, *fresh)
    assert _decode_batch(task, *a) != _decode_batch(task, *task.train_batch(4, 8, 0))
    assert _decode_batch(task, *a) != _decode_batch(task, *task.train_batch(3, 8, 1))


def test_reverse_targets_are_reversed_sources_of_the_configured_lengths():
    min_len, seq_len = 2, 5
    task = _reverse(min_len=min_len, seq_len=seq_len)
    inputs, y = task.train_batch(1, 300, 0)
    for source, target in _decode_batch(task, inputs, y):
        assert target == source[::-1]
        assert min_len <= len(source) <= seq_len and source.isalpha()
    # every source carries its EOS; lengths cover [min_len, seq_len] and nothing else
    lengths = inputs.src_lengths.tolist()
    assert set(lengths) == set(range(min_len + 1, seq_len + 2))
    rows = torch.arange(len(lengths))
    assert (inputs.src[rows, inputs.src_lengths - 1] == EOS).all()


def test_reverse_valid_and_test_sets_are_fixed_and_differ():
    task = _reverse()
    valid, test = task.pairs("valid"), task.pairs("test")
    assert len(valid) == len(test) == 16
    assert valid != test
    assert _reverse().pairs("valid") == valid
    assert all(t == s[::-1] for s, t in valid + test)
    inputs, y = task.eval_set("valid")
    assert _decode_batch(task, inputs, y) == valid


def test_training_stream_never_replays_the_valid_or_test_set():
    # Batches should come from their own random stream (as in rnnkit.tasks.base), not from a
    # seed that some (seed, step) can equal: with train seed 0, step == data_seed must not
    # reproduce the validation set, nor step == data_seed + 1 the test set.
    B, data_seed = 8, 5
    task = _reverse(data_seed=data_seed, valid_size=B, test_size=B)
    held = [task.pairs("valid"), task.pairs("test")]
    for step in range(1, 2 * data_seed):
        batch = _decode_batch(task, *task.train_batch(step, B, 0))
        assert batch not in held, f"training step {step} (seed 0) replays a held-out set"


def _iso_days(pairs):
    return {datetime.date.fromisoformat(t) for _, t in pairs}


def test_dates_valid_and_test_days_never_appear_in_training():
    task = Seq2SeqTask.from_config(Seq2SeqConfig(name="dates", valid_size=200, test_size=200))
    held = _iso_days(task.pairs("valid")) | _iso_days(task.pairs("test"))
    assert len(held) > 300
    first = datetime.date(1950, 1, 1)
    assert all((day - first).days % 5 == 0 for day in held)
    seen = set()
    for step in range(1, 51):
        inputs, y = task.train_batch(step, 64, 0)
        seen |= _iso_days(_decode_batch(task, inputs, y))
    assert len(seen) > 2500  # 3200 draws over ~29000 training days
    assert not seen & held
    assert all((day - first).days % 5 != 0 for day in seen)


def test_dates_held_out_days_are_every_fifth():
    first = datetime.date(1950, 1, 1)
    held = _iso_days(dates(300, seed=3, held_out=True))
    rest = _iso_days(dates(300, seed=3, held_out=False))
    assert all((d - first).days % 5 == 0 for d in held)
    assert all((d - first).days % 5 != 0 for d in rest)
    everything = _iso_days(dates(300, seed=3))
    assert {(d - first).days % 5 for d in everything} == set(range(5))


# -- translate from files -------------------------------------------------------------------

TRAIN = [
    ("the cat sat", "le chat assis"),
    ("a dog", "un chien"),
    ("the dog ran", "le chien courait"),
    ("a cat", "un chat"),
    ("the red cat sat on a mat", "le chat rouge assis sur un tapis"),
    ("a dog ran", "un chien courait"),
    ("the cat", "le chat"),
    ("red dog", "chien rouge"),
    ("a cat", "un chat"),  # a repeated pair is visited twice per epoch
    ("the mat", "le tapis"),
    ("a red mat", "un tapis rouge"),
]
VALID = [
    ("the red dog", "le chien rouge"),
    ("a mat", "un tapis"),
    ("the cat ran", "le chat courait"),
]


def _write_tsv(path, pairs):
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return str(path)


def _write_two(directory, name, pairs):
    src, tgt = directory / f"{name}.src.txt", directory / f"{name}.tgt.txt"
    src.write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    tgt.write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    return f"{src},{tgt}"


@pytest.fixture(params=["tsv", "two_files"])
def files(request, tmp_path):
    if request.param == "tsv":
        return _write_tsv(tmp_path / "train.tsv", TRAIN), _write_tsv(tmp_path / "valid.tsv", VALID)
    return _write_two(tmp_path, "train", TRAIN), _write_two(tmp_path, "valid", VALID)


def _translate(data, valid, **options):
    config = Seq2SeqConfig(
        name="translate", data=data, valid=valid, **({"tokenizer": "word"} | options)
    )
    return Seq2SeqTask.from_config(config)


def test_translate_reads_both_file_forms(files):
    task = _translate(*files)
    assert task.pairs("train") == TRAIN
    assert task.pairs("valid") == VALID
    assert task.pairs("test") == VALID  # no test file: the validation set is reported
    assert set(task.src_codec.vocab.itos[4:]) == {w for s, _ in TRAIN for w in s.split()}
    assert set(task.tgt_codec.vocab.itos[4:]) == {w for _, t in TRAIN for w in t.split()}
    inputs, y = task.eval_set("valid")
    assert _decode_batch(task, inputs, y) == VALID  # every valid word was seen in training


def _epoch(task, first_step, n, B, seed):
    return [
        pair
        for step in range(first_step, first_step + n)
        for pair in _decode_batch(task, *task.train_batch(step, B, seed))
    ]


def test_an_epoch_visits_every_training_pair_once_then_reshuffles(files):
    task = _translate(*files)
    B, seed = 3, 7
    n = len(task._batches.epoch(0, B, seed))
    assert n == -(-len(TRAIN) // B)  # one pool: ceil(N / B) batches
    first = _epoch(task, 1, n, B, seed)
    assert Counter(first) == Counter(TRAIN)
    second = _epoch(task, n + 1, n, B, seed)
    assert Counter(second) == Counter(TRAIN)
    assert second != first
    assert _epoch(task, 1, n, B, seed) == first  # a pure function of (seed, step)
    other = _translate(*files)
    assert _epoch(other, n + 1, n, B, seed) == second  # also on a fresh task


def test_later_epochs_do_not_rebucket_the_data_every_step(tmp_path, monkeypatch):
    # An epoch's batches are computed once; steps of epoch 1 and later must not recompute
    # epoch 0's batches (just to count them) and then their own, on every step.
    task = _translate(_write_tsv(tmp_path / "t.tsv", TRAIN), _write_tsv(tmp_path / "v.tsv", VALID))
    B, seed = 2, 0
    n = len(task._batches.epoch(0, B, seed))
    calls = []
    real = batching_module.bucket_batches

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(batching_module, "bucket_batches", counting)
    for step in range(n + 1, 2 * n + 1):  # all of epoch 1
        task.train_batch(step, B, seed)
    assert len(calls) <= 2, f"{len(calls)} bucketings for the {n} steps of one epoch"


@pytest.mark.parametrize("tokenizer", ["word", "char", "bpe"])
def test_state_dict_restores_codecs_without_the_files(tmp_path, tokenizer):
    data = _write_tsv(tmp_path / "train.tsv", TRAIN)
    valid = _write_tsv(tmp_path / "valid.tsv", VALID)
    task = _translate(data, valid, tokenizer=tokenizer, bpe_size=60)
    state = json.loads(json.dumps(task.state_dict()))
    missing = str(tmp_path / "gone.tsv"), str(tmp_path / "gone_too.tsv")
    config = Seq2SeqConfig(name="translate", data=missing[0], valid=missing[1], tokenizer=tokenizer)
    loaded = Seq2SeqTask.from_config(config, state)
    assert loaded.src_codec.kind == tokenizer
    assert loaded.src_codec.vocab.itos == task.src_codec.vocab.itos
    assert loaded.tgt_codec.vocab.itos == task.tgt_codec.vocab.itos
    for source, target in [*TRAIN, *VALID, ("the zebra sat", "le zebre assis")]:
        assert loaded.encode_source(source) == task.encode_source(source)
        ids = task.tgt_codec.encode(target)
        assert loaded.tgt_codec.encode(target) == ids
        assert loaded.tgt_codec.decode(ids) == task.tgt_codec.decode(ids)
    with pytest.raises(DataError, match="gone.tsv: no such file"):  # only read when asked
        loaded.pairs("train")


@pytest.mark.parametrize("spec", ["a,b,c", ",b", "a,"])
def test_read_pairs_rejects_a_bad_spec(spec):
    with pytest.raises(DataError, match="expected a TSV file or two line-aligned files"):
        read_pairs(spec)


# -- loss and metrics -----------------------------------------------------------------------


def test_loss_is_cross_entropy_over_real_tokens_and_accuracy_counts_them():
    task = _reverse()
    _, y = task.train_batch(1, 6, 0)
    B, T = y.shape
    V = len(task.tgt_codec)
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(B, T, V, generator=g)
    logits[0, 0, y[0, 0]] += 5.0  # make some predictions right
    logits[1, 1, y[1, 1]] += 5.0
    assert (y == PAD).any()  # the batch has padding to ignore

    total, count, correct = 0.0, 0, 0
    for b in range(B):
        for t in range(T):
            if y[b, t] == PAD:
                continue
            total += -F.log_softmax(logits[b, t], dim=-1)[y[b, t]].item()
            count += 1
            correct += int(logits[b, t].argmax() == y[b, t])
    assert task.loss(logits, y).item() == pytest.approx(total / count, rel=1e-6)
    scores = task.score(logits, y)
    assert scores["loss"] == pytest.approx(total / count, rel=1e-6)
    assert scores["token_accuracy"] == pytest.approx(correct / count)
    assert correct >= 2

    noisy = logits.clone()
    noisy[y == PAD] = torch.randn(int((y == PAD).sum()), V, generator=g) * 10
    assert task.loss(noisy, y).item() == pytest.approx(task.loss(logits, y).item(), rel=1e-6)
    assert task.score(noisy, y)["token_accuracy"] == scores["token_accuracy"]


def test_text_metrics_against_sacrebleu():
    hyps = ["the cat sat on the mat", "a dog ran home", "hello there big world", "x"]
    refs = ["the cat sat on a mat", "a dog ran home", "hello big world", "x"]
    metrics = Seq2SeqTask.text_metrics(hyps, refs)
    exact = sum(h == r for h, r in zip(hyps, refs, strict=True)) / len(refs)
    assert metrics["exact_match"] == pytest.approx(exact) == pytest.approx(0.5)
    assert metrics["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert metrics["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert 0 < metrics["bleu"] < 100 and 0 < metrics["chrf"] < 100

    same = Seq2SeqTask.text_metrics(refs, refs)
    assert same["exact_match"] == 1.0
    assert same["bleu"] == pytest.approx(100.0)
    assert same["chrf"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="hypotheses: 1 for 4 references"):
        Seq2SeqTask.text_metrics(hyps[:1], refs)


# -- decoding -------------------------------------------------------------------------------

SOURCES = ["abc", "hello", "xy", "qwerty", "m", "hi", "abcd"]


@pytest.fixture(scope="module")
def tiny():
    task = _reverse()
    torch.manual_seed(0)
    model = Seq2Seq(len(task.src_codec), len(task.tgt_codec), embed_size=8, hidden_size=12)
    with torch.no_grad():  # untrained but not uniform: varied outputs, some ending early
        for p in model.parameters():
            p.mul_(3.0)
        model.output.bias[EOS] += 2.0
    return task, model.eval()


def test_translate_returns_results_in_input_order(tiny):
    task, model = tiny
    forward = task.translate(model, SOURCES, max_len=8, batch_size=3)
    backward = task.translate(model, SOURCES[::-1], max_len=8, batch_size=3)
    assert len(forward) == len(SOURCES)
    for a, b in zip(forward, backward[::-1], strict=True):
        assert a.texts == b.texts
        assert a.scores == pytest.approx(b.scores, abs=1e-5)
    for source, result in zip(SOURCES, forward, strict=True):
        (alone,) = task.translate(model, [source], max_len=8)
        assert alone.texts == result.texts
    # the checks above are not vacuous: outputs differ, and some stop at EOS before max_len
    assert len({r.texts[0] for r in forward}) > 3
    assert {len(r.hypotheses[0].tokens) < 8 for r in forward} == {True, False}


def test_beam_of_one_is_greedy(tiny):
    task, model = tiny
    results = task.translate(model, SOURCES, beam=1, max_len=8)
    for source, result in zip(SOURCES, results, strict=True):
        inputs, _ = collate([task.encode_source(source)], [[]])
        with torch.no_grad():
            state = model.encode(inputs.src, inputs.src_lengths)
            (hyp,) = greedy(model.step, state, batch_size=1, bos=BOS, eos=EOS, max_len=8)
        assert len(result.texts) == len(result.scores) == 1
        assert result.hypotheses[0].tokens == hyp.tokens
        assert result.texts[0] == task.tgt_codec.decode(hyp.tokens)
        assert result.scores[0] == pytest.approx(hyp.score, abs=1e-5)


def test_n_best_returns_that_many_in_score_order(tiny):
    task, model = tiny
    results = task.translate(model, SOURCES[:4], beam=3, n_best=3, max_len=8)
    for result in results:
        assert len(result.texts) == len(result.scores) == len(result.hypotheses) == 3
        assert all(a >= b for a, b in zip(result.scores, result.scores[1:], strict=False))
        assert len({tuple(h.tokens) for h in result.hypotheses}) == 3


@pytest.mark.parametrize("beam, n_best", [(0, 1), (1, 2), (3, 0), (2, 3)])
def test_translate_rejects_bad_beam_or_n_best(tiny, beam, n_best):
    task, model = tiny
    with pytest.raises(ValueError, match="beam, n_best: expected 1 <= n_best <= beam"):
        task.translate(model, SOURCES[:1], beam=beam, n_best=n_best)


# -- the task's config and hooks ------------------------------------------------------------


@pytest.mark.parametrize("name", ["reverse", "sort", "dates", "translate"])
def test_every_seq2seq_name_is_served_by_this_task(name):
    assert registry.task_class(name) is Seq2SeqTask
    assert registry.config_class(name) is Seq2SeqConfig


def test_evaluate_decodes_greedily_and_the_final_scores_as_configured(tiny, monkeypatch):
    _, model = tiny
    task = _reverse(beam=3, length_penalty=0.6)
    asked = []
    real = task.translate

    def spy(model, sources, **options):
        asked.append((options["beam"], options["length_penalty"]))
        return real(model, sources, **options)

    monkeypatch.setattr(task, "translate", spy)
    during = task.evaluate(model, "valid", batch_size=5)
    final = task.evaluate(model, "valid", batch_size=5, final=True)
    chosen = task.evaluate(model, "valid", batch_size=5, final=True, beam=2, length_penalty=0.0)
    assert asked == [(1, 0.0), (3, 0.6), (2, 0.0)]
    assert during == task.evaluate(model, "valid", batch_size=5, beam=1)
    assert final == task.evaluate(model, "valid", batch_size=5, beam=3, length_penalty=0.6)
    assert chosen == task.evaluate(model, "valid", batch_size=5, beam=2)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"beam": 0}, "task.beam: expected a number > 0, got 0"),
        ({"length_penalty": -0.5}, "task.length_penalty: expected a number >= 0, got -0.5"),
        ({"teacher_forcing": 1.5}, "task.teacher_forcing: expected a number in [0, 1], got 1.5"),
        ({"sampling_schedule": "cosine"}, "task.sampling_schedule: expected one of 'constant'"),
        ({"attention": "luong"}, "task.attention: expected one of 'none', 'dot', 'general'"),
        ({"embed": 0}, "task.embed: expected a number > 0, got 0"),
        ({"min_len": 6, "seq_len": 5}, "task.min_len: 6 is above seq_len 5 (the longest source)"),
        ({"name": "adding"}, "task.name: expected one of reverse, sort, dates, translate"),
    ],
)
def test_config_errors_name_the_field_and_value(fields, message):
    with pytest.raises(ConfigError) as info:
        Seq2SeqConfig(**fields)
    assert str(info.value).startswith(message), str(info.value)


def test_head_fields_of_an_old_config_file_move_to_the_task(tmp_path):
    """Files of rnnkit 0.1 kept the decoder's fields in the model and train sections."""
    path = tmp_path / "old.yaml"
    path.write_text(
        "task: {name: reverse, seq_len: 5}\n"
        "model: {attention: additive, input_feeding: false, embed: 6, hidden: 6,"
        " tie_embeddings: true}\n"
        "train: {beam: 4, length_penalty: 0.5, teacher_forcing: 0.25,"
        " sampling_schedule: linear}\n"
    )
    task = load_file(path).task
    assert isinstance(task, Seq2SeqConfig)
    assert (task.attention, task.input_feeding, task.embed, task.tie_embeddings) == (
        "additive", False, 6, True
    )  # fmt: skip
    assert (task.beam, task.length_penalty) == (4, 0.5)
    assert (task.teacher_forcing, task.sampling_schedule) == (0.25, "linear")
    built = Seq2SeqTask.from_config(task)
    assert (built.beam, built.length_penalty, built.teacher_forcing) == (4, 0.5, 0.25)


def test_predict_and_export_point_elsewhere():
    task = _reverse()
    with pytest.raises(UsageError, match=r"^a reverse model reads text; use rnnkit translate$"):
        task.predict_input("never-read.jsonl")
    with pytest.raises(ExportError, match=r"^export covers sequence models; a reverse model "):
        task.export_example()
