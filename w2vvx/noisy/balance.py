"""ELRCMR's dynamic weight balance: the label-loss weight ``beta`` and the ELR weight ``lambda`` as functions of the step.

ELRCMR (Xu, Liu, Huang, Guo, Hong, Wang, ACM MM 2022, doi 10.1145/3503161.3548066) says only, in its
abstract, that "the dynamic weight balance strategy is employed to alleviate clustering drift"; its
code is on a password Baidu drive and no public source defines its flags. Its README (the seed
``003_*.txt``) runs MRL's ``main_noisy.py`` with five extra flags: ``--lama``, ``--zeta``, ``--alpha``,
``--setp``, ``--betasetp``. The reading implemented here, flag by flag, and why:

* ``--beta`` (MRL's flag, penghu-cs/MRL ``utils/config.py``): the weight of the label losses against
  the multimodal contrastive term, ``beta * label + (1 - beta) * contrastive``, here its value at step 0.
* ``--betasetp``: the number of steps over which ``beta`` falls linearly (``beta`` + "setp", the
  README's spelling of "step"). Two seed commands set ``--beta 1``; a constant ``beta = 1`` would give
  the contrastive term weight 0 in MRL's formula, and the method is named for its contrastive
  learning, so ``beta`` must move, and down: away from the noisy labels and towards the label-free
  term, as the early-learning phase ends and the labels start to pull the class centres.
* ``--lama``: ``lambda``, the weight of the ELR regulariser ``log(1 - <t, p>)`` added to MCE per
  modality (Liu et al. call it lambda; ``lama`` is its usual ASCII spelling).
* ``--setp``: the number of steps over which ``lambda`` falls linearly, by analogy with ``--betasetp``
  (the seed sets 100000 in all three commands, more than any of their runs lasts: 2,200 steps on
  Wikipedia, so the ELR weight changes by at most a few per cent there).
* ``--zeta``: the floor of both schedules as a fraction of the starting value (0.001 in all three
  commands): a decayed weight stays at ``zeta * start`` so that the class centres keep a small
  training signal once ``beta`` would reach 0.
* ``--alpha``: a multiplier of the contrastive term, ``alpha * (1 - beta(s))`` (1 in all three
  commands, which gives MRL's weighting).

So, with ``s`` the number of optimiser steps taken so far,

    beta(s)   = beta   * max(zeta, 1 - s / betasetp)
    lambda(s) = lambda * max(zeta, 1 - s / setp)
    loss(s)   = beta(s) * sum_views [MCE_v + lambda(s) * ELR_v] + alpha * (1 - beta(s)) * contrastive

This is an interpretation, not ELRCMR's code: the shape (linear), the floor and the role of
``alpha`` are guesses that fit the flag names and the seed's values. ``betasetp=None`` and
``setp=None`` keep a weight constant (no balance), which is the ablation the benchmark compares.
"""
from __future__ import annotations

import dataclasses

import keras
from keras import ops

from w2vvx.errors import ConfigError


def _positive_or_none(name: str, value):
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ConfigError(f"{name} must be a positive number of steps or None (constant weight), got {value!r}")
    return float(value)


def linear_decay(step, start: float, steps, floor: float):
    """``start * max(floor, 1 - step / steps)``; ``start`` when ``steps`` is None (works on tensors and floats).

    Example:
        >>> [round(float(linear_decay(s, 0.75, 3000, 0.001)), 6) for s in (0, 1500, 3000, 6000)]
        [0.75, 0.375, 0.00075, 0.00075]
    """
    if steps is None:
        return ops.cast(ops.convert_to_tensor(start), "float32") + 0.0 * ops.cast(step, "float32")
    fraction = ops.maximum(float(floor), 1.0 - ops.cast(step, "float32") / float(steps))
    return float(start) * fraction


@dataclasses.dataclass(frozen=True)
class WeightBalance:
    """ELRCMR's weights as functions of the optimiser step (see the module docstring for the reading).

    Args:
        beta: label-loss weight at step 0 (``--beta``), in ``[0, 1]``.
        elr_lambda: ELR regulariser weight at step 0 (``--lama``), ``>= 0``.
        beta_steps: steps over which ``beta`` falls linearly (``--betasetp``); None: constant.
        elr_steps: steps over which ``lambda`` falls linearly (``--setp``); None: constant.
        floor: lowest fraction of the start value either weight reaches (``--zeta``), in ``[0, 1]``.
        contrastive_weight: multiplier of the contrastive term (``--alpha``), ``>= 0``.

    Example:
        >>> balance = WeightBalance(beta=0.75, elr_lambda=1.0, beta_steps=3000, elr_steps=100000, floor=0.001)
        >>> round(float(balance.beta_at(2200)), 4), round(float(balance.lambda_at(2200)), 4)
        (0.2, 0.978)
    """

    beta: float = 0.7
    elr_lambda: float = 3.0
    beta_steps: float | None = None
    elr_steps: float | None = None
    floor: float = 0.0
    contrastive_weight: float = 1.0

    def __post_init__(self):
        for name in ("beta", "floor"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}")
        for name in ("elr_lambda", "contrastive_weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a non-negative number, got {value!r}")
        object.__setattr__(self, "beta_steps", _positive_or_none("beta_steps", self.beta_steps))
        object.__setattr__(self, "elr_steps", _positive_or_none("elr_steps", self.elr_steps))

    @property
    def dynamic(self) -> bool:
        """True when at least one weight changes with the step."""
        return self.beta_steps is not None or self.elr_steps is not None

    def beta_at(self, step):
        """``beta(step)``: the weight of the summed label losses."""
        return linear_decay(step, self.beta, self.beta_steps, self.floor)

    def lambda_at(self, step):
        """``lambda(step)``: the weight of the ELR regulariser inside each view's label loss."""
        return linear_decay(step, self.elr_lambda, self.elr_steps, self.floor)

    def contrastive_at(self, step):
        """``alpha * (1 - beta(step))``: the weight of the multimodal contrastive term."""
        return self.contrastive_weight * (1.0 - self.beta_at(step))

    @classmethod
    def from_flags(cls, beta: float, lama: float, betasetp=None, setp=None, zeta: float = 0.0,
                   alpha: float = 1.0) -> "WeightBalance":
        """Build from ELRCMR's flag names (``--beta --lama --betasetp --setp --zeta --alpha``)."""
        return cls(beta=beta, elr_lambda=lama, beta_steps=betasetp, elr_steps=setp, floor=zeta,
                   contrastive_weight=alpha)


@keras.saving.register_keras_serializable(package="w2vvx")
class StepCounter(keras.layers.Layer):
    """Counts training forward passes (= optimiser steps under ``fit``) in a non-trainable variable.

    ``call(x, training)`` returns the count BEFORE this batch, broadcast to ``(batch,)`` (so that
    ``predict`` can concatenate it), and adds 1 when ``training`` is true. The count is model state,
    updated like a BatchNormalization statistic, so it works under ``fit`` on every backend (JAX
    included, where the optimiser's own counter is not visible inside a traced loss).

    Example:
        >>> import numpy as np
        >>> counter = StepCounter()
        >>> _ = counter(np.zeros((3, 2)), training=True)
        >>> [float(v) for v in counter(np.zeros((2, 2)), training=True)]
        [1.0, 1.0]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def build(self, input_shape=None):
        # An explicit build: Keras' default one would run ``call`` once to infer shapes, counting a step.
        self.built = True

    def call(self, inputs, training=None):
        # "+ 0.0" makes a copy: on some backends the converted variable would show the increment below.
        current = ops.cast(ops.convert_to_tensor(self.count), "float32") + 0.0
        if training:
            self.count.assign(current + 1.0)
        return ops.broadcast_to(current, (ops.shape(inputs)[0],))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)
