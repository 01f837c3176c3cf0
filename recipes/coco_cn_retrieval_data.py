"""The coco-cn retrieval data (``coco-cn_retrieval_data.tar.gz``, ``--retrieval-data``) -> the lineage's collections.

The archive (or the folder it extracts to) is already in the VisualSearch layout coco-cn's scripts read; the steps
check every file and copy the six collections (and the features) under rootpath. See :mod:`recipes.coco_cn_release`
for the raw release parts and :mod:`recipes.coco_cn` for the experiment.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from w2vvx.errors import DataFormatError, MissingFileError
from w2vvx.io.bigfile import BigFile, BigFileWriter
from w2vvx.io.captions import read_captions, write_captions
from w2vvx.io.imagesets import read_imageset, write_imageset

from .coco_cn_release import EN, FEATURE_COLLECTION, FEATURE_SOURCE, RETRIEVAL_DATA_SOURCE, RETRIEVAL_FEATURE, ZH
from .common import InputFile, Step, bigfile_validator, caption_file_validator, id_list_validator


def _collections() -> List[str]:
    return list(EN.values()) + list(ZH.values())


def _retrieval_members() -> List[str]:
    """The files of the retrieval data the recipe reads, relative to its root."""
    return [f"{c}/{kind}" for c in _collections()
            for kind in (f"TextData/{c}.caption.txt", f"ImageSets/{c}.txt")]


def _archive_root(names: Sequence[str]) -> Optional[str]:
    """The folder prefix under which the collections lie in an archive ('' at the top), or None."""
    marker = f"{ZH['test']}/TextData/{ZH['test']}.caption.txt"
    for name in names:
        name = name.lstrip("./")
        if name.endswith(marker):
            return name[: -len(marker)]
    return None


def _archive_validator(path: Path) -> str:
    import tarfile

    try:
        with tarfile.open(path) as handle:
            names = handle.getnames()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataFormatError(f"not a readable tar archive ({error}); download it again", path=path) from None
    root = _archive_root(names)
    if root is None:
        raise DataFormatError(f"no {ZH['test']}/TextData/{ZH['test']}.caption.txt inside; expected the coco-cn "
                              "retrieval data", path=path)
    present = {name.lstrip("./") for name in names}
    missing = [m for m in _retrieval_members() if root + m not in present]
    if missing:
        raise DataFormatError(f"{len(missing)} files missing inside the archive (e.g. {missing[:3]})", path=path)
    features = sorted({n.split("/")[3] for n in (x[len(root):] for x in present)
                       if n.startswith(f"{FEATURE_COLLECTION}/FeatureData/") and n.count("/") >= 3})
    return f"archive with the {len(_collections())} collections; features: {features or 'none'}"


class RetrievalData:
    """The coco-cn retrieval data: ``path`` (the ``.tar.gz`` or its extracted folder), optional features."""

    def __init__(self, path, features_bigfile=None):
        self.path = Path(path)
        self.features_bigfile = None if features_bigfile is None else Path(features_bigfile)
        self.is_archive = self.path.is_file()

    def folder(self, rootpath) -> Path:
        """Where the collections are read from (the extraction folder for an archive)."""
        if not self.is_archive:
            return self.path
        extracted = Path(rootpath) / ".w2vvx-recipes" / "coco-cn" / "retrieval_data"
        found = [p.parent.parent.parent for p in extracted.glob(f"**/{ZH['test']}/TextData/{ZH['test']}.caption.txt")]
        return found[0] if found else extracted

    def inputs(self) -> List[InputFile]:
        if self.is_archive:
            inputs = [InputFile(self.path.name, self.path, RETRIEVAL_DATA_SOURCE,
                                "give the COCO-CN and MS-COCO collections (" + ", ".join(_retrieval_members()[:2])
                                + ", ... for all 6 collections)", _archive_validator)]
        else:
            inputs = []
            for member in _retrieval_members():
                validator = caption_file_validator if "/TextData/" in member else id_list_validator
                inputs.append(InputFile(member, self.path / member, RETRIEVAL_DATA_SOURCE,
                                        "give the " + member.split("/")[0] + (" sentences" if "TextData" in member
                                                                              else " images"), validator))
            feature = self.path / FEATURE_COLLECTION / "FeatureData" / RETRIEVAL_FEATURE
            if self.features_bigfile is None:
                inputs.append(InputFile(f"{FEATURE_COLLECTION}/FeatureData/{RETRIEVAL_FEATURE}", feature,
                                        FEATURE_SOURCE + " (coco-cn_resnext-101_feat.tar.gz)",
                                        "give the image features (absent: pass --features-bigfile)",
                                        bigfile_validator(), optional=True))
        if self.features_bigfile is not None:
            inputs.append(InputFile("features BigFile", self.features_bigfile, FEATURE_SOURCE,
                                    "give the image features", bigfile_validator()))
        return inputs

    def feature_name(self, rootpath) -> str:
        if self.features_bigfile is not None:
            return self.features_bigfile.name
        return RETRIEVAL_FEATURE


def retrieval_steps(data: RetrievalData, rootpath) -> List[Step]:
    rootpath = Path(rootpath)
    steps = []
    if data.is_archive:
        extracted = rootpath / ".w2vvx-recipes" / "coco-cn" / "retrieval_data"

        def extract():
            from w2vvx.io.archives import extract_archive

            extract_archive(data.path, extracted, overwrite=True)

        steps.append(Step("extract", f"extract {data.path.name} (path-traversal checked)", [extracted], extract))
    outputs = [rootpath / m for m in _retrieval_members()]

    def install():
        source = data.folder(rootpath)
        for member in _retrieval_members():
            if "/TextData/" in member:
                write_captions(rootpath / member, read_captions(source / member))
            else:
                write_imageset(rootpath / member, read_imageset(source / member))

    steps.append(Step("collections", "check and write the 6 collections' caption files and image lists under "
                      "rootpath", outputs, install))
    feature = data.feature_name(rootpath)
    feature_dir = rootpath / FEATURE_COLLECTION / "FeatureData" / feature

    def features():
        source = data.features_bigfile or (data.folder(rootpath) / FEATURE_COLLECTION / "FeatureData" / feature)
        if not source.is_dir():
            raise MissingFileError(f"image features not found; download coco-cn_resnext-101_feat.tar.gz ({FEATURE_SOURCE}) "
                                   "and pass --features-bigfile", path=source)
        if source.resolve() == feature_dir.resolve():
            return
        bigfile = BigFile(source)
        with BigFileWriter(feature_dir, bigfile.ndims, overwrite=True) as writer:
            for start in range(0, len(bigfile), 8192):
                rows = np.arange(start, min(start + 8192, len(bigfile)))
                writer.add(bigfile.names[start:start + 8192], bigfile.read_rows(rows))

    steps.append(Step(f"features-{feature}", f"copy the image features into {FEATURE_COLLECTION}/FeatureData/{feature}",
                      [feature_dir], features))
    return steps


__all__ = ["RetrievalData", "retrieval_steps"]
