"""Write files and folders so that a crash never leaves a half-written result behind."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(final_path, mode_suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``final_path``; rename it over ``final_path`` on success.

    The temporary file is in the same folder (same file system), so the final ``os.replace`` is
    atomic. If the block raises, the temporary file is removed and ``final_path`` is untouched.

    Args:
        final_path: where the result must end up.
        mode_suffix: an optional suffix for the temporary name (e.g. ``".keras"`` for writers that
            check the extension).

    Example:
        >>> import tempfile, os
        >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("hello")
        >>> open(target).read()
        'hello'
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final_path.name}.", suffix=".tmp" + mode_suffix,
                                    dir=final_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, final_path)
        _fsync_dir(final_path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(final_dir, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder next to ``final_dir``; move it into place when the block succeeds.

    Args:
        final_dir: the folder to create.
        overwrite: replace an existing ``final_dir``; otherwise an existing one is an error.

    Example:
        >>> import tempfile, os
        >>> target = os.path.join(tempfile.mkdtemp(), "feat")
        >>> with atomic_dir(target) as tmp:
        ...     _ = (tmp / "shape.txt").write_text("0 0")
        >>> sorted(os.listdir(target))
        ['shape.txt']
    """
    final_dir = Path(final_dir)
    if final_dir.exists() and not overwrite:
        raise FileExistsError(f"{final_dir} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", suffix=".tmp", dir=final_dir.parent))
    try:
        yield tmp
        for child in tmp.iterdir():
            if child.is_file():
                _fsync_file(child)
        if final_dir.exists():
            old = final_dir.with_name(f".{final_dir.name}.old-{os.getpid()}")
            os.replace(final_dir, old)
            os.replace(tmp, final_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final_dir)
        _fsync_dir(final_dir.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
