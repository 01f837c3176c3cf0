"""Preparing a video collection as NRCCR / hybrid_space distribute it (VATEX, MSR-VTT-CN).

The release is a folder ``<source>/<name>/`` with ``TextData/*.caption.txt`` and
``FeatureData/<feat>/`` (a frame-level BigFile plus ``video2frames.txt``, or a video-level BigFile).
Preparing it under ``rootpath``:

1. ``captions``: every caption file the protocol needs is read (checked) and written under its
   canonical name (``<c><split>[_<variant>].caption.txt``); MT files may carry either upstream name
   (``google_zh2enc`` in NRCCR's code, ``google_zhc2en`` in the MLCMR copy);
2. ``imagesets``: ``ImageSets/<c><split>.txt`` from the captions (first-appearance order);
3. ``features``: frame features mean-pooled per video into ``FeatureData/<feat>_mean`` (the
   W2VV++ / dual-encoding video-level input); a video-level source BigFile is copied as is;
4. ``frames`` (frame-level releases only): the frames of the split videos into ``FeatureData/<feat>``
   (frame BigFile + ``video2frames.txt``), the input of NRCCR's frame transformer.

``run`` encodes videos as NRCCR does (``model.py`` 82-117: one-layer frame transformer over at most 64
frames, ``visual_encoder="nrccr_frames"``) when the frames were prepared; ``visual_encoder="mean"``
(the pooled ``<feat>_mean``) stays available by name, and is used for video-level releases.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import DataFormatError, MissingFileError
from w2vvx.io.bigfile import BigFile, BigFileWriter
from w2vvx.io.captions import caption_file_name, read_captions, write_captions
from w2vvx.io.atomic import atomic_path
from w2vvx.io.frames import mean_pool_frames, read_video2frames
from w2vvx.io.imagesets import write_imageset

from .common import (InputFile, Step, StepRunner, bigfile_validator, caption_file_validator, check_inputs,
                            render_plan)
from .crosslingual import CrossLingualSpec, run_crosslingual

POOL_CHUNK = 2048


@dataclasses.dataclass(frozen=True)
class CaptionInput:
    """A caption file of the release: split, canonical variant, accepted upstream variants, role."""

    split: str
    variant: Optional[str]
    candidates: Tuple[Optional[str], ...]
    purpose: str
    optional: bool = False


@dataclasses.dataclass(frozen=True)
class VideoRelease:
    """One video dataset's release: names, caption files, features and where they are published."""

    name: str
    feature: str
    captions: Tuple[CaptionInput, ...]
    source: str
    feature_source: str
    spec: CrossLingualSpec
    folder_names: Tuple[str, ...] = ()


def release_dir(release: VideoRelease, source_dir) -> Path:
    """``<source_dir>/<folder>``: the first of the release's folder names that exists (default: its name)."""
    for name in release.folder_names or (release.name,):
        if (Path(source_dir) / name).is_dir():
            return Path(source_dir) / name
    return Path(source_dir) / release.name


def en_to_zh_caption_inputs(query_note: str = "human Chinese queries") -> Tuple[CaptionInput, ...]:
    """The caption files of an NRCCR en->zh video release (English + MT + back-translation, zh queries + their MT)."""
    return (
        CaptionInput("train", None, (None,), "train (English captions)"),
        CaptionInput("train", "google_enc2zh", ("google_enc2zh",), "train (Google MT en->zh)"),
        CaptionInput("train", "google_enc2zh2enc", ("google_enc2zh2enc",), "train (back-translation)", optional=True),
        CaptionInput("val", "zh", ("zh",), f"select the model ({query_note})"),
        CaptionInput("val", "google_zh2enc", ("google_zh2enc", "google_zhc2en"), "fuse val queries with their MT",
                     optional=True),
        CaptionInput("test", "zh", ("zh",), f"test ({query_note})"),
        CaptionInput("test", "google_zh2enc", ("google_zh2enc", "google_zhc2en"),
                     "fuse test queries with their MT (zh->en)", optional=True),
    )


def caption_source_path(release: VideoRelease, source_dir: Path, entry: CaptionInput) -> Path:
    """The first upstream file of ``entry`` that exists (else the canonical name, for the error)."""
    folder = release_dir(release, source_dir)
    text_dir = folder / "TextData"
    # NRCCR names the files after the collection folder (tester_vid.py 66-70: msrvtt10kcn/TextData/msrvtt10kcn...)
    prefixes = list(dict.fromkeys((release.name, folder.name.lower(), folder.name)))
    for variant in entry.candidates:
        for prefix in prefixes:
            path = text_dir / caption_file_name(prefix, entry.split, variant)
            if path.is_file():
                return path
    return text_dir / caption_file_name(release.name, entry.split, entry.candidates[0])


def feature_source_dir(release: VideoRelease, source_dir: Path) -> Path:
    return release_dir(release, source_dir) / "FeatureData" / release.feature


def _video2frames_validator(path: Path) -> str:
    return f"{len(read_video2frames(path))} videos"


def release_inputs(release: VideoRelease, source_dir) -> List[InputFile]:
    """Every file of the release the recipe reads, with source and purpose."""
    source_dir = Path(source_dir)
    inputs = []
    if release_dir(release, source_dir).name != release.name:
        inputs.append(InputFile(release_dir(release, source_dir).name + "/", release_dir(release, source_dir),
                                release.source, f"hold the release (prepared as collection {release.name})"))
    for entry in release.captions:
        path = caption_source_path(release, source_dir, entry)
        names = " or ".join(caption_file_name(release.name, entry.split, v) for v in entry.candidates)
        inputs.append(InputFile(names, path, release.source, entry.purpose, caption_file_validator, entry.optional))
    feature_dir = feature_source_dir(release, source_dir)
    inputs.append(InputFile(f"FeatureData/{release.feature}/{{feature.bin,id.txt,shape.txt}}", feature_dir,
                            release.feature_source, "give the visual features (BigFile)", bigfile_validator()))
    inputs.append(InputFile(f"FeatureData/{release.feature}/video2frames.txt", feature_dir / "video2frames.txt",
                            release.feature_source, "mean-pool frame features per video (absent: features are "
                            "already per video)", _video2frames_validator, optional=True))
    return inputs


def prepared_feature(release: VideoRelease, source_dir) -> str:
    """Name of the item-level feature folder the run reads."""
    frames = (feature_source_dir(release, Path(source_dir)) / "video2frames.txt").is_file()
    return f"{release.feature}_mean" if frames else release.feature


def _pool_features(source: Path, target: Path, video_ids: Sequence[str]) -> None:
    bigfile = BigFile(source)
    video2frames = read_video2frames(source / "video2frames.txt")
    missing = [v for v in video_ids if v not in video2frames]
    if missing:
        raise DataFormatError(f"{len(missing)} videos of the captions are not in video2frames.txt (e.g. "
                              f"{missing[:3]}); use the feature release of the same dataset",
                              path=source / "video2frames.txt")
    with BigFileWriter(target, bigfile.ndims, overwrite=True) as writer:
        for start in range(0, len(video_ids), POOL_CHUNK):
            chunk = list(video_ids[start:start + POOL_CHUNK])
            writer.add(chunk, mean_pool_frames(bigfile, video2frames, chunk))


def _copy_features(source: Path, target: Path, video_ids: Sequence[str]) -> None:
    bigfile = BigFile(source)
    missing = [v for v in video_ids if v not in bigfile]
    if missing:
        raise DataFormatError(f"{len(missing)} videos of the captions have no feature row (e.g. {missing[:3]})",
                              path=source)
    rows = np.array([bigfile.index(v) for v in video_ids], dtype=np.int64)
    with BigFileWriter(target, bigfile.ndims, overwrite=True) as writer:
        for start in range(0, len(rows), POOL_CHUNK):
            writer.add(video_ids[start:start + POOL_CHUNK], bigfile.read_rows(rows[start:start + POOL_CHUNK]))


def _copy_frames(source: Path, target: Path, video_ids: Sequence[str]) -> None:
    """The frame rows of ``video_ids`` and their ``video2frames.txt`` (JSON object) into ``target``."""
    import json

    bigfile = BigFile(source)
    video2frames = read_video2frames(source / "video2frames.txt")
    kept = {video: [frame for frame in video2frames.get(video, ()) if frame in bigfile] for video in video_ids}
    empty = [video for video, frames in kept.items() if not frames]
    if empty:
        raise DataFormatError(f"{len(empty)} videos of the captions have no frame in the frame BigFile (e.g. "
                              f"{empty[:3]}); use the feature release of the same dataset", path=source)
    frames = [frame for video in video_ids for frame in kept[video]]
    rows = np.array([bigfile.index(frame) for frame in frames], dtype=np.int64)
    with BigFileWriter(target, bigfile.ndims, overwrite=True) as writer:
        for start in range(0, len(rows), POOL_CHUNK):
            writer.add(frames[start:start + POOL_CHUNK], bigfile.read_rows(rows[start:start + POOL_CHUNK]))
    with atomic_path(target / "video2frames.txt") as tmp:
        tmp.write_text(json.dumps({video: kept[video] for video in video_ids}), encoding="utf-8")


def prepare_steps(release: VideoRelease, source_dir, rootpath) -> List[Step]:
    """The three prepare steps (captions, imagesets, features) for ``rootpath``."""
    source_dir, rootpath = Path(source_dir), Path(rootpath)
    text_dir = rootpath / release.name / "TextData"
    entries = [e for e in release.captions
               if not e.optional or caption_source_path(release, source_dir, e).is_file()]
    caption_targets = {e: text_dir / caption_file_name(release.name, e.split, e.variant) for e in entries}
    splits = list(dict.fromkeys(e.split for e in release.captions))

    def copy_captions():
        for entry, target in caption_targets.items():
            source = caption_source_path(release, source_dir, entry)
            captions = read_captions(source)
            if source.resolve() != target.resolve():
                write_captions(target, captions)

    def split_items(split: str) -> List[str]:
        items: Dict[str, None] = {}
        for entry, target in caption_targets.items():
            if entry.split == split:
                items.update(dict.fromkeys(c.item_id for c in read_captions(target)))
        return list(items)

    imageset_paths = {s: rootpath / release.name / "ImageSets" / f"{release.name}{s}.txt" for s in splits}

    def write_imagesets():
        for split, path in imageset_paths.items():
            write_imageset(path, split_items(split))

    feature_name = prepared_feature(release, source_dir)
    feature_target = rootpath / release.name / "FeatureData" / feature_name

    def write_features():
        from w2vvx.io.imagesets import read_imageset

        videos = list(dict.fromkeys(v for p in imageset_paths.values() for v in read_imageset(p)))
        source = feature_source_dir(release, source_dir)
        if source.resolve() == feature_target.resolve():
            return
        if feature_name.endswith("_mean"):
            _pool_features(source, feature_target, videos)
        else:
            _copy_features(source, feature_target, videos)

    pooled = feature_name.endswith("_mean")
    frames_target = rootpath / release.name / "FeatureData" / release.feature

    def write_frames():
        from w2vvx.io.imagesets import read_imageset

        videos = list(dict.fromkeys(v for p in imageset_paths.values() for v in read_imageset(p)))
        source = feature_source_dir(release, source_dir)
        if source.resolve() != frames_target.resolve():
            _copy_frames(source, frames_target, videos)

    frame_step = [Step("frames", f"copy the frames of the split videos and video2frames.txt into FeatureData/"
                       f"{release.feature} (NRCCR's frame transformer input)", [frames_target], write_frames)]
    return [
        Step("captions", f"check {len(caption_targets)} caption files and write them under their canonical names",
             list(caption_targets.values()), copy_captions),
        Step("imagesets", "write ImageSets/<c><split>.txt from the captions", list(imageset_paths.values()),
             write_imagesets),
        Step("features", ("mean-pool frame features per video" if pooled else "copy the video features of the "
                          "split videos") + f" into FeatureData/{feature_name}", [feature_target], write_features),
    ] + (frame_step if pooled else [])


def require_prepared(release: VideoRelease, rootpath, feature: str) -> None:
    """Raise a clear error when ``prepare`` has not been run."""
    root = Path(rootpath) / release.name
    if not (root / "FeatureData" / feature).is_dir() or not (root / "ImageSets").is_dir():
        raise MissingFileError(f"collection {release.name!r} is not prepared; run `w2vvx recipe "
                               f"{release.name} prepare --source-dir <release folder>` first", path=root)


def protocol_lines(release: VideoRelease) -> List[str]:
    spec = release.spec
    return [f"train NRCCR (w2vvx.training.nrccr.NRCCRTrainer: cross-attention, similarity/feature distillation, "
            f"back-translation consistency) on English {release.name}train aligned with {spec.train_mt} and "
            f"{spec.back_translation} (optional: without it the back-translation term is off)",
            f"select on {release.name}val_{spec.target} fused 0.8/0.2 with {release.name}val_{spec.query_mt} "
            "(native only when that file is missing)",
            f"test on {release.name}test_{spec.target}: t2v/v2t R@1/5/10, MedR, mAP, SumR of "
            "v*norm(native) + (1-v)*norm(MT), v in 1.0, 0.8, 0.5, 0.2, 0.0 (norm: min-max over the whole matrix); "
            "a missing optional file is named in the results header"]


def prepare_release(release: VideoRelease, source_dir, rootpath, dry_run: bool = False, force: bool = False) -> str:
    """Check the release, then (unless ``dry_run``) run the prepare steps not done yet; returns the plan text."""
    inputs = release_inputs(release, source_dir)
    summaries = check_inputs(inputs)
    steps = prepare_steps(release, source_dir, rootpath)
    runner = StepRunner(rootpath, release.name, force=force)
    plan = render_plan(f"{release.name} recipe", inputs, summaries, steps, runner, protocol_lines(release),
                       release.spec.published)
    if not dry_run:
        runner.run(steps)
    return plan


def run_release(release: VideoRelease, rootpath, run_dir, small_scale: bool = False,
                max_items=None, word_vectors=None, trusted: bool = False, seed: int = 0, verbose: int = 2,
                max_epochs=None, visual_encoder: Optional[str] = None):
    """The protocol on the prepared collection (see :func:`recipes.crosslingual.run_crosslingual`).

    ``visual_encoder``: ``None`` = NRCCR's frame transformer when the frames were prepared (``"mean"``
    otherwise); ``"mean"`` = the mean-pooled frames (the earlier behaviour); ``"nrccr_frames"``.
    """
    feature_dir = Path(rootpath) / release.name / "FeatureData"
    pooled = feature_dir / f"{release.feature}_mean"
    frames = (feature_dir / release.feature / "video2frames.txt").is_file()
    if visual_encoder is None:
        visual_encoder = "nrccr_frames" if frames else "mean"
    if visual_encoder == "nrccr_frames":
        if not frames:
            raise MissingFileError(f"visual_encoder='nrccr_frames' needs the frame-level features; run `w2vvx recipe "
                                   f"{release.name} prepare` again (step 'frames') or use visual_encoder='mean'",
                                   path=feature_dir / release.feature / "video2frames.txt")
        feature = release.feature
    else:
        feature = pooled.name if pooled.is_dir() else release.feature
    require_prepared(release, rootpath, feature)
    spec = dataclasses.replace(release.spec, feature=feature, visual_encoder=visual_encoder)
    return run_crosslingual(spec, rootpath, run_dir, small_scale=small_scale, max_items=max_items,
                            word_vectors=word_vectors, trusted=trusted, seed=seed, verbose=verbose,
                            max_epochs=max_epochs)


__all__ = ["CaptionInput", "VideoRelease", "release_inputs", "prepare_steps", "prepared_feature",
           "require_prepared", "caption_source_path", "prepare_release", "run_release", "protocol_lines"]
