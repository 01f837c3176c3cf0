"""Hinge-based triplet ranking loss of VSE++ / W2VV++ (cosine scores)."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.losses._base import RetrievalLoss, check_reduction, cosine_scores

DIRECTIONS = ("t2v", "v2t", "both")


@keras.saving.register_keras_serializable(package="w2vvx")
class TripletRankingLoss(RetrievalLoss):
    """VSE++ contrastive (triplet) ranking loss over the in-batch negatives.

    With ``S[i, j]`` the cosine of text ``i`` and visual ``j`` (row ``i`` of both is a positive):

    - ``t2v`` (text query): for text ``i``, ``max(0, margin + S[i, j] − S[i, i])`` over ``j ≠ i``;
    - ``v2t`` (visual query): for visual ``j``, ``max(0, margin + S[i, j] − S[j, j])`` over ``i ≠ j``;

    summed over the negatives, or only the hardest negative when ``max_violation`` (VSE++).
    The per-sample loss of row ``i`` is its text-query cost plus its visual-query cost (per the
    ``direction``); the default reduction ``"sum"`` sums over the batch as VSE++ and W2VV++.

    Args:
        margin: the margin (0.2).
        max_violation: hardest negative only (True) or the sum over negatives (False).
        direction: ``"t2v"`` (W2VV++), ``"v2t"`` or ``"both"`` (VSE++, dual encoding).
        normalize: L2-normalise both sides first (cosine); False uses dot products.
        reduction: ``"sum"`` (default), ``"mean"`` or None.

    Example:
        >>> import numpy as np
        >>> v = np.eye(3)
        >>> float(TripletRankingLoss()(v, v))  # positives at 1, negatives at 0: no violation
        0.0
    """

    def __init__(self, margin: float = 0.2, max_violation: bool = True, direction: str = "t2v",
                 normalize: bool = True, reduction="sum", name="triplet_ranking_loss", dtype=None):
        super().__init__(name=name, reduction=check_reduction(reduction), dtype=dtype)
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
            raise ConfigError(f"margin must be a number >= 0, got {margin!r}")
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        self.margin = float(margin)
        self.max_violation = bool(max_violation)
        self.direction = direction
        self.normalize = bool(normalize)

    def call(self, y_true, y_pred):
        scores = cosine_scores(y_pred, y_true, self.normalize)
        positive = ops.diagonal(scores)
        negatives = 1.0 - ops.eye(ops.shape(scores)[0], dtype=scores.dtype)
        losses = ops.zeros_like(positive)
        if self.direction in ("t2v", "both"):
            cost = ops.relu(self.margin + scores - ops.expand_dims(positive, 1)) * negatives
            losses = losses + (ops.max(cost, axis=1) if self.max_violation else ops.sum(cost, axis=1))
        if self.direction in ("v2t", "both"):
            cost = ops.relu(self.margin + scores - ops.expand_dims(positive, 0)) * negatives
            losses = losses + (ops.max(cost, axis=0) if self.max_violation else ops.sum(cost, axis=0))
        return losses

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "max_violation": self.max_violation,
                "direction": self.direction, "normalize": self.normalize}
