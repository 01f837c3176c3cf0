"""Training: text preparation, the resumable lineage trainer, its callbacks, checkpoints and plots."""
from w2vvx.training.callbacks import (EpochSync, LineageSchedule, RetrievalValidation, RunRecorder,
                                      selection_key)
from w2vvx.training.checkpoint import (TrainerState, latest_checkpoint, load_checkpoint, save_best_model,
                                       save_checkpoint)
from w2vvx.training.plots import plot_history
from w2vvx.training.prepare import CaptionFeaturizer, PreparedText, prepare_text
from w2vvx.training.trainer import LoadedRun, Trainer, TrainingResult, load_run

__all__ = ["CaptionFeaturizer", "EpochSync", "LineageSchedule", "LoadedRun", "PreparedText", "RetrievalValidation",
           "RunRecorder", "Trainer", "TrainerState", "TrainingResult", "latest_checkpoint", "load_checkpoint",
           "load_run", "plot_history", "prepare_text", "save_best_model", "save_checkpoint", "selection_key"]
