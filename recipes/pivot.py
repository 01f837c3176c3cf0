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
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from w2vvx.errors import ConfigError
from w2vvx.io.bigfile import BigFile
from w2vvx.io.captions import Caption, read_captions, read_sentences
from w2vvx.io.imagesets import read_imageset

from w2vvx.evaluation.metrics import evaluate_from_scores

from recipes.common import (InputFile, check_inputs, encode_captions, encode_items, model_config, score_matrix,
                            train, write_report)

logger = logging.getLogger(__name__)

DATASETS = ("flickr8k-cn", "multi30k", "vatex")
SKIPPED = {"msrvtt-cn": "skipped: its human Chinese captions translate the single English caption that is the "
                        "pivot (leaky) and it has no training split"}
PIVOT_FEATURE = "minilm_en_pivot"
SHARED_SOURCE = "the shared data folder (/work/shared/data, see its README.md)"

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


def load_task(shared_data, dataset: str, max_items: Optional[int] = None) -> PivotTask:
    """Read one dataset's captions and pivots (``max_items`` caps items per split, for smoke runs)."""
    check_inputs(pivot_inputs(shared_data, dataset))
    root = Path(shared_data)
    features = BigFile(root / "pivot" / dataset / PIVOT_FEATURE)
    if dataset == "flickr8k-cn":
        base = root / "flickr8k-cn"
        splits = {split: [f"{i}.jpg" for i in read_imageset(base / f"flickr8k{split}.txt")]
                  for split in ("train", "val", "test")}
        mt = read_captions(base / "flickr8kzhb.caption.txt") + read_captions(base / "flickr8kzhg.caption.txt")
        human = read_captions(base / "flickr8kzhc.caption.txt")
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
    return PivotTask(dataset, train_caps, val, val_items, test, test_items, features)


def run_pivot(shared_data, out_dir, datasets: Sequence[str] = DATASETS, config: str = "w2vvpp",
              small_scale: bool = False, max_items: Optional[int] = None, seed: int = 0,
              overrides: Optional[dict] = None, verbose: int = 2) -> Dict[str, dict]:
    """Train and test every dataset; write ``<out_dir>/pivot_results.md``; return ``{dataset: metrics}``.

    Args:
        shared_data: the shared data folder (holds ``pivot/`` and the caption files).
        out_dir: run folders (``<out_dir>/<dataset>/``) and the results table go here.
        datasets: any of :data:`DATASETS`.
        config: the library config to train (``w2vvpp`` by default).
        small_scale: tiny model and 2 epochs (see ``recipes.common.SMALL_SCALE_OVERRIDES``).
        max_items: cap on items per split (smoke runs).
        overrides: config field overrides applied on top of :data:`CPU_OVERRIDES` (or of the small-scale config).
    """
    out_dir = Path(out_dir)
    for dataset in datasets:
        pivot_inputs(shared_data, dataset)
    if small_scale:
        settings = model_config(config, small_scale=True, **(overrides or {}))
    else:
        settings = model_config(config, **{**CPU_OVERRIDES, **(overrides or {})})
    results: Dict[str, dict] = {}
    timings: Dict[str, float] = {}
    text = ""
    for dataset in datasets:
        start = time.time()
        task = load_task(shared_data, dataset, max_items=max_items)
        logger.info("%s: %d train, %d val, %d test captions", dataset, len(task.train), len(task.val), len(task.test))
        run = train(settings, out_dir / dataset, task.train, task.features, task.val, val_items=task.val_items,
                    default_language="en", seed=seed, verbose=verbose)
        scores = score_matrix(encode_captions(run, task.test), encode_items(run, task.features, task.test_items))
        metrics = evaluate_from_scores(scores, [c.item_id for c in task.test], task.test_items)
        metrics.update(train_captions=len(task.train), test_queries=len(task.test), gallery=len(task.test_items))
        results[dataset] = metrics
        timings[dataset] = time.time() - start
        text = _write_table(out_dir, settings, results, timings, compare_floor=max_items is None)
    print(text)
    return results


def _write_table(out_dir: Path, settings, results: Dict[str, dict], timings: Dict[str, float],
                 compare_floor: bool) -> str:
    """Write ``pivot_results.md`` for the datasets done so far (rewritten after each dataset)."""
    header = [f"# Pivot benchmark ({datetime.date.today().isoformat()})", "",
              f"config {settings.name}: " + ", ".join(f"{k}={getattr(settings, k)}" for k in
                                                      ("common_space_dim", "gru_units", "embed_dim", "max_epochs",
                                                       "batch_size", "loss")), ""]
    for dataset, metrics in results.items():
        header.append(f"- {dataset}: {load_task_description(dataset)}; {metrics['train_captions']} train captions, "
                      f"{metrics['test_queries']} queries vs {metrics['gallery']} items; {timings[dataset]:.0f} s")
    for dataset, reason in SKIPPED.items():
        header.append(f"- {dataset}: {reason}")
    rows = {f"{d} (ours)": m for d, m in results.items()}
    if compare_floor:
        rows.update({f"{d} floor (data README; {FLOOR_NOTE[d]})": FLOOR[d] for d in results})
    return write_report(Path(out_dir) / "pivot_results.md", rows, header)


def load_task_description(dataset: str) -> str:
    return {"flickr8k-cn": "train zhb+zhg (MT), select/test zhc (human)",
            "multi30k": "train Task 1 de, select Task 1 val de, test Task 2 test_2016 de (human, 5/image)",
            "vatex": "val videos split 1000/250/250; train enc2zh (MT), select/test zh #0-#4 (human)"}[dataset]


__all__ = ["DATASETS", "FLOOR", "CPU_OVERRIDES", "PivotTask", "pivot_inputs", "load_task", "run_pivot"]
