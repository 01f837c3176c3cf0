"""Lines of the lineage's text files, whatever editor or OS wrote them.

Caption files, sentence files (Multi30K ``raw/*.de``), ImageSets files and ``id.txt`` come from
many hands. :func:`iter_lines` reads them as the library expects:

* a UTF-8 byte-order mark (``EF BB BF``, written by Notepad and some converters) at the start of the
  file is removed, so it does not become part of the first id;
* line ends ``\\n``, ``\\r\\n`` and a lone ``\\r`` (classic Mac OS, some spreadsheet exports) all end a line,
  so a CR-only file is not read as one single line;
* UTF-16 or UTF-32 text (a byte-order mark ``FF FE`` / ``FE FF``, or NUL bytes between the characters,
  as Windows "Unicode" saves) is refused with a message that names it and gives the conversion command,
  instead of a hint about GB18030.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> _ = open(path, "wb").write(b"\\xef\\xbb\\xbfa 1\\rb 2\\r\\nc 3")
    >>> list(iter_lines(path))
    [(1, 'a 1'), (2, 'b 2'), (3, 'c 3')]
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Iterator, Optional, Tuple

from w2vvx.errors import DataFormatError

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = {b"\xff\xfe": "UTF-16 little-endian", b"\xfe\xff": "UTF-16 big-endian"}
_UTF32_BOMS = {b"\xff\xfe\x00\x00": "UTF-32 little-endian", b"\x00\x00\xfe\xff": "UTF-32 big-endian"}


def wide_encoding(head: bytes) -> Optional[str]:
    """The name of a UTF-16/UTF-32 encoding that ``head`` (the first bytes of a file) is written in, else ``None``.

    Example:
        >>> wide_encoding("ab".encode("utf-16"))
        'UTF-16 little-endian'
        >>> wide_encoding(b"abc") is None
        True
    """
    for bom, name in _UTF32_BOMS.items():
        if head.startswith(bom):
            return name
    for bom, name in _UTF16_BOMS.items():
        if head.startswith(bom):
            return name
    sample = head[:200]
    if len(sample) >= 4 and sample.count(b"\x00") * 3 >= len(sample):  # no BOM, but ASCII text as 2-4 byte units
        return "UTF-16" if sample.count(b"\x00") * 2 <= len(sample) + 2 else "UTF-32"
    return None


def nul_bytes_error(count: int, path, line: int, whole_line: bool) -> DataFormatError:
    """The error for NUL bytes in a text file: a tail that was never written, or binary data.

    Example:
        >>> print(nul_bytes_error(60, "a.txt", 3, True))  # doctest: +ELLIPSIS
        a.txt:3: the line is 60 NUL bytes (\\x00) and no text: ...
    """
    if whole_line:
        what = (f"the line is {count} NUL bytes (\\x00) and no text: the file ends in space that was never written "
                "(a copy, download or save cut off by a crash, a full disk or a power loss)")
    else:
        what = f"the line holds {count} NUL byte(s) (\\x00), which text never does: the file is damaged or not text"
    return DataFormatError(f"{what}; remove them (tr -d '\\000' < FILE > FILE.fixed) and check the last lines, or "
                           "re-download the file", path=path, line=line)


def wide_encoding_error(name: str, path) -> DataFormatError:
    family = "UTF-32" if "32" in name else "UTF-16"
    return DataFormatError(
        f"the file is {name} text (as Windows 'Unicode' saves it), not UTF-8; convert it: "
        f"`iconv -f {family} -t UTF-8 <file> > <file>.utf8` and use the converted file", path=path)


def strip_utf8_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte-order mark.

    Example:
        >>> strip_utf8_bom(b"\\xef\\xbb\\xbfid1 id2")
        b'id1 id2'
    """
    return data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data


def check_not_wide(data: bytes, path=None) -> bytes:
    """Raise :func:`wide_encoding_error` for UTF-16/32 bytes, :func:`nul_bytes_error` for a NUL tail; return
    ``data`` without a UTF-8 BOM."""
    text = data.rstrip(b"\x00")
    if len(text) < len(data) and wide_encoding(text[:256]) is None:
        body = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        whole = body.endswith(b"\n") or not body
        raise nul_bytes_error(len(data) - len(text), path, body.count(b"\n") + 1, whole)
    name = wide_encoding(data[:256])
    if name is not None:
        raise wide_encoding_error(name, path)
    return strip_utf8_bom(data)


def split_lines(text: str):
    """Split on ``\\n``, ``\\r\\n`` and ``\\r`` (only those: not on the other Unicode line breaks).

    Example:
        >>> split_lines("a\\r\\nb\\rc\\n")
        ['a', 'b', 'c']
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _open_binary(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_raw_lines(path) -> Iterator[Tuple[int, bytes, int]]:
    """Yield ``(line number, bytes without the line end, file offset)``; see the module docstring.

    Raises:
        DataFormatError: the file is UTF-16/UTF-32, or a ``.gz`` file is damaged.
    """
    path = Path(path)
    number, offset = 0, 0
    try:
        with _open_binary(path) as handle:
            first = True
            for raw in handle:
                start = offset
                offset += len(raw)
                if first:
                    first = False
                    if b"\x00" in raw and not raw.strip(b"\x00\r\n"):
                        raise nul_bytes_error(raw.count(b"\x00"), path, 1, True)
                    name = wide_encoding(raw[:256])
                    if name is not None:
                        raise wide_encoding_error(name, path)
                    if raw.startswith(UTF8_BOM):
                        raw = raw[len(UTF8_BOM):]
                        start += len(UTF8_BOM)
                body = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
                if b"\x00" in body:
                    raise nul_bytes_error(body.count(b"\x00"), path, number + 1 + body.count(b"\r"),
                                          not body.strip(b"\x00\r"))
                if b"\r" not in body:
                    number += 1
                    yield number, body, start
                    continue
                parts = body.split(b"\r")  # lone CRs end lines too
                if not raw.endswith(b"\n") and parts[-1] == b"":
                    parts.pop()  # the file's last line ended with a lone CR
                for part in parts:
                    number += 1
                    yield number, part, start
                    start += len(part) + 1
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DataFormatError(f"the gzip file is damaged or truncated ({error}); re-download it or decompress "
                              "what is left with `zcat` and check the last lines", path=path) from None


def decode_line(raw: bytes, encoding: str, path, number: int, offset: int) -> str:
    """Decode one line; a byte that is not valid in ``encoding`` is a ``DataFormatError`` naming line and offset."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise DataFormatError(
            f"byte {error.start} of this line (file offset {offset + error.start}) is not valid {encoding}; "
            f"re-encode the file to UTF-8 (e.g. `iconv -f GB18030 -t UTF-8` for Chinese text saved as GBK) or "
            "pass its encoding", path=path, line=number) from None
    except LookupError:
        raise DataFormatError(f"unknown text encoding {encoding!r}", path=path) from None


def iter_lines(path, encoding: str = "utf-8") -> Iterator[Tuple[int, str]]:
    """Yield ``(line number, decoded line without its end)`` of a text file (``.gz`` decompressed)."""
    for number, raw, offset in iter_raw_lines(path):
        yield number, decode_line(raw, encoding, path, number, offset)


__all__ = ["iter_lines", "iter_raw_lines", "decode_line", "split_lines", "strip_utf8_bom", "check_not_wide",
           "wide_encoding", "wide_encoding_error", "nul_bytes_error", "UTF8_BOM"]
