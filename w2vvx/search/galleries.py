"""What a text search ranks: a stored index, a BigFile of encoded items, or a collection's items encoded now.

``w2vvx search`` (the CLI) chooses the gallery from its options and prints the hits; the ranking is here:

* :func:`open_gallery`: a folder written by ``w2vvx index build`` (:class:`~w2vvx.search.index_store.StoredIndex`)
  or by ``w2vvx encode`` (a :class:`~w2vvx.io.bigfile.BigFile` of item embeddings);
* :func:`check_scope`: refuse a gallery that does not hold the collection or split asked for (a usage
  mistake: the CLI reports it as one);
* :func:`search_gallery`: top-k ``(ids, scores, captions_of)`` over the gallery, restricted to a split's items
  when asked;
* :func:`search_items`: encode the items with the model now and rank them.

Every ranking is by cosine similarity of the query embeddings (``model.encode_text``) with the items.

Example:
    >>> import numpy as np
    >>> from w2vvx.search.brute_force import BruteForceIndex
    >>> gallery = BruteForceIndex(np.eye(3, dtype=np.float32), ids=["a", "b", "c"])
    >>> ids, scores, captions_of = search_gallery(gallery, np.array([[0.1, 0.9, 0.0]]), k=2)
    >>> ids.tolist(), captions_of("b")
    ([['b', 'a']], [])
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError

#: ``(ids, scores, captions_of)``: ``(n_queries, k)`` ids and cosine scores, and ``item id -> [caption, ...]``.
SearchResult = Tuple[np.ndarray, np.ndarray, Callable[[str], List[str]]]


def open_gallery(folder):
    """The gallery stored in ``folder``: a :class:`StoredIndex` (``w2vvx index build``) or a BigFile of
    encoded items (``w2vvx encode``)."""
    from w2vvx.search.index_store import StoredIndex, is_stored_index

    if is_stored_index(folder):
        return StoredIndex.load(folder)
    from w2vvx.io.bigfile import BigFile

    return BigFile(folder)


def scope_collection(gallery, collection: Optional[str]) -> Optional[str]:
    """The collection whose split items restrict a search: ``collection``, else the one a stored index records."""
    if _is_stored(gallery):
        return collection or gallery.collection
    return collection


def needs_split_items(gallery, split: Optional[str]) -> bool:
    """Whether searching ``split`` in ``gallery`` needs that split's item ids (a subset of the gallery's items)."""
    if split is None:
        return False
    return split != gallery.split if _is_stored(gallery) else True


def check_scope(gallery, collection: Optional[str] = None, split: Optional[str] = None,
                split_item_ids: Optional[Sequence[str]] = None) -> None:
    """Refuse a gallery that does not hold the items asked for.

    Args:
        gallery: from :func:`open_gallery`.
        collection, split: what the caller searches (``None``: anything).
        split_item_ids: the items of ``split`` (see :func:`needs_split_items`).

    Raises:
        ConfigError: a stored index of another collection or split; a BigFile without some items of ``split``.
    """
    if _is_stored(gallery):
        gallery.check_source(collection=collection, split=split)
        return
    if split is not None and split_item_ids is not None:
        missing = [item for item in split_item_ids if item not in gallery]
        if missing:
            raise ConfigError(f"{len(missing)} items of split {split!r} are not in {gallery.path} (e.g. "
                              f"{missing[:3]}); encode that split (w2vvx encode --split {split})")


def search_gallery(gallery, query_emb, k: int = 10, split: Optional[str] = None,
                   split_item_ids: Optional[Sequence[str]] = None) -> SearchResult:
    """Top-``k`` items of ``gallery`` for each query embedding (cosine), only ``split_item_ids`` when given.

    Args:
        gallery: a :class:`StoredIndex`, a BigFile of item embeddings or a :class:`BruteForceIndex`.
        query_emb: ``(n_queries, E)`` query embeddings of the model that encoded the gallery.
        k: hits per query.
        split: the split searched (``None``: every item).
        split_item_ids: its items, when the gallery holds more (see :func:`needs_split_items`).
    """
    from w2vvx.search.brute_force import BruteForceIndex

    if _is_stored(gallery):
        restrict = split_item_ids if needs_split_items(gallery, split) else None
        ids, scores = gallery.search(query_emb, k=k, restrict_to=restrict)
        return ids, scores, gallery.captions_of
    if not isinstance(gallery, BruteForceIndex):  # a BigFile of encoded items, memory-mapped
        if split_item_ids is not None and len(split_item_ids) != len(gallery):
            names, vectors = gallery.read(list(split_item_ids))
            gallery = BruteForceIndex(np.asarray(vectors, np.float32), ids=names)
        else:
            gallery = BruteForceIndex(gallery.matrix, ids=gallery.names)
    ids, scores = gallery.search(query_emb, k=k, normalize_queries=True)
    return ids, scores, _no_captions


def search_items(model, features, item_ids: Sequence[str], query_emb, k: int = 10, captions=None) -> SearchResult:
    """Encode ``item_ids`` with ``model`` now (``model.encode_items``) and rank them for each query embedding.

    Args:
        model: the retriever that encoded the queries.
        features: the items' visual features (a BigFile or what ``encode_items`` accepts).
        item_ids: the gallery.
        query_emb: ``(n_queries, E)`` query embeddings.
        k: hits per query.
        captions: ``{item id: [caption, ...]}`` shown with the hits.
    """
    from w2vvx.search.brute_force import BruteForceIndex

    item_ids = list(item_ids)
    gallery = BruteForceIndex(model.encode_items(features, item_ids=item_ids), ids=item_ids)
    ids, scores = gallery.search(query_emb, k=k, normalize_queries=True)
    captions = dict(captions or {})
    return ids, scores, lambda item: list(captions.get(item, []))


def _is_stored(gallery) -> bool:
    from w2vvx.search.index_store import StoredIndex

    return isinstance(gallery, StoredIndex)


def _no_captions(item) -> List[str]:
    return []


__all__ = ["SearchResult", "open_gallery", "scope_collection", "needs_split_items", "check_scope", "search_gallery",
           "search_items"]
