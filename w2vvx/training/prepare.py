"""Text preparation of a training run: the vocabularies (the model's preprocessor) and the initial embeddings.

As the lineage (w2vv ``get_word_vob.py``, coco-cn ``build_vocab.py``): the GRU vocabulary holds the
training-caption words seen at least ``min_count`` (5) times; the bag-of-words vocabulary does the same
after stopword removal. Each caption is tokenized by the tokenizer of its language (read from the
caption tag: ``enc`` -> en, ``google_enc2zh`` -> zh; captions without a tag use ``default_language``),
through :func:`w2vvx.text.tokenizers.tokenize_captions`, the tokenisation the preprocessor applies to
every sentence it encodes; so one run may mix languages (NRCCR trains on English + machine-translated
target captions).

Word vectors are either loaded (``load_word_vectors``: the lineage's BigFile, word2vec text/binary,
trusted gensim models) or, when none are given, trained with gensim on the training captions
(deterministic: one worker, fixed seed). They only initialise weights: the GRU embedding (GRU
vocabulary; rows of words without a vector drawn from uniform(-1, 1), as w2vv) and the mean-word2vec
branch (rows of words without a vector left at zero, and skipped by the branch's mean, as W2VV's and
COCO-CN's ``AveWord2VecFilterStop`` average only the words that have a vector). That branch has two
vocabularies to choose from (``ModelConfig.w2v_words``): the BoW vocabulary (``"bow"``) or the
word-vector vocabulary ``w2v_vocab``, every stopword-filtered training word whatever its count
(``"pretrained"``, ``"pretrained_unique"``: a word seen once that has a pretrained vector counts, as
in W2VV). ``w2v_vocab`` is built from the captions alone, so a resumed run builds the same one. With
word vectors trained on the captions, words below word2vec's ``min_count`` have no vector and are
skipped, so ``"pretrained"`` then averages about the BoW words.

Nothing here is written to the run folder: the vocabularies live only inside the model (the assets of
its :class:`~w2vvx.models.W2VVPreprocessor` in ``best.keras``). A resumed run builds them again from its
training captions with :func:`prepare_vocabularies` (the same tokenisation, so the same word ids; the
trainer checks them against the digests ``provenance.json`` recorded) and neither loads nor trains word
vectors: its checkpoint restores every weight.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Iterable, List, Optional

import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.text.languages import caption_language
from w2vvx.text.tokenizers import tokenize_captions
from w2vvx.text.vocabulary import Vocabulary

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class PreparedText:
    """The text side of a run.

    Attributes:
        gru_vocab, bow_vocab: vocabularies (index 0 ``<pad>``, 1 ``<unk>``).
        gru_embedding: ``(len(gru_vocab), dim)`` float32 initial GRU word embedding (``None`` when
            resuming: the checkpoint holds the weights).
        w2v_embedding: ``(len(bow_vocab), dim)`` float32 word2vec rows for the mean-word2vec branch (or ``None``).
        w2v_vocab: the word-vector vocabulary (every stopword-filtered training word, min count 1).
        w2v_vocab_embedding: ``(len(w2v_vocab), dim)`` float32 rows of ``w2v_vocab`` (zero: no vector).
        languages, default_language, maxlen, min_count: settings.
        word_vectors: where the vectors came from (a path, ``"trained"``, ``"given"``, or ``"none"``).
    """

    gru_vocab: Vocabulary
    bow_vocab: Vocabulary
    gru_embedding: Optional[np.ndarray]
    w2v_embedding: Optional[np.ndarray]
    languages: List[str]
    default_language: str = "en"
    maxlen: int = 32
    min_count: int = 5
    word_vectors: str = "trained"
    w2v_vocab: Optional[Vocabulary] = None
    w2v_vocab_embedding: Optional[np.ndarray] = None

    def preprocessor(self, with_w2v_vocab: bool = True):
        """A new :class:`~w2vvx.models.W2VVPreprocessor` of these vocabularies: the run's text pipeline.

        Args:
            with_w2v_vocab: include the word-vector vocabulary (``w2v_tokens``); a config with
                ``w2v_words="bow"`` reads none, so its preprocessor goes without.

        Example:
            >>> prepared = prepare_vocabularies([("img1", "a dog runs")] * 2, min_count=2, maxlen=4)
            >>> prepared.preprocessor()(["a dog"])["tokens"].tolist()
            [[2, 3, 0, 0]]
        """
        from w2vvx.models.w2vv.w2vv_preprocessor import W2VVPreprocessor

        return W2VVPreprocessor(self.gru_vocab, self.bow_vocab, languages=self.languages,
                                default_language=self.default_language, maxlen=self.maxlen,
                                w2v_vocab=self.w2v_vocab if with_w2v_vocab else None)

    def initial_word_vectors(self) -> Optional[dict]:
        """``{"tokens": GRU rows, "bow_tokens": / "w2v_tokens": word2vec rows}`` for the model builder, or ``None``."""
        if self.gru_embedding is None:
            return None
        rows = {"tokens": self.gru_embedding, "bow_tokens": self.w2v_embedding}
        if self.w2v_vocab_embedding is not None:
            rows["w2v_tokens"] = self.w2v_vocab_embedding
        return rows


def prepare_vocabularies(train_captions: Iterable, min_count: int = 5, maxlen: int = 32,
                         default_language: str = "en") -> PreparedText:
    """The vocabularies of the training captions, without word vectors (what a resumed run needs).

    Args:
        train_captions: ``w2vvx.io.Caption`` list (or ``(item_id, text)`` pairs in ``default_language``).
        min_count: minimum training count of a vocabulary word (5 in the lineage).
        maxlen: padded sentence length.
        default_language: the language of captions without a tag.

    Example:
        >>> prepare_vocabularies([("img1", "a dog on the grass")] * 2, min_count=2).bow_vocab.words
        ['<pad>', '<unk>', 'dog', 'grass']
    """
    prepared, _ = _vocabularies(list(train_captions), min_count, maxlen, default_language)
    return prepared


def _vocabularies(train_captions: list, min_count: int, maxlen: int, default_language: str):
    if not train_captions:
        raise ConfigError("no training captions to build the vocabulary from")
    languages = sorted({caption_language(caption, default_language) for caption in train_captions})
    gru_tokens, bow_tokens = tokenize_captions(train_captions, default_language)
    gru_vocab = Vocabulary.build(gru_tokens, min_count=min_count)
    bow_vocab = Vocabulary.build(bow_tokens, min_count=min_count)
    if len(gru_vocab) <= 2:
        raise ConfigError(f"no word occurs {min_count} times in the {len(train_captions)} training captions; "
                          "lower min_count or train on more captions")
    prepared = PreparedText(gru_vocab, bow_vocab, None, None, languages, default_language, int(maxlen),
                            int(min_count), "none", w2v_vocab=Vocabulary.build(bow_tokens, min_count=1))
    return prepared, gru_tokens


def prepare_text(train_captions: Iterable, word_vectors=None, dim: int = 500, min_count: int = 5,
                 maxlen: int = 32, default_language: str = "en", seed: int = 0,
                 trusted: bool = False) -> PreparedText:
    """Build vocabularies, word vectors and embedding matrices from the training captions.

    Args:
        train_captions: ``w2vvx.io.Caption`` list (or ``(item_id, text)`` pairs in ``default_language``).
        word_vectors: a path for :func:`w2vvx.text.word_vectors.load_word_vectors`, already loaded
            vectors (gensim ``KeyedVectors``, BigFile, ``{word: vector}``), vectors per language
            ``{"en": path_or_vectors, "zh": ...}`` of one aligned space (MUSE-style files; merged by
            :func:`w2vvx.text.bilingual_vectors.merge_language_vectors`), or ``None`` to train word2vec
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
    from w2vvx.text.bilingual_vectors import is_language_mapping, merge_language_vectors
    from w2vvx.text.word_vectors import embedding_matrix, load_word_vectors, train_word2vec

    prepared, gru_tokens = _vocabularies(list(train_captions), min_count, maxlen, default_language)
    if word_vectors is None:
        vectors = train_word2vec(gru_tokens, dim=dim, seed=seed, workers=1, min_count=min(min_count, 5))
        source = "trained"
    elif isinstance(word_vectors, (str, Path)):
        vectors = load_word_vectors(word_vectors, trusted=trusted)
        source = str(word_vectors)
    elif is_language_mapping(word_vectors):
        vectors = merge_language_vectors(word_vectors, trusted=trusted)
        source = "per language: " + ", ".join(f"{language}={value if isinstance(value, (str, Path)) else 'given'}"
                                               for language, value in word_vectors.items())
    else:
        vectors, source = word_vectors, "given"
    prepared.gru_embedding = embedding_matrix(prepared.gru_vocab, vectors, seed=seed)
    prepared.w2v_embedding = embedding_matrix(prepared.bow_vocab, vectors, seed=seed + 1, missing="zero")
    prepared.w2v_vocab_embedding = embedding_matrix(prepared.w2v_vocab, vectors, seed=seed + 1, missing="zero")
    prepared.word_vectors = source
    logger.info("vocabularies: GRU %d words, BoW %d words (min count %d), word-vector %d words (%d with a "
                "vector); word vectors %s, dim %d", len(prepared.gru_vocab), len(prepared.bow_vocab), min_count,
                len(prepared.w2v_vocab), int(np.any(prepared.w2v_vocab_embedding != 0, axis=1).sum()), source,
                prepared.gru_embedding.shape[1])
    return prepared
