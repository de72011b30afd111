"""Greedy and beam search: beam size 1 is greedy, a wide beam finds the exhaustive best, and
the state is reordered with the hypotheses."""

import itertools
import math

import pytest
import torch

from rnnkit.decoding import beam_search, greedy, length_penalty

EOS, BOS, V = 0, 3, 4  # tokens: 0 = EOS, 1 and 2 = words, 3 = BOS (never predicted)


def _table(seed):
    """A fixed random bigram model with a history term: log p(next | previous, step)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(6, V, V, generator=g) * 2.0
    logits[..., BOS] = -1e9
    return logits.log_softmax(-1)  # (step, previous, next)


def _model(seed):
    table = _table(seed)

    def step(tokens, state):
        t, check = state  # step counter (N,), and a per-row tag that must follow its row
        return table[t, tokens], (t + 1, check)

    return table, step


def _logp(table, seq):
    total, prev = 0.0, BOS
    for t, tok in enumerate(seq):
        total += float(table[t, prev, tok])
        prev = tok
    return total


def _exhaustive(table, max_len, alpha=0.0):
    """Every sequence that ends in EOS within max_len tokens, or runs to max_len without one."""
    best = None
    for n in range(1, max_len + 1):
        for words in itertools.product([1, 2], repeat=n - 1):
            candidates = [list(words) + [EOS]]
            if n == max_len:
                candidates.append(list(words) + [1])
                candidates.append(list(words) + [2])
            for seq in candidates:
                score = _logp(table, seq) / length_penalty(len(seq), alpha)
                if best is None or score > best[0]:
                    best = (score, seq)
    return best


def _state(batch):
    return torch.zeros(batch, dtype=torch.long), torch.arange(batch)


@pytest.mark.parametrize("seed", range(5))
def test_beam_of_one_is_greedy(seed):
    _, step = _model(seed)
    g = greedy(step, _state(1), batch_size=1, bos=BOS, eos=EOS, max_len=5)[0]
    b = beam_search(step, _state(1), batch_size=1, bos=BOS, eos=EOS, max_len=5, beam_size=1)[0][0]
    assert b.tokens == g.tokens
    assert math.isclose(b.log_prob, g.log_prob, rel_tol=1e-9)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_wide_beam_finds_the_exhaustive_best(seed, alpha):
    table, step = _model(seed)
    best_score, best_seq = _exhaustive(table, 5, alpha)
    (hyp,) = beam_search(
        step, _state(1), batch_size=1, bos=BOS, eos=EOS, max_len=5, beam_size=16, alpha=alpha
    )[0]
    assert hyp.tokens == best_seq
    assert math.isclose(hyp.score, best_score, rel_tol=1e-6)
    assert math.isclose(hyp.log_prob, _logp(table, best_seq), rel_tol=1e-6)


def test_beam_beats_greedy_somewhere():
    wins = 0
    for seed in range(8):
        table, step = _model(seed)
        g = greedy(step, _state(1), batch_size=1, bos=BOS, eos=EOS, max_len=5)[0]
        assert math.isclose(g.log_prob, _logp(table, g.tokens), rel_tol=1e-6)
        b = beam_search(step, _state(1), batch_size=1, bos=BOS, eos=EOS, max_len=5, beam_size=16)
        assert b[0][0].log_prob >= g.log_prob - 1e-9
        wins += b[0][0].log_prob > g.log_prob + 1e-6
    assert wins > 0  # the tables are chosen so that search matters


def test_batched_search_equals_one_item_at_a_time_and_state_follows_rows():
    tables = [_table(s) for s in range(3)]

    def step(tokens, state):
        t, item = state  # item: which batch item (table) this row belongs to
        lp = torch.stack(
            [tables[int(i)][int(s), int(p)] for i, s, p in zip(item, t, tokens, strict=True)]
        )
        return lp, (t + 1, item)

    batched = beam_search(
        step, _state(3), batch_size=3, bos=BOS, eos=EOS, max_len=5, beam_size=4, n_best=3
    )
    for i in range(3):
        alone = beam_search(
            step, (torch.zeros(1, dtype=torch.long), torch.tensor([i])),
            batch_size=1, bos=BOS, eos=EOS, max_len=5, beam_size=4, n_best=3,
        )[0]  # fmt: skip
        assert [h.tokens for h in batched[i]] == [h.tokens for h in alone]
        scores = [h.score for h in batched[i]]
        assert scores == sorted(scores, reverse=True) and len(scores) == 3


def test_length_penalty_formula():
    assert length_penalty(7, 0.0) == 1.0
    assert math.isclose(length_penalty(7, 0.6), (12 / 6) ** 0.6)


def test_bad_arguments():
    _, step = _model(0)
    with pytest.raises(ValueError, match="n_best: expected 1 <= n_best <= beam_size"):
        beam_search(step, _state(1), batch_size=1, bos=BOS, eos=EOS, max_len=3, beam_size=2,
                    n_best=3)  # fmt: skip
    with pytest.raises(ValueError, match="max_len: expected at least 1, got 0"):
        greedy(step, _state(1), batch_size=1, bos=BOS, eos=EOS, max_len=0)
