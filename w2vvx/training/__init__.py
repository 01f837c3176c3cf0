"""Training: text preparation, the resumable lineage trainer, its callbacks, run folder, checkpoints and plots."""
from w2vvx.training.callbacks import (EpochSync, LineageSchedule, RetrievalValidation, RunRecorder,
                                      selection_key)
from w2vvx.training.checkpoint import (TrainerState, latest_checkpoint, load_checkpoint, save_best_model,
                                       save_checkpoint)
from w2vvx.training.plots import plot_history
from w2vvx.training.prepare import PreparedText, prepare_text, prepare_vocabularies
from w2vvx.training.run_folder import LoadedRun, load_run
from w2vvx.training.run_lock import RunDirLock
from w2vvx.training.trainer import Trainer, TrainingResult
from w2vvx.training.validation import validation_callback

__all__ = ["EpochSync", "LineageSchedule", "LoadedRun", "PreparedText", "RetrievalValidation", "RunDirLock",
           "RunRecorder", "Trainer", "TrainerState", "TrainingResult", "latest_checkpoint", "load_checkpoint",
           "load_run", "plot_history", "prepare_text", "prepare_vocabularies", "save_best_model", "save_checkpoint",
           "selection_key", "validation_callback"]
