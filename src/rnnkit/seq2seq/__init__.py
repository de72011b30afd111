"""Sequence-to-sequence: an encoder, a bridge and an attentional decoder in one model."""

from rnnkit.seq2seq.model import DecoderState, Seq2Seq

__all__ = ["DecoderState", "Seq2Seq"]
