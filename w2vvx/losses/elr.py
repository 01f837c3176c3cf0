"""Early-learning regularisation (ELR) against memorising noisy labels.

Liu et al., "Early-Learning Regularization Prevents Memorization of Noisy Labels" (NeurIPS 2020),
repository shengliu66/ELR, ``ELR/model/loss.py``. Every training sample keeps a running soft target

    t_i <- beta * t_i + (1 - beta) * p_i / sum(p_i),   p_i = clip(softmax(logits_i), c, 1 - c), detached,

and the loss is ``CE(logits, y) + lambda * mean_i log(1 - <t_i, p_i>)``. Early in training the
targets follow the (mostly clean) predictions; the regulariser then keeps the predictions close to
them instead of letting the noisy labels take over. ELRCMR (Xu et al., ACM MM 2022) adds this term
to a contrastive cross-modal model.

The running targets are per-sample state. :class:`EarlyLearningTargets` keeps them in a
non-trainable ``(num_samples, num_classes)`` variable updated inside ``call`` (so the update works
under ``model.fit`` on every backend, JAX included, like a BatchNormalization statistic); the loss
itself is the pure function :func:`elr_loss`.
"""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.layers.device_math import clipped

from w2vvx.errors import ConfigError
from w2vvx.losses._base import RetrievalLoss
from w2vvx.losses.mce import mean_clustering_error


def _check_fraction(name: str, value, open_low=False) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not (0.0 < value < 1.0 if open_low else 0.0 <= value < 1.0):
        low = "(0" if open_low else "[0"
        raise ConfigError(f"{name} must lie in {low}, 1), got {value!r}")
    return float(value)


def clipped_probabilities(logits, clip: float = 1e-4):
    """``softmax(logits)`` clipped to ``[clip, 1 - clip]`` (ELR's clamp)."""
    return clipped(ops.softmax(ops.convert_to_tensor(logits), axis=-1), clip, 1.0 - clip)


def update_running_targets(previous_targets, logits, beta: float = 0.7, clip: float = 1e-4):
    """One ELR target step: ``beta * t + (1 - beta) * p / sum(p)`` with ``p`` detached and clipped.

    Args:
        previous_targets: ``(B, C)`` running targets of the samples in the batch.
        logits: ``(B, C)`` current class scores of those samples.
        beta: momentum of the running average (Liu et al.: 0.7 in the paper for CIFAR-10, 0.3 in code).
        clip: probability clamp.

    Returns:
        The new ``(B, C)`` targets; no gradient flows through them.
    """
    probabilities = ops.stop_gradient(clipped_probabilities(logits, clip))
    normalised = probabilities / ops.sum(probabilities, axis=-1, keepdims=True)
    previous_targets = ops.cast(previous_targets, normalised.dtype)
    return ops.stop_gradient(beta * previous_targets + (1.0 - beta) * normalised)


def elr_regularizer(logits, targets, clip: float = 1e-4):
    """Per-sample ``log(1 - <t, p>)`` with ``p`` the clipped softmax of ``logits`` (gradient flows to ``p``)."""
    probabilities = clipped_probabilities(logits, clip)
    agreement = ops.sum(ops.cast(targets, probabilities.dtype) * probabilities, axis=-1)
    return ops.log(1.0 - agreement)


def elr_loss(labels, logits, targets, elr_lambda: float = 3.0, clip: float = 1e-4):
    """Per-sample ELR loss ``CE(logits, y) + lambda * log(1 - <t, p>)``.

    Args:
        labels: integer class ids ``(B,)``.
        logits: class scores ``(B, C)``.
        targets: the (already updated) running targets of these samples ``(B, C)``.
        elr_lambda: weight of the regulariser (Liu et al. use 3 for CIFAR-10).
        clip: probability clamp.

    Returns:
        Tensor ``(B,)``; its mean is the ELR objective.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[2.0, 0.0]])
        >>> targets = update_running_targets(np.zeros((1, 2)), logits, beta=0.7)
        >>> float(elr_loss(np.array([0]), logits, targets)[0]) < float(
        ...     elr_loss(np.array([0]), logits, np.zeros((1, 2)))[0])
        True
    """
    logits = ops.convert_to_tensor(logits)
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    cross_entropy = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    return cross_entropy + elr_lambda * elr_regularizer(logits, targets, clip)


def mce_elr_loss(labels, logits, targets, elr_lambda=1.0, tau: float = 1.0, clip: float = 1e-4):
    """Per-sample ELRCMR label loss ``MCE(logits, y) + lambda * log(1 - <t, p>)``.

    MRL's robust clustering loss (:func:`~w2vvx.losses.mce.mean_clustering_error`, ``log(1 - p_y)``
    with ``p = softmax(logits / tau)``) in place of ELR's cross-entropy, plus ELR's regulariser with
    ``p`` the clipped softmax of the logits (as :func:`elr_loss`). ``elr_lambda`` may be a scalar
    tensor (ELRCMR schedules it over the steps).

    Args:
        labels: integer class ids ``(B,)``.
        logits: class scores ``(B, C)``.
        targets: the (already updated) running targets of these samples ``(B, C)``.
        elr_lambda: weight of the regulariser (ELRCMR's ``--lama``).
        tau: MCE softmax temperature.
        clip: probability clamp of the regulariser.

    Returns:
        Tensor ``(B,)``.

    Example:
        >>> import numpy as np
        >>> logits, targets = np.array([[2.0, 0.0]]), np.array([[0.5, 0.5]])
        >>> round(float(mce_elr_loss(np.array([0]), logits, targets, elr_lambda=0.0)[0]), 4)  # MCE alone
        -2.1269
    """
    logits = ops.convert_to_tensor(logits)
    clustering = mean_clustering_error(labels, logits, tau=tau)
    return clustering + ops.cast(elr_lambda, clustering.dtype) * elr_regularizer(logits, targets, clip)


@keras.saving.register_keras_serializable(package="w2vvx")
class EarlyLearningTargets(keras.layers.Layer):
    """Per-sample running ELR targets, a non-trainable ``(num_samples, num_classes)`` variable.

    ``call(logits, sample_indices, training)`` returns the targets of the batch's samples after the
    update ``t <- beta * t + (1 - beta) * p / sum(p)``; the stored rows are overwritten only when
    ``training`` is true. Targets start at zero, as in Liu et al. Sample indices must be unique
    within a batch (as they are when batches partition a shuffled epoch).

    Args:
        num_samples: number of training samples (indices run from 0 to ``num_samples - 1``).
        num_classes: number of classes.
        beta: momentum of the running average.
        clip: probability clamp.

    Example:
        >>> import numpy as np
        >>> layer = EarlyLearningTargets(num_samples=4, num_classes=3, beta=0.5)
        >>> t = layer(np.zeros((2, 3), "float32"), np.array([0, 2]), training=True)
        >>> [round(float(v), 3) for v in np.asarray(t)[0]]
        [0.167, 0.167, 0.167]
    """

    def __init__(self, num_samples: int, num_classes: int, beta: float = 0.7, clip: float = 1e-4, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_samples", num_samples), ("num_classes", num_classes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        self.num_samples = num_samples
        self.num_classes = num_classes
        self.beta = _check_fraction("beta", beta)
        self.clip = _check_fraction("clip", clip, open_low=True)
        self.targets = self.add_weight(
            shape=(num_samples, num_classes), initializer="zeros", trainable=False, name="targets",
        )

    def call(self, logits, sample_indices, training=None):
        indices = ops.reshape(ops.cast(sample_indices, "int32"), (-1,))
        previous = ops.take(self.targets, indices, axis=0)
        updated = update_running_targets(previous, logits, beta=self.beta, clip=self.clip)
        if training:
            self.targets.assign(
                ops.scatter_update(self.targets, ops.expand_dims(indices, -1), ops.cast(updated, self.targets.dtype))
            )
        return updated

    def compute_output_shape(self, logits_shape, sample_indices_shape=None):
        return tuple(logits_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"num_samples": self.num_samples, "num_classes": self.num_classes,
                       "beta": self.beta, "clip": self.clip})
        return config


@keras.saving.register_keras_serializable(package="w2vvx")
class ELRLoss(RetrievalLoss):
    """ELR objective as a Keras loss.

    ``y_true`` are integer labels ``(B,)``; ``y_pred`` is the concatenation ``[logits, targets]``
    along the last axis ``(B, 2C)``, where ``targets`` come from :class:`EarlyLearningTargets`.
    (A Keras loss sees only ``y_true``/``y_pred``; the model concatenates the two.)

    Args:
        elr_lambda: weight of the regulariser.
        clip: probability clamp.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[2.0, 0.0]]); targets = np.array([[0.9, 0.1]])
        >>> float(ELRLoss(elr_lambda=3.0)(np.array([0]), np.concatenate([logits, targets], -1))) < 0
        True
    """

    def __init__(self, elr_lambda: float = 3.0, clip: float = 1e-4, reduction="sum_over_batch_size",
                 name="elr_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not isinstance(elr_lambda, (int, float)) or isinstance(elr_lambda, bool) or elr_lambda < 0:
            raise ConfigError(f"elr_lambda must be a non-negative number, got {elr_lambda!r}")
        self.elr_lambda = float(elr_lambda)
        self.clip = _check_fraction("clip", clip, open_low=True)

    def call(self, y_true, y_pred):
        logits, targets = ops.split(y_pred, 2, axis=-1)
        return elr_loss(y_true, logits, targets, elr_lambda=self.elr_lambda, clip=self.clip)

    def get_config(self):
        config = super().get_config()
        config.update({"elr_lambda": self.elr_lambda, "clip": self.clip})
        return config
