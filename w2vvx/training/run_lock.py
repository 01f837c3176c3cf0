"""One run folder, one training at a time: :class:`RunDirLock`.

Every training into a run folder (``train``, ``--resume``, ``do-all``, the NRCCR trainer) holds an OS lock
(``fcntl.flock``) on ``<run_dir>/run.lock`` while it runs. The lock belongs to the open file, so it dies
with its process (``kill -9`` included) and never outlives it the way a pid file would. A second
training into the same folder is refused with :class:`~w2vvx.errors.RunLockedError` naming the pid,
host, start time and command of the holder (written into the lock file).

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with RunDirLock(folder):
    ...     RunDirLock(folder).acquire()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    w2vvx.errors.RunLockedError: ...another training is using this run folder...
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import platform
import sys
from pathlib import Path
from typing import Optional

from w2vvx.errors import RunLockedError

logger = logging.getLogger(__name__)

LOCK_FILE = "run.lock"


class RunDirLock:
    """An exclusive, non-blocking OS lock on ``<run_dir>/run.lock`` (a context manager).

    Args:
        run_dir: the run folder (created if needed).

    Raises:
        RunLockedError: on :meth:`acquire`, when another process (or another ``RunDirLock`` of this
            process) holds the folder; the message names the holder's pid, host and command.
    """

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunDirLock":
        if self._fd is not None:
            return self
        try:
            import fcntl
        except ImportError:  # not POSIX: no advisory locks; say so once and go on unguarded
            logger.warning("%s: file locks are not available on this platform; do not start two trainings "
                           "into this run folder", self.run_dir)
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockedError(
                f"another training is using this run folder ({holder}); wait for it to finish or stop it "
                "(Ctrl-C, or `kill <pid>` on its host: it stops at a safe point and can be resumed), or choose "
                "another run folder (CLI: --run-dir)", path=self.run_dir) from None
        except OSError as error:  # a file system without flock support (some network mounts)
            os.close(fd)
            logger.warning("%s: cannot lock the run folder (%s); do not start two trainings into it",
                           self.run_dir, error.strerror or error)
            return self
        info = {"pid": os.getpid(), "host": platform.node(), "command": _command_line(),
                "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (the lock file stays; it is only a place to lock and name the holder)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)  # closing the file releases the flock

    def __enter__(self) -> "RunDirLock":
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False

    def __del__(self):
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass


def _command_line() -> str:
    command = " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]])
    return command[:300]


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8", errors="replace") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "held by a process that has not written its name yet"
    return (f"pid {info.get('pid')} on host {info.get('host', '?')}, started {info.get('started', '?')}, "
            f"command: {info.get('command', '?')}")


__all__ = ["LOCK_FILE", "RunDirLock"]
