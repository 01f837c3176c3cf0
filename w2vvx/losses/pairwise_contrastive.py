"""Pairwise contrastive loss ("CTL") of the enhanced W2VV of COCO-CN (Hadsell et al., 2006)."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.layers.device_math import at_least
from w2vvx.errors import ConfigError
from w2vvx.losses._base import RetrievalLoss, check_reduction


@keras.saving.register_keras_serializable(package="w2vvx")
class PairwiseContrastiveLoss(RetrievalLoss):
    """Mean over pairs of ``y·d² + (1−y)·max(margin − d, 0)²`` with Euclidean distance ``d``.

    Each sentence ``i`` (row ``i`` of ``y_pred``) forms two pairs: with its own visual vector
    (``y = 1``) and with one negative visual vector (``y = 0``). Where the negatives come from:

    - ``y_true`` has ``2B`` rows: rows ``0..B-1`` are the positives, rows ``B..2B-1`` the negatives
      (row ``B + i`` is sentence ``i``'s negative). This is the original scheme: the data pipeline
      draws, for each sentence, a random image that is not in the batch
      (:class:`w2vvx.models.W2VVRetriever` passes them as input ``negative_visual``).
    - ``y_true`` has ``B`` rows (no negatives given): in-batch fallback, sentence ``i`` is paired
      with the visual vector of row ``(i + 1) mod B``. Batches must hold distinct items (as W2VV's
      batches do) and ``B > 1``.

    The per-sentence value is the mean of its two pair terms, so the default mean reduction is the
    mean over all ``2B`` pairs, as the original.

    Args:
        margin: the margin (2 in coco-cn).
        reduction: ``"sum_over_batch_size"`` (mean, default), ``"sum"`` or None.

    Example:
        >>> import numpy as np
        >>> visual = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
        >>> text = np.array([[0.0, 0.0], [1.0, 0.0]])
        >>> float(PairwiseContrastiveLoss(margin=2.0)(visual, text))  # negatives are far away
        0.0
    """

    def __init__(self, margin: float = 2.0, reduction="sum_over_batch_size", name="pairwise_contrastive_loss",
                 dtype=None):
        super().__init__(name=name, reduction=check_reduction(reduction), dtype=dtype)
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin <= 0:
            raise ConfigError(f"margin must be a number > 0, got {margin!r}")
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        batch = ops.shape(y_pred)[0]
        rows = ops.shape(y_true)[0]
        if isinstance(batch, int) and isinstance(rows, int):
            if rows not in (batch, 2 * batch):
                raise ConfigError(f"{self.name}: y_true must have B or 2B rows for B = {batch} sentences "
                                  f"(positives, then optional negatives), got {rows}")
            offset = batch if rows == 2 * batch else 1
        else:
            offset = ops.where(ops.equal(rows, 2 * batch), batch, 1)
        row_ids = ops.cumsum(ops.ones_like(y_pred[:, 0], dtype="int32")) - 1
        positives = ops.take(y_true, row_ids, axis=0)
        negatives = ops.take(y_true, (row_ids + offset) % rows, axis=0)
        positive_sq = ops.sum(ops.square(y_pred - positives), axis=-1)
        negative_distance = ops.sqrt(at_least(ops.sum(ops.square(y_pred - negatives), axis=-1), 1e-12))
        negative_term = ops.square(ops.relu(self.margin - negative_distance))
        return 0.5 * (positive_sq + negative_term)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
