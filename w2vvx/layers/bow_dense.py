"""A Dense layer over the multi-scale sentence vector whose bag-of-words block comes as token ids."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers._validation import positive_int, probability
from w2vvx.layers.masking import first_occurrence, padding_mask

#: the keys of the layer's input dict
SENTENCE, BOW_TOKENS = "sentence", "bow_tokens"


@keras.saving.register_keras_serializable(package="w2vvx")
class BagOfWordsDense(keras.layers.Layer):
    """``Dense`` over ``[leading ‖ BoW counts ‖ trailing]`` with the BoW counts given as their token ids.

    W2VV's sentence vector has a bag-of-words block of one column per vocabulary word (10,000 of
    the lineage's 11,524 columns), nearly all zero. Its product with the kernel is, per sentence, the
    sum of the kernel rows of its words, each counted as often as it occurs. This layer sums those
    rows (a gather), so the product and its kernel gradient cost the batch's words rather than
    ``B × V × units`` multiply-adds. The dense columns go through an ordinary product.

    The weights are a Dense layer's over the whole vector: the kernel has one row per column in the
    vector's order (``bow_offset`` leading rows, ``bow_vocab_size`` BoW rows, then the trailing rows),
    kept as three variables so that each gets its own gradient, and saved as one ``kernel`` and a
    ``bias``, as ``keras.layers.Dense`` saves them.

    Inputs: a dict with ``"sentence"``, the ``(B, D)`` dense columns (the leading ``bow_offset`` ones,
    then the trailing ones; absent when there are none), and ``"bow_tokens"``, ``(B, L)`` BoW ids
    (0 = padding, not counted).

    Args:
        units: width of the output.
        bow_vocab_size: V, the BoW block's width (its vocabulary's rows, padding included).
        bow_offset: how many dense columns come before the BoW block in the sentence vector.
        activation: activation of the output (None = linear).
        bow_dropout: dropout on the BoW counts during training: each (sentence, word) count is kept,
            scaled by ``1 / (1 - rate)``, or dropped as one, as ``Dropout`` on the count vector does.
            Dropout on the dense columns is the caller's (they are ordinary inputs).
        use_bias: add a bias.
        kernel_initializer, bias_initializer: as ``keras.layers.Dense``'s; the kernel is drawn
            for the whole vector at once, so its scale is a Dense layer's over all the columns.

    Example:
        >>> layer = BagOfWordsDense(3, bow_vocab_size=5, bow_offset=2)
        >>> out = layer({"sentence": np.ones((1, 4), "float32"), "bow_tokens": np.array([[4, 4, 1, 0]])})
        >>> counts = np.array([[0, 1, 0, 0, 2]], "float32")
        >>> dense = np.concatenate([np.ones((1, 2)), counts, np.ones((1, 2))], axis=1) @ layer.kernel_matrix()
        >>> bool(np.allclose(keras.ops.convert_to_numpy(out), dense, atol=1e-5))
        True
    """

    def __init__(self, units: int, bow_vocab_size: int, bow_offset: int = 0, activation=None,
                 bow_dropout: float = 0.0, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int("units", units)
        self.bow_vocab_size = positive_int("bow_vocab_size", bow_vocab_size)
        if isinstance(bow_offset, bool) or not isinstance(bow_offset, (int, np.integer)) or bow_offset < 0:
            raise ConfigError(f"bow_offset must be an integer >= 0 (the dense columns before the BoW block), "
                              f"got {bow_offset!r}")
        self.bow_offset = int(bow_offset)
        self.activation = keras.activations.get(activation)
        self.bow_dropout = probability("bow_dropout", bow_dropout)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed_generator = keras.random.SeedGenerator() if self.bow_dropout else None
        self.dense_dim = None
        self.leading_kernel = self.bow_kernel = self.trailing_kernel = self.bias = None

    def build(self, input_shape):
        if not isinstance(input_shape, dict) or BOW_TOKENS not in input_shape:
            raise ConfigError(f"{self.name} expects a dict with {BOW_TOKENS!r} (and {SENTENCE!r} when the sentence "
                              f"vector has dense columns), got {input_shape!r}")
        dense_dim = int(input_shape[SENTENCE][-1]) if input_shape.get(SENTENCE) is not None else 0
        if dense_dim < self.bow_offset:
            raise ConfigError(f"{self.name}: bow_offset={self.bow_offset} dense columns come before the BoW block, but "
                              f"'sentence' has only {dense_dim} columns")
        self.dense_dim = dense_dim
        full = self.kernel_initializer((dense_dim + self.bow_vocab_size, self.units), dtype=self.variable_dtype)
        rows = np.cumsum([0, self.bow_offset, self.bow_vocab_size, dense_dim - self.bow_offset])
        parts = {name: full[start:stop] for name, start, stop in
                 zip(("leading_kernel", "bow_kernel", "trailing_kernel"), rows[:-1], rows[1:])}
        for name, part in parts.items():
            if part.shape[0]:
                setattr(self, name, self.add_weight(name=name, shape=tuple(part.shape),
                                                    initializer=lambda shape, dtype=None, value=part: value))
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer)
        self.built = True

    def kernel_matrix(self):
        """The ``(D + V, units)`` kernel of the whole sentence vector (NumPy), as a Dense layer has it."""
        return np.concatenate([keras.ops.convert_to_numpy(v) for v in self._kernels()], axis=0)

    def _kernels(self):
        return [v for v in (self.leading_kernel, self.bow_kernel, self.trailing_kernel) if v is not None]

    def call(self, inputs, training=None):
        token_ids = ops.cast(inputs[BOW_TOKENS], "int32")
        weights = ops.cast(padding_mask(token_ids), self.compute_dtype)
        if training and self.bow_dropout:
            weights = weights * self._kept_words(token_ids)
        rows = ops.take(self.bow_kernel, token_ids, axis=0)  # (B, L, units)
        outputs = ops.einsum("bl,blu->bu", weights, rows)
        sentence = inputs.get(SENTENCE)
        if self.leading_kernel is not None:
            outputs = outputs + ops.matmul(sentence[:, :self.bow_offset], self.leading_kernel)
        if self.trailing_kernel is not None:
            outputs = outputs + ops.matmul(sentence[:, self.bow_offset:], self.trailing_kernel)
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def _kept_words(self, token_ids):
        """``(B, L)``: ``1 / (1 - rate)`` or 0 per token, one draw per (sentence, word)."""
        # Keras's dropout draws as its Dropout layer does (torch: its own generator, no host value per step)
        draws = keras.random.dropout(ops.ones_like(token_ids, dtype=self.compute_dtype), self.bow_dropout,
                                     seed=self.seed_generator)
        kept_first = ops.logical_and(first_occurrence(token_ids), draws > 0)
        same = ops.equal(ops.expand_dims(token_ids, 2), ops.expand_dims(token_ids, 1))
        kept = ops.any(ops.logical_and(same, ops.expand_dims(kept_first, 1)), axis=-1)
        return ops.cast(kept, self.compute_dtype) * (1.0 / (1.0 - self.bow_dropout))

    def compute_output_shape(self, input_shape):
        return (tuple(input_shape[BOW_TOKENS])[0], self.units)

    def save_own_variables(self, store):
        store["0"] = self.kernel_matrix()
        if self.bias is not None:
            store["1"] = keras.ops.convert_to_numpy(self.bias)

    def load_own_variables(self, store):
        if "0" not in store:
            raise ConfigError(f"{self.name}: the file holds no kernel for this layer. Files written by w2vvx 0.2 or "
                              "earlier kept the first layer of a text MLP (base_w2vv, w2vv_attention, "
                              "w2vv_attention_ctl) as a Dense layer, which this version does not read: train the "
                              "model again, or load it with w2vvx 0.2")
        kernel = np.asarray(store["0"])
        expected = (self.dense_dim + self.bow_vocab_size, self.units)
        if kernel.shape != expected:
            raise ConfigError(f"{self.name}: the saved kernel has shape {kernel.shape}, this layer's is {expected} "
                              f"({self.dense_dim} dense columns and a BoW block of {self.bow_vocab_size}); load "
                              "weights saved from a model of the same sizes")
        start = 0
        for variable in self._kernels():
            stop = start + int(variable.shape[0])
            variable.assign(kernel[start:stop])
            start = stop
        if self.bias is not None:
            self.bias.assign(np.asarray(store["1"]))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "bow_vocab_size": self.bow_vocab_size,
                "bow_offset": self.bow_offset, "activation": keras.activations.serialize(self.activation),
                "bow_dropout": self.bow_dropout, "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}
