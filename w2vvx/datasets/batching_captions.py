"""Training batches over one caption list: :class:`CaptionBatchDataset` (a ``keras.utils.PyDataset``).

Two sampling schemes (:mod:`w2vvx.datasets.batching_sampling`): ``"items"`` (W2VV: distinct items per
batch, one random caption each) and ``"captions"`` (COCO-CN, W2VV++, NRCCR: every caption once per epoch,
shuffled). Captions are tokenised once up front by the model's preprocessor into ``int32`` arrays and visual rows are read per
batch from the memory-mapped BigFile. A batch depends only on ``(seed, epoch, index)``: Keras may
prefetch, shuffle or repeat calls, and a resumed run sees the same batches as an uninterrupted one.
"""
from __future__ import annotations

import logging
import math
import threading
from typing import Dict, Optional, Tuple

import keras
import numpy as np

from w2vvx.datasets.batching_sampling import caption_epoch_plan, check_sampling, item_epoch_plan, sample_outside
from w2vvx.datasets.batching_text import caption_pairs, preprocess_captions
from w2vvx.datasets.batching_visual import FeatureSource, VisualReader
from w2vvx.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

_MAX_CACHED_PLANS = 2


class CaptionBatchDataset(keras.utils.PyDataset):
    """Training batches of captions with their items' visual rows, in the sampling of the method.

    Args:
        captions: Captions (``w2vvx.io.Caption``) or ``(item_id, text)`` pairs.
        preprocessor: the model's preprocessor (``model.preprocessor``, a
            :class:`w2vvx.models.W2VVPreprocessor`) or any callable ``captions -> {key: (N, ...) array}``
            (see :func:`~w2vvx.datasets.batching_text.preprocess_captions`).
        features: a ``w2vvx.io.BigFile`` (memory-mapped, read per batch) or a callable
            ``item_ids -> float32 array``. Items absent from a BigFile are dropped with a warning.
        batch_size: sentences per batch; capped at the number of items (``"items"``) or captions.
        seed: data seed; the batch ``(epoch, index)`` is a pure function of it.
        shuffle: visit items (captions) in a random permutation per epoch; ``False`` keeps the order of
            items (captions); with ``"items"`` the captions are still drawn at random.
        negatives: add ``"negative_visual"``: for each sentence, one random item outside the batch.
        steps_per_epoch: override ``ceil(#sentences / batch_size)``.
        sampling: ``"items"`` (W2VV, default) or ``"captions"`` (every caption once per epoch, shuffled;
            COCO-CN, W2VV++, NRCCR); see :mod:`w2vvx.datasets.batching_sampling`. With ``"captions"``
            the last batch of an epoch is partial and a batch may hold several captions of one item
            (the losses treat them as negatives, as the originals' do); ``negatives`` are then drawn
            outside the batch's distinct items.
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` of ``PyDataset``.

    Pass ``shuffle=False`` to ``model.fit``: the batches are already random, and Keras's own shuffling
    of batch order uses Python's global random state (not reproducible on resume).

    Each batch is ``(x,)`` with ``x = {"tokens", "bow_tokens", ..., "visual"[, "negative_visual"]}``.
    The epoch advances in ``on_epoch_end`` once all its batches were served, and can be set with
    :meth:`set_epoch` (the trainer does so when resuming).

    Example:
        >>> import numpy as np
        >>> feats = lambda ids: np.ones((len(ids), 4), "float32")
        >>> preprocess = lambda captions: {"tokens": np.array([[len(text)] for _, text in captions], "int32")}
        >>> data = CaptionBatchDataset([("a", "x"), ("b", "yy"), ("b", "zzz")], preprocess, feats, batch_size=2)
        >>> len(data), sorted(data[0][0])
        (2, ['tokens', 'visual'])
    """

    def __init__(self, captions, preprocessor, features: FeatureSource, batch_size: int = 100, seed: int = 0,
                 shuffle: bool = True, negatives: bool = False, steps_per_epoch: Optional[int] = None,
                 sampling: str = "items", **kwargs):
        super().__init__(**kwargs)
        self.sampling = check_sampling(sampling)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        captions = list(captions)
        pairs = caption_pairs(captions)
        if not pairs:
            raise ConfigError("no training captions; pass at least one (item_id, text) caption")
        item_ids = list(dict.fromkeys(item for item, _ in pairs))
        reader = VisualReader(features, item_ids)
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
            reader = VisualReader(features, item_ids)
        if negatives and len(item_ids) < 2:
            raise ConfigError("negatives=True needs at least two items with features")

        self.item_ids = item_ids
        self.n_sentences = len(pairs)
        self.batch_size = int(min(batch_size, len(item_ids) if self.sampling == "items" else len(pairs)))
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.negatives = bool(negatives)
        self.text_arrays = preprocess_captions(preprocessor, captions)
        self._reader = reader

        position = {item: index for index, item in enumerate(item_ids)}
        caption_items = np.array([position[item] for item, _ in pairs], dtype=np.int64)
        self._caption_order = np.argsort(caption_items, kind="stable")
        self._caption_count = np.bincount(caption_items, minlength=len(item_ids))
        self._caption_start = np.concatenate([[0], np.cumsum(self._caption_count)[:-1]])
        self._caption_items = caption_items

        if steps_per_epoch is None:
            steps_per_epoch = math.ceil(self.n_sentences / batch_size)
        if not isinstance(steps_per_epoch, (int, np.integer)) or steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be a positive integer, got {steps_per_epoch!r}")
        self._steps = int(steps_per_epoch)
        # captions: an epoch of the default length is one permutation (the last batch partial, as the
        # originals' DataLoader without drop_last); a set steps_per_epoch gets full batches
        self._plan_length = (self.n_sentences if self._steps == math.ceil(self.n_sentences / self.batch_size)
                             else self._steps * self.batch_size)
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
        """The plan of ``epoch``: ``"items"``, the item indices of every batch, int64 ``(steps, batch_size)``;
        ``"captions"``, the caption rows in visiting order (1-D; batch ``i`` is ``plan[i*B:(i+1)*B]``)."""
        with self._lock:
            plan = self._plans.get(epoch)
            if plan is None:
                if self.sampling == "items":
                    plan = item_epoch_plan(self.seed, epoch, self.n_items, self.batch_size, self._steps,
                                           shuffle=self.shuffle)
                else:
                    plan = caption_epoch_plan(self.seed, epoch, self.n_sentences, self._plan_length,
                                              shuffle=self.shuffle)
                self._plans[epoch] = plan
                while len(self._plans) > _MAX_CACHED_PLANS:
                    del self._plans[min(self._plans)]
            return plan

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self._steps:
            raise IndexError(f"batch index {index} out of range for {self._steps} batches")

    def batch_items(self, index: int, epoch: Optional[int] = None) -> np.ndarray:
        """Item indices of batch ``index`` of ``epoch`` (default: the current epoch)."""
        epoch = self._epoch if epoch is None else epoch
        self._check_index(index)
        if self.sampling == "items":
            return self.epoch_plan(epoch)[index]
        return self._caption_items[self._caption_slice(index, epoch)]

    def _caption_slice(self, index: int, epoch: int) -> np.ndarray:
        start = index * self.batch_size
        return self.epoch_plan(epoch)[start:start + self.batch_size]

    def batch_rows(self, index: int, epoch: Optional[int] = None):
        """``(items, caption rows, rng)`` of batch ``index``: the rng continues the batch's random stream."""
        epoch = self._epoch if epoch is None else epoch
        self._check_index(index)
        rng = np.random.default_rng([self.seed, epoch, index, 1])
        if self.sampling == "captions":
            sentences = self._caption_slice(index, epoch)
            return self._caption_items[sentences], sentences, rng
        items = self.epoch_plan(epoch)[index]
        choice = self._caption_start[items] + (rng.random(len(items)) * self._caption_count[items]).astype(np.int64)
        return items, self._caption_order[choice], rng

    def get_batch(self, index: int, epoch: Optional[int] = None) -> Tuple[Dict[str, np.ndarray]]:
        """Batch ``index`` of ``epoch`` (default: the current epoch), independent of call order."""
        items, sentences, rng = self.batch_rows(index, epoch)
        batch = {key: value[sentences] for key, value in self.text_arrays.items()}
        batch["visual"] = self._reader.read(items)
        if self.negatives:
            batch["negative_visual"] = self._reader.read(sample_outside(rng, items, self.n_items))
        return (batch,)

    def __getitem__(self, index: int):
        batch = self.get_batch(index)
        self._served.add(index)
        return batch
