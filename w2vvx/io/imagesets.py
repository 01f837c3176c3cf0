"""ImageSets files: ``<coll>/ImageSets/<coll>.txt``, one image/video id per line."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, List

from w2vvx.errors import DataFormatError, MissingFileError
from w2vvx.io.atomic import atomic_path


def parse_imageset(data: bytes, path=None) -> List[str]:
    """Parse the bytes of an ImageSets file: one id per line, blank lines skipped, ids unique.

    Example:
        >>> parse_imageset(b"img1\\nimg2\\n\\n")
        ['img1', 'img2']
    """
    from w2vvx.io.textlines import check_not_wide, split_lines

    data = check_not_wide(data, path)  # a UTF-8 BOM is dropped, UTF-16 refused by name
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
        raise DataFormatError(f"byte at file offset {error.start} is not valid UTF-8; re-encode the file to UTF-8",
                              path=path, line=line) from None
    ids: List[str] = []
    first_line = {}
    for number, line in enumerate(split_lines(text), start=1):  # \n, \r\n or a lone \r end a line
        fields = line.replace("\ufeff", "").split()  # BOMs of files concatenated into this one
        if not fields:
            continue
        if len(fields) > 1:
            raise DataFormatError(f"expected one id per line, found {len(fields)} fields {line.strip()[:80]!r}",
                                  path=path, line=number)
        item = fields[0]
        previous = first_line.setdefault(item, number)
        if previous != number:
            raise DataFormatError(f"id {item!r} is listed twice (lines {previous} and {number})", path=path,
                                  line=number)
        ids.append(item)
    if not ids:
        raise DataFormatError("the ImageSets file lists no ids; expected one id per line", path=path)
    return ids


def read_imageset(path) -> List[str]:
    """Read the item ids of a split from an ImageSets file.

    Raises:
        MissingFileError: naming the path where the file is expected.
        DataFormatError: non-UTF-8 bytes, more than one field on a line, a repeated id, or no ids.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            "ImageSets file not found; it should list the split's image/video ids, one per line "
            "(write it with w2vvx.io.imagesets.write_imageset)", path=path)
    return parse_imageset(path.read_bytes(), path=path)


def write_imageset(path, ids: Iterable[str]) -> None:
    """Write ids one per line, atomically; ids must be unique and free of whitespace."""
    ids = list(ids)
    seen = set()
    for item in ids:
        if not isinstance(item, str) or not item or item.split() != [item]:
            raise DataFormatError(f"id {item!r} is empty, not a string or contains whitespace")
        if item in seen:
            raise DataFormatError(f"id {item!r} is given twice; ImageSets ids must be unique")
        seen.add(item)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{item}\n" for item in ids), encoding="utf-8")
