"""Read features stored in HDF5 files (a 2-D float dataset, optionally with a 1-D id dataset)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np

from w2vvx.errors import DataFormatError, MissingFileError


def _dataset_names(handle) -> List[str]:
    import h5py

    names: List[str] = []
    handle.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


@contextlib.contextmanager
def open_hdf5_file(h5_path) -> Iterator[object]:
    """Open ``h5_path`` read-only and yield the ``h5py.File`` (closed on exit).

    Raises:
        MissingFileError: the file does not exist.
        DataFormatError: not an HDF5 file.
    """
    import h5py

    h5_path = Path(h5_path)
    if not h5_path.is_file():
        raise MissingFileError("HDF5 feature file not found", path=h5_path)
    try:
        handle = h5py.File(h5_path, "r")
    except OSError as error:
        raise DataFormatError(f"cannot be opened as HDF5 ({error})", path=h5_path) from None
    with handle:
        yield handle


@contextlib.contextmanager
def open_hdf5_dataset(h5_path, dataset: str) -> Iterator[Tuple[object, object]]:
    """Open ``h5_path`` read-only and yield ``(file handle, 2-D dataset)``.

    Raises:
        MissingFileError: the file does not exist.
        DataFormatError: not an HDF5 file, no such dataset (the available ones are listed), or the
            dataset is not a 2-D numeric array.
    """
    import h5py

    h5_path = Path(h5_path)
    with open_hdf5_file(h5_path) as handle:
        if dataset not in handle or not isinstance(handle[dataset], h5py.Dataset):
            raise DataFormatError(f"no dataset {dataset!r}; the file holds datasets {_dataset_names(handle)}",
                                  path=h5_path)
        features = handle[dataset]
        if features.ndim != 2 or features.dtype.kind not in "fiu":
            raise DataFormatError(
                f"dataset {dataset!r} has shape {features.shape} and dtype {features.dtype}; "
                "expected a 2-D numeric array (rows x dims)", path=h5_path)
        yield handle, features


def read_hdf5_ids(handle, ids_dataset: str, h5_path=None) -> List[str]:
    """Read a 1-D dataset of ids (bytes or str) from an open HDF5 file."""
    import h5py

    if ids_dataset not in handle or not isinstance(handle[ids_dataset], h5py.Dataset):
        raise DataFormatError(f"no id dataset {ids_dataset!r}; the file holds datasets {_dataset_names(handle)}",
                              path=h5_path)
    raw = handle[ids_dataset][()]
    raw = np.atleast_1d(raw)
    if raw.ndim != 1:
        raise DataFormatError(f"id dataset {ids_dataset!r} has shape {raw.shape}, expected 1-D", path=h5_path)
    names = []
    for position, value in enumerate(raw.tolist()):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                value = value.decode("iso-8859-1")
        elif not isinstance(value, str):
            value = str(value)
        names.append(value)
    return names


def read_hdf5_features(h5_path, dataset: str, ids_dataset: Optional[str] = None
                       ) -> Tuple[Optional[List[str]], np.ndarray]:
    """Load a 2-D feature dataset (and optionally its ids) from an HDF5 file into memory.

    Args:
        h5_path: the HDF5 file.
        dataset: the 2-D feature dataset.
        ids_dataset: an optional 1-D dataset with one id per row.

    Returns:
        ``(ids or None, float32 array (N, D))``.

    Example:
        >>> import tempfile, os, h5py, numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "f.h5")
        >>> with h5py.File(path, "w") as f:
        ...     _ = f.create_dataset("feat", data=np.ones((2, 3)))
        ...     _ = f.create_dataset("ids", data=[b"a", b"b"])
        >>> ids, x = read_hdf5_features(path, "feat", "ids")
        >>> ids, x.shape, x.dtype
        (['a', 'b'], (2, 3), dtype('float32'))
    """
    with open_hdf5_dataset(h5_path, dataset) as (handle, features):
        array = np.asarray(features[()], dtype=np.float32)
        names = None
        if ids_dataset is not None:
            names = read_hdf5_ids(handle, ids_dataset, h5_path)
            if len(names) != array.shape[0]:
                raise DataFormatError(f"{len(names)} ids in {ids_dataset!r} but {array.shape[0]} rows in "
                                      f"{dataset!r}; they must match one to one", path=h5_path)
    return names, array
