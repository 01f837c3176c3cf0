"""The BigFile format (``feature.bin`` + ``id.txt`` + ``shape.txt`` in one folder): file names, dtype and the
parsers of the two text files, shared by the reader (:mod:`w2vvx.io.bigfile`), the writers
(:mod:`w2vvx.io.bigfile_writer`) and the stored search indexes.

Layout (W2VV ``simpleknn/bigfile.py``, NRCCR ``basic/bigfile.py``):

* ``shape.txt``: one line ``"N D"``.
* ``id.txt``: the N ids, whitespace separated (the lineage writes them on one line; one per line is
  accepted too). Row ``i`` of ``feature.bin`` belongs to id ``i``.
* ``feature.bin``: headerless little-endian float32, row-major, ``N x D``.
"""
from __future__ import annotations

import logging
import re
from typing import List, Tuple

import numpy as np

from w2vvx.errors import DataFormatError

logger = logging.getLogger(__name__)

FEATURE_FILE = "feature.bin"
ID_FILE = "id.txt"
SHAPE_FILE = "shape.txt"
#: The dtype of ``feature.bin``: little-endian float32.
FEATURE_DTYPE = np.dtype("<f4")
_INT_RE = re.compile(rb"^[0-9]+$")


def parse_shape_text(data: bytes, path=None) -> Tuple[int, int]:
    """Parse the content of a ``shape.txt`` file: ``"N D"``, two non-negative integers.

    Args:
        data: the raw bytes of the file.
        path: the file, for error messages.

    Returns:
        ``(N, D)`` with ``N >= 0`` and ``D >= 1``.

    Example:
        >>> parse_shape_text(b"8000 384\\n")
        (8000, 384)
    """
    tokens = data.split()
    if len(tokens) != 2 or not all(_INT_RE.match(token) for token in tokens):
        shown = data[:80].decode("ascii", errors="backslashreplace")
        raise DataFormatError(
            f"expected one line 'N D' (two non-negative integers: rows and dimensions), found {shown!r}; "
            "re-create the BigFile (e.g. w2vvx.io.bigfile_convert.txt2bin) or fix shape.txt",
            path=path, line=1)
    n_rows, n_dims = int(tokens[0]), int(tokens[1])
    if n_dims < 1:
        raise DataFormatError(f"the dimension D must be at least 1, found {n_dims}", path=path, line=1)
    return n_rows, n_dims


def decode_ids(data: bytes, path=None) -> List[str]:
    """Split the content of an ``id.txt`` file into ids.

    Ids are separated by ASCII whitespace. Each id is decoded as UTF-8; an id that is not valid UTF-8
    is decoded as ISO-8859-1 (as hybrid_space/NRCCR do for the lineage's word2vec ``id.txt``), with
    one warning per file.

    Args:
        data: the raw bytes of the file.
        path: the file, for the warning.

    Example:
        >>> decode_ids(b"a b\\nc caf\\xe9")
        ['a', 'b', 'c', 'café']
        >>> decode_ids(b"\\xef\\xbb\\xbfa b")
        ['a', 'b']
    """
    from w2vvx.io.textlines import check_not_wide

    data = check_not_wide(data, path)  # a UTF-8 BOM would rename the first item; UTF-16 is refused by name
    # BOMs of files concatenated into this one: never part of an id
    tokens = [token for token in (raw.replace(b"\xef\xbb\xbf", b"") for raw in data.split()) if token]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return [token.decode("utf-8") for token in tokens]
    names = []
    n_fallback = 0
    for token in tokens:
        try:
            names.append(token.decode("utf-8"))
        except UnicodeDecodeError:
            names.append(token.decode("iso-8859-1"))
            n_fallback += 1
    logger.warning("%s: %d id(s) are not valid UTF-8 and were decoded as ISO-8859-1",
                   path if path is not None else "id.txt", n_fallback)
    return names


__all__ = ["FEATURE_FILE", "ID_FILE", "SHAPE_FILE", "FEATURE_DTYPE", "parse_shape_text", "decode_ids"]
