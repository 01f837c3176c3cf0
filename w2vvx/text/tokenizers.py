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
from typing import Callable, Dict, FrozenSet, List, Tuple

from w2vvx.errors import ConfigError
# LANGUAGES and language_of_tag are also imported from here (their home is w2vvx.text.languages)
from w2vvx.text.languages import LANGUAGES, caption_language, language_of_tag, resolve_language  # noqa: F401
from w2vvx.text.stopwords import STOPWORD_LANGUAGES, load_stopwords

_EN_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SEGMENTED_ZH = re.compile(f"[{_CJK}]\\s+[{_CJK}]")
_LATIN = re.compile(r"[A-Za-z]")
# The lineage's Chinese punctuation set plus the other full-width marks that jieba emits as tokens.
ZH_PUNCTUATION = frozenset("，。、！《》“”；？‘’：（）【】「」『』〈〉…—～·﹏,.!?;:'\"()[]{}<>-_/\\|@#$%^&*+=`~")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'"})
_FRENCH_ELISIONS = ("l", "d", "j", "m", "n", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu")


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

    :meth:`tokens_and_content` is the one tokenisation of w2vvx: vocabulary building
    (:func:`tokenize_captions`) and the model's preprocessor (through
    :class:`~w2vvx.text.featurizer.SentenceFeaturizer`) both call it, so a word is counted for the
    vocabulary exactly as it is looked up when a sentence is encoded.

    Args:
        language: ``"en"``, ``"zh"`` or another code from :data:`LANGUAGES` (a caption tag such as
            ``"google_enc2zh"`` names its language, see :func:`~w2vvx.text.languages.resolve_language`).
        remove_stopwords: drop the words of the shipped stopword list of ``language`` from ``__call__``.

    Example:
        >>> Tokenizer("enc").tokens_and_content("A dog is on the grass")
        (['a', 'dog', 'is', 'on', 'the', 'grass'], ['dog', 'grass'])
    """

    def __init__(self, language: str, remove_stopwords: bool = False):
        try:
            language = resolve_language(language)
        except ConfigError:
            raise ConfigError(f"unsupported language {language!r}; supported: {list(LANGUAGES)} (or a caption "
                              "tag such as 'google_enc2zh')") from None
        self.language = language
        self.remove_stopwords = bool(remove_stopwords)
        if self.remove_stopwords:
            load_stopwords(language)  # a language without a list is refused, naming those with one
        # the content words (input of the bag-of-words branches): tokens outside the language's stopword
        # list; a language without a shipped list keeps every token
        self._content_stopwords: FrozenSet[str] = (load_stopwords(language) if language in STOPWORD_LANGUAGES
                                                   else frozenset())
        if language == "en":
            self._split: Callable[[str], List[str]] = tokenize_en
        elif language == "zh":
            self._split = ChineseTokenizer()
        else:
            self._split = lambda text: tokenize_unicode(text, language)

    def tokens_and_content(self, text: str) -> Tuple[List[str], List[str]]:
        """``(tokens, content tokens)`` of ``text``: every token, and those not in the stopword list."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str sentence, got {type(text).__name__}")
        tokens = self._split(text)
        return tokens, [token for token in tokens if token not in self._content_stopwords]

    def __call__(self, text: str) -> List[str]:
        tokens, content = self.tokens_and_content(text)
        return content if self.remove_stopwords else tokens

    def __repr__(self) -> str:
        return f"Tokenizer({self.language!r}, remove_stopwords={self.remove_stopwords})"

    def __getstate__(self):
        return {"language": self.language, "remove_stopwords": self.remove_stopwords}

    def __setstate__(self, state):
        self.__init__(state["language"], state["remove_stopwords"])


def tokenize_captions(captions, default_language: str = "en") -> Tuple[List[List[str]], List[List[str]]]:
    """Tokenize each caption with the tokenizer of its language: ``(tokens, content tokens)`` per caption.

    The language of a caption comes from its tag (``w2vvx.io.Caption``; see
    :func:`~w2vvx.text.languages.caption_language`), else ``default_language``. One :class:`Tokenizer`
    per language (jieba is loaded once for Chinese), through :meth:`Tokenizer.tokens_and_content`.

    Args:
        captions: Captions, ``(item_id, text)`` pairs or plain strings.
        default_language: the language of captions without a tag (a code or a caption tag).

    Example:
        >>> tokenize_captions([("img1", "A dog on the grass")])
        ([['a', 'dog', 'on', 'the', 'grass']], [['dog', 'grass']])
    """
    tokenizers: Dict[str, Tokenizer] = {}
    token_lists, content_lists = [], []
    for position, caption in enumerate(captions):
        language = caption_language(caption, default_language)
        if isinstance(caption, str):
            text = caption
        elif hasattr(caption, "text"):
            text = caption.text
        elif isinstance(caption, (tuple, list)) and len(caption) == 2:
            text = caption[1]
        else:
            raise ConfigError(f"caption {position} is a {type(caption).__name__}; expected a w2vvx.io.Caption, an "
                              "(item_id, text) pair or a str")
        if language not in tokenizers:
            tokenizers[language] = Tokenizer(language)
        tokens, content = tokenizers[language].tokens_and_content(text)
        token_lists.append(tokens)
        content_lists.append(content)
    return token_lists, content_lists


def get_tokenizer(language: str, remove_stopwords: bool = False) -> Tokenizer:
    """Return the tokenizer of ``language``.

    Example:
        >>> get_tokenizer("en", remove_stopwords=True)("A dog is running on the grass")
        ['dog', 'running', 'grass']
    """
    return Tokenizer(language, remove_stopwords=remove_stopwords)
