"""Train a W2VV-family model the lineage's way, resumably.

:class:`Trainer` prepares the text side (vocabularies, word vectors, featurizer; see
:mod:`w2vvx.training.prepare`), builds and compiles the model from its :class:`ModelConfig`, and runs
``model.fit`` over a :class:`~w2vvx.datasets.batching.CaptionBatchDataset` with, after every epoch:
validation retrieval metrics, the best model kept as ``best.keras``, the W2VV learning-rate rule
(halve when the validation metric does not improve, each rate used at least
``config.lr_halving_patience`` epochs), early stopping after more than ``config.early_stop_patience``
bad epochs, a resumable checkpoint, ``history.csv``, ``training.png`` and (TensorFlow backend)
TensorBoard logs under ``logs/``.

CCRK's 1-to-K training (config loss ``"one_to_k"``, e.g. ``w2vv_1tok``): pass ``train_captions`` as
``{language: captions}`` with the K languages' captions aligned by item id and caption number (an English
caption ``<item>#enc#<n>`` and its translations ``<item>#enc2zh#<n>``); batches come from a
:class:`~w2vvx.datasets.batching.MultilingualBatchDataset` and the loss's K is set to the number of
languages. The text side (vocabularies, word vectors) is prepared on the captions of all languages.

Validation in several languages: pass ``val_captions`` as ``{language: captions}`` (any loss). The
selection metric is then the mean over the languages of the per-language metric, every ``val_*`` log is
such a mean, ``val_<language>_sumr`` (and ``val_<language>_<selection metric>``) keep the per-language
values, and CCRK's MRV (``val_t2i_mrv``, ``val_i2t_mrv``; lower = more consistent) is logged with two or
more languages.

Run folder layout::

    config.json  prepared/  checkpoints/epoch-NNNN/  best.keras  history.csv  training.png  logs/
    run.lock  provenance.json

One training at a time holds ``run.lock`` (a second one is refused, naming the holder), and
``provenance.json`` records what the run was trained on, checked by ``fit(resume=True)`` and
:func:`load_run` (see :mod:`w2vvx.training.run_dir`). SIGINT and SIGTERM stop training at a safe point.

Example:
    >>> from w2vvx.training import Trainer                                    # doctest: +SKIP
    >>> result = Trainer("base_w2vv", "runs/coco", train, features, val).fit()  # doctest: +SKIP
    >>> result = Trainer("base_w2vv", "runs/coco", train, features, val).fit(resume=True)  # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import keras
import numpy as np

from w2vvx.datasets.batching import (CaptionBatchDataset, EncodeDataset, MultilingualBatchDataset, caption_numbers,
                                     caption_pairs, featurize_captions)
from w2vvx.errors import ConfigError, MissingFileError, ResumeError
from w2vvx.io.captions import Caption
from w2vvx.models.retriever import predict_batches
from w2vvx.training.callbacks import (EpochSync, MultilingualRetrievalValidation,
                                      RetrievalValidation, RunRecorder, selection_key,
                                      set_learning_rate, tensorboard_callback)
from w2vvx.training.checkpoint import (BEST_MODEL, CHECKPOINT_DIR, TrainerState, latest_checkpoint,
                                       load_checkpoint, remove_stale_temporaries)
from w2vvx.training.distributed import ProcessGroup
from w2vvx.training.placement import check_precision, data_parallel, dtype_policy
from w2vvx.training.prepare import PREPARED_DIR, PreparedText, prepare_text
from w2vvx.training.schedules import learning_rate_schedule
from w2vvx.training.signals import GracefulStop, TrainingStopped
from w2vvx.training.run_dir import (RunDirLock, check_loaded_run, check_resume_provenance, data_provenance,
                                    record_provenance, record_vocabulary)

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
#: Fewer validation items make model selection meaningless: R@10 is 100 for any model below 11 items,
#: R@5 below 6, and one item moves every metric by 10 points or more (with one item every metric is 100).
MIN_VALIDATION_ITEMS = 10
#: Config fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ("max_epochs", "early_stop_patience")


@dataclasses.dataclass
class TrainingResult:
    """What :meth:`Trainer.fit` reports.

    Attributes:
        run_dir: the run folder (``best.keras`` holds the selected model).
        monitor: the validation log key used for selection (e.g. ``"val_i2t_map"``).
        best_metric, best_epoch: the best validation value and its 0-based epoch.
        epochs_done: completed epochs.
        stopped_early: the early-stopping rule ended the run.
        interrupted: Ctrl-C or SIGTERM stopped the run; resume it with ``fit(resume=True)``.
        history: one dict per epoch (loss, lr, val_* metrics).
        signal: ``"SIGINT"`` or ``"SIGTERM"`` when interrupted.
    """

    run_dir: Path
    monitor: str
    best_metric: Optional[float]
    best_epoch: int
    epochs_done: int
    stopped_early: bool
    interrupted: bool
    history: List[Dict[str, float]]
    signal: Optional[str] = None


def _resolve_config(config):
    from w2vvx.models.configs import ModelConfig, get_config

    if isinstance(config, str):
        return get_config(config)
    if isinstance(config, ModelConfig):
        return config
    raise ConfigError(f"config must be a config name or a ModelConfig, got {type(config).__name__}")


def text_preprocessor(prepared: PreparedText):
    """The :class:`~w2vvx.models.W2VVPreprocessor` of the prepared vocabularies (saved inside ``best.keras``)."""
    from w2vvx.models import W2VVPreprocessor

    return W2VVPreprocessor(prepared.gru_vocab, prepared.bow_vocab, languages=prepared.languages,
                            default_language=prepared.default_language, maxlen=prepared.maxlen)


def build_compiled_model(config, prepared: PreparedText, visual_dim: int, frames: bool = False):
    """Build the retriever of ``config`` for the prepared vocabularies (its preprocessor), compiled."""
    from w2vvx.models import build_model

    return build_model(config, gru_vocab_size=len(prepared.gru_vocab), bow_vocab_size=len(prepared.bow_vocab),
                       visual_dim=int(visual_dim), frames=frames, preprocessor=text_preprocessor(prepared),
                       word_vectors={"tokens": prepared.gru_embedding, "bow_tokens": prepared.w2v_embedding})


def config_for_word_vectors(config, prepared: PreparedText):
    """Set ``embed_dim``/``w2v_dim`` to the word-vector dimension (as W2VV: embed size = word2vec size)."""
    dim = int(prepared.gru_embedding.shape[1])
    if config.embed_dim != dim or config.w2v_dim != dim:
        logger.info("word vectors have %d dimensions: embed_dim and w2v_dim set to %d (config had %d/%d)",
                    dim, dim, config.embed_dim, config.w2v_dim)
        config = config.replace(embed_dim=dim, w2v_dim=dim)
    return config


def enable_determinism() -> None:
    """Ask the backend for deterministic kernels (process-wide; slower on GPU)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)


def _visual_shape(features, item_id: str):
    """``(D, frames)``: the feature dimension and whether items are ``(T, D)`` frame sequences."""
    if hasattr(features, "ndims"):
        return int(features.ndims), False
    sample = np.asarray(features([item_id]))
    return int(sample.shape[-1]), sample.ndim == 3


def _language_captions(captions_by_language, what: str) -> Dict[str, list]:
    """``{language: captions}`` with a language tag on every caption (untagged ones get the key as tag).

    Captions read from files keep their tags (``enc2zh`` ...); ``(item_id, text)`` pairs and untagged
    Captions become ``Caption("<item>#<key>#<n>", item, key, n, text)``, so the featurizer and the
    vocabulary builder tokenize them as language ``key``.
    """
    from w2vvx.text.tokenizers import language_of_tag

    out = {}
    for key, captions in captions_by_language.items():
        captions = list(captions)
        if not captions:
            raise ConfigError(f"no {what} captions for language {key!r}")
        untagged = [caption for caption in captions if not getattr(caption, "tag", None)]
        if untagged:
            try:
                language_of_tag(str(key))
            except ConfigError:
                raise ConfigError(f"{what} captions of {key!r} have no language tag and {key!r} is not a language "
                                  "code; key the mapping by language (en, zh, de, ...) or pass tagged captions "
                                  "(read_captions of <item>#<tag>#<n> lines)") from None
            numbers = caption_numbers(captions)
            captions = [caption if getattr(caption, "tag", None) else
                        Caption(f"{item}#{key}#{number}", item, str(key), int(number), text)
                        for caption, (item, text), number in zip(captions, caption_pairs(captions), numbers)]
        out[str(key)] = captions
    return out


class Trainer:
    """Train one model on a collection; see the module docstring for what happens each epoch.

    Args:
        config: a config name (``"base_w2vv"``, ``"w2vv_attention_ctl"``, ``"w2vvpp"`` ...) or a ``ModelConfig``.
        run_dir: the run folder (created).
        train_captions: training ``w2vvx.io.Caption`` list (or ``(item_id, text)`` pairs); for the
            ``"one_to_k"`` loss (and only for it) ``{language: captions}`` with K >= 2 languages aligned
            by item id and caption number (see the module docstring).
        features: the visual features of the training items: a ``w2vvx.io.BigFile`` or a callable
            ``item_ids -> array``.
        val_captions: validation captions, or ``{language: captions}`` to validate in several
            languages (metrics averaged over languages, MRV logged; see the module docstring).
        val_features: features of the validation items (default: ``features``).
        val_items: validation item ids (default: the items of ``val_captions``, in first-seen order).
        word_vectors: pretrained vectors (path or loaded) or ``None`` to train word2vec on the training captions.
        trusted: allow pickle-based gensim word-vector files.
        default_language: language of captions without a tag.
        seed: seeds Keras (weights, dropout) and the batches.
        verbose: Keras progress bar (0 silent, 1 bar, 2 one line per epoch).
        tensorboard: write TensorBoard logs under ``run_dir/logs`` (TensorFlow backend only).
        deterministic: request deterministic kernels (see :func:`enable_determinism`).
        max_epochs: override ``config.max_epochs``.
        steps_per_epoch: override ``ceil(#sentences / batch_size)`` (quick experiments).
        eval_batch_size: batch size of validation encoding.
        overwrite: start again in a ``run_dir`` that already holds a checkpoint (deletes it).
        callbacks: extra Keras callbacks, run after the trainer's own (they see the ``val_*`` logs).
        min_val_items: the smallest validation split accepted (default :data:`MIN_VALIDATION_ITEMS`; at
            least 2), since selection on fewer items is meaningless.
        precision: ``"float32"`` (default), ``"mixed_bfloat16"`` or ``"mixed_float16"``: the Keras dtype
            policy of the model's layers (weights stay float32); see :mod:`w2vvx.training.placement`.
        devices: ``None`` (one device), ``"all"`` or a list of device names: split each batch across
            them, data parallel, negatives from the global batch (JAX/TensorFlow backends).

    Under ``torchrun`` (torch backend), each process trains one replica on its slice of every batch,
    with negatives from the global batch, and only process 0 writes the run folder; see
    :mod:`w2vvx.training.distributed`.
    """

    def __init__(self, config, run_dir, train_captions, features, val_captions, val_features=None,
                 val_items: Optional[Sequence[str]] = None, word_vectors=None, trusted: bool = False,
                 default_language: str = "en", seed: int = 0, verbose: int = 1, tensorboard: bool = True,
                 deterministic: bool = False, max_epochs: Optional[int] = None,
                 steps_per_epoch: Optional[int] = None, eval_batch_size: int = 500, overwrite: bool = False,
                 callbacks: Sequence[keras.callbacks.Callback] = (), min_val_items: int = MIN_VALIDATION_ITEMS,
                 precision: str = "float32", devices=None):
        config = _resolve_config(config)
        self.precision = check_precision(precision)
        self.devices = devices
        if max_epochs is not None:
            config = config.replace(max_epochs=max_epochs)
        self.train_by_language: Optional[Dict[str, list]] = None
        if config.loss == "one_to_k":
            if not isinstance(train_captions, Mapping):
                raise ConfigError(
                    f"config {config.name!r} trains with the one_to_k loss (CCRK), which needs every item's captions "
                    "in K languages: pass train_captions={language: captions} (e.g. {'en': ..., 'zh': ..., "
                    "'de': ...}, aligned by item id and caption number), not one flat caption list "
                    "(CLI: --train-variants ,google_enc2zh,google_enc2de)")
            if len(train_captions) < 2:
                raise ConfigError(f"the one_to_k loss needs captions in at least 2 languages, got "
                                  f"{list(train_captions)}")
            self.train_by_language = _language_captions(train_captions, "training")
            num_languages = len(self.train_by_language)
            if config.loss_kwargs.get("num_captions") != num_languages:
                logger.info("one_to_k loss: K set to %d (languages %s)", num_languages, list(self.train_by_language))
                config = config.replace(loss_kwargs={**config.loss_kwargs, "num_captions": num_languages})
            self.train_captions = [caption for captions in self.train_by_language.values() for caption in captions]
        elif isinstance(train_captions, Mapping):
            raise ConfigError(
                f"train_captions per language ({list(train_captions)}) are for the one_to_k loss (config "
                f"'w2vv_1tok'); config {config.name!r} uses the {config.loss!r} loss: pass one caption list "
                "(concatenate the languages to train on all of them)")
        else:
            self.train_captions = list(train_captions)
        self.config = config
        self.run_dir = Path(run_dir)
        if not self.train_captions:
            raise ConfigError("no training captions given")
        if isinstance(val_captions, Mapping):
            if not val_captions:
                raise ConfigError("no validation languages given")
            self.val_by_language: Optional[Dict[str, list]] = _language_captions(val_captions, "validation")
            self.val_captions = [caption for captions in self.val_by_language.values() for caption in captions]
        else:
            self.val_by_language = None
            self.val_captions = list(val_captions)
        if not self.val_captions:
            raise ConfigError("no validation captions given; the lineage selects the model on a validation split")
        self.features = features
        self.val_features = features if val_features is None else val_features
        self.val_text_item_ids = [item for item, _ in caption_pairs(self.val_captions)]
        self.val_items = list(dict.fromkeys(self.val_text_item_ids)) if val_items is None else list(val_items)
        if len(self.val_items) < max(int(min_val_items), 2):
            raise ConfigError(
                f"the validation split has {len(self.val_items)} item(s); model selection on fewer than "
                f"{max(int(min_val_items), 2)} is meaningless (with one item every metric is 100 every epoch, so the "
                "learning rate is halved and epoch 1 kept; below 11 items R@10 is 100 for any model). Use a "
                f"larger validation split, or pass min_val_items= (at least 2; default {MIN_VALIDATION_ITEMS}) "
                "to accept a small one knowingly")
        self.word_vectors = word_vectors
        self.trusted = trusted
        self.default_language = default_language
        if not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = seed
        self.verbose = verbose
        self.tensorboard = tensorboard
        self.deterministic = deterministic
        self.steps_per_epoch = steps_per_epoch
        self.eval_batch_size = eval_batch_size
        self.overwrite = overwrite
        self.extra_callbacks = list(callbacks)
        self.monitor = "val_" + selection_key(config.selection_metric)
        self.model = None
        self.prepared: Optional[PreparedText] = None
        self.state: Optional[TrainerState] = None
        self.process_group: Optional[ProcessGroup] = None

    # -- setup ---------------------------------------------------------------------------------------
    def _check_run_dir(self, resume: bool) -> Optional[Path]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if getattr(self, "_run_lock", None) is None:
            self._run_lock = RunDirLock(self.run_dir)
        self._run_lock.acquire()  # one training per run folder (RunLockedError names the holder)
        remove_stale_temporaries(self.run_dir)
        checkpoint = latest_checkpoint(self.run_dir)
        if checkpoint is None:
            if resume:
                logger.info("%s has no checkpoint yet; starting from epoch 1", self.run_dir)
            return None
        if resume:
            check_resume_provenance(self.run_dir, self._data_provenance())
            return checkpoint
        if not self.overwrite:
            raise ResumeError(
                f"{self.run_dir} already holds a training checkpoint ({checkpoint.name}); resume it with "
                "Trainer.fit(resume=True) (CLI: --resume), pick another run folder, or pass overwrite=True "
                "(CLI: --overwrite) to start again")
        for name in (CHECKPOINT_DIR, PREPARED_DIR, "logs"):
            shutil.rmtree(self.run_dir / name, ignore_errors=True)
        for name in (BEST_MODEL, "history.csv", "training.png"):
            (self.run_dir / name).unlink(missing_ok=True)
        return None

    def _check_same_config(self) -> None:
        from w2vvx.models.configs import ModelConfig

        config_path = self.run_dir / CONFIG_FILE
        if not config_path.is_file():
            raise ResumeError(f"{config_path} is missing, so the checkpoint cannot be matched to a config; "
                              "start a new run folder")
        stored = ModelConfig.load(config_path).to_dict()
        current = self.config.to_dict()
        changed = sorted(key for key in current
                         if key not in RESUMABLE_CHANGES and stored.get(key) != current[key])
        if changed:
            details = ", ".join(f"{key}: {stored.get(key)!r} -> {current[key]!r}" for key in changed)
            raise ResumeError(f"{self.run_dir} was trained with another config ({details}); resume with the "
                              "same config or start a new run folder")

    def _prepare(self, resume: bool) -> PreparedText:
        if resume and (self.run_dir / PREPARED_DIR).is_dir():
            return PreparedText.load(self.run_dir)
        prepared = prepare_text(self.train_captions, word_vectors=self.word_vectors, dim=self.config.embed_dim,
                                min_count=self.config.vocab_min_count, maxlen=self.config.maxlen,
                                default_language=self.default_language, seed=self.seed, trusted=self.trusted)
        prepared.save(self.run_dir, overwrite=True)
        return prepared

    def _validation_encoder(self, featurizer):
        item_batches = EncodeDataset.from_features(self.val_features, self.val_items, batch_size=self.eval_batch_size)
        if self.val_by_language is not None:
            text_batches = {language: EncodeDataset(featurize_captions(featurizer, captions),
                                                    batch_size=self.eval_batch_size)
                            for language, captions in self.val_by_language.items()}

            def encode_languages(model):
                return ({language: predict_batches(model.text_encoder, batches)
                         for language, batches in text_batches.items()},
                        predict_batches(model.visual_encoder, item_batches))

            return encode_languages
        text_inputs = featurize_captions(featurizer, self.val_captions)
        text_batches = EncodeDataset(text_inputs, batch_size=self.eval_batch_size)

        def encode(model):
            return (predict_batches(model.text_encoder, text_batches),
                    predict_batches(model.visual_encoder, item_batches))

        return encode

    def _validation_callback(self, featurizer) -> keras.callbacks.Callback:
        encode = self._validation_encoder(featurizer)
        if self.val_by_language is None:
            return RetrievalValidation(encode, self.val_text_item_ids, self.val_items)
        item_ids = {language: [item for item, _ in caption_pairs(captions)]
                    for language, captions in self.val_by_language.items()}
        keys = {language: [(item, int(number)) for item, number in zip(item_ids[language], caption_numbers(captions))]
                for language, captions in self.val_by_language.items()}
        language_keys = tuple(dict.fromkeys(("sumr", selection_key(self.config.selection_metric))))
        return MultilingualRetrievalValidation(encode, item_ids, self.val_items, text_keys=keys,
                                               language_keys=language_keys)

    def _build_model(self, visual_dim: int, frames: bool):
        """The compiled model of ``self.config`` (subclasses such as the NRCCR trainer build another)."""
        with dtype_policy(self.precision):
            return build_compiled_model(self.config, self.prepared, visual_dim, frames=frames)

    def _training_batches(self, featurizer):
        config = self.config
        if self.train_by_language is not None:
            return MultilingualBatchDataset(self.train_by_language, featurizer, self.features,
                                            batch_size=config.batch_size, seed=self.seed,
                                            steps_per_epoch=self.steps_per_epoch, sampling=config.sampling)
        return CaptionBatchDataset(self.train_captions, featurizer, self.features, batch_size=config.batch_size,
                                   seed=self.seed, negatives=config.loss == "ctl",
                                   steps_per_epoch=self.steps_per_epoch, sampling=config.sampling)

    def _data_provenance(self) -> dict:
        return data_provenance(self.train_by_language or self.train_captions,
                               self.val_by_language or self.val_captions, self.features, self.val_features,
                               self.word_vectors)

    def setup(self, resume: bool = False):
        """Prepare the text side, build and compile the model, restore a checkpoint when resuming.

        Takes the run folder's lock (:class:`~w2vvx.training.run_dir.RunDirLock`), held until :meth:`fit`
        returns or :meth:`close` is called.
        """
        try:
            with data_parallel(self.devices):
                return self._setup(resume)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the run folder's lock (``fit`` does this when it returns) and leave a torchrun process group."""
        lock = getattr(self, "_run_lock", None)
        if lock is not None:
            lock.release()
        if self.process_group is not None:
            self.process_group.close()
            self.process_group = None

    def _check_finite_features(self) -> None:
        """Refuse NaN/Inf feature rows of the training and validation items before the first batch."""
        if hasattr(self.features, "check_finite"):
            self.features.check_finite(item for item, _ in caption_pairs(self.train_captions))
        if hasattr(self.val_features, "check_finite"):
            self.val_features.check_finite(self.val_items)

    def _setup(self, resume: bool):
        group = self.process_group = self.process_group or ProcessGroup.join()
        if group is not None and not group.is_main:  # process 0 prepares the run folder; read what it wrote
            if self.deterministic:
                enable_determinism()
            keras.utils.set_random_seed(self.seed)
            checkpoint = group.share_outcome(None)
            self.prepared = PreparedText.load(self.run_dir)
            self.config = config_for_word_vectors(self.config, self.prepared)
        else:
            try:
                checkpoint = self._setup_run_dir(resume)
            except BaseException as error:
                if group is not None:
                    group.share_outcome(error)
                raise
            if group is not None:
                group.share_outcome(checkpoint)
        visual_dim, frames = _visual_shape(self.features, caption_pairs(self.train_captions[:1])[0][0])
        self.model = self._build_model(visual_dim, frames)
        self.state = TrainerState(lr=float(self.config.learning_rate), config=self.config.to_dict(), seed=self.seed)
        if checkpoint is not None:
            self.state = load_checkpoint(checkpoint, self.model)
            self.state.config = self.config.to_dict()
            set_learning_rate(self.model, self.state.lr)
            if group is None or group.is_main:
                self._rewrite_history_files()
            logger.info("resuming %s after epoch %d (best %s = %s at epoch %d, lr %.3g)", self.run_dir,
                        self.state.epochs_done, self.monitor, self.state.best_metric, self.state.best_epoch + 1,
                        self.state.lr)
        if group is not None:
            group.distribute(self.model)
        return self.model

    def _setup_run_dir(self, resume: bool):
        """Lock, provenance, vocabularies and config in the run folder; the checkpoint to resume (or None)."""
        checkpoint = self._check_run_dir(resume)
        self._check_finite_features()
        if self.deterministic:
            enable_determinism()
        keras.utils.set_random_seed(self.seed)
        if checkpoint is None:
            record_provenance(self.run_dir, self._data_provenance())
        self.prepared = self._prepare(resume=checkpoint is not None)
        if checkpoint is None:
            record_vocabulary(self.run_dir, PREPARED_DIR)
        self.config = config_for_word_vectors(self.config, self.prepared)
        if checkpoint is not None:
            self._check_same_config()
        self.config.save(self.run_dir / CONFIG_FILE)
        return checkpoint

    def _rewrite_history_files(self) -> None:
        """Make history.csv and training.png agree with the restored checkpoint (a kill may have left older ones)."""
        from w2vvx.training.callbacks import write_history_csv
        from w2vvx.training.plots import plot_history

        if self.state.history:
            write_history_csv(self.run_dir / "history.csv", self.state.history)
            plot_history(self.state.history, self.run_dir / "training.png", metric=self.monitor)

    # -- training ------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainingResult:
        """Train until ``max_epochs`` or early stop; ``resume=True`` continues from the last checkpoint.

        SIGINT (Ctrl-C) and SIGTERM stop the run at a safe point (see
        :class:`~w2vvx.training.signals.GracefulStop`); the result then says ``interrupted``.
        """
        stop = GracefulStop()
        try:
            with stop, data_parallel(self.devices):
                return self._fit(resume, stop)
        except TrainingStopped as stopped:  # the signal arrived while preparing, before the loop
            return self._interrupted(stopped.signal_name)
        finally:
            self.close()

    def _interrupted(self, signal_name: str) -> TrainingResult:
        done = self.state.epochs_done if self.state is not None else 0
        logger.warning("interrupted after %d complete epochs (%s); the checkpoint of epoch %d is intact. Resume "
                       "with Trainer(...).fit(resume=True) or `w2vvx train ... --resume` on %s",
                       done, signal_name, done, self.run_dir)
        if self.state is None:
            return TrainingResult(self.run_dir, self.monitor, None, -1, 0, False, True, [], signal_name)
        return self._result(True, signal_name)

    def _fit(self, resume: bool, stop) -> TrainingResult:
        self.setup(resume=resume)
        state, config = self.state, self.config
        self.monitor = "val_" + selection_key(config.selection_metric)
        interrupted = False
        if state.stopped_early or state.epochs_done >= config.max_epochs:
            logger.info("%s is already finished (%d epochs%s)", self.run_dir, state.epochs_done,
                        ", early stop" if state.stopped_early else "")
            return self._result(interrupted)
        featurizer = self.prepared.featurizer
        dataset = self._training_batches(featurizer)
        dataset.set_epoch(state.epochs_done)
        group = self.process_group
        writer = group is None or group.is_main  # under torchrun only process 0 validates and writes
        callbacks = [
            stop,
            EpochSync(dataset, seed=self.seed),
            *([self._validation_callback(featurizer)] if writer else []),
            *([group.callback(self.seed)] if group is not None else []),
            learning_rate_schedule(config, state, self.monitor, run_dir=self.run_dir if writer else None),
            RunRecorder(state, self.run_dir if writer else None, self.monitor),
        ]
        if group is not None:
            dataset = group.shard(dataset)
        if self.tensorboard and writer:
            board = tensorboard_callback(self.run_dir / "logs")
            if board is not None:
                callbacks.append(board)
        callbacks.extend(self.extra_callbacks)
        try:
            # shuffle=False: the dataset samples its own batches; Keras's shuffle would reorder them with
            # Python's global random state, which a resumed run cannot reproduce.
            with group.failures() if group is not None else contextlib.nullcontext():
                self.model.fit(dataset, epochs=config.max_epochs, initial_epoch=state.epochs_done, shuffle=False,
                               verbose=self.verbose if writer else 0, callbacks=callbacks)
        except KeyboardInterrupt as stopped:
            return self._interrupted(getattr(stopped, "signal_name", "SIGINT"))
        if stop.received is not None:  # arrived after the last batch boundary: the run is complete anyway
            return self._interrupted(stop.received)
        return self._result(interrupted)

    def _result(self, interrupted: bool, signal_name: Optional[str] = None) -> TrainingResult:
        state = self.state
        return TrainingResult(self.run_dir, self.monitor, state.best_metric, state.best_epoch, state.epochs_done,
                              state.stopped_early, interrupted, list(state.history), signal_name)


@dataclasses.dataclass
class LoadedRun:
    """A trained run: the selected model, its featurizer, config and prepared text."""

    model: keras.Model
    featurizer: object
    config: object
    prepared: PreparedText
    run_dir: Path


def load_run(run_dir, checkpoint: str = BEST_MODEL) -> LoadedRun:
    """Load the best model of a run (``keras.saving.load_model`` with ``safe_mode=True``) and its text side.

    Example:
        >>> run = load_run("runs/coco")                                          # doctest: +SKIP
        >>> emb = run.model.encode_text(["a dog runs"], language="en")          # doctest: +SKIP
    """
    import w2vvx.models  # noqa: F401  (registers the serializable layers, losses and models)
    from w2vvx.models.configs import ModelConfig

    run_dir = Path(run_dir)
    model_path = run_dir / checkpoint
    if not model_path.is_file():
        raise MissingFileError("no trained model in this run folder; train it first (w2vvx train) or check the path",
                               path=model_path)
    check_loaded_run(run_dir, checkpoint, PREPARED_DIR)  # a best.keras or vocabulary from elsewhere is refused
    config = ModelConfig.load(run_dir / CONFIG_FILE)
    prepared = PreparedText.load(run_dir)
    from w2vvx.io.archives import load_keras_model
    from w2vvx.models import Retriever

    model = load_keras_model(model_path, expected_class=Retriever)  # safe_mode=True, clear errors
    return LoadedRun(model, prepared.featurizer, config, prepared, run_dir)
