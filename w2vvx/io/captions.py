"""Caption files in the VisualSearch/W2VV "TextData" format.

One caption per line: ``<sent_id> <sentence>``, split on the first whitespace (a space, or a tab as
in COCO-CN's ``coco-cn_ext.icap2020.txt``). A sentence id is ``<item>#<tag>#<n>`` (``video7064#zh#0``,
``img.jpg#enc#2``) or ``<item>#<n>`` (``1000268201_693b08cb0e.jpg#1``); the item id is the part before
the first ``#``, without a ``.jpg``/``.mp4`` suffix: the lineage's rule (w2vv ``util/util.py``, NRCCR
``basic/util.py`` ``getVideoId``), so captions written ``xxx.jpg#0`` meet features and ImageSets keyed
``xxx``. Pass ``keep_extension=True`` to :func:`read_captions` / :func:`iter_captions` to keep the suffix
(for feature files keyed ``xxx.jpg``); the sentence id always stays as written.
"""
from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path
from typing import Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

from w2vvx.errors import DataFormatError, MissingFileError
from w2vvx.io.atomic import atomic_path
from w2vvx.io.textlines import decode_line, iter_raw_lines

MEDIA_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".mp4", ".avi", ".webm", ".mkv", ".mov")
#: The suffixes the lineage strips from caption item ids (``getVideoId``).
LINEAGE_EXTENSIONS = (".jpg", ".mp4")
_INDEX_RE = re.compile(r"^[0-9]+$")


class Caption(NamedTuple):
    """One caption line.

    Attributes:
        sent_id: the full sentence id, e.g. ``"video7064#zh#0"``.
        item_id: the image/video id (part before the first ``#``), e.g. ``"video7064"``.
        tag: the language/source tag (``"zh"``, ``"enc"``, ``"google_enc2zh"``...) or ``None`` for
            ``<item>#<n>`` ids.
        index: the caption number ``n``.
        text: the sentence.
    """

    sent_id: str
    item_id: str
    tag: Optional[str]
    index: int
    text: str


def parse_sentence_id(sent_id: str, path=None, line: Optional[int] = None) -> Tuple[str, Optional[str], int]:
    """Split a sentence id into ``(item_id, tag, index)``.

    Args:
        sent_id: ``<item>#<tag>#<n>`` or ``<item>#<n>``; a tag may itself contain ``#``.
        path, line: where the id was read, for error messages.

    Example:
        >>> parse_sentence_id("G9zN5TTuGO4_000179_000189#zh#0")
        ('G9zN5TTuGO4_000179_000189', 'zh', 0)
        >>> parse_sentence_id("1000268201_693b08cb0e.jpg#1")
        ('1000268201_693b08cb0e.jpg', None, 1)
    """
    parts = sent_id.split("#")
    if len(parts) < 2:
        raise DataFormatError(
            f"sentence id {sent_id!r} has no '#'; expected '<item>#<tag>#<n>' or '<item>#<n>' "
            "(is this a plain sentence file rather than a <coll>.caption.txt file?)", path=path, line=line)
    item_id, index_text = parts[0], parts[-1]
    if not item_id:
        raise DataFormatError(f"sentence id {sent_id!r} has no item id before the first '#'", path=path, line=line)
    if not _INDEX_RE.match(index_text):
        raise DataFormatError(
            f"sentence id {sent_id!r} does not end in '#<n>' with a caption number n", path=path, line=line)
    tag = "#".join(parts[1:-1]) if len(parts) > 2 else None
    if tag == "":
        raise DataFormatError(f"sentence id {sent_id!r} has an empty tag", path=path, line=line)
    return item_id, tag, int(index_text)


def strip_extension(item_id: str, extensions: Iterable[str] = MEDIA_EXTENSIONS) -> str:
    """Remove a media file extension (``.jpg``, ``.mp4``...) from an item id, as w2vv's util did.

    Example:
        >>> strip_extension("1000268201_693b08cb0e.jpg"), strip_extension("video7064")
        ('1000268201_693b08cb0e', 'video7064')
    """
    lowered = item_id.lower()
    for extension in extensions:
        if lowered.endswith(extension) and len(item_id) > len(extension):
            return item_id[: -len(extension)]
    return item_id


def _damaged_gzip(path: Path, error: BaseException) -> DataFormatError:
    return DataFormatError(f"the gzip file is damaged or truncated ({error}); re-download it or "
                           "decompress what is left with `zcat` and check the last lines", path=path)


def _check_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise MissingFileError(f"{what} not found", path=path)


def iter_captions(path, encoding: str = "utf-8", keep_extension: bool = False) -> Iterator[Caption]:
    """Yield the captions of a ``*.caption.txt`` file one by one (for big files); blank lines are skipped.

    A UTF-8 byte-order mark is removed, ``\r\n`` and lone ``\r`` end lines like ``\n``, and UTF-16 text
    is refused by name (:mod:`w2vvx.io.textlines`). Item ids lose a ``.jpg``/``.mp4`` suffix unless
    ``keep_extension`` (see the module docstring).

    Raises:
        MissingFileError: the file does not exist.
        DataFormatError: ``path:line`` for a line without a sentence, without an id, with an id not in
            the ``<item>#...#<n>`` form, or with bytes that are not valid in ``encoding``.
    """
    path = Path(path)
    _check_file(path, "caption file")
    try:
        yield from _iter_caption_lines(path, encoding, keep_extension)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise _damaged_gzip(path, error) from None


def _iter_caption_lines(path: Path, encoding: str, keep_extension: bool = False) -> Iterator[Caption]:
    # BOM removed, \n, \r\n and lone \r end lines, UTF-16 refused by name (w2vvx.io.textlines)
    for number, raw, offset in iter_raw_lines(path):
        line = decode_line(raw, encoding, path, number, offset)
        line = line.lstrip("\ufeff")  # a BOM of the file, or of a file concatenated into it
        stripped = line.strip()
        if not stripped:
            continue
        if line[:1].isspace():
            raise DataFormatError(
                "the line starts with whitespace, so it has no sentence id; expected '<sent_id> <sentence>'",
                path=path, line=number)
        fields = stripped.split(None, 1)
        if len(fields) < 2:
            raise DataFormatError(
                f"line holds only {fields[0][:60]!r} and no sentence; expected '<sent_id> <sentence>'",
                path=path, line=number)
        sent_id, text = fields
        item_id, tag, index = parse_sentence_id(sent_id, path=path, line=number)
        if not keep_extension:
            item_id = strip_extension(item_id, LINEAGE_EXTENSIONS)
        yield Caption(sent_id, item_id, tag, index, text)


def read_captions(path, encoding: str = "utf-8", keep_extension: bool = False) -> List[Caption]:
    """Read a whole caption file.

    Args:
        path: a ``<coll>[_<variant>].caption.txt`` file (``.gz`` accepted).
        encoding: the text encoding (UTF-8 in every known release).
        keep_extension: keep a ``.jpg``/``.mp4`` suffix of item ids (default: strip it, as the lineage).

    Returns:
        The captions in file order.

    Raises:
        DataFormatError: as :func:`iter_captions`, plus an empty file or a repeated sentence id.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "x.caption.txt")
        >>> write_captions(path, [("v1.jpg#enc#0", "a dog runs"), ("v1.jpg#enc#1", "a dog")])
        >>> [c.item_id for c in read_captions(path)], read_captions(path, keep_extension=True)[0].item_id
        (['v1', 'v1'], 'v1.jpg')
    """
    captions: List[Caption] = []
    seen = {}
    for caption in iter_captions(path, encoding=encoding, keep_extension=keep_extension):
        position = seen.setdefault(caption.sent_id, len(captions))
        if position != len(captions):
            raise DataFormatError(
                f"sentence id {caption.sent_id!r} appears twice (captions {position + 1} and {len(captions) + 1}); "
                "sentence ids must be unique", path=path)
        captions.append(caption)
    if not captions:
        raise DataFormatError("the caption file is empty; expected lines '<sent_id> <sentence>'", path=path)
    return captions


def write_captions(path, pairs: Iterable[Union[Tuple[str, str], Caption]]) -> None:
    """Write ``(sent_id, text)`` pairs (or :class:`Caption` objects) atomically, one per line.

    Raises:
        DataFormatError: an id with whitespace or no ``#<n>``, or a text that is empty or has a newline.
    """
    lines = []
    for position, pair in enumerate(pairs):
        if isinstance(pair, Caption):
            sent_id, text = pair.sent_id, pair.text
        else:
            sent_id, text = pair
        if not isinstance(sent_id, str) or not sent_id or sent_id.split() != [sent_id]:
            raise DataFormatError(f"caption {position}: sentence id {sent_id!r} is empty or contains whitespace")
        parse_sentence_id(sent_id)
        if not isinstance(text, str) or not text.strip() or "\n" in text or "\r" in text:
            raise DataFormatError(f"caption {position} ({sent_id}): the text {text!r} is empty or holds a newline")
        lines.append(f"{sent_id} {text.strip()}\n")
    with atomic_path(path) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")


def read_sentences(path, encoding: str = "utf-8") -> List[str]:
    """Read a plain one-sentence-per-line file (e.g. Multi30K ``train.de.gz``); ``.gz`` is decompressed.

    Every line is kept (a blank line is an empty sentence) so that line ``i`` stays aligned with
    item ``i`` of the matching image split file.
    """
    path = Path(path)
    _check_file(path, "sentence file")
    sentences = []
    for number, raw, offset in iter_raw_lines(path):  # a UTF-8 BOM is not part of sentence 1
        line = decode_line(raw, encoding, path, number, offset)
        sentences.append(line.lstrip("\ufeff") if number == 1 else line)
    return sentences


def caption_file_name(collection: str, split: str = "", variant: Optional[str] = None) -> str:
    """Return ``<collection><split>[_<variant>].caption.txt``.

    Example:
        >>> caption_file_name("vatex", "val", "google_enc2zh")
        'vatexval_google_enc2zh.caption.txt'
    """
    return f"{collection}{split}" + (f"_{variant}" if variant else "") + ".caption.txt"


__all__ = ["LINEAGE_EXTENSIONS", "Caption", "parse_sentence_id", "strip_extension", "iter_captions", "read_captions",
           "write_captions", "read_sentences", "caption_file_name", "MEDIA_EXTENSIONS"]
