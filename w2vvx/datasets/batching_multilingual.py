"""Training batches for CCRK's 1-to-K loss: every item with one caption in each of K languages.

Part of :mod:`w2vvx.datasets.batching`.
"""
from __future__ import annotations

import logging
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from w2vvx.datasets.batching_captions import CaptionBatchDataset
from w2vvx.datasets.batching_text import caption_numbers, caption_pairs, preprocess_captions
from w2vvx.datasets.batching_visual import FeatureSource, VisualReader
from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io.captions import Caption

logger = logging.getLogger(__name__)


def tag_captions(captions_by_language: Mapping[str, Sequence], what: str = "training") -> Dict[str, list]:
    """``{language: captions}`` with a language tag on every caption (untagged ones get the key as tag).

    Captions read from files keep their tags (``enc2zh`` ...); ``(item_id, text)`` pairs and untagged
    Captions become ``Caption("<item>#<key>#<n>", item, key, n, text)``, so the model's preprocessor and
    the vocabulary builder tokenize them as language ``key`` (resolved by
    :func:`w2vvx.text.languages.resolve_language`).

    Args:
        captions_by_language: ``{language: captions}``.
        what: what the captions are for, named in errors (``"training"``, ``"validation"``).

    Example:
        >>> [caption.sent_id for caption in tag_captions({"de": [("a", "ein hund")]})["de"]]
        ['a#de#0']
    """
    from w2vvx.text.languages import resolve_language

    out = {}
    for key, captions in captions_by_language.items():
        captions = list(captions)
        if not captions:
            raise ConfigError(f"no {what} captions for language {key!r}")
        untagged = [caption for caption in captions if not getattr(caption, "tag", None)]
        if untagged:
            try:
                resolve_language(str(key))
            except ConfigError:
                raise ConfigError(f"{what} captions of {key!r} have no language tag and {key!r} is not a language "
                                  "code; key the mapping by language (en, zh, de, ...) or pass tagged captions "
                                  "(read_captions of <item>#<tag>#<n> lines)") from None
            numbers = caption_numbers(captions)
            captions = [caption if getattr(caption, "tag", None) else
                        Caption(f"{item}#{key}#{number}", item, str(key), int(number), text)
                        for caption, (item, text), number in zip(captions, caption_pairs(captions), numbers)]
        out[str(key)] = captions
    return out


class _LanguageCaptions:
    """One language's tokenised captions grouped by item (item positions of the dataset)."""

    def __init__(self, arrays: Dict[str, np.ndarray], caption_items: np.ndarray, numbers: np.ndarray, n_items: int):
        self.arrays = arrays
        self.items = caption_items
        self.numbers = numbers
        self.order = np.argsort(caption_items, kind="stable")
        self.count = np.bincount(caption_items, minlength=n_items)
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])

    def rows_matching(self, items: np.ndarray, numbers: np.ndarray) -> np.ndarray:
        """For each ``(item, n)``, the row of this language's caption of that item and number, or -1."""
        lookup = {(int(item), int(number)): row
                  for row, (item, number) in enumerate(zip(self.items, self.numbers))}
        return np.array([lookup.get((int(item), int(number)), -1) for item, number in zip(items, numbers)],
                        dtype=np.int64)

    def random_rows(self, rng, items: np.ndarray) -> np.ndarray:
        choice = self.start[items] + (rng.random(len(items)) * self.count[items]).astype(np.int64)
        return self.order[choice]


class MultilingualBatchDataset(CaptionBatchDataset):
    """Training batches for CCRK's 1-to-K loss: every item with one caption in each of K languages.

    Items, epochs and steps follow :class:`CaptionBatchDataset` on the first language (the reference:
    ``ceil(#reference captions / batch_size)`` steps, one random reference caption per item). For every
    other language the batch takes the caption of the same item with the same caption number ``n``
    (sentence ids ``<item>#<tag>#<n>``: an English caption and its machine translations share ``n``);
    when that language has no caption ``n`` for the item, a random caption of the item in that
    language. Only items with captions in every language and a visual feature are used (the others
    are dropped with a warning).

    Args:
        captions_by_language: ``{language: captions}`` (ordered; the first is the reference), each a
            list of Captions or ``(item_id, text)`` pairs (then ``n`` is the caption's order among its
            item's captions).
        preprocessor: the model's preprocessor (it reads each caption's language from its tag; untagged
            pairs are in its default language) or any callable with its call, as :class:`CaptionBatchDataset`.
        features, batch_size, seed, shuffle, steps_per_epoch, sampling, **kwargs: as
            :class:`CaptionBatchDataset` (with ``sampling="captions"`` every reference caption once per
            epoch, the other languages matched to it as above).

    Each batch is ``(x,)`` with ``x["tokens"]`` and ``x["bow_tokens"]`` of shape ``(B, K, L)`` (language
    ``k`` of item ``i`` at ``[i, k]``, languages in the order of ``captions_by_language``) and
    ``x["visual"]`` ``(B, D)``: the input layout of :class:`w2vvx.models.W2VVRetriever` for the 1-to-K loss.
    A batch depends only on ``(seed, epoch, index)``.

    Example:
        >>> import numpy as np
        >>> feats = lambda ids: np.ones((len(ids), 4), "float32")
        >>> preprocess = lambda captions: {"tokens": np.array([[len(text)] for _, text in captions], "int32")}
        >>> data = MultilingualBatchDataset({"en": [("a", "x"), ("b", "yy")], "de": [("a", "xxx"), ("b", "y")]},
        ...                                 preprocess, feats, batch_size=2)
        >>> data[0][0]["tokens"].shape
        (2, 2, 1)
    """

    def __init__(self, captions_by_language: Mapping[str, Sequence], preprocessor, features: FeatureSource,
                 batch_size: int = 100, seed: int = 0, shuffle: bool = True,
                 steps_per_epoch: Optional[int] = None, sampling: str = "items", **kwargs):
        if not isinstance(captions_by_language, Mapping) or not captions_by_language:
            raise ConfigError("captions_by_language must be a non-empty mapping {language: captions}, got "
                              f"{type(captions_by_language).__name__}; for one caption list use CaptionBatchDataset")
        languages = [str(language) for language in captions_by_language]
        captions = {str(language): list(value) for language, value in captions_by_language.items()}
        pairs = {language: caption_pairs(value) for language, value in captions.items()}
        for language, language_pairs in pairs.items():
            if not language_pairs:
                raise ConfigError(f"no training captions for language {language!r}")

        item_sets = {language: {item for item, _ in language_pairs} for language, language_pairs in pairs.items()}
        reference = languages[0]
        shared = [item for item in dict.fromkeys(item for item, _ in pairs[reference])
                  if all(item in item_sets[language] for language in languages)]
        for language in languages:
            unmatched = len(item_sets[language]) - len(shared)
            if unmatched:
                logger.warning("%d of %d items with %s captions lack captions in another language and are skipped",
                               unmatched, len(item_sets[language]), language)
        if not shared:
            raise DataFormatError(
                f"no item has captions in all of {languages}; the caption lists must share item ids "
                "(sentence ids <item>#<tag>#<n> of the same collection)")
        missing = set(VisualReader(features, shared).missing())
        if missing:
            logger.warning("%d of %d items have no visual feature and are skipped (e.g. %s)",
                           len(missing), len(shared), ", ".join(sorted(missing)[:5]))
            shared = [item for item in shared if item not in missing]
            if not shared:
                raise DataFormatError(
                    f"none of the {len(missing)} items with captions in every language has a row in the "
                    f"feature file {getattr(features, 'path', features)}; check that captions and features "
                    "belong to the same collection")
        keep_items = set(shared)
        kept = {language: [index for index, (item, _) in enumerate(pairs[language]) if item in keep_items]
                for language in languages}
        captions = {language: [captions[language][index] for index in kept[language]] for language in languages}
        pairs = {language: [pairs[language][index] for index in kept[language]] for language in languages}

        super().__init__(captions[reference], preprocessor, features, batch_size=batch_size, seed=seed,
                         shuffle=shuffle, negatives=False, steps_per_epoch=steps_per_epoch,
                         sampling=sampling, **kwargs)
        self.languages = languages
        position = {item: index for index, item in enumerate(self.item_ids)}
        self._languages: Dict[str, _LanguageCaptions] = {}
        for language in languages:
            arrays = (self.text_arrays if language == reference
                      else preprocess_captions(preprocessor, captions[language]))
            caption_items = np.array([position[item] for item, _ in pairs[language]], dtype=np.int64)
            self._languages[language] = _LanguageCaptions(
                arrays, caption_items, caption_numbers(captions[language]), self.n_items)
        self._check_same_layout()
        reference_captions = self._languages[reference]
        self._matches = {language: self._languages[language].rows_matching(reference_captions.items,
                                                                           reference_captions.numbers)
                         for language in languages[1:]}

    def _check_same_layout(self) -> None:
        reference = self._languages[self.languages[0]].arrays
        for language in self.languages[1:]:
            arrays = self._languages[language].arrays
            layout = {key: value.shape[1:] for key, value in arrays.items()}
            expected = {key: value.shape[1:] for key, value in reference.items()}
            if layout != expected:
                raise ConfigError(f"the tokenised captions of {language!r} have the arrays {layout}, but those "
                                  f"of {self.languages[0]!r} have {expected}; use one preprocessor "
                                  "(same keys and maxlen) for every language")

    @property
    def num_languages(self) -> int:
        """K, the number of captions per item in a batch."""
        return len(self.languages)

    def get_batch(self, index: int, epoch: Optional[int] = None) -> Tuple[Dict[str, np.ndarray]]:
        """Batch ``index`` of ``epoch`` (default: the current epoch), independent of call order."""
        items, reference_rows, rng = self.batch_rows(index, epoch)
        rows = [reference_rows]
        for language in self.languages[1:]:
            matched = self._matches[language][reference_rows]
            fallback = self._languages[language].random_rows(rng, items)
            rows.append(np.where(matched >= 0, matched, fallback))
        batch = {key: np.stack([self._languages[language].arrays[key][language_rows]
                                for language, language_rows in zip(self.languages, rows)], axis=1)
                 for key in self._languages[self.languages[0]].arrays}
        batch["visual"] = self._reader.read(items)
        return (batch,)
