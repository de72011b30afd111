"""Word vectors from GloVe/word2vec text files: rows land on the right words, everything else
is drawn, and malformed files name the file and line."""

import pytest
import torch

from rnnkit.text import DataError, Vocabulary
from rnnkit.text.vectors import read_word_vectors, vector_size

VOCAB = Vocabulary.build([["cat", "dog", "emu"]])  # <pad> <bos> <eos> <unk> cat dog emu


def _write(tmp_path, text, name="v.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("header", ["", "3 2\n"])  # GloVe, or word2vec with its header line
def test_rows_land_on_their_words(tmp_path, header):
    path = _write(tmp_path, header + "dog 1 2\nzebra 9 9\ncat -0.5 4e-1\ndog 7 7\n")
    weights, found = read_word_vectors(path, VOCAB)
    assert vector_size(path) == 2
    assert weights.shape == (len(VOCAB), 2) and found == 2
    torch.testing.assert_close(weights[VOCAB.stoi["cat"]], torch.tensor([-0.5, 0.4]))
    torch.testing.assert_close(weights[VOCAB.stoi["dog"]], torch.tensor([1.0, 2.0]))  # first wins
    assert torch.equal(weights[0], torch.zeros(2))  # <pad>
    assert weights[VOCAB.stoi["emu"]].abs().sum() > 0  # missing: drawn, not zero
    again, _ = read_word_vectors(path, VOCAB)
    assert torch.equal(again, weights)  # the draws are seeded


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cat 1 2\ndog 1 2 3\n", r"v\.txt:2: 3 values, but earlier lines have 2"),
        ("cat 1 x\n", r"v\.txt:1: a value is not a number"),
        ("cat 1 nan\n", r"v\.txt:1: NaN or infinite value"),
        ("cat\n", r"v\.txt:1: expected a word and its values"),
        ("", r"v\.txt: no vectors \(empty file\)"),
        (b"cat 1 2\n\xff\xfe 1 2\n", r"v\.txt:2: not UTF-8"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=message):
        read_word_vectors(path, VOCAB)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such word-vector file"):
        read_word_vectors(tmp_path / "none.txt", VOCAB)
    with pytest.raises(DataError, match="no such word-vector file"):
        vector_size(tmp_path / "none.txt")
