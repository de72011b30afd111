"""Sequence-to-sequence: an encoder, a bridge and an attentional decoder in one model, and
the scheduled-sampling ratio used to train it."""

from rnnkit.seq2seq.model import DecoderState, Seq2Seq
from rnnkit.seq2seq.schedule import teacher_forcing_ratio

__all__ = ["DecoderState", "Seq2Seq", "teacher_forcing_ratio"]
