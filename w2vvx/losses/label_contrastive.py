"""Multimodal contrastive loss of the noisy-label cross-modal methods (MRL, ELRCMR).

Hu et al. (MRL, CVPR 2021), penghu-cs/MRL ``main_noisy.py`` ``cross_modal_contrastive_ctriterion``:
the features of all ``V`` views of a batch of ``B`` instances are stacked into ``V*B`` rows,
``s_ij = exp(f_i . f_j / tau)`` with the self-similarities removed, and for every row the positives
are the same instance in the other views. The loss is the sum of two terms
``-mean_i log(sum_{j in pos(i)} s_ij / sum_{j != i} s_ij)``, one gathering positives along rows and
one along columns (both with the row sum as denominator); with a symmetric similarity the two are
equal. It never looks at the (noisy) labels, which is why these methods pair it with a
label loss. Computed here in log space (log-sum-exp), so small temperatures do not overflow.
"""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.layers.device_math import filled_like
from w2vvx.errors import ConfigError
from w2vvx.losses._base import RetrievalLoss

_MASKED = -1e9


def _masked_logsumexp(values, mask):
    return ops.logsumexp(ops.where(mask, values, filled_like(values, _MASKED)), axis=-1)


def multimodal_contrastive_loss(views, tau: float = 1.0):
    """MRL's cross-modal contrastive loss over a list of view features.

    Args:
        views: list of ``V >= 2`` tensors ``(B, D)``, row ``i`` of each is instance ``i``
            (normally L2-normalised embeddings).
        tau: temperature (MRL default 1).

    Returns:
        Scalar tensor (the sum of the row and column terms, as in MRL).

    Example:
        >>> import numpy as np
        >>> x = np.eye(3, dtype="float32")
        >>> aligned = float(multimodal_contrastive_loss([x, x], tau=0.1))
        >>> shuffled = float(multimodal_contrastive_loss([x, x[[1, 2, 0]]], tau=0.1))
        >>> aligned < shuffled
        True
    """
    if not isinstance(views, (list, tuple)) or len(views) < 2:
        raise ConfigError(f"views must be a list of at least 2 feature tensors, got {type(views).__name__}"
                          f"{'' if not isinstance(views, (list, tuple)) else ' of length ' + str(len(views))}")
    if not isinstance(tau, (int, float)) or isinstance(tau, bool) or not tau > 0:
        raise ConfigError(f"tau must be a positive number, got {tau!r}")
    views = [ops.convert_to_tensor(v) for v in views]
    num_views = len(views)
    batch_size = ops.shape(views[0])[0]
    features = ops.concatenate(views, axis=0)
    logits = ops.matmul(features, ops.transpose(features)) / tau
    rows = ops.arange(num_views * batch_size)
    instance = rows % batch_size
    not_self = ops.not_equal(ops.expand_dims(rows, 1), ops.expand_dims(rows, 0))
    same_instance = ops.equal(ops.expand_dims(instance, 1), ops.expand_dims(instance, 0))
    positive = ops.logical_and(same_instance, not_self)
    log_denominator = _masked_logsumexp(logits, not_self)
    row_term = -ops.mean(_masked_logsumexp(logits, positive) - log_denominator)
    column_term = -ops.mean(_masked_logsumexp(ops.transpose(logits), positive) - log_denominator)
    return row_term + column_term


@keras.saving.register_keras_serializable(package="w2vvx")
class MultimodalContrastiveLoss(RetrievalLoss):
    """:func:`multimodal_contrastive_loss` as a Keras loss.

    ``y_pred`` holds the views stacked on axis 1, shape ``(B, V, D)``; ``y_true`` is ignored (pass
    anything with a batch axis, e.g. the labels) because the loss only uses instance identity.

    Args:
        tau: temperature.

    Example:
        >>> import numpy as np
        >>> x = np.eye(3, dtype="float32")
        >>> float(MultimodalContrastiveLoss(tau=0.1)(np.zeros(3), np.stack([x, x], 1))) < 0.1
        True
    """

    def __init__(self, tau: float = 1.0, reduction="sum_over_batch_size", name="multimodal_contrastive", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not isinstance(tau, (int, float)) or isinstance(tau, bool) or not tau > 0:
            raise ConfigError(f"tau must be a positive number, got {tau!r}")
        self.tau = float(tau)

    def call(self, y_true, y_pred):
        num_views = ops.shape(y_pred)[1]
        views = [y_pred[:, v, :] for v in range(num_views)]
        return multimodal_contrastive_loss(views, tau=self.tau)

    def get_config(self):
        config = super().get_config()
        config["tau"] = self.tau
        return config
