"""Helpers for padded sequences (token id 0 = padding)."""
from __future__ import annotations

from keras import ops

from w2vvx.layers.device_math import at_least, nonzero

def padding_mask(token_ids):
    """Boolean ``(B, L)`` mask that is True at real tokens (id != 0)."""
    return nonzero(token_ids)


def masked_mean(values, mask):
    """Mean of ``values`` (B, T, D) over the steps where ``mask`` (B, T) is true.

    Rows whose mask is all false give zeros (never NaN). ``mask=None`` averages every step.
    """
    if mask is None:
        return ops.mean(values, axis=1)
    weights = ops.cast(mask, values.dtype)
    total = ops.sum(values * ops.expand_dims(weights, -1), axis=1)
    count = ops.sum(weights, axis=1, keepdims=True)
    return total / at_least(count, 1.0)
