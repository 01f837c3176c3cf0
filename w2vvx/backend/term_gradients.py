"""Gradient norm of each loss term of a model, on the backend in use (a diagnostic, not a train step).

:class:`TermGradientNorms` answers "which loss term moves this block, and how hard": for every named
term the global L2 norm of its gradient with respect to each group of variables. It runs the model in
training mode on one batch and leaves every variable as it found it (BatchNorm statistics and dropout
seeds included). Made once per model and called on a batch after every epoch, it compiles the
gradients once on JAX (``jax.jit``); TensorFlow and torch run them eagerly.
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Sequence

import keras
import numpy as np

__all__ = ["TermGradientNorms", "term_gradient_norms"]


class TermGradientNorms:
    """``norms(inputs) -> {term: {group: ||d term / d group||}}`` for one model, reusable across batches.

    Args:
        model: a built Keras model; ``model(inputs, training=True)`` gives the outputs of ``loss_terms``.
        loss_terms: ``outputs -> {term name: scalar}`` (e.g. ``NRCCRRetriever.loss_terms``).
        groups: ``{group name: trainable variables of model}``.

    Example:
        >>> layer = keras.layers.Dense(2)
        >>> model = keras.Sequential([keras.Input((3,)), layer])
        >>> norms = TermGradientNorms(model, lambda y: {"sum": keras.ops.sum(y), "zero": keras.ops.sum(y) * 0.0},
        ...                           {"dense": layer.trainable_variables})
        >>> result = norms(np.ones((4, 3), "float32"))
        >>> round(result["sum"]["dense"], 3), result["zero"]["dense"]
        (11.314, 0.0)
    """

    def __init__(self, model, loss_terms: Callable, groups: Mapping[str, Sequence]):
        self.model, self.loss_terms = model, loss_terms
        self.trainable = list(model.trainable_variables)
        position = {id(variable): index for index, variable in enumerate(self.trainable)}
        self.groups: Dict[str, list] = {}
        for name, variables in groups.items():
            missing = [variable for variable in variables if id(variable) not in position]
            if missing:
                raise ValueError(f"group {name!r} holds {len(missing)} variables that are not trainable variables "
                                 f"of {type(model).__name__}")
            self.groups[name] = [position[id(variable)] for variable in variables]
        self._compiled = None

    def __call__(self, inputs) -> Dict[str, Dict[str, float]]:
        if keras.backend.backend() == "jax":  # stateless: nothing to restore
            return self._jax(inputs)
        model = self.model
        saved = [np.array(keras.ops.convert_to_numpy(variable.value)) for variable in model.non_trainable_variables]
        try:
            gradients = _EAGER[keras.backend.backend()](model, inputs, self.loss_terms, self.trainable)
        finally:
            for variable, value in zip(model.non_trainable_variables, saved):
                variable.assign(value)
        norms = {}
        for term, grads in gradients.items():
            norms[term] = {}
            for name, positions in self.groups.items():
                total = sum(float(np.sum(np.square(np.asarray(keras.ops.convert_to_numpy(grads[index]), np.float64))))
                            for index in positions if grads[index] is not None)
                norms[term][name] = float(np.sqrt(total))
        return norms

    def _jax(self, inputs):
        import jax
        import jax.numpy as jnp

        trainable_values = [variable.value for variable in self.trainable]
        non_trainable_values = [variable.value for variable in self.model.non_trainable_variables]
        if self._compiled is None:
            def terms_of(values, non_trainable, batch):
                outputs, _ = self.model.stateless_call(values, non_trainable, batch, training=True)
                return self.loss_terms(outputs)

            names = list(jax.eval_shape(terms_of, trainable_values, non_trainable_values, inputs))

            def all_norms(values, non_trainable, batch):
                result = {}
                for name in names:
                    grads = jax.grad(lambda v, name=name: terms_of(v, non_trainable, batch)[name])(values)
                    result[name] = {group: jnp.sqrt(sum((jnp.sum(jnp.square(grads[index].astype("float32")))
                                                         for index in positions), jnp.float32(0.0)))
                                    for group, positions in self.groups.items()}
                return result

            self._compiled = jax.jit(all_norms)
        result = self._compiled(trainable_values, non_trainable_values, inputs)
        return {term: {group: float(value) for group, value in groups.items()} for term, groups in result.items()}


def term_gradient_norms(model, inputs, loss_terms: Callable, groups: Mapping[str, Sequence]) -> Dict[str, Dict[str, float]]:
    """``{term: {group: ||d term / d group||}}`` for one batch (:class:`TermGradientNorms`, used once).

    Example:
        >>> layer = keras.layers.Dense(2)
        >>> model = keras.Sequential([keras.Input((3,)), layer])
        >>> norms = term_gradient_norms(model, np.ones((4, 3), "float32"), lambda y: {"sum": keras.ops.sum(y)},
        ...                             {"dense": layer.trainable_variables})
        >>> round(norms["sum"]["dense"], 3)
        11.314
    """
    return TermGradientNorms(model, loss_terms, groups)(inputs)


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


_EAGER = {"tensorflow": _tensorflow, "torch": _torch}
