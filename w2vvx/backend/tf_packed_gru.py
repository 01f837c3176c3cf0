"""A GRU for TensorFlow on the CPU over real tokens only, with its gradient written out (public TF API only).

TensorFlow has no packed GRU kernel on the CPU (Keras's own GRU runs a padded ``tf.while_loop``).
A TensorFlow graph (without XLA) may slice by a row count known only at run time, so
:func:`tf_packed_gru` does what :func:`~w2vvx.backend.torch_packed_gru.packed_gru` does for torch:
the batch is packed (rows sorted by length, time-major, real tokens only, as
``torch.nn.utils.rnn.pack_padded_sequence``), the input product of every token runs once before
the time loop, each step's recurrent product runs over the running rows only, and the gradient is
written out (``tf.custom_gradient``): after the reverse loop, the gradients of both kernels and of
the inputs are one product each. Same states and gradients as the padded scan up to float rounding.
"""
from __future__ import annotations

import tensorflow as tf

from w2vvx.backend.gru_cell import cell_backward, cell_forward


@tf.custom_gradient
def _packed_gru(data, batch_sizes, kernel, recurrent_kernel, input_bias, recurrent_bias):
    """States ``(N, u)`` of a GRU over packed rows ``data`` ``(N, in)``; ``batch_sizes`` ``(T,)`` non-increasing."""
    units = recurrent_kernel.shape[0]
    dtype = data.dtype
    projected = tf.matmul(data, kernel) + input_bias
    steps = tf.reduce_sum(tf.cast(batch_sizes > 0, tf.int32))
    offsets = tf.cumsum(batch_sizes, exclusive=True)
    widest = tf.reduce_sum(batch_sizes[:1])  # the first step's rows; 0 for zero steps

    def arrays(count, width):  # one more element than steps: concat refuses zero elements
        return [tf.TensorArray(dtype, size=steps + 1, infer_shape=False, element_shape=tf.TensorShape([None, width]))
                for _ in range(count)]

    def concat(array, width):
        return tf.ensure_shape(array.write(steps, tf.zeros((0, width), dtype)).concat(), [None, width])

    def step(t, state, saved):
        rows, start = batch_sizes[t], offsets[t]
        state = state[:rows]
        recurrent = tf.matmul(state, recurrent_kernel) + recurrent_bias
        new_state, z, r, n = cell_forward(projected[start:start + rows], recurrent, state, tf.sigmoid, tf.tanh)
        values = (new_state, state, z, r, n, recurrent[:, 2 * units:])
        return t + 1, new_state, [array.write(t, value) for array, value in zip(saved, values)]

    _, _, saved = tf.while_loop(
        lambda t, *_: t < steps, step, (tf.constant(0), tf.zeros((widest, units), dtype), arrays(6, units)),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, units]), [tf.TensorShape(None)] * 6))
    states, previous, update, reset, candidate, recurrent_candidate = (concat(array, units) for array in saved)

    def gradient(grad_states):
        def back(i, grad_state, grad_arrays):
            t = steps - 1 - i
            rows, start = batch_sizes[t], offsets[t]
            window = slice(start, start + rows)
            grad = grad_state[:rows] + grad_states[window]
            z, r = update[window], reset[window]
            grad_z, grad_r, grad_n = cell_backward(grad, previous[window], z, r, candidate[window],
                                                   recurrent_candidate[window])
            grad_projected = tf.concat([grad_z, grad_r, grad_n], axis=1)
            grad_recurrent = tf.concat([grad_z, grad_r, grad_n * r], axis=1)
            through = grad * z + tf.matmul(grad_recurrent, recurrent_kernel, transpose_b=True)
            grad_state = tf.pad(through, [[0, widest - rows], [0, 0]])  # rows not yet running (in reverse): 0
            return i + 1, grad_state, [grad_arrays[0].write(t, grad_projected), grad_arrays[1].write(t, grad_recurrent)]

        _, _, grad_arrays = tf.while_loop(
            lambda i, *_: i < steps, back, (tf.constant(0), tf.zeros((widest, units), dtype), arrays(2, 3 * units)),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, units]), [tf.TensorShape(None)] * 2))
        grad_projected, grad_recurrent = (concat(array, 3 * units) for array in grad_arrays)
        return (tf.matmul(grad_projected, kernel, transpose_b=True), None,
                tf.matmul(data, grad_projected, transpose_a=True),
                tf.matmul(previous, grad_recurrent, transpose_a=True),
                tf.reduce_sum(grad_projected, axis=0), tf.reduce_sum(grad_recurrent, axis=0))

    return states, gradient


def tf_packed_gru(inputs, lengths, kernel, recurrent_kernel, bias):
    """All states ``(B, T, u)`` of a post-padded GRU on TensorFlow, computing real tokens only.

    Args:
        inputs: ``(B, T, in)``, each row's real steps first.
        lengths: ``(B,)`` integers, the real steps of each row (0 to T).
        kernel, recurrent_kernel, bias: ``(in, 3u)``, ``(u, 3u)`` and ``(2, 3u)``, the cell of
            ``keras.layers.GRU(reset_after=True)`` (gate order z, r, h; ``bias[0]`` for the inputs).

    Returns:
        ``(B, T, u)`` states, equal to the padded scan's at every real step (up to float rounding)
        and zeros at padded steps. The gradient reaches every argument but ``lengths``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(3, 5, 4)).astype("float32")
        >>> weights = [rng.normal(size=s).astype("float32") for s in ((4, 6), (2, 6), (2, 6))]
        >>> states = tf_packed_gru(x, np.array([5, 2, 0]), *weights)
        >>> tuple(states.shape), float(tf.reduce_max(tf.abs(states[2])))  # the empty row stays zero
        ((3, 5, 2), 0.0)
    """
    inputs = tf.convert_to_tensor(inputs)
    if inputs.shape.rank != 3:
        raise ValueError(f"tf_packed_gru: inputs must be (batch, steps, features), got shape {inputs.shape}")
    dtype = inputs.dtype
    kernel, recurrent_kernel, bias = (tf.cast(tf.convert_to_tensor(w), dtype) for w in
                                      (kernel, recurrent_kernel, bias))
    units = recurrent_kernel.shape[0]
    lengths = tf.cast(lengths, tf.int32)
    batch, steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
    order = tf.argsort(-lengths, stable=True)
    running = tf.range(steps)[:, None] < tf.gather(lengths, order)[None, :]  # (T, B), sorted rows
    time_major = tf.transpose(tf.gather(inputs, order), (1, 0, 2))
    data = tf.boolean_mask(time_major, running)  # the packed rows: time-major, longest rows first
    batch_sizes = tf.reduce_sum(tf.cast(running, tf.int32), axis=1)
    states = _packed_gru(data, batch_sizes, kernel, recurrent_kernel, bias[0], bias[1])
    time_major_states = tf.scatter_nd(tf.cast(tf.where(running), tf.int32), states, tf.stack([steps, batch, units]))
    return tf.gather(tf.transpose(time_major_states, (1, 0, 2)), tf.argsort(order))
