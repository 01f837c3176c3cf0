"""Which captions an epoch visits: the two sampling schemes of the lineage, as pure functions of a seed.

``"items"`` (danieljf24/w2vv ``util/dataset.py`` 25-66, ``PairDataSet_MS``): every batch holds distinct
items, one caption drawn at random for each; an epoch has ``ceil(#sentences / B)`` steps and items are
visited in per-epoch permutations.

``"captions"``: every caption once per epoch, in a shuffled order, ``ceil(#sentences / B)`` batches of
``B`` consecutive captions of that order, the last one partial. This is what the later methods do:

- COCO-CN (li-xirong/coco-cn ``code/image-retrieval/utils/dataset.py`` 7-118: ``BaseData`` shuffles the
  caption lines, ``PairDataSet_Sent``/``PairDataSet_CTL`` slice ``[counter*B:(counter+1)*B]`` and reshuffle
  after ``ceil(N/B)`` batches; ``w2vv_trainer.py`` 178-182 uses them for ``mse`` and ``ctl``);
- W2VV++ (li-xirong/w2vvpp ``data_provider.py`` 73-125: a ``PairDataset`` over caption ids in a
  ``DataLoader(shuffle=True)``, ``trainer.py`` ``shuffle=(x=='train')``);
- NRCCR (HuiGuanLab/nrccr ``util/tag_data_provider_vid.py`` 202-281 and 368-384: ``Dataset4DualEncoding``
  indexes ``cap_ids``, ``DataLoader(shuffle=True)``, ``drop_last`` left at False).

Several captions of one item can then share a batch. The originals' losses take no item ids: VSE++'s
triplet loss (NRCCR ``loss.py`` 113-137, w2vvpp ``loss.py``) masks only the diagonal, so another caption
of the same item counts as a negative; w2vvx's losses (``w2vvx/losses/``) take no item ids either and
do the same.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from w2vvx.errors import ConfigError

SAMPLING_MODES = ("items", "captions")


def check_sampling(sampling: str) -> str:
    """Return ``sampling`` if it is one of :data:`SAMPLING_MODES`, else raise ConfigError.

    Example:
        >>> check_sampling("captions")
        'captions'
    """
    if sampling not in SAMPLING_MODES:
        raise ConfigError(f"sampling must be one of {SAMPLING_MODES} ('items': W2VV's distinct items with one "
                          f"random caption each; 'captions': every caption once per epoch), got {sampling!r}")
    return sampling


def _permutation(rng, n: int, shuffle: bool) -> np.ndarray:
    return rng.permutation(n) if shuffle else np.arange(n, dtype=np.int64)


def item_epoch_plan(seed: int, epoch: int, n_items: int, batch_size: int, steps: int,
                    shuffle: bool = True) -> np.ndarray:
    """The item indices of every batch of one ``"items"`` epoch: an int64 array ``(steps, batch_size)``.

    Items are consumed from successive permutations; a batch that straddles two permutations never
    holds an item twice.

    Example:
        >>> plan = item_epoch_plan(0, 0, n_items=5, batch_size=2, steps=3)
        >>> plan.shape, all(len(set(row)) == 2 for row in plan.tolist())
        ((3, 2), True)
    """
    rng = np.random.default_rng([seed, epoch])
    plan = np.empty((steps, batch_size), dtype=np.int64)
    stream = np.empty(0, dtype=np.int64)
    for step in range(steps):
        if len(stream) < batch_size:
            # Start a new pass over the items; the carried-over tail of the previous pass must not
            # meet its own items again in this batch, so the head of the new pass avoids them.
            carry = stream
            fresh = _permutation(rng, n_items, shuffle)
            if len(carry):
                taken = np.isin(fresh, carry)
                head = fresh[~taken][:batch_size - len(carry)]
                rest = np.concatenate([fresh[~taken][batch_size - len(carry):], fresh[taken]])
                if shuffle:
                    rest = rng.permutation(rest)
                fresh = np.concatenate([head, rest])
            stream = np.concatenate([carry, fresh])
        plan[step], stream = stream[:batch_size], stream[batch_size:]
    return plan


def caption_epoch_plan(seed: int, epoch: int, n_captions: int, length: Optional[int] = None,
                       shuffle: bool = True) -> np.ndarray:
    """The caption rows of one ``"captions"`` epoch in visiting order (int64, ``length`` rows).

    ``length`` defaults to ``n_captions``: a permutation, so every caption once. A longer epoch
    (``steps_per_epoch`` set) continues with further permutations; a shorter one is a prefix.

    Example:
        >>> plan = caption_epoch_plan(0, 0, n_captions=5)
        >>> sorted(plan.tolist())
        [0, 1, 2, 3, 4]
    """
    length = n_captions if length is None else int(length)
    rng = np.random.default_rng([seed, epoch])
    parts, total = [], 0
    while total < length:
        parts.append(_permutation(rng, n_captions, shuffle))
        total += n_captions
    return np.concatenate(parts)[:length] if parts else np.empty(0, dtype=np.int64)


def sample_outside(rng, items: np.ndarray, n_items: int) -> np.ndarray:
    """For each entry of ``items``, one random item index not in ``items`` (duplicates allowed in ``items``).

    When ``items`` holds every item, each entry gets a random item other than its own (coco-cn
    ``PairDataSet_CTL`` draws "an image not in the batch"; with every image in the batch there is none).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> set(sample_outside(rng, np.array([0, 1, 1]), 4).tolist()) <= {2, 3}
        True
    """
    items = np.asarray(items, dtype=np.int64)
    inside = np.unique(items)
    n_outside = n_items - len(inside)
    if n_outside > 0:
        draws = rng.integers(0, n_outside, size=len(items))
        # the k-th item not in the batch is k plus the number of batch items at or below it
        thresholds = inside - np.arange(len(inside))
        return draws + np.searchsorted(thresholds, draws, side="right")
    draws = rng.integers(0, n_items - 1, size=len(items))
    return draws + (draws >= items)
