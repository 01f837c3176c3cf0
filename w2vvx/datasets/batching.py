"""Training and inference batches over a collection (``keras.utils.PyDataset``).

Training follows the W2VV scheme (danieljf24/w2vv ``util/dataset.py``): an epoch has
``ceil(#sentences / batch_size)`` steps; every batch holds distinct items and one caption drawn at
random for each item. Items are visited in per-epoch permutations (each item appears once per
``ceil(#items / batch_size)`` steps), captions are featurized once up front into ``int32`` arrays, and
visual rows are read per batch from the memory-mapped BigFile. With ``negatives=True`` each batch also
carries, for every sentence, the features of one random item that is not in the batch (the negative
pair of the enhanced W2VV's contrastive loss, coco-cn ``utils/dataset.py``).
:class:`MultilingualBatchDataset` gives each item one caption in each of K languages (CCRK's 1-to-K
loss).

A batch depends only on ``(seed, epoch, index)``: Keras may prefetch, shuffle or repeat calls, and a
resumed run sees the same batches as an uninterrupted one.
"""
from __future__ import annotations

import logging
import math
import threading
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import keras
import numpy as np

from w2vvx.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

FeatureSource = Union["BigFile", Callable[[Sequence[str]], np.ndarray]]  # noqa: F821
_MAX_CACHED_PLANS = 2


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


class _VisualReader:
    """Maps item ids to visual rows, from a BigFile (row indices, read per batch) or a callable."""

    def __init__(self, features, item_ids: Sequence[str]):
        self.features = features
        self.item_ids = list(item_ids)
        self.rows = None
        if hasattr(features, "read_rows") and hasattr(features, "names"):
            lookup = {name: row for row, name in enumerate(features.names)}
            self.rows = np.array([lookup.get(item, -1) for item in self.item_ids], dtype=np.int64)
        elif not callable(features):
            raise ConfigError(
                f"features must be a w2vvx.io.BigFile or a callable item_ids -> array, got {type(features).__name__}")

    def missing(self) -> List[str]:
        if self.rows is None:
            return []
        return [item for item, row in zip(self.item_ids, self.rows) if row < 0]

    def read(self, item_indices: np.ndarray) -> np.ndarray:
        if self.rows is not None:
            return self.features.read_rows(self.rows[item_indices])
        vectors = np.asarray(self.features([self.item_ids[i] for i in item_indices]), dtype=np.float32)
        if len(vectors) != len(item_indices):
            raise DataFormatError(
                f"the features callable returned {len(vectors)} rows for {len(item_indices)} item ids")
        return vectors


class CaptionBatchDataset(keras.utils.PyDataset):
    """Training batches: items sampled per epoch, one random caption per item, visual rows per batch.

    Args:
        captions: Captions (``w2vvx.io.Caption``) or ``(item_id, text)`` pairs.
        featurizer: a ``SentenceFeaturizer`` or anything :func:`featurize_captions` accepts.
        features: a ``w2vvx.io.BigFile`` (memory-mapped, read per batch) or a callable
            ``item_ids -> float32 array``. Items absent from a BigFile are dropped with a warning.
        batch_size: items (= sentences) per batch; capped at the number of items.
        seed: data seed; the batch ``(epoch, index)`` is a pure function of it.
        shuffle: visit items in a random permutation per epoch; ``False`` keeps the caption order of items
            (captions are still drawn at random).
        negatives: add ``"negative_visual"``: for each sentence, one random item outside the batch.
        steps_per_epoch: override ``ceil(#sentences / batch_size)``.
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` of ``PyDataset``.

    Pass ``shuffle=False`` to ``model.fit``: the batches are already random, and Keras's own shuffling
    of batch order uses Python's global random state (not reproducible on resume).

    Each batch is ``(x,)`` with ``x = {"tokens", "bow_tokens", ..., "visual"[, "negative_visual"]}``.
    The epoch advances in ``on_epoch_end`` once all its batches were served, and can be set with
    :meth:`set_epoch` (the trainer does so when resuming).

    Example:
        >>> import numpy as np
        >>> feats = lambda ids: np.ones((len(ids), 4), "float32")
        >>> featurize = lambda text: {"tokens": np.array([len(text)], "int32")}
        >>> data = CaptionBatchDataset([("a", "x"), ("b", "yy"), ("b", "zzz")], featurize, feats, batch_size=2)
        >>> len(data), sorted(data[0][0])
        (2, ['tokens', 'visual'])
    """

    def __init__(self, captions, featurizer, features: FeatureSource, batch_size: int = 100, seed: int = 0,
                 shuffle: bool = True, negatives: bool = False, steps_per_epoch: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        captions = list(captions)
        pairs = caption_pairs(captions)
        if not pairs:
            raise ConfigError("no training captions; pass at least one (item_id, text) caption")
        item_ids = list(dict.fromkeys(item for item, _ in pairs))
        reader = _VisualReader(features, item_ids)
        missing = set(reader.missing())
        if missing:
            shown = ", ".join(sorted(missing)[:5])
            logger.warning("%d of %d items have no visual feature and are skipped (e.g. %s)",
                           len(missing), len(item_ids), shown)
            keep = [index for index, (item, _) in enumerate(pairs) if item not in missing]
            if not keep:
                raise DataFormatError(
                    f"none of the {len(item_ids)} caption items has a row in the feature file "
                    f"{getattr(features, 'path', features)} (e.g. {shown}); check that captions and features "
                    "belong to the same collection")
            captions = [captions[index] for index in keep]
            pairs = [pairs[index] for index in keep]
            item_ids = [item for item in item_ids if item not in missing]
            reader = _VisualReader(features, item_ids)
        if negatives and len(item_ids) < 2:
            raise ConfigError("negatives=True needs at least two items with features")

        self.item_ids = item_ids
        self.n_sentences = len(pairs)
        self.batch_size = int(min(batch_size, len(item_ids)))
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.negatives = bool(negatives)
        self.text_arrays = featurize_captions(featurizer, captions)
        self._reader = reader

        position = {item: index for index, item in enumerate(item_ids)}
        caption_items = np.array([position[item] for item, _ in pairs], dtype=np.int64)
        self._caption_order = np.argsort(caption_items, kind="stable")
        self._caption_count = np.bincount(caption_items, minlength=len(item_ids))
        self._caption_start = np.concatenate([[0], np.cumsum(self._caption_count)[:-1]])

        if steps_per_epoch is None:
            steps_per_epoch = math.ceil(self.n_sentences / batch_size)
        if not isinstance(steps_per_epoch, (int, np.integer)) or steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be a positive integer, got {steps_per_epoch!r}")
        self._steps = int(steps_per_epoch)
        self._epoch = 0
        self._served = set()
        self._plans: Dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    # -- epoch bookkeeping -------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """The epoch whose batches ``__getitem__`` returns."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Serve the batches of ``epoch`` (0-based) from now on."""
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ConfigError(f"epoch must be a non-negative integer, got {epoch!r}")
        self._epoch = int(epoch)

    def on_epoch_begin(self):
        self._served = set()

    def on_epoch_end(self):
        # Keras also calls on_epoch_end before the first epoch and after probing a batch to build the
        # model; only an epoch whose batches were all served moves on to the next epoch.
        if len(self._served) >= self._steps:
            self._epoch += 1
            self._served = set()

    def __len__(self) -> int:
        return self._steps

    @property
    def num_batches(self) -> int:
        return self._steps

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    # -- sampling ----------------------------------------------------------------------------------
    def epoch_plan(self, epoch: int) -> np.ndarray:
        """The item indices of every batch of ``epoch``: an int64 array ``(steps, batch_size)``."""
        with self._lock:
            plan = self._plans.get(epoch)
            if plan is None:
                plan = self._make_plan(epoch)
                self._plans[epoch] = plan
                while len(self._plans) > _MAX_CACHED_PLANS:
                    del self._plans[min(self._plans)]
            return plan

    def _make_plan(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch])
        n_items, size = self.n_items, self.batch_size
        plan = np.empty((self._steps, size), dtype=np.int64)
        stream = np.empty(0, dtype=np.int64)
        for step in range(self._steps):
            if len(stream) < size:
                # Start a new pass over the items; the carried-over tail of the previous pass must not
                # meet its own items again in this batch, so the head of the new pass avoids them.
                carry = stream
                fresh = self._permutation(rng, n_items)
                if len(carry):
                    taken = np.isin(fresh, carry)
                    head, rest = fresh[~taken][:size - len(carry)], fresh[~taken][size - len(carry):]
                    rest = np.concatenate([rest, fresh[taken]])
                    if self.shuffle:
                        rest = rng.permutation(rest)
                    fresh = np.concatenate([head, rest])
                stream = np.concatenate([carry, fresh])
            plan[step], stream = stream[:size], stream[size:]
        return plan

    def _permutation(self, rng, n: int) -> np.ndarray:
        return rng.permutation(n) if self.shuffle else np.arange(n, dtype=np.int64)

    def batch_items(self, index: int, epoch: Optional[int] = None) -> np.ndarray:
        """Item indices of batch ``index`` of ``epoch`` (default: the current epoch)."""
        epoch = self._epoch if epoch is None else epoch
        if not 0 <= index < self._steps:
            raise IndexError(f"batch index {index} out of range for {self._steps} batches")
        return self.epoch_plan(epoch)[index]

    def _sample_outside(self, rng, batch: np.ndarray, count: int) -> np.ndarray:
        outside = np.sort(batch)
        n_outside = self.n_items - len(outside)
        if n_outside > 0:
            draws = rng.integers(0, n_outside, size=count)
            # the k-th item not in the batch is k plus the number of batch items at or below it
            thresholds = outside - np.arange(len(outside))
            return draws + np.searchsorted(thresholds, draws, side="right")
        # the batch holds every item: fall back to any item other than the sentence's own
        draws = rng.integers(0, self.n_items - 1, size=count)
        return draws + (draws >= batch[:count])

    def get_batch(self, index: int, epoch: Optional[int] = None) -> Tuple[Dict[str, np.ndarray]]:
        """Batch ``index`` of ``epoch`` (default: the current epoch), independent of call order."""
        epoch = self._epoch if epoch is None else epoch
        items = self.batch_items(index, epoch)
        rng = np.random.default_rng([self.seed, epoch, index, 1])
        choice = self._caption_start[items] + (rng.random(len(items)) * self._caption_count[items]).astype(np.int64)
        sentences = self._caption_order[choice]
        batch = {key: value[sentences] for key, value in self.text_arrays.items()}
        batch["visual"] = self._reader.read(items)
        if self.negatives:
            batch["negative_visual"] = self._reader.read(self._sample_outside(rng, items, len(items)))
        return (batch,)

    def __getitem__(self, index: int):
        batch = self.get_batch(index)
        self._served.add(index)
        return batch


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


class _LanguageCaptions:
    """One language's featurized captions grouped by item (item positions of the dataset)."""

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
        featurizer: one featurizer for every language (e.g. the run's ``CaptionFeaturizer``, which reads
            the language from caption tags) or ``{language: featurizer}``.
        features, batch_size, seed, shuffle, steps_per_epoch, **kwargs: as :class:`CaptionBatchDataset`.

    Each batch is ``(x,)`` with ``x["tokens"]`` and ``x["bow_tokens"]`` of shape ``(B, K, L)`` (language
    ``k`` of item ``i`` at ``[i, k]``, languages in the order of ``captions_by_language``) and
    ``x["visual"]`` ``(B, D)``: the input layout of :class:`w2vvx.models.W2VVModel` for the 1-to-K loss.
    A batch depends only on ``(seed, epoch, index)``.

    Example:
        >>> import numpy as np
        >>> feats = lambda ids: np.ones((len(ids), 4), "float32")
        >>> featurize = lambda text: {"tokens": np.array([len(text)], "int32")}
        >>> data = MultilingualBatchDataset({"en": [("a", "x"), ("b", "yy")], "de": [("a", "xxx"), ("b", "y")]},
        ...                                 featurize, feats, batch_size=2)
        >>> data[0][0]["tokens"].shape
        (2, 2, 1)
    """

    def __init__(self, captions_by_language: Mapping[str, Sequence], featurizer, features: FeatureSource,
                 batch_size: int = 100, seed: int = 0, shuffle: bool = True,
                 steps_per_epoch: Optional[int] = None, **kwargs):
        if not isinstance(captions_by_language, Mapping) or not captions_by_language:
            raise ConfigError("captions_by_language must be a non-empty mapping {language: captions}, got "
                              f"{type(captions_by_language).__name__}; for one caption list use CaptionBatchDataset")
        languages = [str(language) for language in captions_by_language]
        captions = {str(language): list(value) for language, value in captions_by_language.items()}
        pairs = {language: caption_pairs(value) for language, value in captions.items()}
        for language, language_pairs in pairs.items():
            if not language_pairs:
                raise ConfigError(f"no training captions for language {language!r}")
        featurizers = self._featurizers(featurizer, languages)

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
        missing = set(_VisualReader(features, shared).missing())
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

        super().__init__(captions[reference], featurizers[reference], features, batch_size=batch_size, seed=seed,
                         shuffle=shuffle, negatives=False, steps_per_epoch=steps_per_epoch, **kwargs)
        self.languages = languages
        position = {item: index for index, item in enumerate(self.item_ids)}
        self._languages: Dict[str, _LanguageCaptions] = {}
        for language in languages:
            arrays = (self.text_arrays if language == reference
                      else featurize_captions(featurizers[language], captions[language]))
            caption_items = np.array([position[item] for item, _ in pairs[language]], dtype=np.int64)
            self._languages[language] = _LanguageCaptions(
                arrays, caption_items, caption_numbers(captions[language]), self.n_items)
        self._check_same_layout()
        reference_captions = self._languages[reference]
        self._matches = {language: self._languages[language].rows_matching(reference_captions.items,
                                                                           reference_captions.numbers)
                         for language in languages[1:]}

    @staticmethod
    def _featurizers(featurizer, languages: Sequence[str]) -> Dict[str, object]:
        if isinstance(featurizer, Mapping):
            absent = [language for language in languages if language not in featurizer]
            if absent:
                raise ConfigError(f"featurizer mapping has no entry for languages {absent} "
                                  f"(it has {sorted(featurizer)})")
            return {language: featurizer[language] for language in languages}
        return {language: featurizer for language in languages}

    def _check_same_layout(self) -> None:
        reference = self._languages[self.languages[0]].arrays
        for language in self.languages[1:]:
            arrays = self._languages[language].arrays
            layout = {key: value.shape[1:] for key, value in arrays.items()}
            expected = {key: value.shape[1:] for key, value in reference.items()}
            if layout != expected:
                raise ConfigError(f"the featurized captions of {language!r} have the arrays {layout}, but those "
                                  f"of {self.languages[0]!r} have {expected}; use one featurizer setting "
                                  "(same keys and maxlen) for every language")

    @property
    def num_languages(self) -> int:
        """K, the number of captions per item in a batch."""
        return len(self.languages)

    def get_batch(self, index: int, epoch: Optional[int] = None) -> Tuple[Dict[str, np.ndarray]]:
        """Batch ``index`` of ``epoch`` (default: the current epoch), independent of call order."""
        epoch = self._epoch if epoch is None else epoch
        items = self.batch_items(index, epoch)
        rng = np.random.default_rng([self.seed, epoch, index, 1])
        reference_rows = self._languages[self.languages[0]].random_rows(rng, items)
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


class EncodeDataset(keras.utils.PyDataset):
    """Inference batches in order, for ``model.predict`` or a loop over ``predict_on_batch``.

    Args:
        inputs: a mapping of equally long arrays (featurized text) or one array (visual rows).
        batch_size: rows per batch.

    Use :meth:`from_features` to read visual rows per batch from a BigFile.

    Example:
        >>> import numpy as np
        >>> data = EncodeDataset({"tokens": np.zeros((5, 3), "int32")}, batch_size=2)
        >>> len(data), data[2][0]["tokens"].shape
        (3, (1, 3))
    """

    def __init__(self, inputs: Union[Mapping[str, np.ndarray], np.ndarray, Callable[[int, int], object]],
                 batch_size: int = 256, size: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if callable(inputs) and not isinstance(inputs, np.ndarray):
            if size is None:
                raise ConfigError("EncodeDataset with a callable source needs size= (the number of rows)")
            self._slice = inputs
        elif isinstance(inputs, Mapping):
            lengths = {key: len(value) for key, value in inputs.items()}
            if len(set(lengths.values())) > 1:
                raise ConfigError(f"inputs of different lengths: {lengths}")
            size = next(iter(lengths.values()), 0)
            self._slice = lambda start, stop: {key: np.asarray(value[start:stop]) for key, value in inputs.items()}
        else:
            inputs = np.asarray(inputs)
            size = len(inputs)
            self._slice = lambda start, stop: inputs[start:stop]
        self.size = int(size)
        self.batch_size = int(batch_size)

    @classmethod
    def from_features(cls, features: FeatureSource, item_ids: Sequence[str], batch_size: int = 256,
                      **kwargs) -> "EncodeDataset":
        """Visual rows of ``item_ids`` read batch by batch (unknown ids raise a DataFormatError)."""
        item_ids = list(item_ids)
        reader = _VisualReader(features, item_ids)
        missing = reader.missing()
        if missing:
            raise DataFormatError(
                f"{len(missing)} item ids have no row in {getattr(features, 'path', 'the features')} "
                f"(e.g. {', '.join(missing[:5])}); use the feature file of the same collection",
                path=getattr(features, "path", None))
        return cls(lambda start, stop: reader.read(np.arange(start, stop)), batch_size, size=len(item_ids),
                   **kwargs)

    def __len__(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        start = index * self.batch_size
        return (self._slice(start, min(start + self.batch_size, self.size)),)
