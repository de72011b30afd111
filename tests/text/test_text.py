"""Vocabulary and parallel-text reading: ids, unknown tokens, and errors naming file and line."""

import pytest

from rnnkit.text import SPECIALS, DataError, Vocabulary, read_parallel, tokenize
from rnnkit.text.vocab import BOS, EOS, UNK, detokenize


def test_vocabulary_orders_by_frequency_and_maps_unknown_tokens():
    corpus = [tokenize("the cat sat on the mat", "word"), tokenize("the dog", "word")]
    vocab = Vocabulary.build(corpus, min_freq=1)
    assert vocab.itos[:4] == list(SPECIALS)
    assert vocab.itos[4] == "the"  # 3 times; the rest once, alphabetical
    assert vocab.itos[5:] == ["cat", "dog", "mat", "on", "sat"]
    ids = vocab.encode(["the", "zebra"], bos=True, eos=True)
    assert ids == [BOS, 4, UNK, EOS]
    assert vocab.decode(ids + [7, 8]) == ["the", "<unk>"]  # stops at <eos>


def test_min_freq_max_size_and_round_trip():
    corpus = [list("aaabbc")]
    assert Vocabulary.build(corpus, min_freq=2).itos[4:] == ["a", "b"]
    assert Vocabulary.build(corpus, max_size=1).itos[4:] == ["a"]
    vocab = Vocabulary.build(corpus)
    again = Vocabulary.from_dict(vocab.to_dict())
    assert again.itos == vocab.itos and again.stoi == vocab.stoi
    with pytest.raises(ValueError, match="must start with the special tokens"):
        Vocabulary(["a", "b"])


def test_tokenizers_round_trip():
    text = "date: 12 march 2024"
    assert detokenize(tokenize(text, "char"), "char") == text
    assert tokenize(text, "word") == ["date:", "12", "march", "2024"]
    with pytest.raises(ValueError, match="tokenizer: expected 'char' or 'word'"):
        tokenize(text, "bpe-unknown")


def test_tsv_and_two_files(tmp_path):
    tsv = tmp_path / "train.tsv"
    tsv.write_text("a b\tA B\r\nc\tC\n", encoding="utf-8")
    assert read_parallel(tsv) == [("a b", "A B"), ("c", "C")]
    src, tgt = tmp_path / "src.txt", tmp_path / "tgt.txt"
    src.write_text("x\ny\n")
    tgt.write_text("X\nY\n")
    assert read_parallel(src, tgt) == [("x", "X"), ("y", "Y")]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"a\tb\nno tab here\n", r"train.tsv:2: expected source<TAB>target, found no tab"),
        (b"a\tb\tc\n", r"train.tsv:1: expected source<TAB>target, found 2 tabs"),
        (b"a\tb\n \tB\n", r"train.tsv:2: empty source side"),
        (b"a\t\n", r"train.tsv:1: empty target side"),
        (b"a\tb\n\xff\xfe\tx\n", r"train.tsv:2: not UTF-8"),
        (b"", r"train.tsv: empty file"),
    ],
)
def test_malformed_tsv_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "train.tsv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_parallel(path)


def test_misaligned_or_missing_files(tmp_path):
    src, tgt = tmp_path / "src.txt", tmp_path / "tgt.txt"
    src.write_text("x\ny\n")
    tgt.write_text("X\n")
    with pytest.raises(DataError, match="src.txt has 2 lines but .*tgt.txt has 1"):
        read_parallel(src, tgt)
    tgt.write_text("X\n\n")
    with pytest.raises(DataError, match=r"tgt.txt:2: empty line"):
        read_parallel(src, tgt)
    with pytest.raises(DataError, match="nothing.tsv: no such file"):
        read_parallel(tmp_path / "nothing.tsv")
