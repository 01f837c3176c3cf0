"""Frame-sequence features of videos for NRCCR's frame transformer: :class:`FrameSequenceFeatures`.

NRCCR reads each video's frames from ``video2frames.txt`` and the frame-level BigFile
(``util/tag_data_provider_vid.py`` 258-263) and keeps the first ``VIDEO_MAX_LEN = 64`` of them, zero-padded
(``collate_frame_gru_fn`` 76-85). This source does the same per batch, for
:class:`~w2vvx.datasets.batching.CaptionBatchDataset` and ``EncodeDataset.from_features``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError


class FrameSequenceFeatures:
    """``item_ids -> (N, T, D)`` float32 frame features, zero-padded, ``T = min(max_frames, longest video)``.

    Frames missing from the BigFile are skipped (as ``mean_pool_frames``); a video without any frame is
    an error naming it. ``T`` is fixed for the whole collection (the longest video, at most
    ``max_frames``), so every batch has the same shape. All-zero rows are padding for the encoders, so a
    real frame whose features are all zero would count as padding.

    Args:
        bigfile: the frame-level :class:`~w2vvx.io.bigfile.BigFile`.
        video2frames: ``{video_id: [frame ids in order]}`` (:func:`w2vvx.io.frames.read_video2frames`).
        max_frames: frames kept per video, the first ones (NRCCR: 64).

    Example:
        >>> import numpy as np
        >>> class Frames:  # a stand-in for a BigFile of frame rows
        ...     names = ["v_1", "v_2", "w_1"]
        ...     def read_rows(self, rows):
        ...         return np.eye(3, dtype="float32")[rows]
        >>> source = FrameSequenceFeatures(Frames(), {"v": ["v_1", "v_2"], "w": ["w_1"]})
        >>> source(["w", "v"]).shape
        (2, 2, 3)
    """

    def __init__(self, bigfile, video2frames: Dict[str, Sequence[str]], max_frames: int = 64):
        if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
            raise ConfigError(f"max_frames must be a positive integer, got {max_frames!r}")
        self.bigfile = bigfile
        self.max_frames = max_frames
        lookup = {name: row for row, name in enumerate(bigfile.names)}
        self._rows: Dict[str, np.ndarray] = {}
        for video, frames in video2frames.items():
            rows = [lookup[frame] for frame in frames if frame in lookup][:max_frames]
            if rows:
                self._rows[str(video)] = np.asarray(rows, dtype=np.int64)
        if not self._rows:
            raise DataFormatError("no frame of video2frames is in the frame BigFile; use the feature folder of the "
                                  "same release", path=getattr(bigfile, "path", None))
        self.frames = max(len(rows) for rows in self._rows.values())
        self.dim = int(np.asarray(bigfile.read_rows(np.zeros(1, np.int64))).shape[-1])

    @classmethod
    def from_folder(cls, folder, max_frames: int = 64) -> "FrameSequenceFeatures":
        """``<folder>/{feature.bin,id.txt,shape.txt,video2frames.txt}`` (NRCCR's FeatureData layout)."""
        from w2vvx.io.bigfile import BigFile
        from w2vvx.io.frames import read_video2frames

        folder = Path(folder)
        return cls(BigFile(folder), read_video2frames(folder / "video2frames.txt"), max_frames=max_frames)

    def __contains__(self, video: str) -> bool:
        return video in self._rows

    def missing(self, videos: Sequence[str]) -> List[str]:
        """The videos of ``videos`` without any frame."""
        return [video for video in videos if video not in self._rows]

    def __call__(self, item_ids: Sequence[str], frames: Optional[int] = None) -> np.ndarray:
        missing = self.missing(item_ids)
        if missing:
            raise DataFormatError(f"{len(missing)} videos have no frame in video2frames.txt and the frame BigFile "
                                  f"(e.g. {missing[:3]}); use the feature release of the same dataset",
                                  path=getattr(self.bigfile, "path", None))
        length = self.frames if frames is None else int(frames)
        out = np.zeros((len(item_ids), length, self.dim), dtype=np.float32)
        rows = [self._rows[video][:length] for video in item_ids]
        flat = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        vectors = np.asarray(self.bigfile.read_rows(flat), dtype=np.float32) if len(flat) else None
        start = 0
        for position, video_rows in enumerate(rows):
            out[position, :len(video_rows)] = vectors[start:start + len(video_rows)]
            start += len(video_rows)
        return out
