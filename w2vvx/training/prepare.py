"""Text preparation of a training run: vocabularies, word vectors, embedding matrices, featurizer.

As the lineage (w2vv ``get_word_vob.py``, coco-cn ``build_vocab.py``): the GRU vocabulary holds the
training-caption words seen at least ``min_count`` (5) times; the bag-of-words vocabulary does the same
after stopword removal. Each caption is tokenized by the tokenizer of its language (read from the
caption tag: ``enc`` -> en, ``google_enc2zh`` -> zh; captions without a tag use ``default_language``),
so one run may mix languages (NRCCR trains on English + machine-translated target captions).

Word vectors are either loaded (``load_word_vectors``: the lineage's BigFile, word2vec text/binary,
trusted gensim models) or, when none are given, trained with gensim on the training captions
(deterministic: one worker, fixed seed). The embedding matrices initialise the GRU embedding (GRU
vocabulary; rows of words without a vector drawn from uniform(-1, 1), as w2vv) and the mean-word2vec
branch (BoW vocabulary; rows of words without a vector left at zero, and skipped by the branch's mean,
as COCO-CN's ``AveWord2VecFilterStop`` averages only the words that have a vector).

Everything is saved as plain files in ``<run_dir>/prepared/`` (vocabularies as ``word count`` text,
matrices as ``.npy``, settings as JSON), written as one atomic folder.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.atomic import atomic_dir
from w2vvx.io.json_files import read_json_object
from w2vvx.text.tokenizers import get_tokenizer, language_of_tag
from w2vvx.text.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

PREPARED_DIR = "prepared"
_SETTINGS = "prepared.json"
_GRU_VOCAB = "gru_vocab.txt"
_BOW_VOCAB = "bow_vocab.txt"
_GRU_EMBEDDING = "gru_embedding.npy"
_W2V_EMBEDDING = "w2v_embedding.npy"


def caption_language(caption, default_language: str) -> str:
    """The language of a caption: from its tag when it has one, else ``default_language``."""
    tag = getattr(caption, "tag", None)
    return language_of_tag(tag) if tag else default_language


class CaptionFeaturizer:
    """Featurize captions with the ``SentenceFeaturizer`` of each caption's language (shared vocabularies).

    Args:
        gru_vocab, bow_vocab: the run's vocabularies.
        languages: the languages to support.
        default_language: the language of captions without a tag and of plain strings.
        maxlen: padded sentence length (32 in the lineage).

    Example:
        >>> from w2vvx.text.vocabulary import Vocabulary
        >>> vocab = Vocabulary(["dog", "runs"])
        >>> featurize = CaptionFeaturizer(vocab, vocab, ["en"], "en", maxlen=4)
        >>> featurize("The dog runs")["tokens"].tolist()
        [1, 2, 3, 0]
    """

    def __init__(self, gru_vocab: Vocabulary, bow_vocab: Vocabulary, languages: Sequence[str],
                 default_language: str = "en", maxlen: int = 32):
        from w2vvx.text.featurizer import SentenceFeaturizer

        self.gru_vocab = gru_vocab
        self.bow_vocab = bow_vocab
        self.default_language = default_language
        self.maxlen = int(maxlen)
        self.languages = sorted(set(languages) | {default_language})
        self._by_language = {language: SentenceFeaturizer(language, gru_vocab, bow_vocab, maxlen=self.maxlen)
                             for language in self.languages}

    def for_language(self, language: str):
        """The ``SentenceFeaturizer`` of ``language``."""
        if language not in self._by_language:
            raise ConfigError(f"this run was prepared for languages {self.languages}, not {language!r}; "
                              "pass captions of those languages or prepare a new run")
        return self._by_language[language]

    def __call__(self, text: str, language: Optional[str] = None) -> Dict[str, np.ndarray]:
        return self.for_language(language or self.default_language)(text)

    def featurize_captions(self, captions) -> Dict[str, np.ndarray]:
        """Stacked int32 arrays for Captions (language from tags), ``(item_id, text)`` pairs or strings."""
        captions = list(captions)
        by_language: Dict[str, List[int]] = {}
        texts = []
        for position, caption in enumerate(captions):
            if isinstance(caption, str):
                language, text = self.default_language, caption
            elif hasattr(caption, "text"):
                language, text = caption_language(caption, self.default_language), caption.text
            else:
                language, text = self.default_language, caption[1]
            by_language.setdefault(language, []).append(position)
            texts.append(text)
        out = {key: np.zeros((len(captions), self.maxlen), np.int32) for key in ("tokens", "bow_tokens")}
        for language, positions in by_language.items():
            arrays = self.for_language(language).batch([texts[position] for position in positions])
            for key, value in arrays.items():
                out.setdefault(key, np.zeros((len(captions),) + value.shape[1:], np.int32))[positions] = value
        return out


@dataclasses.dataclass
class PreparedText:
    """The text side of a run.

    Attributes:
        gru_vocab, bow_vocab: vocabularies (index 0 ``<pad>``, 1 ``<unk>``).
        gru_embedding: ``(len(gru_vocab), dim)`` float32 initial GRU word embedding.
        w2v_embedding: ``(len(bow_vocab), dim)`` float32 word2vec rows for the mean-word2vec branch.
        languages, default_language, maxlen, min_count: settings.
        word_vectors: where the vectors came from (a path, or ``"trained"``).
    """

    gru_vocab: Vocabulary
    bow_vocab: Vocabulary
    gru_embedding: np.ndarray
    w2v_embedding: np.ndarray
    languages: List[str]
    default_language: str = "en"
    maxlen: int = 32
    min_count: int = 5
    word_vectors: str = "trained"

    @property
    def featurizer(self) -> CaptionFeaturizer:
        return CaptionFeaturizer(self.gru_vocab, self.bow_vocab, self.languages, self.default_language, self.maxlen)

    def save(self, run_dir, overwrite: bool = False) -> Path:
        """Write ``<run_dir>/prepared/`` atomically."""
        final = Path(run_dir) / PREPARED_DIR
        with atomic_dir(final, overwrite=overwrite) as tmp:
            self.gru_vocab.save(tmp / _GRU_VOCAB)
            self.bow_vocab.save(tmp / _BOW_VOCAB)
            np.save(tmp / _GRU_EMBEDDING, np.asarray(self.gru_embedding, np.float32), allow_pickle=False)
            np.save(tmp / _W2V_EMBEDDING, np.asarray(self.w2v_embedding, np.float32), allow_pickle=False)
            settings = {"languages": self.languages, "default_language": self.default_language,
                        "maxlen": self.maxlen, "min_count": self.min_count, "word_vectors": self.word_vectors}
            (tmp / _SETTINGS).write_text(json.dumps(settings, indent=1, ensure_ascii=False), encoding="utf-8")
        return final

    @classmethod
    def load(cls, run_dir) -> "PreparedText":
        """Read ``<run_dir>/prepared/`` (or a ``prepared`` folder itself)."""
        folder = Path(run_dir)
        if folder.name != PREPARED_DIR:
            folder = folder / PREPARED_DIR
        settings_path = folder / _SETTINGS
        settings = read_json_object(settings_path, fix="prepare the text again (train a new run)",
                                    missing="no prepared text of a run here; train a model first (w2vvx train)")
        prepared = cls(gru_vocab=Vocabulary.load(folder / _GRU_VOCAB), bow_vocab=Vocabulary.load(folder / _BOW_VOCAB),
                       gru_embedding=_load_matrix(folder / _GRU_EMBEDDING),
                       w2v_embedding=_load_matrix(folder / _W2V_EMBEDDING), **settings)
        for name, matrix, vocab in (("gru_embedding", prepared.gru_embedding, prepared.gru_vocab),
                                    ("w2v_embedding", prepared.w2v_embedding, prepared.bow_vocab)):
            if matrix.ndim != 2 or matrix.shape[0] != len(vocab):
                raise DataFormatError(f"{name} has shape {matrix.shape}, expected ({len(vocab)}, dim) for its "
                                      "vocabulary; the folder is damaged, delete it to prepare again",
                                      path=folder / f"{name}.npy")
        return prepared


def _load_matrix(path: Path) -> np.ndarray:
    """A float matrix saved by :meth:`PreparedText.save`; library errors naming the file otherwise."""
    if not path.is_file():
        raise MissingFileError("a file of the prepared text is missing; the folder is damaged, delete it to "
                               "prepare again", path=path)
    try:
        matrix = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataFormatError(f"not a plain numeric .npy array ({error}); the folder is damaged or was not "
                              "written by w2vvx, delete it to prepare again", path=path) from None
    if not isinstance(matrix, np.ndarray) or not np.issubdtype(matrix.dtype, np.number):
        raise DataFormatError(f"holds {getattr(matrix, 'dtype', type(matrix).__name__)} values, expected a float "
                              "matrix; delete the folder to prepare again", path=path)
    return matrix


def tokenize_captions(captions, default_language: str = "en", remove_stopwords: bool = False) -> List[List[str]]:
    """Tokenize each caption with the tokenizer of its language."""
    tokens, filtered = tokenize_captions_both(captions, default_language, with_filtered=remove_stopwords)
    return filtered if remove_stopwords else tokens


def tokenize_captions_both(captions, default_language: str = "en", with_filtered: bool = True):
    """Tokenize each caption once: ``(tokens, tokens without stopwords)`` (the second None unless ``with_filtered``).

    One tokenizer per language (jieba is loaded once for Chinese); stopwords are the lists of
    :func:`w2vvx.text.stopwords.load_stopwords`, as ``get_tokenizer(language, remove_stopwords=True)``.

    Example:
        >>> tokenize_captions_both([("img1", "A dog on the grass")])
        ([['a', 'dog', 'on', 'the', 'grass']], [['dog', 'grass']])
    """
    from w2vvx.text.stopwords import load_stopwords

    tokenizers: Dict[str, object] = {}
    stopwords: Dict[str, frozenset] = {}
    token_lists, filtered_lists = [], []
    for caption in captions:
        language = caption_language(caption, default_language)
        if language not in tokenizers:
            tokenizers[language] = get_tokenizer(language)
            if with_filtered:
                stopwords[language] = load_stopwords(language)
        text = caption.text if hasattr(caption, "text") else caption[1]
        tokens = tokenizers[language](text)
        token_lists.append(tokens)
        if with_filtered:
            filtered_lists.append([token for token in tokens if token not in stopwords[language]])
    return token_lists, (filtered_lists if with_filtered else None)


def prepare_text(train_captions: Iterable, word_vectors=None, dim: int = 500, min_count: int = 5,
                 maxlen: int = 32, default_language: str = "en", seed: int = 0,
                 trusted: bool = False) -> PreparedText:
    """Build vocabularies, word vectors and embedding matrices from the training captions.

    Args:
        train_captions: ``w2vvx.io.Caption`` list (or ``(item_id, text)`` pairs in ``default_language``).
        word_vectors: a path for :func:`w2vvx.text.word_vectors.load_word_vectors`, already loaded
            vectors (gensim ``KeyedVectors``, BigFile, ``{word: vector}``), or ``None`` to train word2vec
            (``dim``-dimensional) on the training captions.
        dim: dimension of trained word vectors (ignored for given vectors).
        min_count: minimum training count of a vocabulary word (5 in the lineage).
        maxlen: padded sentence length.
        default_language: the language of captions without a tag.
        seed: seed of word2vec training and of the uniform rows of unknown words.
        trusted: allow pickle-based gensim files for ``word_vectors`` (see ``load_word_vectors``).

    Example:
        >>> caps = [("img1", "a dog runs on grass")] * 5
        >>> prepared = prepare_text(caps, word_vectors={"dog": [1.0, 0.0]}, min_count=5)
        >>> prepared.gru_vocab.words[:4], prepared.gru_embedding.shape
        (['<pad>', '<unk>', 'a', 'dog'], (7, 2))
    """
    from w2vvx.text.word_vectors import embedding_matrix, load_word_vectors, train_word2vec

    train_captions = list(train_captions)
    if not train_captions:
        raise ConfigError("no training captions to build the vocabulary from")
    languages = sorted({caption_language(caption, default_language) for caption in train_captions})
    gru_tokens, bow_tokens = tokenize_captions_both(train_captions, default_language)
    gru_vocab = Vocabulary.build(gru_tokens, min_count=min_count)
    bow_vocab = Vocabulary.build(bow_tokens, min_count=min_count)
    if len(gru_vocab) <= 2:
        raise ConfigError(f"no word occurs {min_count} times in the {len(train_captions)} training captions; "
                          "lower min_count or train on more captions")
    if word_vectors is None:
        vectors = train_word2vec(gru_tokens, dim=dim, seed=seed, workers=1, min_count=min(min_count, 5))
        source = "trained"
    elif isinstance(word_vectors, (str, Path)):
        vectors = load_word_vectors(word_vectors, trusted=trusted)
        source = str(word_vectors)
    else:
        vectors, source = word_vectors, "given"
    gru_embedding = embedding_matrix(gru_vocab, vectors, seed=seed)
    w2v_embedding = embedding_matrix(bow_vocab, vectors, seed=seed + 1, missing="zero")
    logger.info("vocabularies: GRU %d words, BoW %d words (min count %d); word vectors %s, dim %d",
                len(gru_vocab), len(bow_vocab), min_count, source, gru_embedding.shape[1])
    return PreparedText(gru_vocab, bow_vocab, gru_embedding, w2v_embedding, languages, default_language,
                        int(maxlen), int(min_count), source)
