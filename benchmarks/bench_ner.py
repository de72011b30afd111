"""Named-entity recognition: a BiLSTM tagger against a BiLSTM-CRF on WNUT17 and WikiANN-en.

    THP_MEM_ALLOC_ENABLE=1 nice -n 19 python benchmarks/bench_ner.py \\
        --data ../shared/data/ner [--minutes 3.5] | tee benchmarks/results/ner.txt

Both models read word ids only (no characters, no pretrained vectors): embeddings E, one
bidirectional LSTM layer of H units per direction, dropout, a linear layer per token and, for
the CRF, a linear-chain CRF trained on its log-likelihood and decoded by Viterbi. Words seen
once in training read as <unk> (--min-freq 2). Each run trains with Adam for the same wall-time
budget (--minutes, validation included; the CRF pays for its forward algorithm in steps),
validating every --eval-every steps on --valid-sentences sentences of the development file (its
first ones; WikiANN's has 10,000); the checkpoint with the best validation F1 is scored. One
CPU thread (--threads; on a busy two-core machine a second thread made each step about nine
times slower). Reported: entity-level F1, precision and recall (seqeval, conlleval mode) and
token accuracy on the whole test file; the training steps and epochs the budget bought;
tagging speed, sentences per second through ``TagTask.tag`` (ids, batches of 256 sorted by
length, argmax or Viterbi), median of --repeat passes over at most --speed-sentences test
sentences; and the most-frequent-tag-per-word baseline on the test file. Nothing is written
into the repository: runs and the validation subset go to a temporary directory.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from rnnkit.text.conll import Sentence, read_conll
from rnnkit.training.trainer import train

DATASETS = {
    # name: (train, dev, test) inside --data
    "wnut17": ("wnut17/wnut17train.conll", "wnut17/emerging.dev.conll",
               "wnut17/emerging.test.annotated"),
    "wikiann_en": ("wikiann_en/train", "wikiann_en/dev", "wikiann_en/test"),
}  # fmt: skip


def write_conll(path: Path, sentences: list[Sentence]) -> str:
    lines = []
    for s in sentences:
        lines += [f"{t}\t{g}" for t, g in zip(s.tokens, s.tags, strict=True)] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def memorization_baseline(task, train: list[Sentence], test: list[Sentence]) -> float:
    """Entity F1 of tagging each test word with its most frequent training tag (unseen: O)."""
    by_word: dict[str, Counter] = {}
    for s in train:
        for token, tag in zip(s.tokens, s.tags, strict=True):
            by_word.setdefault(token, Counter())[tag] += 1
    best = {w: c.most_common(1)[0][0] for w, c in by_word.items()}
    guess = [[best.get(t, "O") for t in s.tokens] for s in test]
    return task.score_tags([s.tags for s in test], guess)["f1"]


def speed(task, model, sentences: list[list[str]], repeat: int) -> float:
    """Median sentences per second of ``task.tag`` over ``sentences``."""
    task.tag(model, sentences[:64])  # warm-up
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        task.tag(model, sentences, batch_size=256)
        rates.append(len(sentences) / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/ner", help="folder of the datasets")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--minutes", type=float, default=3.5, help="training budget per run")
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--valid-sentences", type=int, default=2000)
    parser.add_argument("--speed-sentences", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.data)
    begin = time.perf_counter()
    print(f"NER, BiLSTM vs BiLSTM-CRF: words only (E={args.embed}, H={args.hidden} per "
          f"direction, dropout {args.dropout}, min-freq 2), Adam lr {args.lr}, clip 5, batches "
          f"of {args.batch_size}, {args.minutes:g} min of training per run (validation every "
          f"{args.eval_every} steps, best checkpoint scored); torch "
          f"{torch.__version__}, {args.threads} threads, {platform.machine()}")  # fmt: skip
    print("| data | model | test F1 | precision | recall | token acc. | steps (epochs) | "
          "best step | train s | tag sent./s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    notes = []
    with tempfile.TemporaryDirectory(prefix="bench-ner-") as tmp:
        for name in args.datasets:
            train_file, dev_file, test_file = (str(root / p) for p in DATASETS[name])
            train_sentences = read_conll(train_file)
            dev = read_conll(dev_file)
            valid_file = dev_file
            if len(dev) > args.valid_sentences:
                valid_file = write_conll(Path(tmp) / f"{name}.valid", dev[: args.valid_sentences])
            test = read_conll(test_file)
            words = [s.tokens for s in test[: args.speed_sentences]]
            task = None
            for crf in (False, True):
                label = "BiLSTM-CRF" if crf else "BiLSTM"
                torch.manual_seed(0)
                run = train(
                    task="tag", data=train_file, valid=valid_file, test=test_file,
                    min_freq=2, bidirectional=True, crf=crf, embed=args.embed,
                    hidden=args.hidden, dropout=args.dropout, lr=args.lr, clip=5.0,
                    batch_size=args.batch_size, steps=10**6, eval_every=args.eval_every,
                    max_time=args.minutes * 60, device="cpu", threads=args.threads,
                    quiet=True, tensorboard=False, out=str(Path(tmp) / f"{name}-{label}"),
                )  # fmt: skip
                task, model, s = run.task, run.model, run.summary
                t = s["test"]
                epochs = s["steps"] * args.batch_size / len(train_sentences)
                rate = speed(task, model, words, args.repeat)
                print(f"| {name} | {label} | {100 * t['f1']:.1f} | {100 * t['precision']:.1f} | "
                      f"{100 * t['recall']:.1f} | {100 * t['accuracy']:.1f} | {s['steps']} "
                      f"({epochs:.1f}) | {s['best_step']} | {s['wall_time_s']:.0f} | {rate:.0f} "
                      "|")  # fmt: skip
                sys.stdout.flush()
            base = memorization_baseline(task, train_sentences, test)
            pairs = [zip(sent.tokens, sent.tags, strict=True) for sent in test]
            entity_words = [t for pair in pairs for t, g in pair if g != "O"]
            known = 1 - task.unknown([entity_words]) / len(entity_words)
            notes.append(f"{name}: {len(train_sentences)}/{len(dev)}/{len(test)} sentences "
                         f"(validation on the first {min(len(dev), args.valid_sentences)}), "
                         f"{len(task.vocab)} words in the vocabulary, {len(task.tags)} tags; "
                         f"{100 * known:.0f}% of the test file's entity tokens are in it; most "
                         f"frequent tag per word: test F1 {100 * base:.1f}")  # fmt: skip
    print()
    for line in notes:
        print(line)
    print(f"whole benchmark: {time.perf_counter() - begin:.0f} s")


if __name__ == "__main__":
    main()
