"""A collection from a user's own images and captions, in the layout ``w2vvx train``/``vocab``/``index`` read.

:func:`build_collection` writes, under ``<rootpath>/<name>/``::

    ImageSets/<name>{train,val,test}.txt        the item ids of each split
    TextData/<name><split>.caption.txt          captions in the source language, '<id>#enc#<n> sentence'
    TextData/<name><split>_<lang>.caption.txt   captions in each other language, '<id>#<lang>#<n> sentence'
    FeatureData/<feature>/                      the feature BigFile (copied, or extracted from the images)
    collection.json                             where it came from: captions file, image folder, counts

**The id rule.** An item's id is the image's file name without folders and extension: a caption for
``photos/dog_01.jpg``, ``dog_01.jpg`` or ``dog_01`` belongs to item ``dog_01``, the id that
``w2vvx extract-features`` gives the features of ``dog_01.jpg`` (:mod:`w2vvx.features.images`).
A caption whose image is not in the image folder / feature file is refused naming its line;
images without captions stay in the feature file (they can be searched) but are in no split.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Dict, List, Optional, Sequence

import numpy as np

from w2vvx.datasets.caption_tables import CaptionRow, read_caption_table
from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io.atomic import atomic_dir
from w2vvx.io.captions import caption_file_name, write_captions
from w2vvx.io.imagesets import write_imageset
from w2vvx.text.languages import LANGUAGES, resolve_language

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
#: The suffixes removed from an image reference to get its id (the lineage's rule, extended to images).
ID_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".mp4", ".avi", ".webm",
                 ".mkv", ".mov")


def item_id_of(reference: str) -> str:
    """The item id of an image reference in a captions file: base name without a media extension.

    Example:
        >>> item_id_of("photos/dog_01.jpg"), item_id_of("dog_01"), item_id_of("C:\\\\pics\\\\Cat.PNG")
        ('dog_01', 'dog_01', 'Cat')
    """
    name = PureWindowsPath(PurePosixPath(reference.strip()).name).name
    lowered = name.lower()
    for extension in ID_EXTENSIONS:
        if lowered.endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    return name


def source_tag(language: str) -> str:
    """The caption tag of the source language (``en`` -> ``enc``, as in the lineage's file names).

    Example:
        >>> source_tag("en"), source_tag("zh")
        ('enc', 'zhc')
    """
    return f"{language}c"


def _language(row: CaptionRow, default: str) -> str:
    try:
        return resolve_language(row.language or default)
    except ConfigError:
        raise DataFormatError(f"{row.where}: unknown language {row.language!r}; use one of {list(LANGUAGES)}") from None


def assign_splits(item_ids: Sequence[str], val: float, test: float, seed: int = 0) -> Dict[str, List[str]]:
    """Split items at random (seeded): ``val``/``test`` are fractions (< 1) or counts (>= 1); the rest is train.

    Example:
        >>> parts = assign_splits([f"i{n}" for n in range(10)], val=0.2, test=2, seed=0)
        >>> [len(parts[s]) for s in ("train", "val", "test")]
        [6, 2, 2]
    """
    n = len(item_ids)
    counts = {}
    for split, value in (("val", val), ("test", test)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"--{split} must be a fraction in [0, 1) or a count >= 1, got {value!r}")
        counts[split] = int(round(value * n)) if value < 1 else int(value)
    if counts["val"] + counts["test"] >= n:
        raise ConfigError(f"{n} captioned items cannot give {counts['val']} val and {counts['test']} test items and "
                          "still leave training items; lower --val/--test or add captions")
    order = np.random.default_rng(seed).permutation(n)
    shuffled = [item_ids[i] for i in order]
    parts = {"train": shuffled[counts["val"] + counts["test"]:], "val": shuffled[:counts["val"]],
             "test": shuffled[counts["val"]:counts["val"] + counts["test"]]}
    return {split: sorted(ids) for split, ids in parts.items()}


def _split_of_rows(rows: List[CaptionRow], ids: List[str]) -> Dict[str, List[str]]:
    splits: Dict[str, str] = {}
    for row, item in zip(rows, ids):
        if row.split is None:
            raise DataFormatError(f"{row.where}: no split given, while other captions name theirs; give every "
                                  "caption a split (train, val or test) or none")
        if row.split not in SPLITS:
            raise DataFormatError(f"{row.where}: split {row.split!r} is not one of {list(SPLITS)}")
        if splits.setdefault(item, row.split) != row.split:
            raise DataFormatError(f"{row.where}: item {item!r} is put in {row.split!r} here but in {splits[item]!r} "
                                  "by an earlier caption; an item belongs to one split")
    return {split: sorted(item for item, s in splits.items() if s == split) for split in SPLITS}


def build_collection(rootpath, name: str, captions, images=None, features=None, feature_name: Optional[str] = None,
                     model: str = "resnet152", weights="imagenet", image_size: Optional[int] = None,
                     language: str = "en", val=0.1, test=0.1, seed: int = 0, overwrite: bool = False,
                     progress: bool = False) -> Path:
    """Write a collection from a captions file and an image folder and/or a feature BigFile.

    Args:
        rootpath: the VisualSearch root folder.
        name: the collection name (folder and file prefix).
        captions: a captions file (see :func:`w2vvx.datasets.caption_tables.read_caption_table`).
        images: the image folder; without ``features`` its features are extracted now (``model``,
            ``weights``, ``image_size`` as :func:`w2vvx.features.extract_image_features`).
        features: an existing feature BigFile keyed by item id (copied into ``FeatureData``).
        feature_name: the ``FeatureData`` folder name (default: the features folder's name, or ``model``).
        language: the language of captions that do not name one; it becomes the source language
            (``<name><split>.caption.txt``, tag ``<language>c``); others get ``_<lang>`` files.
        val, test: the split sizes (fractions or counts) when the captions name no split.
        seed: the random split's seed.
        overwrite: replace an existing collection.
        progress: show a progress bar while extracting features.

    Returns:
        The collection folder.
    """
    from w2vvx.io.bigfile import BigFile
    from w2vvx.io.collection import Collection

    if images is None and features is None:
        raise ConfigError("give the image folder (images=...) and/or a feature BigFile (features=...)")
    if language not in LANGUAGES:
        raise ConfigError(f"language must be one of {list(LANGUAGES)}, got {language!r}")
    collection = Collection(rootpath, name)
    if collection.path.exists() and not overwrite:
        raise ConfigError(f"{collection.path} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    rows = read_caption_table(captions)
    known: Dict[str, str] = {}
    if images is not None:
        from w2vvx.features.images import list_images

        known = {item: f"image folder {images}" for item in list_images(images)}
    feature_file = BigFile(features) if features is not None else None
    if feature_file is not None:
        if images is not None:
            missing = [item for item in known if item not in feature_file]
            if missing:
                raise DataFormatError(f"{len(missing)} images of {images} have no row in the features (e.g. "
                                      f"{missing[:3]}); extract the features of this folder (w2vvx extract-features)",
                                      path=feature_file.path / "id.txt")
        else:
            known = {item: f"feature file {feature_file.path}" for item in feature_file.names}
    where = f"the image folder {images}" if images is not None else f"the feature file {feature_file.path}"
    ids = []
    for row in rows:
        item = item_id_of(row.image)
        if not item or item.split() != [item]:
            raise DataFormatError(f"{row.where}: the image reference {row.image!r} gives the id {item!r}, which is "
                                  "empty or holds whitespace; rename the image")
        if item not in known:
            shown = ", ".join(sorted(known)[:5])
            raise DataFormatError(f"{row.where}: image {row.image!r} (id {item!r}: the file name without folder and "
                                  f"extension) is not in {where} ({len(known)} items, e.g. {shown}); fix the name "
                                  "or add the image")
        ids.append(item)
    captioned = list(dict.fromkeys(ids))
    named = [row.split is not None for row in rows]
    splits = _split_of_rows(rows, ids) if any(named) else assign_splits(captioned, val, test, seed)
    texts: Dict[tuple, List[tuple]] = {}
    counters: Dict[tuple, int] = {}
    seen_text: Dict[tuple, str] = {}
    split_of = {item: split for split, items in splits.items() for item in items}
    for row, item in zip(rows, ids):
        lang = _language(row, language)
        duplicate = seen_text.setdefault((item, lang, row.text), row.where)
        if duplicate != row.where:
            raise DataFormatError(f"{row.where}: the same caption of {item!r} is already given at {duplicate}; "
                                  "remove the duplicate line")
        variant = None if lang == language else lang
        tag = source_tag(lang) if lang == language else lang
        number = counters.get((item, tag), 0)
        counters[(item, tag)] = number + 1
        texts.setdefault((split_of[item], variant), []).append((f"{item}#{tag}#{number}", row.text))
    missing_splits = [split for split in ("train", "val") if not splits[split]]
    if missing_splits:
        raise ConfigError(f"no {' and no '.join(missing_splits)} items; training needs both (give --val, or name "
                          "the split of some captions)")
    feature_name = feature_name or (feature_file.path.name if feature_file is not None else model)
    with atomic_dir(collection.path, overwrite=overwrite) as tmp:
        for split, items in splits.items():
            if items:
                write_imageset(tmp / "ImageSets" / f"{name}{split}.txt", items)
        for (split, variant), pairs in sorted(texts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            write_captions(tmp / "TextData" / caption_file_name(name, split, variant), pairs)
        target = tmp / "FeatureData" / feature_name
        if feature_file is not None:
            target.mkdir(parents=True)
            for part in ("feature.bin", "id.txt", "shape.txt", "video2frames.txt"):
                if (feature_file.path / part).is_file():
                    shutil.copyfile(feature_file.path / part, target / part)
        else:
            from w2vvx.features.extract import extract_image_features

            extract_image_features(images, target, model=model, weights=weights, image_size=image_size,
                                   progress=progress)
        info = {"captions_file": str(Path(captions).resolve()),
                "images": None if images is None else str(Path(images).resolve()),
                "features": feature_name, "source_language": language,
                "languages": sorted({variant or language for (_, variant) in texts}),
                "items": len(known), "captioned_items": len(captioned), "captions": len(rows),
                "splits": {split: len(items) for split, items in splits.items()},
                "id_rule": "item id = image file name without folders and extension"}
        (tmp / "collection.json").write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    uncaptioned = len(known) - len(captioned)
    if uncaptioned:
        logger.warning("%d of %d items have no caption: they are in the features (searchable) but in no split",
                       uncaptioned, len(known))
    return collection.path
