"""Reading the small JSON files w2vvx writes: configs, run records, index and preset descriptions."""
from __future__ import annotations

import json
from pathlib import Path

from typing import Optional

from w2vvx.errors import DataFormatError, MissingFileError


def read_json_object(path, fix: str, error=DataFormatError, missing: Optional[str] = None) -> dict:
    """The JSON object stored in the UTF-8 file ``path``.

    Args:
        path: the file.
        fix: what the user should do when the file is unreadable (ends every message).
        error: the w2vvx error class to raise, called as ``error(message, path=path)``
            (:class:`~w2vvx.errors.DataFormatError` by default, which also names the line).
        missing: the message of the :class:`~w2vvx.errors.MissingFileError` raised when ``path`` is
            not a file (what it should be and how to make it); default: the ``OSError`` of reading it.

    Raises:
        MissingFileError: ``path`` is not a file and ``missing`` is given.
        error: the file is not UTF-8, not JSON (the message names the line), or holds no JSON object.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "ok.json").write_text('{"a": 1}', encoding="utf-8")
        >>> read_json_object(folder / "ok.json", fix="write it again")
        {'a': 1}
        >>> _ = (folder / "bad.json").write_text('{"a": 1,\\n', encoding="utf-8")
        >>> read_json_object(folder / "bad.json", fix="write it again")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        w2vvx.errors.DataFormatError: .../bad.json:2: not valid JSON (Expecting property name enclosed in double quotes); write it again
    """
    path = Path(path)

    def fail(message: str, line=None):
        if line is None:
            return error(f"{message}; {fix}", path=path)
        if issubclass(error, DataFormatError):
            return error(f"{message}; {fix}", path=path, line=line)
        return error(f"{message} at line {line}; {fix}", path=path)

    if missing is not None and not path.is_file():
        raise MissingFileError(missing, path=path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as problem:
        raise fail(f"not UTF-8 text ({problem.reason} at byte {problem.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as problem:
        raise fail(f"not valid JSON ({problem.msg})", problem.lineno) from None
    if not isinstance(data, dict):
        raise fail(f"expected a JSON object, found a JSON {type(data).__name__}")
    return data
