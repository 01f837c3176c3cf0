"""Keras's RMSprop and Adam update rules on torch's CPU, computed in place.

Keras's torch optimizers compute each update through ``torch._foreach_*`` calls that return new
tensors: four temporaries the size of all trained weights per step (RMSprop: ``g²``, ``v + ε``,
``g·lr``, their quotient). On the CPU every such tensor is fresh memory from the system, paid in
page faults: at the lineage's sizes (37 M weights) Keras's RMSprop update took 0.56 s per step on one
thread, more than a third of the GRU (``benchmarks/profile_train_step.py``). The rules here compute
the same update (up to float rounding) in the optimizer's own slot variables and one scratch tensor
per weight shape that lives as long as the train step.

Only the exact Keras classes with the settings written out here are served (RMSprop without
``centered``; Adam without ``amsgrad``); everything else of ``optimizer.apply`` stays Keras's
(learning-rate schedules, weight decay, EMA, gradient accumulation, the step counter).
"""
from __future__ import annotations

import contextlib


def _torch_optimizer_classes():
    from keras.src.backend.torch.optimizers.torch_adam import Adam
    from keras.src.backend.torch.optimizers.torch_rmsprop import RMSprop

    return RMSprop, Adam


def in_place_rule(optimizer):
    """The in-place update of ``optimizer`` (a function of ``(optimizer, scratch, grads, variables, lr)``), or None.

    Example:
        >>> import keras
        >>> rule = in_place_rule(keras.optimizers.RMSprop())
        >>> (rule is not None) == (keras.backend.backend() == "torch")
        True
    """
    import keras

    if keras.backend.backend() != "torch":
        return None
    rmsprop, adam = _torch_optimizer_classes()
    if type(optimizer) is rmsprop and not optimizer.centered:
        return _rmsprop
    if type(optimizer) is adam and not optimizer.amsgrad:
        return _adam
    return None


@contextlib.contextmanager
def updates_in_place(optimizer, scratch):
    """Within this context ``optimizer.apply`` runs its rule in place (where :func:`in_place_rule` has one).

    Args:
        optimizer: a built Keras optimizer on the torch backend.
        scratch: a dict the caller keeps between steps: one scratch tensor per weight shape, made on first use.

    Example:
        >>> import keras, numpy as np
        >>> weight = keras.Variable(np.ones(3, "float32"))
        >>> optimizer = keras.optimizers.RMSprop(learning_rate=0.1)
        >>> with updates_in_place(optimizer, {}):
        ...     optimizer.apply([keras.ops.ones(3)], [weight])
        >>> [round(float(value), 4) for value in keras.ops.convert_to_numpy(weight)]  # 1 - 0.1 / sqrt(0.1)
        [0.6838, 0.6838, 0.6838]
    """
    rule = in_place_rule(optimizer)
    if rule is None:
        yield
        return

    def update(grads, variables, learning_rate):
        rule(optimizer, scratch, grads, variables, learning_rate)

    optimizer._parallel_update_step = update
    try:
        yield
    finally:
        del optimizer._parallel_update_step


def _scratch_for(scratch, value):
    """A tensor shaped like ``value``, shared by the weights of one shape (the rules use it one weight at a time)."""
    import torch

    key = (tuple(value.shape), value.dtype, value.device)
    if key not in scratch:
        scratch[key] = torch.empty_like(value)
    return scratch[key]


def _slot(slots, optimizer, variable):
    return slots[optimizer._get_variable_index(variable)].value


def _rmsprop(optimizer, scratch, grads, variables, learning_rate):
    """``v ← ρv + (1-ρ)g²``, ``Δ = lr·g/√(v+ε)``, then ``m ← μm + Δ; w ← w - m`` (μ > 0) or ``w ← w - Δ``."""
    import torch
    from keras import ops

    rho, epsilon, momentum = optimizer.rho, optimizer.epsilon, optimizer.momentum
    lr = ops.cast(learning_rate, variables[0].dtype)
    for variable, grad in zip(variables, grads):
        value = variable.value
        velocity = _slot(optimizer._velocities, optimizer, variable)
        velocity.mul_(rho).addcmul_(grad, grad, value=1 - rho)
        increment = _scratch_for(scratch, value)
        torch.add(velocity, epsilon, out=increment).sqrt_()
        torch.div(grad, increment, out=increment).mul_(lr)
        if momentum > 0:
            moving = _slot(optimizer._momentums, optimizer, variable)
            moving.mul_(momentum).add_(increment)
            value.sub_(moving)
        else:
            value.sub_(increment)


def _adam(optimizer, scratch, grads, variables, learning_rate):
    """``m ← β₁m + (1-β₁)g``, ``v ← β₂v + (1-β₂)g²``, ``w ← w - lr·√(1-β₂ᵗ)/(1-β₁ᵗ) · m/(√v+ε)``."""
    import torch
    from keras import ops

    beta_1, beta_2, epsilon = optimizer.beta_1, optimizer.beta_2, optimizer.epsilon
    dtype = variables[0].dtype
    step = ops.cast(optimizer.iterations, dtype) + 1
    alpha = ops.cast(learning_rate, dtype) * torch.sqrt(1 - torch.pow(beta_2, step)) / (1 - torch.pow(beta_1, step))
    for variable, grad in zip(variables, grads):
        value = variable.value
        mean = _slot(optimizer._momentums, optimizer, variable)
        velocity = _slot(optimizer._velocities, optimizer, variable)
        mean.mul_(beta_1).add_(grad, alpha=1 - beta_1)
        velocity.mul_(beta_2).addcmul_(grad, grad, value=1 - beta_2)
        increment = _scratch_for(scratch, value)
        torch.sqrt(velocity, out=increment).add_(epsilon)
        torch.div(mean, increment, out=increment).mul_(alpha)
        value.sub_(increment)
