"""The lineage's whole cross-lingual pipeline (coco-cn ``./do_all.sh``), as one Python call.

For a collection in the single-folder layout (see :class:`w2vvx.io.Collection`) with English
(source-language) captions for every split, machine-translated target-language training captions
(``train_google_enc2<lang>``) and human target-language captions for validation and test
(``val_<lang>``, ``test_<lang>``), :func:`run_do_all`:

1. trains the **source** model on the English training captions (selected on English validation);
2. trains target models per target language, one per protocol (each row of the table says which):

   * ``[COCO-CN]``: the target model is trained on **human-written** target-language training
     captions (``train_<lang>``), as COCO-CN trains its Chinese model on ``cococntrain``; the row
     ``CM-human``. Skipped, with a note in ``results.md``, when the collection has no such file;
   * ``[MT]``: the target model is trained on **machine-translated** captions
     (``train_google_enc2<lang>``), the cross-lingual transfer setting; the row ``CM-MT``.

   Both are selected on the human validation captions;
3. evaluates on the test split by :func:`w2vvx.evaluation.protocols.coco_cn_protocol` (the one
   implementation, which the COCO-CN recipe calls too; this module only chooses the captions and models):

   * ``source (en)``: English queries through the source model (reference only);
   * ``CM``: cross-modal, the target-language query through the target model against the items;
   * ``CL``: cross-lingual. For models that map text into the visual feature space (W2VV, the
     COCO-CN setting) the target-language query's predicted visual vector is compared with the
     predicted visual vector of ONE English test sentence per item (the first; coco-cn
     ``zh2en_sim.py`` with ``mscoco2014dev-test``'s one sentence per image). For common-space models
     (W2VV++), whose two models' spaces differ, CL uses the query's machine translation into
     English (``test_google_<lang>2enc``) through the source model;
   * ``CLM``: ``w * CL + (1 - w) * CM`` with ``w`` chosen on the validation split by mIR, the grid
     ``{0, 0.01, ..., 0.99}`` (coco-cn ``fusion/search_fusion_weight.py``);

4. writes ``results.md`` and ``results.csv`` into the pipeline folder (beside the per-model folders
   with their ``training.png`` plots) and returns the table. When two or more languages are
   evaluated, the mean rank variance (MRV, CCRK) across languages is added.

With ``config="nrccr"`` one cross-lingual NRCCR model per target language replaces the source and
target models (:mod:`w2vvx.training.nrccr`, evaluated by
:func:`w2vvx.evaluation.protocols.query_translation_protocol`); its rows are the source-language reference,
``CM`` (native query) and ``fused`` (0.8 native + 0.2 its machine translation into English, min-max normalised over
the whole score matrix, NRCCR's protocol).

Every step is resumable: a finished model is not trained again, an interrupted one resumes from its
last complete epoch. Ctrl-C or SIGTERM stops the whole pipeline at that checkpoint
(:class:`~w2vvx.training.signals.TrainingStopped`, see :func:`fit_or_stop`): no later model is trained.
With ``config="nrccr"`` the results end with a ``warning:`` block, NRCCR's measured gap to its baseline
(:func:`w2vvx.evaluation.baselines.nrccr_baseline_warning`).

Example:
    >>> from w2vvx.pipeline import DoAllSettings, run_do_all                 # doctest: +SKIP
    >>> result = run_do_all(DoAllSettings(config="w2vv_attention_ctl"))       # doctest: +SKIP
    >>> print(result.table.to_markdown())                                     # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from w2vvx.errors import ConfigError, MissingFileError
from w2vvx.io.atomic import atomic_path
from w2vvx.models.sizes import SIZES, sized_config

logger = logging.getLogger(__name__)

DEFAULT_COLLECTION = "w2vvx_synth"

#: The model sizes do-all accepts (defined once in :data:`w2vvx.models.sizes.SIZES`): ``small``
#: trains in minutes on a 2-core CPU, ``tiny`` is for tests, ``lineage`` keeps the config as published.
SIZE_OVERRIDES: Dict[str, dict] = {name: SIZES[name] for name in ("small", "tiny", "lineage")}


@dataclasses.dataclass
class DoAllSettings:
    """What :func:`run_do_all` runs.

    Args:
        config: a named config (``base_w2vv``, ``w2vv_attention``, ``w2vv_attention_ctl``, ``w2vvpp``, ...).
        collection: the collection name (default: the embedded synthetic collection).
        rootpath: the VisualSearch root; ``None`` reads ``common.ini`` / ``W2VVX_ROOTPATH``.
        feature: the feature folder under ``FeatureData``; ``None`` takes the only one there.
        target_languages: target languages evaluated (each needs the files listed in the module doc).
        source_language: the language of the untagged captions (English in every lineage dataset).
        size: ``"small"`` (CPU-sized model, see :data:`SIZE_OVERRIDES`), ``"tiny"`` (tests) or
            ``"lineage"`` (the config exactly as published).
        overrides: further config field overrides (applied after ``size``).
        run_root: the pipeline folder; default ``<rootpath>/<collection>/runs/do_all_<config>_<size>``.
        seed: seeds models and batches.
        generate: create the embedded default collection if it does not exist yet.
        generate_scale: its collection scale (``tiny``, ``default``, ``large``).
        verbose: Keras progress bars (0 silent, 1 bar, 2 a line per epoch).
        fusion_metric: the metric the CLM weight is chosen by on validation (``mir`` as coco-cn, or ``sumr``).
    """

    config: str = "w2vv_attention_ctl"
    collection: Optional[str] = None
    rootpath: Optional[str] = None
    feature: Optional[str] = None
    target_languages: Tuple[str, ...] = ("zh",)
    source_language: str = "en"
    size: str = "small"
    overrides: dict = dataclasses.field(default_factory=dict)
    run_root: Optional[str] = None
    seed: int = 0
    generate: bool = True
    generate_scale: str = "default"
    verbose: int = 2
    fusion_metric: str = "mir"

    def __post_init__(self):
        if self.size not in SIZE_OVERRIDES:
            raise ConfigError(f"size must be one of {sorted(SIZE_OVERRIDES)}, got {self.size!r}")
        if not self.target_languages:
            raise ConfigError("give at least one target language (e.g. zh)")
        if self.fusion_metric not in ("mir", "sumr"):
            raise ConfigError(f"fusion_metric must be 'mir' or 'sumr', got {self.fusion_metric!r}")


@dataclasses.dataclass
class DoAllResult:
    """The results table, the per-setting metrics and where everything was written."""

    table: object
    metrics: Dict[str, dict]
    run_root: Path
    markdown_path: Path
    csv_path: Path
    fusion_weights: Dict[str, float]
    #: a ``warning:`` block printed with the results (e.g. NRCCR's measured gap to its baseline), or "".
    warning: str = ""


def model_config(settings: DoAllSettings):
    """The config a pipeline trains: the named config with the model size and overrides applied
    (:func:`w2vvx.models.sizes.sized_config`, the one sizing rule of w2vvx)."""
    return sized_config(settings.config, settings.size, **settings.overrides)


def _resolve_collection(settings: DoAllSettings):
    from w2vvx.config import load_settings
    from w2vvx.io.collection import Collection

    site = load_settings(rootpath=settings.rootpath)
    default_name = site.get("default_collection", DEFAULT_COLLECTION)
    name = settings.collection or default_name
    rootpath = Path(site.rootpath)
    folder = rootpath / name
    if not folder.is_dir():
        if settings.generate and settings.collection in (None, default_name):
            from w2vvx.datasets.synthetic import generate_collection

            logger.info("generating the embedded default collection %s under %s", name, rootpath)
            generate_collection(rootpath, name=name, seed=settings.seed, scale=settings.generate_scale,
                                languages=tuple(lang for lang in settings.target_languages))
        else:
            raise MissingFileError(
                f"collection {name!r} does not exist; generate the default one with `w2vvx generate` or prepare "
                "a dataset with `w2vvx recipe ...`", path=folder)
    return Collection(rootpath, name)


def pick_feature(collection, feature: Optional[str]) -> str:
    """``feature``, or the only feature folder of ``collection`` (a ConfigError names them when there are several)."""
    names = collection.feature_names()
    if feature is not None:
        return feature
    if len(names) != 1:
        raise ConfigError(f"collection {collection.name!r} has features {names}; choose one with --feature")
    return names[0]


def _source_tag(settings: DoAllSettings) -> str:
    """The lineage tags English as ``enc`` in translation file names (``google_enc2zh``)."""
    return "enc" if settings.source_language == "en" else settings.source_language


def _train(config, run_dir: Path, collection, features, train_variant: Optional[str], val_variant: Optional[str],
           language: str, settings: DoAllSettings):
    from w2vvx.training.trainer import Trainer

    train = collection.captions("train", train_variant)
    val = collection.captions("val", val_variant)
    logger.info("training %s on %d %s captions (%s), validating on %d", run_dir.name, len(train), language,
                train_variant or "source", len(val))
    trainer = Trainer(config, run_dir, train, features, val, default_language=language, seed=settings.seed,
                      verbose=settings.verbose)
    return fit_or_stop(trainer)


def fit_or_stop(trainer):
    """``trainer.fit(resume=True)``; an interrupted fit (Ctrl-C, SIGTERM) stops the whole pipeline.

    The run's last complete epoch is checkpointed, so the same command resumes it; without this, the
    pipeline would go on to evaluate a half-trained model and train the next one.

    Args:
        trainer: a :class:`~w2vvx.training.trainer.Trainer` (or anything whose ``fit(resume=True)`` returns a
            result with ``interrupted``, ``signal`` and ``epochs_done``).

    Raises:
        TrainingStopped: the fit was interrupted (``signal_name``: ``"SIGINT"`` or ``"SIGTERM"``).

    Example:
        >>> import types
        >>> class Finished:  # an interrupted result would raise TrainingStopped (a KeyboardInterrupt) instead
        ...     def fit(self, resume):
        ...         return types.SimpleNamespace(interrupted=False, signal=None, epochs_done=3)
        >>> fit_or_stop(Finished()).epochs_done
        3
    """
    from w2vvx.training.signals import TrainingStopped

    result = trainer.fit(resume=True)
    if result.interrupted:
        logger.warning("%s interrupted after %d complete epochs; run the same command again to resume it",
                       getattr(trainer, "run_dir", "training"), result.epochs_done)
        raise TrainingStopped(result.signal or "SIGINT")
    return result


def _train_multilingual(config, run_dir: Path, collection, features, settings: DoAllSettings):
    """Train a 1-to-K model on the source captions and their machine translations (one per language)."""
    from w2vvx.training.trainer import Trainer

    source = settings.source_language
    train = {source: collection.captions("train")}
    val = {source: collection.captions("val")}
    for language in settings.target_languages:
        train[language] = collection.captions("train", f"google_{_source_tag(settings)}2{language}")
        val[language] = collection.captions("val", language)
    logger.info("training %s (1-to-K over %s) on %d items", run_dir.name, ", ".join(train),
                len({c.item_id for c in train[source]}))
    trainer = Trainer(config, run_dir, train, features, val, default_language=source, seed=settings.seed,
                      verbose=settings.verbose)
    return fit_or_stop(trainer)


def _protocol_split(collection, split: str, language: str, visual_space: bool, source_tag: str):
    """The COCO-CN protocol's material of ``split`` (:class:`w2vvx.evaluation.protocols.ProtocolSplit`)."""
    from w2vvx.evaluation.protocols import ProtocolSplit

    if visual_space:
        return ProtocolSplit(collection.captions(split, language), collection.item_ids(split),
                             source_sentences=collection.captions(split))
    # a common-space model's two spaces differ: CL goes through the query's MT into the source language
    return ProtocolSplit(collection.captions(split, language), collection.item_ids(split),
                         query_translations=collection.captions(split, f"google_{language}2{source_tag}"))


#: The two protocols of the target-language model in :func:`run_do_all` (label, training variant, description).
PROTOCOLS = (
    ("COCO-CN", "{lang}", "CM-human: target model trained on human-written {lang} training captions "
                          "(train_{lang}), as COCO-CN trains on cococntrain"),
    ("MT", "google_{src}2{lang}", "CM-MT: target model trained on machine-translated captions "
                                  "(train_google_{src}2{lang}), the cross-lingual transfer setting"),
)


def run_do_all(settings: DoAllSettings) -> DoAllResult:
    """Run the whole pipeline; see the module docstring.

    Raises:
        TrainingStopped: Ctrl-C or SIGTERM interrupted a training (its last epoch is checkpointed;
            the same call resumes it). No later model is trained and nothing is evaluated.
    """
    from w2vvx.evaluation.mrv import aligned_mrv
    from w2vvx.evaluation.report import ResultsTable

    config = model_config(settings)  # a bad config name fails before any collection is generated
    collection = _resolve_collection(settings)
    feature = pick_feature(collection, settings.feature)
    features = collection.features(feature)
    run_root = Path(settings.run_root) if settings.run_root else (
        collection.path / "runs" / f"do_all_{settings.config}_{settings.size}")
    run_root.mkdir(parents=True, exist_ok=True)
    (run_root / "settings.json").write_text(json.dumps(
        {**dataclasses.asdict(settings), "feature": feature, "collection": collection.name,
         "model_config": config.to_dict()}, indent=1, default=str), encoding="utf-8")
    notes: List[str] = []
    weights: Dict[str, float] = {}
    warning = ""
    if settings.config == "nrccr":
        # NRCCR: one cross-lingual model per target language (shared text encoder), no separate source model
        from w2vvx.evaluation.baselines import nrccr_baseline_warning
        from w2vvx.training.nrccr import nrccr_do_all_metrics

        metrics, ranked = nrccr_do_all_metrics(settings, collection, features, config, run_root,
                                               source_tag=_source_tag(settings))
        notes.append("Protocol: NRCCR (one model per language, trained on English + MT; `fused` = 0.8 native "
                     "query + 0.2 its MT into English, min-max over the whole score matrix)")
        warning = nrccr_baseline_warning()
    else:
        metrics, ranked = _coco_cn_metrics(settings, collection, features, config, run_root, notes, weights)
    table = ResultsTable()
    for setting, values in metrics.items():
        table.add(setting, values)

    markdown_path, csv_path = run_root / "results.md", run_root / "results.csv"
    table.write_csv(csv_path)
    markdown = f"Results of `{settings.config}` ({settings.size}) on {collection.name}, test split\n\n"
    markdown += "".join(f"- {note}\n" for note in notes) + "\n"
    markdown += table.to_markdown() + "\n"
    if len(ranked) >= 2:
        mrv = aligned_mrv({language: result for language, (result, _) in ranked.items()},
                          {language: keys for language, (_, keys) in ranked.items()}, directions=("t2i",))
        if mrv:
            metrics["MRV"] = {"t2i_mrv": mrv["t2i_mrv"], "languages": ",".join(sorted(ranked))}
            markdown += (f"\nMRV (t2i, languages {metrics['MRV']['languages']}, lower is better): "
                         f"{metrics['MRV']['t2i_mrv']:.2f}\n")
    if warning:
        markdown += "\n" + warning + "\n"
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    with atomic_path(run_root / "metrics.json") as tmp:
        tmp.write_text(json.dumps({key: _jsonable(value) for key, value in metrics.items()}, indent=1))
    return DoAllResult(table, metrics, run_root, markdown_path, csv_path, weights, warning)


def _coco_cn_metrics(settings: DoAllSettings, collection, features, config, run_root: Path, notes: List[str],
                     weights: Dict[str, float]):
    """Train the source and target models and evaluate them by the COCO-CN protocol
    (:func:`w2vvx.evaluation.protocols.coco_cn_protocol`); returns ``(metrics, {language: (result, keys)})``."""
    from w2vvx.evaluation.mrv import caption_keys
    from w2vvx.evaluation.protocols import caption_rows, coco_cn_protocol
    from w2vvx.training.trainer import load_run

    source_tag = _source_tag(settings)
    if config.loss == "one_to_k":
        # CCRK 1-to-K: one model learns from every language of an item at once and serves all routes
        source_dir = run_root / "multilingual"
        _train_multilingual(config, source_dir, collection, features, settings)
        targets = {(language, "MT"): source_dir for language in settings.target_languages}
        notes.append("Protocol: CCRK 1-to-K (one model on English + MT captions of every language); the "
                     "COCO-CN protocol (a separate model on human target-language text) does not apply")
    else:
        source_dir = run_root / f"source_{settings.source_language}"
        _train(config, source_dir, collection, features, None, None, settings.source_language, settings)
        targets = {}
        for language in settings.target_languages:
            for label, variant, _ in PROTOCOLS:
                variant = variant.format(src=source_tag, lang=language)
                path = collection.caption_path("train", variant)
                if not path.is_file():
                    notes.append(f"{label} protocol for {language}: not run, {path.name} is missing")
                    continue
                run_dir = run_root / (f"target_{language}" if label == "MT" else f"target_{language}_human")
                _train(config, run_dir, collection, features, variant, language, language, settings)
                targets[(language, label)] = run_dir
        notes += [f"Protocol {label}: {description.format(src=source_tag, lang='<lang>')}"
                  for label, _, description in PROTOCOLS]

    visual_space = config.common_space_dim is None
    notes.append("CL: " + ("each target-language query vs ONE English test sentence per item (the first), both "
                           "mapped into the visual space (COCO-CN zh2en_sim.py)" if visual_space else
                           "the query's MT into English through the source model (a common-space model's two "
                           "spaces differ, so COCO-CN's sentence matching does not apply)")
                 + "; CLM: w*CL + (1-w)*CM, w by validation " + settings.fusion_metric)
    source_run = load_run(source_dir)
    test_captions = collection.captions("test")
    source = caption_rows(source_run.model, test_captions, features, collection.item_ids("test"), return_ranks=True)
    metrics: Dict[str, dict] = {f"source ({settings.source_language})": source}
    ranked = {settings.source_language: (source, caption_keys(test_captions))}
    for (language, label), run_dir in targets.items():
        val, test = (_protocol_split(collection, split, language, visual_space, source_tag)
                     for split in ("val", "test"))
        rows, weight = coco_cn_protocol(load_run(run_dir).model, source_run.model, features, val, test,
                                        visual_space=visual_space, metric=settings.fusion_metric, return_ranks=True)
        weights[language if label == "MT" else f"{language} {label}"] = weight
        cm_name = "CM-MT" if label == "MT" else "CM-human"
        metrics[f"[{label}] CL ({language})"] = rows["CL"]
        metrics[f"[{label}] {cm_name} ({language})"] = rows["CM"]
        metrics[f"[{label}] CLM ({language}, w={weight:.2f})"] = rows[f"CLM (w={weight:.2f})"]
        if label == "MT":
            ranked[language] = (rows["CM"], caption_keys(test.queries))
    return metrics, ranked


def _jsonable(values: dict) -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, np.ndarray):
            continue
        if isinstance(value, (np.floating, np.integer)):
            value = value.item()
        if isinstance(value, (int, float, str)) or value is None:
            out[key] = value
    return out
