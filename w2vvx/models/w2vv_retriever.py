"""The W2VV retrieval task: backbone + preprocessor + loss, serialisable by parts: :class:`W2VVRetriever`."""
from __future__ import annotations

from pathlib import Path

import keras

from w2vvx.errors import ConfigError
from w2vvx.models.w2vv import W2VVModel, build_loss
from w2vvx.models.w2vv_backbone import W2VVBackbone
from w2vvx.models.w2vv_preprocessor import W2VVPreprocessor


@keras.saving.register_keras_serializable(package="w2vvx")
class W2VVRetriever(W2VVModel):
    """A trainable, saveable cross-lingual text-to-item retriever, in the style of keras-hub tasks.

    ``fit`` on token inputs (see :class:`W2VVModel`), then ``encode_text(sentences, language=...)``,
    ``encode_items(features)`` and ``search(sentences, items, k)`` on raw sentences: all rank by cosine
    by default. ``get_config`` serialises the parts (backbone, preprocessor, loss, temperature), so
    ``keras.saving.load_model(path)`` in a new process (after ``import w2vvx``), on any backend, gives
    back a model that encodes raw sentences; the vocabularies travel inside the ``.keras`` file.

    Args:
        backbone: the :class:`W2VVBackbone` (the two towers).
        preprocessor: a :class:`W2VVPreprocessor` (``None``: ``encode_text`` then needs token inputs).
        loss_fn: the training loss; default: the one of ``backbone.model_config``.
        temperature: a learnable temperature layer; default: one when the config asks for it.

    Example:
        >>> from w2vvx.models import get_config
        >>> import numpy as np
        >>> from w2vvx.text import Vocabulary
        >>> vocab = Vocabulary(["dog", "runs", "cat", "sleeps", "hund"])
        >>> config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> retriever = W2VVRetriever(
        ...     W2VVBackbone(config, gru_vocab_size=len(vocab), bow_vocab_size=len(vocab), visual_dim=12),
        ...     W2VVPreprocessor(vocab, vocab, languages=["en", "de"]))
        >>> retriever.encode_text(["a dog runs", "ein hund"], language="en").shape
        (2, 16)
        >>> ids, scores = retriever.search(["ein hund"], items=np.eye(12, dtype="float32")[:3],
        ...                                item_ids=["a", "b", "c"], k=2, language="de")
        >>> ids.shape, bool(scores[0, 0] >= scores[0, 1])
        ((1, 2), True)
    """

    def __init__(self, backbone: W2VVBackbone, preprocessor=None, loss_fn=None, temperature=None, **kwargs):
        if not isinstance(backbone, W2VVBackbone):
            raise ConfigError(f"backbone must be a W2VVBackbone, got {type(backbone).__name__}")
        if preprocessor is not None and not isinstance(preprocessor, W2VVPreprocessor):
            raise ConfigError(f"preprocessor must be a W2VVPreprocessor or None, got {type(preprocessor).__name__}")
        default_loss, default_temperature = build_loss(backbone.model_config)
        kwargs.setdefault("name", backbone.model_config.name)
        settings = backbone.get_config()
        for key in ("name", "trainable"):
            settings.pop(key, None)
        super().__init__(backbone.text_encoder, backbone.visual_encoder,
                         default_loss if loss_fn is None else loss_fn,
                         temperature=default_temperature if temperature is None else temperature,
                         build_settings=settings, preprocessor=preprocessor, **kwargs)
        self.backbone = backbone

    @property
    def model_config(self):
        """The :class:`~w2vvx.models.ModelConfig` of the backbone."""
        return self.backbone.model_config

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {"name": self.name, "trainable": self.trainable, "backbone": serialize(self.backbone),
                "preprocessor": None if self.preprocessor is None else serialize(self.preprocessor),
                "loss_fn": serialize(self.loss_fn),
                "temperature": None if self.temperature is None else serialize(self.temperature)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("backbone", "preprocessor", "loss_fn", "temperature"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)

    # -- preset folders -----------------------------------------------------------------------------
    def save_to_preset(self, directory, overwrite: bool = False) -> Path:
        """Write a preset folder (``config.json``, ``model.weights.h5``, ``assets/``, ``metadata.json``).

        The folder holds no optimizer state; :meth:`from_preset` reads it back. It appears atomically.
        """
        from w2vvx.models.presets import save_preset

        return save_preset(self.inference_copy(), directory, overwrite=overwrite)

    @classmethod
    def from_preset(cls, preset) -> "W2VVRetriever":
        """Load a preset folder written by :meth:`save_to_preset` (or a ``.keras`` file), safe mode."""
        from w2vvx.models.presets import load_preset

        model = load_preset(preset)
        if not isinstance(model, cls):
            raise ConfigError(f"{preset} holds a {type(model).__name__}, not a {cls.__name__}")
        return model
