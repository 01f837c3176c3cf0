"""A trainable softmax temperature, kept as a layer so the model trains and saves it."""
from __future__ import annotations

import math

import keras
from keras import ops

from w2vvx.layers.device_math import clipped

from w2vvx.errors import ConfigError
from w2vvx.layers._validation import positive_float


@keras.saving.register_keras_serializable(package="w2vvx")
class LearnableTemperature(keras.layers.Layer):
    """Hold a temperature τ as a weight; calling the layer returns τ clamped to [min, max].

    The weight is ``log τ`` (so gradient steps are relative); the clamp follows CCRK
    (init 0.07, [0.001, 0.5]). Contrastive losses take the returned scalar as their
    ``temperature`` argument, so the model (which owns this layer) trains and saves it.

    Args:
        initial: starting temperature.
        min_value, max_value: clamp bounds.
        learnable: False keeps τ fixed (the weight is non-trainable).

    Example:
        >>> tau = LearnableTemperature(0.07)
        >>> round(float(keras.ops.convert_to_numpy(tau())), 4)
        0.07
    """

    def __init__(self, initial: float = 0.07, min_value: float = 0.001, max_value: float = 0.5,
                 learnable: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.initial = positive_float("initial temperature", initial)
        self.min_value = positive_float("min_value", min_value)
        self.max_value = positive_float("max_value", max_value)
        if not self.min_value <= self.initial <= self.max_value:
            raise ConfigError(f"temperature must satisfy min_value <= initial <= max_value, got "
                              f"{self.min_value} <= {self.initial} <= {self.max_value}")
        self.learnable = bool(learnable)
        self.log_temperature = self.add_weight(
            name="log_temperature", shape=(), trainable=self.learnable,
            initializer=keras.initializers.Constant(math.log(self.initial)))
        self.built = True

    def call(self, inputs=None):
        return clipped(ops.exp(self.log_temperature), self.min_value, self.max_value)

    def get_config(self):
        return {**super().get_config(), "initial": self.initial, "min_value": self.min_value,
                "max_value": self.max_value, "learnable": self.learnable}
