"""The base class of w2vvx tasks (keras-hub style): :class:`Task`.

A task holds a :class:`~w2vvx.models.backbone.Backbone` (which it calls), an optional preprocessor
(raw text -> token inputs) and what training needs on top (losses, their extra layers). There is one
serialization scheme: ``get_config`` holds the serialized parts (``backbone``, ``preprocessor``, and
what a subclass lists in :attr:`Task.serialized_parts`) plus plain settings, and ``from_config``
deserializes the parts and calls the constructor. ``keras.saving.load_model`` of a saved task (after
``import w2vvx``), on any backend, gives back the task, preprocessor vocabularies included.

The train step: Keras's, or on torch :class:`~w2vvx.backend.torch_train_step.TorchTrainStep` (no host
waits; CUDA graphs on a GPU) where the backend fast paths are on (:mod:`w2vvx.backend.versions`: the
tested Keras and torch versions, no ``W2VVX_FAST_PATH=0``).
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from w2vvx.errors import ConfigError
from w2vvx import backend


def positive_batch_size(batch_size) -> int:
    """``batch_size`` as an int, or ConfigError when it is not a positive integer.

    Example:
        >>> positive_batch_size(8)
        8
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


class Task(keras.Model):
    """A backbone, a preprocessor and a training objective; saveable as a ``.keras`` file or preset folder.

    Args:
        backbone: the :class:`~w2vvx.models.backbone.Backbone` the task calls.
        preprocessor: optional :class:`~w2vvx.models.preprocessor.Preprocessor` (raw text -> token inputs).

    Subclasses create their own layers in ``__init__`` and end it with ``self.built = True``.

    Example:
        >>> from w2vvx.models import W2VVRetriever
        >>> issubclass(W2VVRetriever, Task), W2VVRetriever.serialized_parts
        (True, ('backbone', 'preprocessor', 'loss_fn', 'temperature'))
    """

    #: constructor arguments that ``get_config`` holds as serialized Keras objects
    serialized_parts = ("backbone", "preprocessor")

    def __init__(self, backbone, preprocessor=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor

    def build(self, input_shape=None):
        self.built = True

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        for key in self.serialized_parts:
            value = getattr(self, key, None)
            config[key] = None if value is None else keras.saving.serialize_keras_object(value)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in cls.serialized_parts:
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)

    # -- training -----------------------------------------------------------------------------------
    #: on torch/CUDA, capture the train step as a CUDA graph per input shape (see
    #: :mod:`w2vvx.backend.torch_train_step`); set False on an instance to keep every step eager
    cuda_graphs = True
    #: on torch, the class of the train step (:mod:`w2vvx.training.distributed` sets one that averages
    #: the gradients of several processes); None on an instance keeps Keras's own step. Either way it
    #: runs only where the backend fast paths are on (:func:`w2vvx.backend.fast_path_enabled`)
    torch_step_class = backend.TorchTrainStep
    #: ``y_pred -> y_pred`` over the global batch, set by :mod:`w2vvx.training.distributed` when several
    #: processes train (embeddings gathered with their gradients: in-batch negatives from every process)
    embedding_gather = None

    def check_fit_inputs(self, x) -> None:
        """Check a dict of NumPy training inputs on the host, once per ``fit`` (subclasses refuse bad ids)."""

    def train_step(self, *args):
        """Keras's train step; on torch, :attr:`torch_step_class` (:class:`~w2vvx.backend.TorchTrainStep`:
        no GPU waits) where :func:`~w2vvx.backend.uses_fast_step` allows it."""
        if self.torch_step_class is None or not backend.uses_fast_step(self):
            return super().train_step(*args)
        step = getattr(self, "_torch_step", None)
        if step is None or step.optimizer is not self.optimizer or step.cuda_graphs != self.cuda_graphs \
                or type(step) is not self.torch_step_class:
            step = self._torch_step = self.torch_step_class(self, cuda_graphs=self.cuda_graphs)
        return step(*args)

    @property
    def torch_train_step(self):
        """The :class:`~w2vvx.backend.TorchTrainStep` serving ``fit`` on torch (its ``graphs`` and
        ``refused`` say which input shapes run as CUDA graphs); None before the first step, and where
        Keras's own step runs (another backend, loss scaling, the fast paths off)."""
        return getattr(self, "_torch_step", None)

    def fit(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """Keras's ``fit``; on torch/CUDA with the fast paths on, a dict of arrays is fed from pinned memory
        (:func:`~w2vvx.backend.pinned_batches`)."""
        if hasattr(x, "keys") and all(isinstance(value, np.ndarray) for value in x.values()):
            self.check_fit_inputs(x)  # on the host, once: never inside the compiled step
        plain = (not args and y is None and kwargs.get("sample_weight") is None and not kwargs.get("class_weight")
                 and not kwargs.get("validation_split") and kwargs.get("shuffle", True) != "batch")
        if plain and keras.backend.backend() == "torch" and hasattr(x, "keys") and self.trainable_weights \
                and all(isinstance(value, np.ndarray) for value in x.values()) \
                and self.trainable_weights[0].value.device.type == "cuda" and backend.fast_path_enabled():
            batch_size = positive_batch_size(32 if batch_size is None else batch_size)
            x = backend.pinned_batches(x, batch_size, kwargs.pop("shuffle", True))
            batch_size, kwargs["shuffle"] = None, False  # the loader shuffles
        return super().fit(x, y, batch_size, *args, **kwargs)

    # -- saving ------------------------------------------------------------------------------------
    def inference_copy(self) -> "Task":
        """An uncompiled copy of this task with the same weights (and preprocessor vocabularies).

        The copy lives on this process's default device even when this task trains under a
        ``keras.distribution`` (:func:`~w2vvx.backend.single_device`): saving or validating it needs no
        other device or process.
        """
        weights = self.get_weights()
        with backend.single_device():
            clone = type(self).from_config(self.get_config())
            if len(clone.weights) != len(weights):
                raise ConfigError(f"{type(self).__name__}.from_config(get_config()) rebuilds {len(clone.weights)} "
                                  f"weights instead of {len(weights)}; the model cannot be copied")
            clone.set_weights(weights)
        if self.preprocessor is not None:  # its vocabularies are assets, not part of the config
            import tempfile

            with tempfile.TemporaryDirectory(prefix="w2vvx-assets-") as folder:
                self.preprocessor.save_assets(folder)
                clone.preprocessor.load_assets(folder)
        return clone

    def save_for_inference(self, path) -> Path:
        """Write a ``.keras`` file without optimizer state (about half the size of ``model.save``).

        ``keras.saving.load_model(path)`` (after ``import w2vvx``) gives back the task, preprocessor
        and vocabularies included; it is not compiled. The file appears atomically.
        """
        from w2vvx.io.atomic import atomic_path

        path = Path(path)
        if path.suffix != ".keras":
            raise ConfigError(f"{path}: an inference export is a .keras file; name it <something>.keras")
        clone = self.inference_copy()
        with atomic_path(path, mode_suffix=".keras") as tmp:
            clone.save(tmp, overwrite=True)
        return path

    def save_to_preset(self, directory, overwrite: bool = False) -> Path:
        """Write a preset folder (``config.json``, ``model.weights.h5``, ``assets/``, ``metadata.json``).

        The folder holds no optimizer state; :meth:`from_preset` reads it back. It appears atomically.
        """
        from w2vvx.models.presets import save_preset

        return save_preset(self.inference_copy(), directory, overwrite=overwrite)

    @classmethod
    def from_preset(cls, preset) -> "Task":
        """Load a preset folder written by :meth:`save_to_preset` (or a ``.keras`` file), safe mode."""
        from w2vvx.models.presets import load_preset_as

        return load_preset_as(cls, preset)
