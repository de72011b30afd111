"""Codec: text <-> ids for char, word and BPE tokens, with the fixed special ids, and a JSON
round trip that loads exactly what was saved."""

import json
from collections import Counter

import pytest

from rnnkit.text import SPECIALS
from rnnkit.text.codec import Codec

PAD, BOS, EOS, UNK = 0, 1, 2, 3

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the cat saw the dog",
    "the mat and the log",
]


@pytest.mark.parametrize("kind", ["char", "word"])
def test_char_and_word_round_trip_with_fixed_specials(kind):
    codec = Codec.build(CORPUS, kind=kind)
    assert codec.vocab.itos[:4] == list(SPECIALS) == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert len(codec) == len(codec.vocab.itos)
    for text in [*CORPUS, "a dog sat on the cat"]:  # the last one unseen, its tokens seen
        ids = codec.encode(text)
        assert min(ids) >= 4  # every token known, none special
        assert [codec.vocab.itos[i] for i in ids] == codec.tokens(text)
        assert codec.decode(ids) == text
        framed = codec.encode(text, bos=True, eos=True)
        assert framed == [BOS, *ids, EOS]
        assert codec.decode(framed) == text


def test_char_tokens_are_characters_and_word_tokens_are_words():
    char, word = Codec.build(CORPUS, kind="char"), Codec.build(CORPUS, kind="word")
    text = "the cat"
    assert len(char.encode(text)) == len(text)  # spaces are tokens too
    assert len(word.encode(text)) == 2
    assert set(char.vocab.itos[4:]) == set("".join(CORPUS))
    assert set(word.vocab.itos[4:]) == {w for t in CORPUS for w in t.split()}


def test_unknown_tokens_map_to_unk():
    char, word = Codec.build(CORPUS, kind="char"), Codec.build(CORPUS, kind="word")
    assert char.encode("cat!") == [*char.encode("cat"), UNK]
    assert word.encode("the zebra sat") == [word.encode("the")[0], UNK, word.encode("sat")[0]]
    assert word.decode(word.encode("zebra")) == "<unk>"


@pytest.mark.parametrize("kind", ["char", "word"])
def test_decode_stops_at_eos_and_skips_pad_and_bos(kind):
    codec = Codec.build(CORPUS, kind=kind)
    cat, dog = codec.encode("cat"), codec.encode("dog")
    assert codec.decode([BOS, *cat, PAD, PAD, EOS, *dog]) == codec.decode(cat)
    assert codec.decode([PAD, BOS, *cat, EOS, EOS]) == codec.decode(cat)
    assert codec.decode([EOS, *cat]) == ""
    assert codec.decode([]) == ""


def test_word_min_freq_and_max_size():
    counts = Counter(w for t in CORPUS for w in t.split())
    frequent = Codec.build(CORPUS, kind="word", min_freq=3)
    assert set(frequent.vocab.itos[4:]) == {w for w, c in counts.items() if c >= 3}
    rare = min(counts, key=counts.get)
    assert counts[rare] < 3 and frequent.encode(rare) == [UNK]

    # the three most frequent words survive max_size=3, most frequent first, ties alphabetical
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    assert counts[ranked[2]] > counts[ranked[3]]  # no tie at the cut
    small = Codec.build(CORPUS, kind="word", max_size=3)
    assert small.vocab.itos[4:] == ranked[:3]
    assert len(small) == 7
    assert small.encode(" ".join(ranked[2:4])) == [6, UNK]


def test_char_min_freq():
    codec = Codec.build(["aaab", "ab", "c"], kind="char", min_freq=2)
    assert set(codec.vocab.itos[4:]) == {"a", "b"}  # a 4, b 2, c 1
    assert codec.encode("abc") == [*codec.encode("ab"), UNK]


# -- BPE ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bpe():
    return Codec.build(CORPUS * 3, kind="bpe", bpe_size=40)


def test_bpe_specials_take_the_first_ids(bpe):
    assert bpe.kind == "bpe"
    assert bpe.vocab.itos[:4] == list(SPECIALS)
    assert 4 < len(bpe) <= 40
    assert bpe.encode("", bos=True, eos=True) == [BOS, EOS]
    for text in CORPUS:
        ids = bpe.encode(text)
        assert min(ids) >= 4
        # the vocabulary's ids agree with the trained tokenizer's pieces
        assert [bpe.vocab.itos[i] for i in ids] == bpe.tokens(text)


def test_bpe_round_trip_restores_spaces(bpe):
    seen = set("".join(CORPUS))
    texts = [*CORPUS, "a log sat on a cat", "dog", "tom and sam"]
    for text in texts:
        assert set(text) <= seen
        assert bpe.decode(bpe.encode(text)) == text
        assert bpe.decode(bpe.encode(text, bos=True, eos=True) + bpe.encode("cat")) == text


def test_bpe_unseen_character_is_unk(bpe):
    assert "z" not in "".join(CORPUS)
    ids = bpe.encode("the zat")
    assert ids.count(UNK) == 1
    assert UNK not in bpe.encode("the cat")


def test_bpe_merges_frequent_words(bpe):
    pieces = bpe.tokens("the")  # the most frequent word
    assert len(pieces) < len("the")
    assert max(len(p.lstrip("▁")) for p in pieces) > 1
    assert len(bpe.encode("the cat sat on the mat")) < len("the cat sat on the mat")


def test_bpe_json_round_trip_encodes_and_decodes_identically(bpe):
    data = json.loads(json.dumps(bpe.to_dict()))
    again = Codec.from_dict(data)
    assert again.kind == "bpe"
    assert again.vocab.itos == bpe.vocab.itos
    for text in [*CORPUS, "the zat", "dog and log"]:
        ids = bpe.encode(text, bos=True, eos=True)
        assert again.encode(text, bos=True, eos=True) == ids
        assert again.decode(ids) == bpe.decode(ids)


@pytest.mark.parametrize("kind", ["char", "word"])
def test_char_and_word_json_round_trip(kind):
    codec = Codec.build(CORPUS, kind=kind)
    again = Codec.from_dict(json.loads(json.dumps(codec.to_dict())))
    assert again.kind == kind and again.vocab.itos == codec.vocab.itos
    assert again.encode("the zebra cat", eos=True) == codec.encode("the zebra cat", eos=True)


def test_bpe_from_dict_rejects_a_tampered_vocabulary(bpe):
    swapped = json.loads(json.dumps(bpe.to_dict()))
    tokens = swapped["vocab"]["tokens"]
    tokens[4], tokens[5] = tokens[5], tokens[4]
    with pytest.raises(ValueError, match="bpe: the saved tokenizer and vocabulary disagree"):
        Codec.from_dict(swapped)
    shortened = json.loads(json.dumps(bpe.to_dict()))
    shortened["vocab"]["tokens"].pop()
    with pytest.raises(ValueError, match="bpe: the saved tokenizer and vocabulary disagree"):
        Codec.from_dict(shortened)


def test_invalid_kind_is_named():
    message = r"tokenizer: expected 'char', 'word' or 'bpe', got 'bytes'"
    codec = Codec.build(CORPUS, kind="word")
    with pytest.raises(ValueError, match=message):
        Codec("bytes", codec.vocab)
    with pytest.raises(ValueError, match=message):
        Codec.from_dict({"kind": "bytes", "vocab": codec.vocab.to_dict()})
    with pytest.raises(ValueError, match=message):  # the builder lists every kind, bpe too
        Codec.build(CORPUS, kind="bytes")


def test_bpe_tokenizer_goes_with_kind_bpe_only(bpe):
    with pytest.raises(ValueError, match="bpe: a trained tokenizers.Tokenizer goes with kind"):
        Codec("bpe", bpe.vocab)
