"""A stored search index: a collection's items encoded once by a trained model, searched many times.

``w2vvx index build`` writes it; ``w2vvx search --index`` reads it. The folder::

    index.json     what it holds: kind, metric (cosine), size, dimension, split, collection, feature
    vectors/       the unit-norm item embeddings as a BigFile (also an exact BruteForceIndex)
    ann/           the approximate index over them (kind "faiss" or "usearch"; see ANNIndex)
    captions.txt   optional ``<item id>\\t<caption>`` lines shown beside the results

The provenance of the encoding (which run's model) is recorded beside it by the caller
(``w2vvx.training.run_dir.record_encoding``), so that searching it with another model is refused.

Example:
    >>> import tempfile, os
    >>> folder = os.path.join(tempfile.mkdtemp(), "index")
    >>> vectors = np.eye(4, dtype=np.float32)
    >>> _ = write_index(folder, vectors, ["a", "b", "c", "d"], captions={"b": ["a red bicycle"]})
    >>> index = StoredIndex.load(folder)
    >>> ids, scores = index.search(np.array([[0.0, 1.0, 0.1, 0.0]], np.float32), k=2)
    >>> ids.tolist(), index.captions_of("b")
    ([['b', 'c']], ['a red bicycle'])
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io.atomic import atomic_path
from w2vvx.io.json_files import read_json_object
from w2vvx.vectors import l2_normalize

INDEX_FILE = "index.json"
VECTORS_DIR = "vectors"
ANN_DIR = "ann"
CAPTIONS_FILE = "captions.txt"
KINDS = ("exact", "faiss", "usearch")
_FORMAT = "w2vvx-index"


def is_stored_index(path) -> bool:
    """Whether ``path`` is a folder written by :func:`write_index` / :func:`build_index`."""
    return (Path(path) / INDEX_FILE).is_file()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"index kind must be one of {KINDS} (exact = brute force, faiss/usearch = approximate), "
                          f"got {kind!r}")


def _check_target(folder: Path, overwrite: bool) -> None:
    if is_stored_index(folder):
        if not overwrite:
            raise ConfigError(f"{folder} already holds an index; pass overwrite=True (CLI: --overwrite) to rebuild it")
    elif folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} exists and is not a w2vvx index folder; give a new or empty folder")


def _write_captions(folder: Path, captions: Dict[str, Sequence[str]]) -> None:
    lines = []
    for item, texts in captions.items():
        for text in texts:
            lines.append(f"{item}\t{' '.join(str(text).split())}\n")
    with atomic_path(folder / CAPTIONS_FILE) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")


def source_info(collection: Optional[str], split: Optional[str], feature: Optional[str] = None) -> dict:
    """The ``info`` fields that say where an index's items come from; :meth:`StoredIndex.check_source` reads them.

    Example:
        >>> source_info("toy", "test", "feat32")
        {'collection': 'toy', 'split': 'test', 'feature': 'feat32'}
    """
    return {"collection": collection, "split": split, "feature": feature}


def _finish(folder: Path, kind: str, size: int, dim: int, info: Optional[dict], ann_args: dict,
            captions: Optional[Dict[str, Sequence[str]]]) -> Path:
    from w2vvx.io.bigfile import BigFile

    if kind != "exact":
        from w2vvx.search.ann import ANNIndex

        bigfile = BigFile(folder / VECTORS_DIR)
        index = ANNIndex(dim, metric="cos", backend=kind, **ann_args).build(bigfile.matrix, bigfile.names)
        index.save(folder / ANN_DIR, overwrite=True)
    if captions:
        _write_captions(folder, captions)
    meta = {"format": _FORMAT, "version": 1, "kind": kind, "metric": "cos", "size": int(size), "dim": int(dim),
            **(info or {})}
    with atomic_path(folder / INDEX_FILE) as tmp:  # written last: a folder without it is not an index
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


def write_index(folder, vectors, ids: Sequence[str], kind: str = "exact", info: Optional[dict] = None,
                captions: Optional[Dict[str, Sequence[str]]] = None, overwrite: bool = False, **ann_args) -> Path:
    """Store already encoded item ``vectors`` (normalised here) with their ``ids`` as an index folder.

    Args:
        folder: the index folder (created).
        vectors: ``(N, E)`` item embeddings.
        ids: their item ids.
        kind: ``"exact"``, ``"faiss"`` or ``"usearch"``.
        info: extra fields of ``index.json`` (e.g. ``{"split": "test", "collection": ...}``).
        captions: ``{item id: [caption, ...]}`` shown by ``w2vvx search``.
        overwrite: replace an existing index.
        **ann_args: :class:`~w2vvx.search.ANNIndex` arguments (``kind``, ``nlist``, ``connectivity`` ...).
    """
    from w2vvx.io.bigfile import write_bigfile

    _check_kind(kind)
    folder = Path(folder)
    _check_target(folder, overwrite)
    vectors = l2_normalize(vectors)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / INDEX_FILE).unlink(missing_ok=True)
    write_bigfile(folder / VECTORS_DIR, [str(i) for i in ids], vectors, overwrite=True)
    return _finish(folder, kind, len(vectors), vectors.shape[1], info, ann_args, captions)


def build_index(model, features, folder, item_ids: Optional[Sequence[str]] = None, kind: str = "exact",
                info: Optional[dict] = None, captions: Optional[Dict[str, Sequence[str]]] = None,
                batch_size: int = 1024, overwrite: bool = False, progress: bool = False, **ann_args) -> Path:
    """Encode items with ``model.encode_items`` (batch by batch from a BigFile) and store them as an index.

    Args:
        model: a trained retriever (``keras.saving.load_model("best.keras")``).
        features: the items' ``w2vvx.io.BigFile``.
        folder: the index folder.
        item_ids: the items to index (default: every row of ``features``).
        kind, info, captions, overwrite, **ann_args: see :func:`write_index`.
        batch_size: items per model call.
        progress: show a progress bar while encoding.
    """
    from w2vvx.io.bigfile import BigFile
    from w2vvx.search.encode import encode_items

    _check_kind(kind)
    folder = Path(folder)
    _check_target(folder, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / INDEX_FILE).unlink(missing_ok=True)
    encode_items(model, features, folder / VECTORS_DIR, item_ids=item_ids, batch_size=batch_size, overwrite=True,
                 progress=progress, normalize=True)
    vectors = BigFile(folder / VECTORS_DIR)
    return _finish(folder, kind, len(vectors), vectors.ndims, info, ann_args, captions)


def build_index_from_shards(folder, count: int, kind: str = "exact", info: Optional[dict] = None,
                            captions: Optional[Dict[str, Sequence[str]]] = None, overwrite: bool = False,
                            **ann_args) -> Path:
    """Join the ``count`` shards encoded into ``folder`` (``encode_shard(model, features,
    <folder>/vectors, (i, count))``, CLI ``index build --shard i/n``) and store them as an index.

    Args:
        folder, kind, info, captions, overwrite, **ann_args: see :func:`write_index`.
        count: the number of shards (every one must be encoded; see :mod:`w2vvx.search.sharding`).
    """
    from w2vvx.io.bigfile import BigFile
    from w2vvx.search.sharding import merge_shards, shard_parts

    _check_kind(kind)
    folder = Path(folder)
    shard_parts(folder / VECTORS_DIR, count)  # all there, before anything is replaced
    if is_stored_index(folder) and not overwrite:
        raise ConfigError(f"{folder} already holds an index; pass overwrite=True (CLI: --overwrite) to rebuild it")
    (folder / INDEX_FILE).unlink(missing_ok=True)
    merge_shards(folder / VECTORS_DIR, count, overwrite=True)
    vectors = BigFile(folder / VECTORS_DIR)
    return _finish(folder, kind, len(vectors), vectors.ndims, info, ann_args, captions)


class StoredIndex:
    """An index folder opened for search (vectors memory-mapped; the ANN index loaded when there is one)."""

    def __init__(self, folder: Path, meta: dict, index, captions: Dict[str, List[str]]):
        self.folder = folder
        self.meta = meta
        self.index = index
        self._captions = captions

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def split(self) -> Optional[str]:
        """The split whose items it holds (``None``: every item of the feature file)."""
        return self.meta.get("split")

    @property
    def collection(self) -> Optional[str]:
        """The collection whose items it holds (``None``: not recorded, e.g. written by :func:`write_index`)."""
        return self.meta.get("collection")

    def check_source(self, collection: Optional[str] = None, split: Optional[str] = None) -> None:
        """Refuse to stand for the items of another collection (or another split than the one it holds).

        Args:
            collection: the collection the caller searches; ``None`` accepts any.
            split: the split the caller searches; ``None`` accepts any (a split of an index over every item
                is a subset, accepted: see ``restrict_to`` of :meth:`search`).

        Raises:
            ConfigError: the index was built from another collection or split; the message names both.
        """
        if collection is not None and self.collection is not None and collection != self.collection:
            raise ConfigError(f"the index {self.folder} holds items of collection {self.collection!r}"
                              f"{' (split ' + repr(self.split) + ')' if self.split else ''}, not of {collection!r}; "
                              f"search it with --collection {self.collection}, or build an index of {collection!r} "
                              f"(w2vvx index build RUN --collection {collection} --out DIR)")
        if split is not None and self.split is not None and split != self.split:
            raise ConfigError(f"the index {self.folder} holds the {self.split!r} items, not the {split!r} ones; build "
                              f"an index of that split (w2vvx index build --split {split}) or leave --split out")

    @property
    def ids(self) -> List[str]:
        return list(self.index.ids)

    @classmethod
    def load(cls, folder) -> "StoredIndex":
        """Open an index folder written by :func:`write_index` or :func:`build_index`."""
        from w2vvx.search.brute_force import BruteForceIndex

        folder = Path(folder)
        path = folder / INDEX_FILE
        meta = read_json_object(path, fix="rebuild the index (w2vvx index build)",
                                missing="not a w2vvx index folder (no index.json); build one with `w2vvx index build`")
        if meta.get("format") != _FORMAT or meta.get("kind") not in KINDS:
            raise DataFormatError(f"not a w2vvx index description (format {_FORMAT!r}, kind in {KINDS})", path=path)
        if meta["kind"] == "exact":
            index = BruteForceIndex.load(folder / VECTORS_DIR)
        else:
            from w2vvx.search.ann import ANNIndex

            index = ANNIndex.load(folder / ANN_DIR)
        captions: Dict[str, List[str]] = {}
        if (folder / CAPTIONS_FILE).is_file():
            for line in (folder / CAPTIONS_FILE).read_text(encoding="utf-8").splitlines():
                item, _, text = line.partition("\t")
                captions.setdefault(item, []).append(text)
        return cls(folder, meta, index, captions)

    def captions_of(self, item_id: str) -> List[str]:
        """The stored captions of an item (empty when the index was built without captions)."""
        return list(self._captions.get(str(item_id), []))

    def search(self, queries, k: int = 10, restrict_to: Optional[Sequence[str]] = None):
        """Top-``k`` ``(ids, scores)`` by cosine for ``(n, E)`` query embeddings.

        ``restrict_to`` ranks only these items (exact indexes only; an approximate index must be built
        for the subset).
        """
        queries = l2_normalize(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        if restrict_to is None:
            return self.index.search(queries, k=k)
        if self.kind != "exact":
            raise ConfigError(f"this {self.kind} index holds {len(self.index)} items and cannot be restricted to a "
                              "subset; build an index of those items (w2vvx index build --split ...)")
        from w2vvx.search.brute_force import BruteForceIndex

        position = {item: row for row, item in enumerate(self.index.ids)}
        missing = [item for item in restrict_to if item not in position]
        if missing:
            raise ConfigError(f"{len(missing)} requested items are not in the index {self.folder} "
                              f"(e.g. {missing[:3]}); build the index over them")
        rows = np.asarray([position[item] for item in restrict_to], dtype=np.int64)
        subset = BruteForceIndex(np.asarray(self.index.vectors[np.sort(rows)], dtype=np.float32),
                                 ids=[self.index.ids[row] for row in np.sort(rows)])
        return subset.search(queries, k=k)
