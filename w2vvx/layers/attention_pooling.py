"""Additive (tanh-scored) attention pooling over time, as the enhanced W2VV of COCO-CN."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.layers.device_math import filled_like

@keras.saving.register_keras_serializable(package="w2vvx")
class AttentionPooling(keras.layers.Layer):
    """Weighted sum of the time steps, weights = softmax over time of ``Dense(1, tanh)(h_t)``.

    Args:
        mask_padding: when True (default) padded steps get zero weight and the softmax runs over
            the real tokens only, so padding never changes the output; an all-padding row gives
            zeros. False reproduces coco-cn's original, which softmaxes over all steps.

    Call args:
        inputs: ``(B, T, H)`` hidden states.
        mask: optional ``(B, T)`` boolean mask (True = real step); Keras passes it automatically
            from a masking layer.

    Example:
        >>> import numpy as np
        >>> states = np.random.rand(2, 5, 4).astype("float32")
        >>> tuple(AttentionPooling()(states, mask=np.array([[1, 1, 0, 0, 0]] * 2, bool)).shape)
        (2, 4)
    """

    def __init__(self, mask_padding: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.mask_padding = bool(mask_padding)
        self.supports_masking = True
        self.scorer = keras.layers.Dense(1, activation="tanh", name="scorer")

    def build(self, input_shape):
        self.scorer.build(input_shape)
        self.built = True

    def call(self, inputs, mask=None):
        scores = ops.squeeze(self.scorer(inputs), axis=-1)
        if self.mask_padding and mask is not None:
            mask = ops.cast(mask, "bool")
            scores = ops.where(mask, scores, filled_like(scores, -1e9))
            weights = ops.softmax(scores, axis=-1) * ops.cast(mask, scores.dtype)
        else:
            weights = ops.softmax(scores, axis=-1)
        return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mask_padding": self.mask_padding}
