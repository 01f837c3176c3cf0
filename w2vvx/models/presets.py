"""Presets: the model size presets (defined once) and preset folders of trained retrievers.

Size presets shrink a named config (:func:`w2vvx.models.get_config`) for the hardware at hand:

- ``lineage``: the config exactly as published (GPU, hours).
- ``small``: a CPU-sized model that trains in minutes on two cores (smaller GRU and embeddings, a 10x
  learning rate so that 10 epochs suffice where the lineage trains 100-200); the CLI default.
- ``tiny``: the test size of ``do-all``.
- ``smoke``: the smallest model, 2 epochs, for a recipe's ``--small-scale`` smoke run (configs with a
  common space get a 32-d space and no text MLP).

A preset folder (keras-hub style) holds a trained retriever without optimizer state::

    config.json  model.weights.h5  assets/  metadata.json
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.json_files import read_json_object
from w2vvx.models.configs import ModelConfig, get_config

SIZE_PRESETS: Dict[str, dict] = {
    "lineage": {},
    "small": {"embed_dim": 128, "w2v_dim": 128, "gru_units": 256, "learning_rate": 1e-3, "max_epochs": 10,
              "lr_halving_patience": 2, "early_stop_patience": 4},
    "tiny": {"embed_dim": 16, "w2v_dim": 16, "gru_units": 32, "text_mlp": (256,), "learning_rate": 3e-3,
             "max_epochs": 8, "batch_size": 32, "vocab_min_count": 1},
    "smoke": {"gru_units": 16, "embed_dim": 16, "w2v_dim": 16, "text_mlp": (32,), "batch_size": 16,
              "max_epochs": 2, "vocab_min_count": 1, "early_stop_patience": 2, "lr_halving_patience": 1},
}
#: Common-space size of the ``smoke`` preset for configs with a common space (w2vvpp, nrccr).
SMOKE_SPACE_DIM = 32

PRESET_CONFIG = "config.json"
PRESET_WEIGHTS = "model.weights.h5"
PRESET_ASSETS = "assets"
PRESET_METADATA = "metadata.json"
_PRESET_FORMAT = "w2vvx-preset"


def size_names() -> list:
    """The size presets, largest first."""
    return list(SIZE_PRESETS)


def size_overrides(size: str, config: ModelConfig = None) -> dict:
    """The field overrides of ``size`` (for ``config``: the ``smoke`` space rule depends on it).

    Example:
        >>> size_overrides("small")["gru_units"]
        256
        >>> size_overrides("smoke", get_config("w2vvpp"))["common_space_dim"]
        32
    """
    if size not in SIZE_PRESETS:
        raise ConfigError(f"size must be one of {size_names()}, got {size!r}")
    overrides = dict(SIZE_PRESETS[size])
    if size == "smoke" and config is not None and config.common_space_dim is not None:
        overrides.update(common_space_dim=SMOKE_SPACE_DIM, text_mlp=())
    return overrides


def sized_config(config, size: str = "small", **overrides) -> ModelConfig:
    """A named config (or a ``ModelConfig``) with the size preset, then ``overrides``, applied.

    When the overrides set ``embed_dim`` (and the size does not pin ``w2v_dim`` separately), the
    word2vec branch follows it: word vectors are trained at the GRU embedding size.

    Example:
        >>> sized_config("w2vv_attention_ctl", "small").gru_units
        256
        >>> sized_config("w2vvpp", "small", embed_dim=64).w2v_dim
        64
    """
    if isinstance(config, str):
        config = get_config(config)
    if not isinstance(config, ModelConfig):
        raise ConfigError(f"config must be a config name or a ModelConfig, got {type(config).__name__}")
    fields = size_overrides(size, config)
    fields.update(overrides)
    if "embed_dim" in overrides and "w2v_dim" not in overrides:
        fields["w2v_dim"] = fields["embed_dim"]
    return config.replace(**fields) if fields else config


def save_preset(model, directory, overwrite: bool = False) -> Path:
    """Write ``model`` (uncompiled; see ``W2VVRetriever.save_to_preset``) as a preset folder, atomically."""
    import keras

    from w2vvx.io.atomic import atomic_dir

    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise ConfigError(f"{directory} exists; pass overwrite=True to replace it")
    with atomic_dir(directory, overwrite=overwrite) as tmp:
        (tmp / PRESET_CONFIG).write_text(
            json.dumps(keras.saving.serialize_keras_object(model), indent=1) + "\n", encoding="utf-8")
        model.save_weights(tmp / PRESET_WEIGHTS)
        preprocessor = getattr(model, "preprocessor", None)
        if preprocessor is not None:
            (tmp / PRESET_ASSETS).mkdir()
            preprocessor.save_assets(tmp / PRESET_ASSETS)
        (tmp / PRESET_METADATA).write_text(json.dumps(
            {"format": _PRESET_FORMAT, "version": 1, "class": type(model).__name__,
             "keras_version": keras.__version__, "saved_with_backend": keras.backend.backend()}, indent=1) + "\n",
            encoding="utf-8")
    return directory


def load_preset(preset):
    """Load a preset folder written by :func:`save_preset` (or a ``.keras`` file), in Keras's safe mode."""
    import keras

    import w2vvx.models  # noqa: F401  (registers the serializable classes)

    path = Path(preset)
    if path.is_file() and path.suffix == ".keras":
        from w2vvx.io.archives import load_keras_model

        return load_keras_model(path)
    if not path.is_dir():
        raise MissingFileError("no preset folder (config.json, model.weights.h5, assets/) or .keras file here; "
                               "write one with W2VVRetriever.save_to_preset", path=path)
    for name in (PRESET_CONFIG, PRESET_WEIGHTS, PRESET_METADATA):
        if not (path / name).is_file():
            raise MissingFileError(f"the preset folder lacks {name}; write it with W2VVRetriever.save_to_preset",
                                   path=path / name)
    fix = "write the preset again with W2VVRetriever.save_to_preset"
    metadata = read_json_object(path / PRESET_METADATA, fix=fix)
    config = read_json_object(path / PRESET_CONFIG, fix=fix)
    if metadata.get("format") != _PRESET_FORMAT:
        raise DataFormatError(f"not a w2vvx preset (metadata format != {_PRESET_FORMAT!r})",
                              path=path / PRESET_METADATA)
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    model.load_weights(path / PRESET_WEIGHTS)
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None:
        preprocessor.load_assets(path / PRESET_ASSETS)
    return model
