"""BigFile: the lineage's feature store (``feature.bin`` + ``id.txt`` + ``shape.txt`` in one folder).

Layout (W2VV ``simpleknn/bigfile.py``, NRCCR ``basic/bigfile.py``):

* ``shape.txt``: one line ``"N D"``.
* ``id.txt``: the N ids, whitespace separated (the lineage writes them on one line; one per line is
  accepted too). Row ``i`` of ``feature.bin`` belongs to id ``i``.
* ``feature.bin``: headerless little-endian float32, row-major, ``N x D``.

The reader :class:`BigFile` memory-maps ``feature.bin`` read-only and never loads the whole matrix implicitly.
The format (file names, parsers) is :mod:`w2vvx.io.bigfile_format`; the writers (:func:`write_bigfile`,
:class:`BigFileWriter`) are :mod:`w2vvx.io.bigfile_writer`, re-exported here.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import (ArgumentTypeError, ConfigError, DataFormatError, MissingFileError, OutOfRangeError,
                          UnknownIdError)
from w2vvx.io.bigfile_format import (FEATURE_DTYPE, FEATURE_FILE, ID_FILE, SHAPE_FILE, decode_ids,  # noqa: F401
                                     parse_shape_text)
from w2vvx.io.bigfile_writer import BigFileWriter, write_bigfile  # noqa: F401  (re-exported)
from w2vvx.io.feature_checks import check_feature_sample, sample_rows

logger = logging.getLogger(__name__)

_PREFETCH_MIN_ROWS = 64
_FINITE_CHUNK_ROWS = 65536


def _index_names(names: Sequence[str], path=None) -> dict:
    index = {}
    for position, name in enumerate(names):
        first = index.setdefault(name, position)
        if first != position:
            raise DataFormatError(
                f"duplicate id {name!r} at positions {first} and {position} (0-based); every id must name "
                "exactly one row. Re-create the BigFile from de-duplicated input (txt2bin skips duplicates)",
                path=path)
    return index


class BigFile:
    """Read-only, memory-mapped reader of a BigFile folder.

    Args:
        path: the folder holding ``feature.bin``, ``id.txt`` and ``shape.txt``.
        check_finite: also scan every row for NaN/Inf on open (see :meth:`validate`).

    Raises:
        MissingFileError: the folder or one of its three files is missing.
        DataFormatError: malformed ``shape.txt``, an id count or file size that does not match the
            shape, or duplicate ids.

    Example:
        >>> import tempfile, os, numpy as np
        >>> folder = os.path.join(tempfile.mkdtemp(), "feat")
        >>> write_bigfile(folder, ["a", "b"], np.eye(2, dtype="float32"))
        >>> bf = BigFile(folder)
        >>> bf.shape, bf.read(["b", "zzz"])[0]
        ((2, 2), ['b'])
    """

    def __init__(self, path, check_finite: bool = False):
        self.path = Path(path)
        if not self.path.is_dir():
            raise MissingFileError(
                "BigFile folder not found (expected a folder with feature.bin, id.txt and shape.txt); "
                "check the rootpath/collection/feature name, or create it with w2vvx.io.bigfile_convert.txt2bin (Python)",
                path=self.path)
        for name in (SHAPE_FILE, ID_FILE, FEATURE_FILE):
            if not (self.path / name).is_file():
                raise MissingFileError(f"BigFile part {name} is missing; re-download or re-create the BigFile",
                                       path=self.path / name)
        shape_path = self.path / SHAPE_FILE
        self._n_rows, self._n_dims = parse_shape_text(shape_path.read_bytes(), path=shape_path)
        id_path = self.path / ID_FILE
        self._names = decode_ids(id_path.read_bytes(), path=id_path)
        if len(self._names) != self._n_rows:
            raise DataFormatError(
                f"found {len(self._names)} ids but shape.txt says N={self._n_rows}; the two files do not belong "
                "together (re-download or re-create the BigFile)", path=id_path)
        self._index = _index_names(self._names, path=id_path)
        feature_path = self.path / FEATURE_FILE
        expected = self._n_rows * self._n_dims * FEATURE_DTYPE.itemsize
        actual = feature_path.stat().st_size
        if actual != expected:
            kind = "truncated" if actual < expected else "oversized"
            raise DataFormatError(
                f"{kind}: expected {expected} bytes (N={self._n_rows} x D={self._n_dims} x 4), found {actual} "
                f"({abs(expected - actual)} bytes {'missing' if actual < expected else 'too many'}); "
                + ("exactly twice the size: is it float64? Convert it to float32 (np.fromfile(path, '<f8')"
                   ".astype('<f4')) and write the BigFile again" if actual == 2 * expected > 0 else
                   "the file is incomplete or belongs to another shape.txt, re-download or re-create it"),
                path=feature_path)
        if self._n_rows == 0:
            self._matrix = np.zeros((0, self._n_dims), dtype=FEATURE_DTYPE)
        else:
            self._matrix = np.memmap(feature_path, dtype=FEATURE_DTYPE, mode="r", shape=(self._n_rows, self._n_dims))
            check_feature_sample(self._matrix[sample_rows(self._n_rows, self._n_dims)], path=feature_path)
        if check_finite:
            self.validate(check_finite=True)

    @property
    def names(self) -> List[str]:
        """The ids in row order."""
        return self._names

    @property
    def shape(self) -> Tuple[int, int]:
        return (self._n_rows, self._n_dims)

    @property
    def ndims(self) -> int:
        return self._n_dims

    @property
    def matrix(self) -> np.ndarray:
        """The read-only ``N x D`` float32 memmap (nothing is loaded until rows are touched)."""
        return self._matrix

    def __len__(self) -> int:
        return self._n_rows

    def __contains__(self, name) -> bool:
        return name in self._index

    def __repr__(self) -> str:
        return f"BigFile({str(self.path)!r}, shape={self.shape})"

    def index(self, name: str) -> int:
        """Return the row of ``name``; raise ``KeyError`` naming the file if it is unknown."""
        try:
            return self._index[name]
        except KeyError:
            raise UnknownIdError(f"id {name!r} is not in {self.path / ID_FILE} ({self._n_rows} ids)") from None

    def read(self, names: Iterable[str], order: str = "file") -> Tuple[List[str], np.ndarray]:
        """Read the vectors of ``names``, skipping unknown ids as the lineage did.

        Args:
            names: the ids wanted.
            order: ``"file"`` (lineage behaviour: found ids de-duplicated and returned in row order) or
                ``"request"`` (found ids in the order given, repeats kept).

        Returns:
            ``(found_names, vectors)`` with ``vectors`` a float32 array ``(len(found_names), D)``.
        """
        if order not in ("file", "request"):
            raise ConfigError(f"order must be 'file' or 'request', got {order!r}")
        if isinstance(names, str):
            names = [names]
        if order == "file":
            rows = sorted({self._index[name] for name in names if name in self._index})
        else:
            rows = [self._index[name] for name in names if name in self._index]
        found = [self._names[row] for row in rows]
        return found, self.read_rows(np.asarray(rows, dtype=np.int64))

    def read_rows(self, indices) -> np.ndarray:
        """Read rows by position as a float32 array (sorted access on the memmap, then reordered).

        Args:
            indices: integer row positions in ``[0, N)``; repeats are allowed.
        """
        indices = np.asarray(indices)
        if indices.ndim != 1:
            indices = indices.reshape(-1)
        if indices.size == 0:
            return np.zeros((0, self._n_dims), dtype=np.float32)
        if not np.issubdtype(indices.dtype, np.integer):
            raise ArgumentTypeError(f"row indices must be integers, got dtype {indices.dtype}")
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= self._n_rows:
            bad = low if low < 0 else high
            raise OutOfRangeError(f"row index {bad} is out of range for {self.path} with {self._n_rows} rows")
        order = np.argsort(indices, kind="stable")
        sorted_rows = indices[order]
        self._prefetch(sorted_rows)
        out = np.empty((indices.size, self._n_dims), dtype=np.float32)
        out[order] = self._matrix[sorted_rows]
        return out

    def _prefetch(self, sorted_rows: np.ndarray) -> None:
        """Ask the kernel to read the wanted rows ahead (one hint per row, Linux ``posix_fadvise``).

        Without the hints a cold read through the memory map faults in one page at a time, which is
        slower than the lineage's seek-and-read per row; with them the reads are issued together.
        """
        if sorted_rows.size < _PREFETCH_MIN_ROWS or not hasattr(os, "posix_fadvise"):
            return
        row_bytes = self._n_dims * 4
        try:
            fd = os.open(self.path / FEATURE_FILE, os.O_RDONLY)
        except OSError:
            return
        try:
            for row in np.unique(sorted_rows).tolist():
                os.posix_fadvise(fd, row * row_bytes, row_bytes, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)

    def iter_chunks(self, chunk_rows: int = _FINITE_CHUNK_ROWS) -> Iterator[Tuple[int, np.ndarray]]:
        """Yield ``(start_row, float32 block)`` over the whole file, ``chunk_rows`` rows at a time."""
        if chunk_rows < 1:
            raise ConfigError(f"chunk_rows must be >= 1, got {chunk_rows}")
        for start in range(0, self._n_rows, chunk_rows):
            yield start, np.asarray(self._matrix[start:start + chunk_rows], dtype=np.float32)

    def validate(self, check_finite: bool = True, chunk_rows: int = _FINITE_CHUNK_ROWS) -> "BigFile":
        """Scan the rows (chunked) and raise ``DataFormatError`` at the first row with NaN or Inf.

        Returns ``self`` so that ``BigFile(p).validate()`` chains.
        """
        if check_finite:
            for start, block in self.iter_chunks(chunk_rows):
                finite = np.isfinite(block).all(axis=1)
                if not finite.all():
                    row = start + int(np.argmin(finite))
                    raise DataFormatError(
                        f"row {row} (id {self._names[row]!r}) holds NaN or Inf; re-create the features "
                        "(txt2bin skips such rows) or drop that item",
                        path=self.path / FEATURE_FILE)
        return self

    def check_finite(self, names: Optional[Iterable[str]] = None, chunk_rows: int = _FINITE_CHUNK_ROWS) -> "BigFile":
        """Raise ``DataFormatError`` naming the file and the id of the first row of ``names`` with NaN or Inf.

        Training and evaluation call it on the rows they use before the first batch, so a NaN feature
        row is refused at once instead of training an epoch at ``loss: nan`` or ranking a NaN item.

        Args:
            names: the ids to check (unknown ids are ignored); ``None`` checks every row (:meth:`validate`).

        Example:
            >>> import tempfile, os, numpy as np
            >>> folder = os.path.join(tempfile.mkdtemp(), "feat")
            >>> write_bigfile(folder, ["a", "b"], np.eye(2, dtype="float32"))
            >>> BigFile(folder).check_finite(["b"]).shape
            (2, 2)
        """
        if names is None:
            return self.validate(check_finite=True, chunk_rows=chunk_rows)
        rows = np.unique(np.asarray([self._index[name] for name in names if name in self._index], dtype=np.int64))
        for start in range(0, rows.size, chunk_rows):
            chunk = rows[start:start + chunk_rows]
            finite = np.isfinite(np.asarray(self._matrix[chunk], dtype=np.float32)).all(axis=1)
            if not finite.all():
                row = int(chunk[int(np.argmin(finite))])
                raise DataFormatError(
                    f"row {row} (id {self._names[row]!r}) holds NaN or Inf; re-create the features (txt2bin "
                    "skips such rows) or drop that item from the captions and split files",
                    path=self.path / FEATURE_FILE)
        return self

    def require(self, names: Iterable[str], source=None, what: str = "ids listed here") -> "BigFile":
        """Raise ``DataFormatError`` when some of ``names`` have no row, blaming ``source`` (the file the ids
        came from: an ImageSets file, a caption file) and naming this feature folder.

        Example:
            >>> import tempfile, os, numpy as np
            >>> folder = os.path.join(tempfile.mkdtemp(), "feat")
            >>> write_bigfile(folder, ["a"], np.ones((1, 2)))
            >>> BigFile(folder).require(["a", "zz"], source="toytest.txt")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            w2vvx.errors.DataFormatError: toytest.txt: 1 of 2 ids listed here have no row in .../id.txt (e.g. 'zz')...
        """
        names = list(names)
        missing = [name for name in dict.fromkeys(names) if name not in self._index]
        if missing:
            shown = ", ".join(repr(name) for name in missing[:5])
            raise DataFormatError(
                f"{len(missing)} of {len(set(names))} {what} have no row in {self.path / ID_FILE} (e.g. {shown}); "
                "use the feature folder of this collection (--feature), or remove those ids from this file",
                path=source if source is not None else self.path / ID_FILE)
        return self


__all__ = ["BigFile", "BigFileWriter", "write_bigfile", "parse_shape_text", "decode_ids", "FEATURE_FILE", "ID_FILE",
           "SHAPE_FILE", "FEATURE_DTYPE"]
