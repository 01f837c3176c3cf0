"""Cross-lingual evaluation routes, defined once: CM, CL, CLM (COCO-CN) and query-translation fusion (NRCCR).

Every function takes embeddings or score matrices (NumPy) and item ids; encoding them is the caller's
business (a trained run's ``encode_text`` / ``encode_visual``). Rankings use cosine similarity.

* **CM** (cross-modal, :func:`cross_modal_scores`): the target-language query against the items
  through the target-language model.
* **CL** (cross-lingual, :func:`cross_lingual_scores`): as COCO-CN ``zh2en_sim.py``: each
  target-language test sentence is compared (cosine) with the source-language test sentences, ONE
  per item (``mscoco2014dev-test`` holds one English sentence per image), both mapped into the
  visual feature space by their own model; the score of an item is the score of its sentence.
  :func:`first_sentence_per_item` picks that sentence (the first one of each item, in file order).
* **CLM** (:func:`clm_rows`): ``w * CL + (1 - w) * CM`` on raw scores, ``w`` in {0, 0.01, ..., 0.99}
  chosen by mIR on the validation split (COCO-CN ``fusion/search_fusion_weight.py``,
  ``rank_norm = 0``), then applied to the test split.
* **Query-translation fusion** (:func:`translation_fusion_rows`): NRCCR's
  ``v * norm(native) + (1 - v) * norm(MT of the query)``, ``norm`` min-max over the whole matrix
  (:func:`w2vvx.evaluation.fusion.query_translation_fusion`).

Example:
    >>> import numpy as np
    >>> queries = np.array([[1.0, 0.0], [0.0, 1.0]]); items = np.array([[1.0, 0.1], [0.1, 1.0]])
    >>> english = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> cl = cross_lingual_scores(queries, english, ["a", "a", "b"], ["a", "b"])
    >>> rows, weight = clm_rows(cl, cross_modal_scores(queries, items), ["a", "b"], ["a", "b"],
    ...                         grid=[0.0, 0.5])
    >>> list(rows), weight
    (['CL', 'CM', 'CLM (w=0.00)'], 0.0)
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.evaluation.fusion import fuse_scores, query_translation_fusion, search_fusion_weight
from w2vvx.evaluation.metrics import cosine_scores, evaluate_from_scores

#: Native-query weights NRCCR's video tester reports (its ``w`` is the MT weight: ``w = 1 - v``).
NRCCR_NATIVE_WEIGHTS = (1.0, 0.8, 0.5, 0.2, 0.0)


def cross_modal_scores(query_emb, item_emb) -> np.ndarray:
    """CM: target-language queries vs items through the target-language model (cosine)."""
    return cosine_scores(query_emb, item_emb)


def first_sentence_per_item(sentence_item_ids: Sequence, item_ids: Sequence) -> List[int]:
    """Positions of the first sentence of each of ``item_ids`` (in ``item_ids`` order).

    Raises:
        ConfigError: an item has no sentence.

    Example:
        >>> first_sentence_per_item(["b", "a", "b", "a"], ["a", "b"])
        [1, 0]
    """
    first: Dict[str, int] = {}
    for position, item in enumerate(sentence_item_ids):
        first.setdefault(str(item), position)
    missing = [item for item in item_ids if str(item) not in first]
    if missing:
        raise ConfigError(f"{len(missing)} items have no source-language sentence for the CL route (e.g. "
                          f"{missing[:3]}); every test item needs one")
    return [first[str(item)] for item in item_ids]


def cross_lingual_scores(query_emb, sentence_emb, sentence_item_ids: Sequence, item_ids: Sequence) -> np.ndarray:
    """CL as COCO-CN ``zh2en_sim.py``: queries vs ONE source-language sentence per item (the first).

    Args:
        query_emb: ``(n_queries, D)`` target-language queries mapped by the target-language model.
        sentence_emb: ``(n_sentences, D)`` source-language test sentences mapped by the source model
            (into the same space: the visual feature space of W2VV models).
        sentence_item_ids: the item of each sentence.
        item_ids: the columns of the result.

    Returns:
        ``(n_queries, n_items)`` cosine scores.
    """
    sentence_emb = np.asarray(sentence_emb)
    if len(sentence_item_ids) != len(sentence_emb):
        raise ConfigError(f"sentence_item_ids has {len(sentence_item_ids)} entries for {len(sentence_emb)} sentences")
    return cosine_scores(query_emb, sentence_emb[first_sentence_per_item(sentence_item_ids, item_ids)])


def clm_rows(cl_val, cm_val, val_query_items: Sequence, val_items: Sequence, cl_test=None, cm_test=None,
             test_query_items: Optional[Sequence] = None, test_items: Optional[Sequence] = None,
             metric: str = "mir", grid: Optional[Sequence[float]] = None, return_ranks: bool = False
             ) -> Tuple[Dict[str, dict], float]:
    """COCO-CN's CL, CM and CLM rows: the fusion weight is chosen on validation, applied to test.

    Args:
        cl_val, cm_val: validation score matrices of the CL and CM routes.
        val_query_items, val_items: validation query items and gallery items.
        cl_test, cm_test, test_query_items, test_items: the same on the test split (default: the
            validation ones, e.g. for a quick check).
        metric: ``"mir"`` (COCO-CN) or ``"sumr"``.
        grid: candidate weights of CL; default {0, 0.01, ..., 0.99}.
        return_ranks: keep the per-query ranks in the CM row (for MRV).

    Returns:
        ``({"CL": metrics, "CM": metrics, "CLM (w=<w>)": metrics}, w)``.
    """
    weight, _, _ = search_fusion_weight(cl_val, cm_val, val_query_items, val_items, metric=metric, grid=grid)
    if cl_test is None:
        cl_test, cm_test, test_query_items, test_items = cl_val, cm_val, val_query_items, val_items
    rows = {"CL": evaluate_from_scores(cl_test, test_query_items, test_items),
            "CM": evaluate_from_scores(cm_test, test_query_items, test_items, return_ranks=return_ranks),
            f"CLM (w={weight:.2f})": evaluate_from_scores(fuse_scores([cl_test, cm_test], [weight, 1.0 - weight]),
                                                          test_query_items, test_items)}
    return rows, weight


def translation_fusion_rows(native_scores, translated_scores, query_items: Sequence, item_ids: Sequence,
                            native_weights: Sequence[float] = NRCCR_NATIVE_WEIGHTS,
                            return_ranks: bool = False) -> Dict[str, dict]:
    """NRCCR test rows: metrics of ``v * norm(native) + (1 - v) * norm(translated)`` for each ``v``.

    ``translated_scores`` None (no MT of the queries) gives the ``v = 1`` row only. Keys are
    ``"native w=<v>"``; NRCCR's tester calls the same row ``w = 1 - v`` (its ``w`` weighs the MT).
    ``return_ranks`` keeps the per-query ranks of the ``v = 1`` row (for MRV).

    Example:
        >>> s = np.eye(2)
        >>> list(translation_fusion_rows(s, s, ["a", "b"], ["a", "b"], native_weights=(1.0, 0.5)))
        ['native w=1', 'native w=0.5']
    """
    rows = {}
    for weight in native_weights:
        if weight == 1.0:
            rows[f"native w={weight:g}"] = evaluate_from_scores(native_scores, query_items, item_ids,
                                                                return_ranks=return_ranks)
        elif translated_scores is not None:
            scores = query_translation_fusion(native_scores, translated_scores, native_weight=float(weight))
            rows[f"native w={weight:g}"] = evaluate_from_scores(scores, query_items, item_ids)
    return rows


__all__ = ["NRCCR_NATIVE_WEIGHTS", "cosine_scores", "cross_modal_scores", "first_sentence_per_item",
           "cross_lingual_scores", "clm_rows", "translation_fusion_rows"]
