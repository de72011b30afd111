"""An attentional encoder-decoder (Luong et al. 2015, with Bahdanau et al.'s additive score as
an option).

Shapes: B batch, S source steps, T target steps, E embedding size, H hidden size, V vocabulary.
The decoder runs one step at a time through :meth:`Seq2Seq.step`, the function that
``rnnkit.decoding`` searches over; :meth:`Seq2Seq.forward` loops the same step over a target
with teacher forcing.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.attention import AdditiveAttention, LuongAttention, lengths_to_mask
from rnnkit.cells.base import LSTMState, map_state
from rnnkit.layers.recurrent import Recurrent

AttentionKind = Literal["none", "dot", "general", "additive"]


class DecoderState(NamedTuple):
    """Everything one decoder step needs, batch on dim 0 except ``rnn`` ((L, B, H), like
    torch.nn); reorder it with :meth:`Seq2Seq.reorder_state`."""

    rnn: Tensor | LSTMState
    feed: Tensor  # (B, H) the previous attentional hidden state (input feeding), zeros at first
    memory: Tensor  # (B, S, H_enc) encoder outputs
    mask: Tensor  # (B, S) True at valid source steps
    keys: Tensor | None = None  # (B, S, D) attention.prepare(memory), once per source


class Seq2Seq(nn.Module):
    """Encoder (any runner configuration) + bridge + attentional decoder.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes. pad: the padding token of both.
        embed_size: E. hidden_size: H of the decoder (and of each encoder direction).
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` for both sides. num_layers: L on both sides.
        bidirectional: a bidirectional encoder (the bridge maps both directions to H).
        attention: the score, or ``"none"`` (the decoder then sees only the bridged state).
        input_feeding: feed the previous attentional state with the next token (Luong).
        tie_embeddings: the output layer shares the target embedding's weights (needs E == H).
        dropout: on embeddings, between stacked layers and on attentional states.
        path, **cell_options: the runner's execution path and cell options (e.g. ``norm=
            "layer"`` for an LSTM), for encoder and decoder alike; see ``Recurrent``.

    Example::

        >>> model = Seq2Seq(20, 30, embed_size=8, hidden_size=16)
        >>> logits = model(torch.randint(1, 20, (2, 7)), torch.tensor([7, 4]),
        ...                torch.randint(1, 30, (2, 5)))
        >>> logits.shape
        torch.Size([2, 5, 30])
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        *,
        embed_size: int = 128,
        hidden_size: int = 256,
        cell: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = True,
        attention: AttentionKind = "general",
        input_feeding: bool = True,
        tie_embeddings: bool = False,
        dropout: float = 0.0,
        pad: int = 0,
        path: str = "auto",
        **cell_options,
    ) -> None:
        super().__init__()
        if attention not in ("none", "dot", "general", "additive"):
            raise ValueError(
                f"attention: expected 'none', 'dot', 'general' or 'additive', got {attention!r}"
            )
        if tie_embeddings and embed_size != hidden_size:
            raise ValueError(
                f"tie_embeddings: needs embed_size == hidden_size, got {embed_size} and "
                f"{hidden_size}"
            )
        H, dirs = hidden_size, 2 if bidirectional else 1
        self.cell, self.num_layers, self.input_feeding = cell, num_layers, input_feeding
        self.src_embed = nn.Embedding(src_vocab, embed_size, padding_idx=pad)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed_size, padding_idx=pad)
        runner = dict(num_layers=num_layers, dropout=dropout, path=path, **cell_options)
        self.encoder = Recurrent(cell, embed_size, H, bidirectional=bidirectional, **runner)
        # Bridge: each layer's final states of both directions -> the decoder's initial state.
        self.bridge_h = nn.Linear(dirs * H, H)
        self.bridge_c = nn.Linear(dirs * H, H) if cell == "lstm" else None
        decoder_input = embed_size + (H if input_feeding else 0)
        self.decoder = Recurrent(cell, decoder_input, H, **runner)
        memory_size = dirs * H
        # Dot scores need the memory in the decoder's size: project a bidirectional memory.
        needs_proj = attention == "dot" and memory_size != H
        self.memory_proj = nn.Linear(memory_size, H, bias=False) if needs_proj else None
        if attention == "additive":
            self.attention = AdditiveAttention(H, memory_size, H)
        elif attention == "dot":
            self.attention = LuongAttention(H, H, "dot")
        elif attention == "general":
            self.attention = LuongAttention(H, memory_size, "general")
        else:
            self.attention = None
        # Dot attention reads a memory projected to H; the others read it as it is.
        context_size = {"none": 0, "dot": H}.get(attention, memory_size)
        self.combine = nn.Linear(H + context_size, H, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(H, tgt_vocab)
        if tie_embeddings:
            self.output.weight = self.tgt_embed.weight

    def resolve_path(self, inputs) -> str:
        """The execution path the encoder takes for a batch ``(src, src_lengths, ...)``."""
        src = inputs[0]
        embedded = torch.zeros(*src.shape, self.src_embed.embedding_dim, device=src.device)
        return self.encoder.resolve_path(embedded)

    # -- encoder ----------------------------------------------------------------------------
    def encode(self, src: Tensor, src_lengths: Tensor) -> DecoderState:
        """src (B, S) token ids, src_lengths (B,) -> the decoder's first state."""
        memory, final = self.encoder(self.dropout(self.src_embed(src)), lengths=src_lengths)
        B = src.shape[0]

        def bridge(states: Tensor, linear: nn.Linear) -> Tensor:  # (L*dirs, B, H) -> (L, B, H)
            per_layer = states.view(self.num_layers, -1, B, states.shape[-1])
            joined = per_layer.permute(0, 2, 1, 3).reshape(self.num_layers, B, -1)
            return torch.tanh(linear(joined))

        if self.cell == "lstm":
            rnn = LSTMState(bridge(final.h, self.bridge_h), bridge(final.c, self.bridge_c))
        else:
            rnn = bridge(final, self.bridge_h)
        if self.memory_proj is not None:
            memory = self.memory_proj(memory)
        feed = memory.new_zeros(B, self.output.in_features)
        mask = lengths_to_mask(src_lengths.to(memory.device), src.shape[1])
        keys = self.attention.prepare(memory) if self.attention is not None else None
        return DecoderState(rnn, feed, memory, mask, keys)

    # -- one decoder step -------------------------------------------------------------------
    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """tokens (B,) -> (log-probabilities (B, V), next state): the decoding step function."""
        logits, state, _ = self._step_logits(tokens, state)
        return logits.log_softmax(-1), state

    def _step_logits(
        self, tokens: Tensor, state: DecoderState
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """(logits (B, V), next state, attention weights (B, S) or None)."""
        x = self.dropout(self.tgt_embed(tokens))  # (B, E)
        if self.input_feeding:
            x = torch.cat([x, state.feed], dim=-1)
        out, rnn = self.decoder(x[:, None, :], state.rnn)  # (B, 1, H)
        h, weights = out[:, 0], None
        if self.attention is not None:
            context, weights = self.attention(
                h, state.memory, mask=state.mask, prepared=state.keys
            )  # (B, H_mem)
            h = torch.cat([context, h], dim=-1)
        attentional = self.dropout(torch.tanh(self.combine(h)))  # (B, H)
        state = state._replace(rnn=rnn, feed=attentional)
        return self.output(attentional), state, weights

    def reorder_state(self, state: DecoderState, indices: Tensor) -> DecoderState:
        """Select batch rows ``indices`` (beam search's back-pointers) of every part."""
        return DecoderState(
            map_state(lambda s: s.index_select(1, indices.to(s.device)), state.rnn),
            state.feed.index_select(0, indices.to(state.feed.device)),
            state.memory.index_select(0, indices.to(state.memory.device)),
            state.mask.index_select(0, indices.to(state.mask.device)),
            None
            if state.keys is None
            else state.keys.index_select(0, indices.to(state.keys.device)),
        )

    # -- training ---------------------------------------------------------------------------
    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        *,
        teacher_forcing: float = 1.0,
        return_attention: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits (B, T, V) for target inputs ``tgt_in`` (B, T) (BOS first); with
        ``return_attention``, also the attention weights (B, T, S) (needs attention).

        ``teacher_forcing`` is the probability of feeding the gold token at each step; else
        the model's own sample from its distribution is fed (scheduled sampling, Bengio et
        al. 2015). Sampling draws from torch's global RNG.
        """
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing: expected a number in [0, 1], got {teacher_forcing}")
        state = self.encode(src, src_lengths)
        if return_attention and self.attention is None:
            raise ValueError("return_attention: this model has no attention (attention='none')")
        tokens = tgt_in[:, 0]
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            step_logits, state, step_weights = self._step_logits(tokens, state)
            logits.append(step_logits)
            weights.append(step_weights)
            if t + 1 < tgt_in.shape[1]:
                tokens = tgt_in[:, t + 1]
                if teacher_forcing < 1.0:
                    sampled = torch.multinomial(step_logits.detach().softmax(-1), 1)[:, 0]
                    use_gold = torch.rand(tokens.shape, device=tokens.device) < teacher_forcing
                    tokens = torch.where(use_gold, tokens, sampled)
        if return_attention:
            return torch.stack(logits, dim=1), torch.stack(weights, dim=1)
        return torch.stack(logits, dim=1)
