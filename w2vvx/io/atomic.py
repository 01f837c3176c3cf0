"""Write files and folders so that a crash never leaves a half-written result behind."""
from __future__ import annotations

import contextlib
import errno
import os
import re
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from w2vvx.errors import StorageError

#: OSError numbers that mean "the storage cannot take this write" (reported as StorageError).
_STORAGE_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                   errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
                   errno.EPERM: "operation not permitted", errno.EFBIG: "the file is too large for this file system"}


def storage_error(error: BaseException, path) -> Optional[StorageError]:
    """A :class:`~w2vvx.errors.StorageError` for an ``OSError`` caused by the storage, else ``None``.

    Example:
        >>> import errno
        >>> str(storage_error(OSError(errno.ENOSPC, "No space left on device"), "/data/feat"))[:37]
        '/data/feat: the disk is full while wr'
    """
    if isinstance(error, StorageError) or not isinstance(error, OSError):
        return None
    reason = _STORAGE_ERRNOS.get(error.errno)
    if reason is None:
        return None
    filename = getattr(error, "filename", None)
    if filename is not None and not os.fspath(filename).startswith(os.fspath(Path(path).parent)):
        return None  # the failure concerns another file (e.g. one being read), not this write
    return StorageError(f"{reason} while writing here ({error.strerror or error}); nothing was written (the "
                        "partial output was removed). Free space or choose a writable location, then run again",
                        path=path)


def _temp_prefix(final: Path) -> str:
    # host and pid in the name let a later writer remove temporaries of processes that died (kill -9)
    return f".{final.name}.{_HOST}-{os.getpid()}-"


_HOST = re.sub(r"[^A-Za-z0-9]", "", platform.node())[:32] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_umask() -> int:
    """The process's file-creation mask (read without changing it where ``/proc`` allows).

    Example:
        >>> 0 <= process_umask() <= 0o777
        True
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: read it by setting and restoring (not thread-safe, only a fallback)
    os.umask(mask)
    return mask


def apply_umask(path, directory: bool) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have given it under the process umask.

    ``tempfile.mkstemp``/``mkdtemp`` create 0600 files and 0700 folders whatever the umask, so outputs
    renamed into place from a temporary would be unreadable by the group on a shared data root.
    """
    mode = (0o777 if directory else 0o666) & ~process_umask()
    with contextlib.suppress(OSError):
        os.chmod(path, mode)


def _temp_owner_pid(name: str) -> Optional[int]:
    """The pid in a temporary's name written by :func:`atomic_path`/:func:`atomic_dir` on this host, else None."""
    match = _ANY_TEMP.match(name) or _ANY_OLD.match(name)
    return None if match is None else int(match.group(1))


_ANY_TEMP = re.compile(r"^\..+\." + re.escape(_HOST) + r"-([0-9]+)-.*\.tmp")
_ANY_OLD = re.compile(r"^\..+\.old-([0-9]+)$")


def temporary_of_live_process(path) -> bool:
    """Whether ``path`` is a temporary (``.<name>.<host>-<pid>-*.tmp*``) of a process that is still running.

    Temporaries of other hosts count as live (their process cannot be checked from here).

    Example:
        >>> temporary_of_live_process(f".x.{_HOST}-{os.getpid()}-abc.tmp")
        True
    """
    name = Path(path).name
    pid = _temp_owner_pid(name)
    if pid is not None:
        return _pid_alive(pid)
    return bool(re.match(r"^\..+\.[A-Za-z0-9]+-[0-9]+-.*\.tmp", name))


def remove_stale_temporaries(final_path) -> int:
    """Delete temporaries of ``final_path`` left by writers of this host that died; return how many.

    A writer killed with ``SIGKILL`` cannot clean up; its ``.<name>.<host>-<pid>-*.tmp*`` file or
    folder stays next to the target. Temporaries of live processes and of other hosts are kept.
    """
    final_path = Path(final_path)
    parent = final_path.parent
    if not parent.is_dir():
        return 0
    pattern = re.compile(r"^\." + re.escape(final_path.name) + r"\.(?:" + re.escape(_HOST) + r")-([0-9]+)-.*\.tmp")
    old_pattern = re.compile(r"^\." + re.escape(final_path.name) + r"\.old-([0-9]+)$")
    removed = 0
    for child in parent.iterdir():
        match = pattern.match(child.name) or old_pattern.match(child.name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        if old_pattern.match(child.name) and not final_path.exists():
            # killed between the two renames of an overwrite: the old version is the only complete one
            with contextlib.suppress(OSError):
                os.replace(child, final_path)
                removed += 1
                continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                child.unlink()
        removed += 1
    return removed


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
    try:
        final_path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(final_path)
        fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(final_path), suffix=".tmp" + mode_suffix,
                                        dir=final_path.parent)
    except OSError as error:
        converted = storage_error(error, final_path)
        if converted is None:
            raise
        raise converted from error
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        apply_umask(tmp, directory=False)
        os.replace(tmp, final_path)
        _fsync_dir(final_path.parent)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        converted = storage_error(error, final_path)
        if converted is None:
            raise
        raise converted from error


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
    try:
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(final_dir)
    except OSError as error:
        converted = storage_error(error, final_dir)
        if converted is None:
            raise
        raise converted from error
    if final_dir.exists() and not overwrite:
        raise FileExistsError(f"{final_dir} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(final_dir), suffix=".tmp", dir=final_dir.parent))
    except OSError as error:
        converted = storage_error(error, final_dir)
        if converted is None:
            raise
        raise converted from error
    try:
        yield tmp
        for child in tmp.iterdir():
            if child.is_file():
                _fsync_file(child)
        apply_umask(tmp, directory=True)
        if final_dir.exists():
            old = final_dir.with_name(f".{final_dir.name}.old-{os.getpid()}")
            os.replace(final_dir, old)
            os.replace(tmp, final_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final_dir)
        _fsync_dir(final_dir.parent)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        converted = storage_error(error, final_dir)
        if converted is None:
            raise
        raise converted from error


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
