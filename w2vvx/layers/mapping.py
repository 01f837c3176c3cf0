"""Mappings from the sentence vector to the retrieval space: W2VV's MLP and W2VV++'s projection."""
from __future__ import annotations

import keras

from w2vvx.errors import ConfigError
from w2vvx.layers._validation import positive_int, probability
from w2vvx.layers.bow_dense import SENTENCE, BagOfWordsDense
from w2vvx.layers.normalize import L2Normalize


def _check_activation(name, value):
    try:
        keras.activations.get(value)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{name} must be a Keras activation name (e.g. 'relu', 'tanh') or None, "
                          f"got {value!r}") from error
    return value


def _first_dense(units, activation, bow_vocab_size, bow_offset, bow_dropout, name):
    """The first Dense of a head: over a plain vector, or over a sentence vector whose BoW block is ids."""
    if bow_vocab_size is None:
        return keras.layers.Dense(units, activation=activation, name=name)
    return BagOfWordsDense(units, bow_vocab_size=bow_vocab_size, bow_offset=bow_offset, activation=activation,
                           bow_dropout=bow_dropout, name=name)


def _dense_part(inputs, transform):
    """``transform`` applied to the dense columns of a head's input (the tensor, or the dict's ``"sentence"``)."""
    if not isinstance(inputs, dict):
        return transform(inputs)
    if inputs.get(SENTENCE) is None:
        return inputs
    return {**inputs, SENTENCE: transform(inputs[SENTENCE])}


def _bow_settings(bow_vocab_size, bow_offset):
    """``(bow_vocab_size, bow_offset)`` checked: ``None`` (a plain input vector) or a BoW block given as ids."""
    if bow_vocab_size is None:
        return None, 0
    return positive_int("bow_vocab_size", bow_vocab_size), bow_offset


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
        bow_vocab_size, bow_offset: when given, the input is a dict ``{"sentence", "bow_tokens"}``: the
            sentence vector's dense columns and the ids of its bag-of-words block of that width, which
            starts after ``bow_offset`` dense columns (see :class:`BagOfWordsDense`; the input dropout
            drops BoW counts per sentence and word).

    Example:
        >>> import numpy as np
        >>> tuple(TextToVisualMapping((8,), 4)(np.ones((2, 6), "float32")).shape)
        (2, 4)
    """

    def __init__(self, hidden_units=(2048,), output_dim: int = 2048, activation="relu",
                 output_activation="relu", dropout: float = 0.2, bow_vocab_size=None, bow_offset: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(positive_int("hidden_units entry", u) for u in hidden_units)
        self.output_dim = positive_int("output_dim", output_dim)
        self.activation = _check_activation("activation", activation)
        self.output_activation = _check_activation("output_activation", output_activation)
        self.dropout = probability("dropout", dropout)
        self.bow_vocab_size, self.bow_offset = _bow_settings(bow_vocab_size, bow_offset)
        self.input_dropout = keras.layers.Dropout(self.dropout, name="input_dropout")
        widths = self.hidden_units + (self.output_dim,)
        activations = (activation,) * len(self.hidden_units) + (output_activation,)
        names = tuple(f"hidden_{i}" for i in range(len(self.hidden_units))) + ("output",)
        first = _first_dense(widths[0], activations[0], self.bow_vocab_size, self.bow_offset, self.dropout, names[0])
        rest = [keras.layers.Dense(u, activation=a, name=n) for u, a, n in zip(widths[1:], activations[1:], names[1:])]
        dense_layers = [first] + rest
        self.hidden = dense_layers[:-1]
        self.hidden_dropouts = [keras.layers.Dropout(self.dropout, name=f"hidden_dropout_{i}")
                                for i in range(len(self.hidden_units))]
        self.output_layer = dense_layers[-1]

    def build(self, input_shape):
        shape = input_shape
        for layer in self.hidden + [self.output_layer]:
            layer.build(shape)
            shape = (_batch_dim(shape), layer.units)
        self.built = True

    def call(self, inputs, training=None):
        x = _dense_part(inputs, lambda columns: self.input_dropout(columns, training=training))
        for layer, dropout in zip(self.hidden, self.hidden_dropouts):
            x = dropout(layer(x, training=training), training=training)
        return self.output_layer(x, training=training)

    def compute_output_shape(self, input_shape):
        return (_batch_dim(input_shape), self.output_dim)

    def get_config(self):
        return {**super().get_config(), "hidden_units": list(self.hidden_units),
                "output_dim": self.output_dim, "activation": self.activation,
                "output_activation": self.output_activation, "dropout": self.dropout,
                **_bow_config(self)}


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
        bow_vocab_size, bow_offset: when given, the input is a dict ``{"sentence", "bow_tokens"}`` whose
            BoW block comes as ids (see :class:`TextToVisualMapping`).

    Example:
        >>> import numpy as np
        >>> out = CommonSpaceProjection(4)(np.ones((2, 6), "float32"))
        >>> np.allclose(np.linalg.norm(keras.ops.convert_to_numpy(out), axis=1), 1.0)
        True
    """

    def __init__(self, units: int, activation="tanh", dropout: float = 0.2, batch_norm: bool = False,
                 normalize: bool = True, bow_vocab_size=None, bow_offset: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int("units", units)
        self.bow_vocab_size, self.bow_offset = _bow_settings(bow_vocab_size, bow_offset)
        self.activation = _check_activation("activation", activation)
        self.dropout = probability("dropout", dropout)
        self.batch_norm = bool(batch_norm)
        self.normalize = bool(normalize)
        self.linear = _first_dense(self.units, None, self.bow_vocab_size, self.bow_offset, 0.0, "linear")
        self.norm = keras.layers.BatchNormalization(name="batch_norm") if self.batch_norm else None
        self.activation_fn = keras.activations.get(activation)
        self.output_dropout = keras.layers.Dropout(self.dropout, name="dropout")
        self.l2 = L2Normalize(name="l2_normalize") if self.normalize else None

    def build(self, input_shape):
        self.linear.build(input_shape)
        if self.norm is not None:
            self.norm.build((_batch_dim(input_shape), self.units))
        self.built = True

    def call(self, inputs, training=None):
        x = self.linear(inputs, training=training)
        if self.norm is not None:
            x = self.norm(x, training=training)
        x = self.output_dropout(self.activation_fn(x), training=training)
        return self.l2(x) if self.l2 is not None else x

    def compute_output_shape(self, input_shape):
        return (_batch_dim(input_shape), self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "dropout": self.dropout, "batch_norm": self.batch_norm, "normalize": self.normalize,
                **_bow_config(self)}


def _batch_dim(shape):
    """The batch size of a head input's shape (a shape, or a dict of them)."""
    return tuple(next(iter(shape.values())) if isinstance(shape, dict) else shape)[0]


def _bow_config(layer):
    if layer.bow_vocab_size is None:
        return {}
    return {"bow_vocab_size": layer.bow_vocab_size, "bow_offset": layer.bow_offset}
