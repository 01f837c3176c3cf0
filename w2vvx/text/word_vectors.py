"""Pre-trained word vectors: loading (word2vec, GloVe, gensim, lineage BigFile), training, embedding init.

Formats understood by :func:`load_word_vectors`:

* ``"word2vec_binary"`` / ``"word2vec_text"``: a ``"N D"`` header then words with vectors.
* ``"glove"``: text without a header (``word v1 ... vD`` per line).
* ``"bigfile"``: the lineage's ``vec500flickr30m`` folder (``feature.bin``, ``id.txt``, ``shape.txt``).
* ``"kv"`` (gensim ``KeyedVectors.save``) and ``"model"`` (gensim ``Word2Vec.save``, e.g. coco-cn's
  ``zh_jieba.model``): these are pickles, which can run code when loaded, so they need ``trusted=True``.
"""
from __future__ import annotations

import collections
import logging
import zlib
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError, UntrustedFileError
from w2vvx.text.word_vector_files import BAD_WORD_SHARE, HEADER_RE, detect_format, read_head, read_text_vectors

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "coverage", "detect_format", "embedding_matrix", "load_word_vectors", "train_word2vec"]

FORMATS = ("auto", "word2vec_binary", "word2vec_text", "glove", "bigfile", "kv", "model")
_PICKLE_FORMATS = ("kv", "model")
def _bigfile_vectors(path):
    from gensim.models import KeyedVectors

    from w2vvx.io.bigfile import BigFile

    bigfile = BigFile(path)
    vectors = KeyedVectors(vector_size=bigfile.ndims, count=0, dtype=np.float32)
    if len(bigfile):
        vectors.add_vectors(bigfile.names, np.asarray(bigfile.matrix, dtype=np.float32))
    return vectors


def _load_pickle(path: Path, fmt: str):
    from gensim.models import KeyedVectors
    from gensim.utils import SaveLoad

    try:
        obj = SaveLoad.load(str(path))
    except Exception as error:  # gensim/pickle raise many types on a bad file
        raise DataFormatError(f"cannot be loaded as a gensim {fmt} file ({type(error).__name__}: {error})",
                              path=path) from None
    if isinstance(obj, KeyedVectors):
        return obj
    if isinstance(getattr(obj, "wv", None), KeyedVectors):
        return obj.wv
    raise DataFormatError(f"the gensim file holds a {type(obj).__name__}, not word vectors", path=path)


def load_word_vectors(path, format: str = "auto", trusted: bool = False, encoding: str = "utf-8"):
    """Load word vectors as a gensim ``KeyedVectors``.

    Args:
        path: a file, or a BigFile folder.
        format: one of :data:`FORMATS`; ``"auto"`` detects it (see :func:`detect_format`).
        trusted: allow the pickle-based gensim formats (``.kv``, ``.model``). Only pass ``True`` for
            files you made yourself or got from a source you trust: unpickling can run arbitrary code.
        encoding: the encoding of the words (UTF-8; e.g. ``"gb18030"`` for a Chinese file that is not UTF-8).
            Text files may be gzip-compressed and may start with a UTF-8 byte-order mark.

    Raises:
        MissingFileError, DataFormatError, UntrustedFileError, ConfigError (unknown ``format``).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "glove.txt")
        >>> _ = open(path, "w").write("dog 0.5 1.0\\ncat 1 2\\n")
        >>> load_word_vectors(path)["cat"].tolist()
        [1.0, 2.0]
    """
    from gensim.models import KeyedVectors

    if format not in FORMATS:
        raise ConfigError(f"unknown word-vector format {format!r}; expected one of {list(FORMATS)}")
    path = Path(path)
    if not path.exists():
        raise MissingFileError("word-vector file not found", path=path)
    fmt = detect_format(path) if format == "auto" else format
    if fmt in _PICKLE_FORMATS:
        if not trusted:
            raise UntrustedFileError(
                f"{path} is a gensim {fmt} file, i.e. a Python pickle, which can run code when loaded; pass "
                "trusted=True (CLI: --trusted) only if you trust its source, or convert it once to the "
                "word2vec binary format (KeyedVectors.save_word2vec_format(..., binary=True))")
        return _load_pickle(path, fmt)
    if fmt == "bigfile":
        return _bigfile_vectors(path)
    if fmt in ("word2vec_text", "glove"):
        words, matrix = read_text_vectors(path, fmt, encoding=encoding)
        vectors = KeyedVectors(vector_size=matrix.shape[1], count=0, dtype=np.float32)
        if words:
            vectors.add_vectors(words, matrix)
        return vectors
    return _load_binary(path, encoding)


def _load_binary(path: Path, encoding: str):
    """A word2vec binary file through gensim; errors name the header's N and D, garbled words refuse the file."""
    from gensim.models import KeyedVectors

    try:
        try:
            return KeyedVectors.load_word2vec_format(str(path), binary=True, encoding=encoding)
        except UnicodeDecodeError:
            vectors = KeyedVectors.load_word2vec_format(str(path), binary=True, encoding=encoding,
                                                        unicode_errors="replace")
    except (ValueError, EOFError, IndexError, OverflowError) as error:
        raise DataFormatError(f"not a valid word2vec_binary word-vector file ({type(error).__name__}: "
                              f"{str(error)[:200]}){_binary_sizes(path)}", path=path) from None
    garbled = sum(1 for word in vectors.index_to_key if "\ufffd" in word)
    if garbled > BAD_WORD_SHARE * len(vectors.index_to_key):
        raise DataFormatError(
            f"{garbled} of {len(vectors.index_to_key)} words are not valid {encoding}: the header's D does not match "
            f"the values (each vector is read as D float32 values, so a wrong D makes words of the value bytes), or "
            f"the file is in another encoding (pass encoding=, e.g. 'gb18030'){_binary_sizes(path)}", path=path)
    logger.warning("%s: %d word(s) are not valid %s; they are decoded with replacement characters", path, garbled,
                   encoding)
    return vectors


def _binary_sizes(path: Path) -> str:
    """What the header of a word2vec binary file promises, against the file's size."""
    match = HEADER_RE.match(read_head(path, 256).partition(b"\n")[0])
    if not match:
        return ""
    rows, dim = int(match.group(1)), int(match.group(2))
    size = path.stat().st_size
    needed = rows * dim * 4
    if size < needed:
        return (f"; its header says N={rows} vectors of D={dim} float32 values, i.e. at least {needed} bytes of values, "
                f"but the file has {size} bytes: the header's D (or N) is larger than what the file holds (fix the "
                "header), or the file is truncated (re-download it)")
    return (f"; its header says N={rows} vectors of D={dim} float32 values ({needed} bytes of values, the file has "
            f"{size}): check that D is the length of the vectors")


def _stable_hash(text) -> int:
    """A hash that does not change between processes (Python's ``hash`` of str does)."""
    return zlib.crc32(str(text).encode("utf-8"))


#: Word2vec passes over a small corpus until about this many words were trained on (see :func:`train_word2vec`).
MIN_TRAINED_WORDS = 2_000_000
MAX_EPOCHS = 100


def word2vec_epochs(n_words: int, minimum: int = 5) -> int:
    """Passes that give word2vec about :data:`MIN_TRAINED_WORDS` training words (``minimum``..:data:`MAX_EPOCHS`).

    Word2vec's 5 default passes suit corpora of millions of words (the lineage's Flickr30M); on the
    training captions of one collection (tens of thousands of words) they leave every vector close to one
    common direction (mean pairwise cosine 0.98 measured on 5,000 synthetic captions, 0.07 after 50
    passes), and a GRU fed such embeddings sees almost the same input for every word.

    Example:
        >>> word2vec_epochs(40_000), word2vec_epochs(10_000_000), word2vec_epochs(1_000)
        (50, 5, 100)
    """
    if n_words < 1:
        return MAX_EPOCHS
    return int(min(MAX_EPOCHS, max(minimum, -(-MIN_TRAINED_WORDS // n_words))))


def train_word2vec(token_lists: Iterable[Sequence[str]], dim: int = 500, seed: int = 0, workers: int = 1,
                   min_count: int = 5, window: int = 5, epochs: Optional[int] = None, sg: int = 0):
    """Train word2vec with gensim and return its ``KeyedVectors``.

    With ``workers=1`` the result is identical across runs and processes (a process-independent hash
    seeds the initial vectors).

    Args:
        token_lists: tokenized sentences.
        dim: vector size (500 in the lineage).
        seed: random seed.
        workers: training threads; more than 1 is faster but not reproducible.
        min_count, window, sg: as gensim ``Word2Vec`` (``sg=0`` is CBOW).
        epochs: passes over the sentences; ``None`` = :func:`word2vec_epochs` of the corpus size (5 for
            large corpora, more for small ones, so that the vectors separate).
    """
    from gensim.models import Word2Vec

    sentences = [list(tokens) for tokens in token_lists]
    if not any(sentences):
        raise ConfigError("train_word2vec got no tokens; pass tokenized sentences (lists of str)")
    if epochs is None:
        epochs = word2vec_epochs(sum(len(tokens) for tokens in sentences))
    for name, value in (("dim", dim), ("workers", workers), ("min_count", min_count), ("window", window),
                        ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    counts = collections.Counter(token for tokens in sentences for token in tokens)
    if not counts or max(counts.values()) < min_count:
        raise ConfigError(f"no word occurs at least min_count={min_count} times; lower min_count")
    model = Word2Vec(sentences=sentences, vector_size=dim, seed=seed, workers=workers, min_count=min_count,
                     window=window, epochs=epochs, sg=sg, hashfxn=_stable_hash)
    return model.wv


def _lookup(vectors, words: Sequence[str]):
    """Return ``(positions in words, matrix)`` of the words present in ``vectors``."""
    from w2vvx.io.bigfile import BigFile

    if isinstance(vectors, BigFile):
        rows = [(position, vectors.index(word)) for position, word in enumerate(words) if word in vectors]
        positions = [position for position, _ in rows]
        return positions, vectors.read_rows(np.asarray([row for _, row in rows], dtype=np.int64)), vectors.ndims
    if isinstance(vectors, dict):
        dims = {len(v) for v in vectors.values()}
        if len(dims) != 1:
            raise ConfigError(f"the word-vector dict has vectors of sizes {sorted(dims)[:5]}; expected one size")
        dim = dims.pop()
        positions = [position for position, word in enumerate(words) if word in vectors]
        matrix = np.asarray([vectors[words[p]] for p in positions], dtype=np.float32).reshape(len(positions), dim)
        return positions, matrix, dim
    key_to_index = getattr(vectors, "key_to_index", None)
    if key_to_index is None:
        raise ConfigError(f"vectors must be a gensim KeyedVectors, a BigFile or a dict, got {type(vectors).__name__}")
    positions = [position for position, word in enumerate(words) if word in key_to_index]
    matrix = np.asarray(vectors.vectors[[key_to_index[words[p]] for p in positions]], dtype=np.float32)
    return positions, matrix.reshape(len(positions), vectors.vector_size), int(vectors.vector_size)


MISSING_ROWS = ("uniform", "zero")


def embedding_matrix(vocab, vectors, seed: int = 0, missing: str = "uniform") -> np.ndarray:
    """Initial embedding weights for ``vocab`` (w2vv ``get_we_parameter``).

    Row 0 (``<pad>``) is zero, rows of words found in ``vectors`` are copied, every other row
    (``<unk>`` included) is drawn from uniform(-1, 1) (``missing="uniform"``, the GRU embedding of the
    lineage) or left at zero (``missing="zero"``: the mean-word2vec branch, whose
    :class:`~w2vvx.layers.mean_word2vec.MeanWordEmbedding` skips zero rows as COCO-CN's
    ``AveWord2VecFilterStop`` skips words without a vector).

    Args:
        vocab: a :class:`w2vvx.text.vocabulary.Vocabulary`.
        vectors: gensim ``KeyedVectors``, a lineage :class:`~w2vvx.io.bigfile.BigFile` (read without
            loading the whole file), or a ``{word: vector}`` dict.
        seed: seed of the uniform draws.
        missing: ``"uniform"`` or ``"zero"``, the rows of words without a vector.

    Returns:
        float32 array ``(len(vocab), dim)``.

    Example:
        >>> from w2vvx.text.vocabulary import Vocabulary
        >>> m = embedding_matrix(Vocabulary(["dog", "cat"]), {"dog": [0.5, 0.5]}, seed=0)
        >>> m.shape, m[0].tolist(), m[2].tolist()
        ((4, 2), [0.0, 0.0], [0.5, 0.5])
        >>> embedding_matrix(Vocabulary(["dog", "cat"]), {"dog": [0.5, 0.5]}, missing="zero")[3].tolist()
        [0.0, 0.0]
    """
    if missing not in MISSING_ROWS:
        raise ConfigError(f"missing must be one of {MISSING_ROWS}, got {missing!r}")
    words = vocab.words
    positions, found, dim = _lookup(vectors, words)
    if missing == "zero":
        matrix = np.zeros((len(words), dim), dtype=np.float32)
    else:
        matrix = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(len(words), dim)).astype(np.float32)
    if positions:
        matrix[np.asarray(positions)] = found
    matrix[0] = 0.0
    found_regular = sum(1 for p in positions if p >= 2)
    logger.info("embedding init: %d of %d vocabulary words have pre-trained vectors", found_regular,
                max(len(words) - 2, 0))
    return matrix


def coverage(vocab, vectors) -> float:
    """Fraction of the vocabulary's regular words (specials excluded) that ``vectors`` know."""
    words = vocab.words[2:]
    if not words:
        return 0.0
    positions, _, _ = _lookup(vectors, words)
    return len(positions) / len(words)

