"""NRCCR's image encoder for pre-extracted features: ReLU(Linear D -> D)."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.layers._validation import positive_int


@keras.saving.register_keras_serializable(package="w2vvx")
class ReLUImageProjection(keras.layers.Layer):
    """``ReLU(Linear(x))`` on ``(B, D)`` image features, NRCCR's ``image_encoding`` (``model.py`` 121-129).

    NRCCR applies it to the frozen ResNet-152 features (2048 -> 2048) before its common-space mapping
    (Linear → BatchNorm → dropout → L2 norm); with CLIP features NRCCR fine-tunes CLIP instead, which w2vvx
    does not.

    Args:
        units: the output size (NRCCR: the input size, ``nn.Linear(visual_feat_dim, visual_feat_dim)``);
            ``None`` = the input size.

    Example:
        >>> import numpy as np
        >>> layer = ReLUImageProjection()
        >>> out = keras.ops.convert_to_numpy(layer(np.ones((2, 5), "float32")))
        >>> out.shape, bool((out >= 0).all())
        ((2, 5), True)
    """

    def __init__(self, units=None, **kwargs):
        super().__init__(**kwargs)
        self.units = None if units is None else positive_int("units", units)
        self.dense = None

    def build(self, input_shape):
        self.dense = keras.layers.Dense(self.units or int(input_shape[-1]), name="dense")
        self.dense.build(input_shape)
        self.built = True

    def call(self, features):
        return ops.relu(self.dense(features))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units or input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "units": self.units}
