"""Encoding a large collection in shards (one process or GPU per shard), then merging them atomically.

Shard ``i`` of ``n`` encodes the contiguous rows ``[i·N/n, (i+1)·N/n)`` of the items (file order, or
the order of ``item_ids``) into its own BigFile ``<out>.shards/part-<i>-of-<n>``; the shards can run
at the same time on different GPUs or hosts sharing the folder (``w2vvx encode ... --shard i/n``, or
``--shard auto`` under ``torchrun``: shard ``RANK`` of ``WORLD_SIZE``). :func:`merge_shards` then
streams the parts, in shard order, into one BigFile at ``out`` that appears only when every row is
written (:class:`~w2vvx.io.bigfile.BigFileWriter`), and removes the parts. The merged file has the
rows of a one-process encoding, in the same order.

Example:
    >>> import tempfile, os
    >>> from w2vvx.io.bigfile import BigFile, write_bigfile
    >>> root = tempfile.mkdtemp()
    >>> write_bigfile(os.path.join(root, "feat"), ["a", "b", "c"], np.eye(3, dtype=np.float32))
    >>> class Identity:
    ...     def encode_items(self, rows, normalize=True, batch_size=None):
    ...         return np.asarray(rows, np.float32)
    >>> out = os.path.join(root, "encoded")
    >>> for shard in range(2):
    ...     _ = encode_shard(Identity(), BigFile(os.path.join(root, "feat")), out, (shard, 2))
    >>> BigFile(merge_shards(out, 2)).names
    ['a', 'b', 'c']
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError

SHARDS_SUFFIX = ".shards"


def parse_shard(text: str, environ=None) -> Tuple[int, int]:
    """``(i, n)`` of ``"i/n"`` (0 <= i < n), or of the launcher's ``RANK``/``WORLD_SIZE`` for ``"auto"``.

    Example:
        >>> parse_shard("1/4")
        (1, 4)
        >>> parse_shard("auto", environ={"RANK": "2", "WORLD_SIZE": "3"})
        (2, 3)
    """
    import os

    text = str(text).strip()
    if text == "auto":
        environ = os.environ if environ is None else environ
        text = f"{environ.get('RANK', '0')}/{environ.get('WORLD_SIZE', '1')}"
    parts = text.split("/")
    try:
        index, count = (int(part) for part in parts)
    except ValueError:
        raise ConfigError(f"a shard is written i/n (shard i of n, 0 <= i < n, e.g. 0/4) or 'auto' (torchrun's "
                          f"RANK/WORLD_SIZE), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"shard {text!r}: need 0 <= i < n and n >= 1")
    return index, count


def shard_bounds(size: int, shard: Tuple[int, int]) -> Tuple[int, int]:
    """``(start, stop)`` of shard ``(i, n)`` of ``size`` rows: contiguous, sizes differing by at most one.

    Example:
        >>> [shard_bounds(10, (i, 3)) for i in range(3)]
        [(0, 3), (3, 6), (6, 10)]
    """
    index, count = shard
    return index * size // count, (index + 1) * size // count


def shard_path(out, shard: Tuple[int, int]) -> Path:
    """Where shard ``(i, n)`` of the encoding ``out`` is written: ``<out>.shards/part-<i>-of-<n>``."""
    out = Path(out)
    return out.parent / (out.name + SHARDS_SUFFIX) / f"part-{shard[0]:05d}-of-{shard[1]:05d}"


def encode_shard(model, features, out, shard: Tuple[int, int], item_ids: Optional[Sequence[str]] = None,
                 batch_size: int = 1024, overwrite: bool = False, progress: bool = False) -> Path:
    """Encode shard ``(i, n)`` of the items (see the module docstring) into its part of ``out``.

    Args:
        model, features, item_ids, batch_size, progress: as :func:`~w2vvx.search.encode.encode_items`.
        out: the BigFile the merged encoding will be (the part goes beside it).
        shard: ``(i, n)``, e.g. from :func:`parse_shard`.
        overwrite: replace this shard's existing part.
    """
    from w2vvx.search.encode import encode_items

    names = list(features.names) if item_ids is None else list(item_ids)
    start, stop = shard_bounds(len(names), shard)
    if start == stop:
        raise ConfigError(f"shard {shard[0]}/{shard[1]} of {len(names)} items is empty; use at most {len(names)} "
                          "shards")
    part = shard_path(out, shard)
    part.parent.mkdir(parents=True, exist_ok=True)
    return encode_items(model, features, part, item_ids=names[start:stop], batch_size=batch_size,
                        overwrite=overwrite, progress=progress)


def shard_parts(out, count: int) -> List[Path]:
    """The ``count`` parts of ``out``, in shard order; a MissingFileError names the missing ones."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ConfigError(f"the number of shards must be a positive integer, got {count!r}")
    parts = [shard_path(out, (index, int(count))) for index in range(int(count))]
    missing = [part.name for part in parts if not (part / "shape.txt").is_file()]
    if missing:
        raise MissingFileError(f"{len(missing)} of {count} shards are not encoded yet ({', '.join(missing[:4])}); "
                               f"run the missing --shard i/{count} first", path=parts[0].parent)
    return parts


def merge_shards(out, count: int, overwrite: bool = False, chunk_rows: int = 65536, keep_parts: bool = False) -> Path:
    """Join the ``count`` parts of ``out`` into the BigFile ``out`` (atomically), then remove the parts.

    Raises:
        MissingFileError: a part is missing (nothing is written).
        DataFormatError: the parts have different dimensions, or an item is in two parts.
    """
    from w2vvx.io.bigfile import BigFile, BigFileWriter

    parts = [BigFile(part) for part in shard_parts(out, count)]
    dims = sorted({part.ndims for part in parts})
    if len(dims) != 1:
        raise DataFormatError(f"the shards of {out} have different dimensions {dims}; encode every shard with "
                              "the same run", path=shard_path(out, (0, count)).parent)
    with BigFileWriter(out, dim=dims[0], overwrite=overwrite) as writer:
        for part in parts:
            names = part.names
            for start, rows in part.iter_chunks(chunk_rows):
                writer.add(names[start:start + len(rows)], rows)
    if not keep_parts:
        shutil.rmtree(shard_path(out, (0, count)).parent, ignore_errors=True)
    return Path(out)
