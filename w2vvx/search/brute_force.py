"""Exact top-k search by cosine (default) or inner product over a gallery that may not fit in memory.

The gallery (an array or a read-only ``np.memmap``, e.g. ``BigFile(path).matrix``) is scanned in
blocks of rows; each block's scores are computed with one float32 matrix product, and only the
scores that beat the current k-th best of their query are merged into the running top-k, so the
extra work per score is a single comparison once the first block has been seen. Memory use is the
gallery (memory-mapped: the page cache) plus about ``memory_budget_bytes``.

``metric="cos"`` (the default, as every ranking of w2vvx) normalises the queries and divides each score by
the norm of its gallery row, block by block, so a memory-mapped gallery is never copied; ``metric="ip"``
ranks by the raw inner product (``normalize_queries`` then normalises the queries only).
Ties at the k-th position are broken arbitrarily; results are sorted by decreasing score, then by
increasing row.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.atomic import atomic_dir
from w2vvx.vectors import l2_normalize

FEATURE_FILE = "feature.bin"
ID_FILE = "id.txt"
SHAPE_FILE = "shape.txt"
DTYPE_FILE = "dtype.txt"
STORAGE_DTYPES = ("float32", "float16")
METRICS = ("cos", "ip")
DEFAULT_MEMORY_BUDGET = 256 * 2 ** 20
_MAX_QUERY_BLOCK = 4096


def _rows_per_block(n_queries: int, dim: int, budget: int) -> int:
    # per gallery row: a float32 copy of the row (cast), plus per query: a float32 score,
    # a bool mask and an int64 argpartition index.
    per_row = 4 * dim + n_queries * (4 + 1 + 8)
    return max(1, int(budget // per_row))


def _as_queries(queries, dim: int, normalize: bool) -> np.ndarray:
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ConfigError(f"queries must have shape (n_queries, {dim}) to match the gallery, got {queries.shape}")
    finite = np.isfinite(queries).all(axis=1)
    if not finite.all():
        raise DataFormatError(f"query {int(np.argmin(finite))} (0-based) holds NaN or Inf; a NaN query has no "
                              "ranking (was it encoded from NaN features or by a model whose weights hold NaN?)")
    if normalize:
        queries = l2_normalize(queries)
    return np.ascontiguousarray(queries)


def search(queries, gallery, k: int = 10, chunk_rows: Optional[int] = None, normalize_queries: bool = False,
           memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET, gallery_ids: Optional[Sequence[str]] = None,
           gallery_path=None, metric: str = "cos") -> Tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery rows by cosine similarity (or inner product) for every query.

    Args:
        queries: ``(n_queries, D)`` (or one ``(D,)`` vector).
        gallery: ``(N, D)`` array or read-only memmap, float32 or float16 (computed in float32).
        k: results per query; more than ``N`` is reduced to ``N``.
        chunk_rows: gallery rows per block; default from ``memory_budget_bytes``.
        normalize_queries: L2-normalise the queries first (always done for ``metric="cos"``).
        memory_budget_bytes: bound on the working memory (scores, masks, cast block), not counting
            the gallery itself.
        gallery_ids, gallery_path: the ids of the gallery rows and the file they come from, only to
            name a bad row in an error message.
        metric: ``"cos"`` (cosine similarity) or ``"ip"`` (inner product).

    Returns:
        ``(indices, scores)``: int64 and float32 arrays of shape ``(n_queries, min(k, N))``, best first;
        every index is a valid row and every score finite.

    Raises:
        DataFormatError: a query or a gallery row holds NaN or Inf (the row and its id are named), or
            scores overflow float32; NaN scores would otherwise rank arbitrarily or fill the top-k with
            the index -1 (the last row, in Python).

    Example:
        >>> gallery = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]], dtype=np.float32)
        >>> indices, scores = search(np.array([[1.0, 0.2]]), gallery, k=2)
        >>> indices.tolist(), [round(float(v), 2) for v in scores[0]]
        ([[0, 2]], [0.98, 0.83])
        >>> [round(float(v), 2) for v in search(np.array([[1.0, 0.2]]), gallery, k=2, metric="ip")[1][0]]
        [1.0, 0.84]
    """
    if gallery.ndim != 2:
        raise ConfigError(f"gallery must be a 2-D (N, D) array, got shape {gallery.shape}")
    n_rows, dim = gallery.shape
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    if chunk_rows is not None and (not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1):
        raise ConfigError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    if gallery.dtype not in (np.float32, np.float16):
        raise ConfigError(f"gallery must be float32 or float16, got {gallery.dtype}")
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {METRICS} (cosine or inner product), got {metric!r}")
    queries = _as_queries(queries, dim, normalize_queries or metric == "cos")
    k = int(min(k, n_rows))
    if n_rows == 0 or k == 0:
        return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32)
    indices = np.empty((len(queries), k), dtype=np.int64)
    scores = np.empty((len(queries), k), dtype=np.float32)
    for q_start in range(0, len(queries), _MAX_QUERY_BLOCK):
        block = queries[q_start:q_start + _MAX_QUERY_BLOCK]
        rows = chunk_rows or _rows_per_block(len(block), dim, memory_budget_bytes)
        top_i, top_s = _search_block(block, gallery, k, rows, gallery_ids, gallery_path, cosine=metric == "cos")
        indices[q_start:q_start + len(block)] = top_i
        scores[q_start:q_start + len(block)] = top_s
    return indices, scores


def _bad_row_error(block: np.ndarray, start: int, ids, path) -> DataFormatError:
    row = start + int(np.argmin(np.isfinite(block).all(axis=1)))
    named = f" (id {ids[row]!r})" if ids is not None and row < len(ids) else ""
    return DataFormatError(f"gallery row {row}{named} holds NaN or Inf; re-encode the items (w2vvx encode) from "
                           "finite features, or drop that item", path=path)


def _search_block(queries: np.ndarray, gallery, k: int, chunk_rows: int, ids=None,
                  path=None, cosine: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    n_queries = len(queries)
    best_s = np.full((n_queries, k), -np.inf, dtype=np.float32)
    best_i = np.full((n_queries, k), -1, dtype=np.int64)
    threshold = np.full(n_queries, -np.inf, dtype=np.float32)
    for start in range(0, gallery.shape[0], chunk_rows):
        block = gallery[start:start + chunk_rows]
        if block.dtype != np.float32:
            block = block.astype(np.float32)
        if not np.isfinite(block).all():
            raise _bad_row_error(block, start, ids, path)
        with np.errstate(over="ignore", invalid="ignore"):
            chunk_scores = queries @ block.T
        if not np.isfinite(chunk_scores).all():
            raise DataFormatError("inner products overflow float32 (vectors with huge values); L2-normalise the "
                                  "gallery and the queries", path=path)
        if cosine:  # divide by the row norms (zero rows stay zero): no normalised copy of the gallery
            norms = np.linalg.norm(block, axis=1)
            norms[norms < 1e-12] = 1.0
            chunk_scores /= norms[None, :]
        passing = chunk_scores > threshold[:, None]
        n_passing = int(np.count_nonzero(passing))
        if n_passing == 0:
            continue
        if n_passing > 4 * n_queries * k:
            width = chunk_scores.shape[1]
            if width > k:
                part = np.argpartition(chunk_scores, width - k, axis=1)[:, width - k:]
            else:
                part = np.broadcast_to(np.arange(width), (n_queries, width))
            cand_s = np.take_along_axis(chunk_scores, part, axis=1)
            cand_i = part + start
            merged_s = np.concatenate([best_s, cand_s], axis=1)
            merged_i = np.concatenate([best_i, cand_i], axis=1)
            keep = np.argpartition(merged_s, merged_s.shape[1] - k, axis=1)[:, merged_s.shape[1] - k:]
            best_s = np.take_along_axis(merged_s, keep, axis=1)
            best_i = np.take_along_axis(merged_i, keep, axis=1)
        else:
            rows, cols = np.nonzero(passing)
            best_s, best_i = _merge_sparse(best_s, best_i, rows, chunk_scores[rows, cols], cols + start, k)
        threshold = best_s.min(axis=1)
    order = np.lexsort((best_i, -best_s), axis=1)
    return np.take_along_axis(best_i, order, axis=1), np.take_along_axis(best_s, order, axis=1)


def _merge_sparse(best_s, best_i, rows, values, columns, k):
    """Merge a few (row, value, column) candidates into per-row top-k arrays."""
    n_queries = best_s.shape[0]
    all_rows = np.concatenate([np.repeat(np.arange(n_queries), k), rows])
    all_s = np.concatenate([best_s.ravel(), values])
    all_i = np.concatenate([best_i.ravel(), columns])
    order = np.lexsort((-all_s, all_rows))
    counts = np.bincount(all_rows, minlength=n_queries)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take = (starts[:, None] + np.arange(k)[None, :]).ravel()
    picked = order[take]
    return all_s[picked].reshape(n_queries, k), all_i[picked].reshape(n_queries, k)


class BruteForceIndex:
    """Exact cosine (or inner-product) index over an in-memory or memory-mapped gallery.

    Args:
        vectors: ``(N, D)`` array or read-only memmap (kept by reference when no conversion is
            needed, so a BigFile's ``matrix`` is never loaded whole).
        ids: optional ``N`` ids (strings without whitespace); results then carry ids.
        storage: ``"float32"`` or ``"float16"`` (half the memory; scores computed in float32).
        normalize: L2-normalise the gallery rows (makes an in-memory copy, chunk by chunk).
        memory_budget_bytes: working memory bound for :meth:`search`.
        metric: ``"cos"`` (cosine similarity, the default) or ``"ip"`` (inner product).

    Example:
        >>> index = BruteForceIndex(np.eye(3, dtype=np.float32), ids=["a", "b", "c"])
        >>> ids, scores = index.search(np.array([[0.1, 0.9, 0.0]]), k=2)
        >>> ids.tolist()
        [['b', 'a']]
    """

    def __init__(self, vectors, ids: Optional[Sequence[str]] = None, storage: str = "float32",
                 normalize: bool = False, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET, metric: str = "cos"):
        if metric not in METRICS:
            raise ConfigError(f"metric must be one of {METRICS} (cosine or inner product), got {metric!r}")
        if storage not in STORAGE_DTYPES:
            raise ConfigError(f"storage must be one of {STORAGE_DTYPES}, got {storage!r}")
        if not hasattr(vectors, "ndim") or not hasattr(vectors, "dtype"):
            vectors = np.asarray(vectors)
        if vectors.dtype == object or not np.issubdtype(vectors.dtype, np.number) \
                or np.issubdtype(vectors.dtype, np.complexfloating):
            raise ConfigError(f"vectors must be a real numeric (N, D) array, got dtype {vectors.dtype}")
        if vectors.ndim != 2:
            raise ConfigError(f"vectors must be a 2-D (N, D) array, got shape {vectors.shape}")
        if vectors.shape[0] == 0 or vectors.shape[1] == 0:
            raise ConfigError(f"the gallery is empty (shape {vectors.shape}); an index needs at least one item "
                              "with at least one dimension")
        if ids is not None:
            ids = [str(i) for i in ids]
            if len(ids) != vectors.shape[0]:
                raise ConfigError(f"got {len(ids)} ids for {vectors.shape[0]} vectors; give one id per row")
            bad = next((i for i in ids if not i or len(i.split()) != 1), None)
            if bad is not None:
                raise ConfigError(f"id {bad!r} is empty or contains whitespace; ids are stored space-separated")
        self.ids: Optional[List[str]] = ids
        self.storage = storage
        self.memory_budget_bytes = memory_budget_bytes
        self.vectors = self._convert(vectors, np.dtype(storage), normalize)
        self.metric = metric
        self.path = None

    @staticmethod
    def _convert(vectors, dtype: np.dtype, normalize: bool):
        if vectors.dtype == dtype and not normalize:
            return vectors
        out = np.empty(vectors.shape, dtype=dtype)
        step = max(1, (64 * 2 ** 20) // max(1, 4 * vectors.shape[1]))
        for start in range(0, vectors.shape[0], step):
            block = np.asarray(vectors[start:start + step], dtype=np.float32)
            if normalize:
                block = l2_normalize(block)
            out[start:start + step] = block
        return out

    @property
    def shape(self) -> Tuple[int, int]:
        return tuple(self.vectors.shape)

    def __len__(self) -> int:
        return self.vectors.shape[0]

    def search(self, queries, k: int = 10, normalize_queries: bool = False,
               chunk_rows: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Return ``(ids or row indices, scores)`` of the top-``k`` rows per query, best first."""
        indices, scores = search(queries, self.vectors, k=k, chunk_rows=chunk_rows,
                                 normalize_queries=normalize_queries,
                                 memory_budget_bytes=self.memory_budget_bytes, gallery_ids=self.ids,
                                 gallery_path=getattr(self, "path", None), metric=getattr(self, "metric", "cos"))
        if self.ids is None:
            return indices, scores
        names = np.asarray(self.ids, dtype=object)
        return names[indices], scores

    def save(self, path, overwrite: bool = False) -> None:
        """Write a BigFile-like folder atomically: ``feature.bin`` (storage dtype), ``id.txt``, ``shape.txt``, ``dtype.txt``.

        A float32 index saved this way is also a valid BigFile.
        """
        n_rows, dim = self.vectors.shape
        if Path(path).exists() and not overwrite:
            raise ConfigError(f"{path} exists; pass overwrite=True to replace it")
        storage_dtype = np.dtype(self.storage).newbyteorder("<")
        step = max(1, (64 * 2 ** 20) // max(1, 4 * dim))
        with atomic_dir(path, overwrite=overwrite) as tmp:
            with open(tmp / FEATURE_FILE, "wb") as handle:
                for start in range(0, n_rows, step):
                    np.ascontiguousarray(self.vectors[start:start + step], dtype=storage_dtype).tofile(handle)
            ids = self.ids if self.ids is not None else [str(i) for i in range(n_rows)]
            (tmp / ID_FILE).write_text(" ".join(ids) + "\n", encoding="utf-8")
            (tmp / SHAPE_FILE).write_text(f"{n_rows} {dim}\n", encoding="ascii")
            (tmp / DTYPE_FILE).write_text(self.storage + "\n", encoding="ascii")

    @classmethod
    def load(cls, path, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> "BruteForceIndex":
        """Open a folder written by :meth:`save` (or any BigFile folder) memory-mapped, read-only."""
        from w2vvx.io.bigfile import decode_ids, parse_shape_text

        path = Path(path)
        for name in (FEATURE_FILE, ID_FILE, SHAPE_FILE):
            if not (path / name).is_file():
                raise MissingFileError(f"index folder lacks {name}; expected a folder written by "
                                       "BruteForceIndex.save or a BigFile folder", path=path / name)
        storage = "float32"
        if (path / DTYPE_FILE).is_file():
            storage = (path / DTYPE_FILE).read_text(encoding="ascii").strip()
            if storage not in STORAGE_DTYPES:
                raise DataFormatError(f"expected one of {STORAGE_DTYPES}, found {storage!r}",
                                      path=path / DTYPE_FILE, line=1)
        n_rows, dim = parse_shape_text((path / SHAPE_FILE).read_bytes(), path=path / SHAPE_FILE)
        ids = decode_ids((path / ID_FILE).read_bytes(), path=path / ID_FILE)
        if len(ids) != n_rows:
            raise DataFormatError(f"shape.txt says {n_rows} rows but id.txt has {len(ids)} ids",
                                  path=path / ID_FILE)
        dtype = np.dtype(storage).newbyteorder("<")
        expected = n_rows * dim * dtype.itemsize
        actual = os.path.getsize(path / FEATURE_FILE)
        if actual != expected:
            raise DataFormatError(f"expected {expected} bytes ({n_rows} x {dim} {storage}), found {actual}; "
                                  "the file is truncated or was written with another dtype",
                                  path=path / FEATURE_FILE)
        if n_rows == 0:
            vectors = np.zeros((0, dim), dtype=dtype)
        else:
            vectors = np.memmap(path / FEATURE_FILE, dtype=dtype, mode="r", shape=(n_rows, dim))
        index = cls.__new__(cls)
        index.ids = ids
        index.storage = storage
        index.memory_budget_bytes = memory_budget_bytes
        index.metric = "cos"
        index.vectors = vectors
        index.path = path / FEATURE_FILE
        return index
