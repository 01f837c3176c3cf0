"""L2 normalisation along the last axis."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.layers.device_math import at_least

def l2_normalize(x, epsilon: float = 1e-12):
    """Divide ``x`` by its L2 norm along the last axis; all-zero rows stay zero (no NaN)."""
    square_sum = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(at_least(square_sum, epsilon))


@keras.saving.register_keras_serializable(package="w2vvx")
class L2Normalize(keras.layers.Layer):
    """Scale each vector (last axis) to unit L2 norm.

    Args:
        epsilon: lower bound on the squared norm, so zero vectors map to zero.

    Example:
        >>> import numpy as np
        >>> out = keras.ops.convert_to_numpy(L2Normalize()(np.array([[3.0, 4.0]])))
        >>> [round(float(v), 2) for v in out[0]]
        [0.6, 0.8]
    """

    def __init__(self, epsilon: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.supports_masking = True

    def call(self, inputs):
        return l2_normalize(inputs, self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
