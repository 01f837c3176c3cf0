"""Train and evaluate :class:`~w2vvx.noisy.model.NoisyCrossModalModel` on paired features.

The recipe follows MRL's README example for Wikipedia (Adam with ``beta_1 = 0.5``, batch 100,
cosine learning-rate decay to 0, 30 epochs); the learning rate is a parameter because the shipped
features (128-d SIFT BoW, 10-d LDA) are not MRL's deep features.
"""
from __future__ import annotations

import dataclasses

import keras
import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.noisy.drift import EpochMonitor
from w2vvx.noisy.metrics import label_map
from w2vvx.noisy.model import NoisyCrossModalModel


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Per-column z-scoring with statistics of the training features."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, features) -> "Standardizer":
        features = np.asarray(features, dtype=np.float64)
        return cls(features.mean(axis=0), np.maximum(features.std(axis=0), 1e-8))

    def __call__(self, features) -> np.ndarray:
        return ((np.asarray(features, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)


@dataclasses.dataclass
class TrainedRetrieval:
    """A trained model plus the input standardizers it expects."""

    model: NoisyCrossModalModel
    image_standardizer: Standardizer
    text_standardizer: Standardizer
    monitor: EpochMonitor | None = None

    def embed(self, image, text, batch_size: int = 1024):
        """Embeddings ``(image_embeddings, text_embeddings)`` as NumPy arrays."""
        image = self.image_standardizer(image)
        text = self.text_standardizer(text)
        image_embeddings = self.model.image_encoder.predict(image, batch_size=batch_size, verbose=0)
        text_embeddings = self.model.text_encoder.predict(text, batch_size=batch_size, verbose=0)
        return np.asarray(image_embeddings), np.asarray(text_embeddings)

    def evaluate(self, image, text, labels, text_labels=None) -> dict:
        """Label MAP in both directions: ``{"i2t": ..., "t2i": ...}`` (cosine, full ranking).

        ``text_labels`` defaults to ``labels`` (paired data with one label per pair).
        """
        image_embeddings, text_embeddings = self.embed(image, text)
        text_labels = labels if text_labels is None else text_labels
        return {"i2t": label_map(image_embeddings, labels, text_embeddings, text_labels),
                "t2i": label_map(text_embeddings, text_labels, image_embeddings, labels)}


def train_noisy_retrieval(image, text, noisy_labels, num_classes: int, method: str = "mrl", epochs: int = 30,
                          batch_size: int = 100, learning_rate: float = 1e-4, seed: int = 0, standardize: bool = True,
                          verbose: int = 0, monitor_sets: dict | None = None, **model_kwargs) -> TrainedRetrieval:
    """Train one model on paired training features with (noisy) labels.

    Args:
        image, text: ``(N, Di)`` and ``(N, Dt)`` paired training features.
        noisy_labels: ``(N,)`` labels for both views, or ``{"image": (N,), "text": (N,)}``.
        num_classes: number of classes.
        method: see :data:`w2vvx.noisy.model.METHODS`.
        epochs, batch_size, learning_rate: optimisation (Adam, ``beta_1 = 0.5``, cosine decay).
        seed: seeds Keras' global random state (weights, shuffling) via ``keras.utils.set_random_seed``.
        standardize: z-score each feature column with training statistics.
        verbose: passed to ``fit``.
        monitor_sets: ``{name: (image, text, image_labels, text_labels)}`` raw held-out features; when
            given, an :class:`~w2vvx.noisy.drift.EpochMonitor` records the class centres and these sets'
            MAP after every epoch (``result.monitor``).
        **model_kwargs: passed to :class:`NoisyCrossModalModel` (``hidden_units``, ``beta``, ...).

    Returns:
        :class:`TrainedRetrieval`.

    Example:
        >>> import numpy as np  # doctest: +SKIP
        >>> trained = train_noisy_retrieval(np.random.rand(40, 6), np.random.rand(40, 4),
        ...                                 np.arange(40) % 2, num_classes=2, epochs=1)  # doctest: +SKIP
    """
    image, text = np.asarray(image), np.asarray(text)
    num_samples = len(image)
    if len(text) != num_samples:
        raise ConfigError(f"image and text must have the same number of rows (pairs), got {len(image)} and {len(text)}")
    labels = noisy_labels if isinstance(noisy_labels, dict) else {"image": noisy_labels, "text": noisy_labels}
    labels = {view: np.asarray(labels[view], dtype=np.int32) for view in ("image", "text")}
    for view, view_labels in labels.items():
        if view_labels.shape != (num_samples,):
            raise ConfigError(f"{view} labels must have shape ({num_samples},), got {view_labels.shape}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    keras.utils.set_random_seed(seed)
    if standardize:
        image_standardizer, text_standardizer = Standardizer.fit(image), Standardizer.fit(text)
    else:
        image_standardizer = Standardizer(np.zeros(image.shape[1]), np.ones(image.shape[1]))
        text_standardizer = Standardizer(np.zeros(text.shape[1]), np.ones(text.shape[1]))
    model = NoisyCrossModalModel(image.shape[1], text.shape[1], num_classes, num_samples=num_samples, method=method,
                                 seed=seed, **model_kwargs)
    steps = epochs * int(np.ceil(num_samples / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule, beta_1=0.5, beta_2=0.999))
    inputs = {"image": image_standardizer(image), "text": text_standardizer(text),
              "index": np.arange(num_samples, dtype=np.int32)}
    monitor = None
    if monitor_sets:
        monitor = EpochMonitor({name: (image_standardizer(parts[0]), text_standardizer(parts[1]), parts[2], parts[3])
                                for name, parts in monitor_sets.items()})
    model.fit(inputs, labels, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose,
              callbacks=[monitor] if monitor else None)
    return TrainedRetrieval(model, image_standardizer, text_standardizer, monitor)
