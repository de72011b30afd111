"""The linear-chain CRF against brute-force enumeration of every tag sequence: the log-partition,
the gold path's score, the log-likelihood and Viterbi's best path, over a batch of sentences of
different lengths; finite gradients; the tagger built on it and its loss."""

import itertools
import math

import pytest
import torch

from rnnkit.models.crf import CRF, CRFScores, log_likelihood, log_partition, path_score, viterbi
from rnnkit.models.tagger import IGNORE, Tagger, best_tags, tagging_loss


def brute_score(scores: CRFScores, b: int, path: tuple[int, ...]) -> float:
    """s(path) of sentence b, summed term by term from the definition."""
    e, start, end, trans = (t.double() for t in scores)
    total = start[path[0]] + end[path[-1]]
    total = total + sum(e[b, t, c] for t, c in enumerate(path))
    total = total + sum(trans[i, j] for i, j in itertools.pairwise(path))
    return float(total)


def random_scores(B: int, T: int, C: int, *, seed: int) -> CRFScores:
    g = torch.Generator().manual_seed(seed)
    return CRFScores(
        torch.randn(B, T, C, generator=g, dtype=torch.float64),
        torch.randn(C, generator=g, dtype=torch.float64),
        torch.randn(C, generator=g, dtype=torch.float64),
        torch.randn(C, C, generator=g, dtype=torch.float64),
    )


LENGTHS = [5, 3, 1, 4]  # T = 5; one sentence of a single step


def mask_of(lengths: list[int], T: int) -> torch.Tensor:
    return torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("C", [3, 4])
def test_log_partition_and_viterbi_equal_enumeration(C):
    T = max(LENGTHS)
    scores = random_scores(len(LENGTHS), T, C, seed=C)
    mask = mask_of(LENGTHS, T)
    log_z = log_partition(scores, mask)
    tags, best = viterbi(scores, mask)
    for b, n in enumerate(LENGTHS):
        paths = list(itertools.product(range(C), repeat=n))
        all_scores = torch.tensor([brute_score(scores, b, p) for p in paths])
        assert log_z[b].item() == pytest.approx(torch.logsumexp(all_scores, 0).item(), abs=1e-5)
        k = int(all_scores.argmax())
        assert tags[b, :n].tolist() == list(paths[k])
        assert (tags[b, n:] == -1).all()
        assert best[b].item() == pytest.approx(all_scores[k].item(), abs=1e-5)


def test_gold_path_score_and_likelihood_equal_enumeration():
    C, T = 3, max(LENGTHS)
    scores = random_scores(len(LENGTHS), T, C, seed=7)
    mask = mask_of(LENGTHS, T)
    g = torch.Generator().manual_seed(1)
    tags = torch.randint(0, C, (len(LENGTHS), T), generator=g)
    tags[~mask] = IGNORE  # padded steps hold anything; they must be ignored
    got = path_score(scores, tags, mask)
    ll = log_likelihood(scores, tags, mask)
    for b, n in enumerate(LENGTHS):
        expected = brute_score(scores, b, tuple(tags[b, :n].tolist()))
        assert got[b].item() == pytest.approx(expected, abs=1e-5)
        every = itertools.product(range(C), repeat=n)
        log_z = torch.logsumexp(torch.tensor([brute_score(scores, b, p) for p in every]), 0)
        assert ll[b].item() == pytest.approx(expected - log_z.item(), abs=1e-5)
    # Probabilities over all sequences of a sentence sum to one.
    n = LENGTHS[1]
    total = 0.0
    for p in itertools.product(range(C), repeat=n):
        one = torch.full((1, T), IGNORE)
        one[0, :n] = torch.tensor(p)
        sub = CRFScores(scores.emissions[1:2], *scores[1:])
        total += math.exp(log_likelihood(sub, one, mask[1:2]).item())
    assert total == pytest.approx(1.0, abs=1e-12)


def test_zero_transitions_reduce_to_per_token_softmax():
    """With start, end and transitions at zero (CRF's initial state) the CRF's negative
    log-likelihood is the sum of per-token cross-entropies, and Viterbi is the argmax."""
    T, C = 5, 4
    crf = CRF(C)
    emissions = torch.randn(len(LENGTHS), T, C)
    mask = mask_of(LENGTHS, T)
    tags = torch.randint(0, C, (len(LENGTHS), T)).masked_fill(~mask, IGNORE)
    crf_loss = tagging_loss(crf(emissions), tags, reduction="sum")
    ce = tagging_loss(emissions, tags, reduction="sum")
    assert crf_loss.item() == pytest.approx(ce.item(), rel=1e-5)
    assert torch.equal(best_tags(crf(emissions), mask), best_tags(emissions, mask))


def test_gradients_are_finite_and_reach_every_parameter():
    C, T = 4, 5
    crf = CRF(C)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    emissions = torch.randn(len(LENGTHS), T, C, requires_grad=True)
    mask = mask_of(LENGTHS, T)
    tags = torch.randint(0, C, (len(LENGTHS), T)).masked_fill(~mask, IGNORE)
    tagging_loss(crf(emissions), tags).backward()
    for name, p in [("emissions", emissions), *crf.named_parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    # Padded steps get no gradient.
    assert (emissions.grad[~mask] == 0).all()


def test_large_scores_stay_finite():
    scores = CRFScores(torch.full((1, 30, 3), 1e4), torch.zeros(3), torch.zeros(3),
                       torch.full((3, 3), 1e4))  # fmt: skip
    mask = torch.ones(1, 30, dtype=torch.bool)
    assert torch.isfinite(log_partition(scores, mask)).all()


def test_mask_errors_are_plain():
    scores = random_scores(2, 3, 3, seed=0)
    with pytest.raises(ValueError, match=r"mask: every sentence needs at least one step"):
        log_partition(scores, torch.tensor([[True, True, False], [False, False, False]]))
    with pytest.raises(ValueError, match=r"mask: expected shape \(2, 3\)"):
        viterbi(scores, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="emissions: expected 3 tag scores per step"):
        CRF(3)(torch.zeros(1, 2, 4))


@pytest.mark.parametrize("crf", [False, True])
def test_tagger_output_loss_and_tags(crf):
    model = Tagger(20, 4, embed_size=8, hidden_size=8, bidirectional=True, crf=crf)
    ids = torch.randint(4, 20, (3, 6))
    lengths = torch.tensor([6, 2, 4])
    ids[1, 2:] = 0
    ids[2, 4:] = 0
    out = model(ids, lengths)
    assert isinstance(out, CRFScores) == crf
    mask = mask_of(lengths.tolist(), 6)
    tags = torch.randint(0, 4, (3, 6)).masked_fill(~mask, IGNORE)
    loss = tagging_loss(out, tags)
    loss.backward()
    assert torch.isfinite(loss)
    predicted = model.tag(ids, lengths)
    assert ((predicted >= 0) == mask).all()
    # A sentence's tags do not depend on the other sentences in its batch, nor on padding.
    alone = model.tag(ids[2:3, :4], lengths[2:3])
    assert torch.equal(alone[0], predicted[2, :4])
