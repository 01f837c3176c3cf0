"""Approximate nearest-neighbour index: IVF (inverted file, faiss) or HNSW graph (faiss or usearch).

Both libraries are optional (``pip install w2vvx[ann]``). The index stores its own copy of the
vectors; ids are kept by w2vvx (``id.txt``) so that any string id works. ``metric="cos"`` (the default,
as every ranking of w2vvx) normalises vectors and queries for you; ``"ip"`` ranks by inner product;
``"l2"`` ranks by Euclidean distance. Scores returned are similarities (higher is better) for ``ip``/``cos`` and
negative squared distances for ``l2``.

Two index kinds:

* ``"ivf"`` (faiss only, the default with faiss): k-means on a sample of the rows gives ``nlist``
  lists; each vector is stored in the list of its nearest centroid; a query scans the ``nprobe``
  nearest lists. Building costs one k-means on the sample plus one ``N x nlist`` assignment pass, so
  it scales to millions of high-dimensional rows (an HNSW build over 1,000,000 x 2048 vectors takes
  hours on two cores). ``encoding`` stores the vectors as ``"flat"`` float32, ``"fp16"`` (half the
  memory) or ``"sq8"`` (a quarter; lower recall).
* ``"hnsw"``: a navigable small-world graph; very fast queries, slow to build at high dimension.

Folder written by :meth:`ANNIndex.save` (atomically): ``index.bin`` (the library's own file),
``id.txt`` (ids, space-separated), ``meta.json`` (backend, kind, metric, dim, size, parameters and,
when built from a BigFile, the SHA-256 of its ``id.txt`` and its shape, so that an index that no longer
matches its features is refused on load). :func:`build_feature_index` / :func:`load_feature_index`
keep the index with the collection, in ``<collection>/FeatureData/<feat>/ann/``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.atomic import atomic_dir
from w2vvx.io.json_files import read_json_object
from w2vvx.search.ann_support import (MIN_POINTS_PER_LIST, available_backends, builds_on_gpus, check_source,
                                      default_nlist, feature_folder, positive_int, require_backend,
                                      source_fingerprint, usearch_matches)
from w2vvx.vectors import l2_normalize

KINDS = ("ivf", "hnsw")
METRICS = ("ip", "cos", "l2")
ENCODINGS = ("flat", "fp16", "sq8")
INDEX_FILE = "index.bin"
ID_FILE = "id.txt"
META_FILE = "meta.json"
FEATURE_INDEX_DIR = "ann"


class ANNIndex:
    """Approximate top-k index (IVF or HNSW).

    Args:
        dim: vector dimension.
        metric: ``"cos"`` (cosine, the default), ``"ip"`` (inner product) or ``"l2"``.
        backend: ``"faiss"`` or ``"usearch"``; default: the first installed, in that order.
        kind: ``"ivf"`` (faiss only) or ``"hnsw"``; default ``"ivf"`` with faiss, ``"hnsw"`` with usearch.
        nlist: IVF lists; default :func:`default_nlist` of the rows given to the first :meth:`build`.
        nprobe: IVF lists scanned per query; raise it for recall (search time grows about linearly).
        encoding: IVF vector storage: ``"flat"`` (float32), ``"fp16"`` or ``"sq8"``.
        train_size: rows sampled (evenly, from the rows of the first :meth:`build`) for the IVF k-means;
            default ``min(N, 40 * nlist)``.
        train_iterations: k-means iterations for the IVF centroids.
        connectivity: HNSW graph degree (``M``).
        expansion_add: HNSW candidate list size while building (``efConstruction``).
        expansion_search: HNSW candidate list size while searching (``efSearch``); raise it for recall.
        threads: worker threads for build/search (0 = the library's default).
        seed: seed of the IVF training sample and k-means.
        device: where an IVF index is built (its k-means and the assignment of every row to a list):
            ``"auto"`` on every GPU faiss sees (``faiss-gpu`` installed, ``faiss.get_num_gpus() > 0``),
            else the CPU; ``"gpu"`` requires GPUs; ``"cpu"`` never uses them. The built index is kept,
            saved and searched on the CPU. HNSW indexes are built on the CPU.

    Example:
        >>> vectors = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
        >>> index = ANNIndex(8, metric="cos").build(vectors, [f"v{i}" for i in range(200)])
        >>> ids, scores = index.search(vectors[:2], k=3)
        >>> ids[:, 0].tolist()
        ['v0', 'v1']
    """

    def __init__(self, dim: int, metric: str = "cos", backend: Optional[str] = None, kind: Optional[str] = None,
                 nlist: Optional[int] = None, nprobe: int = 16, encoding: str = "flat",
                 train_size: Optional[int] = None, train_iterations: int = 10, connectivity: int = 32,
                 expansion_add: int = 128, expansion_search: int = 128, threads: int = 0, seed: int = 0,
                 device: str = "auto"):
        if backend is None:
            found = available_backends()
            if not found:
                require_backend("faiss")
            backend = found[0]
        self._lib = require_backend(backend)
        if metric not in METRICS:
            raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
        if kind is None:
            kind = "ivf" if backend == "faiss" else "hnsw"
        if kind not in KINDS:
            raise ConfigError(f"kind must be one of {KINDS}, got {kind!r}")
        if kind == "ivf" and backend != "faiss":
            raise ConfigError(f"kind='ivf' needs backend='faiss' (got {backend!r}); use kind='hnsw' with usearch")
        if encoding not in ENCODINGS:
            raise ConfigError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
        positive_int("dim", dim)
        for name, value in (("nprobe", nprobe), ("train_iterations", train_iterations),
                            ("connectivity", connectivity), ("expansion_add", expansion_add),
                            ("expansion_search", expansion_search)):
            positive_int(name, value)
        positive_int("nlist", nlist, allow_none=True)
        positive_int("train_size", train_size, allow_none=True)
        self.dim, self.metric, self.backend, self.kind = int(dim), metric, backend, kind
        if kind == "ivf":
            self.params = {"nlist": None if nlist is None else int(nlist), "nprobe": int(nprobe),
                           "encoding": encoding, "train_size": None if train_size is None else int(train_size),
                           "train_iterations": int(train_iterations), "seed": int(seed)}
        else:
            self.params = {"connectivity": int(connectivity), "expansion_add": int(expansion_add),
                           "expansion_search": int(expansion_search)}
        self.threads = int(threads)
        self.use_gpus = builds_on_gpus(self._lib, self.backend, self.kind, device)
        self.ids: List[str] = []
        self.source: Optional[Dict] = None
        self._index = None if kind == "ivf" else self._new_hnsw()

    def _to_gpus(self, index):
        """A copy of ``index`` spread over every GPU faiss sees."""
        return self._lib.index_cpu_to_all_gpus(index)

    @property
    def nprobe(self) -> int:
        """IVF lists scanned per query (settable)."""
        return self.params["nprobe"]

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self.params["nprobe"] = positive_int("nprobe", value)

    def _new_hnsw(self):
        if self.backend == "usearch":
            return self._lib.Index(ndim=self.dim, metric="l2sq" if self.metric == "l2" else "ip", dtype="f32",
                                   connectivity=self.params["connectivity"],
                                   expansion_add=self.params["expansion_add"],
                                   expansion_search=self.params["expansion_search"])
        faiss = self._lib
        index = faiss.IndexHNSWFlat(self.dim, self.params["connectivity"], self._faiss_metric())
        index.hnsw.efConstruction = self.params["expansion_add"]
        index.hnsw.efSearch = self.params["expansion_search"]
        return index

    def _faiss_metric(self):
        return self._lib.METRIC_L2 if self.metric == "l2" else self._lib.METRIC_INNER_PRODUCT

    def _new_ivf(self, nlist: int):
        faiss = self._lib
        quantizer = faiss.IndexFlatL2(self.dim) if self.metric == "l2" else faiss.IndexFlatIP(self.dim)
        encoding = self.params["encoding"]
        if encoding == "flat":
            index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, self._faiss_metric())
        else:
            qtype = faiss.ScalarQuantizer.QT_fp16 if encoding == "fp16" else faiss.ScalarQuantizer.QT_8bit
            index = faiss.IndexIVFScalarQuantizer(quantizer, self.dim, nlist, qtype, self._faiss_metric())
        index.own_fields = True
        quantizer.this.disown()  # the IVF index owns (and frees) its quantizer
        index.cp.niter = self.params["train_iterations"]
        index.cp.seed = self.params["seed"]
        return index

    def train(self, vectors) -> "ANNIndex":
        """Train the IVF centroids on a sample of ``vectors`` (array or memmap); returns ``self``.

        :meth:`build` calls it on its first rows when the index is untrained; call it yourself to
        train on other rows or to time the two phases apart. HNSW indexes need no training.
        """
        if self.kind != "ivf":
            raise ConfigError("only kind='ivf' indexes are trained; HNSW indexes are built by build()")
        if self._index is not None:
            raise ConfigError("the IVF index is already trained; create a new ANNIndex to retrain")
        if getattr(vectors, "ndim", 0) != 2 or vectors.shape[1] != self.dim or len(vectors) == 0:
            raise ConfigError(f"vectors must have shape (n >= 1, {self.dim}), got {np.shape(vectors)}")
        self._train_ivf(vectors)
        return self

    def _train_ivf(self, vectors) -> None:
        n_rows = len(vectors)
        nlist = self.params["nlist"] or default_nlist(n_rows)
        if nlist > n_rows:
            raise ConfigError(f"nlist={nlist} is larger than the {n_rows} rows to train on; lower nlist")
        size = min(n_rows, self.params["train_size"] or MIN_POINTS_PER_LIST * nlist + nlist)
        rng = np.random.default_rng(self.params["seed"])
        rows = np.sort(rng.choice(n_rows, size, replace=False))
        sample = self._prepare(vectors[rows], "vectors", rows=rows)  # sorted fancy indexing: one pass over a memmap
        index = self._new_ivf(nlist)
        self._set_threads()
        if self.use_gpus:  # k-means on the GPUs, the trained index back on the CPU
            trained = self._to_gpus(index)
            trained.train(sample)
            index = self._lib.index_gpu_to_cpu(trained)
        else:
            index.train(sample)
        self.params["nlist"] = nlist
        self._index = index

    def _set_threads(self) -> None:
        if self.backend == "faiss" and self.threads:
            self._lib.omp_set_num_threads(self.threads)

    def _prepare(self, vectors, what: str, offset: int = 0, rows=None) -> np.ndarray:
        """Float32 rows, checked finite (a bad row is named by its position in the caller's array) and normalised."""
        vectors = np.asarray(vectors)
        if vectors.dtype == object or not np.issubdtype(vectors.dtype, np.number) \
                or np.issubdtype(vectors.dtype, np.complexfloating):
            raise ConfigError(f"{what} must be a real numeric array, got dtype {vectors.dtype}")
        with np.errstate(over="ignore"):
            vectors = vectors.astype(np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ConfigError(f"{what} must have shape (n, {self.dim}), got {vectors.shape}")
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            bad = int(np.argmin(finite))
            row = int(rows[bad]) if rows is not None else offset + bad
            raise DataFormatError(f"{what} row {row} (0-based) holds NaN or Inf (or overflows float32); an index "
                                  "row or query with NaN would show up as a result or duplicate another id: drop "
                                  "or re-encode it")
        if self.metric == "cos":
            vectors = l2_normalize(vectors)
        return np.ascontiguousarray(vectors)

    def __len__(self) -> int:
        return len(self.ids)

    def build(self, vectors, ids: Optional[Sequence[str]] = None, chunk_rows: int = 65536) -> "ANNIndex":
        """Add ``vectors`` (an array or memmap, read ``chunk_rows`` at a time) with their ids; returns ``self``.

        The first call of an IVF index also trains its centroids on a sample of these rows.
        """
        n_rows = len(vectors)
        if n_rows == 0:
            raise ConfigError("no vectors to add; give an (N, dim) array with N >= 1")
        if ids is None:
            ids = [str(len(self.ids) + i) for i in range(n_rows)]
        ids = [str(i) for i in ids]
        if len(ids) != n_rows:
            raise ConfigError(f"got {len(ids)} ids for {n_rows} vectors; give one id per row")
        bad = next((i for i in ids if not i or len(i.split()) != 1), None)
        if bad is not None:
            raise ConfigError(f"id {bad!r} is empty or contains whitespace; ids are stored space-separated")
        if getattr(vectors, "ndim", 2) != 2 or vectors.shape[1] != self.dim:
            raise ConfigError(f"vectors must have shape (n, {self.dim}), got {np.shape(vectors)}")
        chunk_rows = positive_int("chunk_rows", chunk_rows)
        self._check_consistent()
        untrained, before, nlist = self._index is None, len(self.ids), self.params.get("nlist")
        snapshot = self._lib.serialize_index(self._index) if self.backend == "faiss" and self.kind == "hnsw" \
            and before else None
        try:
            if untrained:
                self._train_ivf(vectors)
            self._set_threads()
            target = self._to_gpus(self._index) if self.use_gpus else self._index  # GPUs: rows assigned there
            for start in range(0, n_rows, chunk_rows):
                block = self._prepare(vectors[start:start + chunk_rows], "vectors", offset=start)
                if self.backend == "usearch":
                    keys = np.arange(before + start, before + start + len(block), dtype=np.uint64)
                    target.add(keys, block, threads=self.threads)
                else:
                    target.add(block)
            if target is not self._index:
                self._index = self._lib.index_gpu_to_cpu(target)
        except BaseException:  # atomic: a failed build leaves the index as it was
            if untrained:
                self._index, self.params["nlist"] = None, nlist
            elif self._stored_count() != before:
                self._roll_back(before, snapshot)
            raise
        self.ids.extend(ids)
        self.source = None
        return self

    def search(self, queries, k: int = 10) -> Tuple[np.ndarray, np.ndarray]:
        """Approximate top-``k``: ``(ids, scores)`` arrays of shape ``(n_queries, k)``, best first.

        Missing results (fewer than ``k`` found) have id ``None`` and score ``-inf``.
        """
        positive_int("k", k)
        if not self.ids:
            raise ConfigError("the index is empty; call build(vectors, ids) first")
        self._check_consistent()
        queries = self._prepare(queries, "queries")
        if self.backend == "usearch":
            self._index.expansion_search = max(self.params["expansion_search"], int(k))
            matches = self._index.search(queries, int(k), threads=self.threads)
            keys, distances, counts = usearch_matches(matches, len(queries), int(k))
            found = np.arange(keys.shape[1])[None, :] < counts[:, None]
            scores = -distances if self.metric == "l2" else 1.0 - distances
        else:
            self._set_threads()
            if self.kind == "ivf":
                self._index.nprobe = min(self.params["nprobe"], self.params["nlist"])
            else:
                self._index.hnsw.efSearch = max(self.params["expansion_search"], int(k))
            distances, keys = self._index.search(queries, int(k))
            found = keys >= 0
            scores = -distances if self.metric == "l2" else distances
        scores = np.where(found, scores, -np.inf).astype(np.float32)
        names = np.asarray(self.ids + [None], dtype=object)
        return names[np.where(found, keys, len(self.ids))], scores

    def _stored_count(self) -> int:
        if self._index is None:
            return 0
        return len(self._index) if self.backend == "usearch" else int(self._index.ntotal)

    def _roll_back(self, count: int, snapshot) -> None:
        """Remove the vectors added after the first ``count`` (a build that failed half-way)."""
        stored = self._stored_count()
        if self.backend == "usearch":
            self._index.remove(np.arange(count, stored, dtype=np.uint64))
        elif self.kind == "ivf":
            self._index.remove_ids(self._lib.IDSelectorRange(count, stored))
        else:  # faiss HNSW cannot remove: restore the copy taken before the build
            self._index = self._lib.deserialize_index(snapshot) if snapshot is not None else self._new_hnsw()

    def _check_consistent(self) -> None:
        stored = self._stored_count()
        if stored != len(self.ids):
            raise DataFormatError(f"the index is inconsistent: it holds {stored} vectors but {len(self.ids)} ids "
                                  "(it was changed outside ANNIndex.build); build it again from the vectors")

    def save(self, path, overwrite: bool = False) -> None:
        """Write the index folder atomically (``index.bin``, ``id.txt``, ``meta.json``)."""
        if not self.ids:
            raise ConfigError("the index is empty; call build(vectors, ids) before save")
        self._check_consistent()
        if Path(path).exists() and not overwrite:
            raise ConfigError(f"{path} exists; pass overwrite=True to replace it")
        with atomic_dir(path, overwrite=overwrite) as tmp:
            if self.backend == "usearch":
                self._index.save(os.fspath(tmp / INDEX_FILE))
            else:
                self._lib.write_index(self._index, os.fspath(tmp / INDEX_FILE))
            (tmp / ID_FILE).write_text(" ".join(self.ids) + "\n", encoding="utf-8")
            meta = {"format": "w2vvx-ann", "version": 2, "backend": self.backend, "kind": self.kind,
                    "metric": self.metric, "dim": self.dim, "size": len(self.ids), "params": self.params,
                    "source": self.source}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path, threads: int = 0, features=None) -> "ANNIndex":
        """Open a folder written by :meth:`save`.

        Args:
            path: the index folder.
            threads: worker threads for search.
            features: the BigFile (object or folder) the index must have been built from; when given, an
                index built from another ``id.txt`` or shape is refused (``DataFormatError``: rebuild it).
        """
        path = Path(path)
        for name in (INDEX_FILE, ID_FILE, META_FILE):
            if not (path / name).is_file():
                raise MissingFileError(f"ANN index folder lacks {name}; expected a folder written by "
                                       "ANNIndex.save (build one with build_feature_index)", path=path / name)
        meta_path = path / META_FILE
        meta: Dict = read_json_object(meta_path, fix="build the index again (build_feature_index)")
        if meta.get("format") != "w2vvx-ann":
            raise DataFormatError("not a w2vvx ANN index description (format != 'w2vvx-ann')", path=meta_path)
        try:
            if meta.get("version", 1) == 1:  # HNSW-only layout: parameters at the top level
                kind = "hnsw"
                params = {name: meta[name] for name in ("connectivity", "expansion_add", "expansion_search")}
            else:
                kind, params = meta["kind"], dict(meta["params"])
            index = cls(meta["dim"], metric=meta["metric"], backend=meta["backend"], kind=kind, threads=threads,
                        **params)
            size = int(meta["size"])
        except (KeyError, TypeError, ValueError) as error:
            raise DataFormatError(f"incomplete or invalid index description ({error!r}); re-create the index",
                                  path=meta_path) from None
        index.source = meta.get("source")
        if features is not None:
            check_source(index.source, feature_folder(features), meta_path)
        try:
            if index.backend == "usearch":
                index._index.load(os.fspath(path / INDEX_FILE))
            else:
                index._index = index._lib.read_index(os.fspath(path / INDEX_FILE))
        except (RuntimeError, ValueError, OSError) as error:
            first_line = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise DataFormatError(f"cannot read this {index.backend} index file (truncated, damaged or written by "
                                  f"another library version: {first_line}); build and save the index again",
                                  path=path / INDEX_FILE) from None
        index.ids = (path / ID_FILE).read_text(encoding="utf-8").split()
        stored = index._stored_count()
        if len(index.ids) != size or len(index.ids) != stored:
            raise DataFormatError(f"id.txt has {len(index.ids)} ids but the index holds {stored} "
                                  f"vectors (meta.json says {size}); the folder is inconsistent",
                                  path=path / ID_FILE)
        return index


def feature_index_path(features) -> Path:
    """Where the index of a BigFile is kept: ``<BigFile folder>/ann``."""
    return feature_folder(features) / FEATURE_INDEX_DIR


def build_feature_index(features, overwrite: bool = False, chunk_rows: int = 65536, **index_args) -> ANNIndex:
    """Build an :class:`ANNIndex` over a BigFile (memory-mapped, read in chunks) and save it beside it.

    Args:
        features: a :class:`~w2vvx.io.bigfile.BigFile` or its folder, e.g.
            ``Collection(root, name).feature_dir / feat``.
        overwrite: replace an existing index.
        chunk_rows: rows read and added at a time.
        **index_args: :class:`ANNIndex` arguments (``metric``, ``kind``, ``nlist``, ``nprobe``, ...).

    Returns:
        The built index, also saved atomically in ``<BigFile folder>/ann``.

    Example:
        >>> import tempfile, os
        >>> from w2vvx.io.bigfile import write_bigfile
        >>> folder = os.path.join(tempfile.mkdtemp(), "feat")
        >>> vectors = np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32)
        >>> write_bigfile(folder, [f"v{i}" for i in range(100)], vectors)
        >>> _ = build_feature_index(folder, metric="cos")
        >>> load_feature_index(folder).search(vectors[:1], k=1)[0].tolist()
        [['v0']]
    """
    from w2vvx.io.bigfile import BigFile

    bigfile = features if isinstance(features, BigFile) else BigFile(feature_folder(features))
    target = feature_index_path(bigfile)
    if target.exists() and not overwrite:
        raise ConfigError(f"{target} exists; pass overwrite=True to rebuild it")
    fingerprint = source_fingerprint(bigfile.path)
    index = ANNIndex(bigfile.ndims, **index_args).build(bigfile.matrix, bigfile.names, chunk_rows=chunk_rows)
    index.source = fingerprint
    index.save(target, overwrite=overwrite)
    return index


def load_feature_index(features, threads: int = 0) -> ANNIndex:
    """Load the index saved by :func:`build_feature_index`, refusing one that no longer matches the BigFile."""
    return ANNIndex.load(feature_index_path(features), threads=threads, features=features)

