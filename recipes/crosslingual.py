"""The NRCCR protocol on a single-folder collection (shared by the VATEX, MSR-VTT-CN and Multi30K recipes).

Layout under ``rootpath`` (hybrid_space / NRCCR "single" structure, :class:`w2vvx.io.Collection`)::

    <c>/TextData/<c>train.caption.txt                    source-language (English) captions
    <c>/TextData/<c>train_<train_mt>.caption.txt         MT source -> target (e.g. google_enc2zh)
    <c>/TextData/<c>train_<back_translation>.caption.txt MT source -> target -> source (optional)
    <c>/TextData/<c>{val,test}_<target>.caption.txt      human target-language queries (e.g. zh)
    <c>/TextData/<c>{val,test}_<query_mt>.caption.txt    their MT into the source language (optional)
    <c>/ImageSets/<c>{train,val,test}.txt
    <c>/FeatureData/<feature>/                           item-level BigFile (video frames mean-pooled)

Protocol (NRCCR ``trainer_vid.py`` / ``tester_vid.py``): train one model on source captions + MT
(+ back-translation), select on the validation split, and on the test split report t2v and v2t
R@1/5/10, MedR, mAP and SumR for the native queries fused with their MT:
``w * minmax(native) + (1 - w) * minmax(MT)``, ``w`` in {1.0, 0.8, 0.5, 0.2, 0.0} (NRCCR reports 0.8).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Dict, List, Optional

from w2vvx.io.collection import Collection

from recipes.common import (first_n_items, nrccr_style_config, train, translation_fusion_results,
                            write_report)

logger = logging.getLogger(__name__)

FUSION_WEIGHTS = (1.0, 0.8, 0.5, 0.2, 0.0)


@dataclasses.dataclass(frozen=True)
class CrossLingualSpec:
    """What the protocol needs to know about one prepared collection.

    Attributes:
        collection: the collection name under rootpath.
        target: tag of the human target-language query captions (``"zh"``, ``"de"``).
        train_mt: variant of the MT training captions (``"google_enc2zh"``), or None.
        back_translation: variant of the back-translated training captions, or None.
        train_target: variant of human target-language training captions (Multi30K Task 1), or None.
        query_mt: variant of the target -> source MT of the val/test queries, or None.
        feature: the item-level feature folder.
        splits: names of the train, val and test splits.
        published: lines quoting the published figures, for the report.
    """

    collection: str
    target: str
    feature: str
    train_mt: Optional[str] = None
    back_translation: Optional[str] = None
    train_target: Optional[str] = None
    query_mt: Optional[str] = None
    splits: tuple = ("train", "val", "test")
    published: tuple = ()


def _optional_captions(collection: Collection, split: str, variant: Optional[str]):
    if variant is None or not collection.caption_path(split, variant).is_file():
        return None
    return collection.captions(split, variant)


def training_captions(spec: CrossLingualSpec, collection: Collection) -> List:
    """Source captions + every available target-side training variant."""
    train_split = spec.splits[0]
    captions = list(collection.captions(train_split))
    for variant in (spec.train_mt, spec.back_translation, spec.train_target):
        extra = _optional_captions(collection, train_split, variant)
        if extra is not None:
            captions += extra
    return captions


def run_crosslingual(spec: CrossLingualSpec, rootpath, run_dir, config=None, small_scale: bool = False,
                     max_items: Optional[int] = None, word_vectors=None, trusted: bool = False, seed: int = 0,
                     verbose: int = 2, note: str = "") -> Dict[str, dict]:
    """Train, select and test; write ``<run_dir>/results.md``; return ``{setting: metrics}``.

    Args:
        spec: the collection description.
        rootpath: the VisualSearch root holding the prepared collection.
        run_dir: where the model and results go (resumable: a finished model is reused).
        config: a ``ModelConfig`` (default :func:`recipes.common.nrccr_style_config`).
        small_scale: tiny model, 2 epochs (pass ``max_items`` to also cap items per split).
        max_items: cap on items per split (smoke runs).
        word_vectors, trusted: as :class:`w2vvx.training.trainer.Trainer`.
    """
    collection = Collection(rootpath, spec.collection)
    config_note = note
    if config is None:
        config, config_note = nrccr_style_config(small_scale)
    train_split, val_split, test_split = spec.splits
    train_caps = first_n_items(training_captions(spec, collection), max_items)
    val_caps = first_n_items(collection.captions(val_split, spec.target), max_items)
    test_caps = first_n_items(collection.captions(test_split, spec.target), max_items)
    test_mt = _optional_captions(collection, test_split, spec.query_mt)
    features = collection.features(spec.feature)
    run = train(config, Path(run_dir) / "model", train_caps, features, val_caps, word_vectors=word_vectors,
                trusted=trusted, default_language="en", seed=seed, verbose=verbose)
    test_items = list(dict.fromkeys(c.item_id for c in test_caps))
    results = translation_fusion_results(run, test_caps, test_mt, features, test_items, FUSION_WEIGHTS)
    header = [f"# {spec.collection}: en -> {spec.target} (NRCCR protocol)", "",
              f"- model: {config_note or config.name}",
              f"- training captions: {len(train_caps)} ({', '.join(sorted({c.tag or '-' for c in train_caps}))})",
              f"- test: {len(test_caps)} human '{spec.target}' queries vs {len(test_items)} items; "
              "w = weight of the native query in w*native + (1-w)*MT(query->en)"
              + ("" if test_mt is not None else " (no query MT file: only w=1)"),
              "- small-scale smoke run: numbers are not comparable" if small_scale else ""]
    if spec.published:
        header += ["", "Published (for comparison):"] + [f"- {line}" for line in spec.published]
    rows = {f"{spec.target} queries, {key}": metrics for key, metrics in results.items()}
    print(write_report(Path(run_dir) / "results.md", rows, header))
    return results


__all__ = ["CrossLingualSpec", "FUSION_WEIGHTS", "training_captions", "run_crosslingual"]
