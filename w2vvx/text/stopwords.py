"""Stopword lists shipped in ``data/stopwords/<language>.txt`` (one word per line, ``#`` comments)."""
from __future__ import annotations

import functools
from typing import FrozenSet

from w2vvx.errors import ConfigError
from w2vvx.resources import data_path

STOPWORD_LANGUAGES = ("en", "zh", "de", "fr", "cs")


@functools.lru_cache(maxsize=None)
def load_stopwords(language: str) -> FrozenSet[str]:
    """Return the stopwords of ``language`` (``en``, ``zh``, ``de``, ``fr`` or ``cs``) as a frozenset.

    Example:
        >>> "the" in load_stopwords("en"), "dog" in load_stopwords("en")
        (True, False)
    """
    if language not in STOPWORD_LANGUAGES:
        raise ConfigError(f"no stopword list for language {language!r}; available: {list(STOPWORD_LANGUAGES)}")
    text = data_path("stopwords", f"{language}.txt").read_text(encoding="utf-8")
    return frozenset(word.strip() for word in text.splitlines() if word.strip() and not word.startswith("#"))
