"""Captions of a user's own images in common forms, read into :class:`CaptionRow` records.

Accepted forms (chosen by the file name):

* ``.csv`` / ``.tsv``: columns ``image,caption[,lang][,split]``; a first row naming the columns
  (``image``/``file_name``/``file``/``id``, ``caption``/``text``/``sentence``, ``lang``/``language``,
  ``split``) is a header, otherwise the columns are taken in that order.
* ``.jsonl`` / ``.jsonlines``: one object per line with the same keys.
* ``.json``: COCO style, ``{"images": [{"id", "file_name"}], "annotations": [{"image_id", "caption"}]}``
  (an annotation may carry ``lang``).
* ``*.caption.txt``: the lineage's TextData lines ``<image>#<tag>#<n> <sentence>``; the language comes
  from the tag (``enc`` is English, ``zh`` Chinese).

Every record keeps where it was read (``path:line``, or the annotation number) for error messages.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import List, NamedTuple, Optional

from w2vvx.errors import DataFormatError, MissingFileError

IMAGE_KEYS = ("image", "file_name", "filename", "file", "image_id", "id", "path")
CAPTION_KEYS = ("caption", "text", "sentence")
LANGUAGE_KEYS = ("lang", "language")
SPLIT_KEYS = ("split",)


class CaptionRow(NamedTuple):
    """One caption of one image, as written by the user.

    Attributes:
        image: the image reference as written (``dog.jpg``, ``photos/dog.jpg`` or ``dog``).
        text: the sentence.
        language: its language code, or ``None`` (then the default language applies).
        split: ``train``/``val``/``test`` when the file says so, else ``None``.
        where: ``path:line`` (or ``path: annotation n``) for messages.
    """

    image: str
    text: str
    language: Optional[str]
    split: Optional[str]
    where: str


def _pick(record: dict, keys, where: str, what: str, required: bool = True):
    for key in keys:
        if key in record and record[key] not in (None, ""):
            return record[key]
    if required:
        raise DataFormatError(f"{where}: no {what} (expected one of the keys {list(keys)}); found keys "
                              f"{sorted(record)}")
    return None


def _row(record: dict, where: str) -> CaptionRow:
    image = str(_pick(record, IMAGE_KEYS, where, "image"))
    text = " ".join(str(_pick(record, CAPTION_KEYS, where, "caption")).split())
    if not text:
        raise DataFormatError(f"{where}: the caption of {image!r} is empty")
    language = _pick(record, LANGUAGE_KEYS, where, "language", required=False)
    split = _pick(record, SPLIT_KEYS, where, "split", required=False)
    return CaptionRow(image.strip(), text, None if language is None else str(language).strip().lower(),
                      None if split is None else str(split).strip().lower(), where)


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise DataFormatError(f"byte at offset {error.start} is not valid UTF-8; save the file as UTF-8",
                              path=path, line=line) from None


def _read_table(path: Path, delimiter: str) -> List[CaptionRow]:
    rows = list(csv.reader(io.StringIO(_decode(path), newline=""), delimiter=delimiter))
    known = set(IMAGE_KEYS + CAPTION_KEYS + LANGUAGE_KEYS + SPLIT_KEYS)
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    has_header = bool(header) and any(cell in IMAGE_KEYS for cell in header) and \
        any(cell in CAPTION_KEYS for cell in header)
    if has_header:
        unknown = [cell for cell in header if cell and cell not in known]
        if unknown:
            raise DataFormatError(f"unknown column(s) {unknown}; the columns are image, caption and optionally "
                                  "lang and split", path=path, line=1)
        names, start = header, 1
    else:
        names, start = ["image", "caption", "lang", "split"], 0
    out = []
    for number, cells in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) < 2 or len(cells) > len(names):
            raise DataFormatError(f"expected {'the columns ' + ','.join(names) if has_header else 'image,caption[,lang][,split]'}"
                                  f" separated by {delimiter!r}, found {len(cells)} field(s) {cells[:4]!r} (quote "
                                  "captions that hold the separator)", path=path, line=number)
        out.append(_row(dict(zip(names, (cell.strip() for cell in cells))), f"{path}:{number}"))
    return out


def _read_jsonl(path: Path) -> List[CaptionRow]:
    out = []
    for number, line in enumerate(_decode(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise DataFormatError(f"not a JSON object ({error})", path=path, line=number) from None
        if not isinstance(record, dict):
            raise DataFormatError(f"expected a JSON object per line, found {type(record).__name__}", path=path,
                                  line=number)
        out.append(_row(record, f"{path}:{number}"))
    return out


def _read_coco(path: Path) -> List[CaptionRow]:
    try:
        data = json.loads(_decode(path))
    except ValueError as error:
        raise DataFormatError(f"not valid JSON ({error})", path=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise DataFormatError("expected COCO-style JSON: an object with 'images' ([{id, file_name}]) and "
                              "'annotations' ([{image_id, caption}]); for one object per line use .jsonl", path=path)
    files = {}
    for number, image in enumerate(data.get("images") or []):
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise DataFormatError(f"images[{number}] needs 'id' and 'file_name'", path=path)
        files[image["id"]] = str(image["file_name"])
    out = []
    for number, note in enumerate(data["annotations"]):
        where = f"{path}: annotations[{number}]"
        if not isinstance(note, dict) or "image_id" not in note:
            raise DataFormatError(f"{where} needs 'image_id' and 'caption'")
        image = files.get(note["image_id"], str(note["image_id"]) if not files else None)
        if image is None:
            raise DataFormatError(f"{where}: image_id {note['image_id']!r} is not among the {len(files)} 'images'")
        out.append(_row({**note, "image": image}, where))
    return out


def _read_lineage(path: Path) -> List[CaptionRow]:
    from w2vvx.io.captions import iter_captions
    from w2vvx.text.languages import resolve_language

    return [CaptionRow(c.item_id, c.text, resolve_language(c.tag) if c.tag else None, None, f"{path}: {c.sent_id}")
            for c in iter_captions(path, keep_extension=True)]


def read_caption_table(path) -> List[CaptionRow]:
    """Read a captions file in any of the accepted forms (see the module docstring).

    Raises:
        MissingFileError: no such file.
        DataFormatError: ``path:line`` and what was expected, for a malformed record or an unknown form.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "captions.csv")
        >>> _ = open(path, "w").write("image,caption,lang\\ndog.jpg,a dog runs,en\\ndog.jpg,一只狗,zh\\n")
        >>> [(row.image, row.language) for row in read_caption_table(path)]
        [('dog.jpg', 'en'), ('dog.jpg', 'zh')]
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError("captions file not found", path=path)
    name = path.name.lower()
    if name.endswith(".caption.txt"):
        rows = _read_lineage(path)
    elif name.endswith(".csv"):
        rows = _read_table(path, ",")
    elif name.endswith((".tsv", ".tab")):
        rows = _read_table(path, "\t")
    elif name.endswith((".jsonl", ".jsonlines", ".ndjson")):
        rows = _read_jsonl(path)
    elif name.endswith(".json"):
        rows = _read_coco(path)
    else:
        raise DataFormatError("unknown captions format; name the file .csv, .tsv, .jsonl, .json (COCO style) or "
                              "<name>.caption.txt (the lineage's TextData)", path=path)
    if not rows:
        raise DataFormatError("the captions file holds no captions", path=path)
    return rows
