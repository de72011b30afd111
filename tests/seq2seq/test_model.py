"""Seq2Seq: teacher forcing is the step function looped over the target; padding is ignored;
the decoding searches run on it."""

import pytest
import torch
from torch.nn import functional as F

from rnnkit.decoding import beam_search, greedy
from rnnkit.seq2seq import Seq2Seq

BOS, EOS = 1, 2


def _batch():
    g = torch.Generator().manual_seed(0)
    src = torch.randint(3, 20, (3, 6), generator=g)
    lengths = torch.tensor([6, 4, 2])
    src[1, 4:] = 0
    src[2, 2:] = 0
    tgt = torch.randint(3, 25, (3, 5), generator=g)
    tgt[:, 0] = BOS
    return src, lengths, tgt


CONFIGS = [
    dict(cell="lstm", attention="general"),
    dict(cell="gru", attention="additive", num_layers=2),
    dict(cell="lstm", attention="dot", bidirectional=False, input_feeding=False),
    dict(cell="rnn", attention="none"),
    dict(cell="lstm", attention="dot", embed_size=16, tie_embeddings=True),
]


def _model(options):
    torch.manual_seed(0)
    kwargs = dict(embed_size=8, hidden_size=16) | options
    return Seq2Seq(20, 25, **kwargs).eval()


@pytest.mark.parametrize("options", CONFIGS, ids=lambda o: "-".join(map(str, o.values())))
def test_teacher_forced_loss_equals_the_step_loop(options):
    model = _model(options)
    src, lengths, tgt = _batch()
    logits = model(src, lengths, tgt)
    assert logits.shape == (3, 5, 25)
    state = model.encode(src, lengths)
    manual = 0.0
    for t in range(tgt.shape[1] - 1):
        log_probs, state = model.step(tgt[:, t], state)
        manual = manual - log_probs.gather(1, tgt[:, t + 1 : t + 2]).sum()
    loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), tgt[:, 1:].flatten(), reduction="sum")
    torch.testing.assert_close(loss, manual)


@pytest.mark.parametrize("options", CONFIGS[:3], ids=["lstm", "gru", "dot"])
def test_padded_source_steps_change_nothing(options):
    model = _model(options)
    src, lengths, tgt = _batch()
    other = src.clone()
    other[1, 4:] = 7
    other[2, 2:] = 9
    torch.testing.assert_close(model(src, lengths, tgt), model(other, lengths, tgt))
    alone = model(src[2:, :2], lengths[2:], tgt[2:])  # the short one without any padding
    torch.testing.assert_close(model(src, lengths, tgt)[2:], alone)


def test_attention_reads_the_source():
    model = _model(CONFIGS[0])
    src, lengths, tgt = _batch()
    other = src.clone()
    other[0, 0] = 19 if src[0, 0] != 19 else 18
    assert not torch.allclose(model(src, lengths, tgt)[0], model(other, lengths, tgt)[0])


def test_scheduled_sampling_feeds_model_tokens_reproducibly():
    model = _model(CONFIGS[0])
    src, lengths, tgt = _batch()
    gold = model(src, lengths, tgt, teacher_forcing=1.0)
    torch.manual_seed(5)
    a = model(src, lengths, tgt, teacher_forcing=0.0)
    torch.manual_seed(5)
    b = model(src, lengths, tgt, teacher_forcing=0.0)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[:, 0], gold[:, 0])  # the first input is BOS either way
    assert not torch.allclose(a, gold)
    with pytest.raises(ValueError, match="teacher_forcing: expected a number in"):
        model(src, lengths, tgt, teacher_forcing=1.5)


@pytest.mark.parametrize("options", CONFIGS[:2], ids=["lstm", "gru2"])
def test_beam_of_one_equals_greedy_on_the_model(options):
    model = _model(options)
    src, lengths, _ = _batch()
    with torch.no_grad():
        state = model.encode(src, lengths)
        g = greedy(model.step, state, batch_size=3, bos=BOS, eos=EOS, max_len=6)
        b = beam_search(
            model.step, state, batch_size=3, bos=BOS, eos=EOS, max_len=6, beam_size=1,
            reorder=model.reorder_state,
        )  # fmt: skip
        wide = beam_search(
            model.step, state, batch_size=3, bos=BOS, eos=EOS, max_len=6, beam_size=4,
            reorder=model.reorder_state,
        )  # fmt: skip
    assert [h.tokens for h in g] == [hs[0].tokens for hs in b]
    for gh, (wh,) in zip(g, wide, strict=True):
        if gh.tokens[-1] == EOS and wh.tokens[-1] == EOS:
            assert wh.log_prob >= gh.log_prob - 1e-5


def test_tied_embeddings_share_one_parameter_and_bad_options():
    model = _model(CONFIGS[4])
    assert model.output.weight is model.tgt_embed.weight
    with pytest.raises(ValueError, match="tie_embeddings: needs embed_size == hidden_size"):
        Seq2Seq(5, 5, embed_size=8, hidden_size=16, tie_embeddings=True)
    with pytest.raises(ValueError, match="attention: expected 'none', 'dot', 'general'"):
        Seq2Seq(5, 5, attention="bahdanau")


def test_first_step_by_hand_luong_general_with_bridge():
    model = _model(CONFIGS[0])  # bidirectional LSTM encoder, general attention, input feeding
    src, lengths, tgt = _batch()
    with torch.no_grad():
        memory, final = model.encoder(model.src_embed(src), lengths=lengths)
        h0 = torch.tanh(model.bridge_h(torch.cat([final.h[0], final.h[1]], dim=-1)))
        c0 = torch.tanh(model.bridge_c(torch.cat([final.c[0], final.c[1]], dim=-1)))
        state = model.encode(src, lengths)
        torch.testing.assert_close(state.rnn.h[0], h0)
        torch.testing.assert_close(state.rnn.c[0], c0)
        x = torch.cat([model.tgt_embed(tgt[:, 0]), torch.zeros(3, 16)], dim=-1)
        out, _ = model.decoder(x[:, None], (h0[None], c0[None]))
        h = out[:, 0]  # (B, H)
        W = model.attention.weight.weight  # general: score = h^T W m
        expected = []
        for b, n in enumerate(lengths.tolist()):
            scores = torch.stack([h[b] @ (W @ memory[b, s]) for s in range(n)])
            context = scores.softmax(0) @ memory[b, :n]
            attentional = torch.tanh(model.combine.weight @ torch.cat([context, h[b]]))
            expected.append(model.output(attentional))
        torch.testing.assert_close(model(src, lengths, tgt)[:, 0], torch.stack(expected))
