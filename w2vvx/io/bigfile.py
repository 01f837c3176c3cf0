"""BigFile: the lineage's feature store (``feature.bin`` + ``id.txt`` + ``shape.txt`` in one folder).

Layout (W2VV ``simpleknn/bigfile.py``, NRCCR ``basic/bigfile.py``):

* ``shape.txt``: one line ``"N D"``.
* ``id.txt``: the N ids, whitespace separated (the lineage writes them on one line; one per line is
  accepted too). Row ``i`` of ``feature.bin`` belongs to id ``i``.
* ``feature.bin``: headerless little-endian float32, row-major, ``N x D``.

The reader memory-maps ``feature.bin`` read-only and never loads the whole matrix implicitly.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import (ArgumentTypeError, ConfigError, DataFormatError, MissingFileError, OutOfRangeError,
                          UnknownIdError)
from w2vvx.io.atomic import atomic_dir, storage_error
from w2vvx.io.feature_checks import check_feature_sample, sample_rows

logger = logging.getLogger(__name__)

FEATURE_FILE = "feature.bin"
ID_FILE = "id.txt"
SHAPE_FILE = "shape.txt"
_DTYPE = np.dtype("<f4")
_INT_RE = re.compile(rb"^[0-9]+$")
_PREFETCH_MIN_ROWS = 64
_FINITE_CHUNK_ROWS = 65536


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
        expected = self._n_rows * self._n_dims * _DTYPE.itemsize
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
            self._matrix = np.zeros((0, self._n_dims), dtype=_DTYPE)
        else:
            self._matrix = np.memmap(feature_path, dtype=_DTYPE, mode="r", shape=(self._n_rows, self._n_dims))
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


def _check_names(names: Sequence[str], seen: Optional[set] = None, offset: int = 0, where: str = "") -> None:
    seen = set() if seen is None else seen
    for position, name in enumerate(names):
        if not isinstance(name, str):
            raise DataFormatError(f"{where}id at position {offset + position} is {type(name).__name__}, "
                                  "expected str")
        if not name or name.split() != [name]:
            raise DataFormatError(
                f"{where}id {name!r} at position {offset + position} is empty or contains whitespace; "
                "ids are whitespace-separated in id.txt, so replace the whitespace (e.g. by '_')")
        if name in seen:
            raise DataFormatError(f"{where}duplicate id {name!r} at position {offset + position}; "
                                  "every id must be unique")
        seen.add(name)


def _check_vectors(vectors, n_names: int, dim: Optional[int], offset: int = 0,
                   names: Sequence[str] = ()) -> np.ndarray:
    array = np.asarray(vectors)
    if array.ndim != 2:
        raise DataFormatError(f"vectors must be a 2-D array (rows x dims), got shape {array.shape}")
    if array.shape[0] != n_names:
        raise DataFormatError(f"got {n_names} ids but {array.shape[0]} vectors; they must match one to one")
    if dim is not None and array.shape[1] != dim:
        raise DataFormatError(f"vectors have {array.shape[1]} dimensions, expected {dim}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DataFormatError(f"vectors must be real numbers, got dtype {array.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        array = np.ascontiguousarray(array, dtype=_DTYPE)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        name = names[row] if len(names) > row else "?"
        raise DataFormatError(f"vector at position {offset + row} (id {name!r}) holds NaN or Inf "
                              "(or overflows float32); drop or fix that row")
    return array


def _existing_target_error(path: Path) -> ConfigError:
    return ConfigError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it")


def write_bigfile(path, names: Sequence[str], vectors, overwrite: bool = False) -> None:
    """Write a whole BigFile atomically (nothing appears at ``path`` unless every file was written).

    Args:
        path: the BigFile folder to create.
        names: unique ids without whitespace, one per row.
        vectors: a real ``(len(names), D)`` array; stored as little-endian float32.
        overwrite: replace an existing folder.

    Example:
        >>> import tempfile, os, numpy as np
        >>> folder = os.path.join(tempfile.mkdtemp(), "feat")
        >>> write_bigfile(folder, ["x"], np.ones((1, 3)))
        >>> open(os.path.join(folder, "shape.txt")).read()
        '1 3\\n'
    """
    with BigFileWriter(path, dim=_dim_of(vectors), overwrite=overwrite) as writer:
        writer.add(names, vectors)


def _dim_of(vectors) -> int:
    shape = np.shape(vectors)
    if len(shape) != 2:
        raise DataFormatError(f"vectors must be a 2-D array (rows x dims), got shape {shape}")
    return int(shape[1])


class BigFileWriter:
    """Stream rows into a new BigFile; the folder appears at ``path`` only on :meth:`close`.

    Use it as a context manager: a block that raises leaves nothing at ``path``.

    Args:
        path: the BigFile folder to create.
        dim: the vector dimension D.
        overwrite: replace an existing folder on commit.

    Example:
        >>> import tempfile, os, numpy as np
        >>> folder = os.path.join(tempfile.mkdtemp(), "feat")
        >>> with BigFileWriter(folder, dim=2) as writer:
        ...     writer.add(["a"], np.zeros((1, 2)))
        ...     writer.add(["b", "c"], np.ones((2, 2)))
        >>> BigFile(folder).shape
        (3, 2)
    """

    def __init__(self, path, dim: int, overwrite: bool = False):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError(f"dim must be a positive integer, got {dim!r}")
        self.path = Path(path)
        self.dim = int(dim)
        if self.path.exists() and not overwrite:
            raise _existing_target_error(self.path)
        self._context = atomic_dir(self.path, overwrite=overwrite)
        self._tmp = self._context.__enter__()
        self._features = open(self._tmp / FEATURE_FILE, "wb")
        self._names: List[str] = []
        self._seen: set = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._names)

    def add(self, names: Sequence[str], vectors) -> None:
        """Append rows; duplicate ids, whitespace in ids and non-finite rows are rejected."""
        if self._closed:
            raise ConfigError(f"BigFileWriter for {self.path} is already closed")
        names = list(names)
        array = _check_vectors(vectors, len(names), self.dim, offset=len(self._names), names=names)
        # Check names against a copy so that a rejected batch leaves the writer unchanged.
        seen = set(self._seen)
        _check_names(names, seen, offset=len(self._names))
        try:
            if array.size:  # (an empty view cannot be cast to bytes)
                self._features.write(memoryview(array).cast("B"))  # (ndarray.tofile drops errno on a full disk)
        except OSError as error:
            converted = storage_error(error, self.path)
            if converted is None:
                raise
            self.abort()
            raise converted from error
        self._seen = seen
        self._names.extend(names)

    def close(self) -> None:
        """Write ``id.txt`` and ``shape.txt`` and move the folder into place."""
        if self._closed:
            return
        self._closed = True
        try:
            self._features.close()
            (self._tmp / ID_FILE).write_text(" ".join(self._names) + "\n", encoding="utf-8")
            (self._tmp / SHAPE_FILE).write_text(f"{len(self._names)} {self.dim}\n", encoding="ascii")
        except BaseException as error:
            self._context.__exit__(type(error), error, error.__traceback__)
            raise
        self._context.__exit__(None, None, None)

    def abort(self) -> None:
        """Discard everything written so far; nothing appears at ``path``."""
        if self._closed:
            return
        self._closed = True
        self._features.close()
        error = RuntimeError("BigFileWriter aborted")
        try:
            self._context.__exit__(RuntimeError, error, None)
        except RuntimeError as raised:
            if raised is not error:
                raise

    def __enter__(self) -> "BigFileWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False
