"""The base class of w2vvx backbones (keras-hub style): :class:`Backbone`.

A backbone is a functional ``keras.Model`` built from hyperparameters: ``get_config`` returns those
hyperparameters (not the layer graph) and ``from_config`` calls the constructor with them, so a saved
backbone is rebuilt by its own code and then receives its weights. It knows no loss and no tokenizer:
a :class:`~w2vvx.models.task.Task` calls it and adds them.

A subclass builds its inputs and outputs, calls ``super().__init__(inputs=..., outputs=..., **kwargs)``
and only then sets its attributes (the hyperparameters and the sub-models it exposes).
"""
from __future__ import annotations

from pathlib import Path

import keras


class Backbone(keras.Model):
    """A functional model built from hyperparameters, saveable as a preset folder.

    Subclasses extend :meth:`get_config` with their constructor arguments.

    Example:
        >>> from w2vvx.models import W2VVBackbone, get_config
        >>> backbone = W2VVBackbone(get_config("w2vvpp", gru_units=4, embed_dim=4, w2v_dim=4, common_space_dim=8),
        ...                         gru_vocab_size=9, bow_vocab_size=9, visual_dim=6)
        >>> isinstance(backbone, Backbone), sorted(backbone.output)
        (True, ['text', 'visual'])
    """

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def save_to_preset(self, directory, overwrite: bool = False) -> Path:
        """Write this backbone as a preset folder (``config.json``, ``model.weights.h5``, ``metadata.json``)."""
        from w2vvx.models.presets import save_preset

        return save_preset(self, directory, overwrite=overwrite)

    @classmethod
    def from_preset(cls, preset) -> "Backbone":
        """Load a backbone preset folder, or the backbone of a task's preset folder or ``.keras`` file."""
        from w2vvx.models.presets import load_preset_as

        return load_preset_as(cls, preset, part="backbone")
