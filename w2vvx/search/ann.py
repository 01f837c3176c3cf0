"""Approximate nearest-neighbour index (HNSW) through faiss-cpu (default) or usearch.

Both libraries are optional (``pip install w2vvx[ann]``). The index stores its own copy of the
vectors; ids are kept by w2vvx (``id.txt``) so that any string id works. ``metric="ip"`` ranks by
inner product (cosine on L2-normalised vectors); ``"cos"`` normalises for you; ``"l2"`` ranks by
Euclidean distance. Scores returned are similarities (higher is better) for ``ip``/``cos`` and
negative squared distances for ``l2``.

Folder written by :meth:`ANNIndex.save` (atomically): ``index.bin`` (the library's own file),
``id.txt`` (ids, space-separated), ``meta.json`` (backend, metric, dim, parameters).
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.atomic import atomic_dir

# faiss first: on 50,000 x 512 clustered vectors, 2 threads, M=16, ef=64 it built in 48 s vs 104 s and
# answered 1,000 queries in 0.56 s vs 1.67 s for usearch, both at recall@10 >= 0.999 (benchmarks/README.md).
BACKENDS = ("faiss", "usearch")
METRICS = ("ip", "cos", "l2")
INDEX_FILE = "index.bin"
ID_FILE = "id.txt"
META_FILE = "meta.json"


def available_backends() -> List[str]:
    """The ANN libraries importable here, in order of preference."""
    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


def _require(backend: str):
    if backend not in BACKENDS:
        raise ConfigError(f"ANN backend must be one of {BACKENDS}, got {backend!r}")
    if importlib.util.find_spec(backend) is None:
        package = "faiss-cpu" if backend == "faiss" else backend
        raise ConfigError(f"the ANN backend {backend!r} is not installed; run `pip install w2vvx[ann]` "
                          f"(or `pip install {package}`), or use w2vvx.search.BruteForceIndex")
    if backend == "usearch":
        from usearch import index as usearch_index
        return usearch_index
    import faiss
    return faiss


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class ANNIndex:
    """HNSW index for approximate top-k search.

    Args:
        dim: vector dimension.
        metric: ``"ip"`` (inner product), ``"cos"`` (cosine) or ``"l2"``.
        backend: ``"faiss"`` or ``"usearch"``; default: the first installed, in that order.
        connectivity: HNSW graph degree (``M``).
        expansion_add: candidate list size while building (``efConstruction``).
        expansion_search: candidate list size while searching (``efSearch``); raise it for recall.
        threads: worker threads for build/search (0 = the library's default).

    Example:
        >>> vectors = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
        >>> index = ANNIndex(8, metric="cos").build(vectors, [f"v{i}" for i in range(200)])
        >>> ids, scores = index.search(vectors[:2], k=3)
        >>> ids[:, 0].tolist()
        ['v0', 'v1']
    """

    def __init__(self, dim: int, metric: str = "ip", backend: Optional[str] = None, connectivity: int = 32,
                 expansion_add: int = 128, expansion_search: int = 128, threads: int = 0):
        if backend is None:
            found = available_backends()
            if not found:
                _require("usearch")
            backend = found[0]
        self._lib = _require(backend)
        if metric not in METRICS:
            raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError(f"dim must be a positive integer, got {dim!r}")
        for name, value in (("connectivity", connectivity), ("expansion_add", expansion_add),
                            ("expansion_search", expansion_search)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        self.dim, self.metric, self.backend = int(dim), metric, backend
        self.params = {"connectivity": int(connectivity), "expansion_add": int(expansion_add),
                       "expansion_search": int(expansion_search)}
        self.threads = int(threads)
        self.ids: List[str] = []
        self._index = self._new_index()

    def _new_index(self):
        if self.backend == "usearch":
            return self._lib.Index(ndim=self.dim, metric="l2sq" if self.metric == "l2" else "ip", dtype="f32",
                                   connectivity=self.params["connectivity"],
                                   expansion_add=self.params["expansion_add"],
                                   expansion_search=self.params["expansion_search"])
        faiss = self._lib
        faiss_metric = faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        index = faiss.IndexHNSWFlat(self.dim, self.params["connectivity"], faiss_metric)
        index.hnsw.efConstruction = self.params["expansion_add"]
        index.hnsw.efSearch = self.params["expansion_search"]
        return index

    def _prepare(self, vectors, what: str) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ConfigError(f"{what} must have shape (n, {self.dim}), got {vectors.shape}")
        if self.metric == "cos":
            vectors = _normalized(vectors)
        return np.ascontiguousarray(vectors)

    def __len__(self) -> int:
        return len(self.ids)

    def build(self, vectors, ids: Optional[Sequence[str]] = None, chunk_rows: int = 65536) -> "ANNIndex":
        """Add ``vectors`` (an array or memmap, read ``chunk_rows`` at a time) with their ids; returns ``self``."""
        n_rows = len(vectors)
        if ids is None:
            ids = [str(len(self.ids) + i) for i in range(n_rows)]
        ids = [str(i) for i in ids]
        if len(ids) != n_rows:
            raise ConfigError(f"got {len(ids)} ids for {n_rows} vectors; give one id per row")
        bad = next((i for i in ids if not i or len(i.split()) != 1), None)
        if bad is not None:
            raise ConfigError(f"id {bad!r} is empty or contains whitespace; ids are stored space-separated")
        for start in range(0, n_rows, chunk_rows):
            block = self._prepare(vectors[start:start + chunk_rows], "vectors")
            first = len(self.ids) + start
            if self.backend == "usearch":
                keys = np.arange(first, first + len(block), dtype=np.uint64)
                self._index.add(keys, block, threads=self.threads)
            else:
                if self.threads:
                    self._lib.omp_set_num_threads(self.threads)
                self._index.add(block)
        self.ids.extend(ids)
        return self

    def search(self, queries, k: int = 10) -> Tuple[np.ndarray, np.ndarray]:
        """Approximate top-``k``: ``(ids, scores)`` arrays of shape ``(n_queries, k)``, best first.

        Missing results (fewer than ``k`` found) have id ``None`` and score ``-inf``.
        """
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        if not self.ids:
            raise ConfigError("the index is empty; call build(vectors, ids) first")
        queries = self._prepare(queries, "queries")
        if self.backend == "usearch":
            self._index.expansion_search = max(self.params["expansion_search"], int(k))
            matches = self._index.search(queries, int(k), threads=self.threads)
            keys = np.asarray(matches.keys).reshape(len(queries), -1).astype(np.int64)
            distances = np.asarray(matches.distances, dtype=np.float32).reshape(len(queries), -1)
            counts = np.asarray(matches.counts).reshape(-1)
            found = np.arange(keys.shape[1])[None, :] < counts[:, None]
            scores = -distances if self.metric == "l2" else 1.0 - distances
        else:
            if self.threads:
                self._lib.omp_set_num_threads(self.threads)
            self._index.hnsw.efSearch = max(self.params["expansion_search"], int(k))
            distances, keys = self._index.search(queries, int(k))
            found = keys >= 0
            scores = -distances if self.metric == "l2" else distances
        scores = np.where(found, scores, -np.inf).astype(np.float32)
        names = np.asarray(self.ids + [None], dtype=object)
        return names[np.where(found, keys, len(self.ids))], scores

    def save(self, path, overwrite: bool = False) -> None:
        """Write the index folder atomically (``index.bin``, ``id.txt``, ``meta.json``)."""
        if Path(path).exists() and not overwrite:
            raise ConfigError(f"{path} exists; pass overwrite=True to replace it")
        with atomic_dir(path, overwrite=overwrite) as tmp:
            if self.backend == "usearch":
                self._index.save(os.fspath(tmp / INDEX_FILE))
            else:
                self._lib.write_index(self._index, os.fspath(tmp / INDEX_FILE))
            (tmp / ID_FILE).write_text(" ".join(self.ids) + "\n", encoding="utf-8")
            meta = {"format": "w2vvx-ann", "version": 1, "backend": self.backend, "metric": self.metric,
                    "dim": self.dim, "size": len(self.ids), **self.params}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path, threads: int = 0) -> "ANNIndex":
        """Open a folder written by :meth:`save`."""
        path = Path(path)
        for name in (INDEX_FILE, ID_FILE, META_FILE):
            if not (path / name).is_file():
                raise MissingFileError(f"ANN index folder lacks {name}; expected a folder written by "
                                       "ANNIndex.save", path=path / name)
        try:
            meta: Dict = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise DataFormatError(f"not valid JSON ({error.msg})", path=path / META_FILE, line=error.lineno) from None
        if meta.get("format") != "w2vvx-ann":
            raise DataFormatError("not a w2vvx ANN index description (format != 'w2vvx-ann')", path=path / META_FILE)
        index = cls(meta["dim"], metric=meta["metric"], backend=meta["backend"], connectivity=meta["connectivity"],
                    expansion_add=meta["expansion_add"], expansion_search=meta["expansion_search"], threads=threads)
        if index.backend == "usearch":
            index._index.load(os.fspath(path / INDEX_FILE))
        else:
            index._index = index._lib.read_index(os.fspath(path / INDEX_FILE))
        index.ids = (path / ID_FILE).read_text(encoding="utf-8").split()
        stored = len(index._index) if index.backend == "usearch" else index._index.ntotal
        if len(index.ids) != meta["size"] or len(index.ids) != stored:
            raise DataFormatError(f"id.txt has {len(index.ids)} ids but the index holds {stored} "
                                  f"vectors (meta.json says {meta['size']}); the folder is inconsistent",
                                  path=path / ID_FILE)
        return index
