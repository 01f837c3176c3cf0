"""Converting other feature formats into a BigFile: text lines (``txt2bin``), ``.npy`` and HDF5.

Each converter writes through :class:`~w2vvx.io.bigfile.BigFileWriter` (atomic: the folder appears only
when complete) and reads its source in chunks, so a source larger than memory converts.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.bigfile import BigFile, BigFileWriter, decode_ids

logger = logging.getLogger(__name__)

_INT_RE = re.compile(rb"^[0-9]+$")


def _looks_like_header(tokens: List[bytes], next_tokens: Optional[List[bytes]]) -> bool:
    if len(tokens) != 2 or not all(_INT_RE.match(token) for token in tokens):
        return False
    if next_tokens is None:
        return True
    return len(next_tokens) == int(tokens[1]) + 1


def txt2bin(txt_path, out_dir, overwrite: bool = False, header="auto", chunk_rows: int = 4096) -> BigFile:
    """Convert a text file of lines ``"id v1 ... vD"`` into a BigFile (w2vv ``simpleknn/txt2bin.py``).

    Like the lineage, a repeated id keeps its first row and rows with NaN/Inf are skipped; both are
    counted in a log message. A line with another number of values than the first is an error.

    Args:
        txt_path: the text file (UTF-8; ids that are not UTF-8 are read as ISO-8859-1).
        out_dir: the BigFile folder to create (atomically).
        overwrite: replace an existing ``out_dir``.
        header: ``"auto"`` (skip a word2vec ``"N D"`` first line if the second line has D values),
            ``True`` (the first line is a header) or ``False``.
        chunk_rows: rows buffered per write.

    Returns:
        The new :class:`BigFile`.
    """
    txt_path = Path(txt_path)
    if not txt_path.is_file():
        raise MissingFileError("text feature file not found", path=txt_path)
    if header not in ("auto", True, False):
        raise ConfigError(f"header must be 'auto', True or False, got {header!r}")
    n_duplicates = n_nonfinite = n_latin1 = 0
    writer = None
    with open(txt_path, "rb") as handle:
        lines = _numbered_nonblank_lines(handle)
        first = next(lines, None)
        if first is None:
            raise DataFormatError("the file holds no vectors (expected lines 'id v1 ... vD')", path=txt_path)
        second = next(lines, None)
        skip_first = header is True or (header == "auto" and _looks_like_header(
            first[1], None if second is None else second[1]))
        pending = ([] if skip_first else [first]) + ([second] if second is not None else [])
        if not pending:
            raise DataFormatError("the file holds only a header line and no vectors", path=txt_path)
        dim = len(pending[0][1]) - 1
        if dim < 1:
            raise DataFormatError("expected 'id v1 ... vD' with at least one value, found only an id",
                                  path=txt_path, line=pending[0][0])
        seen: set = set()
        names: List[str] = []
        rows: List[np.ndarray] = []
        try:
            writer = BigFileWriter(out_dir, dim=dim, overwrite=overwrite)
            for number, tokens in _chain(pending, lines):
                if len(tokens) - 1 != dim:
                    raise DataFormatError(
                        f"found {len(tokens) - 1} values, expected {dim} (as on the first vector line); "
                        "every line must be 'id v1 ... vD' with the same D", path=txt_path, line=number)
                try:
                    name = tokens[0].decode("utf-8")
                except UnicodeDecodeError:
                    name = tokens[0].decode("iso-8859-1")
                    n_latin1 += 1
                if name in seen:
                    n_duplicates += 1
                    continue
                try:
                    vector = np.array(tokens[1:], dtype=np.float64)
                except ValueError:
                    raise DataFormatError(
                        f"a value of id {name!r} is not a number: {b' '.join(tokens[1:])[:60]!r}",
                        path=txt_path, line=number) from None
                with np.errstate(over="ignore", invalid="ignore"):
                    vector = vector.astype(np.float32)  # beyond float32 range -> inf -> skipped below
                if not np.isfinite(vector).all():
                    n_nonfinite += 1
                    continue
                seen.add(name)
                names.append(name)
                rows.append(vector)
                if len(rows) >= chunk_rows:
                    writer.add(names, np.stack(rows))
                    names, rows = [], []
            if rows:
                writer.add(names, np.stack(rows))
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        writer.close()
    if n_duplicates or n_nonfinite or n_latin1:
        logger.warning("%s: skipped %d duplicate id(s) and %d row(s) with NaN/Inf; %d id(s) read as ISO-8859-1",
                       txt_path, n_duplicates, n_nonfinite, n_latin1)
    return BigFile(out_dir)


def _numbered_nonblank_lines(handle) -> Iterator[Tuple[int, List[bytes]]]:
    for number, line in enumerate(handle, start=1):
        tokens = line.split()
        if tokens:
            yield number, tokens


def _chain(first: list, rest: Iterator):
    yield from first
    yield from rest


def _read_id_list(ids, what: str) -> List[str]:
    if isinstance(ids, (str, os.PathLike)):
        id_path = Path(ids)
        if not id_path.is_file():
            raise MissingFileError(f"id list for {what} not found (expected one id per line or "
                                   "whitespace separated)", path=id_path)
        return decode_ids(id_path.read_bytes(), path=id_path)
    return [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in ids]


def _write_in_chunks(array, names: List[str], out_dir, overwrite: bool, source, chunk_rows: int) -> BigFile:
    if array.ndim != 2:
        raise DataFormatError(f"expected a 2-D array (rows x dims), found shape {array.shape}", path=source)
    if array.shape[0] != len(names):
        raise DataFormatError(f"the array has {array.shape[0]} rows but {len(names)} ids were given; "
                              "they must match one to one", path=source)
    if array.shape[1] < 1:
        raise DataFormatError("the array has 0 columns", path=source)
    with BigFileWriter(out_dir, dim=int(array.shape[1]), overwrite=overwrite) as writer:
        for start in range(0, max(len(names), 1), chunk_rows):
            stop = min(start + chunk_rows, len(names))
            if stop > start:
                writer.add(names[start:stop], np.asarray(array[start:stop]))
    return BigFile(out_dir)


def npy_to_bigfile(npy_path, ids, out_dir, overwrite: bool = False, chunk_rows: int = 65536) -> BigFile:
    """Convert a 2-D ``.npy`` array (e.g. Multi30K's ``train-resnet_152-avgpool.npy``) into a BigFile.

    Args:
        npy_path: the ``.npy`` file (read memory-mapped, ``allow_pickle=False``).
        ids: the row ids, as a list or as the path of a text file (e.g. a Multi30K ``image_splits`` file).
        out_dir: the BigFile folder to create.
        overwrite: replace an existing ``out_dir``.
        chunk_rows: rows converted per write.
    """
    npy_path = Path(npy_path)
    if not npy_path.is_file():
        raise MissingFileError("numpy feature file not found", path=npy_path)
    names = _read_id_list(ids, str(npy_path))
    try:
        array = np.load(npy_path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise DataFormatError(f"not a plain numeric .npy array ({error})", path=npy_path) from None
    if not isinstance(array, np.ndarray):
        raise DataFormatError("expected a single .npy array, found an archive (.npz)", path=npy_path)
    return _write_in_chunks(array, names, out_dir, overwrite, npy_path, chunk_rows)


def hdf5_to_bigfile(h5_path, dataset: str, ids, out_dir, overwrite: bool = False,
                    chunk_rows: int = 65536) -> BigFile:
    """Convert a 2-D HDF5 dataset into a BigFile.

    Args:
        h5_path: the HDF5 file.
        dataset: the name of the 2-D feature dataset.
        ids: a ``str`` names a 1-D string dataset in the same file; a ``pathlib.Path`` is an id file
            (one id per line or whitespace separated); otherwise a sequence of ids.
        out_dir: the BigFile folder to create.
        overwrite: replace an existing ``out_dir``.
        chunk_rows: rows converted per write.
    """
    from w2vvx.io.hdf5 import open_hdf5_dataset, read_hdf5_ids

    h5_path = Path(h5_path)
    with open_hdf5_dataset(h5_path, dataset) as (handle, features):
        if isinstance(ids, str):
            names = read_hdf5_ids(handle, ids, h5_path)
        else:
            names = _read_id_list(ids, str(h5_path))
        return _write_in_chunks(features, names, out_dir, overwrite, h5_path, chunk_rows)
