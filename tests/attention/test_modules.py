"""Attention modules against their formulas, written out here one score at a time; padded keys
get exactly zero weight and their contents change nothing."""

import math

import pytest
import torch

from rnnkit.attention import (
    AdditiveAttention,
    AttentionPooling,
    ExternalAttention,
    LuongAttention,
    MultiHeadAttention,
    ScaledDotProductAttention,
    lengths_to_mask,
    masked_softmax,
)

B, Q, S, DQ, DK, DV = 3, 2, 5, 4, 6, 7
LENGTHS = torch.tensor([5, 3, 1])


@pytest.fixture
def data():
    torch.manual_seed(0)
    return torch.randn(B, Q, DQ), torch.randn(B, S, DK), torch.randn(B, S, DV)


def _softmax_loop(scores, lengths):
    """Per (b, q): softmax over the first lengths[b] scores, zeros after."""
    weights = torch.zeros_like(scores)
    for b, n in enumerate(lengths.tolist()):
        for q in range(scores.shape[1]):
            e = [math.exp(s) for s in scores[b, q, :n].tolist()]
            weights[b, q, :n] = torch.tensor([x / sum(e) for x in e])
    return weights


def _score_loop(fn, query, keys):
    return torch.tensor(
        [[[fn(query[b, q], keys[b, s]) for s in range(S)] for q in range(Q)] for b in range(B)]
    )


def _check(module, data, score_fn, uses_values=True):
    query, keys, values = data
    mask = lengths_to_mask(LENGTHS, S)
    ctx, weights = module(query, keys, values if uses_values else None, mask)
    expected_w = _softmax_loop(_score_loop(score_fn, query, keys), LENGTHS)
    torch.testing.assert_close(weights, expected_w, atol=1e-5, rtol=1e-4)
    v = values if uses_values else keys
    torch.testing.assert_close(ctx, expected_w @ v, atol=1e-5, rtol=1e-4)
    return ctx, weights


def test_additive_attention_formula(data):
    att = AdditiveAttention(DQ, DK, 8)
    W_q, b = att.query_proj.weight, att.query_proj.bias
    W_k, v = att.key_proj.weight, att.v.weight[0]
    with torch.no_grad():
        _check(att, data, lambda q, k: float(v @ torch.tanh(W_q @ q + b + W_k @ k)))


def test_luong_dot_general_concat_formulas(data):
    query, keys, values = data
    dot = LuongAttention(DQ, DQ, "dot")
    keys_q = keys[..., :DQ].contiguous()
    with torch.no_grad():
        _check(dot, (query, keys_q, values), lambda q, k: float(q @ k))
        general = LuongAttention(DQ, DK, "general")
        W = general.weight.weight  # (DQ, DK)
        _check(general, data, lambda q, k: float(q @ (W @ k)))
        concat = LuongAttention(DQ, DK, "concat", hidden_size=5)
        Wc, vc = concat.weight.weight, concat.v.weight[0]
        _check(concat, data, lambda q, k: float(vc @ torch.tanh(Wc @ torch.cat([q, k]))))


@pytest.mark.parametrize("make", [lambda: AdditiveAttention(DQ, DK, 8),
                                  lambda: LuongAttention(DQ, DK, "general")])  # fmt: skip
def test_prepared_keys_and_either_product_order_give_the_same_result(make, data):
    # A decoder passes attention.prepare(keys) once per source; general attention also picks
    # (q W) k or q (W k) by the number of queries. All must give the formula's result.
    query, keys, values = data
    att = make()
    mask = lengths_to_mask(LENGTHS, S)
    with torch.no_grad():
        ctx, weights = att(query, keys, values, mask)
        ctx_p, weights_p = att(query, keys, values, mask, prepared=att.prepare(keys))
        many = query.repeat(1, 4, 1)  # Q = 8 > S = 5 queries: the other product order
        ctx_m, weights_m = att(many, keys, values, mask)
    torch.testing.assert_close(weights_p, weights, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ctx_p, ctx, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(weights_m, weights.repeat(1, 4, 1), atol=1e-6, rtol=1e-5)


def test_general_with_identity_weight_is_dot(data):
    query, keys, _ = data
    keys = keys[..., :DQ]
    general = LuongAttention(DQ, DQ, "general")
    with torch.no_grad():
        general.weight.weight.copy_(torch.eye(DQ))
    torch.testing.assert_close(
        general(query, keys)[1], LuongAttention(DQ, DQ, "dot")(query, keys)[1]
    )


def test_scaled_dot_product_formula(data):
    query, keys, values = data
    keys = keys[..., :DQ].contiguous()
    _check(ScaledDotProductAttention(), (query, keys, values), lambda q, k: float(q @ k) / 2.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: AdditiveAttention(DQ, DK, 8),
        lambda: LuongAttention(DQ, DK, "general"),
        lambda: LuongAttention(DQ, DK, "concat"),
        lambda: MultiHeadAttention(DQ, 2, key_size=DK, value_size=DV),
    ],
    ids=["additive", "general", "concat", "multihead"],
)
def test_padded_keys_get_zero_weight_and_change_nothing(make, data):
    torch.manual_seed(1)
    att = make().eval()
    query, keys, values = data
    mask = lengths_to_mask(LENGTHS, S)
    ctx, weights = att(query, keys, values, mask)
    assert bool((weights.masked_select(~mask[:, None, :]) == 0).all())
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, Q))
    keys2, values2 = keys.clone(), values.clone()
    keys2[~mask] = 1e3
    values2[~mask] = -1e3
    ctx2, weights2 = att(query, keys2, values2, mask)
    torch.testing.assert_close(ctx2, ctx)
    torch.testing.assert_close(weights2, weights)


def test_single_query_drops_the_query_axis(data):
    query, keys, values = data
    att = AdditiveAttention(DQ, DK, 8)
    ctx, weights = att(query[:, 0], keys, values)
    full_ctx, full_w = att(query[:, :1], keys, values)
    assert ctx.shape == (B, DV) and weights.shape == (B, S)
    torch.testing.assert_close(ctx, full_ctx[:, 0])
    torch.testing.assert_close(weights, full_w[:, 0])


def test_multihead_matches_torch_with_the_inverted_mask(data):
    query, keys, values = data
    att = MultiHeadAttention(DQ, 2, key_size=DK, value_size=DV).eval()
    mask = lengths_to_mask(LENGTHS, S)
    out, weights = att(query, keys, values, mask)
    ref_out, ref_w = att.attention(query, keys, values, key_padding_mask=~mask)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(weights, ref_w)
    per_head = att(query, keys, values, mask, average_heads=False)[1]
    assert per_head.shape == (B, 2, Q, S)


def test_external_attention_double_normalization():
    torch.manual_seed(0)
    att = ExternalAttention(DQ, memory_size=8)
    x = torch.randn(B, S, DQ)
    mask = lengths_to_mask(LENGTHS, S)
    out, weights = att(x, mask)
    # By hand: softmax over the valid positions, then L1 over the memory slots.
    scores = x @ att.memory_keys.weight.T  # (B, S, 8)
    expected = torch.zeros_like(scores)
    for b, n in enumerate(LENGTHS.tolist()):
        a = scores[b, :n].softmax(0)
        expected[b, :n] = a / a.sum(-1, keepdim=True)
    torch.testing.assert_close(weights, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out, expected @ att.memory_values.weight.T, atol=1e-6, rtol=1e-5)
    assert bool((out[~mask] == 0).all())


def test_attention_pooling_formula_and_padding():
    torch.manual_seed(0)
    pool = AttentionPooling(DV, hidden_size=5)
    outputs = torch.randn(B, S, DV)
    mask = lengths_to_mask(LENGTHS, S)
    summary, weights = pool(outputs, mask)
    scores = (torch.tanh(outputs @ pool.proj.weight.T + pool.proj.bias) @ pool.v.weight.T)[..., 0]
    for b, n in enumerate(LENGTHS.tolist()):
        a = scores[b, :n].softmax(0)
        torch.testing.assert_close(weights[b, :n], a)
        assert bool((weights[b, n:] == 0).all())
        torch.testing.assert_close(summary[b], a @ outputs[b, :n])


def test_masked_softmax_row_without_valid_entries_is_zero():
    w = masked_softmax(torch.randn(2, 3), torch.tensor([[True, False, True], [False] * 3]))
    assert bool((w[1] == 0).all())
    torch.testing.assert_close(w[0].sum(), torch.tensor(1.0))


def test_shape_errors_name_the_argument(data):
    query, keys, values = data
    att = AdditiveAttention(DQ, DK, 8)
    with pytest.raises(ValueError, match=r"keys: expected \(B, S, Dk\)"):
        att(query, keys[0])
    with pytest.raises(ValueError, match=r"values: expected \(B, S, Dv\)"):
        att(query, keys, values[:, :2])
    with pytest.raises(ValueError, match=r"mask: expected a bool tensor of shape \(B, S\)"):
        att(query, keys, values, torch.ones(B, S))
    with pytest.raises(ValueError, match="'dot' needs query and key sizes equal"):
        LuongAttention(DQ, DK, "dot")
    with pytest.raises(ValueError, match="num_heads: must divide embed_dim 4, got 3 heads"):
        MultiHeadAttention(4, 3)
