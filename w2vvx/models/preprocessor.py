"""The base class of w2vvx preprocessors (raw text -> token inputs): :class:`Preprocessor`."""
from __future__ import annotations

from pathlib import Path

import keras


class Preprocessor(keras.layers.Layer):
    """A layer that turns raw sentences into a model's token inputs, saveable as a preset folder.

    Subclasses hold their vocabularies as assets (``save_assets`` / ``load_assets``), so that a preset
    folder or ``.keras`` file carries them.

    Example:
        >>> from w2vvx.models import W2VVPreprocessor
        >>> issubclass(W2VVPreprocessor, Preprocessor)
        True
    """

    def save_to_preset(self, directory, overwrite: bool = False) -> Path:
        """Write this preprocessor as a preset folder (``config.json``, ``assets/``, ``metadata.json``)."""
        from w2vvx.models.presets import save_preset

        return save_preset(self, directory, overwrite=overwrite)

    @classmethod
    def from_preset(cls, preset) -> "Preprocessor":
        """Load a preprocessor preset folder, or the preprocessor of a task's preset folder or ``.keras`` file."""
        from w2vvx.models.presets import load_preset_as

        return load_preset_as(cls, preset, part="preprocessor")
