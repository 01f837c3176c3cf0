"""Sentence tokenizers per language, faithful to the lineage for English and Chinese.

* English (w2vv/coco-cn ``clean_str``): every character outside ``[A-Za-z0-9]`` becomes a space,
  then lowercase and split.
* Chinese (coco-cn ``utils/text.py``): text already segmented with spaces (as the released
  captions are) is split on whitespace, otherwise segmented with jieba; punctuation and Latin
  letters are dropped.
* Other languages (de, fr, cs, ...): NFC normalisation, ``str.lower`` (diacritics kept), split on
  anything that is not a letter, digit or combining mark; an apostrophe between letters stays in the
  word, and French elisions (``l'homme``) become two tokens (``l'``, ``homme``).
"""
from __future__ import annotations

import functools
import logging
import os
import re
import tempfile
import unicodedata
from typing import Callable, FrozenSet, List, Optional

from w2vvx.errors import ConfigError

LANGUAGES = ("en", "zh", "de", "fr", "cs", "ja", "es", "it", "ru", "tr", "id", "pt", "nl", "ko", "ar", "hi")
_TAG_PREFIXES = ("google_", "baidu_", "bing_", "deepl_", "mt_")
# Suffixes the lineage appends to a language code: c = crowd/human, b = Baidu MT, g = Google MT,
# m = manual translation.
_TAG_SUFFIXES = ("c", "b", "g", "m")
_TAG_EXAMPLES = ["en", "enc", "zh", "zhc", "zhb", "zhg", "zhm", "de", "fr", "cs", "ja", "enc2zh", "google_enc2zh",
                 "enc2zh2enc", "google_enc2zh2enc", "zhc2en", "google_zhc2en", "google_zh2enc"]

_EN_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SEGMENTED_ZH = re.compile(f"[{_CJK}]\\s+[{_CJK}]")
_LATIN = re.compile(r"[A-Za-z]")
# The lineage's Chinese punctuation set plus the other full-width marks that jieba emits as tokens.
ZH_PUNCTUATION = frozenset("，。、！《》“”；？‘’：（）【】「」『』〈〉…—～·﹏,.!?;:'\"()[]{}<>-_/\\|@#$%^&*+=`~")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'"})
_FRENCH_ELISIONS = ("l", "d", "j", "m", "n", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu")


def language_of_tag(tag: Optional[str]) -> str:
    """Return the language of the text behind a caption tag.

    For a translation tag the last language is the one of the text (``enc2zh`` is Chinese,
    ``enc2zh2enc`` English).

    Example:
        >>> [language_of_tag(t) for t in ("enc", "zhc", "google_enc2zh", "enc2zh2enc", "google_zhc2en", "de")]
        ['en', 'zh', 'zh', 'en', 'en', 'de']
    """
    if not isinstance(tag, str) or not tag:
        raise ConfigError(f"cannot tell the language of caption tag {tag!r}; pass the language explicitly "
                          f"(known tags look like {_TAG_EXAMPLES})")
    code = tag.lower()
    for prefix in _TAG_PREFIXES:
        if code.startswith(prefix):
            code = code[len(prefix):]
            break
    parts = code.split("2")
    if not all(_base_language(part) for part in parts):
        raise ConfigError(f"unknown caption tag {tag!r}; known tags look like {_TAG_EXAMPLES} "
                          f"with languages {list(LANGUAGES)}")
    return _base_language(parts[-1])


def _base_language(code: str) -> Optional[str]:
    if code in LANGUAGES:
        return code
    if len(code) == 3 and code[:2] in LANGUAGES and code[2] in _TAG_SUFFIXES:
        return code[:2]
    return None


def tokenize_en(text: str) -> List[str]:
    """The lineage's English tokenizer.

    Example:
        >>> tokenize_en("A child's pink-dress, 2 dogs.")
        ['a', 'child', 's', 'pink', 'dress', '2', 'dogs']
    """
    return _EN_NON_ALNUM.sub(" ", text).lower().split()


def is_segmented_chinese(text: str) -> bool:
    """True if ``text`` already has whitespace between Chinese characters (pre-segmented captions)."""
    return _SEGMENTED_ZH.search(text) is not None


def _clean_zh_token(token: str) -> str:
    token = _LATIN.sub("", token)
    return "".join(ch for ch in token if ch not in ZH_PUNCTUATION and not unicodedata.category(ch).startswith("P")
                   and not ch.isspace())


@functools.lru_cache(maxsize=1)
def _jieba_segmenter():
    """One jieba segmenter per process: its dictionary is read-only and takes seconds to load.

    jieba's prefix-dictionary cache goes to the system temporary folder, never into the package.
    """
    import jieba

    # jieba logs its dictionary loading on its own handler (and again through the root logger): once,
    # and only when w2vvx logs INFO lines (CLI -v)
    jieba_logger = logging.getLogger("jieba")
    jieba_logger.propagate = False
    jieba_logger.setLevel(logging.DEBUG if logging.getLogger("w2vvx").isEnabledFor(logging.INFO) else logging.WARNING)
    segmenter = jieba.Tokenizer()
    segmenter.tmp_dir = tempfile.gettempdir()
    segmenter.cache_file = f"w2vvx-jieba-{os.getuid() if hasattr(os, 'getuid') else 0}.cache"
    segmenter.initialize()
    return segmenter


class ChineseTokenizer:
    """Chinese tokenizer; jieba is loaded lazily (once per process) on the first unsegmented sentence.

    Example:
        >>> ChineseTokenizer()("一个 女人 躺 在 海水 里 。")
        ['一个', '女人', '躺', '在', '海水', '里']
    """

    def _segmenter(self):
        return _jieba_segmenter()

    def segment(self, text: str) -> List[str]:
        if is_segmented_chinese(text):
            return text.split()
        return self._segmenter().lcut(text)

    def __call__(self, text: str) -> List[str]:
        tokens = (_clean_zh_token(token) for token in self.segment(text))
        return [token for token in tokens if token]


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LNM"


def tokenize_unicode(text: str, language: str = "") -> List[str]:
    """Letter/digit tokenizer for languages with spaces (de, fr, cs, ...), diacritics kept.

    Example:
        >>> tokenize_unicode("Zwei Männer stehen am Straßenrand.")
        ['zwei', 'männer', 'stehen', 'am', 'straßenrand']
        >>> tokenize_unicode("L'homme d'affaires, aujourd'hui.", "fr")
        ["l'", 'homme', "d'", 'affaires', "aujourd'hui"]
    """
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES).lower()
    tokens: List[str] = []
    current: List[str] = []
    length = len(text)
    for position, ch in enumerate(text):
        if _is_word_char(ch):
            current.append(ch)
            continue
        if (ch == "'" and current and position + 1 < length and _is_word_char(text[position + 1])):
            word = "".join(current)
            if language == "fr" and word in _FRENCH_ELISIONS:
                tokens.append(word + "'")
                current = []
            else:
                current.append(ch)
            continue
        if current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


class Tokenizer:
    """A callable ``text -> list[str]`` for one language, optionally dropping stopwords.

    Args:
        language: ``"en"``, ``"zh"`` or another code from :data:`LANGUAGES`.
        remove_stopwords: drop the words of the shipped stopword list of ``language``.
    """

    def __init__(self, language: str, remove_stopwords: bool = False):
        if language not in LANGUAGES:
            raise ConfigError(f"unsupported language {language!r}; supported: {list(LANGUAGES)}")
        self.language = language
        self.remove_stopwords = bool(remove_stopwords)
        self._stopwords: FrozenSet[str] = frozenset()
        if self.remove_stopwords:
            from w2vvx.text.stopwords import load_stopwords

            self._stopwords = load_stopwords(language)
        if language == "en":
            self._split: Callable[[str], List[str]] = tokenize_en
        elif language == "zh":
            self._split = ChineseTokenizer()
        else:
            self._split = lambda text: tokenize_unicode(text, language)

    def __call__(self, text: str) -> List[str]:
        if not isinstance(text, str):
            raise TypeError(f"expected a str sentence, got {type(text).__name__}")
        tokens = self._split(text)
        if self._stopwords:
            tokens = [token for token in tokens if token not in self._stopwords]
        return tokens

    def __repr__(self) -> str:
        return f"Tokenizer({self.language!r}, remove_stopwords={self.remove_stopwords})"

    def __getstate__(self):
        return {"language": self.language, "remove_stopwords": self.remove_stopwords}

    def __setstate__(self, state):
        self.__init__(state["language"], state["remove_stopwords"])


def get_tokenizer(language: str, remove_stopwords: bool = False) -> Tokenizer:
    """Return the tokenizer of ``language``.

    Example:
        >>> get_tokenizer("en", remove_stopwords=True)("A dog is running on the grass")
        ['dog', 'running', 'grass']
    """
    return Tokenizer(language, remove_stopwords=remove_stopwords)
