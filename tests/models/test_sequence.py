"""SequenceModel: the encoder plus a head, per sequence or per step."""

import pytest
import torch

from rnnkit.models import SequenceModel


def test_sequence_head_reads_the_final_state():
    model = SequenceModel(3, 2, cell="lstm", hidden_size=5)
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 3, 1, 5])
    _, state = model.encoder(x, lengths=lengths)
    expected = model.head(state.h[-1])
    torch.testing.assert_close(model(x, lengths), expected)


@pytest.mark.parametrize("pooling", ["mean", "max", "attention"])
def test_pooled_heads_ignore_padding(pooling):
    model = SequenceModel(3, 1, cell="gru", hidden_size=5, pooling=pooling)
    x = torch.randn(2, 6, 3)
    lengths = torch.tensor([6, 3])
    padded = x.clone()
    padded[1, 3:] = 50.0
    torch.testing.assert_close(model(x, lengths), model(padded, lengths))
    alone = model(x[1:, :3])  # the short sequence on its own, without padding
    torch.testing.assert_close(model(x, lengths)[1:], alone)


def test_step_head_maps_every_step():
    model = SequenceModel(3, 4, head="step", cell="rnn", hidden_size=5, bidirectional=True)
    x = torch.randn(2, 7, 3)
    out, _ = model.encoder(x)
    y = model(x)
    assert y.shape == (2, 7, 4)
    torch.testing.assert_close(y, model.head(out))


def test_bad_head_or_pooling_is_an_error():
    with pytest.raises(ValueError, match="head: expected 'sequence' or 'step', got 'token'"):
        SequenceModel(3, 1, head="token")
    with pytest.raises(ValueError, match="pooling: expected one of last, mean, max, attention"):
        SequenceModel(3, 1, pooling="sum")


def test_attention_pooling_head_is_the_weighted_sum_of_valid_steps():
    model = SequenceModel(3, 2, cell="lstm", hidden_size=5, pooling="attention")
    x, lengths = torch.randn(2, 6, 3), torch.tensor([6, 4])
    out, _ = model.encoder(x, lengths=lengths)
    summary, weights = model.attention(out, torch.arange(6)[None, :] < lengths[:, None])
    assert bool((weights[1, 4:] == 0).all())
    torch.testing.assert_close(model(x, lengths), model.head(summary))
