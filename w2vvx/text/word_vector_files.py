"""Reading word-vector text files, and telling the formats apart, on the decompressed bytes.

The readers of :func:`w2vvx.text.word_vectors.load_word_vectors` for word2vec text (``"N D"`` header)
and GloVe (no header) files, plain or gzip-compressed (``.txt.gz``, recognised by their content): a UTF-8
byte-order mark is ignored, every line is checked (a named line for a wrong value count, a value that
is not a number or not finite, a header that promises other counts), and words that are not UTF-8 are
refused with the file's likely encoding (a GBK/GB18030 GloVe file used to load as garbled words),
unless they are a handful in a large file (the lineage's GoogleNews vectors hold a few broken words).
"""
from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

from w2vvx.errors import DataFormatError

BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
#: more than this share of words that are not valid in the file's encoding: the file is refused
BAD_WORD_SHARE = 0.01
HEADER_RE = re.compile(rb"^\s*([0-9]+)\s+([0-9]+)\s*$")
FLOAT_RE = re.compile(rb"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?(?:nan|inf)$", re.I)
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


def looks_like_floats(tokens: Sequence[bytes]) -> bool:
    """Every token is a decimal number (``nan``/``inf`` included)."""
    return bool(tokens) and all(FLOAT_RE.match(token) for token in tokens)


def is_gzip(path) -> bool:
    """The file starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def gzip_error(path, error) -> DataFormatError:
    """The error for a damaged or truncated gzip file."""
    return DataFormatError(f"the gzip file is damaged or truncated ({type(error).__name__}: {error}); re-download it",
                           path=path)


def read_head(path, size: int = 1 << 16) -> bytes:
    """The first ``size`` bytes of the file's content: decompressed if it is gzip, without a UTF-8 BOM."""
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as handle:
                head = handle.read(size)
        else:
            with open(path, "rb") as handle:
                head = handle.read(size)
    except _GZIP_ERRORS as error:
        raise gzip_error(path, error) from None
    return head[len(BOM):] if head.startswith(BOM) else head


def detect_format(path) -> str:
    """Guess the word-vector format of ``path`` from its suffix and first (decompressed) bytes.

    Raises:
        DataFormatError: the content matches none of the known formats.

    Example:
        >>> import gzip, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "v.txt.gz")
        >>> _ = gzip.open(path, "wb").write("\\ufeff1 2\\ndog 0.1 0.2\\n".encode())
        >>> detect_format(path)
        'word2vec_text'
    """
    path = Path(path)
    if path.is_dir():
        if (path / "feature.bin").is_file() and (path / "id.txt").is_file():
            return "bigfile"
        raise DataFormatError("a folder of word vectors must be a BigFile (feature.bin, id.txt, shape.txt)",
                              path=path)
    head = read_head(path)
    if not head:
        raise DataFormatError("the word-vector file is empty", path=path)
    if head[:1] == b"\x80":
        return "model" if path.suffix == ".model" else "kv"
    first, _, rest = head.partition(b"\n")
    header = HEADER_RE.match(first)
    if header:
        dim = int(header.group(2))
        word, space, after = rest.partition(b" ")
        line = after.split(b"\n", 1)[0]
        if space and len(line.split()) == dim and looks_like_floats(line.split()):
            return "word2vec_text"
        if space:
            return "word2vec_binary"
        raise DataFormatError(f"a word2vec header 'N D' (D={dim}) is followed by neither a text nor a binary "
                              "vector line", path=path)
    tokens = first.split()
    if len(tokens) >= 2 and looks_like_floats(tokens[1:]):
        return "glove"
    raise DataFormatError(
        "unknown word-vector format: expected a word2vec file (first line 'N D'), a GloVe text file "
        "('word v1 ... vD' lines), a gensim .kv/.model file or a BigFile folder; pass format= to say which",
        path=path)


def _line_error(path, fmt: str, number: int, raw: bytes, tokens: List[bytes], dim: int) -> DataFormatError:
    word = raw.decode("utf-8", errors="replace").strip()[:60]
    extra = len(tokens) - 1 - dim
    if extra > 0:
        why = (f"{extra} field(s) more than the {dim} values: the word itself holds spaces (GloVe 840B has "
               f"such tokens, e.g. '. . .'); drop those lines, e.g. awk 'NF=={dim + 1}'")
    elif extra < 0:
        why = f"expected a word and {dim} numbers, found {len(tokens) - 1} numbers (a truncated line?)"
    else:
        bad = next((token for token in tokens[1:] if not FLOAT_RE.match(token)), None)
        if bad is not None:
            why = f"the value {bad.decode('utf-8', errors='replace')!r} is not a number"
        else:
            why = "a value is NaN or infinite (or overflows float32); fix or drop the line"
    return DataFormatError(f"not a valid {fmt} word-vector file: {why} (line starts {word!r})", path=path, line=number)


def _bad_words_error(path, bad: List[Tuple[int, bytes]], total: int, encoding: str) -> DataFormatError:
    number, sample = bad[0]
    guesses = []
    for codec in ("gb18030", "big5", "shift_jis", "euc-kr", "cp1252"):
        try:
            for _, word in bad[:50]:
                word.decode(codec)
        except UnicodeDecodeError:
            continue
        guesses.append(codec)
        break
    guess = guesses[0] if guesses else "the file's encoding"
    return DataFormatError(
        f"{len(bad)} of {total} words are not valid {encoding} (the first on line {number}: {sample[:40]!r}); the file "
        f"is in another encoding (they decode as {guess}, e.g. GBK/GB18030 for Chinese), so its words would be "
        f"garbled. Convert it (iconv -f {guess.upper()} -t UTF-8 FILE > FILE.utf8) or pass encoding={guess!r}",
        path=path, line=number)


def read_text_vectors(path, fmt: str, encoding: str = "utf-8") -> Tuple[List[str], np.ndarray]:
    """Words and ``(N, D)`` float32 vectors of a word2vec text (``fmt="word2vec_text"``) or GloVe file.

    The first occurrence of a repeated word is kept (as gensim does). A few words that are not valid in
    ``encoding`` (at most 1%) are decoded with replacement characters and logged; more refuse the file.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "glove.txt")
        >>> _ = open(path, "w").write("dog 0.5 1.0\\ncat 1 2\\n")
        >>> words, vectors = read_text_vectors(path, "glove")
        >>> words, vectors.shape
        (['dog', 'cat'], (2, 2))
    """
    import logging

    header = fmt == "word2vec_text"
    words: List[str] = []
    rows: List[np.ndarray] = []
    seen = set()
    bad: List[Tuple[int, bytes]] = []
    dim = expected_rows = None
    n_vectors = 0
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if number == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM):]
                tokens = raw.split()
                if not tokens:
                    continue
                if header and expected_rows is None:
                    match = HEADER_RE.match(raw)
                    if not match:
                        raise DataFormatError(f"expected the word2vec header 'N D' (two integers), found "
                                              f"{raw[:60]!r}; a file without a header is GloVe: pass format='glove'",
                                              path=path, line=number)
                    expected_rows, dim = int(match.group(1)), int(match.group(2))
                    continue
                if dim is None:
                    dim = len(tokens) - 1
                if dim < 1 or len(tokens) - 1 != dim or not looks_like_floats(tokens[1:]):
                    raise _line_error(path, fmt, number, raw, tokens, max(dim, 1))
                with np.errstate(over="ignore"):
                    vector = np.asarray(tokens[1:], dtype=np.float32)
                if not np.isfinite(vector).all():
                    raise _line_error(path, fmt, number, raw, tokens, dim)
                try:
                    word = tokens[0].decode(encoding)
                except UnicodeDecodeError:
                    bad.append((number, tokens[0]))
                    word = tokens[0].decode(encoding, errors="replace")
                except LookupError:
                    raise DataFormatError(f"unknown text encoding {encoding!r}", path=path) from None
                n_vectors += 1
                if word.startswith("\ufeff"):
                    word = word[1:]
                if word in seen:
                    continue
                seen.add(word)
                words.append(word)
                rows.append(vector)
    except _GZIP_ERRORS as error:
        raise gzip_error(path, error) from None
    if header and expected_rows is not None and n_vectors != expected_rows:
        raise DataFormatError(f"not a valid word2vec_text word-vector file: unexpected end of input: the header "
                              f"'{expected_rows} {dim}' promises {expected_rows} vectors, the file holds {n_vectors} "
                              "(truncated, or the header's N is wrong); re-download it or fix the header", path=path)
    if bad and len(bad) > BAD_WORD_SHARE * n_vectors:
        raise _bad_words_error(path, bad, n_vectors, encoding)
    if bad:
        logging.getLogger(__name__).warning(
            "%s: %d word(s) are not valid %s and were decoded with replacement characters (e.g. line %d)",
            path, len(bad), encoding, bad[0][0])
    matrix = np.stack(rows) if rows else np.zeros((0, dim or 1), np.float32)
    return words, matrix
