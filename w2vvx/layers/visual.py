"""Visual side of the model: pool frame features, then identity (W2VV) or a common-space projection."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.layers._validation import positive_int
from w2vvx.layers.mapping import CommonSpaceProjection
from w2vvx.layers.masking import masked_mean
from w2vvx.layers.device_math import nonzero


@keras.saving.register_keras_serializable(package="w2vvx")
class VisualEncoder(keras.layers.Layer):
    """Encode visual features: ``(B, D)`` vectors or ``(B, T, D)`` frame features.

    Frame features are mean-pooled over the real frames. The frame mask is the ``mask`` argument
    when given (True = real frame); otherwise a frame is padding when all its values are zero
    (how :mod:`w2vvx.io.frames` pads videos with fewer frames).
    With ``common_space_dim=None`` the pooled feature is returned unchanged (W2VV maps text into
    the visual space); otherwise it goes through :class:`CommonSpaceProjection` (W2VV++).

    Args:
        common_space_dim: common-space dimension, or None for the identity.
        activation, dropout, batch_norm, normalize: the :class:`CommonSpaceProjection` settings.

    Example:
        >>> import numpy as np
        >>> tuple(VisualEncoder(4)(np.ones((2, 3, 6), "float32")).shape)
        (2, 4)
    """

    def __init__(self, common_space_dim=None, activation="tanh", dropout: float = 0.2,
                 batch_norm: bool = False, normalize: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.common_space_dim = (None if common_space_dim is None
                                 else positive_int("common_space_dim", common_space_dim))
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = bool(batch_norm)
        self.normalize = bool(normalize)
        self.projection = None
        if self.common_space_dim is not None:
            self.projection = CommonSpaceProjection(self.common_space_dim, activation=activation,
                                                    dropout=dropout, batch_norm=batch_norm,
                                                    normalize=normalize, name="projection")

    def build(self, input_shape):
        if self.projection is not None:
            self.projection.build((input_shape[0], input_shape[-1]))
        self.built = True

    def call(self, features, mask=None, training=None):
        if len(features.shape) == 3:
            if mask is None:
                mask = ops.any(nonzero(features), axis=-1)
            features = masked_mean(features, mask)
        if self.projection is None:
            return features
        return self.projection(features, training=training)

    def compute_mask(self, features, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        dim = input_shape[-1] if self.common_space_dim is None else self.common_space_dim
        return (input_shape[0], dim)

    def get_config(self):
        return {**super().get_config(), "common_space_dim": self.common_space_dim,
                "activation": self.activation, "dropout": self.dropout,
                "batch_norm": self.batch_norm, "normalize": self.normalize}
