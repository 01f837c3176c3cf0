"""NRCCR's two distillation losses (similarity view and feature view).

Wang et al., "Cross-Lingual Cross-Modal Retrieval with Noise-Robust Learning" (ACM MM 2022),
repository HuiGuanLab/nrccr ``loss.py`` (``DtlLoss``, ``dtl_feat``; used in ``model.py``
``forward_loss`` with the cross embedding detached for the similarity view only). The "cross" embedding (from
:class:`w2vvx.layers.cross_attention.CrossAttentionPseudoTarget`) is a soft pseudo target for the
noisy machine-translated sentence embedding ``tgt``:

* similarity view: teacher = softmax over the batch of ``cos(v, cross) / tau`` (no gradient),
  student = log-softmax of ``cos(v, tgt) / tau``; cross-entropy in the visual→text and
  text→visual directions, averaged (``tau = 0.07``);
* feature view: SmoothL1 (``beta = 4``, mean over all elements) between ``tgt`` and ``cross``; the
  cross embedding is NOT detached in NRCCR (option ``detach_teacher``).

Cosine similarity is the dot product, as in NRCCR: pass L2-normalised embeddings (the
``normalize`` option normalises them here).
"""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.losses._base import RetrievalLoss


def _check_positive(name: str, value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _soft_cross_entropy(student_logits, teacher_logits):
    teacher = ops.softmax(teacher_logits, axis=-1)
    return -ops.mean(ops.sum(ops.log_softmax(student_logits, axis=-1) * teacher, axis=-1))


def similarity_distillation_loss(visual, target, cross, tau: float = 0.07, normalize: bool = False):
    """Similarity-view distillation (NRCCR ``DtlLoss``).

    Args:
        visual: ``(B, D)`` visual embeddings.
        target: ``(B, D)`` embeddings of the target-language (machine-translated) sentences (student).
        cross: ``(B, D)`` cross-attention pseudo-target embeddings (teacher; gradient stopped).
        tau: temperature.
        normalize: L2-normalise the three inputs first (NRCCR receives normalised ones).

    Returns:
        Scalar: ``(CE_v2t + CE_t2v) / 2``.

    Example:
        >>> import numpy as np
        >>> v = np.eye(4, dtype="float32")
        >>> float(similarity_distillation_loss(v, v, v)) < 0.01
        True
    """
    visual, target, cross = (ops.convert_to_tensor(x) for x in (visual, target, cross))
    if normalize:
        visual, target, cross = (ops.normalize(x, axis=-1) for x in (visual, target, cross))
    cross = ops.stop_gradient(cross)
    teacher_v2t = ops.matmul(visual, ops.transpose(cross)) / tau
    student_v2t = ops.matmul(visual, ops.transpose(target)) / tau
    loss_v2t = _soft_cross_entropy(student_v2t, teacher_v2t)
    loss_t2v = _soft_cross_entropy(ops.transpose(student_v2t), ops.transpose(teacher_v2t))
    return (loss_v2t + loss_t2v) / 2.0


def smooth_l1(prediction, reference, beta: float = 4.0):
    """Element-wise SmoothL1 as torch defines it: ``0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - beta/2``."""
    difference = ops.abs(ops.convert_to_tensor(prediction) - ops.convert_to_tensor(reference))
    return ops.where(difference < beta, 0.5 * ops.square(difference) / beta, difference - 0.5 * beta)


def feature_distillation_loss(target, cross, beta: float = 4.0, detach_teacher: bool = False):
    """Feature-view distillation (NRCCR ``dtl_feat``): mean SmoothL1 between ``target`` and ``cross``.

    Args:
        target: ``(B, D)`` target-language embeddings.
        cross: ``(B, D)`` cross embeddings (teacher).
        beta: SmoothL1 threshold (NRCCR: 4).
        detach_teacher: stop the gradient into ``cross`` (NRCCR does not).

    Returns:
        Scalar mean over all elements.

    Example:
        >>> import numpy as np
        >>> float(feature_distillation_loss(np.zeros((1, 2)), np.array([[2.0, 6.0]])))  # (0.5 + 4) / 2
        2.25
    """
    cross = ops.convert_to_tensor(cross)
    if detach_teacher:
        cross = ops.stop_gradient(cross)
    return ops.mean(smooth_l1(target, cross, beta))


@keras.saving.register_keras_serializable(package="w2vvx")
class SimilarityDistillationLoss(RetrievalLoss):
    """Similarity-view distillation as a Keras loss.

    ``y_true`` is the visual embedding ``(B, D)``; ``y_pred`` stacks ``[target, cross]`` on axis 1,
    shape ``(B, 2, D)`` (student first, teacher second). The teacher gets no gradient.

    Args:
        tau: temperature (NRCCR: 0.07).
        normalize: L2-normalise the embeddings first.

    Example:
        >>> import numpy as np
        >>> v = np.eye(3, dtype="float32")
        >>> float(SimilarityDistillationLoss()(v, np.stack([v, v], 1))) < 0.01
        True
    """

    def __init__(self, tau: float = 0.07, normalize: bool = False, reduction="sum_over_batch_size",
                 name="similarity_distillation", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.tau = _check_positive("tau", tau)
        self.normalize = bool(normalize)

    def call(self, y_true, y_pred):
        return similarity_distillation_loss(y_true, y_pred[:, 0, :], y_pred[:, 1, :], tau=self.tau,
                                            normalize=self.normalize)

    def get_config(self):
        config = super().get_config()
        config.update({"tau": self.tau, "normalize": self.normalize})
        return config


@keras.saving.register_keras_serializable(package="w2vvx")
class FeatureDistillationLoss(RetrievalLoss):
    """Feature-view distillation as a Keras loss: ``y_true`` = cross (teacher), ``y_pred`` = target.

    Args:
        beta: SmoothL1 threshold (NRCCR: 4).
        detach_teacher: stop the gradient into the cross embedding (off by default, as NRCCR).

    Example:
        >>> import numpy as np
        >>> float(FeatureDistillationLoss()(np.array([[2.0, 6.0]]), np.zeros((1, 2))))
        2.25
    """

    def __init__(self, beta: float = 4.0, detach_teacher: bool = False, reduction="sum_over_batch_size",
                 name="feature_distillation", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.beta = _check_positive("beta", beta)
        self.detach_teacher = bool(detach_teacher)

    def call(self, y_true, y_pred):
        return feature_distillation_loss(y_pred, y_true, beta=self.beta, detach_teacher=self.detach_teacher)

    def get_config(self):
        config = super().get_config()
        config.update({"beta": self.beta, "detach_teacher": self.detach_teacher})
        return config
