"""A training run's folder: its layout, opening it (new, resumed or overwritten), its config, loading its model.

Run folder layout::

    config.json  checkpoints/epoch-NNNN/  best.keras  history.csv  training.png  logs/
    run.lock  provenance.json

The vocabularies are stored once, inside ``best.keras`` (the assets of the model's preprocessor): a
resumed run builds them again from its training captions and checks them against the digests in
``provenance.json``; :func:`load_run` needs nothing but the model and ``config.json``. One training at a
time holds ``run.lock`` (:mod:`w2vvx.training.run_lock`), and ``provenance.json`` records what the run
was trained on (:mod:`w2vvx.training.provenance`).

Example:
    >>> run = load_run("runs/coco")                                          # doctest: +SKIP
    >>> emb = run.model.encode_text(["a dog runs"], language="en")          # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Callable, Optional

import keras

from w2vvx.errors import MissingFileError, ResumeError
from w2vvx.training.checkpoint import BEST_MODEL, CHECKPOINT_DIR, latest_checkpoint, remove_stale_temporaries
from w2vvx.training.provenance import check_loaded_run, check_resume_provenance
from w2vvx.training.run_lock import RunDirLock

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
#: Config fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ("max_epochs", "early_stop_patience")
#: What ``overwrite`` deletes (``prepared/``: the text folder of runs written by older w2vvx versions).
RUN_FOLDERS = (CHECKPOINT_DIR, "prepared", "logs")
RUN_FILES = (BEST_MODEL, "history.csv", "training.png")


def open_run_folder(run_dir, lock: RunDirLock, resume: bool, overwrite: bool,
                    data_record: Callable[[], dict]) -> Optional[Path]:
    """Lock ``run_dir`` and return the checkpoint to resume from (``None``: start at epoch 1).

    Args:
        run_dir: the run folder (created).
        lock: its :class:`~w2vvx.training.run_lock.RunDirLock`, acquired here (held until released).
        resume: continue from the last checkpoint (after checking that the data are the run's).
        overwrite: start again in a folder that holds a checkpoint, deleting the run's files.
        data_record: ``() -> data provenance`` of the data given now (see
            :func:`~w2vvx.training.provenance.data_provenance`).

    Raises:
        ResumeError: a checkpoint exists and neither ``resume`` nor ``overwrite`` is set.
        ProvenanceError: resuming on other data than the run's.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock.acquire()  # one training per run folder (RunLockedError names the holder)
    remove_stale_temporaries(run_dir)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        if resume:
            logger.info("%s has no checkpoint yet; starting from epoch 1", run_dir)
        return None
    if resume:
        check_resume_provenance(run_dir, data_record())
        return checkpoint
    if not overwrite:
        raise ResumeError(
            f"{run_dir} already holds a training checkpoint ({checkpoint.name}); resume it with "
            "Trainer.fit(resume=True) (CLI: --resume), pick another run folder, or pass overwrite=True "
            "(CLI: --overwrite) to start again")
    for name in RUN_FOLDERS:
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    return None


def resumed_config(run_dir, config):
    """``config`` for resuming ``run_dir``: its word-vector dimensions, refused if anything else changed.

    ``embed_dim``/``w2v_dim`` were set to the word vectors' dimension when the run started (the same
    vectors now: the provenance check compared them), so they are taken from ``config.json``; the
    fields of :data:`RESUMABLE_CHANGES` may differ.

    Raises:
        ResumeError: ``config.json`` is missing, or another field differs.
    """
    from w2vvx.models.configs import ModelConfig

    config_path = Path(run_dir) / CONFIG_FILE
    if not config_path.is_file():
        raise ResumeError(f"{config_path} is missing, so the checkpoint cannot be matched to a config; "
                          "start a new run folder")
    stored = ModelConfig.load(config_path)
    config = config.replace(embed_dim=stored.embed_dim, w2v_dim=stored.w2v_dim)
    stored_fields, current = stored.to_dict(), config.to_dict()
    changed = sorted(key for key in current if key not in RESUMABLE_CHANGES and stored_fields.get(key) != current[key])
    if changed:
        details = ", ".join(f"{key}: {stored_fields.get(key)!r} -> {current[key]!r}" for key in changed)
        raise ResumeError(f"{run_dir} was trained with another config ({details}); resume with the "
                          "same config or start a new run folder")
    return config


def rewrite_history_files(run_dir, state, monitor: str) -> None:
    """Make ``history.csv`` and ``training.png`` agree with a restored checkpoint (a kill may have left older ones)."""
    from w2vvx.training.callbacks import write_history_csv
    from w2vvx.training.plots import plot_history

    if state.history:
        write_history_csv(Path(run_dir) / "history.csv", state.history)
        plot_history(state.history, Path(run_dir) / "training.png", metric=monitor)


@dataclasses.dataclass
class LoadedRun:
    """A trained run: the selected model (it carries its text pipeline, ``model.preprocessor``) and its config.

    Raw text goes through ``model.encode_text(captions_or_strings, language=...)`` or
    ``model.preprocessor(...)``.
    """

    model: keras.Model
    config: object
    run_dir: Path


def load_run(run_dir, checkpoint: str = BEST_MODEL) -> LoadedRun:
    """Load the best model of a run (``keras.saving.load_model`` with ``safe_mode=True``) and its config.

    Raises:
        MissingFileError: no model in the folder.
        ProvenanceError: the model (or its vocabulary) is not the one this run's training saved.

    Example:
        >>> run = load_run("runs/coco")                                          # doctest: +SKIP
        >>> emb = run.model.encode_text(["a dog runs"], language="en")          # doctest: +SKIP
    """
    import w2vvx.models  # noqa: F401  (registers the serializable layers, losses and models)
    from w2vvx.io.archives import load_keras_model
    from w2vvx.models import Retriever
    from w2vvx.models.configs import ModelConfig

    run_dir = Path(run_dir)
    model_path = run_dir / checkpoint
    if not model_path.is_file():
        raise MissingFileError("no trained model in this run folder; train it first (w2vvx train) or check the path",
                               path=model_path)
    check_loaded_run(run_dir, checkpoint)  # a best.keras from elsewhere is refused before it is loaded
    config = ModelConfig.load(run_dir / CONFIG_FILE)
    model = load_keras_model(model_path, expected_class=Retriever)  # safe_mode=True, clear errors
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None and preprocessor.gru_vocab is not None:
        check_loaded_run(run_dir, checkpoint, vocabularies=preprocessor.vocabulary_digests_now())
    return LoadedRun(model, config, run_dir)
