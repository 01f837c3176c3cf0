"""Shared pieces of the retrieval losses."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers.normalize import l2_normalize

REDUCTIONS = ("sum", "sum_over_batch_size", "mean", None)


def check_reduction(reduction):
    """Accept the Keras reductions this package implements ('mean' = 'sum_over_batch_size')."""
    if reduction not in REDUCTIONS:
        raise ConfigError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return "sum_over_batch_size" if reduction == "mean" else reduction


def cosine_scores(text, visual, normalize: bool = True):
    """``(B_text, B_visual)`` similarity matrix; cosine when ``normalize``, dot product otherwise."""
    if normalize:
        text, visual = l2_normalize(text), l2_normalize(visual)
    return ops.matmul(text, ops.transpose(visual))


class RetrievalLoss(keras.losses.Loss):
    """``keras.losses.Loss`` whose reduction stays on the device.

    Why ``__call__`` is overridden: Keras 3.15's ``Loss.__call__`` reduces with the module function
    ``keras.src.losses.loss.reduce_weighted_values``, whose ``reduce_values`` divides the mean by
    ``ops.convert_to_tensor(ops.shape(values), dtype="int32")`` (``keras/src/losses/loss.py``, lines
    153-158 of Keras 3.15.1): a tensor made from a host tuple, on torch/CUDA a host-to-device copy
    that waits for the GPU, and one a CUDA graph cannot hold (``tests/test_step_profile.py`` counts
    such copies). ``Loss`` has no method to override for the reduction (it is a module function,
    not a hook), so the losses of w2vvx reduce with :func:`reduce_losses` instead (same values).
    Keras masks (``_keras_mask``) are not applied: retrieval losses take embeddings, which carry none.

    Subclasses implement ``call(y_true, y_pred)`` returning per-sample losses (or an already
    reduced scalar).
    """

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true, dtype=self.dtype)
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        return reduce_losses(self.call(y_true, y_pred), sample_weight, self.reduction, self.dtype)


class TemperatureLoss(RetrievalLoss):
    """Base of the softmax-contrastive losses, whose temperature may come from the model.

    ``loss(y_true, y_pred, temperature=t)`` uses ``t`` (e.g. the output of a
    :class:`w2vvx.layers.LearnableTemperature` the model owns and trains); without it the fixed
    ``temperature`` given at construction is used (Keras's ``Loss.__call__`` has no such argument:
    one more reason for the override). Subclasses implement ``call(y_true, y_pred, temperature=None)``
    returning per-sample losses.
    """

    uses_temperature = True

    def __init__(self, temperature: float = 0.07, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=check_reduction(reduction), dtype=dtype)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
            raise ConfigError(f"temperature must be a number > 0, got {temperature!r}")
        self.temperature = float(temperature)

    def __call__(self, y_true, y_pred, sample_weight=None, temperature=None):
        y_true = ops.convert_to_tensor(y_true, dtype=self.dtype)
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        if temperature is not None:  # the fixed one stays a Python number: no host-to-device copy
            temperature = ops.cast(temperature, self.dtype)
        losses = self.call(y_true, y_pred, temperature=temperature)
        return reduce_losses(losses, sample_weight, self.reduction, self.dtype)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


def reduce_losses(losses, sample_weight, reduction, dtype):
    """Weight and reduce per-sample losses like ``keras.losses.Loss`` does, without a host value.

    Example:
        >>> import numpy as np
        >>> float(reduce_losses(np.array([1.0, 2.0, 6.0]), None, "sum_over_batch_size", "float32"))
        3.0
    """
    if sample_weight is not None:
        losses = losses * ops.cast(sample_weight, dtype)
    if reduction is None:
        return losses
    return ops.sum(losses) if reduction == "sum" else ops.mean(losses)
