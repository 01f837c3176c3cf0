"""Turn sentences of one language into the text model's integer inputs (``tokens`` and ``bow_tokens``).

:class:`SentenceFeaturizer` is the per-language step of the model's preprocessor
(:class:`w2vvx.models.W2VVPreprocessor`), which routes each sentence to the featurizer of its language
and keeps the vocabularies inside the saved model; use the preprocessor (``model.preprocessor`` or
``model.encode_text``) rather than a featurizer of your own. Tokens come from
:meth:`w2vvx.text.tokenizers.Tokenizer.tokens_and_content`, the tokenisation vocabulary building uses.
"""
from __future__ import annotations

import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np

from w2vvx.errors import ConfigError, QueryError, UnknownWordsWarning
from w2vvx.text.tokenizers import Tokenizer, tokenize_unicode
from w2vvx.text.vocabulary import Vocabulary

#: a query with more than this share of unknown tokens gets an :class:`~w2vvx.errors.UnknownWordsWarning`
UNKNOWN_WORDS_WARNING_SHARE = 0.5


class SentenceFeaturizer:
    """Sentence -> ``{"tokens": int32[maxlen], "bow_tokens": int32[maxlen]}``.

    ``tokens``: every token mapped through ``gru_vocab`` (unknown words -> ``<unk>``), post-padded.
    ``bow_tokens``: stopword-filtered tokens that are in ``bow_vocab`` (unknown words dropped), the
    input of the bag-of-words branch (and of the mean-word2vec branch with ``w2v_words="bow"``).
    ``w2v_tokens`` (only with a ``w2v_vocab``): the same stopword-filtered tokens through the
    word-vector vocabulary, every training word whatever its count (``w2v_words="pretrained"``).

    Args:
        language: the language of the sentences, a code or a caption tag (see
            :func:`w2vvx.text.languages.resolve_language`).
        gru_vocab: vocabulary of the recurrent branch.
        bow_vocab: vocabulary of the bag-of-words branch (the lineage's ``bow_filterstop``).
        maxlen: output length (32 in the lineage).
        w2v_vocab: optional vocabulary of the mean-word2vec branch (adds ``w2v_tokens``).

    Example:
        >>> from w2vvx.text.vocabulary import Vocabulary
        >>> f = SentenceFeaturizer("en", Vocabulary(["a", "dog", "runs"]), Vocabulary(["dog", "runs"]), maxlen=5)
        >>> out = f("A dog runs fast")
        >>> out["tokens"].tolist(), out["bow_tokens"].tolist()
        ([2, 3, 4, 1, 0], [2, 3, 0, 0, 0])
    """

    def __init__(self, language: str, gru_vocab: Vocabulary, bow_vocab: Vocabulary, maxlen: int = 32,
                 w2v_vocab: Optional[Vocabulary] = None):
        tokenizer = Tokenizer(language)  # refuses an unknown language, naming the supported ones
        if isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 1:
            raise ConfigError(f"maxlen must be a positive integer, got {maxlen!r}")
        for name, vocab in (("gru_vocab", gru_vocab), ("bow_vocab", bow_vocab), ("w2v_vocab", w2v_vocab)):
            if not isinstance(vocab, Vocabulary) and not (name == "w2v_vocab" and vocab is None):
                raise ConfigError(f"{name} must be a w2vvx Vocabulary, got {type(vocab).__name__}")
        self.language = tokenizer.language
        self.gru_vocab = gru_vocab
        self.bow_vocab = bow_vocab
        self.w2v_vocab = w2v_vocab
        self.maxlen = int(maxlen)
        self._tokenizer = tokenizer  # one tokenizer (one jieba instance for Chinese)

    def tokenize(self, text: str) -> List[str]:
        """All tokens of ``text`` (the input of ``tokens``)."""
        return self._tokenizer.tokens_and_content(text)[0]

    def __call__(self, text: str) -> Dict[str, np.ndarray]:
        tokens, content = self._tokenizer.tokens_and_content(text)
        features = {
            "tokens": self.gru_vocab.encode(tokens, self.maxlen),
            "bow_tokens": self.bow_vocab.encode(content, self.maxlen, drop_unknown=True),
        }
        if self.w2v_vocab is not None:
            features["w2v_tokens"] = self.w2v_vocab.encode(content, self.maxlen, drop_unknown=True)
        return features

    @property
    def keys(self) -> tuple:
        """The arrays a sentence gives: ``tokens``, ``bow_tokens`` (and ``w2v_tokens`` with a ``w2v_vocab``)."""
        return ("tokens", "bow_tokens") + (() if self.w2v_vocab is None else ("w2v_tokens",))

    def batch(self, texts: Sequence[str]) -> Dict[str, np.ndarray]:
        """Featurize several sentences into ``(B, maxlen)`` int32 arrays."""
        out = {key: np.zeros((len(texts), self.maxlen), dtype=np.int32) for key in self.keys}
        for row, text in enumerate(texts):
            features = self(text)
            for key in out:
                out[key][row] = features[key]
        return out

    def check_query(self, text: str, languages: Optional[Sequence[str]] = None, position: Optional[int] = None) -> float:
        """Check a user's query against the vocabularies; return the share of its tokens that are unknown.

        A query with words of which none is known (all ``<unk>``, or nothing this language's tokenizer
        keeps, e.g. Chinese through the English tokenizer) would be ranked like the empty query: that
        raises :class:`~w2vvx.errors.QueryError`. More than half of the tokens unknown issues an
        :class:`~w2vvx.errors.UnknownWordsWarning` naming the query. A query without any letter or digit
        (empty, punctuation) is not checked: it encodes as the empty sentence.

        Args:
            text: the query.
            languages: the model's languages, named in the error (default: this featurizer's).
            position: the query's 0-based position among several, named in the messages.

        Example:
            >>> from w2vvx.text.vocabulary import Vocabulary
            >>> f = SentenceFeaturizer("en", Vocabulary(["dog", "runs"]), Vocabulary(["dog"]))
            >>> f.check_query("a dog runs")
            0.3333333333333333
            >>> f.check_query("一只狗")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            w2vvx.errors.QueryError: query '一只狗' (language 'en'): none of its words is in the model's vocabulary...
        """
        if not isinstance(text, str):
            raise ConfigError(f"a query must be a str, got {type(text).__name__}")
        if not tokenize_unicode(text):
            return 0.0
        tokens = self.tokenize(text)
        known = [vocab for vocab in (self.gru_vocab, self.bow_vocab, self.w2v_vocab) if vocab is not None]
        unknown = [token for token in tokens if not any(token in vocab for vocab in known)]
        share = len(unknown) / len(tokens) if tokens else 1.0
        where = "" if position is None else f" (query {position}, 0-based)"
        shown = text if len(text) <= 80 else text[:77] + "..."
        if share >= 1.0:
            languages = sorted(languages or [self.language])
            words = f" ({', '.join(repr(token) for token in unknown[:5])})" if unknown else \
                f" (the {self.language!r} tokenizer keeps no word of it)"
            raise QueryError(
                f"query {shown!r}{where} (language {self.language!r}): none of its words is in the model's "
                f"vocabulary{words}, so it would rank items like an empty query. The model was trained on "
                f"{languages} text: give the query in one of these languages and say which (language=..., CLI "
                "--language), or use a model trained on this language")
        if share > UNKNOWN_WORDS_WARNING_SHARE:
            warnings.warn(UnknownWordsWarning(
                f"query {shown!r}{where} (language {self.language!r}): {len(unknown)} of its {len(tokens)} "
                f"words are not in the model's vocabulary ({', '.join(repr(token) for token in unknown[:5])}); "
                "the ranking rests on the few it knows. Check the query's language"), stacklevel=3)
        return share
