"""Text-to-item (t2i) and item-to-text (i2t) retrieval metrics, computed in bounded memory.

Conventions (W2VV lineage, see ``util/evaluation.py`` of w2vv / dual_encoding and VSE++):

* similarity is the cosine (embeddings are L2-normalised here unless ``normalize=False``);
* ``rank`` is the 0-based position of the first relevant result in the list sorted by decreasing
  similarity; ``R@K = 100 * mean(rank < K)``, ``MedR = floor(median(rank)) + 1``,
  ``MeanR = mean(rank) + 1``, ``mIR = mean(1 / (rank + 1))``;
* AP is computed over the full ranking: the mean, over the relevant results, of the precision at
  each hit. For t2i each caption has one relevant item, so ``mAP == mIR``. For i2t every caption of
  the item is relevant;
* ``SumR`` is the sum of the six recalls (R@1, R@5, R@10 in both directions).

Relevance is decided by item ids, never by caption order: an item may have any number of captions,
in any order. Items that have no caption are not i2t queries (there is nothing to find), but they
stay in the t2i gallery as distractors.

Ties are resolved optimistically: a result is ranked behind only the results with a *strictly*
greater score, so relevant results win ties against irrelevant ones.

The similarity matrix is never materialised: it is computed ``chunk_size`` items at a time
(``chunk_size x n_captions`` scores). Each caption's score with its own item (the "positive" score)
is computed once up front, which lets both directions be ranked by counting greater scores in the
same block, without sorting.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.vectors import l2_normalize  # noqa: F401  (re-exported: the one L2 normalisation of w2vvx)

RECALL_KS = (1, 5, 10)


def _positions_of(query_item_ids: Sequence, item_ids: Sequence) -> np.ndarray:
    """Index in ``item_ids`` of every entry of ``query_item_ids`` (error on unknown or duplicate ids)."""
    index: Dict = {}
    for position, item_id in enumerate(item_ids):
        if item_id in index:
            raise ConfigError(
                f"item id {item_id!r} occurs twice in item_ids (positions {index[item_id]} and {position}); "
                "item ids must be unique")
        index[item_id] = position
    positions = np.empty(len(query_item_ids), dtype=np.int64)
    for caption_index, item_id in enumerate(query_item_ids):
        try:
            positions[caption_index] = index[item_id]
        except KeyError:
            raise ConfigError(
                f"caption {caption_index} belongs to item {item_id!r}, which is not in item_ids "
                f"({len(index)} items); pass the gallery that contains every caption's item") from None
    return positions


class _RankCounter:
    """Accumulates t2i and i2t ranks block by block (blocks are rows = items, columns = captions)."""

    def __init__(self, caption_item: np.ndarray, n_items: int, positive_scores: np.ndarray):
        self.caption_item = caption_item
        self.n_items = n_items
        self.n_captions = len(caption_item)
        self.positive_scores = positive_scores
        self.t2i_greater = np.zeros(self.n_captions, dtype=np.int64)
        self.captions_by_item = np.argsort(caption_item, kind="stable")
        counts = np.bincount(caption_item, minlength=n_items)
        self.caption_counts = counts
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.i2t_first = np.full(n_items, -1, dtype=np.int64)
        self.i2t_ap = np.full(n_items, np.nan, dtype=np.float64)

    def add_block(self, start: int, block: np.ndarray) -> None:
        """``block[r, c]`` = score of item ``start + r`` with caption ``c`` (modified in place)."""
        stop = start + block.shape[0]
        captions = self.captions_by_item[self.offsets[start]:self.offsets[stop]]
        # The positive pairs take the precomputed positive scores, so that a caption's score
        # never counts as "greater" than itself through rounding differences.
        block[self.caption_item[captions] - start, captions] = self.positive_scores[captions]
        self.t2i_greater += np.count_nonzero(block > self.positive_scores[None, :], axis=0)
        self._add_i2t(start, stop, block)

    def _add_i2t(self, start: int, stop: int, block: np.ndarray) -> None:
        counts = self.caption_counts[start:stop]
        rows = np.flatnonzero(counts)
        if rows.size == 0:
            return
        counts = counts[rows]
        width = int(counts.max())
        slot = np.arange(width)
        valid = slot[None, :] < counts[:, None]
        caption_at = np.where(valid, self.offsets[start + rows][:, None] + slot[None, :], 0)
        caption_at = self.captions_by_item[np.minimum(caption_at, self.n_captions - 1)]
        thresholds = np.where(valid, self.positive_scores[caption_at], np.inf).astype(block.dtype)
        greater = np.full((rows.size, width), self.n_captions + 1, dtype=np.int64)
        scores = block[rows]
        for j in range(width):
            active = counts > j
            if active.all():
                greater[:, j] = np.count_nonzero(scores > thresholds[:, j:j + 1], axis=1)
            else:
                idx = np.flatnonzero(active)
                greater[idx, j] = np.count_nonzero(scores[idx] > thresholds[idx, j:j + 1], axis=1)
        greater.sort(axis=1)
        # 1-based position of the j-th hit (optimistic ties): j + max_{k<=j}(greater_k + 1 - k).
        hit_number = slot[None, :] + 1
        positions = hit_number + np.maximum.accumulate(greater - slot[None, :], axis=1)
        precision = np.where(slot[None, :] < counts[:, None], hit_number / positions, 0.0)
        items = start + rows
        self.i2t_first[items] = greater[:, 0]
        self.i2t_ap[items] = precision.sum(axis=1) / counts


def _summary(ranks: np.ndarray, average_precision: np.ndarray, prefix: str) -> Dict[str, float]:
    if ranks.size == 0:
        raise ConfigError(f"no {prefix} queries to evaluate (no caption belongs to any gallery item)")
    out = {f"{prefix}_r{k}": float(100.0 * np.mean(ranks < k)) for k in RECALL_KS}
    out[f"{prefix}_medr"] = float(np.floor(np.median(ranks)) + 1)
    out[f"{prefix}_meanr"] = float(np.mean(ranks) + 1)
    out[f"{prefix}_map"] = float(np.mean(average_precision))
    out[f"{prefix}_mir"] = float(np.mean(1.0 / (ranks + 1.0)))
    return out


def _finish(counter: _RankCounter, text_item_ids: Sequence, item_ids: Sequence,
            return_ranks: bool) -> Dict:
    t2i_ranks = counter.t2i_greater
    has_caption = counter.caption_counts > 0
    i2t_ranks = counter.i2t_first[has_caption]
    results: Dict = {}
    results.update(_summary(t2i_ranks, 1.0 / (t2i_ranks + 1.0), "t2i"))
    results.update(_summary(i2t_ranks, counter.i2t_ap[has_caption], "i2t"))
    results["sumr"] = float(sum(results[f"{d}_r{k}"] for d in ("t2i", "i2t") for k in RECALL_KS))
    results["t2i_queries"] = int(t2i_ranks.size)
    results["i2t_queries"] = int(i2t_ranks.size)
    if return_ranks:
        results["t2i_ranks"] = t2i_ranks.copy()
        results["t2i_item_ids"] = list(text_item_ids)
        results["i2t_ranks"] = i2t_ranks.copy()
        results["i2t_item_ids"] = [item_ids[i] for i in np.flatnonzero(has_caption)]
        results["i2t_ap"] = counter.i2t_ap[has_caption].copy()
    return results


def _check_chunk_size(chunk_size: int) -> int:
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer (items per block), got {chunk_size!r}")
    return int(chunk_size)


def cosine_scores(query_emb, item_emb) -> np.ndarray:
    """``(n_queries, n_items)`` cosine similarities: the one NumPy score matrix of w2vvx's protocols.

    Args:
        query_emb: ``(n_queries, D)`` query embeddings (any norm).
        item_emb: ``(n_items, D)`` item (or sentence) embeddings of the same space.

    Raises:
        ConfigError: the two are not 2-D with the same dimension.

    Example:
        >>> cosine_scores(np.array([[2.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 3.0]])).tolist()
        [[1.0, 0.0]]
    """
    queries, items = l2_normalize(query_emb), l2_normalize(item_emb)
    if queries.ndim != 2 or items.ndim != 2 or queries.shape[1] != items.shape[1]:
        raise ConfigError(f"query embeddings {queries.shape} and item embeddings {items.shape} must be 2-D with "
                          "the same dimension (encode both with the same model)")
    return queries @ items.T


def evaluate_retrieval(text_emb, text_item_ids: Sequence, item_emb, item_ids: Sequence,
                       chunk_size: int = 1024, normalize: bool = True,
                       return_ranks: bool = False) -> Dict:
    """Compute t2i and i2t metrics for caption embeddings against item (image/video) embeddings.

    Args:
        text_emb: ``(n_captions, D)`` caption embeddings.
        text_item_ids: the item id of each caption (e.g. the part of the sentence id before ``#``).
        item_emb: ``(n_items, D)`` item embeddings.
        item_ids: the ``n_items`` unique item ids, in the row order of ``item_emb``.
        chunk_size: items per block; at most ``chunk_size x n_captions`` scores are held at once.
        normalize: L2-normalise both sides first (cosine similarity); ``False`` uses the inner product.
        return_ranks: also return per-query ranks (``t2i_ranks`` aligned with ``t2i_item_ids``,
            ``i2t_ranks`` / ``i2t_ap`` aligned with ``i2t_item_ids``, the items with a caption),
            e.g. for :func:`w2vvx.evaluation.mrv.mean_rank_variance`.

    Returns:
        dict with ``t2i_r1, t2i_r5, t2i_r10, t2i_medr, t2i_meanr, t2i_map, t2i_mir``, the same with
        ``i2t_``, ``sumr``, ``t2i_queries`` and ``i2t_queries`` (counts), plus the ranks if asked.

    Example:
        >>> items = np.eye(3, dtype=np.float32)
        >>> texts = np.array([[1, 0, 0], [0, 1, 0], [0, 0.9, 0.1]], dtype=np.float32)
        >>> r = evaluate_retrieval(texts, ["a", "b", "b"], items, ["a", "b", "c"])
        >>> r["t2i_r1"], r["i2t_queries"]
        (100.0, 2)
    """
    chunk_size = _check_chunk_size(chunk_size)
    text = _as_matrix(text_emb, "text_emb", normalize)
    items = _as_matrix(item_emb, "item_emb", normalize)
    if text.shape[1] != items.shape[1]:
        raise ConfigError(f"text_emb has dimension {text.shape[1]} but item_emb has {items.shape[1]}; "
                          "both must live in the same space")
    _check_lengths(text, text_item_ids, "text_emb", "text_item_ids")
    _check_lengths(items, item_ids, "item_emb", "item_ids")
    caption_item = _positions_of(text_item_ids, item_ids)
    positive = np.einsum("ij,ij->i", text, items[caption_item], dtype=np.float32)
    counter = _RankCounter(caption_item, len(items), positive)
    for start in range(0, len(items), chunk_size):
        counter.add_block(start, items[start:start + chunk_size] @ text.T)
    return _finish(counter, text_item_ids, item_ids, return_ranks)


def evaluate_from_scores(scores, text_item_ids: Sequence, item_ids: Sequence,
                         chunk_size: int = 1024, return_ranks: bool = False) -> Dict:
    """Same metrics as :func:`evaluate_retrieval` from a precomputed ``(n_captions, n_items)`` score matrix.

    Args:
        scores: ``scores[c, i]`` = similarity of caption ``c`` with item ``i`` (higher is better),
            e.g. a fused matrix from :mod:`w2vvx.evaluation.fusion`.
        text_item_ids: the item id of each caption (row).
        item_ids: the item id of each column.
        chunk_size: columns (items) processed per block.
        return_ranks: also return per-query ranks (see :func:`evaluate_retrieval`).

    Example:
        >>> s = np.array([[0.9, 0.1], [0.2, 0.8]])
        >>> evaluate_from_scores(s, ["x", "y"], ["x", "y"])["sumr"]
        600.0
    """
    chunk_size = _check_chunk_size(chunk_size)
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape != (len(text_item_ids), len(item_ids)):
        raise ConfigError(f"scores must have shape (n_captions, n_items) = ({len(text_item_ids)}, "
                          f"{len(item_ids)}), got {scores.shape}")
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    if np.isnan(scores).any():
        raise ConfigError("scores contain NaN; fix the embeddings or the fusion weights")
    caption_item = _positions_of(text_item_ids, item_ids)
    positive = scores[np.arange(len(caption_item)), caption_item]
    counter = _RankCounter(caption_item, len(item_ids), positive)
    for start in range(0, len(item_ids), chunk_size):
        counter.add_block(start, np.ascontiguousarray(scores[:, start:start + chunk_size].T))
    return _finish(counter, text_item_ids, item_ids, return_ranks)


def _as_matrix(values, name: str, normalize: bool) -> np.ndarray:
    if normalize:
        matrix = l2_normalize(values)
    else:
        matrix = np.ascontiguousarray(values, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ConfigError(f"{name} must be a non-empty 2-D array (N, D), got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ConfigError(f"{name} contains NaN or infinite values")
    return matrix


def _check_lengths(matrix: np.ndarray, ids: Sequence, matrix_name: str, ids_name: str) -> None:
    if len(ids) != matrix.shape[0]:
        raise ConfigError(f"{ids_name} has {len(ids)} entries but {matrix_name} has {matrix.shape[0]} rows; "
                          "give one id per row")
