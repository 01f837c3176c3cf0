"""Language names: codes (``"zh"``) and caption tags (``"google_enc2zh"``) resolved by one function.

Every entry point that takes a language (``encode_text(language=...)``, the preprocessor, vocabulary
building, the trainer's per-language captions, the CLI's ``--language``) resolves it with
:func:`resolve_language`, so a name accepted by one is accepted by all, and means the same language.

A caption tag is what the lineage's sentence ids carry (``<item>#<tag>#<n>``): a language code with an
optional suffix (``enc``, ``zhc``, ``zhb``: c = crowd/human, b = Baidu MT, g = Google MT, m = manual
translation), translation chains (``enc2zh``: English translated into Chinese, i.e. Chinese text;
``enc2zh2enc``: back into English) and an optional translator prefix (``google_``, ``baidu_``, ...).
"""
from __future__ import annotations

from typing import Optional

from w2vvx.errors import ConfigError

LANGUAGES = ("en", "zh", "de", "fr", "cs", "ja", "es", "it", "ru", "tr", "id", "pt", "nl", "ko", "ar", "hi")
TAG_PREFIXES = ("google_", "baidu_", "bing_", "deepl_", "mt_")
#: Suffixes the lineage appends to a language code: c = crowd/human, b = Baidu MT, g = Google MT, m = manual.
TAG_SUFFIXES = ("c", "b", "g", "m")
TAG_EXAMPLES = ["en", "enc", "zh", "zhc", "zhb", "zhg", "zhm", "de", "fr", "cs", "ja", "enc2zh", "google_enc2zh",
                "enc2zh2enc", "google_enc2zh2enc", "zhc2en", "google_zhc2en", "google_zh2enc"]


def language_of_tag(tag: Optional[str]) -> str:
    """Return the language of the text behind a caption tag (or a language code).

    For a translation tag the last language is the one of the text (``enc2zh`` is Chinese,
    ``enc2zh2enc`` English).

    Example:
        >>> [language_of_tag(t) for t in ("enc", "zhc", "google_enc2zh", "enc2zh2enc", "google_zhc2en", "de")]
        ['en', 'zh', 'zh', 'en', 'en', 'de']
    """
    if not isinstance(tag, str) or not tag:
        raise ConfigError(f"cannot tell the language of caption tag {tag!r}; pass the language explicitly "
                          f"(known tags look like {TAG_EXAMPLES})")
    code = tag.lower()
    for prefix in TAG_PREFIXES:
        if code.startswith(prefix):
            code = code[len(prefix):]
            break
    parts = code.split("2")
    if not all(base_language(part) for part in parts):
        raise ConfigError(f"unknown caption tag {tag!r} (nor a language code); known tags look like {TAG_EXAMPLES} "
                          f"with languages {list(LANGUAGES)}")
    return base_language(parts[-1])


def base_language(code: str) -> Optional[str]:
    """``code`` itself when it is a language code, the code of a suffixed one (``zhc`` -> ``zh``), else None."""
    if code in LANGUAGES:
        return code
    if len(code) == 3 and code[:2] in LANGUAGES and code[2] in TAG_SUFFIXES:
        return code[:2]
    return None


def resolve_language(language: Optional[str], default: Optional[str] = None) -> str:
    """The language code of ``language``: a code (``"zh"``) or a caption tag (``"google_enc2zh"``).

    Args:
        language: a language code or caption tag; ``None`` means ``default``.
        default: the language of text given without one (itself a code or a tag).

    Raises:
        ConfigError: an unknown name, or ``None`` without a default.

    Example:
        >>> resolve_language("google_enc2zh"), resolve_language("zh"), resolve_language(None, default="enc")
        ('zh', 'zh', 'en')
    """
    if language is None:
        if default is None:
            raise ConfigError(f"no language given; pass one of {list(LANGUAGES)} (or a caption tag such as "
                              "'google_enc2zh')")
        language = default
    if not isinstance(language, str):
        raise ConfigError(f"a language must be a str such as 'en' or 'google_enc2zh', got {type(language).__name__}")
    return language if language in LANGUAGES else language_of_tag(language)


def caption_language(caption, default: Optional[str] = None) -> str:
    """The language of a caption: from its tag when it has one (``w2vvx.io.Caption``), else ``default``.

    Example:
        >>> from w2vvx.io.captions import Caption
        >>> caption_language(Caption("v1#enc2zh#0", "v1", "enc2zh", 0, "一只 狗")), caption_language(("v1", "a"), "de")
        ('zh', 'de')
    """
    tag = getattr(caption, "tag", None)
    return resolve_language(tag if tag else None, default=default)


__all__ = ["LANGUAGES", "base_language", "caption_language", "language_of_tag", "resolve_language"]
