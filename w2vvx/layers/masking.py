"""Helpers for padded sequences (token id 0 = padding)."""
from __future__ import annotations

import keras
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


def first_occurrence(token_ids):
    """``(B, L)`` bool: True where a token id appears for the first time in its row.

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(first_occurrence(np.array([[3, 5, 3, 0, 0]]))).tolist()
        [[True, True, False, True, False]]
    """
    token_ids = ops.convert_to_tensor(token_ids)
    same = ops.equal(ops.expand_dims(token_ids, 2), ops.expand_dims(token_ids, 1))  # (B, L, L): [i, j] ids equal
    length = ops.shape(token_ids)[1]
    earlier = ops.greater(ops.expand_dims(ops.arange(length), 1), ops.expand_dims(ops.arange(length), 0))  # j < i
    return ops.logical_not(ops.any(ops.logical_and(same, earlier), axis=-1))
