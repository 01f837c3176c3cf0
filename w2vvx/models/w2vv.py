"""The W2VV-family retrieval model: a text encoder and a visual encoder trained with one loss."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from w2vvx.errors import ConfigError

TEXT_INPUTS = ("tokens", "bow_tokens")


@keras.saving.register_keras_serializable(package="w2vvx")
class W2VVModel(keras.Model):
    """Two-tower model whose training loss compares the text and visual embeddings of a batch.

    Build it with :func:`w2vvx.models.build_model`; this constructor wires ready-made parts.

    Inputs (``call`` and ``fit``): a dict with ``"tokens"`` and ``"bow_tokens"`` (``(B, L)`` int32,
    post-padded, 0 = padding), ``"visual"`` (``(B, D)`` float32, or ``(B, T, D)`` frames), and for
    the pairwise contrastive loss optionally ``"negative_visual"`` (one negative per sentence, drawn
    outside the batch by the data pipeline). For the 1-to-K loss the token inputs are
    ``(B, K, L)``: the K captions of each item; they are encoded language-major (row ``k·B + i``).
    ``fit`` takes these dicts as ``x`` and no ``y``.

    Outputs of ``call``: ``{"text": ..., "visual": ...}`` (plus ``"negative_visual"`` when given).

    Args:
        text_encoder: functional model ``{"tokens", "bow_tokens"} → (B, E)``.
        visual_encoder: functional model ``(B, D) | (B, T, D) → (B, E)``.
        loss_fn: a loss from :mod:`w2vvx.losses` (``call(visual, text)``).
        temperature: optional :class:`w2vvx.layers.LearnableTemperature` passed to the loss.
        build_settings: the arguments ``build_model`` was given (config dict, vocabulary sizes,
            visual dim, frames); ``get_config`` stores them so ``from_config`` rebuilds the model.

    Example:
        >>> from w2vvx.models import build_model, get_config
        >>> config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> model = build_model(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12)
        >>> model.encode_visual(np.zeros((3, 12), "float32")).shape
        (3, 16)
    """

    def __init__(self, text_encoder, visual_encoder, loss_fn, temperature=None, build_settings=None, **kwargs):
        super().__init__(**kwargs)
        self.text_encoder = text_encoder
        self.visual_encoder = visual_encoder
        self.loss_fn = loss_fn
        self.temperature = temperature
        self.build_settings = dict(build_settings or {})
        self.built = True

    def build(self, input_shape=None):
        self.built = True

    @staticmethod
    def _text_inputs(inputs):
        missing = [key for key in TEXT_INPUTS if key not in inputs]
        if missing:
            raise ConfigError(f"model inputs lack {missing}; expected a dict with keys "
                              f"{list(TEXT_INPUTS)} and 'visual' (got {sorted(inputs)})")
        text = {key: inputs[key] for key in TEXT_INPUTS}
        if len(text["tokens"].shape) == 3:  # (B, K, L) → (K·B, L), language-major
            text = {key: ops.reshape(ops.transpose(value, (1, 0, 2)), (-1, ops.shape(value)[-1]))
                    for key, value in text.items()}
        return text

    @property
    def visual_input_shape(self) -> tuple:
        """``(D,)`` or ``(T, D)`` (``T`` None): the per-item shape the visual encoder takes."""
        return tuple(self.visual_encoder.inputs[0].shape[1:])

    def _check_visual(self, shape, name: str = "visual") -> None:
        """Raise a ConfigError when features of ``shape`` (batch first) do not fit the visual encoder."""
        expected = self.visual_input_shape
        dim = shape[-1] if len(shape) else None
        frames = "(N, T, D) frame" if len(expected) == 2 else "(N, D)"
        if len(shape) != len(expected) + 1:
            if len(expected) == 2:
                hint = "pass a (T, D) frame sequence per item"
            elif len(shape) == 3:
                hint = "pass one feature row per item (frame-level features need a model built with frames=True)"
            else:
                hint = "pass one feature row per item"
            raise ConfigError(f"{name} features have shape {tuple(shape)}, but this model takes {frames} features "
                              f"with D = {expected[-1]}; {hint}")
        if isinstance(dim, (int, np.integer)) and expected[-1] is not None and int(dim) != int(expected[-1]):
            raise ConfigError(f"{name} features have {int(dim)} dimensions, but this model was trained on "
                              f"{int(expected[-1])}-dimensional features; use the features of the extractor the "
                              "model was trained with (CLI: --feature <the run's feature folder>) or train a "
                              f"model on these {int(dim)}-dimensional features")

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict):
            raise ConfigError(f"W2VVModel expects a dict of inputs (tokens, bow_tokens, visual), "
                              f"got {type(inputs).__name__}")
        outputs = {"text": self.text_encoder(self._text_inputs(inputs), training=training)}
        for key in ("visual", "negative_visual"):
            if key in inputs:
                self._check_visual(tuple(inputs[key].shape), key)
                outputs[key] = self.visual_encoder(inputs[key], training=training)
        return outputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Apply the configured loss to (visual, text) embeddings; ``y`` is not used."""
        if y_pred is None:
            y_pred = self(x, training=training)
        if "visual" not in y_pred:
            raise ConfigError("training/evaluation inputs need the key 'visual' (visual features of the batch)")
        visual = y_pred["visual"]
        if "negative_visual" in y_pred:
            visual = ops.concatenate([visual, y_pred["negative_visual"]], axis=0)
        if self.temperature is not None:
            loss = self.loss_fn(visual, y_pred["text"], sample_weight, temperature=self.temperature())
        else:
            loss = self.loss_fn(visual, y_pred["text"], sample_weight)
        for extra in self.losses:
            loss = loss + ops.cast(extra, loss.dtype)
        return loss

    def encode_text(self, inputs, batch_size: int = 256) -> np.ndarray:
        """Text embeddings (numpy, float32) of ``{"tokens", "bow_tokens"}`` ``(N, L)`` arrays."""
        if not hasattr(inputs, "keys") or any(key not in inputs for key in TEXT_INPUTS):
            raise ConfigError(f"encode_text expects a dict with {list(TEXT_INPUTS)} (featurized captions, e.g. "
                              "run.featurizer.featurize_captions(captions)), got "
                              f"{sorted(inputs) if hasattr(inputs, 'keys') else type(inputs).__name__}")
        text = {key: np.asarray(inputs[key], dtype="int32") for key in TEXT_INPUTS}
        for key, value in text.items():
            if value.ndim != 2:
                raise ConfigError(f"encode_text: {key!r} has shape {value.shape}; expected (N, L) token ids, "
                                  "one padded row per caption")
        return np.asarray(self.text_encoder.predict(text, batch_size=batch_size, verbose=0), dtype="float32")

    def encode_visual(self, features, batch_size: int = 256) -> np.ndarray:
        """Visual embeddings (numpy, float32) of ``(N, D)`` (or ``(N, T, D)``) features.

        Raises:
            ConfigError: the features' shape or dimension D differs from the model's visual input.
        """
        features = np.asarray(features, dtype="float32")
        self._check_visual(features.shape)
        return np.asarray(self.visual_encoder.predict(features, batch_size=batch_size, verbose=0), dtype="float32")

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self.build_settings}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from w2vvx.models.builder import build_model
        from w2vvx.models.configs import ModelConfig

        config = dict(config)
        name = config.pop("name", None)
        config.pop("trainable", None)
        return build_model(ModelConfig.from_dict(config.pop("model_config")), compile=False, name=name, **config)
