"""Symmetric label-noise injection for noisy-label experiments.

Exactly ``round(ratio * N)`` samples, chosen without replacement, get a label drawn uniformly from
the OTHER ``num_classes - 1`` classes. (MRL's ``src/noisydataset.py`` draws with Python's inclusive
``randint(0, class_num)``, which can return the true label or the out-of-range ``class_num``, and
draws each view independently; this module does neither.)
"""
from __future__ import annotations

import numpy as np

from w2vvx.errors import ConfigError


def symmetric_label_noise(labels, ratio: float, num_classes: int, seed: int = 0) -> np.ndarray:
    """Return a copy of ``labels`` with exactly ``round(ratio * N)`` of them flipped to another class.

    Args:
        labels: integer labels ``(N,)`` in ``[0, num_classes)``.
        ratio: fraction of samples to corrupt, in ``[0, 1]``.
        num_classes: number of classes (at least 2).
        seed: seed of ``numpy.random.default_rng``; the same seed gives the same noisy labels.

    Returns:
        int64 array ``(N,)``.

    Example:
        >>> noisy = symmetric_label_noise(np.zeros(10, int), 0.3, num_classes=4, seed=1)
        >>> int((noisy != 0).sum())
        3
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"labels must be a 1-D integer array, got shape {labels.shape} dtype {labels.dtype}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ConfigError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ConfigError(f"labels must lie in [0, {num_classes}), got values from {labels.min()} to {labels.max()}")
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"ratio must be a number in [0, 1], got {ratio!r}")
    rng = np.random.default_rng(seed)
    noisy = labels.astype(np.int64).copy()
    num_flipped = int(round(ratio * labels.size))
    chosen = rng.choice(labels.size, size=num_flipped, replace=False)
    # An offset in 1..C-1 added modulo C is uniform over the other classes.
    offsets = rng.integers(1, num_classes, size=num_flipped)
    noisy[chosen] = (noisy[chosen] + offsets) % num_classes
    return noisy


def noisy_view_labels(labels, ratio: float, num_classes: int, num_views: int = 2, seed: int = 0,
                      shared: bool = True) -> list:
    """Noisy labels for every view of the paired training set.

    Args:
        labels: clean labels ``(N,)``.
        ratio, num_classes: as :func:`symmetric_label_noise`.
        num_views: number of modalities.
        seed: base seed.
        shared: the same noisy labels for all views of a pair (default: the pair is one annotated
            instance); ``False`` corrupts each view independently (seed ``seed + view``), as MRL does.

    Returns:
        list of ``num_views`` int64 arrays.
    """
    if not isinstance(num_views, int) or num_views < 1:
        raise ConfigError(f"num_views must be a positive integer, got {num_views!r}")
    if shared:
        noisy = symmetric_label_noise(labels, ratio, num_classes, seed)
        return [noisy.copy() for _ in range(num_views)]
    return [symmetric_label_noise(labels, ratio, num_classes, seed + view) for view in range(num_views)]
