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
3. evaluates on the test split (:mod:`w2vvx.evaluation.crosslingual`, one definition for the
   library and the recipes):

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
target models (:mod:`w2vvx.training.nrccr`); its rows are the source-language reference, ``CM`` (native
query) and ``fused`` (0.8 native + 0.2 its machine translation into English, min-max normalised over
the whole score matrix, NRCCR's protocol).

Every step is resumable: a finished model is not trained again, an interrupted one resumes from its
last complete epoch.

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
from w2vvx.models.sizes import SIZES

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
        generate_scale: its size preset (``tiny``, ``default``, ``large``).
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


def model_config(settings: DoAllSettings):
    """The config a pipeline trains: the named config with the model size and overrides applied."""
    from w2vvx.models.configs import get_config

    overrides = dict(SIZE_OVERRIDES[settings.size])
    overrides.update(settings.overrides)
    if overrides.get("w2v_dim") is not None and "embed_dim" in overrides:
        # word vectors are trained at the GRU embedding size, so both branches share one dimension
        overrides["w2v_dim"] = overrides["embed_dim"]
    return get_config(settings.config, **overrides)


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
    return trainer.fit(resume=True)


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
    return trainer.fit(resume=True)


def _encode_texts(run, captions) -> np.ndarray:
    inputs = run.featurizer.featurize_captions(captions)
    return run.model.encode_text(inputs)


class _Encoder:
    """Encodes one split's texts and items with trained runs (item embeddings cached per run and split)."""

    def __init__(self, collection, features):
        self.collection = collection
        self.features = features
        self._item_cache: Dict[Tuple[str, str], np.ndarray] = {}

    def items(self, split: str) -> List[str]:
        return self.collection.item_ids(split)

    def item_embeddings(self, run, split: str) -> np.ndarray:
        key = (str(run.run_dir), split)
        if key not in self._item_cache:
            self._item_cache[key] = run.model.encode_items(self.features, item_ids=self.items(split))
        return self._item_cache[key]


def _protocol_scores(encoder: _Encoder, source_run, target_run, split: str, language: str, visual_space: bool,
                     source_tag: str):
    """``(queries, CL scores, CM scores)`` of ``split`` (:mod:`w2vvx.evaluation.crosslingual`)."""
    from w2vvx.evaluation.crosslingual import cosine_scores, cross_lingual_scores, cross_modal_scores

    queries = encoder.collection.captions(split, language)
    query_emb = _encode_texts(target_run, queries)
    cm = cross_modal_scores(query_emb, encoder.item_embeddings(target_run, split))
    items = encoder.items(split)
    if visual_space:
        sentences = encoder.collection.captions(split)
        cl = cross_lingual_scores(query_emb, _encode_texts(source_run, sentences), [c.item_id for c in sentences],
                                  items)
    else:
        # a common-space model's two spaces differ: CL goes through the query's MT into the source language
        translated = encoder.collection.captions(split, f"google_{language}2{source_tag}")
        cl = cosine_scores(_encode_texts(source_run, translated), encoder.item_embeddings(source_run, split))
    return queries, cl, cm


#: The two protocols of the target-language model in :func:`run_do_all` (label, training variant, description).
PROTOCOLS = (
    ("COCO-CN", "{lang}", "CM-human: target model trained on human-written {lang} training captions "
                          "(train_{lang}), as COCO-CN trains on cococntrain"),
    ("MT", "google_{src}2{lang}", "CM-MT: target model trained on machine-translated captions "
                                  "(train_google_{src}2{lang}), the cross-lingual transfer setting"),
)


def run_do_all(settings: DoAllSettings) -> DoAllResult:
    """Run the whole pipeline; see the module docstring."""
    from w2vvx.evaluation.crosslingual import clm_rows
    from w2vvx.evaluation.metrics import evaluate_retrieval
    from w2vvx.evaluation.mrv import mean_rank_variance
    from w2vvx.evaluation.report import ResultsTable
    from w2vvx.training.trainer import load_run

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
    table = ResultsTable()
    weights: Dict[str, float] = {}
    source_tag = _source_tag(settings)

    if settings.config == "nrccr":
        # NRCCR: one cross-lingual model per target language (shared text encoder), no separate source model
        from w2vvx.training.nrccr import nrccr_do_all_metrics

        metrics, ranks_by_language = nrccr_do_all_metrics(settings, collection, features, config, run_root,
                                                          source_tag=source_tag)
        notes.append("Protocol: NRCCR (one model per language, trained on English + MT; `fused` = 0.8 native "
                     "query + 0.2 its MT into English, min-max over the whole score matrix)")
    else:
        metrics: Dict[str, dict] = {}
        ranks_by_language: Dict[str, Dict[str, np.ndarray]] = {}
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
        encoder = _Encoder(collection, features)
        test_captions = collection.captions("test")
        source = evaluate_retrieval(_encode_texts(source_run, test_captions), [c.item_id for c in test_captions],
                                    encoder.item_embeddings(source_run, "test"), encoder.items("test"),
                                    return_ranks=True)
        metrics[f"source ({settings.source_language})"] = source
        ranks_by_language[settings.source_language] = _ranks_by_caption(test_captions, source)
        for (language, label), run_dir in targets.items():
            target_run = load_run(run_dir)
            val = _protocol_scores(encoder, source_run, target_run, "val", language, visual_space, source_tag)
            test = _protocol_scores(encoder, source_run, target_run, "test", language, visual_space, source_tag)
            rows, weight = clm_rows(val[1], val[2], [c.item_id for c in val[0]], encoder.items("val"),
                                    test[1], test[2], [c.item_id for c in test[0]], encoder.items("test"),
                                    metric=settings.fusion_metric, return_ranks=True)
            weights[language if label == "MT" else f"{language} {label}"] = weight
            cm_name = "CM-MT" if label == "MT" else "CM-human"
            metrics[f"[{label}] CL ({language})"] = rows["CL"]
            metrics[f"[{label}] {cm_name} ({language})"] = rows["CM"]
            metrics[f"[{label}] CLM ({language}, w={weight:.2f})"] = rows[f"CLM (w={weight:.2f})"]
            if label == "MT":
                ranks_by_language[language] = _ranks_by_caption(test[0], rows["CM"])
    for setting, values in metrics.items():
        table.add(setting, values)

    markdown_path, csv_path = run_root / "results.md", run_root / "results.csv"
    table.write_csv(csv_path)
    markdown = f"Results of `{settings.config}` ({settings.size}) on {collection.name}, test split\n\n"
    markdown += "".join(f"- {note}\n" for note in notes) + "\n"
    markdown += table.to_markdown() + "\n"
    if len(ranks_by_language) >= 2:
        aligned = _align_ranks(ranks_by_language)
        if aligned is not None:
            metrics["MRV"] = {"t2i_mrv": mean_rank_variance(aligned), "languages": ",".join(sorted(aligned))}
            markdown += (f"\nMRV (t2i, languages {metrics['MRV']['languages']}, lower is better): "
                         f"{metrics['MRV']['t2i_mrv']:.2f}\n")
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    with atomic_path(run_root / "metrics.json") as tmp:
        tmp.write_text(json.dumps({key: _jsonable(value) for key, value in metrics.items()}, indent=1))
    return DoAllResult(table, metrics, run_root, markdown_path, csv_path, weights)


def _ranks_by_caption(captions, result) -> Dict[str, np.ndarray]:
    """t2i ranks keyed by ``<item>#<caption index>`` so languages can be aligned per instance (MRV)."""
    ranks = np.asarray(result["t2i_ranks"])
    return {f"{c.item_id}#{c.index}": rank for c, rank in zip(captions, ranks)}


def _align_ranks(ranks_by_language: Dict[str, Dict[str, np.ndarray]]):
    keys = None
    for ranks in ranks_by_language.values():
        keys = set(ranks) if keys is None else keys & set(ranks)
    if not keys:
        logger.warning("no caption instance is shared by all languages; MRV is not reported")
        return None
    keys = sorted(keys)
    return {language: np.array([ranks[key] for key in keys]) for language, ranks in ranks_by_language.items()}


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
