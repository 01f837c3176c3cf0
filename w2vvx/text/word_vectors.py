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
import re
import zlib
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError, UntrustedFileError

logger = logging.getLogger(__name__)

FORMATS = ("auto", "word2vec_binary", "word2vec_text", "glove", "bigfile", "kv", "model")
_PICKLE_FORMATS = ("kv", "model")
_HEADER_RE = re.compile(rb"^\s*([0-9]+)\s+([0-9]+)\s*$")
_FLOAT_RE = re.compile(rb"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?(?:nan|inf)$", re.I)


def _looks_like_floats(tokens: Sequence[bytes]) -> bool:
    return bool(tokens) and all(_FLOAT_RE.match(token) for token in tokens)


def detect_format(path) -> str:
    """Guess the word-vector format of ``path`` from its suffix and first bytes.

    Raises:
        DataFormatError: the content matches none of the known formats.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "v.txt")
        >>> _ = open(path, "w").write("1 2\\ndog 0.1 0.2\\n")
        >>> detect_format(path)
        'word2vec_text'
    """
    path = Path(path)
    if path.is_dir():
        if (path / "feature.bin").is_file() and (path / "id.txt").is_file():
            return "bigfile"
        raise DataFormatError("a folder of word vectors must be a BigFile (feature.bin, id.txt, shape.txt)",
                              path=path)
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if not head:
        raise DataFormatError("the word-vector file is empty", path=path)
    if head[:1] == b"\x80":
        return "model" if path.suffix == ".model" else "kv"
    first, _, rest = head.partition(b"\n")
    header = _HEADER_RE.match(first)
    if header:
        dim = int(header.group(2))
        word, space, after = rest.partition(b" ")
        line = after.split(b"\n", 1)[0]
        if space and len(line.split()) == dim and _looks_like_floats(line.split()):
            return "word2vec_text"
        if space:
            return "word2vec_binary"
        raise DataFormatError(f"a word2vec header 'N D' (D={dim}) is followed by neither a text nor a binary "
                              "vector line", path=path)
    tokens = first.split()
    if len(tokens) >= 2 and _looks_like_floats(tokens[1:]):
        return "glove"
    raise DataFormatError(
        "unknown word-vector format: expected a word2vec file (first line 'N D'), a GloVe text file "
        "('word v1 ... vD' lines), a gensim .kv/.model file or a BigFile folder; pass format= to say which",
        path=path)


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


def load_word_vectors(path, format: str = "auto", trusted: bool = False):
    """Load word vectors as a gensim ``KeyedVectors``.

    Args:
        path: a file, or a BigFile folder.
        format: one of :data:`FORMATS`; ``"auto"`` detects it (see :func:`detect_format`).
        trusted: allow the pickle-based gensim formats (``.kv``, ``.model``). Only pass ``True`` for
            files you made yourself or got from a source you trust: unpickling can run arbitrary code.

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
    binary = fmt == "word2vec_binary"
    no_header = fmt == "glove"
    try:
        try:
            return KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=no_header)
        except UnicodeDecodeError:
            logger.warning("%s: some words are not valid UTF-8; they are decoded with replacement characters",
                           path)
            return KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=no_header,
                                                     unicode_errors="replace")
    except (ValueError, EOFError, IndexError, OverflowError) as error:
        if not binary:
            located = _first_bad_text_line(path, header=not no_header, fmt=fmt)
            if located is not None:
                raise located from None
        raise DataFormatError(f"not a valid {fmt} word-vector file ({type(error).__name__}: {error})",
                              path=path) from None


def _first_bad_text_line(path, header: bool, fmt: str = "text") -> Optional[DataFormatError]:
    """The first line of a text word-vector file that is not ``word v1 ... vD`` (to name it in the error)."""
    dim = None
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            tokens = raw.split()
            if number == 1 and header:
                if len(tokens) == 2 and all(token.isdigit() for token in tokens):
                    dim = int(tokens[1])
                continue
            if not tokens:
                continue
            if dim is None:
                dim = len(tokens) - 1
            word = raw.decode("utf-8", errors="replace").strip()[:60]
            extra = len(tokens) - 1 - dim
            if extra > 0:
                why = (f"{extra} field(s) more than the {dim} values: the word itself holds spaces (GloVe 840B has "
                       f"such tokens, e.g. '. . .'); drop those lines, e.g. awk 'NF=={dim + 1}'")
            elif extra < 0:
                why = f"expected a word and {dim} numbers, found {len(tokens) - 1} numbers (a truncated line?)"
            elif not _looks_like_floats(tokens[1:]):
                bad = next(token for token in tokens[1:] if not _FLOAT_RE.match(token))
                why = f"the value {bad.decode('utf-8', errors='replace')!r} is not a number"
            else:
                continue
            return DataFormatError(f"not a valid {fmt} word-vector file: {why} (line starts {word!r})", path=path,
                                   line=number)
    return None


def _stable_hash(text) -> int:
    """A hash that does not change between processes (Python's ``hash`` of str does)."""
    return zlib.crc32(str(text).encode("utf-8"))


def train_word2vec(token_lists: Iterable[Sequence[str]], dim: int = 500, seed: int = 0, workers: int = 1,
                   min_count: int = 5, window: int = 5, epochs: int = 5, sg: int = 0):
    """Train word2vec with gensim and return its ``KeyedVectors``.

    With ``workers=1`` the result is identical across runs and processes (a process-independent hash
    seeds the initial vectors).

    Args:
        token_lists: tokenized sentences.
        dim: vector size (500 in the lineage).
        seed: random seed.
        workers: training threads; more than 1 is faster but not reproducible.
        min_count, window, epochs, sg: as gensim ``Word2Vec`` (``sg=0`` is CBOW).
    """
    from gensim.models import Word2Vec

    sentences = [list(tokens) for tokens in token_lists]
    if not any(sentences):
        raise ConfigError("train_word2vec got no tokens; pass tokenized sentences (lists of str)")
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

