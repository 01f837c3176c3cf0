"""Data, training and evaluation of the cross-lingual NRCCR model (:mod:`w2vvx.models.nrccr`).

* :func:`align_translations` pairs each source caption with its machine translation and its
  back-translation (same item, same caption index: ``<item>#enc#<n>``, ``<item>#enc2zh#<n>``,
  ``<item>#enc2zh2enc#<n>``).
* :class:`AlignedTripletDataset` serves W2VV-style batches (distinct items, one random caption each)
  of aligned ``(source, MT, back-translation)`` token arrays plus the visual rows.
* :class:`NRCCRTrainer` is the lineage :class:`~w2vvx.training.trainer.Trainer` (same run folder,
  checkpoints, LR rule, early stop, ``best.keras``) with the NRCCR model, one joint vocabulary built
  from source + MT + back-translated captions, and validation by text→video SumR on the fused scores
  ``0.8·minmax(native target-language query) + 0.2·minmax(its MT into the source language)``, both
  encoded by the same shared text encoder (NRCCR ``validate.py``).
* :func:`evaluate_nrccr` gives the test rows: native query (CM), fused query, and the source-language
  reference.

Example:
    >>> trainer = NRCCRTrainer("nrccr", "runs/nrccr_zh", train_en, features, val_zh,   # doctest: +SKIP
    ...                        train_translations=train_mt, train_back_translations=train_bt,
    ...                        val_translations=val_zh2en)
    >>> result = trainer.fit()                                                         # doctest: +SKIP
"""
from __future__ import annotations

import logging
from typing import Dict, Optional

from w2vvx.datasets.aligned_captions import align_translations
from w2vvx.datasets.batching import CaptionBatchDataset, preprocess_captions
from w2vvx.errors import ConfigError
from w2vvx.models.nrccr import NRCCRWeights, build_nrccr_model  # also registers NRCCRRetriever for load_run
from w2vvx.training.callbacks import RetrievalValidation
from w2vvx.training.nrccr_diagnostics import NRCCRDiagnostics
from w2vvx.training.placement import dtype_policy
from w2vvx.training.trainer import Trainer

logger = logging.getLogger(__name__)

NATIVE_WEIGHT = 0.8


class AlignedTripletDataset(CaptionBatchDataset):
    """Training batches of aligned (source, MT, back-translation) captions with the items' visual rows.

    Sampling is that of :class:`CaptionBatchDataset` over the source captions (``sampling``: the config's,
    ``"captions"`` for ``nrccr`` as NRCCR's ``DataLoader(shuffle=True)`` over caption ids; a pure function of
    ``(seed, epoch, index)``); the MT and back-translated sentences of the drawn source caption come along.

    Args:
        source: source-language Captions.
        translations: their machine translations (aligned by :func:`align_translations`), or None.
        back_translations: their back-translations, or None.
        preprocessor, features, batch_size, seed, shuffle, steps_per_epoch, **kwargs: as
            :class:`CaptionBatchDataset` (the model's preprocessor tokenises every view).

    Each batch is ``(x,)`` with ``x = {"src_tokens", "src_bow_tokens"[, "mt_tokens", "mt_bow_tokens"]
    [, "bt_tokens", "bt_bow_tokens"], "visual"}``.
    """

    def __init__(self, source, translations, back_translations, preprocessor, features, batch_size: int = 128,
                 seed: int = 0, shuffle: bool = True, steps_per_epoch: Optional[int] = None, **kwargs):
        source, translations, back_translations = align_translations(
            source, translations, back_translations, name="translation")
        super().__init__(source, preprocessor, features, batch_size=batch_size, seed=seed, shuffle=shuffle,
                         steps_per_epoch=steps_per_epoch, **kwargs)
        kept = set(self.item_ids)
        keep = [position for position, caption in enumerate(source) if caption.item_id in kept]
        self.text_arrays = {f"src_{key}": value for key, value in self.text_arrays.items()}
        for view, captions in (("mt", translations), ("bt", back_translations)):
            if captions is not None:
                arrays = preprocess_captions(preprocessor, [captions[position] for position in keep])
                self.text_arrays.update({f"{view}_{key}": value for key, value in arrays.items()})


def fused_scores(model, native, translated, item_emb, native_weight: float = NATIVE_WEIGHT):
    """NRCCR's query-translation fusion of one split; returns ``(fused, native_scores)``.

    The scores are those of :func:`w2vvx.evaluation.protocols.query_translation_scores` (the one
    implementation of NRCCR's protocol); ``translated`` (aligned with ``native``) may be None: the fused
    scores are then the native ones. ``native`` and ``translated`` are captions
    (tokenised by ``model.preprocessor``) or their token arrays.
    """
    from w2vvx.evaluation.protocols import fused_query_scores, query_translation_scores

    native_scores, translated_scores = query_translation_scores(model, item_emb, native, translated)
    return fused_query_scores(native_scores, translated_scores, native_weight), native_scores


class NRCCRTrainer(Trainer):
    """The lineage trainer for the cross-lingual NRCCR model.

    Args:
        config: a config name (``"nrccr"``) or a ``ModelConfig`` with a common space and GRU mean pooling.
        run_dir: the run folder.
        train_captions: source-language training Captions (e.g. English ``<item>#enc#<n>``).
        features: visual features of the training items (BigFile or callable).
        val_captions: human target-language validation Captions (the native queries).
        train_translations: machine translations of ``train_captions`` (``train_google_enc2zh``).
        train_back_translations: their back-translations (``train_google_enc2zh2enc``); needed when
            ``weights.backtranslation > 0``.
        val_translations: machine translations of ``val_captions`` into the source language
            (``val_google_zh2enc``) for the fused validation; None = native queries only.
        weights: :class:`~w2vvx.models.nrccr.NRCCRWeights` (or a dict of its fields).
        native_weight: weight of the native query in the fused validation scores (0.8).
        diagnostics: add :class:`~w2vvx.training.nrccr_diagnostics.NRCCRDiagnostics` columns to every epoch
            (``history.csv``): per-term gradient norms into the shared blocks on the first training batch
            and, with ``val_translations``, the teacher's, student's and source's R@1 on the validation
            pairs (held out from training).
        word_translations: ``{source word: translations}``; with ``val_translations`` the diagnostics also
            log the cross-attention's word alignment on the validation pairs.
        **kwargs: the other :class:`Trainer` arguments (``size`` for a config name, ``val_features``,
            ``word_vectors``, ``seed``, ``verbose``, ``max_epochs``, ``steps_per_epoch``, ``default_language`` ...).
    """

    def __init__(self, config, run_dir, train_captions, features, val_captions, train_translations=None,
                 train_back_translations=None, val_translations=None, weights=None,
                 native_weight: float = NATIVE_WEIGHT, diagnostics: bool = True, word_translations=None,
                 **kwargs):
        self.weights = NRCCRWeights.from_dict(weights)
        if self.weights.needs_translation and train_translations is None:
            raise ConfigError("NRCCR needs the machine translations of the training captions "
                              "(train_translations, e.g. <coll>train_google_enc2zh.caption.txt) for its active "
                              f"terms {self.weights.active_terms()}")
        if self.weights.backtranslation and train_back_translations is None:
            raise ConfigError("the back-translation term needs train_back_translations (e.g. "
                              "<coll>train_google_enc2zh2enc.caption.txt); or set weights backtranslation=0")
        aligned = align_translations(train_captions, train_translations if self.weights.needs_translation else None,
                                     train_back_translations if self.weights.backtranslation else None)
        self.source_captions, self.translations, self.back_translations = aligned
        vocabulary_captions = [caption for group in aligned if group is not None for caption in group]
        super().__init__(config, run_dir, vocabulary_captions, features, val_captions, **kwargs)
        if not 0.0 <= native_weight <= 1.0:
            raise ConfigError(f"native_weight must be in [0, 1], got {native_weight!r}")
        self.native_weight = float(native_weight)
        self.diagnostics = bool(diagnostics)
        self.word_translations = word_translations
        self.val_translations = None
        if val_translations is not None:
            self.val_translations = align_translations(self.val_captions, val_translations,
                                                       name="validation translation")[1]

    def _build_model(self, visual_dim: int, frames: bool):
        preprocessor = self.preprocessor
        with dtype_policy(self.precision):
            return build_nrccr_model(
                self.config, gru_vocab_size=len(preprocessor.gru_vocab), bow_vocab_size=len(preprocessor.bow_vocab),
                visual_dim=visual_dim, frames=frames, weights=self.weights, preprocessor=preprocessor,
                word_vectors=self.prepared.initial_word_vectors())

    def training_batches(self):
        return AlignedTripletDataset(self.source_captions, self.translations, self.back_translations,
                                     self.model.preprocessor, self.features, batch_size=self.config.batch_size,
                                     seed=self.seed, steps_per_epoch=self.steps_per_epoch,
                                     sampling=self.config.sampling)

    def validation_callback(self):
        return self._fused_validation()

    def epoch_diagnostics(self, dataset):
        if not self.diagnostics:
            return []
        held_out = self.val_translations is not None
        return [NRCCRDiagnostics(self.val_translations if held_out else None, self.val_captions if held_out else None,
                                 self.val_features, batch=dataset[0][0],
                                 word_translations=self.word_translations if held_out else None,
                                 batch_size=self.config.batch_size)]

    def _fused_validation(self) -> RetrievalValidation:
        from w2vvx.evaluation.metrics import evaluate_from_scores

        # tokenised once by the model's preprocessor, encoded after every epoch
        native = preprocess_captions(self.model.preprocessor, self.val_captions)
        translated = (None if self.val_translations is None
                      else preprocess_captions(self.model.preprocessor, self.val_translations))

        def encode(model):
            return model, model.encode_items(self.val_features, item_ids=self.val_items,
                                             batch_size=self.eval_batch_size)

        def evaluate(model, text_item_ids, item_emb, item_ids):
            fused, _ = fused_scores(model, native, translated, item_emb, self.native_weight)
            return evaluate_from_scores(fused, text_item_ids, item_ids)

        return RetrievalValidation(encode, self.val_text_item_ids, self.val_items, evaluate=evaluate)


def nrccr_trainer_for_collection(collection, config, run_dir, features, language: str = "zh",
                                 source_tag: str = "enc", weights=None, train_on_human: bool = False,
                                 **kwargs) -> NRCCRTrainer:
    """An :class:`NRCCRTrainer` reading the NRCCR file layout of ``collection`` (a ``w2vvx.io.Collection``).

    Train: ``train`` (source), ``train_google_<src>2<lang>`` (MT), ``train_google_<src>2<lang>2<src>``
    (back-translation); validation: ``val_<lang>`` (human) and ``val_google_<lang>2<src>`` (its MT).
    ``train_on_human=True`` replaces the MT training text by human target-language captions
    ``train_<lang>`` (the upper bound; only the target term is used).
    """
    weights = _weights(weights)
    train = collection.captions("train")
    if train_on_human:
        train, translations, back = collection.captions("train", language), None, None
        weights = NRCCRWeights(source=1.0, target=0.0, similarity=0.0, feature=0.0, backtranslation=0.0,
                               num_heads=weights.num_heads, key_dim=weights.key_dim, margin=weights.margin, adversarial=0.0)
    else:
        translations = collection.captions("train", f"google_{source_tag}2{language}") \
            if weights.needs_translation else None
        back = collection.captions("train", f"google_{source_tag}2{language}2{source_tag}") \
            if weights.backtranslation else None
    val = collection.captions("val", language)
    val_mt_path = collection.caption_path("val", f"google_{language}2{source_tag}")
    # the fused validation needs a model that learnt the source language
    learns_source = not train_on_human and (weights.source > 0 or weights.backtranslation > 0)
    val_mt = collection.captions("val", f"google_{language}2{source_tag}") \
        if learns_source and val_mt_path.is_file() else None
    return NRCCRTrainer(config, run_dir, train, features, val, train_translations=translations,
                        train_back_translations=back, val_translations=val_mt, weights=weights,
                        default_language=language, **kwargs)


def _weights(weights):
    return NRCCRWeights.from_dict(weights)


def evaluate_nrccr(run, collection, features, split: str = "test", language: str = "zh", source_tag: str = "enc",
                   source_language: str = "en", native_weight: float = NATIVE_WEIGHT,
                   return_ranks: bool = False) -> Dict[str, dict]:
    """Test rows of a trained NRCCR run (``w2vvx.training.load_run``) on ``split`` of ``collection``.

    Returns an ordered dict: ``"source (<src>)"`` (source-language queries, reference), ``"CM (<lang>)"``
    (human target-language queries), ``"fused (<lang>, 0.8/0.2)"`` (NRCCR query-translation fusion
    with the MT of the queries into the source language, when that file exists). The rows come from
    :func:`w2vvx.evaluation.protocols.query_translation_protocol` (the recipes' protocol too).
    """
    from w2vvx.evaluation.protocols import caption_rows, query_translation_protocol

    item_ids = collection.item_ids(split)
    item_emb = run.model.encode_items(features, item_ids=item_ids)
    rows: Dict[str, dict] = {}
    # a model trained on target-language text only (the upper bound) has no source-language vocabulary
    preprocessor = getattr(run.model, "preprocessor", None)
    knows_source = source_language in getattr(preprocessor, "languages", [source_language])
    if knows_source:
        rows[f"source ({source_language})"] = caption_rows(run.model, collection.captions(split), features, item_ids,
                                                           return_ranks=return_ranks, item_emb=item_emb)
    native = collection.captions(split, language)
    mt_path = collection.caption_path(split, f"google_{language}2{source_tag}")
    translated = None
    if knows_source and mt_path.is_file():
        translated = align_translations(native, collection.captions(split, f"google_{language}2{source_tag}"),
                                        name="query translation")[1]
    protocol = query_translation_protocol(run.model, features, item_ids, native, translated,
                                          native_weights=(1.0, native_weight), return_ranks=return_ranks,
                                          item_emb=item_emb)
    rows[f"CM ({language})"] = protocol["native w=1"]
    if translated is not None:
        share = f"{native_weight:.1f}/{1 - native_weight:.1f}"
        rows[f"fused ({language}, {share})"] = protocol[f"native w={native_weight:g}"]
    return rows


def nrccr_do_all_metrics(settings, collection, features, config, run_root, source_tag: str = "enc"):
    """The ``nrccr`` branch of :func:`w2vvx.pipeline.run_do_all`: one cross-lingual model per target language.

    Trains (resumably) ``<run_root>/nrccr_<lang>`` for each target language and returns
    ``(metrics, ranked)``: rows ``source (<src>)`` (source-language queries through the first language's
    model, reference), ``CM (<lang>)`` (native queries) and ``fused (<lang>, 0.8/0.2)`` per language;
    ``ranked`` = ``{language: (row with ranks, caption keys)}`` of the source and CM rows (for
    :func:`w2vvx.evaluation.mrv.aligned_mrv`).

    Raises:
        TrainingStopped: Ctrl-C or SIGTERM interrupted a training: its last epoch is checkpointed, no
            further language is trained and nothing is evaluated (the same call resumes).
    """
    from pathlib import Path

    from w2vvx.evaluation.mrv import caption_keys
    from w2vvx.training.signals import TrainingStopped
    from w2vvx.training.trainer import load_run

    metrics: Dict[str, dict] = {}
    ranked: Dict[str, tuple] = {}
    for position, language in enumerate(settings.target_languages):
        run_dir = Path(run_root) / f"nrccr_{language}"
        trainer = nrccr_trainer_for_collection(collection, config, run_dir, features, language=language,
                                               source_tag=source_tag, seed=settings.seed, verbose=settings.verbose)
        result = trainer.fit(resume=True)
        if result.interrupted:
            logger.warning("%s interrupted after %d complete epochs; run the same command again to resume it",
                           run_dir, result.epochs_done)
            raise TrainingStopped(result.signal or "SIGINT")
        rows = evaluate_nrccr(load_run(run_dir), collection, features, "test", language, source_tag,
                              settings.source_language, return_ranks=True)
        source_key = f"source ({settings.source_language})"
        if position == 0 and source_key in rows:
            metrics[source_key] = rows[source_key]
            ranked[settings.source_language] = (rows[source_key], caption_keys(collection.captions("test")))
        ranked[language] = (rows[f"CM ({language})"], caption_keys(collection.captions("test", language)))
        metrics.update({key: value for key, value in rows.items() if key != source_key})
    return metrics, ranked
