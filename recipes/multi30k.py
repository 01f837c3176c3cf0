"""Multi30K en -> de/fr/cs (Task 1 and Task 2): the NRCCR method and protocol.

Two inputs are accepted:

* **NRCCR's Multi30K release** (``--nrccr-dir``; NRCCR README: ``multi30k_caption`` on Aliyun and
  ``multi30k-resnet152.tar.gz`` on Baidu Pan), the folder holding ``multi30k/`` with the file names of
  NRCCR's ``trainer_img.py`` / ``tester_img.py`` (``_task1`` only for Task 1 German)::

      multi30k/TextData/multi30ktrain_enc.caption.txt                     English (Task 2: Flickr30ktrain_enc)
                                                                          (Task 2 MT: Flickr30ktrain_google_enc2<l>...)
      multi30k/TextData/multi30ktrain_google_enc2<l>.caption.txt          Google MT en -> <l>
      multi30k/TextData/multi30ktrain_google_enc2<l>2enc.caption.txt      back-translation (optional)
      multi30k/TextData/multi30kval_<l>[_task1].caption.txt               human <l> validation queries
      multi30k/TextData/multi30kval_google_<l>2enc[_task1].caption.txt    their MT into English (optional)
      multi30k/TextData/multi30ktest_<l>_2016[_task1].caption.txt         human <l> test queries
      multi30k/TextData/multi30ktest_google_<l>2enc_2016[_task1].caption.txt their MT (optional)
      multi30k/FeatureData/{train_id.txt,val_id.txt,test_id_2016.txt}     row ids of the features
      multi30k/FeatureData/resnet_152/{train,val}-resnet_152-avgpool.npy  ResNet-152 features
      multi30k/FeatureData/resnet_152/test_2016_flickr-resnet152-avgpool.npy (README: ...-resnet_152-...)

  Each ``.npy`` is read with its id list (row ``i`` = id ``i`` of ``<split>_id.txt``, also looked for
  beside the ``.npy``); the row order is never assumed.
* **The raw Multi30K dataset** (``--source-dir``, github.com/multi30k/dataset ``data/``): Task 1
  ``task1/raw/{train,val,test_2016_flickr}.{en,de,fr,cs}.gz`` (line ``i`` = image ``i`` of
  ``task1/image_splits/*.txt``), Task 2 ``task2/raw/{train,val,test_2016}.{1..5}.{en,de}.gz``; features
  from ``--features-dir`` (a ``FeatureData`` folder in NRCCR's layout above: id lists + ``.npy``) or
  ``--features-bigfile`` (a BigFile keyed by image id). Without NRCCR's MT the translations NRCCR trains
  on are the human Task 1 translations (Task 2: the German descriptions): a parallel-data setting, not
  NRCCR's MT setting, named as such in the results header, with the back-translation term off. The raw
  release has Task 2 text in English and German only, so Task 2 fr/cs needs NRCCR's release.

Task 2 in de, fr and cs from NRCCR's release follows ``trainer_img.py`` 30-39 (train
``Flickr30ktrain_enc`` + ``Flickr30ktrain_google_enc2<l>[2enc]``, val ``multi30kval_<l>`` and
``multi30kval_google_<l>2enc``) and ``tester_img.py`` 60-67 (test ``multi30ktest_<l>_2016`` and
``multi30ktest_google_<l>2enc_2016``; ``_task1`` only for Task 1 German); NRCCR's README: "The validation
and test set on French and Czech are same in both tasks".

Prepared collection ``multi30k`` (splits ``train``, ``val``, ``test2016`` for Task 1 and ``task2train``,
``task2val``, ``task2test2016`` for Task 2), item ids without the ``.jpg`` extension (lineage rule).
NRCCR's Multi30K tester fuses the native and MT query scores with ``w = 0.5``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.evaluation.fusion import MULTI30K_NATIVE_WEIGHT
from w2vvx.io.bigfile import BigFile, BigFileWriter
from w2vvx.io.captions import read_captions, read_sentences, strip_extension, write_captions
from w2vvx.io.imagesets import read_imageset, write_imageset

from .common import (InputFile, Step, StepRunner, bigfile_validator, caption_file_validator, check_inputs,
                     count_text_lines, id_list_validator, npy_validator, render_plan, sentence_file_validator)
from .crosslingual import CrossLingualSpec, run_crosslingual

NAME = "multi30k"
DATA_SOURCE = "https://github.com/multi30k/dataset (data/{task}/...), commit a3d2e0d"
NRCCR_SOURCE = ("NRCCR Multi30K release (github.com/HuiGuanLab/nrccr README: multi30k_caption on Aliyun, "
                "multi30k-resnet152.tar.gz on Baidu Pan)")
TASK1_LANGS = ("de", "fr", "cs")
NPY_FEATURE = "resnet_152"
#: Native-query weights of the test rows: NRCCR's Multi30K tester reports w = 0.5 (plus native only).
NATIVE_WEIGHTS = (1.0, MULTI30K_NATIVE_WEIGHT)
PUBLISHED = {
    (1, "de"): "NRCCR README, CLIP features: t2i 53.8/81.8/88.3 | i2t 53.8/82.7/90.3 | SumR 450.7",
    (1, "fr"): "NRCCR README, CLIP features: t2i 54.7/81.7/89.2 | i2t 54.9/82.7/89.7 | SumR 452.9",
    (1, "cs"): "NRCCR README: CLIP t2i 52.6/79.4/87.9 | i2t 52.3/78.7/87.8 | SumR 438.7; ResNet-152 SumR 303.6 "
               "(t2i 29.5/56.0/68.1 | i2t 27.5/55.1/67.4)",
    (2, "de"): "NRCCR README, CLIP features: SumR 480.9",
    (2, "fr"): "NRCCR README, CLIP features: SumR 482.1",
    (2, "cs"): "NRCCR README, CLIP features: SumR 467.1",
}
#: NRCCR's feature files per split: (id list, .npy candidates) under FeatureData (trainer_img.py, tester_img.py).
NRCCR_FEATURE_FILES = {
    "train": ("train_id.txt", ("train-resnet_152-avgpool.npy",)),
    "val": ("val_id.txt", ("val-resnet_152-avgpool.npy",)),
    "test2016": ("test_id_2016.txt", ("test_2016_flickr-resnet152-avgpool.npy",
                                       "test_2016_flickr-resnet_152-avgpool.npy")),
}


@dataclasses.dataclass(frozen=True)
class SplitFiles:
    """One split of one task: our split name, the upstream split file and the upstream text files."""

    split: str
    image_split: str
    texts: Dict[str, List[str]]  # tag -> upstream raw files (one per caption index)


def task_splits(task: int, lang: str) -> List[SplitFiles]:
    """The train / val / test splits of ``task`` for target language ``lang`` (paths relative to the release)."""
    _check_task(task, lang, nrccr=False)
    if task == 1:
        return [SplitFiles(ours, f"task1/image_splits/{up}.txt",
                           {"enc": [f"task1/raw/{up}.en.gz"], lang: [f"task1/raw/{up}.{lang}.gz"]})
                for ours, up in (("train", "train"), ("val", "val"), ("test2016", "test_2016_flickr"))]
    return [SplitFiles(f"task2{ours}", f"task2/image_splits/{up}_images.txt",
                       {"enc": [f"task2/raw/{up}.{k}.en.gz" for k in range(1, 6)],
                        "de": [f"task2/raw/{up}.{k}.de.gz" for k in range(1, 6)]})
            for ours, up in (("train", "train"), ("val", "val"), ("test2016", "test_2016"))]


def _check_task(task: int, lang: str, nrccr: bool = True) -> None:
    """Task 1 and NRCCR's Task 2 in de/fr/cs; the raw dataset's Task 2 (human text) in de only."""
    if task not in (1, 2):
        raise ConfigError(f"task must be 1 or 2, got {task!r}")
    if lang not in TASK1_LANGS:
        raise ConfigError(f"Task {task} target language must be one of {TASK1_LANGS}, got {lang!r}")
    if task == 2 and lang != "de" and not nrccr:
        raise ConfigError(f"the raw Multi30K Task 2 has English and German descriptions only; for Task 2 en->{lang} "
                          "use NRCCR's release (--nrccr-dir), which has the Google MT Flickr30ktrain_google_enc2"
                          f"{lang} files (NRCCR trainer_img.py 30-39)")


def split_names(task: int) -> Tuple[str, str, str]:
    return ("train", "val", "test2016") if task == 1 else ("task2train", "task2val", "task2test2016")


def mt_variants(lang: str) -> Dict[str, str]:
    return {"train_mt": f"google_enc2{lang}", "back_translation": f"google_enc2{lang}2enc",
            "query_mt": f"google_{lang}2enc"}


@dataclasses.dataclass(frozen=True)
class NRCCRTextFile:
    """A caption file of NRCCR's release: its upstream name, our split and variant, role, optional."""

    name: str
    split: str
    variant: Optional[str]
    purpose: str
    optional: bool = False


def nrccr_text_files(task: int, lang: str) -> List[NRCCRTextFile]:
    """NRCCR's Multi30K caption files (``trainer_img.py`` / ``tester_img.py`` names) for ``task`` and ``lang``."""
    _check_task(task, lang)
    train, val, test = split_names(task)
    suffix = "_task1" if task == 1 and lang == "de" else ""
    prefix = "multi30ktrain" if task == 1 else "Flickr30ktrain"
    v = mt_variants(lang)
    return [
        NRCCRTextFile(f"{prefix}_enc.caption.txt", train, None, "train (English source captions)"),
        NRCCRTextFile(f"{prefix}_google_enc2{lang}.caption.txt", train, v["train_mt"], f"train (Google MT en->{lang})"),
        NRCCRTextFile(f"{prefix}_google_enc2{lang}2enc.caption.txt", train, v["back_translation"],
                      "train (back-translation; absent: that term is off)", optional=True),
        NRCCRTextFile(f"multi30kval_{lang}{suffix}.caption.txt", val, lang, f"select the model (human {lang} queries)"),
        NRCCRTextFile(f"multi30kval_google_{lang}2enc{suffix}.caption.txt", val, v["query_mt"],
                      "fuse the validation queries with their MT (absent: native-only selection)", optional=True),
        NRCCRTextFile(f"multi30ktest_{lang}_2016{suffix}.caption.txt", test, lang, f"test (human {lang} queries)"),
        NRCCRTextFile(f"multi30ktest_google_{lang}2enc_2016{suffix}.caption.txt", test, v["query_mt"],
                      "fuse the test queries with their MT, w = 0.5 (absent: native queries only)", optional=True),
    ]


# ---- features: .npy + id list -> BigFile ----------------------------------------------------------
def _first_existing(candidates: List[Path]) -> Path:
    for path in candidates:
        if path.exists():
            return path
    return candidates[0]


def nrccr_feature_paths(feature_data: Path, split: str) -> Tuple[Path, Path]:
    """``(id list, .npy)`` of ``split`` in a FeatureData folder of NRCCR's layout."""
    id_name, npy_names = NRCCR_FEATURE_FILES[split]
    ids = _first_existing([feature_data / id_name, feature_data / NPY_FEATURE / id_name])
    npy = _first_existing([feature_data / NPY_FEATURE / name for name in npy_names])
    return ids, npy


def feature_inputs(feature_data: Path, source: str) -> List[InputFile]:
    """The id lists and ``.npy`` files of a FeatureData folder in NRCCR's layout."""
    inputs = []
    for split in NRCCR_FEATURE_FILES:
        ids, npy = nrccr_feature_paths(feature_data, split)
        inputs.append(InputFile(f"FeatureData/{ids.relative_to(feature_data)}", ids, source,
                                f"name the rows of the {split} features (row i = id i)", id_list_validator))
        inputs.append(InputFile(f"FeatureData/{npy.relative_to(feature_data)}", npy, source,
                                f"give the {split} image features (read with the id list)",
                                _npy_with_ids_validator(ids)))
    return inputs


def _npy_with_ids_validator(id_path: Path):
    def validate(path: Path) -> str:
        expected = len(read_imageset(id_path)) if id_path.is_file() else None
        return npy_validator(expected)(path)
    return validate


def _npy_to_bigfile(feature_data: Path, target: Path, wanted: List[str]) -> None:
    """Write the rows of ``wanted`` items (ids without extension) into a BigFile, looked up by the id lists."""
    writer = None
    written = set()
    try:
        for split in NRCCR_FEATURE_FILES:
            id_path, npy_path = nrccr_feature_paths(feature_data, split)
            ids = [strip_extension(i) for i in read_imageset(id_path)]
            array = np.load(npy_path, mmap_mode="r", allow_pickle=False)
            if array.ndim != 2 or array.shape[0] != len(ids):
                raise DataFormatError(f"shape {array.shape}: expected {len(ids)} rows, one per id of {id_path.name}",
                                      path=npy_path)
            if writer is None:
                writer = BigFileWriter(target, int(array.shape[1]), overwrite=True)
            rows = [(row, i) for row, i in enumerate(ids) if i not in written]
            for start in range(0, len(rows), 8192):
                chunk = rows[start:start + 8192]
                writer.add([i for _, i in chunk], np.asarray(array[[r for r, _ in chunk]], dtype=np.float32))
            written.update(i for _, i in rows)
        missing = [i for i in wanted if i not in written]
        if missing:
            raise DataFormatError(f"{len(missing)} images of the captions have no feature row in the id lists "
                                  f"(e.g. {missing[:3]}); use the feature release of the same split files",
                                  path=feature_data)
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def _copy_bigfile(source: Path, target: Path, wanted: List[str]) -> None:
    bigfile = BigFile(source)
    keys = {strip_extension(name): name for name in bigfile.names}
    missing = [i for i in wanted if i not in keys]
    if missing:
        raise DataFormatError(f"{len(missing)} images have no feature row (e.g. {missing[:3]}); the BigFile must be "
                              "keyed by the Flickr30K image id", path=source)
    rows = np.array([bigfile.index(keys[i]) for i in wanted], dtype=np.int64)
    with BigFileWriter(target, bigfile.ndims, overwrite=True) as writer:
        for start in range(0, len(wanted), 8192):
            writer.add(wanted[start:start + 8192], bigfile.read_rows(rows[start:start + 8192]))


def _feature_step(rootpath: Path, features_dir, features_bigfile, wanted_items) -> Step:
    feature = feature_name(features_bigfile)
    feature_dir = rootpath / NAME / "FeatureData" / feature

    def write_features():
        wanted = wanted_items()
        if features_bigfile is not None:
            _copy_bigfile(Path(features_bigfile), feature_dir, wanted)
        else:
            _npy_to_bigfile(Path(features_dir), feature_dir, wanted)

    return Step(f"features-{feature}", f"write the image features of the split images into FeatureData/{feature} "
                "(rows looked up by id)", [feature_dir], write_features)


def feature_name(features_bigfile) -> str:
    return NPY_FEATURE if features_bigfile is None else Path(features_bigfile).name


def _caption_name(split: str, variant: Optional[str]) -> str:
    return f"{NAME}{split}" + (f"_{variant}" if variant else "") + ".caption.txt"


def _prepared_items(rootpath: Path, task: int) -> List[str]:
    return list(dict.fromkeys(i for split in split_names(task)
                              for i in read_imageset(rootpath / NAME / "ImageSets" / f"{NAME}{split}.txt")))


# ---- the raw multi30k/dataset release -------------------------------------------------------------
def _aligned_validator(split_file: Path):
    def validate(path: Path) -> str:
        expected = count_text_lines(split_file) if split_file.is_file() else None
        return sentence_file_validator(expected)(path)
    return validate


def _feature_source_inputs(features_dir, features_bigfile, source: str) -> List[InputFile]:
    if features_bigfile is not None:
        return [InputFile("features BigFile", Path(features_bigfile), "features you extracted (e.g. CLIP ViT-B/32), "
                          "BigFile keyed by Flickr30K image id", "give the image features", bigfile_validator())]
    if features_dir is not None:
        return feature_inputs(Path(features_dir), source)
    raise ConfigError("give the image features: --features-dir (a FeatureData folder of NRCCR's Multi30K release: "
                      "train_id.txt, val_id.txt, test_id_2016.txt and resnet_152/*.npy) or --features-bigfile")


def release_inputs(source_dir, task: int, lang: str, features_dir=None, features_bigfile=None) -> List[InputFile]:
    """Every file the raw-release route reads, with source and purpose."""
    source_dir = Path(source_dir)
    inputs = []
    for entry in task_splits(task, lang):
        split_path = source_dir / entry.image_split
        inputs.append(InputFile(entry.image_split, split_path, DATA_SOURCE.format(task=f"task{task}"),
                                f"list the {entry.split} images (line i = image of sentence line i)",
                                id_list_validator))
        for tag, files in entry.texts.items():
            role = "English source captions" if tag == "enc" else f"{lang} captions"
            for name in files:
                inputs.append(InputFile(name, source_dir / name, DATA_SOURCE.format(task=f"task{task}"),
                                        f"give the {entry.split} {role}", _aligned_validator(split_path)))
    return inputs + _feature_source_inputs(features_dir, features_bigfile,
                                           NRCCR_SOURCE + " (FeatureData folder)")


def prepare_steps(source_dir, rootpath, task: int, lang: str, features_dir=None, features_bigfile=None) -> List[Step]:
    source_dir, rootpath = Path(source_dir), Path(rootpath)
    base = rootpath / NAME
    steps = []
    for entry in task_splits(task, lang):
        def write_split(entry=entry):
            ids = [strip_extension(i) for i in read_imageset(source_dir / entry.image_split)]
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
                write_captions(base / "TextData" / _caption_name(entry.split, None if tag == "enc" else tag), pairs)

        outputs = [base / "ImageSets" / f"{NAME}{entry.split}.txt"]
        outputs += [base / "TextData" / _caption_name(entry.split, None if tag == "enc" else tag) for tag in entry.texts]
        steps.append(Step(f"task{task}-{lang}-{entry.split}", f"convert {entry.image_split} and its "
                          f"{sum(len(f) for f in entry.texts.values())} sentence files into caption files",
                          outputs, write_split))
    steps.append(_feature_step(rootpath, features_dir, features_bigfile, lambda: _prepared_items(rootpath, task)))
    return steps


# ---- NRCCR's release ------------------------------------------------------------------------------
def nrccr_inputs(nrccr_dir, task: int, lang: str, features_bigfile=None) -> List[InputFile]:
    """Every file of NRCCR's Multi30K release the recipe reads."""
    text_dir = Path(nrccr_dir) / NAME / "TextData"
    inputs = [InputFile(f"TextData/{f.name}", text_dir / f.name, NRCCR_SOURCE, f.purpose, caption_file_validator,
                        f.optional) for f in nrccr_text_files(task, lang)]
    return inputs + _feature_source_inputs(Path(nrccr_dir) / NAME / "FeatureData" if features_bigfile is None
                                           else None, features_bigfile, NRCCR_SOURCE)


def nrccr_steps(nrccr_dir, rootpath, task: int, lang: str, features_bigfile=None) -> List[Step]:
    nrccr_dir, rootpath = Path(nrccr_dir), Path(rootpath)
    base = rootpath / NAME
    text_dir = nrccr_dir / NAME / "TextData"
    present = [f for f in nrccr_text_files(task, lang) if not f.optional or (text_dir / f.name).is_file()]
    targets = {f: base / "TextData" / _caption_name(f.split, f.variant) for f in present}
    splits = split_names(task)
    imagesets = {s: base / "ImageSets" / f"{NAME}{s}.txt" for s in splits}

    def copy_captions():
        for entry, target in targets.items():
            write_captions(target, read_captions(text_dir / entry.name))

    def write_imagesets():
        for split, path in imagesets.items():
            items: Dict[str, None] = {}
            for entry, target in targets.items():
                if entry.split == split:
                    items.update(dict.fromkeys(c.item_id for c in read_captions(target)))
            write_imageset(path, list(items))

    return [Step(f"nrccr-task{task}-{lang}-captions", f"check {len(targets)} caption files and write them under "
                 "the collection's split/variant names", list(targets.values()), copy_captions),
            Step(f"nrccr-task{task}-{lang}-imagesets", "write ImageSets/multi30k<split>.txt from the captions",
                 list(imagesets.values()), write_imagesets),
            _feature_step(rootpath, nrccr_dir / NAME / "FeatureData", features_bigfile,
                          lambda: _prepared_items(rootpath, task))]


# ---- prepare / run --------------------------------------------------------------------------------
def protocol_lines(task: int, lang: str, nrccr: bool) -> List[str]:
    train, val, test = split_names(task)
    text = (f"English {NAME}{train} aligned with NRCCR's Google MT (google_enc2{lang}) and back-translation" if nrccr
            else f"English {NAME}{train} aligned with the human {lang} text (parallel data; NRCCR's MT files: "
                 "use --nrccr-dir)")
    return [f"train NRCCR (w2vvx.training.nrccr.NRCCRTrainer: cross-attention, similarity/feature distillation, "
            f"back-translation consistency) on {text}",
            f"select on {NAME}{val}_{lang} (fused 0.8/0.2 with its MT when present); test on {NAME}{test}_{lang}: "
            "t2i/i2t R@1/5/10, MedR, mAP, SumR of native queries and of 0.5*norm(native) + 0.5*norm(MT) "
            "(NRCCR tester_img.py, norm = min-max over the whole matrix)"]


def prepare(source_dir=None, rootpath=None, task: int = 1, lang: str = "de", features_dir=None,
            features_bigfile=None, nrccr_dir=None, dry_run: bool = False, force: bool = False) -> str:
    """Check the release and convert it into the ``multi30k`` collection; returns the plan text.

    Give ``nrccr_dir`` (NRCCR's release) or ``source_dir`` (the raw multi30k/dataset ``data`` folder).
    """
    if rootpath is None:
        raise ConfigError("give rootpath (the VisualSearch root to write into)")
    if (nrccr_dir is None) == (source_dir is None):
        raise ConfigError("give exactly one of --nrccr-dir (NRCCR's Multi30K release, the folder holding multi30k/) "
                          "and --source-dir (the raw multi30k/dataset 'data' folder)")
    _check_task(task, lang, nrccr=nrccr_dir is not None)
    if nrccr_dir is not None:
        inputs = nrccr_inputs(nrccr_dir, task, lang, features_bigfile)
        summaries = check_inputs(inputs)
        steps = nrccr_steps(nrccr_dir, rootpath, task, lang, features_bigfile)
    else:
        inputs = release_inputs(source_dir, task, lang, features_dir, features_bigfile)
        summaries = check_inputs(inputs)
        steps = prepare_steps(source_dir, rootpath, task, lang, features_dir, features_bigfile)
    runner = StepRunner(rootpath, NAME, force=force)
    plan = render_plan(f"multi30k Task {task} en->{lang}" + (" (NRCCR release)" if nrccr_dir else " (raw dataset)"),
                       inputs, summaries, steps, runner, protocol_lines(task, lang, nrccr_dir is not None),
                       [PUBLISHED.get((task, lang), "none found")])
    if not dry_run:
        runner.run(steps)
    return plan


def spec_for(rootpath, task: int, lang: str, feature: str, visual_encoder=None) -> CrossLingualSpec:
    splits = split_names(task)
    text_dir = Path(rootpath) / NAME / "TextData"
    variants = mt_variants(lang)
    has_mt = (text_dir / _caption_name(splits[0], variants["train_mt"])).is_file()
    # NRCCR: ReLU(Linear) on the frozen ResNet-152 features (model.py 121-129); other features as given
    visual = "nrccr_image" if visual_encoder is None and feature == NPY_FEATURE else (visual_encoder or "mean")
    return CrossLingualSpec(collection=NAME, target=lang, feature=feature, splits=splits, visual_encoder=visual,
                            train_mt=variants["train_mt"], back_translation=variants["back_translation"],
                            train_target=None if has_mt else lang, query_mt=variants["query_mt"],
                            native_weights=NATIVE_WEIGHTS, published=(PUBLISHED.get((task, lang), "none found"),))


def run(rootpath, run_dir, task: int = 1, lang: str = "de", feature: str = NPY_FEATURE, small_scale: bool = False,
        max_items=None, word_vectors=None, trusted: bool = False, seed: int = 0, verbose: int = 2, max_epochs=None,
        visual_encoder=None):
    """Train NRCCR and test with its protocol on the prepared ``multi30k`` collection (see module docstring).

    ``visual_encoder``: ``None`` = NRCCR's ReLU(Linear) image layer on its ResNet-152 features, ``"mean"``
    (features as given, the earlier behaviour) elsewhere; or name one.
    """
    feature_dir = Path(rootpath) / NAME / "FeatureData" / feature
    if not feature_dir.is_dir():
        raise MissingFileError(f"features {feature!r} not prepared; run `w2vvx recipe multi30k prepare` first "
                               "(or pass --feature with the name of the BigFile you prepared)", path=feature_dir)
    spec = spec_for(rootpath, task, lang, feature, visual_encoder)
    return run_crosslingual(spec, rootpath, run_dir, small_scale=small_scale, max_items=max_items,
                            word_vectors=word_vectors, trusted=trusted, seed=seed, verbose=verbose,
                            max_epochs=max_epochs)


__all__ = ["NAME", "TASK1_LANGS", "NATIVE_WEIGHTS", "task_splits", "nrccr_text_files", "release_inputs",
           "nrccr_inputs", "prepare_steps", "nrccr_steps", "prepare", "spec_for", "run"]
