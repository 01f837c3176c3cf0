"""Turn sentences into the text model's integer inputs (``tokens`` and ``bow_tokens``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io.atomic import atomic_dir
from w2vvx.io.json_files import read_json_object
from w2vvx.text.stopwords import STOPWORD_LANGUAGES, load_stopwords
from w2vvx.text.tokenizers import LANGUAGES, get_tokenizer
from w2vvx.text.vocabulary import Vocabulary

CONFIG_FILE = "featurizer.json"
GRU_VOCAB_FILE = "gru_vocab.txt"
BOW_VOCAB_FILE = "bow_vocab.txt"
_FORMAT_VERSION = 1


class SentenceFeaturizer:
    """Sentence -> ``{"tokens": int32[maxlen], "bow_tokens": int32[maxlen]}``.

    ``tokens``: every token mapped through ``gru_vocab`` (unknown words -> ``<unk>``), post-padded.
    ``bow_tokens``: stopword-filtered tokens that are in ``bow_vocab`` (unknown words dropped), the
    input of the bag-of-words and mean-word2vec branches.

    Args:
        language: the language of the sentences (see :func:`w2vvx.text.tokenizers.get_tokenizer`).
        gru_vocab: vocabulary of the recurrent branch.
        bow_vocab: vocabulary of the bag-of-words branch (the lineage's ``bow_filterstop``).
        maxlen: output length (32 in the lineage).

    Example:
        >>> from w2vvx.text.vocabulary import Vocabulary
        >>> f = SentenceFeaturizer("en", Vocabulary(["a", "dog", "runs"]), Vocabulary(["dog", "runs"]), maxlen=5)
        >>> out = f("A dog runs fast")
        >>> out["tokens"].tolist(), out["bow_tokens"].tolist()
        ([2, 3, 4, 1, 0], [2, 3, 0, 0, 0])
    """

    def __init__(self, language: str, gru_vocab: Vocabulary, bow_vocab: Vocabulary, maxlen: int = 32):
        if language not in LANGUAGES:
            raise ConfigError(f"unsupported language {language!r}; supported: {list(LANGUAGES)}")
        if isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 1:
            raise ConfigError(f"maxlen must be a positive integer, got {maxlen!r}")
        for name, vocab in (("gru_vocab", gru_vocab), ("bow_vocab", bow_vocab)):
            if not isinstance(vocab, Vocabulary):
                raise ConfigError(f"{name} must be a w2vvx Vocabulary, got {type(vocab).__name__}")
        self.language = language
        self.gru_vocab = gru_vocab
        self.bow_vocab = bow_vocab
        self.maxlen = int(maxlen)
        # One tokenizer (one jieba instance for Chinese); stopwords are filtered from its output.
        self._tokenize = get_tokenizer(language)
        self._stopwords = load_stopwords(language) if language in STOPWORD_LANGUAGES else frozenset()

    def tokenize(self, text: str) -> List[str]:
        """All tokens of ``text`` (the input of ``tokens``)."""
        return self._tokenize(text)

    def __call__(self, text: str) -> Dict[str, np.ndarray]:
        tokens = self._tokenize(text)
        content = [token for token in tokens if token not in self._stopwords]
        return {
            "tokens": self.gru_vocab.encode(tokens, self.maxlen),
            "bow_tokens": self.bow_vocab.encode(content, self.maxlen, drop_unknown=True),
        }

    def batch(self, texts: Sequence[str]) -> Dict[str, np.ndarray]:
        """Featurize several sentences into ``(B, maxlen)`` int32 arrays."""
        tokens = np.zeros((len(texts), self.maxlen), dtype=np.int32)
        bow_tokens = np.zeros((len(texts), self.maxlen), dtype=np.int32)
        for row, text in enumerate(texts):
            features = self(text)
            tokens[row] = features["tokens"]
            bow_tokens[row] = features["bow_tokens"]
        return {"tokens": tokens, "bow_tokens": bow_tokens}

    def save(self, directory, overwrite: bool = False) -> None:
        """Write the two vocabularies and a small JSON into ``directory`` (atomically, no pickle)."""
        directory = Path(directory)
        if directory.exists() and not overwrite:
            raise ConfigError(f"{directory} exists; pass overwrite=True to replace it")
        with atomic_dir(directory, overwrite=overwrite) as tmp:
            self.gru_vocab.save(tmp / GRU_VOCAB_FILE)
            self.bow_vocab.save(tmp / BOW_VOCAB_FILE)
            (tmp / CONFIG_FILE).write_text(json.dumps(
                {"format_version": _FORMAT_VERSION, "language": self.language, "maxlen": self.maxlen,
                 "gru_vocab": GRU_VOCAB_FILE, "bow_vocab": BOW_VOCAB_FILE}, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory) -> "SentenceFeaturizer":
        """Read a featurizer written by :meth:`save`."""
        directory = Path(directory)
        config_path = directory / CONFIG_FILE
        config = read_json_object(config_path, fix="write it again with SentenceFeaturizer.save(dir)",
                                  missing="featurizer config not found; write it with SentenceFeaturizer.save(dir)")
        if config.get("format_version") != _FORMAT_VERSION:
            raise DataFormatError(f"expected a JSON object with format_version {_FORMAT_VERSION}", path=config_path)
        try:
            language, maxlen = config["language"], config["maxlen"]
        except KeyError as missing:
            raise DataFormatError(f"missing key {missing}", path=config_path) from None
        return cls(language, Vocabulary.load(directory / GRU_VOCAB_FILE), Vocabulary.load(directory / BOW_VOCAB_FILE),
                   maxlen=maxlen)
