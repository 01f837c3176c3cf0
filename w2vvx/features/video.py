"""Frame-level and mean-pooled features of videos: from a folder of frame folders, or from video files.

Input, in ``video_dir``:

* one sub-folder per video holding its frame images (``v1/0001.jpg``, ``v1/0002.jpg``...): the video id
  is the folder name; frames are ordered by the last number in their file name (else by name);
* or video files (``.mp4``, ``.avi``, ``.webm``, ``.mkv``, ``.mov``): the id is the file name without
  extension; every ``frame_step``-th frame is sampled (decoding needs ``pip install av``).

Output, as the lineage lays it out (hybrid_space ``util/get_frameInfo.py``):

* ``out``: the frame-level BigFile, frame ids ``<video>_<n>`` (n = 0, 1, ... in frame order), with
  ``video2frames.txt`` (a dict literal ``{video: [frame ids]}``) beside ``feature.bin``;
* ``mean_out`` (default ``<out>_mean``): one mean-pooled vector per video.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.atomic import atomic_path

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".mpg", ".mpeg")
VIDEO2FRAMES_FILE = "video2frames.txt"
_LAST_NUMBER = re.compile(r"([0-9]+)(?!.*[0-9])")


def _frame_order(path: Path):
    match = _LAST_NUMBER.search(path.stem)
    return (0, int(match.group(1)), path.name) if match else (1, 0, path.name)


def frame_folders(video_dir) -> Dict[str, List[Path]]:
    """``{video id: [frame image paths in order]}`` of a folder of frame folders.

    Example:
        >>> import tempfile, os
        >>> root = tempfile.mkdtemp(); os.mkdir(os.path.join(root, "v1"))
        >>> for name in ("f10.jpg", "f2.jpg"):
        ...     _ = open(os.path.join(root, "v1", name), "w").close()
        >>> [p.name for p in frame_folders(root)["v1"]]
        ['f2.jpg', 'f10.jpg']
    """
    from w2vvx.features.images import IMAGE_EXTENSIONS

    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        raise MissingFileError("video folder not found; give a folder of frame folders or of video files",
                               path=video_dir)
    videos: Dict[str, List[Path]] = {}
    for child in sorted(video_dir.iterdir()):
        if not child.is_dir():
            continue
        frames = sorted((f for f in child.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS),
                        key=_frame_order)
        if not frames:
            continue
        if child.name.split() != [child.name]:
            raise DataFormatError("a video id (the folder name) must not contain whitespace; rename the folder",
                                  path=child)
        videos[child.name] = frames
    return videos


def video_files(video_dir) -> Dict[str, Path]:
    """``{video id: path}`` of the video files directly in ``video_dir``."""
    video_dir = Path(video_dir)
    found: Dict[str, Path] = {}
    for child in sorted(video_dir.iterdir()):
        if child.is_file() and child.suffix.lower() in VIDEO_EXTENSIONS:
            if child.stem in found:
                raise DataFormatError(f"two videos have the id {child.stem!r}; rename one", path=child)
            found[child.stem] = child
    return found


def sample_video(path, out_dir, frame_step: int = 25, max_frames: Optional[int] = None) -> List[Path]:
    """Decode ``path`` and save every ``frame_step``-th frame as ``out_dir/<n>.png``; return the files.

    Raises:
        ConfigError: no video decoder is installed (``pip install av``).
        DataFormatError: the file cannot be decoded.
    """
    try:
        import imageio.v3 as iio
    except ImportError:
        raise ConfigError("decoding video files needs imageio and PyAV (pip install imageio av); or save the "
                          "frames yourself, one folder per video (ffmpeg -i v.mp4 -vf fps=1 v/%05d.jpg)") from None
    from PIL import Image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: List[Path] = []
    try:
        for number, frame in enumerate(iio.imiter(path)):
            if number % frame_step:
                continue
            target = out_dir / f"{len(written):06d}.png"
            Image.fromarray(np.asarray(frame)[..., :3]).save(target)
            written.append(target)
            if max_frames is not None and len(written) >= max_frames:
                break
    except (ImportError, ValueError, OSError, RuntimeError) as error:
        reason = " ".join(str(error).split())  # imageio's message spans lines
        if "plugin" in reason.lower() or isinstance(error, ImportError):
            raise ConfigError(f"no video decoder can read {path} ({reason}); pip install av, or save the frames "
                              "yourself, one folder per video (ffmpeg -i v.mp4 -vf fps=1 v/%05d.jpg)") from None
        raise DataFormatError(f"cannot decode this video ({type(error).__name__}: {reason})", path=path) from None
    if not written:
        raise DataFormatError("no frame could be decoded from this video", path=path)
    return written


def write_video2frames(path, video2frames: Dict[str, List[str]]) -> None:
    """Write ``{video: [frame ids]}`` as the lineage's dict literal, atomically (read by
    :func:`w2vvx.io.frames.read_video2frames`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(repr({video: list(frames) for video, frames in video2frames.items()}) + "\n",
                       encoding="utf-8")


def extract_video_features(video_dir, out, mean_out=None, model: str = "resnet152", weights="imagenet",
                           image_size: Optional[int] = None, batch_size: int = 32, frame_step: int = 25,
                           max_frames: Optional[int] = None, overwrite: bool = False, resume: bool = True,
                           progress: bool = False, feature_model=None):
    """Frame-level BigFile (with ``video2frames.txt``) and mean-pooled BigFile of the videos of ``video_dir``.

    Args:
        video_dir: a folder of frame folders or of video files (see the module docstring).
        out: the frame-level BigFile folder.
        mean_out: the mean-pooled BigFile folder (default: ``<out>_mean``).
        model, weights, image_size, batch_size, overwrite, resume, progress, feature_model: as
            :func:`w2vvx.features.extract.extract_image_features`.
        frame_step: sample every ``frame_step``-th decoded frame of a video file.
        max_frames: at most this many frames per video file.

    Returns:
        ``(out, mean_out)``.
    """
    from w2vvx.features.backbones import build_feature_model
    from w2vvx.features.extract import partial_dir, run_extraction
    from w2vvx.features.images import load_batch
    from w2vvx.io.bigfile import BigFile, write_bigfile
    from w2vvx.io.frames import mean_pool_frames

    if isinstance(frame_step, bool) or not isinstance(frame_step, int) or frame_step < 1:
        raise ConfigError(f"frame_step must be a positive integer, got {frame_step!r}")
    out = Path(out)
    mean_out = Path(mean_out) if mean_out is not None else out.with_name(out.name + "_mean")
    for target in (out, mean_out):
        if target.exists() and not overwrite:
            raise ConfigError(f"{target} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    videos = frame_folders(video_dir)
    files = video_files(video_dir)
    if videos and files:
        raise DataFormatError("the folder holds both frame folders and video files; give one kind",
                              path=video_dir)
    frames_cache = None
    if files:
        frames_cache = partial_dir(out).with_name(partial_dir(out).name + "-frames")
        for video, path in files.items():
            done = frames_cache / video / ".done"
            if not done.is_file() or not resume:
                shutil.rmtree(frames_cache / video, ignore_errors=True)
                sample_video(path, frames_cache / video, frame_step=frame_step, max_frames=max_frames)
                done.write_text("", encoding="utf-8")
        videos = frame_folders(frames_cache)
    if not videos:
        raise DataFormatError("no frame folders (one folder of images per video) and no video files "
                              f"({', '.join(VIDEO_EXTENSIONS)}) here", path=video_dir)
    video2frames = {video: [f"{video}_{n}" for n in range(len(frames))] for video, frames in videos.items()}
    paths = {frame: path for video, frames in videos.items() for frame, path in zip(video2frames[video], frames)}
    net = feature_model or build_feature_model(model, weights=weights, image_size=image_size)
    run_extraction(out, list(paths), lambda names: load_batch([paths[n] for n in names], net.image_size), net,
                   batch_size=batch_size, overwrite=overwrite, resume=resume, progress=progress,
                   extra_settings={"frame_step": frame_step, "max_frames": max_frames})
    write_video2frames(out / VIDEO2FRAMES_FILE, video2frames)
    pooled = mean_pool_frames(BigFile(out), video2frames, list(video2frames))
    write_bigfile(mean_out, list(video2frames), pooled, overwrite=overwrite)
    if frames_cache is not None:
        shutil.rmtree(frames_cache, ignore_errors=True)
    return out, mean_out
