"""Resumable checkpoints: model variables, optimizer variables and trainer state, written as one unit.

Each completed epoch ``k`` (1-based count of finished epochs) is written to
``<run_dir>/checkpoints/epoch-<k>/`` through :func:`w2vvx.io.atomic.atomic_dir`: the folder appears
only once all three files (``model.npz``, ``optimizer.npz``, ``state.json``) are complete, and older
epoch folders are removed only afterwards. A run killed at any moment (``kill -9`` included) therefore
always finds its last complete epoch. Variables are stored as plain ``.npz`` arrays (no pickle), in
the order of ``model.variables`` (dropout seed states included, so a resumed run draws the same
random numbers) and ``optimizer.variables``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

import keras
import numpy as np

from w2vvx.errors import ResumeError
from w2vvx.io.atomic import atomic_dir, atomic_path

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
BEST_MODEL = "best.keras"
STATE_FILE = "state.json"
MODEL_VARIABLES = "model.npz"
OPTIMIZER_VARIABLES = "optimizer.npz"
_EPOCH_DIR = re.compile(r"^epoch-(\d+)$")
STATE_FORMAT = 1


@dataclasses.dataclass
class TrainerState:
    """What the trainer must remember between epochs (and across a resume).

    Attributes:
        epochs_done: number of completed epochs (the next epoch to run, 0-based).
        lr: the learning rate the next epoch uses.
        best_metric: best validation value so far (``None`` before the first validation).
        best_epoch: 0-based epoch of ``best_metric`` (-1 before).
        bad_epochs: consecutive epochs without improvement (early stop when it exceeds the patience).
        epochs_at_lr: epochs run since the learning rate last changed.
        stopped_early: whether the early-stopping rule ended the run.
        history: one dict per completed epoch (``epoch``, ``loss``, ``lr``, ``val_*`` ...).
        config: the model config as a dict, to refuse resuming with another config.
        seed: the run's seed.
    """

    epochs_done: int = 0
    lr: float = 1e-4
    best_metric: Optional[float] = None
    best_epoch: int = -1
    bad_epochs: int = 0
    epochs_at_lr: int = 0
    stopped_early: bool = False
    history: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    config: Dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int = 0

    def to_json(self) -> str:
        return json.dumps({"format": STATE_FORMAT, **dataclasses.asdict(self)}, indent=1, sort_keys=True,
                          default=_json_default)

    @classmethod
    def from_json(cls, text: str, path=None) -> "TrainerState":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ResumeError(f"{path}: not valid JSON ({error}); delete this checkpoint folder to fall back "
                              "to the previous one, or start the run again") from None
        if data.pop("format", None) != STATE_FORMAT:
            raise ResumeError(f"{path}: unknown trainer state format; it was written by another w2vvx version")
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to the trainer state")


def _to_numpy(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable.value if hasattr(variable, "value") else variable))


def _save_variables(path: Path, variables) -> None:
    arrays = {f"v{index:05d}": _to_numpy(variable) for index, variable in enumerate(variables)}
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _load_variables(path: Path, variables, what: str) -> None:
    with np.load(path, allow_pickle=False) as stored:
        keys = sorted(stored.files)
        if len(keys) != len(variables):
            raise ResumeError(
                f"{path}: holds {len(keys)} {what} variables, the rebuilt model has {len(variables)}; "
                "the run folder was written with another config or model code (start a new run folder)")
        for key, variable in zip(keys, variables):
            value = stored[key]
            if tuple(value.shape) != tuple(variable.shape):
                raise ResumeError(
                    f"{path}: {what} variable {variable.path if hasattr(variable, 'path') else key} has shape "
                    f"{value.shape} in the checkpoint and {tuple(variable.shape)} in the rebuilt model; "
                    "start a new run folder")
            variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype), copy=False))


def optimizer_variables(model) -> list:
    """The optimizer's variables, building the optimizer for the model's trainable variables if needed."""
    optimizer = model.optimizer
    if optimizer is None:
        raise ResumeError("the model is not compiled; compile it before saving or loading a checkpoint")
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    return list(optimizer.variables)


def save_checkpoint(run_dir, model, state: TrainerState) -> Path:
    """Write model + optimizer + state of ``state.epochs_done`` atomically and drop older checkpoints."""
    root = Path(run_dir) / CHECKPOINT_DIR
    final = root / f"epoch-{state.epochs_done:04d}"
    with atomic_dir(final, overwrite=True) as tmp:
        _save_variables(tmp / MODEL_VARIABLES, model.variables)
        _save_variables(tmp / OPTIMIZER_VARIABLES, optimizer_variables(model))
        (tmp / STATE_FILE).write_text(state.to_json(), encoding="utf-8")
    for older in list_checkpoints(run_dir):
        if older != final:
            shutil.rmtree(older, ignore_errors=True)
    return final


def list_checkpoints(run_dir) -> List[Path]:
    """Complete checkpoint folders of a run, oldest first (half-written temp folders are ignored)."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _EPOCH_DIR.match(child.name)
        if match and child.is_dir() and (child / STATE_FILE).is_file():
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir) -> Optional[Path]:
    """The newest complete checkpoint folder of ``run_dir``, or ``None``."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def remove_stale_temporaries(run_dir) -> None:
    """Delete temporaries left by a run killed while writing a checkpoint or a run file (kill -9)."""
    from w2vvx.io.atomic import remove_stale_temporaries as remove_dead_writers_temporaries

    from w2vvx.io.atomic import temporary_of_live_process

    root = Path(run_dir) / CHECKPOINT_DIR
    if root.is_dir():
        for child in root.iterdir():
            # a live writer's temporary (another process, or this one) is never touched
            if child.name.startswith(".") and child.is_dir() and not temporary_of_live_process(child):
                remove_dead_writers_temporaries(root / _final_name(child.name))
                if child.exists() and not temporary_of_live_process(child):
                    shutil.rmtree(child, ignore_errors=True)
    for name in (BEST_MODEL, "history.csv", "training.png", "config.json", "prepared"):
        remove_dead_writers_temporaries(Path(run_dir) / name)
    # a run killed between a checkpoint's commit and the removal of the older one keeps both
    for older in list_checkpoints(run_dir)[:-1]:
        shutil.rmtree(older, ignore_errors=True)


def _final_name(temporary_name: str) -> str:
    """``epoch-0003`` of a temporary named ``.epoch-0003.<host>-<pid>-<random>.tmp`` or ``.epoch-0003.old-<pid>``."""
    match = re.match(r"^\.(epoch-[0-9]+)\.", temporary_name)
    return match.group(1) if match else temporary_name.lstrip(".")


def read_state(checkpoint: Path) -> TrainerState:
    """Read ``state.json`` of a checkpoint folder."""
    path = Path(checkpoint) / STATE_FILE
    return TrainerState.from_json(path.read_text(encoding="utf-8"), path=path)


def load_checkpoint(checkpoint, model) -> TrainerState:
    """Restore model and optimizer variables from a checkpoint folder; return its trainer state.

    The model must be built and compiled with the same config (its optimizer is built if needed).
    """
    checkpoint = Path(checkpoint)
    state = read_state(checkpoint)
    _load_variables(checkpoint / MODEL_VARIABLES, model.variables, "model")
    _load_variables(checkpoint / OPTIMIZER_VARIABLES, optimizer_variables(model), "optimizer")
    return state


def save_best_model(run_dir, model) -> Path:
    """Save the model for inference (weights, vocabularies, no optimizer state) as ``<run_dir>/best.keras``."""
    from w2vvx.training.provenance import record_best_model

    final = Path(run_dir) / BEST_MODEL
    with atomic_path(final, mode_suffix=".keras") as tmp:
        (model.inference_copy() if hasattr(model, "inference_copy") else model).save(tmp, overwrite=True)
    record_best_model(run_dir, BEST_MODEL)  # load_run refuses a best.keras this run did not save
    return final
