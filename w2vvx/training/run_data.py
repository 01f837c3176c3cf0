"""What a trainer trains and validates on: caption lists (one, or one per language), validation items, features.

* :func:`training_captions`: one caption list, or ``{language: captions}`` for CCRK's 1-to-K loss
  (:func:`one_to_k_config` sets the loss's K to the number of languages);
* :func:`validation_captions`: one caption list, or ``{language: captions}`` to validate per language;
* :func:`validation_items`: the validation items, refused when too few for model selection;
* :func:`visual_shape`: the feature dimension and whether items are frame sequences.

Captions of a ``{language: captions}`` mapping get their key as language tag when they have none
(:func:`w2vvx.datasets.batching.tag_captions`), so the model's preprocessor and the vocabulary builder
read their language from the tag, as for captions read from files.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from w2vvx.datasets.batching import tag_captions
from w2vvx.errors import ConfigError

logger = logging.getLogger(__name__)

#: Fewer validation items make model selection meaningless: R@10 is 100 for any model below 11 items,
#: R@5 below 6, and one item moves every metric by 10 points or more (with one item every metric is 100).
MIN_VALIDATION_ITEMS = 10


def one_to_k_config(config, train_captions):
    """``(config, {language: tagged captions})`` of CCRK's 1-to-K training: the loss's K set to the languages.

    Raises:
        ConfigError: ``train_captions`` is not ``{language: captions}`` with at least 2 languages.
    """
    if not isinstance(train_captions, Mapping):
        raise ConfigError(
            f"config {config.name!r} trains with the one_to_k loss (CCRK), which needs every item's captions "
            "in K languages: pass train_captions={language: captions} (e.g. {'en': ..., 'zh': ..., "
            "'de': ...}, aligned by item id and caption number), not one flat caption list "
            "(CLI: --train-variants ,google_enc2zh,google_enc2de)")
    if len(train_captions) < 2:
        raise ConfigError(f"the one_to_k loss needs captions in at least 2 languages, got {list(train_captions)}")
    by_language = tag_captions(train_captions, "training")
    if config.loss_kwargs.get("num_captions") != len(by_language):
        logger.info("one_to_k loss: K set to %d (languages %s)", len(by_language), list(by_language))
        config = config.replace(loss_kwargs={**config.loss_kwargs, "num_captions": len(by_language)})
    return config, by_language


def training_captions(config, train_captions) -> Tuple[object, List, Optional[Dict[str, list]]]:
    """``(config, all captions, {language: captions} or None)`` of the ``train_captions`` a trainer got.

    Raises:
        ConfigError: no captions, or per-language captions for a loss other than ``one_to_k`` (or the reverse).

    Example:
        >>> from w2vvx.models.configs import get_config
        >>> config, captions, by_language = training_captions(get_config("w2vv_1tok"), {"en": [("a", "a dog")],
        ...                                                                          "de": [("a", "ein hund")]})
        >>> config.loss_kwargs["num_captions"], [caption.tag for caption in captions]
        (2, ['en', 'de'])
    """
    by_language = None
    if config.loss == "one_to_k":
        config, by_language = one_to_k_config(config, train_captions)
        captions = [caption for language_captions in by_language.values() for caption in language_captions]
    elif isinstance(train_captions, Mapping):
        raise ConfigError(
            f"train_captions per language ({list(train_captions)}) are for the one_to_k loss (config "
            f"'w2vv_1tok'); config {config.name!r} uses the {config.loss!r} loss: pass one caption list "
            "(concatenate the languages to train on all of them)")
    else:
        captions = list(train_captions)
    if not captions:
        raise ConfigError("no training captions given")
    return config, captions, by_language


def validation_captions(val_captions) -> Tuple[List, Optional[Dict[str, list]]]:
    """``(all captions, {language: captions} or None)`` of the ``val_captions`` a trainer got."""
    by_language = None
    if isinstance(val_captions, Mapping):
        if not val_captions:
            raise ConfigError("no validation languages given")
        by_language = tag_captions(val_captions, "validation")
        captions = [caption for language_captions in by_language.values() for caption in language_captions]
    else:
        captions = list(val_captions)
    if not captions:
        raise ConfigError("no validation captions given; the lineage selects the model on a validation split")
    return captions, by_language


def validation_items(text_item_ids: Sequence[str], val_items: Optional[Sequence[str]],
                     min_val_items: int = MIN_VALIDATION_ITEMS) -> List[str]:
    """The validation items (default: those of the captions, first seen first); too few are refused.

    Example:
        >>> validation_items(["a", "b", "a"], None, min_val_items=2)
        ['a', 'b']
    """
    items = list(dict.fromkeys(text_item_ids)) if val_items is None else list(val_items)
    if len(items) < max(int(min_val_items), 2):
        raise ConfigError(
            f"the validation split has {len(items)} item(s); model selection on fewer than "
            f"{max(int(min_val_items), 2)} is meaningless (with one item every metric is 100 every epoch, so the "
            "learning rate is halved and epoch 1 kept; below 11 items R@10 is 100 for any model). Use a "
            f"larger validation split, or pass min_val_items= (at least 2; default {MIN_VALIDATION_ITEMS}) "
            "to accept a small one knowingly")
    return items


def visual_shape(features, item_id: str):
    """``(D, frames)``: the feature dimension and whether items are ``(T, D)`` frame sequences."""
    if hasattr(features, "ndims"):
        return int(features.ndims), False
    sample = np.asarray(features([item_id]))
    return int(sample.shape[-1]), sample.ndim == 3
