"""Gradient norm of each loss term of a model, on the backend in use (a diagnostic, not a train step).

:func:`term_gradient_norms` answers "which loss term moves this block, and how hard": for every named
term the global L2 norm of its gradient with respect to each group of variables. It runs the model in
training mode on one batch and leaves every variable as it found it (BatchNorm statistics included).
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Sequence

import keras
import numpy as np

__all__ = ["term_gradient_norms"]


def term_gradient_norms(model, inputs, loss_terms: Callable, groups: Mapping[str, Sequence]) -> Dict[str, Dict[str, float]]:
    """``{term: {group: ||d term / d group||}}`` for one batch.

    Args:
        model: a built Keras model; ``model(inputs, training=True)`` gives the outputs of ``loss_terms``.
        inputs: one batch of model inputs.
        loss_terms: ``outputs -> {term name: scalar}`` (e.g. ``NRCCRRetriever.loss_terms``).
        groups: ``{group name: trainable variables of model}``.

    Returns:
        Per term and group, the global gradient norm (0.0 where the term does not reach the group).

    Example:
        >>> import numpy as np, keras
        >>> layer = keras.layers.Dense(2)
        >>> model = keras.Sequential([keras.Input((3,)), layer])
        >>> norms = term_gradient_norms(model, np.ones((4, 3), "float32"),
        ...                             lambda y: {"sum": keras.ops.sum(y), "zero": keras.ops.sum(y) * 0.0},
        ...                             {"dense": layer.trainable_variables})
        >>> round(norms["sum"]["dense"], 3), norms["zero"]["dense"]
        (11.314, 0.0)
    """
    wanted = {name: [id(variable) for variable in variables] for name, variables in groups.items()}
    trainable = list(model.trainable_variables)
    position = {id(variable): index for index, variable in enumerate(trainable)}
    for name, ids in wanted.items():
        missing = [index for index in ids if index not in position]
        if missing:
            raise ValueError(f"group {name!r} holds {len(missing)} variables that are not trainable variables of "
                             f"{type(model).__name__}")
    saved = [np.array(keras.ops.convert_to_numpy(variable.value)) for variable in model.non_trainable_variables]
    try:
        gradients = _BACKENDS[keras.backend.backend()](model, inputs, loss_terms, trainable)
    finally:
        for variable, value in zip(model.non_trainable_variables, saved):
            variable.assign(value)
    norms = {}
    for term, grads in gradients.items():
        norms[term] = {}
        for name, ids in wanted.items():
            total = 0.0
            for index in ids:
                grad = grads[position[index]]
                if grad is not None:
                    total += float(np.sum(np.square(np.asarray(keras.ops.convert_to_numpy(grad), np.float64))))
            norms[term][name] = float(np.sqrt(total))
    return norms


def _tensorflow(model, inputs, loss_terms, trainable):
    import tensorflow as tf

    with tf.GradientTape(persistent=True) as tape:
        terms = loss_terms(model(inputs, training=True))
    values = [variable.value for variable in trainable]
    result = {name: tape.gradient(term, values, unconnected_gradients=tf.UnconnectedGradients.NONE)
              for name, term in terms.items()}
    del tape
    return result


def _torch(model, inputs, loss_terms, trainable):
    import torch

    terms = loss_terms(model(inputs, training=True))
    values = [variable.value for variable in trainable]
    result = {}
    names = list(terms)
    for position, name in enumerate(names):
        term = terms[name]
        if not term.requires_grad:
            result[name] = [None] * len(values)
            continue
        result[name] = list(torch.autograd.grad(term, values, retain_graph=position < len(names) - 1,
                                                allow_unused=True))
    return result


def _jax(model, inputs, loss_terms, trainable):
    import jax

    trainable_values = [variable.value for variable in trainable]
    non_trainable_values = [variable.value for variable in model.non_trainable_variables]

    def terms_of(values):
        outputs, _ = model.stateless_call(values, non_trainable_values, inputs, training=True)
        return loss_terms(outputs)

    names = list(jax.eval_shape(terms_of, trainable_values))
    return {name: jax.grad(lambda values, name=name: terms_of(values)[name])(trainable_values) for name in names}


_BACKENDS = {"tensorflow": _tensorflow, "torch": _torch, "jax": _jax}
