"""Attention over RNN states: additive (Bahdanau), Luong (dot, general, concat), scaled
dot-product, multi-head, external attention, and attention pooling.

Every module takes a padding ``mask`` (B, S), True at valid keys, gives padded keys exactly
zero weight, and returns its weights beside its output.
"""

from rnnkit.attention.modules import (
    AdditiveAttention,
    AttentionPooling,
    ExternalAttention,
    LuongAttention,
    MultiHeadAttention,
    ScaledDotProductAttention,
    lengths_to_mask,
    masked_softmax,
)

__all__ = [
    "AdditiveAttention",
    "AttentionPooling",
    "ExternalAttention",
    "LuongAttention",
    "MultiHeadAttention",
    "ScaledDotProductAttention",
    "lengths_to_mask",
    "masked_softmax",
]
