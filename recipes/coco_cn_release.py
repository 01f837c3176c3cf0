"""COCO-CN release conversion: the raw release parts -> the lineage's collections (``w2vvx recipe coco-cn prepare``).

Inputs, either:

* **``coco-cn_retrieval_data.tar.gz``** (``--retrieval-data``, the archive or the folder it extracts to),
  the file the coco-cn ``code/image-retrieval`` README tells users to download
  (http://lixirong.net/data/coco-cn/coco-cn_retrieval_data.tar.gz). It is already in the VisualSearch
  layout its scripts read (``w2vv_trainer.py``, ``zh2en_sim.py``, ``common.ini``):
  ``<c>/TextData/<c>.caption.txt`` and ``<c>/ImageSets/<c>.txt`` for ``mscoco2014dev-{train,val,test}``
  and ``cococn{train,val,test}``, features under ``mscoco2014dev/FeatureData/<feature>`` (the
  ResNeXt-101 ``pyresnext-101_rbps13k,flatten0_output,os`` of ``coco-cn_resnext-101_feat.tar.gz``,
  or ``--features-bigfile``). ``prepare`` checks every file and copies the collections under rootpath;

or the raw parts:

* the COCO-CN release (``coco-cn-version1805v1.1``, on request from the authors, see
  github.com/li-xirong/coco-cn README): ``coco-cn_{train,val,test}.txt`` (image ids
  ``COCO_<split>2014_<12 digits>``, one per line), ``imageid.human-written-caption.txt`` (TSV
  ``<image id>#<n>\\t<sentence>``), optionally a Baidu MT file of the same TSV form (``--mt-file``);
* or, for the test split only, a COCO-caption-style JSON such as ``merged_captions_coco-cn_test.json``
  (github.com/evanmiltenburg/COCO-CN-Results-Viewer; annotations with ``source`` ``cn`` = human);
* MS-COCO 2014 English captions ``captions_train2014.json`` / ``captions_val2014.json``
  (http://images.cocodataset.org/annotations/annotations_trainval2014.zip);
* image features: a BigFile keyed by COCO image id (the 2048-d ResNeXt-101
  ``pyresnext-101_rbps13k,flatten0_output,os`` of the coco-cn ``data/`` README) or a ``.npy`` plus an
  id list (one id per line, row ``i`` = id ``i``).

Prepared collections (coco-cn ``common.ini``): ``mscoco2014dev`` (features of every image),
``mscoco2014dev-{train,val,test}`` (English; train = every COCO 2014 image with English captions that
is not a COCO-CN val/test image; val/test = the COCO-CN val/test images with one English sentence each,
the first annotation), ``cococn{train,val,test}`` (human Chinese, tag ``zh``; MT Chinese of the train
split in ``cococntrain_zhb.caption.txt``).

The experiment on the prepared collections is :mod:`recipes.coco_cn`; the coco-cn retrieval data archive is
:mod:`recipes.coco_cn_retrieval_data`.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io.bigfile import BigFile, BigFileWriter
from w2vvx.io.captions import write_captions
from w2vvx.io.imagesets import read_imageset, write_imageset

from .common import InputFile, Step, bigfile_validator, id_list_validator, npy_validator, read_lines

logger = logging.getLogger(__name__)

RELEASE_SOURCE = "COCO-CN release coco-cn-version1805v1.1 (on request, see https://github.com/li-xirong/coco-cn)"
JSON_SOURCE = ("COCO-caption-style JSON, e.g. merged_captions_coco-cn_test.json from "
               "https://github.com/evanmiltenburg/COCO-CN-Results-Viewer (Data/COCO/)")
COCO_SOURCE = "MS-COCO 2014 captions, http://images.cocodataset.org/annotations/annotations_trainval2014.zip"
FEATURE_SOURCE = ("COCO-CN precomputed ResNeXt-101 features (https://github.com/li-xirong/coco-cn data/README.md) or "
                  "your own 2048-d image features")
RETRIEVAL_DATA_SOURCE = ("coco-cn_retrieval_data.tar.gz, http://lixirong.net/data/coco-cn/coco-cn_retrieval_data.tar.gz "
                         "(github.com/li-xirong/coco-cn code/image-retrieval README)")
RETRIEVAL_FEATURE = "pyresnext-101_rbps13k,flatten0_output,os"
EN = {"train": "mscoco2014dev-train", "val": "mscoco2014dev-val", "test": "mscoco2014dev-test"}
ZH = {"train": "cococntrain", "val": "cococnval", "test": "cococntest"}
FEATURE_COLLECTION = "mscoco2014dev"


# ---- readers --------------------------------------------------------------------------------------
def read_tsv_captions(path: Path, tag: str) -> List[Tuple[str, str]]:
    """``<image>#<n>\\t<sentence>`` lines -> ``[(<image>#<tag>#<n>, sentence)]``."""
    pairs = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        key, sep, text = line.partition("\t")
        if not sep:
            key, _, text = line.partition(" ")
        image, hash_, index = key.partition("#")
        if not hash_ or not index.isdigit() or not image.startswith("COCO_") or not text.strip():
            raise DataFormatError(f"expected '<COCO image id>#<n><TAB><sentence>', found {line[:80]!r}",
                                  path=path, line=number)
        pairs.append((f"{image}#{tag}#{index}", text.strip()))
    if not pairs:
        raise DataFormatError("no sentences", path=path)
    return pairs


def _tsv_validator(path: Path) -> str:
    pairs = read_tsv_captions(path, "zh")
    return f"{len(pairs)} sentences of {len({p[0].split('#')[0] for p in pairs})} images"


def _stem(file_name: str) -> str:
    return file_name[:-4] if file_name.endswith(".jpg") else file_name


def read_caption_json(path: Path, source: Optional[str] = None, tag: str = "enc") -> Dict[str, List[str]]:
    """COCO-caption-style JSON -> ``{image id: [sentences in annotation-id order]}`` (``source`` filters)."""
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise DataFormatError(f"not a UTF-8 JSON document ({error})", path=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise DataFormatError("expected a COCO caption JSON object with 'images' and 'annotations' lists", path=path)
    names = {}
    for image in data["images"]:
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise DataFormatError(f"image entry without 'id'/'file_name': {str(image)[:80]}", path=path)
        names[image["id"]] = _stem(str(image["file_name"]))
    by_image: Dict[str, List[Tuple[int, int, str]]] = {}
    for position, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or not isinstance(ann.get("caption"), str):
            raise DataFormatError(f"annotation {position} lacks 'image_id' or a 'caption' string", path=path)
        if source is not None and ann.get("source") != source:
            continue
        if ann["image_id"] not in names:
            raise DataFormatError(f"annotation {position} refers to unknown image_id {ann['image_id']}", path=path)
        text = " ".join(ann["caption"].split())
        if text:
            by_image.setdefault(names[ann["image_id"]], []).append((int(ann.get("id", 0)), position, text))
    return {image: [t for _, _, t in sorted(entries)] for image, entries in by_image.items()}


def _json_validator(source: Optional[str]):
    def validate(path: Path) -> str:
        captions = read_caption_json(path, source=source)
        if not captions:
            raise DataFormatError(f"no annotations{' with source ' + repr(source) if source else ''}", path=path)
        return f"{sum(map(len, captions.values()))} sentences of {len(captions)} images"
    return validate


# ---- inputs and steps -----------------------------------------------------------------------------
class Sources:
    """Where each input is (paths given by the user)."""

    def __init__(self, release_dir=None, test_json=None, mt_file=None, coco_captions_dir=None,
                 features_bigfile=None, features_npy=None, features_ids=None):
        self.release_dir = None if release_dir is None else Path(release_dir)
        self.test_json = None if test_json is None else Path(test_json)
        self.mt_file = None if mt_file is None else Path(mt_file)
        self.coco_captions_dir = None if coco_captions_dir is None else Path(coco_captions_dir)
        self.features_bigfile = None if features_bigfile is None else Path(features_bigfile)
        self.features_npy = None if features_npy is None else Path(features_npy)
        self.features_ids = None if features_ids is None else Path(features_ids)
        if self.release_dir is None:
            raise ConfigError("give --retrieval-data (coco-cn_retrieval_data.tar.gz, from "
                              f"{RETRIEVAL_DATA_SOURCE}) or --release-dir (the COCO-CN release folder with "
                              "coco-cn_{train,val,test}.txt and imageid.human-written-caption.txt; it comes from "
                              f"{RELEASE_SOURCE})")
        if self.coco_captions_dir is None:
            raise ConfigError(f"give --coco-captions-dir (captions_train2014.json, captions_val2014.json) from "
                              f"{COCO_SOURCE}")
        if self.features_bigfile is None and (self.features_npy is None or self.features_ids is None):
            raise ConfigError("give the image features: --features-bigfile DIR, or --features-npy FILE with "
                              "--features-ids FILE")

    def inputs(self) -> List[InputFile]:
        r = self.release_dir
        inputs = [InputFile(f"coco-cn_{s}.txt", r / f"coco-cn_{s}.txt", RELEASE_SOURCE,
                            f"list the COCO-CN {s} images", id_list_validator) for s in ("train", "val", "test")]
        inputs.append(InputFile("imageid.human-written-caption.txt", r / "imageid.human-written-caption.txt",
                                RELEASE_SOURCE, "give the human-written Chinese sentences (train, val and test "
                                "queries)", _tsv_validator))
        if self.mt_file is not None:
            inputs.append(InputFile(self.mt_file.name, self.mt_file, RELEASE_SOURCE,
                                    "give the Baidu MT Chinese training sentences", _tsv_validator))
        if self.test_json is not None:
            inputs.append(InputFile(self.test_json.name, self.test_json, JSON_SOURCE,
                                    "give the test queries (annotations with source 'cn')", _json_validator("cn")))
        for name in ("captions_train2014.json", "captions_val2014.json"):
            inputs.append(InputFile(name, self.coco_captions_dir / name, COCO_SOURCE,
                                    "give the English sentences (English model, CL route)", _json_validator(None)))
        if self.features_bigfile is not None:
            inputs.append(InputFile("features BigFile", self.features_bigfile, FEATURE_SOURCE,
                                    "give the image features", bigfile_validator()))
        else:
            inputs.append(InputFile(self.features_npy.name, self.features_npy, FEATURE_SOURCE,
                                    "give the image features", npy_validator()))
            inputs.append(InputFile(self.features_ids.name, self.features_ids, FEATURE_SOURCE,
                                    "name the rows of the .npy features", id_list_validator))
        return inputs

    @property
    def feature_name(self) -> str:
        if self.features_bigfile is not None:
            return self.features_bigfile.name
        return self.features_npy.stem


def _caption_path(rootpath: Path, collection: str, variant: Optional[str] = None) -> Path:
    return rootpath / collection / "TextData" / (collection + (f"_{variant}" if variant else "") + ".caption.txt")


def _imageset_path(rootpath: Path, collection: str) -> Path:
    return rootpath / collection / "ImageSets" / f"{collection}.txt"


def prepare_steps(sources: Sources, rootpath) -> List[Step]:
    rootpath = Path(rootpath)
    r = sources.release_dir

    def chinese():
        splits = {s: read_imageset(r / f"coco-cn_{s}.txt") for s in ("train", "val", "test")}
        human = read_tsv_captions(r / "imageid.human-written-caption.txt", "zh")
        if sources.test_json is not None:
            test_set = set(splits["test"])
            human = [p for p in human if p[0].split("#")[0] not in test_set]
            for image, sentences in read_caption_json(sources.test_json, source="cn").items():
                human += [(f"{image}#zh#{i}", s) for i, s in enumerate(sentences)]
        for split, ids in splits.items():
            keep = set(ids)
            pairs = sorted((p for p in human if p[0].split("#")[0] in keep), key=lambda p: _order(p[0], ids))
            if not pairs:
                raise DataFormatError(f"no human-written sentence for any {split} image",
                                      path=r / "imageid.human-written-caption.txt")
            write_captions(_caption_path(rootpath, ZH[split]), pairs)
            write_imageset(_imageset_path(rootpath, ZH[split]), ids)
        if sources.mt_file is not None:
            keep = set(splits["train"])
            mt = [(sid.replace("#zh#", "#zhb#"), t) for sid, t in read_tsv_captions(sources.mt_file, "zh")
                  if sid.split("#")[0] in keep]
            write_captions(_caption_path(rootpath, ZH["train"], "zhb"), mt)

    def english():
        captions: Dict[str, List[str]] = {}
        for name in ("captions_train2014.json", "captions_val2014.json"):
            captions.update(read_caption_json(sources.coco_captions_dir / name))
        held_out = {s: read_imageset(r / f"coco-cn_{s}.txt") for s in ("val", "test")}
        excluded = set(held_out["val"]) | set(held_out["test"])
        train_ids = [image for image in captions if image not in excluded]
        write_captions(_caption_path(rootpath, EN["train"]),
                       [(f"{i}#enc#{k}", s) for i in train_ids for k, s in enumerate(captions[i])])
        write_imageset(_imageset_path(rootpath, EN["train"]), train_ids)
        for split, ids in held_out.items():
            missing = [i for i in ids if i not in captions]
            if missing:
                raise DataFormatError(f"{len(missing)} COCO-CN {split} images have no English caption (e.g. "
                                      f"{missing[:3]})", path=sources.coco_captions_dir)
            write_captions(_caption_path(rootpath, EN[split]), [(f"{i}#enc#0", captions[i][0]) for i in ids])
            write_imageset(_imageset_path(rootpath, EN[split]), ids)

    feature_dir = rootpath / FEATURE_COLLECTION / "FeatureData" / sources.feature_name

    def features():
        wanted = list(dict.fromkeys(i for c in list(EN.values()) + list(ZH.values())
                                    for i in read_imageset(_imageset_path(rootpath, c))))
        if sources.features_bigfile is not None:
            bigfile = BigFile(sources.features_bigfile)
            lookup = None
            dim = bigfile.ndims
        else:
            array = np.load(sources.features_npy, mmap_mode="r", allow_pickle=False)
            names = read_imageset(sources.features_ids)
            if array.ndim != 2 or array.shape[0] != len(names):
                raise DataFormatError(f"shape {array.shape} does not match the {len(names)} ids of "
                                      f"{sources.features_ids}", path=sources.features_npy)
            lookup = {name: row for row, name in enumerate(names)}
            dim = int(array.shape[1])
        present = [i for i in wanted if (i in bigfile if lookup is None else i in lookup)]
        missing = len(wanted) - len(present)
        held = set(read_imageset(r / "coco-cn_val.txt")) | set(read_imageset(r / "coco-cn_test.txt"))
        if not held <= set(present):
            raise DataFormatError("some COCO-CN val/test images have no feature row; use features of all MS-COCO "
                                  "2014 images", path=sources.features_bigfile or sources.features_npy)
        if missing:
            logger.warning("%d training images have no feature row and are skipped", missing)
        with BigFileWriter(feature_dir, dim, overwrite=True) as writer:
            for start in range(0, len(present), 8192):
                chunk = present[start:start + 8192]
                if lookup is None:
                    _, vectors = bigfile.read(chunk, order="request")
                else:
                    vectors = np.asarray(array[np.array([lookup[i] for i in chunk])], dtype=np.float32)
                writer.add(chunk, vectors)

    zh_outputs = [_caption_path(rootpath, c) for c in ZH.values()] + [_imageset_path(rootpath, c) for c in ZH.values()]
    if sources.mt_file is not None:
        zh_outputs.append(_caption_path(rootpath, ZH["train"], "zhb"))
    en_outputs = [_caption_path(rootpath, c) for c in EN.values()] + [_imageset_path(rootpath, c) for c in EN.values()]
    return [
        Step("chinese", "write cococn{train,val,test} (human Chinese, tag zh; Baidu MT as cococntrain_zhb)",
             zh_outputs, chinese),
        Step("english", "write mscoco2014dev-{train,val,test} English captions (val/test: first sentence of each "
             "COCO-CN val/test image; train: every other COCO 2014 image)", en_outputs, english),
        Step(f"features-{sources.feature_name}", f"write the features of every image into "
             f"{FEATURE_COLLECTION}/FeatureData/{sources.feature_name}", [feature_dir], features),
    ]


def _order(sent_id: str, ids: Sequence[str]):
    image, _, rest = sent_id.partition("#")
    return (image, int(rest.rsplit("#", 1)[-1]))


__all__ = ["EN", "ZH", "FEATURE_COLLECTION", "RETRIEVAL_FEATURE", "Sources", "read_tsv_captions", "read_caption_json",
           "prepare_steps"]
