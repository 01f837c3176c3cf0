"""Symmetric InfoNCE (CLIP-style) loss with a temperature the model can learn."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.losses._base import TemperatureLoss, cosine_scores


@keras.saving.register_keras_serializable(package="w2vvx")
class InfoNCELoss(TemperatureLoss):
    """Symmetric InfoNCE over the batch: cross-entropy of ``S / τ`` in both directions.

    ``S[i, j]`` = cosine of text ``i`` and visual ``j``; row ``i`` of both is the positive. The
    per-sample loss is ``(CE_t2v(i) + CE_v2t(i)) / 2``, averaged over the batch.
    A learnable τ lives in the model (:class:`w2vvx.layers.LearnableTemperature`) and is passed as
    ``loss(y_true, y_pred, temperature=tau)``; otherwise the fixed ``temperature`` is used.

    Args:
        temperature: the fixed (or initial) temperature τ.
        normalize: L2-normalise both sides first (cosine).
        reduction: ``"sum_over_batch_size"`` (mean, default), ``"sum"`` or None.

    Example:
        >>> import numpy as np
        >>> v = np.eye(4)
        >>> float(InfoNCELoss(temperature=0.01)(v, v)) < 1e-6
        True
    """

    def __init__(self, temperature: float = 0.07, normalize: bool = True,
                 reduction="sum_over_batch_size", name="info_nce_loss", dtype=None):
        super().__init__(temperature=temperature, reduction=reduction, name=name, dtype=dtype)
        self.normalize = bool(normalize)

    def call(self, y_true, y_pred, temperature=None):
        temperature = self.temperature if temperature is None else temperature
        logits = cosine_scores(y_pred, y_true, self.normalize) / temperature
        positive = ops.diagonal(logits)
        text_to_visual = ops.logsumexp(logits, axis=1) - positive
        visual_to_text = ops.logsumexp(logits, axis=0) - positive
        return 0.5 * (text_to_visual + visual_to_text)

    def get_config(self):
        return {**super().get_config(), "normalize": self.normalize}
