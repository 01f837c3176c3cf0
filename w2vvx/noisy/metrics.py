"""Label-based mean average precision for cross-modal retrieval (MRL ``fx_calc_map_label``).

Every query ranks the whole gallery by cosine similarity; gallery items with the query's label are
relevant; AP is the mean over relevant items of the precision at their rank; MAP is the mean AP over
queries with at least one relevant item.
"""
from __future__ import annotations

import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.vectors import l2_normalize


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return l2_normalize(x, dtype=np.float64)


def label_map(queries, query_labels, gallery, gallery_labels, chunk_size: int = 1024) -> float:
    """MAP over the full ranking with relevance = same label, cosine similarity.

    Ties are broken by gallery order (stable sort of descending similarity).

    Args:
        queries: ``(Q, D)`` query features.
        query_labels: ``(Q,)`` labels.
        gallery: ``(G, D)`` gallery features.
        gallery_labels: ``(G,)`` labels.
        chunk_size: queries scored at once (memory ``chunk_size * G``).

    Returns:
        MAP in ``[0, 1]``.

    Example:
        >>> import numpy as np
        >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> label_map(x, [0, 1], x, [0, 1])
        1.0
    """
    queries, gallery = _unit_rows(queries), _unit_rows(gallery)
    query_labels, gallery_labels = np.asarray(query_labels), np.asarray(gallery_labels)
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ConfigError(f"queries and gallery must be 2-D with the same width, got {queries.shape} and {gallery.shape}")
    if len(query_labels) != len(queries) or len(gallery_labels) != len(gallery):
        raise ConfigError(f"label counts ({len(query_labels)}, {len(gallery_labels)}) must match the feature rows "
                          f"({len(queries)}, {len(gallery)})")
    positions = np.arange(1, len(gallery) + 1, dtype=np.float64)
    average_precisions = []
    for start in range(0, len(queries), chunk_size):
        similarity = queries[start:start + chunk_size] @ gallery.T
        order = np.argsort(-similarity, axis=1, kind="stable")
        relevant = gallery_labels[order] == query_labels[start:start + chunk_size, None]
        hits = np.cumsum(relevant, axis=1)
        counts = hits[:, -1]
        precision_sum = np.sum(relevant * hits / positions, axis=1)
        valid = counts > 0
        average_precisions.append(precision_sum[valid] / counts[valid])
    return float(np.mean(np.concatenate(average_precisions)))
