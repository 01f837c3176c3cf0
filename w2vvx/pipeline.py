"""The lineage's whole cross-lingual pipeline (coco-cn ``./do_all.sh``), as one Python call.

For a collection in the single-folder layout (see :class:`w2vvx.io.Collection`) with English
(source-language) captions for every split, machine-translated target-language training captions
(``train_google_enc2<lang>``) and human target-language captions for validation and test
(``val_<lang>``, ``test_<lang>``), :func:`run_do_all`:

1. trains the **source** model on the English training captions (selected on English validation);
2. trains a **target** model per target language on the machine-translated training captions,
   selected on the human validation captions (no human target text is used for training);
3. evaluates on the test split:

   * ``source (en)``: English queries through the source model (reference only);
   * ``CM``: cross-modal, the target-language query through the target model against the items;
   * ``CL``: cross-lingual. For models that map text into the visual feature space (W2VV, the
     COCO-CN setting) the target-language query's predicted visual vector is matched against the
     predicted visual vectors of the source-language test sentences of the source model, an item
     scoring as its best sentence (coco-cn ``zh2en_sim.py``). For common-space models (W2VV++),
     whose two models' spaces differ, CL uses the query's machine translation into English
     (``test_google_<lang>2enc``) through the source model, as NRCCR does;
   * ``CLM``: ``w * CL + (1 - w) * CM`` with ``w`` chosen on the validation split by mIR, the grid
     ``{0, 0.01, ..., 0.99}`` (coco-cn ``fusion/search_fusion_weight.py``);

4. writes ``results.md`` and ``results.csv`` into the pipeline folder (beside the per-model folders
   with their ``training.png`` plots) and returns the table. When two or more languages are
   evaluated, the mean rank variance (MRV, CCRK) across languages is added.

With ``config="nrccr"`` one cross-lingual NRCCR model per target language replaces the source and
target models (:mod:`w2vvx.training.nrccr`); its rows are the source-language reference, ``CM`` (native
query) and ``fused`` (0.8 native + 0.2 its machine translation into English, NRCCR's protocol).

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
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError, MissingFileError
from w2vvx.io.atomic import atomic_path

logger = logging.getLogger(__name__)

DEFAULT_COLLECTION = "w2vvx_synth"

#: Overrides that make a named config train in minutes on a 2-core CPU (the ``small`` size: smaller
#: GRU and embeddings, and a 10x learning rate so that 10 epochs suffice where the lineage trains
#: 100-200); ``tiny`` is for tests; the ``lineage`` size keeps the config exactly as published.
SIZE_OVERRIDES: Dict[str, dict] = {
    "small": {"embed_dim": 128, "w2v_dim": 128, "gru_units": 256, "learning_rate": 1e-3, "max_epochs": 10,
              "lr_halving_patience": 2, "early_stop_patience": 4},
    "tiny": {"embed_dim": 16, "w2v_dim": 16, "gru_units": 32, "text_mlp": (256,), "learning_rate": 3e-3,
             "max_epochs": 8, "batch_size": 32, "vocab_min_count": 1},
    "lineage": {},
}


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
    """The config a pipeline trains: the named config with the size preset and overrides applied."""
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


def _pick_feature(collection, feature: Optional[str]) -> str:
    names = collection.feature_names()
    if feature is not None:
        return feature
    if len(names) != 1:
        raise ConfigError(f"collection {collection.name!r} has features {names}; choose one with --feature")
    return names[0]


def _item_features(bigfile, item_ids: Sequence[str]) -> np.ndarray:
    rows = []
    for item in item_ids:
        if item not in bigfile:
            raise ConfigError(f"item {item!r} has no feature vector in {bigfile.path}; the caption files and the "
                              "features disagree — regenerate or re-prepare the collection")
        rows.append(bigfile.index(item))
    return bigfile.read_rows(np.asarray(rows, dtype=np.int64))


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


class _Evaluator:
    """Encodes one split with the source and target models and builds the CM / CL score matrices."""

    def __init__(self, collection, features, source_run, visual_space: bool, source_tag: str = "enc"):
        self.source_tag = source_tag
        self.collection = collection
        self.features = features
        self.source_run = source_run
        self.visual_space = visual_space
        self._item_cache: Dict[Tuple[str, str], np.ndarray] = {}

    def items(self, split: str) -> List[str]:
        return self.collection.item_ids(split)

    def item_embeddings(self, run, split: str) -> np.ndarray:
        key = (str(run.run_dir), split)
        if key not in self._item_cache:
            self._item_cache[key] = run.model.encode_visual(_item_features(self.features, self.items(split)))
        return self._item_cache[key]

    def source_metrics(self, split: str):
        from w2vvx.evaluation.metrics import evaluate_retrieval

        captions = self.collection.captions(split)
        return evaluate_retrieval(_encode_texts(self.source_run, captions), [c.item_id for c in captions],
                                  self.item_embeddings(self.source_run, split), self.items(split), return_ranks=True)

    def cm_scores(self, target_run, split: str, language: str):
        from w2vvx.evaluation.metrics import l2_normalize

        queries = self.collection.captions(split, language)
        query_emb = l2_normalize(_encode_texts(target_run, queries))
        items = l2_normalize(self.item_embeddings(target_run, split))
        return queries, query_emb @ items.T

    def cl_scores(self, target_run, split: str, language: str, query_emb_cache=None):
        from w2vvx.evaluation.fusion import sentence_to_item_scores
        from w2vvx.evaluation.metrics import l2_normalize

        items = self.items(split)
        if self.visual_space:
            queries = self.collection.captions(split, language)
            query_emb = _encode_texts(target_run, queries)
            sentences = self.collection.captions(split)
            sentence_emb = _encode_texts(self.source_run, sentences)
            return sentence_to_item_scores(query_emb, sentence_emb, [c.item_id for c in sentences], items)
        translated = self.collection.captions(split, f"google_{language}2{self.source_tag}")
        query_emb = l2_normalize(_encode_texts(self.source_run, translated))
        item_emb = l2_normalize(self.item_embeddings(self.source_run, split))
        return query_emb @ item_emb.T


def run_do_all(settings: DoAllSettings) -> DoAllResult:
    """Run the whole pipeline; see the module docstring."""
    from w2vvx.evaluation.fusion import fuse_scores, search_fusion_weight
    from w2vvx.evaluation.metrics import evaluate_from_scores
    from w2vvx.evaluation.mrv import mean_rank_variance
    from w2vvx.evaluation.report import ResultsTable
    from w2vvx.training.trainer import load_run

    config = model_config(settings)  # a bad config name fails before any collection is generated
    collection = _resolve_collection(settings)
    feature = _pick_feature(collection, settings.feature)
    features = collection.features(feature)
    run_root = Path(settings.run_root) if settings.run_root else (
        collection.path / "runs" / f"do_all_{settings.config}_{settings.size}")
    run_root.mkdir(parents=True, exist_ok=True)
    (run_root / "settings.json").write_text(json.dumps(
        {**dataclasses.asdict(settings), "feature": feature, "collection": collection.name,
         "model_config": config.to_dict()}, indent=1, default=str), encoding="utf-8")

    if settings.config == "nrccr":
        # NRCCR: one cross-lingual model per target language (shared text encoder), no separate source model
        from w2vvx.training.nrccr import nrccr_do_all_metrics

        table = ResultsTable()
        weights: Dict[str, float] = {}
        metrics, ranks_by_language = nrccr_do_all_metrics(settings, collection, features, config, run_root,
                                                          source_tag=_source_tag(settings))
    else:
        if config.loss == "one_to_k":
            # CCRK 1-to-K: one model learns from every language of an item at once and serves all routes
            source_dir = run_root / "multilingual"
            _train_multilingual(config, source_dir, collection, features, settings)
            target_dirs = {language: source_dir for language in settings.target_languages}
        else:
            source_dir = run_root / f"source_{settings.source_language}"
            _train(config, source_dir, collection, features, None, None, settings.source_language, settings)
            target_dirs = {}
            for language in settings.target_languages:
                target_dirs[language] = run_root / f"target_{language}"
                _train(config, target_dirs[language], collection, features,
                       f"google_{_source_tag(settings)}2{language}", language, language, settings)

        source_run = load_run(source_dir)
        evaluator = _Evaluator(collection, features, source_run, visual_space=config.common_space_dim is None,
                               source_tag=_source_tag(settings))
        table = ResultsTable()
        metrics: Dict[str, dict] = {}
        weights: Dict[str, float] = {}
        ranks_by_language: Dict[str, Dict[str, np.ndarray]] = {}

        source = evaluator.source_metrics("test")
        metrics[f"source ({settings.source_language})"] = source
        ranks_by_language[settings.source_language] = _ranks_by_caption(collection.captions("test"), source)
        test_items = evaluator.items("test")
        val_items = evaluator.items("val")
        for language in settings.target_languages:
            target_run = load_run(target_dirs[language])
            queries, cm_test = evaluator.cm_scores(target_run, "test", language)
            query_items = [c.item_id for c in queries]
            cm = evaluate_from_scores(cm_test, query_items, test_items, return_ranks=True)
            ranks_by_language[language] = _ranks_by_caption(queries, cm)
            cl_test = evaluator.cl_scores(target_run, "test", language)
            val_queries, cm_val = evaluator.cm_scores(target_run, "val", language)
            cl_val = evaluator.cl_scores(target_run, "val", language)
            weight, _, _ = search_fusion_weight(cl_val, cm_val, [c.item_id for c in val_queries], val_items,
                                                metric=settings.fusion_metric)
            weights[language] = weight
            clm_test = fuse_scores([cl_test, cm_test], [weight, 1.0 - weight])
            metrics[f"CL ({language})"] = evaluate_from_scores(cl_test, query_items, test_items)
            metrics[f"CM ({language})"] = cm
            metrics[f"CLM ({language}, w={weight:.2f})"] = evaluate_from_scores(clm_test, query_items, test_items)
    for setting, values in metrics.items():
        table.add(setting, values)

    markdown_path, csv_path = run_root / "results.md", run_root / "results.csv"
    table.write_csv(csv_path)
    markdown = f"Results of `{settings.config}` ({settings.size}) on {collection.name}, test split\n\n"
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
