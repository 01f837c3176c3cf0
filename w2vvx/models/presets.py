"""Preset folders (keras-hub style): one saved backbone, preprocessor or task, without optimizer state.

A preset folder holds::

    config.json        the serialized object (a task holds its backbone and preprocessor configs)
    model.weights.h5   its weights (absent for a preprocessor, which has none)
    assets/            the preprocessor's vocabularies
    metadata.json      format, version, class, Keras version and backend it was saved with

:meth:`Backbone.save_to_preset <w2vvx.models.backbone.Backbone.save_to_preset>`, ``Task.save_to_preset`` and
``Preprocessor.save_to_preset`` write one; each class's ``from_preset`` reads it back (a backbone or a
preprocessor can be read from a task's folder too). Model sizes (``--size``) are not presets: see
:mod:`w2vvx.models.sizes`.
"""
from __future__ import annotations

import json
from pathlib import Path

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.json_files import read_json_object

PRESET_CONFIG = "config.json"
PRESET_WEIGHTS = "model.weights.h5"
PRESET_ASSETS = "assets"
PRESET_METADATA = "metadata.json"
_PRESET_FORMAT = "w2vvx-preset"
_FIX = "write the preset again with save_to_preset"


def _preprocessor_of(obj):
    """The preprocessor saved with ``obj``: ``obj`` itself when it has vocabulary assets, else its attribute."""
    if hasattr(obj, "save_assets") and not hasattr(obj, "backbone"):
        return obj
    return getattr(obj, "preprocessor", None)


def save_preset(obj, directory, overwrite: bool = False) -> Path:
    """Write ``obj`` (a backbone, preprocessor or uncompiled task) as a preset folder, atomically.

    Example:
        >>> import tempfile, keras
        >>> from w2vvx.models import W2VVBackbone, get_config
        >>> backbone = W2VVBackbone(get_config("w2vvpp", gru_units=4, embed_dim=4, w2v_dim=4, common_space_dim=8),
        ...                         gru_vocab_size=9, bow_vocab_size=9, visual_dim=6)
        >>> folder = save_preset(backbone, Path(tempfile.mkdtemp()) / "p")
        >>> sorted(path.name for path in folder.iterdir())
        ['config.json', 'metadata.json', 'model.weights.h5']
        >>> type(load_preset(folder)).__name__
        'W2VVBackbone'
    """
    import keras

    from w2vvx.io.atomic import atomic_dir

    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise ConfigError(f"{directory} exists; pass overwrite=True to replace it")
    has_weights = bool(getattr(obj, "weights", None))
    with atomic_dir(directory, overwrite=overwrite) as tmp:
        (tmp / PRESET_CONFIG).write_text(
            json.dumps(keras.saving.serialize_keras_object(obj), indent=1) + "\n", encoding="utf-8")
        if has_weights:
            obj.save_weights(tmp / PRESET_WEIGHTS)
        preprocessor = _preprocessor_of(obj)
        if preprocessor is not None:
            (tmp / PRESET_ASSETS).mkdir()
            preprocessor.save_assets(tmp / PRESET_ASSETS)
        (tmp / PRESET_METADATA).write_text(json.dumps(
            {"format": _PRESET_FORMAT, "version": 2, "class": type(obj).__name__, "weights": has_weights,
             "keras_version": keras.__version__, "saved_with_backend": keras.backend.backend()}, indent=1) + "\n",
            encoding="utf-8")
    return directory


def _read_folder(path: Path):
    for name in (PRESET_CONFIG, PRESET_METADATA):
        if not (path / name).is_file():
            raise MissingFileError(f"the preset folder lacks {name}; {_FIX}", path=path / name)
    metadata = read_json_object(path / PRESET_METADATA, fix=_FIX)
    config = read_json_object(path / PRESET_CONFIG, fix=_FIX)
    if metadata.get("format") != _PRESET_FORMAT:
        raise DataFormatError(f"not a w2vvx preset (metadata format != {_PRESET_FORMAT!r})",
                              path=path / PRESET_METADATA)
    if metadata.get("weights", True) and not (path / PRESET_WEIGHTS).is_file():
        raise MissingFileError(f"the preset folder lacks {PRESET_WEIGHTS}; {_FIX}", path=path / PRESET_WEIGHTS)
    return metadata, config


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
                               "write one with save_to_preset", path=path)
    metadata, config = _read_folder(path)
    try:
        obj = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        if isinstance(error, (ConfigError, DataFormatError)):
            raise
        raise DataFormatError(f"config.json does not describe a w2vvx model ({error}); {_FIX}",
                              path=path / PRESET_CONFIG) from error
    if metadata.get("weights", True):
        obj.load_weights(path / PRESET_WEIGHTS)
    preprocessor = _preprocessor_of(obj)
    if preprocessor is not None:
        preprocessor.load_assets(path / PRESET_ASSETS)
    return obj


def load_preset_as(cls, preset, part: str = None):
    """Load ``preset`` and return it (or its attribute ``part``, e.g. a task's ``backbone``) as a ``cls``."""
    obj = load_preset(preset)
    if part is not None and not isinstance(obj, cls):
        obj = getattr(obj, part, None) or obj
    if not isinstance(obj, cls):
        raise ConfigError(f"{preset} holds a {type(obj).__name__}, not a {cls.__name__}")
    return obj
