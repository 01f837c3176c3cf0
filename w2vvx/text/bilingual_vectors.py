"""Word vectors given per language (aligned bilingual spaces such as MUSE), merged into one lookup.

A cross-lingual run (NRCCR: English captions and their machine translation) has one joint vocabulary.
Its embedding starts close for a word and its translation when the vectors of both languages live in
one space: MUSE / fastText-aligned / VecMap files, one text file per language. :func:`merge_language_vectors`
reads each (:func:`w2vvx.text.word_vectors.load_word_vectors`) and merges them into one gensim
``KeyedVectors`` that :func:`w2vvx.training.prepare.prepare_text` uses as any other word vectors.
A word found in several files takes the vector of the first language listed.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.text.languages import LANGUAGES, resolve_language

logger = logging.getLogger(__name__)

__all__ = ["is_language_mapping", "merge_language_vectors"]


def _is_vector_source(value) -> bool:
    return isinstance(value, (str, Path, Mapping)) or hasattr(value, "key_to_index") or hasattr(value, "read_rows")


def is_language_mapping(word_vectors) -> bool:
    """Whether ``word_vectors`` is ``{language: vectors}`` (rather than one ``{word: vector}`` table).

    Example:
        >>> is_language_mapping({"en": "en.vec", "zh": "zh.vec"}), is_language_mapping({"dog": [0.1, 0.2]})
        (True, False)
    """
    return (isinstance(word_vectors, Mapping) and bool(word_vectors)
            and all(_is_vector_source(value) for value in word_vectors.values()))


def merge_language_vectors(by_language: Mapping, trusted: bool = False):
    """One gensim ``KeyedVectors`` from word vectors given per language.

    Args:
        by_language: ``{language code: vectors}``, each a path for
            :func:`~w2vvx.text.word_vectors.load_word_vectors`, a gensim ``KeyedVectors``, a BigFile or a
            ``{word: vector}`` dict; all of one dimension (one aligned space).
        trusted: allow pickle-based gensim files among the paths.

    Returns:
        gensim ``KeyedVectors`` holding every word of every language (a word in several languages keeps
        the vector of the first listed).

    Raises:
        ConfigError: an unknown language code, an empty mapping, or vectors of different dimensions.

    Example:
        >>> kv = merge_language_vectors({"en": {"dog": [1.0, 0.0]}, "zh": {"狗": [0.9, 0.1], "dog": [0.0, 1.0]}})
        >>> sorted(kv.key_to_index), kv["dog"].tolist()
        (['dog', '狗'], [1.0, 0.0])
    """
    from gensim.models import KeyedVectors

    from w2vvx.text.word_vectors import load_word_vectors

    if not isinstance(by_language, Mapping) or not by_language:
        raise ConfigError(f"word vectors per language must be a non-empty {{language: vectors}} mapping, "
                          f"got {by_language!r}")
    tables = {}
    for language, source in by_language.items():
        if resolve_language(language) != language:
            raise ConfigError(f"word vectors are keyed by language code; {language!r} is not one of "
                              f"{list(LANGUAGES)}")
        tables[language] = load_word_vectors(source, trusted=trusted) if isinstance(source, (str, Path)) else source
    words, rows, dims = [], [], {}
    seen = set()
    for language, table in tables.items():
        keys, matrix = _words_and_matrix(table, language)
        dims[language] = matrix.shape[1]
        fresh = [position for position, word in enumerate(keys) if word not in seen]
        seen.update(keys)
        words.extend(keys[position] for position in fresh)
        rows.append(matrix[fresh])
        logger.info("word vectors %s: %d words, %d not in an earlier language", language, len(keys), len(fresh))
    if len(set(dims.values())) != 1:
        raise ConfigError(f"word vectors per language must share one dimension (one aligned space), got {dims}")
    merged = KeyedVectors(vector_size=next(iter(dims.values())), count=0, dtype=np.float32)
    if words:
        merged.add_vectors(words, np.concatenate(rows, axis=0))
    return merged


def _words_and_matrix(table, language: str):
    if hasattr(table, "key_to_index"):
        return list(table.index_to_key), np.asarray(table.vectors, dtype=np.float32)
    if hasattr(table, "read_rows"):
        return list(table.names), np.asarray(table.read_rows(np.arange(len(table.names))), dtype=np.float32)
    if isinstance(table, Mapping):
        keys = list(table)
        sizes = {len(table[key]) for key in keys}
        if len(sizes) > 1:
            raise ConfigError(f"the {language} word-vector dict has vectors of sizes {sorted(sizes)[:5]}; "
                              "expected one size")
        return keys, np.asarray([table[key] for key in keys], dtype=np.float32).reshape(len(keys), -1)
    raise ConfigError(f"the {language} word vectors must be a path, a gensim KeyedVectors, a BigFile or a dict, "
                      f"got {type(table).__name__}")
