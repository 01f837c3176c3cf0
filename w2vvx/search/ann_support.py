"""Helpers of :mod:`w2vvx.search.ann`: argument checks, the IVF list count, and the fingerprint of the BigFile an
index was built from (so that a stale index is refused)."""
from __future__ import annotations

import hashlib
import importlib.util
import math
import os
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError

MIN_POINTS_PER_LIST = 39  # faiss warns (and k-means is poor) below 39 training points per centroid
_MAX_NLIST = 4096
ID_FILE = "id.txt"
# faiss first: on 50,000 x 512 clustered vectors, 2 threads, M=16, ef=64 it built in 48 s vs 104 s and
# answered 1,000 queries in 0.56 s vs 1.67 s for usearch, both at recall@10 >= 0.999 (benchmarks/README.md).
BACKENDS = ("faiss", "usearch")


def available_backends() -> List[str]:
    """The ANN libraries importable here, in order of preference."""
    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


def default_nlist(n_rows: int) -> int:
    """IVF list count for ``n_rows`` vectors: about ``sqrt(N)``, at most 4096 and at least 39 rows per list.

    ``sqrt(N)`` (1,000 lists for 1,000,000 rows) balances the ``N x nlist`` assignment pass of the build
    against the rows scanned per query; ``4 * sqrt(N)`` would quadruple the build at 2048-d.

    Example:
        >>> default_nlist(1_000_000), default_nlist(2_000), default_nlist(10)
        (1000, 45, 1)
    """
    if n_rows < 1:
        raise ConfigError(f"n_rows must be positive, got {n_rows}")
    return int(max(1, min(round(math.sqrt(n_rows)), _MAX_NLIST, n_rows // MIN_POINTS_PER_LIST)))


def positive_int(name: str, value, allow_none: bool = False) -> Optional[int]:
    """``value`` as an int, or a ConfigError naming ``name`` (bools and non-positive values refused)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def feature_folder(features) -> Path:
    """A BigFile folder from a BigFile object or a path."""
    folder = Path(getattr(features, "path", features))
    if not (folder / ID_FILE).is_file():
        raise MissingFileError("expected a BigFile folder (feature.bin, id.txt, shape.txt), e.g. "
                               "Collection(...).feature_dir / feat", path=folder / ID_FILE)
    return folder


def source_fingerprint(folder: Path) -> Dict:
    """Path, id.txt SHA-256 and shape of a BigFile folder: what an index built from it records."""
    from w2vvx.io.bigfile import parse_shape_text

    shape = parse_shape_text((folder / "shape.txt").read_bytes(), path=folder / "shape.txt")
    return {"path": os.fspath(folder), "id_sha256": file_sha256(folder / ID_FILE), "shape": list(shape)}


def check_source(source: Optional[Dict], folder: Path, meta_path: Path) -> None:
    """Raise DataFormatError when ``folder`` is not the BigFile the index recorded as its ``source``."""
    current = source_fingerprint(folder)
    if not source:
        raise DataFormatError(f"this index was not built from a BigFile, so it cannot be checked against {folder}; "
                              "rebuild it with build_feature_index", path=meta_path)
    if source.get("id_sha256") != current["id_sha256"] or list(source.get("shape", [])) != current["shape"]:
        raise DataFormatError(
            f"stale ANN index: it was built for {source.get('shape')} features with id.txt sha256 "
            f"{str(source.get('id_sha256'))[:12]}..., but {folder} now has shape {current['shape']} and id.txt "
            f"sha256 {current['id_sha256'][:12]}...; rebuild it with build_feature_index(..., overwrite=True)",
            path=meta_path)


def usearch_matches(matches, n_queries: int, k: int):
    """``(keys, distances, counts)`` arrays ``(n_queries, k)``, ``(n_queries, k)``, ``(n_queries,)`` of a usearch result."""
    if hasattr(matches, "counts"):  # BatchMatches: (n_queries, k) arrays and a count per query
        keys = np.asarray(matches.keys).reshape(n_queries, -1).astype(np.int64)
        distances = np.asarray(matches.distances, dtype=np.float32).reshape(n_queries, -1)
        return keys, distances, np.asarray(matches.counts).reshape(-1)
    # one query: usearch returns Matches, with only the found keys and no counts
    found_keys = np.asarray(matches.keys).reshape(-1).astype(np.int64)
    keys = np.zeros((1, k), dtype=np.int64)
    distances = np.zeros((1, k), dtype=np.float32)
    keys[0, :found_keys.size] = found_keys[:k]
    distances[0, :found_keys.size] = np.asarray(matches.distances, dtype=np.float32).reshape(-1)[:k]
    return keys, distances, np.array([min(found_keys.size, k)])


DEVICES = ("auto", "cpu", "gpu")


def builds_on_gpus(lib, backend: str, kind: str, device: str) -> bool:
    """Whether an index of ``kind`` builds on faiss's GPUs (``device``: see :class:`~w2vvx.search.ann.ANNIndex`).

    Example:
        >>> builds_on_gpus(None, "usearch", "hnsw", "auto")
        False
    """
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {DEVICES}, got {device!r}")
    gpus = int(getattr(lib, "get_num_gpus", lambda: 0)()) if backend == "faiss" else 0
    if device == "gpu":
        if kind != "ivf":
            raise ConfigError(f"device='gpu' builds IVF indexes (faiss); a {backend} {kind} index is "
                              "built on the CPU: use kind='ivf' or device='auto'")
        if gpus == 0:
            raise ConfigError("device='gpu', but faiss sees no GPU: install faiss-gpu (conda install -c pytorch "
                              "faiss-gpu) on a machine with CUDA GPUs, or use device='auto'")
    return device != "cpu" and kind == "ivf" and gpus > 0


def require_backend(backend: str):
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
