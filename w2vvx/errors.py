"""Errors that w2vvx raises on user input.

Every error names what was wrong (file, line, id or value), what was expected and what to do, so
that the CLI can print it without a traceback (see ``w2vvx.cli``).
"""
from __future__ import annotations

import os
from typing import Optional


class W2VVXError(Exception):
    """Base class of every error w2vvx raises because of its input or settings."""


def _location(path: Optional[os.PathLike | str], line: Optional[int]) -> str:
    if path is None:
        return ""
    if line is None:
        return f"{os.fspath(path)}: "
    return f"{os.fspath(path)}:{line}: "


class DataFormatError(W2VVXError, ValueError):
    """A data file whose content does not follow its format.

    Args:
        message: what is wrong, what was expected and what to do.
        path: the file, if there is one.
        line: the 1-based line number in ``path``, if it applies.

    Example:
        >>> str(DataFormatError("expected 'N D'", path="shape.txt", line=1))
        "shape.txt:1: expected 'N D'"
    """

    def __init__(self, message: str, path=None, line: Optional[int] = None):
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.message = message
        super().__init__(_location(path, line) + message)

    def __reduce__(self):
        return (type(self), (self.message, self.path, self.line))


class _PathError(W2VVXError):
    """An error about a path, also raised as an ``OSError`` subclass; ``str()`` renders "path: message"."""

    def __init__(self, message: str, path=None):
        self.path = None if path is None else os.fspath(path)
        self.message = message
        super().__init__(_location(path, None) + message)

    def __str__(self):
        return _location(self.path, None) + self.message

    def __reduce__(self):
        return (type(self), (self.message, self.path))


class MissingFileError(_PathError, FileNotFoundError):
    """A file or folder the library needs does not exist."""


class ConfigError(W2VVXError, ValueError):
    """A setting, argument, config name or config file that is not valid."""


class UntrustedFileError(W2VVXError):
    """Loading a file would execute code from it (pickle, torch.load) and the user did not trust it."""


class ResumeError(W2VVXError):
    """A run folder cannot be resumed (its checkpoint is missing, foreign or from another config)."""


class StorageError(_PathError, OSError):
    """Writing failed because of the storage: the disk is full, over quota, read-only or not permitted.

    Nothing half-written is left behind (see :mod:`w2vvx.io.atomic`); the message names the path.
    """


class RunLockedError(_PathError):
    """Another process is training into this run folder (it holds the folder's lock); the message names it."""


class ProvenanceError(_PathError):
    """A run folder is used with data or files other than those it was trained with (resume on other
    captions or features, a ``best.keras`` copied from another run, an index encoded by another run)."""


class QueryError(W2VVXError, ValueError):
    """A query sentence the model cannot read: none of its words is in the model's vocabulary for the
    language given (often a query in another language than the model was trained on). The message names
    the query, the language and the model's languages."""


class W2VVXWarning(UserWarning):
    """Base class of the warnings w2vvx issues (Python :mod:`warnings`), so that callers and the CLI can
    show, filter or turn them into errors (``warnings.simplefilter("error", W2VVXWarning)``)."""


class UnknownWordsWarning(W2VVXWarning):
    """Most words of a query are not in the model's vocabulary for its language: the ranking rests on the
    few words it knows. The message names the query and the unknown words."""


class ArgumentTypeError(ConfigError, TypeError):
    """An argument of the wrong type (e.g. float row indices); also a ``TypeError``."""


class OutOfRangeError(ConfigError, IndexError):
    """An index or id outside its range (a row of a BigFile, a token id); also an ``IndexError``."""


class UnknownIdError(ConfigError, KeyError):
    """An id that a file or index does not hold; also a ``KeyError`` (whose message keeps no quotes)."""

    __str__ = Exception.__str__


class DistributedError(W2VVXError):
    """A training on several processes lost one of them (it died, stopped, or did not answer in time),
    or process 0 failed to set the run up; the message says what to do (resume the launch)."""
