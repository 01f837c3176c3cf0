"""The cell of ``keras.layers.GRU(reset_after=True)`` and its gradient, written once for every GRU loop.

Plain arithmetic on the arrays of whichever framework calls it (torch, TensorFlow, JAX or
``keras.ops`` tensors); the activations are passed in. Gate order z, r, h, as Keras's kernels.
"""
from __future__ import annotations


def cell_forward(projected_input, recurrent, state, sigmoid, tanh):
    """One step: ``(new_state, z, r, n)`` from the step's input product and the state's.

    Args:
        projected_input: ``(B, 3u)``, the step's input times the kernel plus the input bias.
        recurrent: ``(B, 3u)``, the state times the recurrent kernel plus the recurrent bias.
        state: ``(B, u)``, the previous state.
        sigmoid, tanh: the framework's activations.

    Example:
        >>> import numpy as np
        >>> sigmoid = lambda x: 1 / (1 + np.exp(-x))
        >>> new_state, z, r, n = cell_forward(np.zeros((1, 6)), np.zeros((1, 6)), np.ones((1, 2)), sigmoid, np.tanh)
        >>> new_state.tolist(), z.tolist()  # z = 0.5 keeps half of the state, candidate tanh(0) = 0
        ([[0.5, 0.5]], [[0.5, 0.5]])
    """
    units = state.shape[-1]
    z = sigmoid(projected_input[:, :units] + recurrent[:, :units])
    r = sigmoid(projected_input[:, units:2 * units] + recurrent[:, units:2 * units])
    n = tanh(projected_input[:, 2 * units:] + r * recurrent[:, 2 * units:])
    return n + z * (state - n), z, r, n


def cell_backward(grad, previous, z, r, n, recurrent_candidate):
    """The gradients of the gates' pre-activations ``(grad_z, grad_r, grad_n)`` from the new state's ``grad``.

    ``recurrent_candidate`` is the candidate's recurrent part (``recurrent[:, 2u:]`` of
    :func:`cell_forward`). The input product's gradient is ``[grad_z, grad_r, grad_n]``, the state
    product's ``[grad_z, grad_r, grad_n * r]``, and the previous state also receives ``grad * z``.

    Example:
        >>> import numpy as np
        >>> half = np.full((1, 1), 0.5)
        >>> [g.tolist() for g in cell_backward(np.ones((1, 1)), np.ones((1, 1)), half, half, np.zeros((1, 1)), half)]
        [[[0.25]], [[0.0625]], [[0.5]]]
    """
    grad_n = grad * (1 - z) * (1 - n * n)
    grad_z = grad * (previous - n) * z * (1 - z)
    grad_r = grad_n * recurrent_candidate * r * (1 - r)
    return grad_z, grad_r, grad_n
