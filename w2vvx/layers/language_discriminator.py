"""NRCCR's language discriminator (source-language real vs machine-translated fake): :class:`LanguageDiscriminator`.

HuiGuanLab/nrccr ``adv.py`` (``MLP``, the ``not-so-weak`` discriminator of its ``do_all_*.sh``;
``Adversarial`` with ``train_level='sent'``, ``train_type='GAN'``, two output logits): the token
features are averaged over time, then ``Linear(256) → tanh → Linear(128) → tanh → Linear(2)``.
Differences, on purpose: the average skips padded tokens (NRCCR averages the padding too).
"""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers.masking import masked_mean


@keras.saving.register_keras_serializable(package="w2vvx")
class LanguageDiscriminator(keras.layers.Layer):
    """An MLP that tells source-language token features from machine-translated ones.

    Args:
        hidden_units: sizes of the tanh layers (NRCCR: 256, 128).
        classes: output logits (NRCCR: 2, each trained with binary cross-entropy towards the label).

    Call args:
        token_states: ``(B, L, H)`` token features.
        mask: optional ``(B, L)`` mask of real tokens.
        frozen: compute with the weights under ``ops.stop_gradient``: gradients reach the features
            but never the discriminator (the generator term of the adversarial game).

    Returns:
        ``(B, classes)`` logits.

    Example:
        >>> import numpy as np
        >>> layer = LanguageDiscriminator(hidden_units=(8, 4))
        >>> tuple(layer(np.ones((2, 5, 6), "float32"), np.ones((2, 5), "float32")).shape)
        (2, 2)
    """

    def __init__(self, hidden_units=(256, 128), classes: int = 2, **kwargs):
        super().__init__(**kwargs)
        hidden_units = tuple(hidden_units)
        if not all(isinstance(units, int) and not isinstance(units, bool) and units > 0 for units in hidden_units):
            raise ConfigError(f"hidden_units must be positive integers, got {hidden_units!r}")
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
            raise ConfigError(f"classes must be a positive integer, got {classes!r}")
        self.hidden_units = hidden_units
        self.classes = classes
        self.kernels, self.biases = [], []

    def build(self, token_states_shape, mask_shape=None):
        width = token_states_shape[-1]
        for index, units in enumerate(self.hidden_units + (self.classes,)):
            bound = 1.0 / float(width) ** 0.5  # PyTorch's nn.Linear initialisation
            init = keras.initializers.RandomUniform(-bound, bound)
            self.kernels.append(self.add_weight(shape=(width, units), initializer=init, name=f"kernel_{index}"))
            self.biases.append(self.add_weight(shape=(units,), initializer=init, name=f"bias_{index}"))
            width = units
        self.built = True

    def call(self, token_states, mask=None, frozen=False):
        x = masked_mean(ops.convert_to_tensor(token_states, dtype=self.compute_dtype), mask)
        last = len(self.kernels) - 1
        for index, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            kernel, bias = ops.convert_to_tensor(kernel), ops.convert_to_tensor(bias)
            if frozen:
                kernel, bias = ops.stop_gradient(kernel), ops.stop_gradient(bias)
            x = ops.matmul(x, kernel) + bias
            if index < last:
                x = ops.tanh(x)
        return x

    def compute_output_shape(self, token_states_shape, mask_shape=None):
        return (token_states_shape[0], self.classes)

    def get_config(self):
        return {**super().get_config(), "hidden_units": list(self.hidden_units), "classes": self.classes}
