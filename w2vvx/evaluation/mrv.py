"""Mean Rank Variance (MRV), the cross-lingual consistency measure of CCRK (KDD 2024).

For each test instance, take its 0-based retrieval rank in every language; MRV is the mean over
instances of the population standard deviation (``ddof=0``) of those ranks. (CCRK's
``analysis_ranks`` uses ``np.std`` although the name says "variance"; we follow the code.)
Lower is better: 0 means every language ranks every instance alike.

Directions: IR (text-to-image) uses the rank of the ground-truth image for the instance's caption
in each language; TR (image-to-text) uses the best rank among the instance's captions in each
language.
"""
from __future__ import annotations

import logging
from typing import Dict, Mapping, Sequence, Union

import numpy as np

from w2vvx.errors import ConfigError

logger = logging.getLogger(__name__)


def mean_rank_variance(ranks_per_language: Union[Mapping[str, Sequence[int]], Sequence[Sequence[int]]]) -> float:
    """MRV of ranks aligned by instance: ``mean_i std_l(rank[l, i])`` with ``ddof=0``.

    Args:
        ranks_per_language: ``{language: ranks}`` or a list of rank arrays (one per language),
            every array of the same length and aligned by instance (0-based ranks).

    Example:
        >>> mean_rank_variance({"en": [0, 2], "de": [0, 4]})
        0.5
    """
    arrays = list(ranks_per_language.values()) if isinstance(ranks_per_language, Mapping) else list(ranks_per_language)
    if len(arrays) < 2:
        raise ConfigError(f"MRV compares ranks across languages: give at least 2 languages, got {len(arrays)}")
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ConfigError(f"rank arrays must be aligned by instance (same length), got lengths {sorted(lengths)}")
    ranks = np.asarray(arrays, dtype=np.float64)
    if ranks.shape[1] == 0:
        raise ConfigError("rank arrays are empty")
    if (ranks < 0).any():
        raise ConfigError("ranks must be 0-based (non-negative)")
    return float(np.mean(np.std(ranks, axis=0, ddof=0)))


def mrv_from_results(results_per_language: Mapping[str, Mapping]) -> Dict[str, float]:
    """MRV in both directions from :func:`~w2vvx.evaluation.metrics.evaluate_retrieval` outputs.

    Args:
        results_per_language: ``{language: results}`` where each ``results`` came from
            ``evaluate_retrieval(..., return_ranks=True)``; the captions of every language must
            belong to the same items in the same order, and the item lists must be the same.

    Returns:
        ``{"t2i_mrv": ..., "i2t_mrv": ...}`` (t2i = CCRK's IR, i2t = CCRK's TR).

    Example:
        >>> a = {"t2i_ranks": np.array([0, 1]), "t2i_item_ids": ["x", "y"],
        ...      "i2t_ranks": np.array([0, 0]), "i2t_item_ids": ["x", "y"]}
        >>> b = dict(a, t2i_ranks=np.array([2, 1]))
        >>> mrv_from_results({"en": a, "de": b})
        {'t2i_mrv': 0.5, 'i2t_mrv': 0.0}
    """
    if len(results_per_language) < 2:
        raise ConfigError("MRV needs the results of at least 2 languages")
    out = {}
    for direction in ("t2i", "i2t"):
        reference_language, reference = None, None
        ranks = {}
        for language, results in results_per_language.items():
            if f"{direction}_ranks" not in results:
                raise ConfigError(f"results for {language!r} have no {direction}_ranks; "
                                  "call evaluate_retrieval(..., return_ranks=True)")
            ids = list(results[f"{direction}_item_ids"])
            if reference is None:
                reference_language, reference = language, ids
            elif ids != reference:
                raise ConfigError(f"{direction} queries of {language!r} are not aligned with those of "
                                  f"{reference_language!r} (different item ids or order); MRV needs one "
                                  "query per instance in the same order for every language")
            ranks[language] = results[f"{direction}_ranks"]
        out[f"{direction}_mrv"] = mean_rank_variance(ranks)
    return out


def caption_keys(captions) -> list:
    """The key matching a caption with its translations across languages: ``(item_id, caption index)``.

    Example:
        >>> from w2vvx.io.captions import Caption
        >>> caption_keys([Caption("a#zh#1", "a", "zh", 1, "狗")])
        [('a', 1)]
    """
    return [(str(caption.item_id), int(caption.index)) for caption in captions]


def aligned_mrv(results_by_language: Mapping[str, Mapping], text_keys_by_language: Mapping[str, Sequence],
                directions: Sequence[str] = ("t2i", "i2t")) -> Dict[str, float]:
    """CCRK's MRV over the queries every language has: the one MRV alignment of w2vvx.

    Text-to-item queries are matched across languages by their key (``(item_id, caption index)``,
    :func:`caption_keys`: a caption and its translations); item-to-text queries by item id. A key
    seen twice in one language counts once (its first query); queries missing in some language are
    left out; a direction with no shared query is left out of the result (with a warning).

    Args:
        results_by_language: ``{language: evaluate_retrieval(..., return_ranks=True)}`` (or
            ``evaluate_from_scores``); ``i2t`` needs ``i2t_ranks`` and ``i2t_item_ids``.
        text_keys_by_language: ``{language: key of each caption}``, aligned with that language's
            t2i ranks.
        directions: ``"t2i"`` (CCRK's IR) and/or ``"i2t"`` (TR).

    Returns:
        ``{"t2i_mrv": ..., "i2t_mrv": ...}`` for the directions with shared queries.

    Example:
        >>> en = {"t2i_ranks": np.array([0, 3]), "i2t_ranks": np.array([0]), "i2t_item_ids": ["x"]}
        >>> de = {"t2i_ranks": np.array([1]), "i2t_ranks": np.array([2]), "i2t_item_ids": ["x"]}
        >>> aligned_mrv({"en": en, "de": de}, {"en": [("x", 0), ("x", 1)], "de": [("x", 1)]})
        {'t2i_mrv': 1.0, 'i2t_mrv': 1.0}
    """
    languages = list(results_by_language)
    if len(languages) < 2:
        raise ConfigError(f"MRV compares ranks across languages: give at least 2 languages, got {languages}")
    unknown = [direction for direction in directions if direction not in ("t2i", "i2t")]
    if unknown:
        raise ConfigError(f"directions must be 't2i' and/or 'i2t', got {unknown}")
    out = {}
    for direction in directions:
        ranks = {}
        for language in languages:
            results = results_by_language[language]
            if f"{direction}_ranks" not in results:
                raise ConfigError(f"results for {language!r} have no {direction}_ranks; evaluate with "
                                  "return_ranks=True")
            keys = text_keys_by_language[language] if direction == "t2i" else results["i2t_item_ids"]
            ranks[language] = _first_per_key(keys, results[f"{direction}_ranks"])
        shared = [key for key in ranks[languages[0]] if all(key in ranks[language] for language in languages)]
        if not shared:
            logger.warning("no %s query is shared by the languages %s; %s MRV is not reported", direction,
                           languages, direction)
            continue
        out[f"{direction}_mrv"] = mean_rank_variance(
            {language: [ranks[language][key] for key in shared] for language in languages})
    return out


def _first_per_key(keys: Sequence, ranks) -> dict:
    ranks = np.asarray(ranks)
    if len(keys) != len(ranks):
        raise ConfigError(f"{len(keys)} query keys for {len(ranks)} ranks; give one key per query")
    out = {}
    for key, rank in zip(keys, ranks):
        out.setdefault(key, rank)
    return out
