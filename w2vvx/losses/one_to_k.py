"""CCRK's 1-to-K contrastive loss: each item against its K captions (one per language) at once."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.losses._base import TemperatureLoss, cosine_scores


@keras.saving.register_keras_serializable(package="w2vvx")
class OneToKContrastiveLoss(TemperatureLoss):
    """1-to-K contrastive loss (CCRK, KDD 2024) for B items each with K captions.

    ``y_true``: ``(B, D)`` visual embeddings. ``y_pred``: ``(K·B, D)`` caption embeddings in
    language-major order: row ``k·B + i`` is the language-``k`` caption of item ``i``.
    Logits ``L = v·tᵀ / τ`` (B × KB, cosine when ``normalize``).

    - item→text: ``−Σ_k log softmax(L[i])[k·B + i]`` (multi-hot target, K positives among KB);
    - text→item: ``−log softmax(L[:, k·B + i])[i]`` over the B items;
    - total = (mean over items of item→text + mean over texts of text→item) / 2 / K.

    The per-item value returned by ``call`` averages to that total under the default mean
    reduction. τ: fixed ``temperature``, or ``loss(..., temperature=tau)`` from a
    :class:`w2vvx.layers.LearnableTemperature` (CCRK: init 0.07, clamped to [0.001, 0.5]).

    Args:
        num_captions: K, the number of captions (languages) per item.
        temperature: fixed (or initial) τ.
        normalize: L2-normalise both sides first.
        reduction: ``"sum_over_batch_size"`` (mean, default), ``"sum"`` or None.

    Example:
        >>> import numpy as np
        >>> v = np.eye(3)
        >>> loss = OneToKContrastiveLoss(num_captions=2, temperature=0.01)
        >>> round(float(loss(v, np.concatenate([v, v]))), 3)  # log 2 from the two equal positives
        0.347
    """

    def __init__(self, num_captions: int = 2, temperature: float = 0.07, normalize: bool = True,
                 reduction="sum_over_batch_size", name="one_to_k_contrastive_loss", dtype=None):
        super().__init__(temperature=temperature, reduction=reduction, name=name, dtype=dtype)
        if isinstance(num_captions, bool) or not isinstance(num_captions, int) or num_captions < 1:
            raise ConfigError(f"num_captions (K) must be a positive integer, got {num_captions!r}")
        self.num_captions = num_captions
        self.normalize = bool(normalize)

    def call(self, y_true, y_pred, temperature=None):
        temperature = self.temperature if temperature is None else temperature
        k = self.num_captions
        batch, rows = ops.shape(y_true)[0], ops.shape(y_pred)[0]
        if isinstance(batch, int) and isinstance(rows, int) and rows != k * batch:
            raise ConfigError(f"{self.name}: y_pred must hold K·B = {k}·{batch} caption rows "
                              f"(language-major), got {rows}")
        logits = cosine_scores(y_true, y_pred, self.normalize) / temperature  # (B, K·B)
        log_probs_items = logits - ops.logsumexp(logits, axis=1, keepdims=True)
        per_language = ops.reshape(log_probs_items, (batch, k, batch))  # [i, k, j] = text k·B + j
        positive_item = ops.diagonal(per_language, axis1=0, axis2=2)  # (K, B): [k, i]
        item_to_text = -ops.sum(positive_item, axis=0)
        log_probs_texts = logits - ops.logsumexp(logits, axis=0, keepdims=True)
        per_language = ops.reshape(log_probs_texts, (batch, k, batch))
        text_to_item = -ops.mean(ops.diagonal(per_language, axis1=0, axis2=2), axis=0)
        return (item_to_text + text_to_item) / (2.0 * k)

    def get_config(self):
        return {**super().get_config(), "num_captions": self.num_captions, "normalize": self.normalize}
