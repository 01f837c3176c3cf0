"""Frame lists of video collections (``FeatureData/<feat>/video2frames.txt``) and frame mean pooling.

The lineage (hybrid_space ``util/get_frameInfo.py``) writes a Python dict literal
``{video_id: [frame_id, ...]}`` and reads it with ``eval``. Here it is parsed with
``ast.literal_eval`` (never ``eval``) and checked to be a dict of str -> list[str]. A JSON object and a
text variant (``video frame1 frame2 ...`` per line) are accepted too. Frame ids are
``<video_id>_<frame_no>`` and are sorted numerically by the trailing number.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from w2vvx.errors import DataFormatError, MissingFileError

_TRAILING_NUMBER = re.compile(r"_([0-9]+)$")


def frame_number(frame_id: str) -> int:
    """Return the trailing ``_<n>`` of a frame id.

    Example:
        >>> frame_number("video7_12")
        12
    """
    match = _TRAILING_NUMBER.search(frame_id)
    if match is None:
        raise DataFormatError(f"frame id {frame_id!r} does not end in '_<frame number>'")
    return int(match.group(1))


def _validated(mapping, path) -> Dict[str, List[str]]:
    if not isinstance(mapping, dict):
        raise DataFormatError(f"expected a dict {{video_id: [frame ids]}}, found a {type(mapping).__name__}",
                              path=path)
    result: Dict[str, List[str]] = {}
    for video, frames in mapping.items():
        if not isinstance(video, str) or not video:
            raise DataFormatError(f"video id {video!r} is not a non-empty string", path=path)
        if not isinstance(frames, (list, tuple)) or not all(isinstance(f, str) and f for f in frames):
            raise DataFormatError(f"the frames of video {video!r} are not a list of non-empty strings", path=path)
        result[video] = list(frames)
    return result


def parse_video2frames(data: bytes, path=None, sort: bool = True) -> Dict[str, List[str]]:
    """Parse video2frames content given as bytes (dict literal, JSON object or text lines).

    Args:
        data: the file content.
        path: the file, for error messages.
        sort: sort each video's frames by their trailing ``_<n>`` (every frame id must have one).

    Example:
        >>> parse_video2frames(b"{'v1': ['v1_10', 'v1_2']}")
        {'v1': ['v1_2', 'v1_10']}
        >>> parse_video2frames(b"v1 v1_1 v1_0\\nv2 v2_0\\n")
        {'v1': ['v1_0', 'v1_1'], 'v2': ['v2_0']}
    """
    try:
        text = data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as error:
        raise DataFormatError(f"byte at file offset {error.start} is not valid UTF-8; re-encode the file",
                              path=path) from None
    stripped = text.strip()
    if not stripped:
        raise DataFormatError("the video2frames file is empty", path=path)
    if stripped.startswith("{"):
        try:
            mapping = json.loads(stripped)
        except (ValueError, RecursionError):
            try:
                mapping = ast.literal_eval(stripped)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
                raise DataFormatError(
                    f"not a JSON object nor a Python dict literal of str -> list of str ({type(error).__name__}: "
                    f"{str(error)[:120]})", path=path) from None
        result = _validated(mapping, path)
    elif stripped[0] in "[(\"'":
        raise DataFormatError("expected a dict {video_id: [frame ids]} or 'video frame1 frame2 ...' lines, found "
                              f"{stripped[:40]!r}", path=path)
    else:
        result = {}
        for number, line in enumerate(text.split("\n"), start=1):
            fields = line.split()
            if not fields:
                continue
            if fields[0] in result:
                raise DataFormatError(f"video {fields[0]!r} is listed twice", path=path, line=number)
            result[fields[0]] = fields[1:]
    if sort:
        for video, frames in result.items():
            try:
                result[video] = sorted(frames, key=frame_number)
            except DataFormatError as error:
                raise DataFormatError(f"video {video!r}: {error.message}; pass sort=False to keep the file order",
                                      path=path) from None
    return result


def read_video2frames(path, sort: bool = True) -> Dict[str, List[str]]:
    """Read ``video2frames.txt`` (or ``.json``) safely; see :func:`parse_video2frames`."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            "video2frames file not found; frame-level features need FeatureData/<feat>/video2frames.txt "
            "mapping each video id to its frame ids", path=path)
    return parse_video2frames(path.read_bytes(), path=path, sort=sort)


def mean_pool_frames(bigfile, video2frames: Dict[str, Sequence[str]], video_ids: Sequence[str]) -> np.ndarray:
    """Average the frame vectors of each video.

    Frames that are absent from ``bigfile`` are ignored; a video with no frame in ``bigfile`` (or
    unknown to ``video2frames``) is an error.

    Args:
        bigfile: a :class:`w2vvx.io.bigfile.BigFile` of frame features.
        video2frames: ``{video_id: [frame ids]}``.
        video_ids: the videos wanted, in output order.

    Returns:
        float32 array ``(len(video_ids), D)``.
    """
    rows: List[int] = []
    starts: List[int] = []
    for video in video_ids:
        if video not in video2frames:
            raise DataFormatError(f"video {video!r} is not in video2frames ({len(video2frames)} videos)")
        present = [bigfile.index(frame) for frame in video2frames[video] if frame in bigfile]
        if not present:
            raise DataFormatError(f"none of the {len(video2frames[video])} frames of video {video!r} is in "
                                  f"{getattr(bigfile, 'path', 'the feature file')}")
        starts.append(len(rows))
        rows.extend(present)
    if not starts:
        return np.zeros((0, bigfile.ndims), dtype=np.float32)
    vectors = bigfile.read_rows(np.asarray(rows, dtype=np.int64)).astype(np.float64)
    sums = np.add.reduceat(vectors, np.asarray(starts), axis=0)
    counts = np.diff(np.asarray(starts + [len(rows)]))[:, None]
    return (sums / counts).astype(np.float32)
