"""Late fusion of score matrices (COCO-CN CL+CM fusion, NRCCR query-translation fusion).

* COCO-CN (``code/image-retrieval/fusion/search_fusion_weight.py``): the cross-lingual (CL) and the
  cross-modal (CM) ``(n_queries, n_items)`` score matrices are summed with weights ``w`` and
  ``1 - w``, ``w`` taken from ``{0, 0.01, ..., 0.99}`` by mIR on the validation split
  (:func:`search_fusion_weight`); raw scores by default, optionally rank-normalised.
* CL route: a target-language query is compared with the source-language sentences of the gallery
  items; an item's score is the best (``max``) score over its sentences
  (:func:`sentence_to_item_scores`).
* NRCCR (``validate.py`` ``norm_score`` and ``sim_ratio``; ``tester_vid.py``, ``tester_img.py``):
  each ``(n_queries, n_items)`` score matrix is min-max normalised as a WHOLE (one minimum and one
  maximum over every query and item, :func:`minmax_normalize_matrix`), then
  ``w_native * native + (1 - w_native) * translated``. NRCCR's own ``w`` is the weight of the
  *translated* query (``sim_ratio`` = 0.2 in validation, so the native query weighs 0.8); its video
  tester reports ``w`` in {1.0, 0.8, 0.5, 0.2, 0.0}, its Multi30K image tester ``w = 0.5``
  (:func:`query_translation_fusion` takes the native weight: ``native_weight = 1 - w``).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.evaluation.metrics import cosine_scores, evaluate_from_scores

NORMALIZATIONS = ("none", "minmax", "matrix_minmax", "rank")

#: NRCCR's Multi30K tester (``tester_img.py``) fuses with ``w = 0.5``.
MULTI30K_NATIVE_WEIGHT = 0.5


def minmax_normalize(scores) -> np.ndarray:
    """Min-max normalise each row (query) to [0, 1]; a constant row becomes all zeros.

    Example:
        >>> minmax_normalize(np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]])).tolist()
        [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]]
    """
    scores = _as_scores(scores, "scores")
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    span[span == 0] = 1.0
    return (scores - low) / span


def minmax_normalize_matrix(scores) -> np.ndarray:
    """Min-max normalise the whole matrix to [0, 1] (NRCCR ``validate.py`` ``norm_score``).

    One minimum and one maximum over every entry, so rows keep their relative offsets (a query
    whose scores are all high stays high). A constant matrix becomes all zeros.

    Example:
        >>> minmax_normalize_matrix(np.array([[1.0, 3.0], [2.0, 5.0]])).tolist()
        [[0.0, 0.5], [0.25, 1.0]]
    """
    scores = _as_scores(scores, "scores")
    low = scores.min()
    span = scores.max() - low
    return (scores - low) / (span if span != 0 else 1.0)


def rank_normalize(scores) -> np.ndarray:
    """Replace each row's scores by ``1 - position / n_columns`` of their descending order (COCO-CN ``rank_norm``).

    Example:
        >>> rank_normalize(np.array([[0.2, 0.9, 0.5]])).tolist()
        [[0.33333333333333337, 1.0, 0.6666666666666667]]
    """
    scores = _as_scores(scores, "scores")
    order = np.argsort(-scores, axis=1, kind="stable")
    positions = np.empty_like(order)
    np.put_along_axis(positions, order, np.arange(scores.shape[1])[None, :], axis=1)
    return 1.0 - positions / scores.shape[1]


def normalize_scores(scores, method: str = "minmax") -> np.ndarray:
    """Normalise with ``method``: ``"minmax"`` / ``"rank"`` per query row, ``"matrix_minmax"`` over
    the whole matrix (NRCCR), ``"none"`` unchanged."""
    if method not in NORMALIZATIONS:
        raise ConfigError(f"normalization must be one of {NORMALIZATIONS}, got {method!r}")
    if method == "minmax":
        return minmax_normalize(scores)
    if method == "matrix_minmax":
        return minmax_normalize_matrix(scores)
    if method == "rank":
        return rank_normalize(scores)
    return _as_scores(scores, "scores")


def fuse_scores(matrices: Sequence, weights: Sequence[float], normalization: str = "none") -> np.ndarray:
    """Weighted sum of score matrices of the same shape, each normalised first (see :func:`normalize_scores`).

    Args:
        matrices: list of ``(n_queries, n_items)`` score matrices.
        weights: one weight per matrix.
        normalization: ``"none"`` (COCO-CN default), ``"matrix_minmax"`` (NRCCR), ``"minmax"`` (per
            row) or ``"rank"`` (per row).

    Example:
        >>> a = np.array([[1.0, 0.0]]); b = np.array([[0.0, 2.0]])
        >>> fuse_scores([a, b], [0.5, 0.5]).tolist()
        [[0.5, 1.0]]
    """
    if len(matrices) == 0 or len(matrices) != len(weights):
        raise ConfigError(f"give one weight per score matrix: got {len(matrices)} matrices and "
                          f"{len(weights)} weights")
    fused = None
    for position, (matrix, weight) in enumerate(zip(matrices, weights)):
        normalized = normalize_scores(matrix, normalization)
        if fused is None:
            fused = float(weight) * normalized
        elif normalized.shape != fused.shape:
            raise ConfigError(f"score matrix {position} has shape {normalized.shape}, expected {fused.shape} "
                              "like matrix 0; every matrix must score the same queries against the same items")
        else:
            fused += float(weight) * normalized
    return fused


def query_translation_fusion(native_scores, translated_scores, native_weight: float = 0.8) -> np.ndarray:
    """NRCCR fusion: ``v * norm(native) + (1 - v) * norm(translated)``, ``norm`` over the whole matrix.

    ``norm`` is :func:`minmax_normalize_matrix` (NRCCR ``norm_score``), not a per-row normalisation.

    Args:
        native_scores: scores of the human target-language queries (e.g. Chinese) vs the items.
        translated_scores: scores of their machine translations into the source language.
        native_weight: ``v``, the weight of the native scores: 0.8 as NRCCR's validation
            (``sim_ratio`` 0.2 on the translated query); :data:`MULTI30K_NATIVE_WEIGHT` (0.5) as its
            Multi30K tester. NRCCR's ``w`` is ``1 - native_weight``.

    Example:
        >>> native = np.array([[0.0, 1.0], [0.5, 0.5]]); translated = np.array([[1.0, 0.0], [0.0, 0.0]])
        >>> query_translation_fusion(native, translated).round(2).tolist()
        [[0.2, 0.8], [0.4, 0.4]]
    """
    if not 0.0 <= native_weight <= 1.0:
        raise ConfigError(f"native_weight must be in [0, 1], got {native_weight}")
    return fuse_scores([native_scores, translated_scores], [native_weight, 1.0 - native_weight],
                       normalization="matrix_minmax")


def search_fusion_weight(scores_a, scores_b, text_item_ids: Sequence, item_ids: Sequence,
                         metric: str = "mir", grid: Optional[Sequence[float]] = None,
                         normalization: str = "none") -> Tuple[float, float, Dict[float, float]]:
    """Pick ``w`` maximising ``metric`` of ``w * scores_a + (1 - w) * scores_b`` (COCO-CN CLM).

    Run it on the validation split and apply the weight to the test split with :func:`fuse_scores`.

    Args:
        scores_a: ``(n_queries, n_items)`` scores (COCO-CN: the CL route).
        scores_b: scores of the same shape (COCO-CN: the CM route).
        text_item_ids: the item id of each query row.
        item_ids: the item id of each column.
        metric: ``"mir"`` (t2i mean inverted rank, COCO-CN) or ``"sumr"`` (NRCCR/dual encoding).
        grid: candidate weights; default ``{0, 0.01, ..., 0.99}`` as COCO-CN.
        normalization: per-row normalisation before fusing (see :func:`fuse_scores`).

    Returns:
        ``(best_weight, best_value, {weight: value})``; ties go to the first weight of the grid.

    Example:
        >>> a = np.array([[0.9, 0.1], [0.8, 0.2]]); b = np.array([[0.9, 0.1], [0.1, 0.9]])
        >>> search_fusion_weight(a, b, ["x", "y"], ["x", "y"], grid=[0.0, 0.5, 1.0])[0]
        0.0
    """
    metric_keys = {"mir": "t2i_mir", "sumr": "sumr"}
    if metric not in metric_keys:
        raise ConfigError(f"metric must be one of {sorted(metric_keys)}, got {metric!r}")
    grid = np.arange(0.0, 1.0, 0.01) if grid is None else np.asarray(grid, dtype=np.float64)
    if grid.size == 0:
        raise ConfigError("grid of fusion weights is empty")
    a = normalize_scores(scores_a, normalization)
    b = normalize_scores(scores_b, normalization)
    if a.shape != b.shape:
        raise ConfigError(f"scores_a has shape {a.shape} but scores_b has {b.shape}")
    values: Dict[float, float] = {}
    best_weight, best_value = None, -np.inf
    for weight in grid:
        weight = round(float(weight), 10)
        value = evaluate_from_scores(weight * a + (1.0 - weight) * b, text_item_ids, item_ids)[metric_keys[metric]]
        values[weight] = value
        if value > best_value:
            best_weight, best_value = weight, value
    return best_weight, best_value, values


def sentence_to_item_scores(query_emb, sentence_emb, sentence_item_ids: Sequence, item_ids: Sequence,
                            reduce: str = "max", normalize: bool = True, chunk_size: int = 1024) -> np.ndarray:
    """Score queries against items through the items' sentences (COCO-CN CL route).

    Args:
        query_emb: ``(n_queries, D)`` query-sentence embeddings (e.g. Chinese queries).
        sentence_emb: ``(n_sentences, D)`` embeddings of the gallery sentences (e.g. English).
        sentence_item_ids: the item id of each gallery sentence.
        item_ids: the items to score (columns of the result); each needs at least one sentence.
        reduce: ``"max"`` (best sentence) or ``"mean"`` over an item's sentences.
        normalize: cosine similarity (L2-normalise both sides) instead of the inner product.
        chunk_size: queries per block.

    Returns:
        ``(n_queries, n_items)`` float32 scores.

    Example:
        >>> q = np.array([[1.0, 0.0]]); s = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
        >>> [round(float(v), 2) for v in sentence_to_item_scores(q, s, ["a", "b", "b"], ["a", "b"])[0]]
        [1.0, 0.6]
    """
    if reduce not in ("max", "mean"):
        raise ConfigError(f"reduce must be 'max' or 'mean', got {reduce!r}")
    queries = np.asarray(query_emb, dtype=np.float32)
    sentences = np.asarray(sentence_emb, dtype=np.float32)
    if queries.ndim != 2 or sentences.ndim != 2 or queries.shape[1] != sentences.shape[1]:
        raise ConfigError(f"query_emb {queries.shape} and sentence_emb {sentences.shape} must be 2-D "
                          "with the same dimension")
    if len(sentence_item_ids) != len(sentences):
        raise ConfigError(f"sentence_item_ids has {len(sentence_item_ids)} entries for {len(sentences)} sentences")
    column = {item_id: position for position, item_id in enumerate(item_ids)}
    if len(column) != len(item_ids):
        raise ConfigError("item_ids must be unique")
    owner = np.array([column.get(item_id, -1) for item_id in sentence_item_ids], dtype=np.int64)
    keep = owner >= 0
    counts = np.bincount(owner[keep], minlength=len(item_ids))
    if (counts == 0).any():
        missing = [item_ids[i] for i in np.flatnonzero(counts == 0)[:5]]
        raise ConfigError(f"{int((counts == 0).sum())} items have no sentence (e.g. {missing}); "
                          "every item needs at least one sentence to be scored")
    order = np.flatnonzero(keep)[np.argsort(owner[keep], kind="stable")]
    sentences = sentences[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.empty((len(queries), len(item_ids)), dtype=np.float32)
    for start in range(0, len(queries), chunk_size):
        block = queries[start:start + chunk_size]
        sims = cosine_scores(block, sentences) if normalize else block @ sentences.T
        if reduce == "max":
            out[start:start + chunk_size] = np.maximum.reduceat(sims, starts, axis=1)
        else:
            out[start:start + chunk_size] = np.add.reduceat(sims, starts, axis=1) / counts
    return out


def _as_scores(scores, name: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.size == 0:
        raise ConfigError(f"{name} must be a non-empty 2-D (n_queries, n_items) matrix, got shape {scores.shape}")
    return scores
