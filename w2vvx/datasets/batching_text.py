"""Caption lists as the batching code reads them: ``(item_id, text)`` pairs, caption numbers, token arrays.

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


def preprocess_captions(preprocessor, captions) -> Dict[str, np.ndarray]:
    """Token arrays of all captions, once: ``preprocessor(captions)``, checked and cast to ``int32``.

    The datasets of :mod:`w2vvx.datasets.batching` take the model's preprocessor
    (:class:`w2vvx.models.W2VVPreprocessor`, the one text pipeline: each caption in the language of
    its tag) or anything with the same call.

    Args:
        preprocessor: a callable ``captions -> {key: array of shape (n_captions, ...)}``.
        captions: Captions or ``(item_id, text)`` pairs.

    Returns:
        ``{key: array of shape (n_captions, ...)}``, integer arrays as ``int32``.

    Example:
        >>> preprocess_captions(lambda caps: {"tokens": [[len(text)] for _, text in caps]}, [("a", "xy")])["tokens"]
        array([[2]], dtype=int32)
    """
    captions = list(captions)
    if not callable(preprocessor):
        raise ConfigError(f"preprocessor {preprocessor!r} is not callable; pass the model's preprocessor "
                          "(model.preprocessor, a w2vvx.models.W2VVPreprocessor)")
    arrays = preprocessor(captions)
    if not hasattr(arrays, "items"):
        raise ConfigError(f"the preprocessor returned a {type(arrays).__name__}; expected a dict of arrays "
                          "{'tokens': ..., 'bow_tokens': ...}")
    arrays = {key: np.asarray(value) for key, value in dict(arrays).items()}
    for key, value in arrays.items():
        if value.ndim == 0 or len(value) != len(captions):
            raise ConfigError(f"the preprocessor returned {len(value) if value.ndim else 'no'} rows for {key!r}, "
                              f"expected {len(captions)} (one per caption)")
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
