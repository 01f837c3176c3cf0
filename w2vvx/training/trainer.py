"""Train a W2VV-family model the lineage's way, resumably.

:class:`Trainer` prepares the text side (vocabularies, word vectors, the model's preprocessor; see
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
languages (:func:`one_to_k_config`). The text side (vocabularies, word vectors) is prepared on the captions
of all languages.

Validation in several languages: pass ``val_captions`` as ``{language: captions}`` (any loss). The
selection metric is then the mean over the languages of the per-language metric, every ``val_*`` log is
such a mean, ``val_<language>_sumr`` (and ``val_<language>_<selection metric>``) keep the per-language
values, and CCRK's MRV (``val_t2i_mrv``, ``val_i2t_mrv``; lower = more consistent) is logged with two or
more languages.

The text pipeline: the trainer builds the vocabularies from the training captions
(:mod:`w2vvx.training.prepare`) into the model's :class:`~w2vvx.models.W2VVPreprocessor`, and the training
batches, the validation captions and, after training, ``encode_text`` all go through that preprocessor
(``model.preprocessor``), which ``best.keras`` carries with its vocabularies.

The run folder (:mod:`w2vvx.training.run_folder`): ``config.json``, ``checkpoints/``, ``best.keras``,
``history.csv``, ``training.png``, ``logs/``, ``run.lock`` (one training at a time) and ``provenance.json``
(what the run was trained on, checked by ``fit(resume=True)`` and :func:`load_run`). SIGINT and SIGTERM
stop training at a safe point.

Example:
    >>> from w2vvx.training import Trainer                                    # doctest: +SKIP
    >>> result = Trainer("base_w2vv", "runs/coco", train, features, val).fit()  # doctest: +SKIP
    >>> result = Trainer("base_w2vv", "runs/coco", train, features, val).fit(resume=True)  # doctest: +SKIP
    >>> Trainer("base_w2vv", "runs/coco", [("a", "a dog")], None, [], size="huge")
    Traceback (most recent call last):
    ...
    w2vvx.errors.ConfigError: size must be one of ['lineage', 'small', 'tiny', 'smoke'], got 'huge'
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import keras

from w2vvx.datasets.batching import CaptionBatchDataset, MultilingualBatchDataset, caption_pairs
from w2vvx.errors import ConfigError
from w2vvx.training.callbacks import EpochSync, RunRecorder, selection_key, set_learning_rate, tensorboard_callback
from w2vvx.training.checkpoint import BEST_MODEL, TrainerState, load_checkpoint
from w2vvx.training.distributed import ProcessGroup
from w2vvx.training.hosts import HostGroup
from w2vvx.training.placement import enable_determinism
from w2vvx.training.placement import check_precision, data_parallel, dtype_policy, matmul_mode
from w2vvx.training.prepare import PreparedText, prepare_text, prepare_vocabularies
from w2vvx.training.provenance import (check_resume_vocabularies, data_provenance, record_provenance,
                                       record_vocabularies)
from w2vvx.training.run_folder import (CONFIG_FILE, RESUMABLE_CHANGES, LoadedRun, load_run, open_run_folder,
                                       resumed_config, rewrite_history_files)
from w2vvx.training.run_data import (MIN_VALIDATION_ITEMS, one_to_k_config, training_captions, validation_captions,
                                     validation_items, visual_shape)
from w2vvx.training.run_lock import RunDirLock
from w2vvx.training.schedules import learning_rate_schedule
from w2vvx.training.signals import GracefulStop, TrainingStopped
from w2vvx.training import validation

logger = logging.getLogger(__name__)

# run-folder names, importable from here as before
__all__ = ["BEST_MODEL", "CONFIG_FILE", "MIN_VALIDATION_ITEMS", "RESUMABLE_CHANGES", "LoadedRun", "Trainer",
           "TrainingResult", "build_compiled_model", "config_for_word_vectors", "enable_determinism", "load_run",
           "one_to_k_config"]


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


def _resolve_config(config, size: Optional[str]):
    """A ``ModelConfig`` from a config name at ``size`` (default: the CLI's, ``small``), or one given as is."""
    from w2vvx.models.configs import ModelConfig
    from w2vvx.models.sizes import DEFAULT_SIZE, size_cost, sized_config

    if isinstance(config, str):
        size = DEFAULT_SIZE if size is None else size
        resolved = sized_config(config, size)  # refuses an unknown name or size, listing the known ones
        logger.info("training %s at size %r (%s)", config, size, size_cost(size))
        return resolved
    if isinstance(config, ModelConfig):
        if size is not None:
            raise ConfigError(f"size={size!r} applies to a config name; this ModelConfig {config.name!r} already "
                              f"has its sizes. Pass the name, or sized_config(config, {size!r}) "
                              "(w2vvx.models.sizes)")
        return config
    raise ConfigError(f"config must be a config name or a ModelConfig, got {type(config).__name__}")


def build_compiled_model(config, preprocessor, visual_dim: int, frames: bool = False, word_vectors=None):
    """Build the compiled retriever of ``config`` around ``preprocessor`` (its vocabularies size the embeddings).

    Args:
        config: a ``ModelConfig``.
        preprocessor: the run's :class:`~w2vvx.models.W2VVPreprocessor`; the model carries it (and saves
            its vocabularies in ``best.keras``).
        visual_dim: the feature dimension D; ``frames``: items are ``(T, D)`` frame sequences.
        word_vectors: initial embeddings ``{"tokens": ..., "bow_tokens": ...}``
            (:meth:`~w2vvx.training.prepare.PreparedText.initial_word_vectors`), or ``None``.
    """
    from w2vvx.models import build_model

    return build_model(config, gru_vocab_size=len(preprocessor.gru_vocab), bow_vocab_size=len(preprocessor.bow_vocab),
                       visual_dim=int(visual_dim), frames=frames, preprocessor=preprocessor, word_vectors=word_vectors)


def config_for_word_vectors(config, prepared: PreparedText):
    """Set ``embed_dim``/``w2v_dim`` to the word-vector dimension (as W2VV: embed size = word2vec size)."""
    dim = int(prepared.gru_embedding.shape[1])
    if config.embed_dim != dim or config.w2v_dim != dim:
        logger.info("word vectors have %d dimensions: embed_dim and w2v_dim set to %d (config had %d/%d)",
                    dim, dim, config.embed_dim, config.w2v_dim)
        config = config.replace(embed_dim=dim, w2v_dim=dim)
    return config


class Trainer:
    """Train one model on a collection; see the module docstring for what happens each epoch.

    Args:
        config: a config name (``"base_w2vv"``, ``"w2vv_attention_ctl"``, ``"w2vvpp"`` ...), trained at
            ``size``, or a ``ModelConfig`` (used as given).
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
        precision: ``"float32"`` (default), ``"tf32"`` (float32 with TensorFloat-32 matrix products on
            a GPU, on every backend), ``"mixed_bfloat16"`` or ``"mixed_float16"``: the Keras dtype
            policy of the model's layers (weights stay float32); see :mod:`w2vvx.training.placement`.
        devices: ``None`` (one device), ``"all"`` or a list of device names: split each batch across
            them, data parallel, negatives from the global batch (JAX/TensorFlow backends).
        size: the model size of a config name (:mod:`w2vvx.models.sizes`): ``"small"`` when not given, as
            ``w2vvx train`` (minutes on a 2-core CPU); ``"lineage"`` keeps the published sizes (hours on a
            CPU); ``"tiny"`` and ``"smoke"`` for tests. The chosen size is logged. Refused with a ``ModelConfig``.

    Under ``torchrun`` (torch backend), each process trains one replica on its slice of every batch,
    with negatives from the global batch, and only process 0 writes the run folder; see
    :mod:`w2vvx.training.distributed`. On several JAX processes (:func:`~w2vvx.training.hosts.initialize_hosts`)
    the model trains as one program over the devices of all of them, each feeding its slice of every
    batch, and again only process 0 writes; see :mod:`w2vvx.training.hosts`.
    """

    def __init__(self, config, run_dir, train_captions, features, val_captions, val_features=None,
                 val_items: Optional[Sequence[str]] = None, word_vectors=None, trusted: bool = False,
                 default_language: str = "en", seed: int = 0, verbose: int = 1, tensorboard: bool = True,
                 deterministic: bool = False, max_epochs: Optional[int] = None,
                 steps_per_epoch: Optional[int] = None, eval_batch_size: int = 500, overwrite: bool = False,
                 callbacks: Sequence[keras.callbacks.Callback] = (), min_val_items: int = MIN_VALIDATION_ITEMS,
                 precision: str = "float32", devices=None, size: Optional[str] = None):
        config = _resolve_config(config, size)
        self.precision = check_precision(precision)
        self.devices = devices
        if max_epochs is not None:
            config = config.replace(max_epochs=max_epochs)
        config, self.train_captions, self.train_by_language = training_captions(config, train_captions)
        self.config = config
        self.run_dir = Path(run_dir)
        self.val_captions, self.val_by_language = validation_captions(val_captions)
        self.features = features
        self.val_features = features if val_features is None else val_features
        self.val_text_item_ids = [item for item, _ in caption_pairs(self.val_captions)]
        self.val_items = validation_items(self.val_text_item_ids, val_items, min_val_items)
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
        self.preprocessor = None  # the run's W2VVPreprocessor (setup builds it; the model carries it)
        self.state: Optional[TrainerState] = None
        self.process_group: Optional[ProcessGroup] = None

    # -- setup ---------------------------------------------------------------------------------------
    def _prepare(self, resume: bool) -> PreparedText:
        """The text side: vocabularies and word vectors, or (resuming) the vocabularies alone."""
        if resume:  # the checkpoint restores every weight: no word vectors to load or train
            return prepare_vocabularies(self.train_captions, min_count=self.config.vocab_min_count,
                                        maxlen=self.config.maxlen, default_language=self.default_language)
        return prepare_text(self.train_captions, word_vectors=self.word_vectors, dim=self.config.embed_dim,
                            min_count=self.config.vocab_min_count, maxlen=self.config.maxlen,
                            default_language=self.default_language, seed=self.seed, trusted=self.trusted)

    def _build_model(self, visual_dim: int, frames: bool):
        """The compiled model of ``self.config`` around ``self.preprocessor`` (the NRCCR trainer builds another)."""
        with dtype_policy(self.precision):
            return build_compiled_model(self.config, self.preprocessor, visual_dim, frames=frames,
                                        word_vectors=self.prepared.initial_word_vectors())

    def training_batches(self):
        """The training batches, tokenised by the model's preprocessor (the pipeline ``best.keras`` carries)."""
        config, preprocessor = self.config, self.model.preprocessor
        if self.train_by_language is not None:
            return MultilingualBatchDataset(self.train_by_language, preprocessor, self.features,
                                            batch_size=config.batch_size, seed=self.seed,
                                            steps_per_epoch=self.steps_per_epoch, sampling=config.sampling)
        return CaptionBatchDataset(self.train_captions, preprocessor, self.features, batch_size=config.batch_size,
                                   seed=self.seed, negatives=config.loss == "ctl",
                                   steps_per_epoch=self.steps_per_epoch, sampling=config.sampling)

    def validation_callback(self) -> keras.callbacks.Callback:
        """Per-epoch validation of ``self.model`` (its preprocessor tokenises the validation captions)."""
        return validation.validation_callback(self.model, self.val_captions, self.val_features, self.val_items,
                                              self.config.selection_metric, self.val_by_language,
                                              self.eval_batch_size)

    def epoch_diagnostics(self, dataset) -> List[keras.callbacks.Callback]:
        """Callbacks that add diagnostic columns to every epoch's logs (``history.csv``) of a fit over ``dataset``."""
        return []

    def _preprocessor(self):
        """The run's preprocessor; with the word-vector vocabulary only when the config reads it."""
        return self.prepared.preprocessor(with_w2v_vocab=self.config.w2v_words != "bow")

    def _data_provenance(self) -> dict:
        return data_provenance(self.train_by_language or self.train_captions,
                               self.val_by_language or self.val_captions, self.features, self.val_features,
                               self.word_vectors)

    def setup(self, resume: bool = False):
        """Prepare the text side, build and compile the model, restore a checkpoint when resuming.

        Takes the run folder's lock (:class:`~w2vvx.training.run_lock.RunDirLock`), held until :meth:`fit`
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
        group = self.process_group = self.process_group or ProcessGroup.join() or HostGroup.join()
        if group is not None and not group.is_main:  # process 0 prepares the run folder; read what it wrote
            from w2vvx.models.configs import ModelConfig

            if self.deterministic:
                enable_determinism()
            keras.utils.set_random_seed(self.seed)
            checkpoint = group.share_outcome(None)
            self.prepared = self._prepare(resume=True)  # the weights come from process 0
            if checkpoint is None:
                self.prepared = group.share_word_vectors(self.prepared)
            self.preprocessor = self._preprocessor()
            self.config = ModelConfig.load(self.run_dir / CONFIG_FILE)
        else:
            try:
                checkpoint = self._setup_run_dir(resume)
            except BaseException as error:
                if group is not None:
                    group.share_outcome(error)
                raise
            if group is not None:
                group.share_outcome(checkpoint)
                if checkpoint is None:
                    group.share_word_vectors(self.prepared)
        visual_dim, frames = visual_shape(self.features, caption_pairs(self.train_captions[:1])[0][0])
        self.model = self._build_model(visual_dim, frames)
        self.state = TrainerState(lr=float(self.config.learning_rate), config=self.config.to_dict(), seed=self.seed)
        if checkpoint is not None:
            self.state = load_checkpoint(checkpoint, self.model)
            self.state.config = self.config.to_dict()
            set_learning_rate(self.model, self.state.lr)
            if group is None or group.is_main:
                rewrite_history_files(self.run_dir, self.state, self.monitor)
            logger.info("resuming %s after epoch %d (best %s = %s at epoch %d, lr %.3g)", self.run_dir,
                        self.state.epochs_done, self.monitor, self.state.best_metric, self.state.best_epoch + 1,
                        self.state.lr)
        if group is not None:
            group.distribute(self.model)
        return self.model

    def _setup_run_dir(self, resume: bool):
        """Lock, provenance, text side and config in the run folder; the checkpoint to resume (or None)."""
        if getattr(self, "_run_lock", None) is None:
            self._run_lock = RunDirLock(self.run_dir)
        checkpoint = open_run_folder(self.run_dir, self._run_lock, resume, self.overwrite, self._data_provenance)
        self._check_finite_features()
        if self.deterministic:
            enable_determinism()
        keras.utils.set_random_seed(self.seed)
        if checkpoint is None:
            record_provenance(self.run_dir, self._data_provenance())
        self.prepared = self._prepare(resume=checkpoint is not None)
        self.preprocessor = self._preprocessor()
        digests = self.preprocessor.vocabulary_digests_now()
        if checkpoint is None:
            record_vocabularies(self.run_dir, digests)  # digests only: the vocabularies live in best.keras
            self.config = config_for_word_vectors(self.config, self.prepared)
        else:
            check_resume_vocabularies(self.run_dir, digests)
            self.config = resumed_config(self.run_dir, self.config)
        self.config.save(self.run_dir / CONFIG_FILE)
        return checkpoint

    # -- training ------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainingResult:
        """Train until ``max_epochs`` or early stop; ``resume=True`` continues from the last checkpoint.

        SIGINT (Ctrl-C) and SIGTERM stop the run at a safe point (see
        :class:`~w2vvx.training.signals.GracefulStop`); the result then says ``interrupted``.
        """
        stop = GracefulStop()
        try:
            with stop, data_parallel(self.devices), matmul_mode(self.precision):
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
        dataset = self.training_batches()
        dataset.set_epoch(state.epochs_done)
        group = self.process_group
        writer = group is None or group.is_main  # on several processes only process 0 validates and writes
        callbacks = [
            stop,
            EpochSync(dataset, seed=self.seed),
            *([group.validation(self.validation_callback()) if group is not None else self.validation_callback()]
              if writer else []),
            *([group.callback(self.seed)] if group is not None else []),
            learning_rate_schedule(config, state, self.monitor, run_dir=self.run_dir if writer else None),
            *(self.epoch_diagnostics(dataset) if writer else []),
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
