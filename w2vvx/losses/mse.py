"""Mean squared error between the visual feature and the text's predicted visual vector (W2VV)."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.losses._base import RetrievalLoss, check_reduction


@keras.saving.register_keras_serializable(package="w2vvx")
class MSELoss(RetrievalLoss):
    """W2VV's regression loss: mean over dimensions of ``(visual - text)²``, mean over the batch.

    Args:
        reduction: ``"sum_over_batch_size"`` (= mean, default), ``"sum"`` or None.

    Call args:
        y_true: ``(B, D)`` visual features; y_pred: ``(B, D)`` predicted (text-side) vectors.

    Example:
        >>> import numpy as np
        >>> float(MSELoss()(np.zeros((2, 3)), np.ones((2, 3))))
        1.0
    """

    def __init__(self, reduction="sum_over_batch_size", name="mse_loss", dtype=None):
        super().__init__(name=name, reduction=check_reduction(reduction), dtype=dtype)

    def call(self, y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred), axis=-1)
