"""Each method's learning-rate rule, selected by ``ModelConfig.lr_schedule``.

- ``"halving"``: the W2VV rule (danieljf24/w2vv ``w2vv_trainer.py``; coco-cn
  ``code/image-retrieval/w2vv_trainer.py``; NRCCR ``trainer_img.py`` 191-206 with ×0.99 per epoch): after
  an epoch without improvement, halve the LR if it has been used ``lr_halving_patience`` epochs;
  :class:`~w2vvx.training.callbacks.LineageSchedule`.
- ``"plateau"``: W2VV++ (li-xirong/w2vvpp ``model.py``: ``StepLR(step_size=1, gamma=lr_decay_rate)`` and
  ``ReduceLROnPlateau(mode='max', factor=0.5, patience=2)``, stepped in that order by ``lr_step`` after
  each validation, ``trainer.py`` ``model.lr_step(val_value=cur_perf)``): the LR is multiplied by
  ``lr_decay`` (0.99) every epoch; PyTorch's plateau rule counts the epochs whose value does not beat the
  best by the relative threshold 1e-4, resets the count on improvement, and once the count exceeds
  ``patience`` halves the LR and resets the count (no cooldown, ``min_lr`` 0, changes below 1e-8 ignored).
  The halvings compound with the ×0.99 steps (PyTorch's chainable schedulers, 1.4 and later).
- ``"plateau_torch12"``: the same under the PyTorch 1.2.0 that w2vvpp pins (``requirements.txt``), whose
  ``StepLR`` sets ``base_lr · 0.99^epoch`` in closed form (the chainable form came with PyTorch 1.4,
  pytorch/pytorch#24352 / #26423): a plateau halving then lasts one epoch only.

The plateau state needs no extra checkpoint field: it is a pure function of the sequence of validation
values, replayed from the run's history (:func:`plateau_trace`), so a resumed run continues it exactly.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import List, Sequence

from w2vvx.errors import ConfigError
from w2vvx.training.callbacks import LineageSchedule

logger = logging.getLogger(__name__)

#: PyTorch ReduceLROnPlateau defaults that w2vvpp keeps.
PLATEAU_THRESHOLD = 1e-4
PLATEAU_EPS = 1e-8


@dataclasses.dataclass
class PlateauState:
    """``ReduceLROnPlateau(mode="max", threshold_mode="rel")`` state: best value, bad-epoch count."""

    best: float = -math.inf
    num_bad_epochs: int = 0


def plateau_step(state: PlateauState, value: float, patience: int = 2,
                 threshold: float = PLATEAU_THRESHOLD) -> bool:
    """Advance ``state`` by one validation ``value``; True when the LR is to be reduced now.

    Example:
        >>> state = PlateauState()
        >>> [plateau_step(state, v, patience=1) for v in (0.5, 0.4, 0.4, 0.6)]
        [False, False, True, False]
    """
    value = float(value)
    if value > state.best * (1.0 + threshold):  # NaN is never better; -inf * (1 + t) stays -inf
        state.best, state.num_bad_epochs = value, 0
    else:
        state.num_bad_epochs += 1
    if state.num_bad_epochs > patience:
        state.num_bad_epochs = 0
        return True
    return False


def plateau_trace(values: Sequence[float], initial_lr: float, decay: float = 0.99, factor: float = 0.5,
                  patience: int = 2, closed_form: bool = False) -> List[float]:
    """The LR after each epoch of W2VV++'s rule, for the validation values ``values`` (epoch 0 first).

    Args:
        values: the validation metric of each epoch (higher is better).
        initial_lr: the LR of epoch 0.
        decay: the per-epoch StepLR factor (``lr_decay``, 0.99).
        factor, patience: the plateau rule's (0.5, 2).
        closed_form: PyTorch 1.2's StepLR (``initial_lr · decay^(e+1)``, a halving lasts one epoch).

    Example:
        >>> [round(lr, 6) for lr in plateau_trace([0.3, 0.2, 0.2, 0.2], 1.0, decay=1.0)]
        [1.0, 1.0, 1.0, 0.5]
    """
    state, lr, out = PlateauState(), float(initial_lr), []
    for epoch, value in enumerate(values):
        lr = initial_lr * decay ** (epoch + 1) if closed_form else lr * decay
        if plateau_step(state, value, patience=patience):
            reduced = lr * factor
            if lr - reduced > PLATEAU_EPS:
                lr = reduced
        out.append(lr)
    return out


class PlateauSchedule(LineageSchedule):
    """W2VV++'s rule as a Keras callback: best model, early stop as :class:`LineageSchedule`, LR by plateau.

    Args:
        state, monitor, run_dir, patience: as :class:`~w2vvx.training.callbacks.LineageSchedule`
            (``patience`` is the early stop's).
        decay_per_epoch: StepLR's factor (0.99).
        plateau_patience: the plateau rule's patience (2).
        factor: the plateau rule's factor (0.5).
        closed_form: PyTorch 1.2's StepLR (see the module docstring).
    """

    def __init__(self, state, monitor: str, run_dir=None, factor: float = 0.5, plateau_patience: int = 2,
                 patience: int = 10, decay_per_epoch: float = 0.99, initial_lr: float = 1e-4,
                 closed_form: bool = False):
        super().__init__(state, monitor, run_dir=run_dir, factor=factor, min_epochs_per_lr=1, patience=patience,
                         decay_per_epoch=decay_per_epoch)
        if isinstance(plateau_patience, bool) or not isinstance(plateau_patience, int) or plateau_patience < 0:
            raise ConfigError(f"plateau_patience must be an integer >= 0, got {plateau_patience!r}")
        self.plateau_patience = plateau_patience
        self.initial_lr = float(initial_lr)
        self.closed_form = bool(closed_form)

    def next_learning_rate(self, epoch: int, value: float, improved: bool, lr: float) -> float:
        # replay the plateau state from the values of the epochs before this one (the run's history)
        earlier = [float(row.get(self.monitor, math.nan)) for row in self.state.history[:epoch]]
        state = PlateauState()
        for previous in earlier:
            plateau_step(state, previous, patience=self.plateau_patience)
        lr = self.initial_lr * self.decay_per_epoch ** (epoch + 1) if self.closed_form else lr * self.decay_per_epoch
        if plateau_step(state, value, patience=self.plateau_patience) and lr - lr * self.factor > PLATEAU_EPS:
            lr *= self.factor
            logger.info("epoch %d: %s on a plateau for more than %d epochs, learning rate halved to %.3g",
                        epoch + 1, self.monitor, self.plateau_patience, lr)
        return lr


def learning_rate_schedule(config, state, monitor: str, run_dir=None) -> LineageSchedule:
    """The schedule callback of ``config.lr_schedule`` (see the module docstring).

    Example:
        >>> from w2vvx.models.configs import get_config
        >>> from w2vvx.training.checkpoint import TrainerState
        >>> type(learning_rate_schedule(get_config("w2vvpp"), TrainerState(), "val_t2v_mir")).__name__
        'PlateauSchedule'
    """
    name = getattr(config, "lr_schedule", "halving")
    if name == "halving":
        return LineageSchedule(state, monitor, run_dir=run_dir, factor=0.5,
                               min_epochs_per_lr=max(config.lr_halving_patience, 1),
                               patience=config.early_stop_patience, decay_per_epoch=config.lr_decay)
    if name in ("plateau", "plateau_torch12"):
        return PlateauSchedule(state, monitor, run_dir=run_dir, factor=0.5,
                               plateau_patience=config.lr_halving_patience, patience=config.early_stop_patience,
                               decay_per_epoch=config.lr_decay, initial_lr=config.learning_rate,
                               closed_form=name == "plateau_torch12")
    raise ConfigError(f"unknown lr_schedule {name!r}; expected 'halving', 'plateau' or 'plateau_torch12'")
