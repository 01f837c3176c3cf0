"""Collections: where captions, split lists and features of a dataset live under ``rootpath``.

Two layouts exist in the lineage:

* :class:`Collection` - one folder per dataset (hybrid_space / NRCCR "single" structure)::

      <root>/<name>/TextData/<name><split>[_<variant>].caption.txt   e.g. vatex/TextData/vatexval_zh.caption.txt
      <root>/<name>/ImageSets/<name><split>.txt
      <root>/<name>/FeatureData/<feat>/{feature.bin,id.txt,shape.txt}

* :class:`SplitCollections` - one collection per split (W2VV, COCO-CN: ``cococntrain``,
  ``cococnval``...), features possibly in a separate full collection (COCO-CN reads the
  ``mscoco2014dev`` features for every split)::

      <root>/<coll>/TextData/<coll>[_<variant>].caption.txt
      <root>/<coll>/ImageSets/<coll>.txt
      <root>/<feature_coll>/FeatureData/<feat>/
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from w2vvx.errors import ConfigError, MissingFileError
from w2vvx.io.bigfile import BigFile, SHAPE_FILE
from w2vvx.io.captions import Caption, caption_file_name, read_captions
from w2vvx.io.frames import read_video2frames
from w2vvx.io.imagesets import read_imageset

CAPTION_SUFFIX = ".caption.txt"
_MAKE_CAPTIONS = ("write it with w2vvx.io.captions.write_captions, or download the dataset's TextData "
                  "(see the recipe for this dataset)")
_MAKE_FEATURES = ("convert features into a BigFile in Python (w2vvx.io.bigfile_convert.txt2bin, npy_to_bigfile, "
                  "hdf5_to_bigfile) or download the dataset's FeatureData")


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or "/" in value or "\\" in value or value in (".", ".."):
        raise ConfigError(f"{what} must be a non-empty name without path separators, got {value!r}")
    return value


def _unique_item_ids(captions: List[Caption]) -> List[str]:
    return list(dict.fromkeys(caption.item_id for caption in captions))


def _feature_names(feature_root: Path) -> List[str]:
    if not feature_root.is_dir():
        return []
    return sorted(child.name for child in feature_root.iterdir() if (child / SHAPE_FILE).is_file())


def _open_features(feature_root: Path, feat: str) -> BigFile:
    folder = feature_root / _check_name(feat, "feature name")
    if not folder.is_dir():
        available = _feature_names(feature_root)
        raise MissingFileError(f"feature {feat!r} not found (available: {available or 'none'}); {_MAKE_FEATURES}",
                               path=folder)
    return BigFile(folder)


class Collection:
    """A dataset in the single-folder layout.

    Args:
        rootpath: the VisualSearch root (see :func:`w2vvx.config.load_settings`).
        name: the collection folder and file prefix, e.g. ``"vatex"``.

    Example:
        >>> import tempfile
        >>> from w2vvx.io.captions import write_captions
        >>> root = tempfile.mkdtemp()
        >>> coll = Collection(root, "toy")
        >>> write_captions(coll.caption_path("val", "zh"), [("v1#zh#0", "一 只 狗")])
        >>> coll.item_ids("val"), coll.variants("val")
        (['v1'], ['zh'])
    """

    def __init__(self, rootpath, name: str):
        self.rootpath = Path(rootpath)
        self.name = _check_name(name, "collection name")
        self.path = self.rootpath / self.name

    def __repr__(self) -> str:
        return f"Collection({str(self.rootpath)!r}, {self.name!r})"

    @property
    def text_dir(self) -> Path:
        return self.path / "TextData"

    @property
    def feature_dir(self) -> Path:
        return self.path / "FeatureData"

    def caption_path(self, split: str, variant: Optional[str] = None) -> Path:
        """``<root>/<name>/TextData/<name><split>[_<variant>].caption.txt`` (not checked to exist)."""
        return self.text_dir / caption_file_name(self.name, split, variant)

    def imageset_path(self, split: str) -> Path:
        return self.path / "ImageSets" / f"{self.name}{split}.txt"

    def captions(self, split: str, variant: Optional[str] = None) -> List[Caption]:
        """Read the captions of ``split`` (``variant`` e.g. ``"zh"``, ``"google_enc2zh"``)."""
        path = self.caption_path(split, variant)
        if not path.is_file():
            available = self.variants(split)
            shown = ", ".join("(none)" if v is None else repr(v) for v in available) or "no caption file"
            raise MissingFileError(
                f"caption file for split {split!r} variant {variant!r} not found; this split has: {shown}; "
                + _MAKE_CAPTIONS, path=path)
        return read_captions(path)

    def item_ids(self, split: str, variant: Optional[str] = None) -> List[str]:
        """The split's item ids: from ImageSets if present, else from its captions (first-appearance order)."""
        imageset = self.imageset_path(split)
        if imageset.is_file():
            return read_imageset(imageset)
        if not self.caption_path(split, variant).is_file() and not self.variants(split):
            raise MissingFileError(
                f"neither an ImageSets file nor captions for split {split!r} of collection {self.name!r}; "
                "write the ImageSets file with w2vvx.io.imagesets.write_imageset", path=imageset)
        if variant is None and not self.caption_path(split).is_file():
            variant = self.variants(split)[0]
        return _unique_item_ids(self.captions(split, variant))

    def variants(self, split: str) -> List[Optional[str]]:
        """Caption variants available for ``split``; ``None`` stands for the plain ``<name><split>.caption.txt``."""
        prefix = f"{self.name}{split}"
        found: List[Optional[str]] = []
        if not self.text_dir.is_dir():
            return found
        names = sorted(child.name for child in self.text_dir.iterdir() if child.is_file())
        if f"{prefix}{CAPTION_SUFFIX}" in names:
            found.append(None)
        for file_name in names:
            if file_name.startswith(prefix + "_") and file_name.endswith(CAPTION_SUFFIX):
                variant = file_name[len(prefix) + 1: -len(CAPTION_SUFFIX)]
                if variant:
                    found.append(variant)
        return found

    def features(self, feat: str, split: Optional[str] = None) -> BigFile:
        """Open ``<root>/<name>/FeatureData/<feat>`` (``split`` is accepted for interface parity)."""
        return _open_features(self.feature_dir, feat)

    def feature_names(self) -> List[str]:
        """Feature folders under ``FeatureData`` that hold a ``shape.txt``."""
        return _feature_names(self.feature_dir)

    def video2frames(self, feat: str) -> Dict[str, List[str]]:
        """Read ``FeatureData/<feat>/video2frames.txt`` safely."""
        return read_video2frames(self.feature_dir / _check_name(feat, "feature name") / "video2frames.txt")


class SplitCollections:
    """A dataset whose splits are separate collections (W2VV / COCO-CN layout).

    Args:
        rootpath: the VisualSearch root.
        train, val, test: collection names per split (any may be omitted).
        feature_collection: a collection holding the features of every split (e.g. ``"mscoco2014dev"``);
            by default each split reads features from its own collection.
        **extra: further named splits.

    Example:
        >>> import tempfile
        >>> sc = SplitCollections(tempfile.mkdtemp(), train="cococntrain", test="cococntest")
        >>> sc.caption_path("test").name
        'cococntest.caption.txt'
    """

    def __init__(self, rootpath, train: Optional[str] = None, val: Optional[str] = None,
                 test: Optional[str] = None, feature_collection: Optional[str] = None, **extra: str):
        self.rootpath = Path(rootpath)
        splits = {"train": train, "val": val, "test": test, **extra}
        self.splits: Dict[str, str] = {split: _check_name(name, f"collection of split {split!r}")
                                       for split, name in splits.items() if name is not None}
        if not self.splits:
            raise ConfigError("SplitCollections needs at least one of train=, val=, test= (collection names)")
        self.feature_collection = (None if feature_collection is None
                                   else _check_name(feature_collection, "feature_collection"))

    def __repr__(self) -> str:
        return f"SplitCollections({str(self.rootpath)!r}, {self.splits}, feature_collection={self.feature_collection!r})"

    def collection(self, split: str) -> str:
        try:
            return self.splits[split]
        except KeyError:
            raise ConfigError(f"unknown split {split!r}; this dataset has splits {sorted(self.splits)}") from None

    def caption_path(self, split: str, variant: Optional[str] = None) -> Path:
        name = self.collection(split)
        return self.rootpath / name / "TextData" / caption_file_name(name, "", variant)

    def imageset_path(self, split: str) -> Path:
        name = self.collection(split)
        return self.rootpath / name / "ImageSets" / f"{name}.txt"

    def captions(self, split: str, variant: Optional[str] = None) -> List[Caption]:
        path = self.caption_path(split, variant)
        if not path.is_file():
            raise MissingFileError(f"caption file of split {split!r} not found; " + _MAKE_CAPTIONS, path=path)
        return read_captions(path)

    def item_ids(self, split: str, variant: Optional[str] = None) -> List[str]:
        imageset = self.imageset_path(split)
        if imageset.is_file():
            return read_imageset(imageset)
        if not self.caption_path(split, variant).is_file():
            raise MissingFileError(
                f"neither an ImageSets file nor a caption file for split {split!r}; write the ImageSets file "
                "with w2vvx.io.imagesets.write_imageset", path=imageset)
        return _unique_item_ids(self.captions(split, variant))

    def variants(self, split: str) -> List[Optional[str]]:
        return Collection(self.rootpath, self.collection(split)).variants("")

    def feature_dir(self, split: Optional[str] = None) -> Path:
        if self.feature_collection is not None:
            name = self.feature_collection
        elif split is not None:
            name = self.collection(split)
        else:
            raise ConfigError("give a split, or a feature_collection holding the features of every split")
        return self.rootpath / name / "FeatureData"

    def features(self, feat: str, split: Optional[str] = None) -> BigFile:
        """Open the BigFile ``feat`` of ``split`` (or of the full feature collection)."""
        return _open_features(self.feature_dir(split), feat)

    def feature_names(self, split: Optional[str] = None) -> List[str]:
        return _feature_names(self.feature_dir(split))
