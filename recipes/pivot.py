"""The real-text pivot benchmark: cross-lingual retrieval trained and tested on CPU with real captions.

No image or video features are available offline, so the English-caption "pivot" vectors of the shared
data (``pivot/<dataset>/minilm_en_pivot``: per item, the normalised mean MiniLM embedding of its
human English captions; see the data README) stand in for visual features. A target-language text
encoder is trained on **machine-translated** captions into that space and tested with **human-written**
target-language queries that never fed the pivot:

* ``flickr8k-cn``: train on Baidu + Google MT Chinese (``zhb``, ``zhg``) of the 6,000 train images;
  select on human Chinese (``zhc``) of the val images; test with ``zhc`` on the 1,000 test images.
* ``multi30k``: train on Task 1 German translations (train split, 1 per image); select on Task 1 val
  German; test with the Task 2 human German descriptions of test_2016 (5 per image, 1,000 images).
  (Task 1 German translates an English sentence inside the pivot, so it is used only for training.)
* ``vatex``: only the 1,500 val videos have pivots. They are split in file order into 1,000 train /
  250 val / 250 test videos; train on Google MT Chinese (``enc2zh``); select and test with human
  Chinese ``#0``-``#4`` (``#5``-``#9`` are parallel to English pivot captions: leaky).
* ``msrvtt-cn`` is skipped: its only Chinese captions translate the single English caption that *is*
  the pivot, and there is no training split.

English queries are never used for evaluation (they are the pivot's own sentences).

Three methods (``method=``): ``baseline`` trains the library config on the target-language training
text alone; ``nrccr`` trains the cross-lingual NRCCR model (:mod:`w2vvx.training.nrccr`) on the English
training captions of the same items (source) aligned with their translations (``<item>#enc#<n>`` ↔
``<item>#zhb#<n>`` and ``<item>#zhg#<n>`` for Flickr8K-CN, so that it sees the same Chinese text as the
baseline; the Task 1 en/de pair of each Multi30K image; ``enc`` ↔ ``enc2zh`` for VATEX); ``src_mt`` is the
same model, data and trainer as ``nrccr`` without the two distillation terms (its ablation baseline).
None of the datasets ships back-translations, so the back-translation weight is 0, and
none ships MT of the test queries into English (Flickr8K-CN has no ``zhc``→en file; VATEX's
``vatextest_google_zhc2en`` covers videos without pivots), so NRCCR is evaluated with native queries
only (no 0.8/0.2 query-translation fusion), exactly like the baseline. English sentences only train;
they never query.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from w2vvx.errors import ConfigError
from w2vvx.io.bigfile import BigFile
from w2vvx.io.captions import Caption, read_captions, read_sentences
from w2vvx.io.imagesets import read_imageset

from w2vvx.evaluation.baselines import nrccr_baseline_warning
from w2vvx.evaluation.protocols import caption_rows

from .common import InputFile, check_inputs, model_config, train, write_report
from .stand_in import STAND_INS, held_out_indices, held_out_stand_in

logger = logging.getLogger(__name__)

DATASETS = ("flickr8k-cn", "multi30k", "vatex")
METHODS = ("baseline", "src_mt", "nrccr")
SKIPPED = {"msrvtt-cn": "skipped: its human Chinese captions translate the single English caption that is the "
                        "pivot (leaky) and it has no training split"}
PIVOT_FEATURE = "minilm_en_pivot"
#: Where the shared data come from (quoted in every error about a missing file).
SHARED_SOURCE = ("the shared data folder, given by --shared-data or the W2VVX_SHARED_DATA environment variable (see "
                 "its README.md and docs/recipes.md: captions from github.com/li-xirong/flickr8kcn, "
                 "github.com/multi30k/dataset and github.com/HuiGuanLab/MLCMR; pivot/<dataset>/minilm_en_pivot "
                 "computed from their English captions with all-MiniLM-L6-v2)")

#: Floor from the data README: the English MiniLM itself as query encoder, no training (t2i R@1/5/10, MedR).
FLOOR = {
    "flickr8k-cn": {"t2i_r1": 0.76, "t2i_r5": 3.16, "t2i_r10": 5.42, "t2i_medr": 245},
    "multi30k": {"t2i_r1": 6.52, "t2i_r5": 16.40, "t2i_r10": 22.72, "t2i_medr": 108},
    "vatex": {"t2i_r1": 0.97, "t2i_r5": 3.73, "t2i_r10": 6.14, "t2i_medr": 334},
}
FLOOR_NOTE = {
    "flickr8k-cn": "1,000-image gallery, 5,000 zhc queries",
    "multi30k": "1,000-image gallery, 5,000 Task 2 German queries",
    "vatex": "1,500-video gallery, all 15,000 zh queries (ours: 250-video gallery, zh #0-#4: not comparable)",
}

#: CPU defaults: W2VV++ with the common space at the pivot size and a smaller GRU (about 1-3 min per dataset).
CPU_OVERRIDES = {"common_space_dim": 384, "gru_units": 128, "embed_dim": 100, "w2v_dim": 100, "max_epochs": 4,
                 "batch_size": 128, "early_stop_patience": 3}


@dataclasses.dataclass
class PivotTask:
    """One dataset of the benchmark: captions per split, the items of val/test and the pivot features."""

    name: str
    train: List[Caption]
    val: List[Caption]
    val_items: List[str]
    test: List[Caption]
    test_items: List[str]
    features: BigFile


def _limit_items(captions: Sequence[Caption], items: Sequence[str], n: Optional[int]):
    if n is None:
        return list(captions), list(items)
    items = list(items)[:n]
    keep = set(items)
    return [c for c in captions if c.item_id in keep], items


def nrccr_inputs(shared_data, dataset: str) -> List[InputFile]:
    """The extra shared-data files (English source captions, their translations) the ``nrccr`` method reads."""
    root = Path(shared_data)
    if dataset == "flickr8k-cn":
        source = "https://github.com/li-xirong/flickr8kcn (data/)"
        return [InputFile("flickr8kenc.caption.txt", root / "flickr8k-cn" / "flickr8kenc.caption.txt", source,
                          "NRCCR source captions (English; training only, never queries)")]
    if dataset == "multi30k":
        return [InputFile("task1/raw/train.en.gz", root / "multi30k" / "task1" / "raw" / "train.en.gz",
                          "https://github.com/multi30k/dataset (data/)",
                          "NRCCR source captions (Task 1 English; training only, never queries)")]
    if dataset == "vatex":
        return [InputFile("vatexval.caption.txt", root / "vatex" / "vatexval.caption.txt",
                          "https://github.com/HuiGuanLab/MLCMR (VisualSearch/vatex/TextData/)",
                          "NRCCR source captions (English; training only, never queries)")]
    return pivot_inputs(shared_data, dataset)  # raises the unknown-dataset error


def load_nrccr_pairs(shared_data, dataset: str, task: PivotTask):
    """English source captions of ``task``'s training items and their translations, aligned.

    Returns ``(source, translations)``: two Caption lists of equal length where position ``i`` holds
    the same item and caption index (``<item>#enc#<n>`` and ``<item>#zhb#<n>`` for Flickr8K-CN, the
    Task 1 ``en`` / ``de`` sentence of each Multi30K image, ``enc`` and ``enc2zh`` for VATEX).

    Raises:
        DataFormatError: a source caption has no translation with the same item and index.
    """
    check_inputs(nrccr_inputs(shared_data, dataset))
    root = Path(shared_data)
    train_items = {c.item_id for c in task.train}
    if dataset == "flickr8k-cn":
        english = read_captions(root / "flickr8k-cn" / "flickr8kenc.caption.txt", keep_extension=True)
        # one (English, MT) pair per MT sentence: both Baidu and Google MT, the baseline's training text
        pairs = [_aligned_pairs(english, [c for c in task.train if c.tag == tag], train_items, dataset)
                 for tag in ("zhb", "zhg")]
        return pairs[0][0] + pairs[1][0], pairs[0][1] + pairs[1][1]
    elif dataset == "multi30k":
        base = root / "multi30k"
        ids = read_imageset(base / "task1/image_splits/train.txt")
        texts = read_sentences(base / "task1/raw/train.en.gz")
        if len(texts) != len(ids):
            raise ConfigError(f"{base / 'task1/raw/train.en.gz'} has {len(texts)} lines for {len(ids)} images")
        english = [Caption(f"{i}#en#0", i, "en", 0, t) for i, t in zip(ids, texts) if t.strip()]
        translations = list(task.train)
    elif dataset == "vatex":
        english = read_captions(root / "vatex" / "vatexval.caption.txt")
        translations = list(task.train)
    else:
        nrccr_inputs(shared_data, dataset)
        raise AssertionError("unreachable")
    return _aligned_pairs(english, translations, train_items, dataset)


def _aligned_pairs(english, translations, train_items, dataset: str):
    from w2vvx.datasets.aligned_captions import align_translations

    translated_keys = {(c.item_id, c.index) for c in translations}
    source = [c for c in english if c.item_id in train_items and (c.item_id, c.index) in translated_keys]
    source, translations = align_translations(source, translations, name=f"{dataset} training translation")
    return source, translations


def pivot_inputs(shared_data, dataset: str) -> List[InputFile]:
    """The shared-data files one dataset of the benchmark reads."""
    root = Path(shared_data)
    pivot = InputFile(f"{dataset} pivot", root / "pivot" / dataset / PIVOT_FEATURE, SHARED_SOURCE,
                      "stand in for the visual features (English-caption MiniLM vectors)")
    if dataset == "flickr8k-cn":
        base = root / "flickr8k-cn"
        names = [("flickr8ktrain.txt", "list the train images"), ("flickr8kval.txt", "list the val images"),
                 ("flickr8ktest.txt", "list the test images"),
                 ("flickr8kzhb.caption.txt", "train (Baidu MT Chinese)"),
                 ("flickr8kzhg.caption.txt", "train (Google MT Chinese)"),
                 ("flickr8kzhc.caption.txt", "select and test (human-written Chinese)")]
        return [pivot] + [InputFile(n, base / n, "https://github.com/li-xirong/flickr8kcn (data/)", p) for n, p in names]
    if dataset == "multi30k":
        base = root / "multi30k"
        source = "https://github.com/multi30k/dataset (data/)"
        files = [("task1/image_splits/train.txt", "list the train images"),
                 ("task1/image_splits/val.txt", "list the val images"),
                 ("task1/raw/train.de.gz", "train (Task 1 German translations)"),
                 ("task1/raw/val.de.gz", "select (Task 1 German translations)"),
                 ("task2/image_splits/test_2016_images.txt", "list the test images")]
        files += [(f"task2/raw/test_2016.{k}.de.gz", "test (Task 2 human German)") for k in range(1, 6)]
        return [pivot] + [InputFile(n, base / n, source, p) for n, p in files]
    if dataset == "vatex":
        base = root / "vatex"
        source = "https://github.com/HuiGuanLab/MLCMR (VisualSearch/vatex/TextData/)"
        return [pivot, InputFile("vatexval_google_enc2zh.caption.txt", base / "vatexval_google_enc2zh.caption.txt",
                                 source, "train (Google MT Chinese of the English captions)"),
                InputFile("vatexval_zh.caption.txt", base / "vatexval_zh.caption.txt", source,
                          "select and test (human Chinese #0-#4)")]
    raise ConfigError(f"unknown pivot dataset {dataset!r}; choose from {list(DATASETS)} "
                      f"({', '.join(f'{k}: {v}' for k, v in SKIPPED.items())})")


def load_task(shared_data, dataset: str, max_items: Optional[int] = None, stand_in: str = "pivot",
              stand_in_dir=None) -> PivotTask:
    """Read one dataset's captions and visual stand-in (``max_items`` caps items per split, for smoke runs).

    ``stand_in="pivot"``: the shared pivot vectors (built from every English caption of an item);
    ``"held-out-captions"``: vectors of held-out English captions only, the training text restricted to the
    other captions (:mod:`recipes.stand_in`; cached in ``stand_in_dir``).
    """
    if stand_in not in STAND_INS:
        raise ConfigError(f"stand_in must be one of {list(STAND_INS)}, got {stand_in!r}")
    if stand_in != "pivot":
        held_out_indices(dataset)  # refuses a dataset without one before reading anything
        if stand_in_dir is None:
            raise ConfigError("the held-out-caption stand-in needs stand_in_dir (where its vectors are cached)")
    check_inputs(pivot_inputs(shared_data, dataset))
    root = Path(shared_data)
    features = BigFile(root / "pivot" / dataset / PIVOT_FEATURE)
    if dataset == "flickr8k-cn":
        base = root / "flickr8k-cn"
        splits = {split: [f"{i}.jpg" for i in read_imageset(base / f"flickr8k{split}.txt")]
                  for split in ("train", "val", "test")}
        # the pivot features are keyed '<name>.jpg', so the captions keep the suffix (keep_extension)
        mt = (read_captions(base / "flickr8kzhb.caption.txt", keep_extension=True)
              + read_captions(base / "flickr8kzhg.caption.txt", keep_extension=True))
        human = read_captions(base / "flickr8kzhc.caption.txt", keep_extension=True)
        train_items = set(splits["train"][:max_items] if max_items else splits["train"])
        train_caps = [c for c in mt if c.item_id in train_items]
        val, val_items = _limit_items([c for c in human if c.item_id in set(splits["val"])], splits["val"], max_items)
        test, test_items = _limit_items([c for c in human if c.item_id in set(splits["test"])], splits["test"],
                                        max_items)
    elif dataset == "multi30k":
        base = root / "multi30k"

        def sentences(split_file, text_file, tag, index=0):
            ids = read_imageset(base / split_file)
            texts = read_sentences(base / text_file)
            if len(texts) != len(ids):
                raise ConfigError(f"{base / text_file} has {len(texts)} lines for {len(ids)} images")
            return ids, [Caption(f"{i}#{tag}#{index}", i, tag, index, t) for i, t in zip(ids, texts) if t.strip()]

        train_ids, train_caps = sentences("task1/image_splits/train.txt", "task1/raw/train.de.gz", "de")
        val_items, val = sentences("task1/image_splits/val.txt", "task1/raw/val.de.gz", "de")
        test_items, test = [], []
        for k in range(1, 6):
            test_items, caps = sentences("task2/image_splits/test_2016_images.txt", f"task2/raw/test_2016.{k}.de.gz",
                                         "dec", k - 1)
            test += caps
        if max_items:
            train_caps, _ = _limit_items(train_caps, train_ids, max_items)
        val, val_items = _limit_items(val, val_items, max_items)
        test, test_items = _limit_items(test, test_items, max_items)
    elif dataset == "vatex":
        base = root / "vatex"
        videos = list(features.names)
        train_v, val_v, test_v = videos[:1000], videos[1000:1250], videos[1250:]
        mt = read_captions(base / "vatexval_google_enc2zh.caption.txt")
        human = [c for c in read_captions(base / "vatexval_zh.caption.txt") if c.index < 5]
        train_set = set(train_v[:max_items] if max_items else train_v)
        train_caps = [c for c in mt if c.item_id in train_set]
        val, val_items = _limit_items([c for c in human if c.item_id in set(val_v)], val_v, max_items)
        test, test_items = _limit_items([c for c in human if c.item_id in set(test_v)], test_v, max_items)
    else:
        pivot_inputs(shared_data, dataset)  # raises the unknown-dataset error
        raise AssertionError("unreachable")
    if stand_in != "pivot":
        held_out = held_out_indices(dataset)
        train_caps = [c for c in train_caps if c.index not in held_out]
        items = list(dict.fromkeys([c.item_id for c in train_caps] + list(val_items) + list(test_items)))
        features = held_out_stand_in(shared_data, dataset, stand_in_dir, items)
    return PivotTask(dataset, train_caps, val, val_items, test, test_items, features)


def run_pivot(shared_data, out_dir, datasets: Sequence[str] = DATASETS, config: str = "w2vvpp",
              small_scale: bool = False, max_items: Optional[int] = None, seed: int = 0,
              overrides: Optional[dict] = None, verbose: int = 2,
              method: Union[str, Sequence[str]] = "baseline",
              nrccr_weights: Optional[dict] = None, nrccr_steps_per_epoch: Optional[int] = None,
              stand_in: str = "pivot", stand_in_dir=None) -> Dict[str, dict]:
    """Train and test every dataset; write ``<out_dir>/pivot_results.md``; return ``{key: metrics}``.

    Keys are ``<dataset>`` for the baseline and ``<dataset> nrccr`` for NRCCR. Both methods use the same
    model config (size, epochs, batch, selection metric), seed, splits and test queries; NRCCR's run
    folder is ``<out_dir>/<dataset>-nrccr``.

    Args:
        shared_data: the shared data folder (holds ``pivot/`` and the caption files).
        out_dir: run folders (``<out_dir>/<dataset>/``) and the results table go here.
        datasets: any of :data:`DATASETS`.
        config: the library config to train (``w2vvpp`` by default).
        small_scale: tiny model and 2 epochs (see ``recipes.common.SMALL_SCALE_OVERRIDES``).
        max_items: cap on items per split (smoke runs).
        overrides: config field overrides applied on top of :data:`CPU_OVERRIDES` (or of the small-scale config).
        method: ``"baseline"``, ``"nrccr"``, a comma-separated list of them or a sequence (see :data:`METHODS`).
        nrccr_weights: loss weights of the NRCCR method (:class:`~w2vvx.models.nrccr.NRCCRWeights` fields;
            the back-translation weight is forced to 0: no dataset ships back-translations).
        nrccr_steps_per_epoch: NRCCR batches per epoch; None = ceil(#(English, MT) pairs / batch size), the
            baseline's number of batches.
        stand_in: ``"pivot"`` or ``"held-out-captions"`` (see :func:`load_task`).
        stand_in_dir: where the held-out-caption vectors are cached (default ``<out_dir>/stand_in``).
    """
    out_dir = Path(out_dir)
    methods = _methods(method)
    for dataset in datasets:
        pivot_inputs(shared_data, dataset)
        if "nrccr" in methods or "src_mt" in methods:
            check_inputs(nrccr_inputs(shared_data, dataset))
    if small_scale:
        settings = model_config(config, small_scale=True, **(overrides or {}))
    else:
        settings = model_config(config, **{**CPU_OVERRIDES, **(overrides or {})})
    results: Dict[str, dict] = {}
    timings: Dict[str, float] = {}
    text = ""
    for dataset in datasets:
        start = time.time()
        task = load_task(shared_data, dataset, max_items=max_items, stand_in=stand_in,
                         stand_in_dir=Path(stand_in_dir) if stand_in_dir else out_dir / "stand_in")
        logger.info("%s: %d train, %d val, %d test captions", dataset, len(task.train), len(task.val), len(task.test))
        load_time = time.time() - start
        for name in methods:
            start = time.time()
            key = dataset if name == "baseline" else f"{dataset} {name}"
            if name == "baseline":
                run = train(settings, out_dir / dataset, task.train, task.features, task.val,
                            val_items=task.val_items, default_language="en", seed=seed, verbose=verbose)
                train_size = len(task.train)
            else:
                source, translations = load_nrccr_pairs(shared_data, dataset, task)
                logger.info("%s %s: %d aligned (English, translation) training pairs", dataset, name, len(source))
                weights = dict(nrccr_weights or {})
                if name == "src_mt":  # the loss terms of the library's src+MT baseline preset
                    from w2vvx.models.nrccr import ABLATIONS, LOSS_TERMS

                    baseline = ABLATIONS["src_mt"].to_dict()
                    weights.update({term: baseline[term] for term in LOSS_TERMS})
                run = train_nrccr(settings, out_dir / f"{dataset}-{name}", source, translations, task,
                                  seed=seed, verbose=verbose, weights=weights,
                                  steps_per_epoch=nrccr_steps_per_epoch)
                train_size = len(source) + len(translations)
            metrics = caption_rows(run.model, task.test, task.features, task.test_items)
            metrics.update(train_captions=train_size, test_queries=len(task.test), gallery=len(task.test_items))
            results[key] = metrics
            timings[key] = time.time() - start + load_time
            text = _write_table(out_dir, settings, results, timings, compare_floor=max_items is None)
    print(text)
    if "nrccr" in methods or "src_mt" in methods:
        print(nrccr_baseline_warning())
    return results


def _write_table(out_dir: Path, settings, results: Dict[str, dict], timings: Dict[str, float],
                 compare_floor: bool) -> str:
    """Write ``pivot_results.md`` for the datasets done so far (rewritten after each dataset)."""
    header = [f"# Pivot benchmark ({datetime.date.today().isoformat()})", "",
              f"config {settings.name}: " + ", ".join(f"{k}={getattr(settings, k)}" for k in
                                                      ("common_space_dim", "gru_units", "embed_dim", "max_epochs",
                                                       "batch_size", "loss")), ""]
    for key, metrics in results.items():
        dataset, _, method = key.partition(" ")
        description = load_task_description(dataset) if not method else NRCCR_DESCRIPTION[dataset]
        if method == "src_mt":
            description = description.replace("NRCCR,", "NRCCR without the distillation terms (src + MT),", 1)
        header.append(f"- {key}: {description}; {metrics['train_captions']} train captions, "
                      f"{metrics['test_queries']} queries vs {metrics['gallery']} items; {timings[key]:.0f} s")
    for dataset, reason in SKIPPED.items():
        header.append(f"- {dataset}: {reason}")
    rows = {f"{k} (ours)": m for k, m in results.items()}
    if compare_floor:
        done = dict.fromkeys(k.partition(" ")[0] for k in results)
        rows.update({f"{d} floor (data README; {FLOOR_NOTE[d]})": FLOOR[d] for d in done})
    return write_report(Path(out_dir) / "pivot_results.md", rows, header)


NRCCR_DESCRIPTION = {
    "flickr8k-cn": "NRCCR, source enc (English) aligned with zhb and zhg (Baidu, Google MT) by image and caption index, "
                   "back-translation weight 0 (no file), select/test zhc (human), native queries only",
    "multi30k": "NRCCR, source Task 1 en aligned with Task 1 de (human translation, 1/image), back-translation "
                "weight 0, select Task 1 val de, test Task 2 test_2016 de (human, 5/image), native queries only",
    "vatex": "NRCCR, source enc aligned with enc2zh (Google MT), back-translation weight 0, "
             "select/test zh #0-#4 (human), native queries only",
}


def _methods(method) -> List[str]:
    names = method.split(",") if isinstance(method, str) else list(method)
    names = [str(name).strip() for name in names if str(name).strip()]
    unknown = [name for name in names if name not in METHODS]
    if not names or unknown:
        raise ConfigError(f"method must be one or more of {list(METHODS)} (comma-separated), got {method!r}")
    return list(dict.fromkeys(names))


def train_nrccr(settings, run_dir, source, translations, task: PivotTask, seed: int = 0, verbose: int = 2,
                weights: Optional[dict] = None, steps_per_epoch: Optional[int] = None):
    """Train (or resume, or load when finished) the NRCCR method on aligned pairs; returns the loaded best run.

    ``settings`` is the same ModelConfig as the baseline's; NRCCR's default loss weights apply
    (source 1, target 0.6, similarity 0.4, feature 0.1) with the back-translation weight 0. Validation
    uses the native target-language queries of ``task.val`` (no MT of them into English exists).
    """
    from w2vvx.models.nrccr import NRCCRWeights
    from w2vvx.pipeline import fit_or_stop
    from w2vvx.training.nrccr import NRCCRTrainer
    from w2vvx.training.trainer import load_run

    nrccr_weights = NRCCRWeights.from_dict(weights).replace(backtranslation=0.0)
    trainer = NRCCRTrainer(settings, run_dir, source, task.features, task.val, train_translations=translations,
                           val_items=task.val_items, weights=nrccr_weights, default_language="en", seed=seed,
                           verbose=verbose, tensorboard=False, steps_per_epoch=steps_per_epoch)
    fit_or_stop(trainer)  # Ctrl-C / SIGTERM: TrainingStopped after the last complete epoch
    return load_run(run_dir)


def load_task_description(dataset: str) -> str:
    return {"flickr8k-cn": "train zhb+zhg (MT), select/test zhc (human)",
            "multi30k": "train Task 1 de, select Task 1 val de, test Task 2 test_2016 de (human, 5/image)",
            "vatex": "val videos split 1000/250/250; train enc2zh (MT), select/test zh #0-#4 (human)"}[dataset]


__all__ = ["DATASETS", "METHODS", "FLOOR", "CPU_OVERRIDES", "PivotTask", "pivot_inputs", "nrccr_inputs", "load_task",
           "load_nrccr_pairs", "train_nrccr", "run_pivot"]
