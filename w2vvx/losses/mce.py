"""Mean clustering error (MCE): MRL's robust clustering loss for noisy labels.

Hu et al., "Learning Cross-Modal Retrieval with Noisy Labels" (CVPR 2021), repository
penghu-cs/MRL, ``src/utils.py`` ``MeanClusteringError``: with ``p = softmax(logits / tau)`` the loss
is the batch mean of ``log(sum_{c != y} p_c / sum_c p_c) = log(1 - p_y)``. It is bounded above by 0
and, unlike cross-entropy, gives small gradients to samples the model confidently disagrees with,
which is what makes it robust to flipped labels.
"""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.layers.device_math import at_least
from w2vvx.errors import ConfigError
from w2vvx.losses._base import RetrievalLoss


def _check_positive(name: str, value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def mean_clustering_error(labels, logits, tau: float = 1.0, epsilon: float = 1e-7):
    """Per-sample MCE, ``log(1 - p_y)`` with ``p = softmax(logits / tau)``.

    ``1 - p_y`` is computed as the probability mass of the other classes (as MRL does), which is
    exact when ``p_y`` is close to 1, and clipped below at ``epsilon`` so the log stays finite.

    Args:
        labels: integer class ids, shape ``(B,)`` (or ``(B, 1)``).
        logits: class scores, shape ``(B, C)``.
        tau: softmax temperature (MRL default 1).
        epsilon: smallest value of ``1 - p_y`` before the log.

    Returns:
        Tensor of shape ``(B,)``; every value is ``<= 0``.

    Example:
        >>> import numpy as np
        >>> loss = mean_clustering_error(np.array([0]), np.array([[2.0, 0.0]]))
        >>> round(float(loss[0]), 4)  # log(1 - sigmoid(2))
        -2.1269
    """
    logits = ops.convert_to_tensor(logits)
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    num_classes = ops.shape(logits)[-1]
    probabilities = ops.softmax(logits / tau, axis=-1)
    others = 1.0 - ops.one_hot(labels, num_classes, dtype=probabilities.dtype)
    other_mass = ops.sum(others * probabilities, axis=-1) / ops.sum(probabilities, axis=-1)
    return ops.log(at_least(other_mass, epsilon))


@keras.saving.register_keras_serializable(package="w2vvx")
class MeanClusteringError(RetrievalLoss):
    """MRL's robust clustering loss; ``y_true`` are integer labels, ``y_pred`` are logits.

    Args:
        tau: softmax temperature (default 1, as MRL).
        epsilon: lower clip of ``1 - p_y`` before the log.
        reduction, name, dtype: as ``keras.losses.Loss`` (default reduction: mean over the batch).

    Example:
        >>> import numpy as np
        >>> loss = MeanClusteringError(tau=1.0)
        >>> float(loss(np.array([1, 0]), np.array([[0.0, 3.0], [3.0, 0.0]]))) < -2.0
        True
    """

    def __init__(self, tau: float = 1.0, epsilon: float = 1e-7, reduction="sum_over_batch_size",
                 name="mean_clustering_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.tau = _check_positive("tau", tau)
        self.epsilon = _check_positive("epsilon", epsilon)

    def call(self, y_true, y_pred):
        return mean_clustering_error(y_true, y_pred, tau=self.tau, epsilon=self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update({"tau": self.tau, "epsilon": self.epsilon})
        return config
