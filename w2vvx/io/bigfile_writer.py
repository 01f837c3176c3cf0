"""Writing BigFiles atomically: :func:`write_bigfile` (a whole matrix) and :class:`BigFileWriter` (streamed rows).

The folder appears at its path only once every file is written (:func:`w2vvx.io.atomic.atomic_dir`); the
format is :mod:`w2vvx.io.bigfile_format`, the reader :class:`w2vvx.io.bigfile.BigFile`.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io.atomic import atomic_dir, storage_error
from w2vvx.io.bigfile_format import FEATURE_DTYPE, FEATURE_FILE, ID_FILE, SHAPE_FILE


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
        array = np.ascontiguousarray(array, dtype=FEATURE_DTYPE)
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
        >>> from w2vvx.io.bigfile import BigFile
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


__all__ = ["write_bigfile", "BigFileWriter"]
