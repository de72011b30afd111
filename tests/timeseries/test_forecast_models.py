"""The two forecasters: shapes, which inputs reach which outputs, and the decoder's
attention over the past."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.forecast import DirectForecaster, Seq2SeqForecaster


@pytest.mark.parametrize("attention", ["none", "dot", "general", "additive"])
def test_seq2seq_decoder_is_causal_in_the_future_covariates(attention):
    torch.manual_seed(0)
    model = Seq2SeqForecaster(3, 2, 6, 2, cell="gru", hidden_size=8, attention=attention)
    past, future = torch.randn(4, 10, 3), torch.randn(4, 6, 2)
    out = model(past, future).view(4, 2, 6)  # (B, K, H)
    changed = future.clone()
    changed[:, 3] += 1.0  # the covariates of future step 3 only
    out2 = model(past, changed).view(4, 2, 6)
    # Steps before 3 cannot see step 3's covariates; step 3 must.
    torch.testing.assert_close(out2[..., :3], out[..., :3])
    assert (out2[..., 3] - out[..., 3]).abs().max() > 1e-4


def test_seq2seq_attention_weights_are_a_distribution_over_the_past():
    torch.manual_seed(0)
    model = Seq2SeqForecaster(1, 0, 5, 1, cell="lstm", hidden_size=8, attention="additive")
    out, weights = model(torch.randn(3, 7, 1), torch.zeros(3, 5, 0), return_attention=True)
    assert out.shape == (3, 5) and weights.shape == (3, 5, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))


def test_direct_forecaster_equals_its_encoder_head_plus_a_linear_term_in_the_future():
    torch.manual_seed(0)
    model = DirectForecaster(2, 1, 4, 1, cell="gru", hidden_size=8)
    past, future = torch.randn(5, 9, 2), torch.randn(5, 4, 1)
    expected = model.net(past) + future.flatten(1) @ model.future.weight.T + model.future.bias
    torch.testing.assert_close(model(past, future), expected)
    plain = DirectForecaster(2, 0, 4, 3, cell="lstm", hidden_size=8)
    assert plain.future is None and plain(past, torch.zeros(5, 4, 0)).shape == (5, 12)
