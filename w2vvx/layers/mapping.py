"""Mappings from the sentence vector to the retrieval space: W2VV's MLP and W2VV++'s projection."""
from __future__ import annotations

import keras

from w2vvx.errors import ConfigError
from w2vvx.layers._validation import positive_int, probability
from w2vvx.layers.normalize import L2Normalize


def _check_activation(name, value):
    try:
        keras.activations.get(value)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{name} must be a Keras activation name (e.g. 'relu', 'tanh') or None, "
                          f"got {value!r}") from error
    return value


@keras.saving.register_keras_serializable(package="w2vvx")
class TextToVisualMapping(keras.layers.Layer):
    """W2VV's MLP that regresses the visual feature from the sentence vector.

    ``hidden_units`` Dense layers (each followed by ``activation`` and dropout), then a Dense layer
    of ``output_dim`` units with ``output_activation``. The lineage's "0-2048-2048" with ReLU is
    ``hidden_units=(2048,), output_dim=2048, activation="relu", output_activation="relu"``.

    Args:
        hidden_units: widths of the hidden layers (may be empty).
        output_dim: width of the output (the visual feature dimension).
        activation: activation of the hidden layers.
        output_activation: activation of the output layer (None = linear).
        dropout: dropout rate applied to the input and after each hidden layer.

    Example:
        >>> import numpy as np
        >>> tuple(TextToVisualMapping((8,), 4)(np.ones((2, 6), "float32")).shape)
        (2, 4)
    """

    def __init__(self, hidden_units=(2048,), output_dim: int = 2048, activation="relu",
                 output_activation="relu", dropout: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(positive_int("hidden_units entry", u) for u in hidden_units)
        self.output_dim = positive_int("output_dim", output_dim)
        self.activation = _check_activation("activation", activation)
        self.output_activation = _check_activation("output_activation", output_activation)
        self.dropout = probability("dropout", dropout)
        self.input_dropout = keras.layers.Dropout(self.dropout, name="input_dropout")
        self.hidden = [keras.layers.Dense(u, activation=activation, name=f"hidden_{i}")
                       for i, u in enumerate(self.hidden_units)]
        self.hidden_dropouts = [keras.layers.Dropout(self.dropout, name=f"hidden_dropout_{i}")
                                for i in range(len(self.hidden_units))]
        self.output_layer = keras.layers.Dense(self.output_dim, activation=output_activation, name="output")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.hidden:
            layer.build(shape)
            shape = shape[:-1] + (layer.units,)
        self.output_layer.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = self.input_dropout(inputs, training=training)
        for layer, dropout in zip(self.hidden, self.hidden_dropouts):
            x = dropout(layer(x), training=training)
        return self.output_layer(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "hidden_units": list(self.hidden_units),
                "output_dim": self.output_dim, "activation": self.activation,
                "output_activation": self.output_activation, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="w2vvx")
class CommonSpaceProjection(keras.layers.Layer):
    """Project into a common space: Dense → (BatchNorm) → activation → dropout → L2-normalise.

    W2VV++ uses ``activation="tanh", batch_norm=False``; NRCCR uses ``activation=None,
    batch_norm=True``.

    Args:
        units: common-space dimension.
        activation: activation after the linear map (and batch norm), or None.
        dropout: dropout rate after the activation.
        batch_norm: insert BatchNormalization after the linear map.
        normalize: L2-normalise the output.

    Example:
        >>> import numpy as np
        >>> out = CommonSpaceProjection(4)(np.ones((2, 6), "float32"))
        >>> np.allclose(np.linalg.norm(keras.ops.convert_to_numpy(out), axis=1), 1.0)
        True
    """

    def __init__(self, units: int, activation="tanh", dropout: float = 0.2, batch_norm: bool = False,
                 normalize: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int("units", units)
        self.activation = _check_activation("activation", activation)
        self.dropout = probability("dropout", dropout)
        self.batch_norm = bool(batch_norm)
        self.normalize = bool(normalize)
        self.linear = keras.layers.Dense(self.units, name="linear")
        self.norm = keras.layers.BatchNormalization(name="batch_norm") if self.batch_norm else None
        self.activation_fn = keras.activations.get(activation)
        self.output_dropout = keras.layers.Dropout(self.dropout, name="dropout")
        self.l2 = L2Normalize(name="l2_normalize") if self.normalize else None

    def build(self, input_shape):
        self.linear.build(tuple(input_shape))
        if self.norm is not None:
            self.norm.build(tuple(input_shape[:-1]) + (self.units,))
        self.built = True

    def call(self, inputs, training=None):
        x = self.linear(inputs)
        if self.norm is not None:
            x = self.norm(x, training=training)
        x = self.output_dropout(self.activation_fn(x), training=training)
        return self.l2(x) if self.l2 is not None else x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "dropout": self.dropout, "batch_norm": self.batch_norm, "normalize": self.normalize}
