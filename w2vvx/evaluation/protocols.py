"""The evaluation protocols of the lineage, each implemented once, on trained models.

The pipeline (``w2vvx do-all``), the dataset recipes and the CLI call these functions; they only
choose the captions and items (orchestration). A *model* is anything with the public retriever API:
``encode_text(captions_or_strings, language=None)`` (``w2vvx.io.Caption`` objects are encoded in the
language of their tag) and ``encode_items(features, item_ids=...)``, e.g. ``load_run(dir).model``.
The score matrices are :func:`w2vvx.evaluation.metrics.cosine_scores`.

* :func:`caption_rows`: plain text-to-item (and item-to-text) metrics of captions through one model
  (the source-language reference row, ``w2vvx evaluate``).
* :func:`coco_cn_protocol`: COCO-CN's CL / CM / CLM rows (coco-cn ``do_all.sh``): CM = the
  target-language query through the target model against the items; CL = the query against ONE
  source-language sentence per item mapped by the source model (``zh2en_sim.py``, models whose text
  lives in the visual space) or, for common-space models, the query's machine translation through
  the source model; CLM = ``w * CL + (1 - w) * CM``, ``w`` chosen on validation
  (:func:`w2vvx.evaluation.crosslingual.clm_rows`).
* :func:`query_translation_protocol`: NRCCR's test protocol: native queries, their machine
  translation into the source language, and ``v * norm(native) + (1 - v) * norm(translated)`` with
  ``norm`` the min-max over the whole matrix (NRCCR ``norm_score``);
  :func:`query_translation_scores` gives the two matrices (NRCCR's fused validation uses it too).
* MRV alignment across languages: :func:`w2vvx.evaluation.mrv.aligned_mrv`.

Example:
    >>> import numpy as np
    >>> class Model:  # the retriever API: one unit vector per sentence / item
    ...     def encode_text(self, captions, language=None):
    ...         return np.array([[1.0, 0.0] if "dog" in c.text else [0.0, 1.0] for c in captions])
    ...     def encode_items(self, features, item_ids):
    ...         return np.array([features[item] for item in item_ids])
    >>> from w2vvx.io.captions import Caption
    >>> queries = [Caption("a#zh#0", "a", "zh", 0, "dog"), Caption("b#zh#0", "b", "zh", 0, "cat")]
    >>> english = [Caption("a#enc#0", "a", "enc", 0, "a dog"), Caption("b#enc#0", "b", "enc", 0, "a cat")]
    >>> split = ProtocolSplit(queries, ["a", "b"], source_sentences=english)
    >>> features = {"a": [1.0, 0.1], "b": [0.1, 1.0]}
    >>> rows, weight = coco_cn_protocol(Model(), Model(), features, split, split, grid=[0.0, 0.5])
    >>> list(rows), rows["CM"]["t2i_r1"]
    (['CL', 'CM', 'CLM (w=0.00)'], 100.0)
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.evaluation.crosslingual import (NRCCR_NATIVE_WEIGHTS, clm_rows, cross_lingual_scores,
                                           translation_fusion_rows)
from w2vvx.evaluation.fusion import query_translation_fusion
from w2vvx.evaluation.metrics import cosine_scores, evaluate_retrieval

#: Native-query weight of NRCCR's fused validation (``sim_ratio`` 0.2 on the translated query).
NRCCR_VALIDATION_NATIVE_WEIGHT = 0.8


@dataclasses.dataclass(frozen=True)
class ProtocolSplit:
    """One split of the COCO-CN protocol: the target-language queries and what the CL route compares them with.

    Attributes:
        queries: target-language query Captions (each names its item).
        item_ids: the gallery items (columns of the score matrices).
        source_sentences: source-language Captions of the items; the CL route of visual-space models
            compares each query with the FIRST one of each item.
        query_translations: machine translations of ``queries`` into the source language, aligned
            with them; the CL route of common-space models.
    """

    queries: Sequence
    item_ids: Sequence[str]
    source_sentences: Optional[Sequence] = None
    query_translations: Optional[Sequence] = None

    @property
    def query_items(self) -> list:
        return [str(caption.item_id) for caption in self.queries]


def caption_rows(model, captions, features, item_ids: Sequence[str], language: Optional[str] = None,
                 return_ranks: bool = False, item_emb=None) -> Dict[str, float]:
    """t2i / i2t metrics of ``captions`` against ``item_ids`` through ``model`` (cosine).

    Args:
        model: a trained retriever (``encode_text``, ``encode_items``).
        captions: Captions (their items are the positives).
        features: the items' visual features (BigFile, callable or mapping the model accepts).
        item_ids: the gallery.
        language: the language of the captions when their tags do not say it.
        return_ranks: keep the per-query ranks (for MRV).
        item_emb: the items' embeddings by ``model`` when already computed (``features`` is then not read).
    """
    captions, item_ids = list(captions), list(item_ids)
    text = model.encode_text(captions, language=language) if language else model.encode_text(captions)
    if item_emb is None:
        item_emb = model.encode_items(features, item_ids=item_ids)
    return evaluate_retrieval(text, [str(c.item_id) for c in captions], item_emb, item_ids, return_ranks=return_ranks)


def coco_cn_scores(target_model, source_model, features, split: ProtocolSplit,
                   visual_space: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """``(CL, CM)`` score matrices of one split (see the module docstring).

    Args:
        target_model: the target-language model (encodes the queries and, for CM, the items).
        source_model: the source-language model (encodes the source sentences, or the query
            translations and the items for common-space models).
        features: the items' visual features.
        split: the queries, items and CL material of the split.
        visual_space: ``True`` for W2VV models (text mapped into the visual feature space: CL via
            the items' source sentences); ``False`` for common-space models (CL via the query MT).
    """
    items = list(split.item_ids)
    queries = target_model.encode_text(list(split.queries))
    cm = cosine_scores(queries, target_model.encode_items(features, item_ids=items))
    if visual_space:
        if split.source_sentences is None:
            raise ConfigError("the CL route of a visual-space model needs the source-language sentences of the "
                              "items (ProtocolSplit.source_sentences)")
        sentences = list(split.source_sentences)
        cl = cross_lingual_scores(queries, source_model.encode_text(sentences), [c.item_id for c in sentences],
                                  items)
    else:
        if split.query_translations is None:
            raise ConfigError("the CL route of a common-space model goes through the queries' machine translation "
                              "into the source language (ProtocolSplit.query_translations, e.g. the "
                              "test_google_zh2enc captions); none was given")
        translations = list(split.query_translations)
        if len(translations) != len(split.queries):
            raise ConfigError(f"{len(translations)} query translations for {len(split.queries)} queries; give one "
                              "translation per query, in the same order")
        cl = cosine_scores(source_model.encode_text(translations), source_model.encode_items(features, item_ids=items))
    return cl, cm


def coco_cn_protocol(target_model, source_model, features, val: ProtocolSplit, test: ProtocolSplit,
                     visual_space: bool = True, metric: str = "mir", grid: Optional[Sequence[float]] = None,
                     return_ranks: bool = False) -> Tuple[Dict[str, dict], float]:
    """COCO-CN's CL, CM and CLM rows: the CLM weight chosen on ``val`` by ``metric``, applied to ``test``.

    Returns:
        ``({"CL": metrics, "CM": metrics, "CLM (w=<w>)": metrics}, w)``; with ``return_ranks`` the
        CM row keeps its per-query ranks (for MRV).
    """
    cl_val, cm_val = coco_cn_scores(target_model, source_model, features, val, visual_space)
    cl_test, cm_test = coco_cn_scores(target_model, source_model, features, test, visual_space)
    return clm_rows(cl_val, cm_val, val.query_items, list(val.item_ids), cl_test, cm_test, test.query_items,
                    list(test.item_ids), metric=metric, grid=grid, return_ranks=return_ranks)


def query_translation_scores(model, item_emb, native, translated=None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """``(native scores, translated scores or None)``: native queries and their MT through one model.

    Args:
        model: the cross-lingual model (NRCCR: one shared text encoder for both languages).
        item_emb: ``(n_items, E)`` item embeddings of the same model.
        native: the human target-language query Captions, or their token inputs (``{"tokens", "bow_tokens"}``,
            what the model's preprocessor gives; the NRCCR trainer tokenises its validation captions once).
        translated: their machine translations into the source language (Captions or token inputs),
            aligned with ``native``.
    """
    native_scores = cosine_scores(model.encode_text(_text_inputs(native)), item_emb)
    if translated is None:
        return native_scores, None
    translated = _text_inputs(translated)
    count = len(translated["tokens"]) if hasattr(translated, "keys") else len(translated)
    if count != len(native_scores):
        raise ConfigError(f"{count} query translations for {len(native_scores)} queries; align them "
                          "first (w2vvx.datasets.aligned_captions.align_translations)")
    return native_scores, cosine_scores(model.encode_text(translated), item_emb)


def _text_inputs(queries):
    """Token inputs (a dict) as they are, any other iterable of queries as a list (``list`` of a dict is its keys)."""
    return queries if hasattr(queries, "keys") else list(queries)


def fused_query_scores(native_scores, translated_scores, native_weight: float) -> np.ndarray:
    """NRCCR's fused scores, ``v * norm(native) + (1 - v) * norm(translated)``; the native ones without MT."""
    if translated_scores is None:
        return native_scores
    return query_translation_fusion(native_scores, translated_scores, native_weight=native_weight)


def query_translation_protocol(model, features, item_ids: Sequence[str], native, translated=None,
                               native_weights: Sequence[float] = NRCCR_NATIVE_WEIGHTS,
                               return_ranks: bool = False, item_emb=None) -> Dict[str, dict]:
    """NRCCR's test rows: ``"native w=<v>"`` for each native weight ``v`` (NRCCR's ``w`` is ``1 - v``).

    Without ``translated`` only the ``v = 1`` row (the native queries) is given. ``return_ranks``
    keeps the per-query ranks of the ``v = 1`` row (for MRV). ``item_emb``: the items' embeddings by
    ``model`` when already computed (``features`` is then not read).

    Example:
        >>> import numpy as np
        >>> from w2vvx.io.captions import Caption
        >>> class Model:
        ...     def encode_text(self, captions, language=None):
        ...         return np.array([[1.0, 0.0] if "a" in c.text else [0.0, 1.0] for c in captions])
        ...     def encode_items(self, features, item_ids):
        ...         return np.eye(2)
        >>> native = [Caption("x#zh#0", "x", "zh", 0, "a"), Caption("y#zh#0", "y", "zh", 0, "b")]
        >>> rows = query_translation_protocol(Model(), None, ["x", "y"], native, native, native_weights=(1.0, 0.8))
        >>> list(rows), rows["native w=0.8"]["t2i_r1"]
        (['native w=1', 'native w=0.8'], 100.0)
    """
    item_ids = list(item_ids)
    native = list(native)
    if item_emb is None:
        item_emb = model.encode_items(features, item_ids=item_ids)
    native_scores, translated_scores = query_translation_scores(model, item_emb, native, translated)
    return translation_fusion_rows(native_scores, translated_scores, [str(c.item_id) for c in native], item_ids,
                                   native_weights, return_ranks=return_ranks)

__all__ = ["NRCCR_VALIDATION_NATIVE_WEIGHT", "ProtocolSplit", "caption_rows", "coco_cn_scores", "coco_cn_protocol",
           "query_translation_scores", "fused_query_scores", "query_translation_protocol"]
