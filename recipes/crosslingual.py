"""The NRCCR method and protocol on a single-folder collection (VATEX, MSR-VTT-CN and Multi30K recipes).

Layout under ``rootpath`` (NRCCR ``trainer_vid.py`` / ``trainer_img.py`` "single" structure)::

    <c>/TextData/<c>train.caption.txt                    source-language (English) captions
    <c>/TextData/<c>train_<train_mt>.caption.txt         MT source -> target (e.g. google_enc2zh)
    <c>/TextData/<c>train_<back_translation>.caption.txt MT source -> target -> source (optional)
    <c>/TextData/<c>{val,test}_<target>.caption.txt      human target-language queries (e.g. zh)
    <c>/TextData/<c>{val,test}_<query_mt>.caption.txt    their MT into the source language (optional)
    <c>/ImageSets/<c>{train,val,test}.txt
    <c>/FeatureData/<feature>/                           item-level BigFile (video frames mean-pooled)

Method: the cross-lingual NRCCR model (:class:`w2vvx.training.nrccr.NRCCRTrainer`): one shared text
encoder trained on the source captions aligned with their MT (and back-translation), with the
cross-attention view, similarity- and feature-view distillation and the back-translation
consistency term (NRCCR's weights 1 / 0.6 / 0.4 / 0.1 / 0.5). Model selection on the validation split
by text->item SumR of ``0.8 * native + 0.2 * MT of the query`` (NRCCR ``sim_ratio``; native only when
the validation MT file is missing). On the test split: t2v/v2t R@1/5/10, MedR, mAP and SumR of the
native queries fused with their MT, ``v * norm(native) + (1 - v) * norm(MT)`` with ``norm`` the
min-max over the whole score matrix (NRCCR ``norm_score``), ``v`` in the spec's ``native_weights``
(NRCCR's ``w`` = ``1 - v``: its video tester reports {1.0, 0.8, 0.5, 0.2, 0.0}, its Multi30K tester 0.5).

A missing optional file switches a part of the method off; the results header says which file and what.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Dict, List, Optional

from w2vvx.errors import MissingFileError
from w2vvx.evaluation.baselines import nrccr_baseline_warning
from w2vvx.evaluation.crosslingual import NRCCR_NATIVE_WEIGHTS
from w2vvx.io.collection import Collection

from .lineage import lineage_lines
from .common import first_n_items, nrccr_config, small_scale_trainer_options, write_report

logger = logging.getLogger(__name__)

#: Native-query weights of the test rows (NRCCR's video tester: w in {1.0, 0.8, 0.5, 0.2, 0.0}, w = 1 - v).
FUSION_WEIGHTS = NRCCR_NATIVE_WEIGHTS


@dataclasses.dataclass(frozen=True)
class CrossLingualSpec:
    """What the protocol needs to know about one prepared collection.

    Attributes:
        collection: the collection name under rootpath.
        target: tag of the human target-language query captions (``"zh"``, ``"de"``).
        train_mt: variant of the MT training captions (``"google_enc2zh"``), or None.
        back_translation: variant of the back-translated training captions, or None.
        train_target: variant of human target-language training captions used as the translations
            when there is no ``train_mt`` (Multi30K Task 1 without NRCCR's MT files), or None.
        query_mt: variant of the target -> source MT of the test queries, or None.
        val_query_mt: the same for the validation queries (default: ``query_mt``).
        feature: the item-level feature folder.
        splits: names of the train, val and test splits.
        native_weights: native-query weights of the test fusion rows.
        published: lines quoting the published figures, for the report.
        visual_encoder: the config's ``visual_encoder`` (NRCCR: ``"nrccr_frames"`` on videos, read from the
            frame BigFile + ``video2frames.txt`` of ``feature``; ``"nrccr_image"`` on image features;
            ``"mean"``: item-level features as they are).
    """

    collection: str
    target: str
    feature: str
    train_mt: Optional[str] = None
    back_translation: Optional[str] = None
    train_target: Optional[str] = None
    query_mt: Optional[str] = None
    val_query_mt: Optional[str] = None
    splits: tuple = ("train", "val", "test")
    native_weights: tuple = FUSION_WEIGHTS
    published: tuple = ()
    visual_encoder: str = "mean"


def _optional_captions(collection: Collection, split: str, variant: Optional[str], missing: List[str],
                       consequence: str):
    """Captions of ``variant`` or None; a missing file is recorded in ``missing`` with its consequence."""
    if variant is None:
        return None
    path = collection.caption_path(split, variant)
    if not path.is_file():
        missing.append(f"{path.name} missing: {consequence}")
        return None
    return collection.captions(split, variant)


def training_inputs(spec: CrossLingualSpec, collection: Collection, missing: List[str]):
    """``(source, translations, back_translations, translation_note)`` of the training split."""
    train_split = spec.splits[0]
    source = list(collection.captions(train_split))
    translations = _optional_captions(collection, train_split, spec.train_mt, missing,
                                      "trained on the human target-language text instead of MT")
    if translations is not None:
        back = _optional_captions(collection, train_split, spec.back_translation, missing,
                                  "back-translation consistency term off (weight 0)")
        return source, translations, back, f"MT {spec.train_mt}"
    if spec.train_target is None:
        raise MissingFileError("NRCCR needs the machine translations of the training captions; get the file from "
                               "the NRCCR release", path=collection.caption_path(train_split, spec.train_mt))
    translations = collection.captions(train_split, spec.train_target)
    missing.append("no back-translation without MT training text: back-translation consistency term off")
    return source, translations, None, (f"human {spec.train_target} training text as the translations (parallel "
                                        "data, not NRCCR's MT setting)")


def run_crosslingual(spec: CrossLingualSpec, rootpath, run_dir, config=None, small_scale: bool = False,
                     max_items: Optional[int] = None, word_vectors=None, trusted: bool = False, seed: int = 0,
                     verbose: int = 2, weights=None, max_epochs: Optional[int] = None) -> Dict[str, dict]:
    """Train NRCCR, select and test; write ``<run_dir>/results.md``; return ``{setting: metrics}``.

    Args:
        spec: the collection description.
        rootpath: the VisualSearch root holding the prepared collection.
        run_dir: where the model and results go (resumable: a finished model is reused).
        config: a ``ModelConfig`` for the NRCCR encoders (default :func:`recipes.common.nrccr_config`).
        small_scale: tiny model, 2 epochs (pass ``max_items`` to also cap items per split).
        max_items: cap on items per split (smoke runs).
        word_vectors, trusted: as :class:`w2vvx.training.trainer.Trainer`.
        weights: NRCCR loss weights (:class:`w2vvx.models.nrccr.NRCCRWeights` fields); default NRCCR's.
        max_epochs: override of the config's epochs.
    """
    from w2vvx.evaluation.protocols import query_translation_protocol
    from w2vvx.models.nrccr import NRCCRWeights
    from w2vvx.pipeline import fit_or_stop
    from w2vvx.datasets.aligned_captions import align_translations
    from w2vvx.training.nrccr import NRCCRTrainer
    from w2vvx.training.trainer import load_run

    collection = Collection(rootpath, spec.collection)
    if config is None:
        small_visual = {"visual_hidden_dim": 16, "visual_heads": 2} if small_scale else {}
        config = nrccr_config(small_scale, visual_encoder=spec.visual_encoder, **small_visual)
    missing: List[str] = []
    train_split, val_split, test_split = spec.splits
    source, translations, back, translation_note = training_inputs(spec, collection, missing)
    source = first_n_items(source, max_items)
    nrccr_weights = NRCCRWeights.from_dict(weights)
    if back is None and nrccr_weights.backtranslation:
        nrccr_weights = nrccr_weights.replace(backtranslation=0.0)
    val_caps = first_n_items(collection.captions(val_split, spec.target), max_items)
    val_mt = _optional_captions(collection, val_split, spec.val_query_mt or spec.query_mt, missing,
                                "model selected on native validation queries only (no 0.8/0.2 fusion)")
    test_caps = first_n_items(collection.captions(test_split, spec.target), max_items)
    test_mt = _optional_captions(collection, test_split, spec.query_mt, missing,
                                 "test reports the native queries only (w=1), no query-translation fusion")
    if config.visual_encoder == "nrccr_frames":
        from w2vvx.datasets.batching_frames import FrameSequenceFeatures

        features = FrameSequenceFeatures.from_folder(collection.feature_dir / spec.feature,
                                                     max_frames=config.max_frames)
    else:
        features = collection.features(spec.feature)
    model_dir = Path(run_dir) / "model"
    trainer = NRCCRTrainer(config, model_dir, source, features, val_caps, train_translations=translations,
                           train_back_translations=back, val_translations=val_mt, weights=nrccr_weights,
                           word_vectors=word_vectors, trusted=trusted, default_language="en", seed=seed,
                           verbose=verbose, max_epochs=max_epochs, **small_scale_trainer_options(small_scale))
    result = fit_or_stop(trainer)  # Ctrl-C / SIGTERM: TrainingStopped after the last complete epoch
    run = load_run(model_dir)
    test_items = list(dict.fromkeys(c.item_id for c in test_caps))
    aligned_mt = None if test_mt is None else align_translations(test_caps, test_mt, name="query translation")[1]
    results = query_translation_protocol(run.model, features, test_items, test_caps, aligned_mt, spec.native_weights)
    last = result.history[-1] if result.history else {}
    terms = ", ".join(f"{key} {float(last[key]):.4g}" for key in sorted(last) if key.startswith("loss_"))
    header = [f"# {spec.collection}: en -> {spec.target} (NRCCR method and protocol)", "",
              f"- method: NRCCR trained by w2vvx.training.nrccr.NRCCRTrainer (config {config.name}); active loss "
              f"terms {', '.join(nrccr_weights.active_terms())} with weights "
              + ", ".join(f"{t}={getattr(nrccr_weights, t):g}" for t in nrccr_weights.active_terms()),
              f"- trained {result.epochs_done} epochs; "
              f"last epoch's terms: {terms or 'n/a (resumed finished run)'}",
              f"- training: {len(source)} source captions aligned with {translation_note}"
              + ("" if back is None else f" and back-translation {spec.back_translation}"),
              f"- selection: {'0.8 native + 0.2 MT fused' if val_mt is not None else 'native'} validation SumR "
              f"on {spec.collection}{val_split}_{spec.target}",
              f"- test: {len(test_caps)} human '{spec.target}' queries vs {len(test_items)} items; rows 'native w=v' "
              "are v*norm(native) + (1-v)*norm(MT of the query into en), norm = min-max over the whole matrix "
              "(NRCCR's w = 1 - v)"]
    header += lineage_lines(config, word_vectors, visual_note=f"features {spec.feature}")
    header += [f"- MISSING optional file: {line}" for line in missing]
    if small_scale:
        header.append("- small-scale smoke run: numbers are not comparable")
    if spec.published:
        header += ["", "Published (for comparison):"] + [f"- {line}" for line in spec.published]
    rows = {f"{spec.target} queries, {key}": metrics for key, metrics in results.items()}
    print(write_report(Path(run_dir) / "results.md", rows, header))
    print(nrccr_baseline_warning())
    return results


__all__ = ["CrossLingualSpec", "FUSION_WEIGHTS", "training_inputs", "run_crosslingual"]
