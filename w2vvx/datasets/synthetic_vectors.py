"""The synthetic languages at the word level: which words translate which, and aligned bilingual vectors.

:func:`word_translations` reads the lexicon's concepts (every surface form of a concept in each language)
and its literal table of function words; :func:`aligned_word_vectors` builds vectors from them that stand
in for MUSE-style aligned files.

The synthetic collection's lexicon knows which English and Chinese words express one concept. Each
concept gets a random direction; every word of the concept, in either language, is that direction plus
independent noise (``noise`` = 0: a word and its translation share one vector; ``noise`` = 1: the noise is
as large as the shared part). Function words are paired through the lexicon's literal table. These are
the vectors a study passes as ``word_vectors={"en": ..., "zh": ...}`` to measure what an aligned
initialisation does to NRCCR's cross-attention (``w2vvx.models.nrccr.attention_alignment``).
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Set

import numpy as np

from w2vvx.errors import ConfigError

__all__ = ["aligned_word_vectors", "concept_words", "word_translations"]


def _flat_forms(variants):
    """The words of a variant list (a variant is a word, or a list of forms of one word)."""
    for variant in variants:
        yield from ([variant] if isinstance(variant, str) else variant)


def concept_words(lexicon, lang: str) -> Dict[tuple, List[str]]:
    """``{(kind, value): [every one-word surface form in lang]}`` of the lexicon's content concepts and counts."""
    table = {}
    for kind, values in (("category", lexicon.categories), ("colour", lexicon.colours), ("size", lexicon.sizes),
                         ("place", lexicon.places), ("action", lexicon.actions)):
        for value in values:
            table[(kind, value)] = [word for word in _flat_forms(lexicon.variants(kind, value, lang))
                                    if word and " " not in word]
    measures = sorted({entry["measure"] for entry in lexicon.table["categories"].values() if entry.get("measure")}) \
        if lang == "zh" else []
    for number, word in enumerate(lexicon.table["counts"].get(lang, ()), start=1):
        table[("count", number)] = [word] + [word + measure for measure in measures]
    return table


def word_translations(source_lang: str = "en", target_lang: str = "zh", lexicon=None) -> Dict[str, Set[str]]:
    """``{source word: {its translations}}``: the surface forms of each concept, and the function words.

    Example:
        >>> sorted(word_translations("en", "zh")["car"])
        ['汽车', '轿车']
    """
    from w2vvx.datasets.synthetic_language import Lexicon

    lexicon = lexicon or Lexicon.default()
    pairs: Dict[str, Set[str]] = {}
    target_words = concept_words(lexicon, target_lang)
    for concept, words in concept_words(lexicon, source_lang).items():
        for word in words:
            pairs.setdefault(word, set()).update(target_words.get(concept, ()))
    for word, translation in lexicon.literal(source_lang, target_lang).items():
        if translation:
            pairs.setdefault(word, set()).add(translation)
    return {word: targets for word, targets in pairs.items() if targets}


def aligned_word_vectors(dim: int = 64, languages: Sequence[str] = ("en", "zh"), noise: float = 0.3,
                         seed: int = 0, lexicon=None) -> Dict[str, Dict[str, np.ndarray]]:
    """``{language: {word: unit vector}}`` in one space, a word near its translations.

    Args:
        dim: vector size.
        languages: languages of the lexicon (``en``, ``zh``, ``de``).
        noise: norm of each word's own noise relative to its concept's shared direction (>= 0).
        seed: seed of the draws.
        lexicon: a :class:`~w2vvx.datasets.synthetic_language.Lexicon` (default: the collection's).

    Example:
        >>> vectors = aligned_word_vectors(dim=32, noise=0.2)
        >>> round(float(vectors["en"]["car"] @ vectors["zh"]["汽车"]), 1) > round(float(vectors["en"]["car"] @ vectors["zh"]["公园"]), 1)
        True
    """
    from w2vvx.datasets.synthetic_language import Lexicon

    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
        raise ConfigError(f"dim must be an integer >= 2, got {dim!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
        raise ConfigError(f"noise must be a number >= 0, got {noise!r}")
    lexicon = lexicon or Lexicon.default()
    rng = np.random.default_rng(seed)

    def unit(vector):
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    concepts = {}
    out: Dict[str, Dict[str, np.ndarray]] = {language: {} for language in languages}

    def add(language, word, concept):
        if word in out[language]:
            return
        if concept not in concepts:
            concepts[concept] = unit(rng.standard_normal(dim))
        out[language][word] = unit(concepts[concept] + noise * unit(rng.standard_normal(dim)))

    for language in languages:
        for concept, words in concept_words(lexicon, language).items():
            for word in words:
                add(language, word, concept)
    pivot = languages[0]
    for language in languages[1:]:
        for word, translation in lexicon.literal(pivot, language).items():
            if translation and " " not in word and " " not in translation:
                add(pivot, word, ("literal", word))
                add(language, translation, ("literal", word))
    return out
