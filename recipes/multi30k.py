"""Multi30K en -> de/fr/cs (Task 1) and en -> de (Task 2) with the NRCCR protocol, from the raw release.

Distribution (github.com/multi30k/dataset, ``data/``):

* Task 1: ``task1/raw/{train,val,test_2016_flickr}.{en,de,fr,cs}.gz`` (one sentence per line, line ``i``
  = image ``i`` of ``task1/image_splits/{train,val,test_2016_flickr}.txt``; 29,000 / 1,014 / 1,000).
* Task 2: ``task2/raw/{train,val,test_2016}.{1..5}.{en,de}.gz`` (5 independent descriptions per image of
  ``task2/image_splits/{train,val,test_2016}_images.txt``).
* Features: ResNet-152 ``{train,val,test_2016_flickr}-resnet_152-avgpool.npy`` (row ``i`` = image ``i``
  of the split file; Multi30K / WMT multimodal task, Google Drive), or any BigFile keyed by the
  Flickr30K file name (e.g. CLIP ViT-B/32 features the user extracted).
* Machine translation (optional, as NRCCR's release): caption files named
  ``multi30k<split>_google_enc2<lang>.caption.txt`` (train MT), ``..._google_enc2<lang>2enc`` (back-
  translation), ``multi30k<split>_google_<lang>2enc`` (MT of the val/test queries) in ``--mt-dir``.

Prepared collection ``multi30k`` (splits ``train``, ``val``, ``test2016`` for Task 1 and ``task2train``,
``task2val``, ``task2test2016`` for Task 2). Without MT files the target-language training text is the
human Task 1 translations (Task 2: the human German descriptions) - a parallel-data setting, not NRCCR's
MT setting; the report says which one ran.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io.bigfile import BigFile, BigFileWriter
from w2vvx.io.captions import read_captions, read_sentences, write_captions
from w2vvx.io.imagesets import read_imageset, write_imageset

from recipes.common import (InputFile, Step, StepRunner, bigfile_validator, caption_file_validator, check_inputs,
                            count_text_lines, id_list_validator, npy_validator, render_plan, sentence_file_validator)
from recipes.crosslingual import CrossLingualSpec, run_crosslingual

NAME = "multi30k"
DATA_SOURCE = "https://github.com/multi30k/dataset (data/{task}/...), commit a3d2e0d"
FEATURE_SOURCE = ("Multi30K ResNet-152 avgpool features ({split}-resnet_152-avgpool.npy, Google Drive link in the "
                  "multi30k/dataset README / WMT multimodal task)")
MT_SOURCE = "NRCCR Multi30K release (github.com/HuiGuanLab/nrccr README: Baidu Pan / Aliyun), caption-file format"
TASK1_LANGS = ("de", "fr", "cs")
NPY_FEATURE = "resnet152_avgpool"
PUBLISHED = {
    (1, "de"): "NRCCR README, CLIP features: t2i 53.8/81.8/88.3 | i2t 53.8/82.7/90.3 | SumR 450.7",
    (1, "fr"): "NRCCR README, CLIP features: t2i 54.7/81.7/89.2 | i2t 54.9/82.7/89.7 | SumR 452.9",
    (1, "cs"): "NRCCR README: CLIP t2i 52.6/79.4/87.9 | i2t 52.3/78.7/87.8 | SumR 438.7; ResNet-152 SumR 303.6 "
               "(t2i 29.5/56.0/68.1 | i2t 27.5/55.1/67.4)",
    (2, "de"): "NRCCR README, CLIP features: SumR 480.9",
}


@dataclasses.dataclass(frozen=True)
class SplitFiles:
    """One split of one task: our split name, the upstream split file and the upstream text files."""

    split: str
    image_split: str
    texts: Dict[str, List[str]]  # tag -> upstream raw files (one per caption index)
    npy: Optional[str] = None


def task_splits(task: int, lang: str) -> List[SplitFiles]:
    """The train / val / test splits of ``task`` for target language ``lang`` (paths relative to the release)."""
    if task == 1:
        if lang not in TASK1_LANGS:
            raise ConfigError(f"Task 1 target language must be one of {TASK1_LANGS}, got {lang!r}")
        return [SplitFiles(ours, f"task1/image_splits/{up}.txt",
                           {"enc": [f"task1/raw/{up}.en.gz"], lang: [f"task1/raw/{up}.{lang}.gz"]},
                           npy=f"{up}-resnet_152-avgpool.npy")
                for ours, up in (("train", "train"), ("val", "val"), ("test2016", "test_2016_flickr"))]
    if task == 2:
        if lang != "de":
            raise ConfigError(f"Task 2 has English and German only; got target language {lang!r}")
        return [SplitFiles(f"task2{ours}", f"task2/image_splits/{up}_images.txt",
                           {"enc": [f"task2/raw/{up}.{k}.en.gz" for k in range(1, 6)],
                            "de": [f"task2/raw/{up}.{k}.de.gz" for k in range(1, 6)]})
                for ours, up in (("train", "train"), ("val", "val"), ("test2016", "test_2016"))]
    raise ConfigError(f"task must be 1 or 2, got {task!r}")


def _aligned_validator(split_file: Path):
    def validate(path: Path) -> str:
        expected = count_text_lines(split_file) if split_file.is_file() else None
        return sentence_file_validator(expected)(path)
    return validate


def mt_variants(lang: str) -> Dict[str, str]:
    return {"train_mt": f"google_enc2{lang}", "back_translation": f"google_enc2{lang}2enc",
            "query_mt": f"google_{lang}2enc"}


def release_inputs(source_dir, task: int, lang: str, features_dir=None, features_bigfile=None,
                   mt_dir=None) -> List[InputFile]:
    """Every file the recipe reads, with source and purpose."""
    source_dir = Path(source_dir)
    inputs = []
    splits = task_splits(task, lang)
    for entry in splits:
        split_path = source_dir / entry.image_split
        inputs.append(InputFile(entry.image_split, split_path, DATA_SOURCE.format(task=f"task{task}"),
                                f"list the {entry.split} images (line i = image of sentence line i)",
                                id_list_validator))
        for tag, files in entry.texts.items():
            role = "English source captions" if tag == "enc" else f"{lang} captions"
            for name in files:
                inputs.append(InputFile(name, source_dir / name, DATA_SOURCE.format(task=f"task{task}"),
                                        f"give the {entry.split} {role}", _aligned_validator(split_path)))
    if features_bigfile is not None:
        inputs.append(InputFile("features BigFile", Path(features_bigfile), "features you extracted (e.g. CLIP "
                                "ViT-B/32), BigFile keyed by Flickr30K file name", "give the image features",
                                bigfile_validator()))
    elif features_dir is not None:
        for entry in task_splits(1, "de"):
            inputs.append(InputFile(entry.npy, Path(features_dir) / entry.npy, FEATURE_SOURCE.format(split=entry.npy.split("-resnet")[0]),
                                    f"give the {entry.split} image features (row i = image i)", npy_validator()))
    else:
        raise ConfigError("give the image features: --features-dir with the *-resnet_152-avgpool.npy files, or "
                          "--features-bigfile with a BigFile keyed by Flickr30K file name")
    if mt_dir is not None:
        variants = mt_variants(lang)
        for entry in splits:
            names = [variants["train_mt"], variants["back_translation"]] if entry.split.endswith("train") \
                else [variants["query_mt"]]
            for variant in names:
                file_name = f"{NAME}{entry.split}_{variant}.caption.txt"
                inputs.append(InputFile(file_name, Path(mt_dir) / file_name, MT_SOURCE,
                                        f"give the {entry.split} machine translation ({variant})",
                                        caption_file_validator, optional=True))
    return inputs


def feature_name(features_bigfile) -> str:
    return NPY_FEATURE if features_bigfile is None else Path(features_bigfile).name


def prepare_steps(source_dir, rootpath, task: int, lang: str, features_dir=None, features_bigfile=None,
                  mt_dir=None) -> List[Step]:
    source_dir, rootpath = Path(source_dir), Path(rootpath)
    base = rootpath / NAME
    splits = task_splits(task, lang)
    steps = []
    for entry in splits:
        def write_split(entry=entry):
            ids = read_imageset(source_dir / entry.image_split)
            write_imageset(base / "ImageSets" / f"{NAME}{entry.split}.txt", ids)
            for tag, files in entry.texts.items():
                columns = []
                for name in files:
                    sentences = read_sentences(source_dir / name)
                    if len(sentences) != len(ids):
                        raise DataFormatError(f"{len(sentences)} lines for the {len(ids)} images of "
                                              f"{entry.image_split}", path=source_dir / name)
                    columns.append(sentences)
                pairs = [(f"{image}#{tag}#{index}", column[row]) for row, image in enumerate(ids)
                         for index, column in enumerate(columns)]
                variant = None if tag == "enc" else tag
                write_captions(base / "TextData" / _caption_name(entry.split, variant), pairs)

        outputs = [base / "ImageSets" / f"{NAME}{entry.split}.txt"]
        outputs += [base / "TextData" / _caption_name(entry.split, None if tag == "enc" else tag) for tag in entry.texts]
        steps.append(Step(f"task{task}-{lang}-{entry.split}", f"convert {entry.image_split} and its "
                          f"{sum(len(f) for f in entry.texts.values())} sentence files into caption files",
                          outputs, write_split))
    if mt_dir is not None:
        present = [p for p in Path(mt_dir).glob(f"{NAME}*_google_*.caption.txt")
                   if any(p.name.startswith(f"{NAME}{e.split}_") for e in splits)]

        def copy_mt():
            for path in present:
                write_captions(base / "TextData" / path.name, read_captions(path))

        steps.append(Step(f"task{task}-{lang}-mt", f"copy {len(present)} machine-translation caption files",
                          [base / "TextData" / p.name for p in present], copy_mt))
    feature = feature_name(features_bigfile)
    feature_dir = base / "FeatureData" / feature

    def write_features():
        if features_bigfile is not None:
            _copy_bigfile(Path(features_bigfile), feature_dir, source_dir, task, lang)
        else:
            _npy_to_bigfile(Path(features_dir), feature_dir, source_dir)

    steps.append(Step(f"features-{feature}", f"write the image features of all splits into FeatureData/{feature}",
                      [feature_dir], write_features))
    return steps


def _caption_name(split: str, variant: Optional[str]) -> str:
    return f"{NAME}{split}" + (f"_{variant}" if variant else "") + ".caption.txt"


def _npy_to_bigfile(features_dir: Path, target: Path, source_dir: Path) -> None:
    writer = None
    try:
        for entry in task_splits(1, "de"):
            ids = read_imageset(source_dir / entry.image_split)
            array = np.load(features_dir / entry.npy, mmap_mode="r", allow_pickle=False)
            if array.ndim != 2 or array.shape[0] != len(ids):
                raise DataFormatError(f"shape {array.shape}: expected {len(ids)} rows, one per image of "
                                      f"{entry.image_split}", path=features_dir / entry.npy)
            if writer is None:
                writer = BigFileWriter(target, int(array.shape[1]), overwrite=True)
            for start in range(0, len(ids), 8192):
                writer.add(ids[start:start + 8192], np.asarray(array[start:start + 8192], dtype=np.float32))
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def _copy_bigfile(source: Path, target: Path, source_dir: Path, task: int, lang: str) -> None:
    bigfile = BigFile(source)
    ids = list(dict.fromkeys(i for e in task_splits(task, lang) for i in read_imageset(source_dir / e.image_split)))
    missing = [i for i in ids if i not in bigfile]
    if missing:
        raise DataFormatError(f"{len(missing)} images have no feature row (e.g. {missing[:3]}); the BigFile must be "
                              "keyed by Flickr30K file name as in the image_splits files", path=source)
    rows = np.array([bigfile.index(i) for i in ids], dtype=np.int64)
    with BigFileWriter(target, bigfile.ndims, overwrite=True) as writer:
        for start in range(0, len(ids), 8192):
            writer.add(ids[start:start + 8192], bigfile.read_rows(rows[start:start + 8192]))


def prepare(source_dir, rootpath, task: int = 1, lang: str = "de", features_dir=None, features_bigfile=None,
            mt_dir=None, dry_run: bool = False, force: bool = False) -> str:
    """Check the release and convert it into the ``multi30k`` collection; returns the plan text."""
    inputs = release_inputs(source_dir, task, lang, features_dir, features_bigfile, mt_dir)
    summaries = check_inputs(inputs)
    steps = prepare_steps(source_dir, rootpath, task, lang, features_dir, features_bigfile, mt_dir)
    runner = StepRunner(rootpath, NAME, force=force)
    splits = [e.split for e in task_splits(task, lang)]
    protocol = [f"train on English + {lang} training text of {NAME}{splits[0]} (MT + back-translation when the MT "
                f"files are present, else the human {lang} text); config nrccr if present, else w2vvpp on SumR",
                f"select on {NAME}{splits[1]}_{lang}; test on {NAME}{splits[2]}_{lang} (t2i/i2t R@1/5/10, MedR, mAP, "
                "SumR; native/MT fusion when query MT is present)"]
    plan = render_plan(f"multi30k Task {task} en->{lang}", inputs, summaries, steps, runner, protocol,
                       [PUBLISHED.get((task, lang), "none found")])
    if not dry_run:
        runner.run(steps)
    return plan


def spec_for(rootpath, task: int, lang: str, feature: str) -> CrossLingualSpec:
    splits = tuple(e.split for e in task_splits(task, lang))
    text_dir = Path(rootpath) / NAME / "TextData"
    variants = mt_variants(lang)
    has_mt = (text_dir / _caption_name(splits[0], variants["train_mt"])).is_file()
    return CrossLingualSpec(collection=NAME, target=lang, feature=feature, splits=splits,
                            train_mt=variants["train_mt"] if has_mt else None,
                            back_translation=variants["back_translation"] if has_mt else None,
                            train_target=None if has_mt else lang, query_mt=variants["query_mt"],
                            published=(PUBLISHED.get((task, lang), "none found"),))


def run(rootpath, run_dir, task: int = 1, lang: str = "de", feature: str = NPY_FEATURE, small_scale: bool = False,
        max_items=None, word_vectors=None, trusted: bool = False, seed: int = 0, verbose: int = 2):
    """Train and test on the prepared ``multi30k`` collection (see module docstring)."""
    feature_dir = Path(rootpath) / NAME / "FeatureData" / feature
    if not feature_dir.is_dir():
        from w2vvx.errors import MissingFileError

        raise MissingFileError(f"features {feature!r} not prepared; run `w2vvx recipe multi30k prepare` first "
                               "(or pass --feature with the name of the BigFile you prepared)", path=feature_dir)
    spec = spec_for(rootpath, task, lang, feature)
    return run_crosslingual(spec, rootpath, run_dir, small_scale=small_scale, max_items=max_items,
                            word_vectors=word_vectors, trusted=trusted, seed=seed, verbose=verbose)


__all__ = ["NAME", "TASK1_LANGS", "task_splits", "release_inputs", "prepare_steps", "prepare", "spec_for", "run"]
