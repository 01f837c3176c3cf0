"""Keras callbacks of the W2VV training loop.

Order matters and :class:`w2vvx.training.trainer.Trainer` installs them in this order:

1. :class:`EpochSync` tells the batch dataset which epoch runs (batches depend on ``(seed, epoch, index)``).
2. :class:`RetrievalValidation` encodes the validation captions and items and adds ``val_*`` metrics
   (:class:`MultilingualRetrievalValidation` in several languages: their mean, per-language values, MRV).
3. :class:`LineageSchedule` keeps the best model, halves the learning rate and stops early (W2VV rule).
4. :class:`RunRecorder` writes the resumable checkpoint, the CSV log and the PNG plot.
"""
from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import keras
import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.evaluation.mrv import aligned_mrv
from w2vvx.io.atomic import atomic_path
from w2vvx.training.checkpoint import TrainerState, save_best_model, save_checkpoint

logger = logging.getLogger(__name__)

#: Selection metrics of ``ModelConfig.selection_metric`` and the ``evaluate_retrieval`` key they read.
SELECTION_METRICS = {
    "v2t_map": "i2t_map",                 # W2VV / enhanced W2VV: image -> sentences AP
    "t2v_mir": "t2i_mir",                 # W2VV++: text -> video mean inverted rank
    "t2v_map": "t2i_map",
    "sum_recall": "sumr",                 # dual encoding, VSE++: R@1+5+10 of both directions
    "t2v_sum_recall": "t2i_sum_recall",   # NRCCR: R@1+5+10 of text -> video
}


def selection_key(metric: str) -> str:
    """Map a config's selection metric (``"v2t_map"``, ``"sum_recall"`` ...) to its validation metrics key.

    Example:
        >>> selection_key("v2t_map")
        'i2t_map'
    """
    if metric in SELECTION_METRICS:
        return SELECTION_METRICS[metric]
    if metric in SELECTION_METRICS.values():
        return metric
    raise ConfigError(f"unknown selection metric {metric!r}; expected one of {sorted(SELECTION_METRICS)}")


def _learning_rate_variable(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ConfigError("the model is not compiled with an optimizer")
    return optimizer.learning_rate


def get_learning_rate(model) -> float:
    """The current learning rate of ``model``'s optimizer, as a Python float.

    Example:
        >>> model = keras.Sequential([keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
        >>> get_learning_rate(model)
        0.5
    """
    return float(keras.ops.convert_to_numpy(_learning_rate_variable(model)))


def set_learning_rate(model, value: float) -> None:
    """Set the learning rate of ``model``'s optimizer to ``value`` (its variable is assigned in place).

    Through Keras's public ``optimizer.learning_rate`` setter: with a fixed learning rate it assigns
    the optimizer's learning-rate variable, so a compiled step (and a captured CUDA graph) sees the
    new value. An optimizer built with a ``LearningRateSchedule`` refuses it (a ``TypeError``).

    Example:
        >>> model = keras.Sequential([keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
        >>> set_learning_rate(model, 0.25)
        >>> get_learning_rate(model)
        0.25
    """
    _learning_rate_variable(model)  # a ConfigError when the model is not compiled
    model.optimizer.learning_rate = value


def epoch_seed(seed: int, epoch: int) -> int:
    """The global RNG seed of ``epoch`` of a run seeded with ``seed`` (a 32-bit value).

    Example:
        >>> epoch_seed(0, 0) != epoch_seed(0, 1)
        True
    """
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


class EpochSync(keras.callbacks.Callback):
    """At the start of every epoch: point the batch dataset at it and reseed the global RNGs.

    Batches are a function of ``(seed, epoch, index)`` (see
    :class:`~w2vvx.datasets.batching.CaptionBatchDataset`). Layer seed states are model variables and
    are checkpointed, but some backends draw dropout masks from a global generator (PyTorch for layers
    without an explicit seed); reseeding Python, NumPy and the backend from ``(seed, epoch)`` makes every
    epoch reproducible, so a resumed run continues exactly as an uninterrupted one.
    """

    def __init__(self, dataset, seed: Optional[int] = None):
        super().__init__()
        self.dataset = dataset
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.set_epoch(epoch)
        if self.seed is not None:
            keras.utils.set_random_seed(epoch_seed(self.seed, epoch))


class RetrievalValidation(keras.callbacks.Callback):
    """After each epoch, encode the validation set and add ``val_<metric>`` entries to the logs.

    Args:
        encode: ``encode(model) -> (text_emb, item_emb)``, the validation captions and items encoded
            with the model's current weights.
        text_item_ids: the item id of each validation caption.
        item_ids: the validation item ids, in the row order of ``item_emb``.
        evaluate: ``evaluate(text_emb, text_item_ids, item_emb, item_ids) -> dict`` (default
            :func:`w2vvx.evaluation.metrics.evaluate_retrieval`).
        keys: the metrics copied into the logs (default: recalls, sumr, mAP and mIR of both directions).
    """

    DEFAULT_KEYS = ("t2i_r1", "t2i_r5", "t2i_r10", "i2t_r1", "i2t_r5", "i2t_r10", "sumr", "t2i_sum_recall",
                    "t2i_map", "i2t_map", "t2i_mir", "i2t_mir")

    def __init__(self, encode: Callable, text_item_ids: Sequence[str], item_ids: Sequence[str],
                 evaluate: Optional[Callable] = None, keys: Sequence[str] = DEFAULT_KEYS):
        super().__init__()
        if evaluate is None:
            from w2vvx.evaluation.metrics import evaluate_retrieval as evaluate
        self.encode = encode
        self.text_item_ids = list(text_item_ids)
        self.item_ids = list(item_ids)
        self.evaluate = evaluate
        self.keys = tuple(keys)

    def compute(self) -> Dict[str, float]:
        text_emb, item_emb = self.encode(self.model)
        results = dict(self.evaluate(text_emb, self.text_item_ids, item_emb, self.item_ids))
        if all(f"t2i_r{k}" in results for k in (1, 5, 10)):
            results["t2i_sum_recall"] = results["t2i_r1"] + results["t2i_r5"] + results["t2i_r10"]
        return {key: float(results[key]) for key in self.keys if key in results}

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for key, value in self.compute().items():
            logs[f"val_{key}"] = value


class MultilingualRetrievalValidation(RetrievalValidation):
    """Validation in several languages: per-language metrics, their mean, and MRV.

    Every ``val_<metric>`` entry is the mean over the languages of that metric (so the model is
    selected on its average quality across languages); ``val_<language>_<metric>`` holds the value of
    one language for the metrics in ``language_keys``; with two or more languages, ``val_t2i_mrv`` and
    ``val_i2t_mrv`` hold CCRK's mean rank variance (lower = more consistent across languages, see
    :func:`w2vvx.evaluation.mrv.aligned_mrv`).

    Args:
        encode: ``encode(model) -> ({language: text_emb}, item_emb)``.
        text_item_ids: ``{language: item id of each caption}``.
        item_ids: the validation item ids, in the row order of ``item_emb``.
        text_keys: ``{language: key of each caption}`` matching captions across languages for MRV
            (``(item_id, caption number)``); default: the item id with its occurrence number.
        evaluate: as :class:`RetrievalValidation`, and it must accept ``return_ranks=True``.
        keys: the averaged metrics copied into the logs.
        language_keys: the metrics also logged per language.
    """

    def __init__(self, encode: Callable, text_item_ids: Dict[str, Sequence[str]], item_ids: Sequence[str],
                 text_keys: Optional[Dict[str, Sequence]] = None, evaluate: Optional[Callable] = None,
                 keys: Sequence[str] = RetrievalValidation.DEFAULT_KEYS, language_keys: Sequence[str] = ("sumr",)):
        super().__init__(encode, [], item_ids, evaluate=evaluate, keys=keys)
        if not text_item_ids:
            raise ConfigError("no validation languages given")
        self.text_item_ids = {language: list(ids) for language, ids in text_item_ids.items()}
        if text_keys is None:
            text_keys = {language: _occurrence_keys(ids) for language, ids in self.text_item_ids.items()}
        self.text_keys = {language: list(text_keys[language]) for language in self.text_item_ids}
        self.language_keys = tuple(language_keys)

    def compute(self) -> Dict[str, float]:
        text_by_language, item_emb = self.encode(self.model)
        results = {}
        for language, item_ids in self.text_item_ids.items():
            results[language] = dict(self.evaluate(text_by_language[language], item_ids, item_emb, self.item_ids,
                                                   return_ranks=True))
            if all(f"t2i_r{k}" in results[language] for k in (1, 5, 10)):
                results[language]["t2i_sum_recall"] = sum(results[language][f"t2i_r{k}"] for k in (1, 5, 10))
        out = {}
        for key in self.keys:
            values = [float(result[key]) for result in results.values() if key in result]
            if values:
                out[key] = float(np.mean(values))
        for language, result in results.items():
            for key in self.language_keys:
                if key in result:
                    out[f"{language}_{key}"] = float(result[key])
        if len(results) >= 2:
            out.update(aligned_mrv(results, self.text_keys))
        return out


def _occurrence_keys(item_ids: Sequence[str]) -> List[tuple]:
    seen: Dict[str, int] = {}
    keys = []
    for item in item_ids:
        keys.append((item, seen.get(item, 0)))
        seen[item] = seen.get(item, 0) + 1
    return keys


class LineageSchedule(keras.callbacks.Callback):
    """The W2VV rule (danieljf24/w2vv ``w2vv_trainer.py``): keep the best model, halve the LR, stop early.

    After every epoch: if the monitored value beats the best so far, the model is saved as
    ``best.keras`` and the bad-epoch counter resets; otherwise, if the current LR has been used for at
    least ``min_epochs_per_lr`` epochs it is multiplied by ``factor``, and the run stops once more than
    ``patience`` consecutive epochs brought no improvement. ``decay_per_epoch`` (e.g. 0.99 in dual
    encoding and NRCCR) multiplies the LR after every epoch as well.

    Args:
        state: the shared :class:`TrainerState` (updated in place).
        monitor: the log key, e.g. ``"val_i2t_map"``.
        run_dir: where ``best.keras`` goes (``None``: do not save).
        factor, min_epochs_per_lr, patience, decay_per_epoch: see above.
    """

    def __init__(self, state: TrainerState, monitor: str, run_dir=None, factor: float = 0.5,
                 min_epochs_per_lr: int = 3, patience: int = 10, decay_per_epoch: float = 1.0):
        super().__init__()
        if not 0 < factor <= 1:
            raise ConfigError(f"factor must be in (0, 1], got {factor}")
        if not 0 < decay_per_epoch <= 1:
            raise ConfigError(f"decay_per_epoch must be in (0, 1], got {decay_per_epoch}")
        self.state = state
        self.monitor = monitor
        self.run_dir = run_dir
        self.factor = float(factor)
        self.min_epochs_per_lr = int(min_epochs_per_lr)
        self.patience = int(patience)
        self.decay_per_epoch = float(decay_per_epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        if self.monitor not in logs:
            raise ConfigError(f"validation metric {self.monitor!r} missing from the epoch logs {sorted(logs)}")
        value = float(logs[self.monitor])
        state = self.state
        state.epochs_at_lr += 1
        lr = get_learning_rate(self.model)
        improved = math.isfinite(value) and (state.best_metric is None or value > state.best_metric)
        if improved:
            state.best_metric, state.best_epoch, state.bad_epochs = value, epoch, 0
            if self.run_dir is not None:
                save_best_model(self.run_dir, self.model)
        else:
            state.bad_epochs += 1
            if state.bad_epochs > self.patience:
                state.stopped_early = True
                self.model.stop_training = True
                logger.info("early stop after %d epochs without improvement", state.bad_epochs)
        lr = self.next_learning_rate(epoch, value, improved, lr)
        set_learning_rate(self.model, lr)
        state.lr = lr
        logs["lr"] = lr

    def next_learning_rate(self, epoch: int, value: float, improved: bool, lr: float) -> float:
        """The LR of the next epoch (W2VV's halving rule; :mod:`w2vvx.training.schedules` has W2VV++'s)."""
        if not improved and self.state.epochs_at_lr >= self.min_epochs_per_lr and self.factor < 1:
            lr *= self.factor
            self.state.epochs_at_lr = 0
            logger.info("epoch %d: no improvement of %s, learning rate halved to %.3g", epoch + 1, self.monitor, lr)
        return lr * self.decay_per_epoch


class RunRecorder(keras.callbacks.Callback):
    """After every epoch: history entry, resumable checkpoint, ``history.csv`` and ``training.png``.

    The CSV and the plot are regenerated from the state's history (not appended), so they always agree
    with the checkpoint, also after a resume. ``run_dir=None`` keeps the state only (writes nothing).
    """

    def __init__(self, state: TrainerState, run_dir, monitor: str, checkpoint: bool = True, plot: bool = True):
        super().__init__()
        self.state = state
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.monitor = monitor
        self.checkpoint = checkpoint
        self.plot = plot

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        entry = {"epoch": epoch + 1}
        for key, value in logs.items():
            entry[key] = float(np.asarray(value))
        self.state.history.append(entry)
        self.state.epochs_done = epoch + 1
        if self.run_dir is None:
            return
        if self.checkpoint:
            save_checkpoint(self.run_dir, self.model, self.state)
        write_history_csv(self.run_dir / "history.csv", self.state.history)
        if self.plot:
            from w2vvx.training.plots import plot_history

            plot_history(self.state.history, self.run_dir / "training.png", metric=self.monitor)


def write_history_csv(path, history: List[Dict[str, float]]) -> None:
    """Write the per-epoch history as CSV (like ``keras.callbacks.CSVLogger``), atomically."""
    columns: List[str] = ["epoch"]
    for entry in history:
        columns += [key for key in entry if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")


def tensorboard_callback(log_dir) -> Optional[keras.callbacks.Callback]:
    """TensorBoard event files of the epoch logs on every backend, or ``None`` with a log line without tensorboard.

    The ``tensorboard`` package's own writer needs no TensorFlow (see :mod:`w2vvx.training.event_log`).
    """
    from w2vvx.training.event_log import EpochEventWriter, tensorboard_available

    if not tensorboard_available():
        logger.info("TensorBoard logs skipped: the tensorboard package is not installed (pip install tensorboard); "
                    "history.csv and training.png hold the same curves")
        return None
    return EpochEventWriter(log_dir)
