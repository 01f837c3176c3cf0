"""Caption lists as the batching code reads them: ``(item_id, text)`` pairs, caption numbers, featurized arrays.

Part of :mod:`w2vvx.datasets.batching` (split by concept: text here, visual rows in
:mod:`~w2vvx.datasets.batching_visual`, epoch plans in :mod:`~w2vvx.datasets.batching_sampling`).
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from w2vvx.errors import ConfigError


def caption_pairs(captions) -> List[Tuple[str, str]]:
    """Return ``(item_id, text)`` pairs from Captions, ``(item_id, text)`` tuples or mappings.

    Example:
        >>> caption_pairs([("img1", "a dog")])
        [('img1', 'a dog')]
    """
    pairs = []
    for position, caption in enumerate(captions):
        if hasattr(caption, "item_id") and hasattr(caption, "text"):
            pairs.append((str(caption.item_id), str(caption.text)))
        elif isinstance(caption, (tuple, list)) and len(caption) == 2:
            pairs.append((str(caption[0]), str(caption[1])))
        else:
            raise ConfigError(
                f"caption #{position} is {caption!r}; expected a w2vvx.io.Caption or an (item_id, text) pair")
    return pairs


def featurize_captions(featurizer, captions) -> Dict[str, np.ndarray]:
    """Featurize all captions once into stacked ``int32`` arrays, one per featurizer output key.

    Args:
        featurizer: an object with ``featurize_captions(captions) -> dict of arrays`` (e.g. the
            per-language router from :mod:`w2vvx.training.prepare`), or with ``batch(texts)``
            (``w2vvx.text.SentenceFeaturizer``), or a callable ``text -> dict``.
        captions: Captions or ``(item_id, text)`` pairs.

    Returns:
        ``{key: int32 array of shape (n_captions, ...)}``.
    """
    captions = list(captions)
    if hasattr(featurizer, "featurize_captions"):
        arrays = featurizer.featurize_captions(captions)
    else:
        texts = [text for _, text in caption_pairs(captions)]
        if hasattr(featurizer, "batch"):
            arrays = featurizer.batch(texts)
        elif callable(featurizer):
            rows = [featurizer(text) for text in texts]
            if not rows:
                raise ConfigError("no captions to featurize; pass at least one caption")
            arrays = {key: np.stack([row[key] for row in rows]) for key in rows[0]}
        else:
            raise ConfigError(
                f"featurizer {featurizer!r} is neither callable nor has featurize_captions/batch; "
                "pass a w2vvx.text.SentenceFeaturizer")
    arrays = {key: np.asarray(value) for key, value in dict(arrays).items()}
    for key, value in arrays.items():
        if len(value) != len(captions):
            raise ConfigError(f"featurizer returned {len(value)} rows for {key!r}, expected {len(captions)}")
        if np.issubdtype(value.dtype, np.integer):
            arrays[key] = value.astype(np.int32, copy=False)
    return arrays


def caption_numbers(captions) -> np.ndarray:
    """The caption number ``n`` of each caption: ``Caption.index``, else its order among its item's captions.

    Example:
        >>> caption_numbers([("a", "x"), ("b", "y"), ("a", "z")]).tolist()
        [0, 0, 1]
    """
    captions = list(captions)
    pairs = caption_pairs(captions)
    seen: Dict[str, int] = {}
    numbers = np.empty(len(pairs), dtype=np.int64)
    for position, (caption, (item, _)) in enumerate(zip(captions, pairs)):
        index = getattr(caption, "index", None)
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            numbers[position] = int(index)
        else:
            numbers[position] = seen.get(item, 0)
        seen[item] = seen.get(item, 0) + 1
    return numbers
