"""Per-epoch class centres and label MAP, to measure the class-centre drift ELRCMR's weight balance targets.

The classifier's L2-normalised columns are the class centres of the shared space (MRL's ``C``).
:class:`EpochMonitor` records them after every epoch with the label MAP of held-out sets; the drift
at epoch ``t`` is the mean over classes of ``cos(c_k(t), c_k(best))``, where ``best`` is the epoch
with the highest validation MAP (the epoch MRL's ``main_noisy.py`` keeps as its checkpoint).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.noisy.metrics import label_map


def centre_cosines(centres, reference) -> np.ndarray:
    """Mean cosine between each epoch's class centres and ``reference``.

    Args:
        centres: ``(E, C, D)`` centres per epoch (rows need not be unit length).
        reference: ``(C, D)`` centres to compare with.

    Returns:
        ``(E,)`` mean over classes of the cosine of centre ``k`` at epoch ``e`` with reference centre ``k``.

    Example:
        >>> import numpy as np
        >>> ref = np.eye(2)
        >>> centre_cosines(np.stack([ref, [[1.0, 1.0], [0.0, 1.0]]]), ref).round(4).tolist()
        [1.0, 0.8536]
    """
    centres, reference = np.asarray(centres, np.float64), np.asarray(reference, np.float64)
    if centres.ndim != 3 or reference.shape != centres.shape[1:]:
        raise ConfigError(f"centres must be (E, C, D) and reference (C, D), got {centres.shape} and {reference.shape}")
    unit = centres / np.maximum(np.linalg.norm(centres, axis=-1, keepdims=True), 1e-12)
    ref = reference / np.maximum(np.linalg.norm(reference, axis=-1, keepdims=True), 1e-12)
    return np.mean(np.sum(unit * ref[None], axis=-1), axis=-1)


class EpochMonitor(keras.callbacks.Callback):
    """Record the class centres and the label MAP of held-out sets after every epoch.

    Args:
        eval_sets: ``{name: (image, text, image_labels, text_labels)}`` with features already in the
            model's input space (standardised as for training).

    After ``fit``: ``centres`` is ``(E, C, D)``; ``maps[name]`` is ``(E, 2)`` (image→text, text→image).
    """

    def __init__(self, eval_sets: dict):
        super().__init__()
        self.eval_sets = {name: tuple(np.asarray(part) for part in parts) for name, parts in eval_sets.items()}
        self._centres, self._maps = [], {name: [] for name in self.eval_sets}

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        centres = ops.convert_to_numpy(ops.normalize(model.classifier.centres, axis=0))
        self._centres.append(np.asarray(centres, np.float64).T)
        for name, (image, text, image_labels, text_labels) in self.eval_sets.items():
            image_emb = ops.convert_to_numpy(model.image_encoder(image, training=False))
            text_emb = ops.convert_to_numpy(model.text_encoder(text, training=False))
            self._maps[name].append((label_map(image_emb, image_labels, text_emb, text_labels),
                                     label_map(text_emb, text_labels, image_emb, image_labels)))

    @property
    def centres(self) -> np.ndarray:
        return np.stack(self._centres) if self._centres else np.zeros((0, 0, 0))

    @property
    def maps(self) -> dict:
        return {name: np.asarray(values, np.float64).reshape(-1, 2) for name, values in self._maps.items()}

    def best_epoch(self, on: str = "valid") -> int:
        """0-based epoch with the highest mean (both directions) MAP on ``on`` (first one on ties)."""
        if on not in self._maps or not self._maps[on]:
            raise ConfigError(f"no MAP recorded for {on!r}; monitored sets: {sorted(self._maps)}")
        return int(np.argmax(self.maps[on].mean(axis=1)))

    def drift(self, on: str = "valid") -> np.ndarray:
        """``(E,)`` mean cosine of every epoch's centres with those of the best epoch on ``on``."""
        centres = self.centres
        return centre_cosines(centres, centres[self.best_epoch(on)])
