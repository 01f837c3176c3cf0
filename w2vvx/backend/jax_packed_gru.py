"""A GRU for JAX on the CPU over real tokens only, with its gradient written out (public JAX API only).

A ``jax.lax.scan`` over a padded batch computes every padded step, and XLA's shapes are static, so
it cannot skip them. :func:`jax_packed_gru` packs the batch as ``torch.nn.utils.rnn.pack_padded_sequence``
does (rows sorted by length, the running rows of each step one after the other: the running rows
are a prefix of the sorted batch) into a buffer of static size, and bounds every product by how
many rows are real:

- the input product of all tokens and, after the reverse loop, the gradients of both kernels and
  of the inputs are one product each over the packed tokens, whose row count is rounded up to one
  of ``row_groups`` static sizes (chosen on the device by ``lax.switch``);
- the time loop is a ``lax.fori_loop`` over the longest row's steps only, and each step's recurrent
  product runs over the running rows rounded up the same way.

Autodiff through ``lax.switch`` inside a loop would save every branch's intermediates at every
step; the gradient is therefore written out (``jax.custom_vjp``) as in
:mod:`w2vvx.backend.torch_packed_gru`, and no intermediate is stored for the padding. Same states
and gradients as the padded scan up to float rounding, with no host synchronisation.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from w2vvx.backend.gru_cell import cell_backward, cell_forward


class _Layout(NamedTuple):
    """Where each packed row comes from, for ``B`` rows of ``T`` steps (packed index ``p < B*T``)."""

    counts: object  # (T,) running rows at each step
    offsets: object  # (T,) packed index of each step's first row
    source: object  # (B*T,) flat (row * T + step) index of packed row p, 0 past the real tokens
    real_packed: object  # (B*T,) True where packed row p is a real token
    target: object  # (B, T) packed index of (row, step)
    real: object  # (B, T) True at real steps
    tokens: object  # () number of real tokens
    longest: object  # () steps of the longest row


def _layout(lengths, steps):
    batch = lengths.shape[0]
    order = jnp.argsort(-lengths, stable=True)
    running = lengths[order][None, :] > jnp.arange(steps, dtype=lengths.dtype)[:, None]  # (T, B)
    counts = jnp.sum(running, axis=1, dtype="int32")
    ends = jnp.cumsum(counts)
    offsets = ends - counts
    packed = jnp.arange(batch * steps, dtype="int32")
    step_of = jnp.minimum(jnp.sum(ends[None, :] <= packed[:, None], axis=1, dtype="int32"), steps - 1)
    real_packed = packed < ends[-1]
    sorted_row = jnp.clip(packed - offsets[step_of], 0, batch - 1)
    source = jnp.where(real_packed, order[sorted_row] * steps + step_of, 0)
    rank = jnp.argsort(order)
    target = offsets[None, :] + rank[:, None]
    real = jnp.arange(steps)[None, :] < lengths[:, None]
    return _Layout(counts, offsets, source, real_packed, target, real, ends[-1], jnp.sum(counts > 0, dtype="int32"))


def _pack(values, layout, extra_rows):
    """``(B, T, D)`` → ``(B*T + extra_rows, D)``: real tokens first, zeros after."""
    batch, steps, width = values.shape
    rows = jnp.take(values.reshape(batch * steps, width), layout.source, axis=0)
    rows = jnp.where(layout.real_packed[:, None], rows, jnp.zeros_like(rows))
    return jnp.pad(rows, ((0, extra_rows), (0, 0)))


def _unpack(rows, layout):
    """Packed rows → ``(B, T, D)``, zeros at padded steps."""
    values = jnp.take(rows, layout.target, axis=0)
    return jnp.where(layout.real[..., None], values, jnp.zeros_like(values))


def _group_sizes(total, groups):
    return sorted({-(-total * (k + 1) // groups) for k in range(groups)})


def _over_rows(count, sizes, product, *operands):
    """``product(*operands, rows)`` for the smallest static ``rows`` in ``sizes`` that holds ``count``."""
    choice = jnp.sum(jnp.asarray(sizes[:-1]) < count, dtype="int32")
    branches = [functools.partial(product, rows=rows) for rows in sizes]
    return lax.switch(choice, branches, *operands)


def _padded_product(left, right, rows, total):
    """``left[:rows] @ right`` padded back to ``total`` rows."""
    product = left[:rows] @ right
    return product if rows == total else jnp.pad(product, ((0, total - rows), (0, 0)))


def _leading_rows_product(left, right, rows):
    """``left[:rows].T @ right[:rows]``: a weight's gradient summed over the first ``rows`` packed tokens."""
    return left[:rows].T @ right[:rows]


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _packed_gru(inputs, lengths, kernel, recurrent_kernel, bias, row_groups):
    return _forward(inputs, lengths, kernel, recurrent_kernel, bias, row_groups)[0]


def _forward(inputs, lengths, kernel, recurrent_kernel, bias, row_groups):
    batch, steps, _ = inputs.shape
    units = recurrent_kernel.shape[0]
    total = batch * steps
    layout = _layout(lengths, steps)
    data = _pack(inputs, layout, batch)  # (total + B, in): a step's B-row window never runs past the end
    token_sizes, row_sizes = _group_sizes(total, row_groups), _group_sizes(batch, row_groups)
    projected = _over_rows(layout.tokens, token_sizes,
                           lambda x, w, rows: _padded_product(x, w, rows, total + batch), data, kernel) + bias[0]
    recurrent_bias = bias[1]
    buffer = jnp.zeros((total + batch, units), inputs.dtype)

    def step(t, carry):
        state, states, previous, update, reset, candidate, recurrent_candidate = carry
        start, running = layout.offsets[t], layout.counts[t]
        recurrent = _over_rows(running, row_sizes, lambda h, w, rows: _padded_product(h, w, rows, batch),
                               state, recurrent_kernel) + recurrent_bias
        new_state, z, r, n = cell_forward(lax.dynamic_slice_in_dim(projected, start, batch), recurrent, state,
                                          jax.nn.sigmoid, jnp.tanh)
        # rows past `running` land on the next step's rows, which that step overwrites
        saved = [lax.dynamic_update_slice_in_dim(buf, value, start, 0) for buf, value in
                 ((states, new_state), (previous, state), (update, z), (reset, r), (candidate, n),
                  (recurrent_candidate, recurrent[:, 2 * units:]))]
        live = (jnp.arange(batch) < running)[:, None]
        return (jnp.where(live, new_state, state), *saved)

    initial = (jnp.zeros((batch, units), inputs.dtype),) + (buffer,) * 6
    _, states, *saved = lax.fori_loop(0, layout.longest, step, initial)
    return _unpack(states, layout), (layout, data, kernel, recurrent_kernel, *saved)


def _forward_rule(inputs, lengths, kernel, recurrent_kernel, bias, row_groups):
    outputs, residuals = _forward(inputs, lengths, kernel, recurrent_kernel, bias, row_groups)
    return outputs, (residuals, inputs.shape)


def _backward_rule(row_groups, saved, grad_outputs):
    (layout, data, kernel, recurrent_kernel, previous, update, reset, candidate, recurrent_candidate), shape = saved
    batch, steps, _ = shape
    units = recurrent_kernel.shape[0]
    total = batch * steps
    token_sizes, row_sizes = _group_sizes(total, row_groups), _group_sizes(batch, row_groups)
    grad_states = _pack(grad_outputs.astype(data.dtype), layout, batch)
    recurrent_kernel_t = recurrent_kernel.T

    def step(i, carry):
        grad_state, grad_projected, grad_recurrent = carry
        t = layout.longest - 1 - i
        start, running = layout.offsets[t], layout.counts[t]
        live = (jnp.arange(batch) < running)[:, None]
        window = functools.partial(lax.dynamic_slice_in_dim, start_index=start, slice_size=batch)
        grad = jnp.where(live, grad_state + window(grad_states), 0.0)
        z, r = window(update), window(reset)
        grad_z, grad_r, grad_n = cell_backward(grad, window(previous), z, r, window(candidate),
                                               window(recurrent_candidate))
        step_projected = jnp.concatenate([grad_z, grad_r, grad_n], axis=1)
        step_recurrent = jnp.concatenate([grad_z, grad_r, grad_n * r], axis=1)
        # the window's rows past `running` belong to the next step, already written: keep them
        grad_projected, grad_recurrent = (
            lax.dynamic_update_slice_in_dim(buf, jnp.where(live, value, window(buf)), start, 0)
            for buf, value in ((grad_projected, step_projected), (grad_recurrent, step_recurrent)))
        through = _over_rows(running, row_sizes, lambda g, w, rows: _padded_product(g, w, rows, batch),
                             step_recurrent, recurrent_kernel_t)
        return jnp.where(live, grad * z + through, grad_state), grad_projected, grad_recurrent

    zeros = jnp.zeros((total + batch, 3 * units), data.dtype)
    _, grad_projected, grad_recurrent = lax.fori_loop(
        0, layout.longest, step, (jnp.zeros((batch, units), data.dtype), zeros, zeros))
    grad_data = _over_rows(layout.tokens, token_sizes,
                           lambda g, w, rows: _padded_product(g, w, rows, total + batch), grad_projected, kernel.T)
    grad_kernel = _over_rows(layout.tokens, token_sizes, _leading_rows_product, data, grad_projected)
    grad_recurrent_kernel = _over_rows(layout.tokens, token_sizes, _leading_rows_product, previous, grad_recurrent)
    grad_bias = jnp.stack([jnp.sum(grad_projected, axis=0), jnp.sum(grad_recurrent, axis=0)])
    return _unpack(grad_data, layout), None, grad_kernel, grad_recurrent_kernel, grad_bias


_packed_gru.defvjp(_forward_rule, _backward_rule)


def jax_packed_gru(inputs, lengths, kernel, recurrent_kernel, bias, row_groups=32):
    """All states ``(B, T, u)`` of a post-padded GRU on JAX, computing real tokens only.

    Args:
        inputs: ``(B, T, in)`` with a static batch size and length, each row's real steps first.
        lengths: ``(B,)`` integers, the real steps of each row (0 to T).
        kernel, recurrent_kernel, bias: ``(in, 3u)``, ``(u, 3u)`` and ``(2, 3u)``, the cell of
            ``keras.layers.GRU(reset_after=True)`` (gate order z, r, h; ``bias[0]`` for the inputs).
        row_groups: how many static row counts each product may round up to (positive int): the
            products run over at most ``1/row_groups`` of the batch (or of ``B*T`` tokens) more rows
            than are real.

    Returns:
        ``(B, T, u)`` states, equal to the padded scan's at every real step (up to float rounding)
        and zeros at padded steps. The gradient is written out and reaches every argument but ``lengths``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(3, 5, 4)).astype("float32")
        >>> weights = [rng.normal(size=s).astype("float32") for s in ((4, 6), (2, 6), (2, 6))]
        >>> states = jax_packed_gru(x, np.array([5, 2, 0]), *weights, row_groups=2)
        >>> tuple(states.shape), float(abs(states[2]).max())  # the empty row stays zero
        ((3, 5, 2), 0.0)
    """
    if isinstance(row_groups, bool) or not isinstance(row_groups, int) or row_groups <= 0:
        raise ValueError(f"jax_packed_gru: `row_groups` must be a positive int, got {row_groups!r}")
    inputs = jnp.asarray(inputs)
    if inputs.ndim != 3:
        raise ValueError(f"jax_packed_gru: inputs must be (batch, steps, features), got shape {inputs.shape}")
    dtype = inputs.dtype
    kernel, recurrent_kernel, bias = (jnp.asarray(w, dtype=dtype) for w in (kernel, recurrent_kernel, bias))
    lengths = jnp.asarray(lengths).astype("int32")
    return _packed_gru(inputs, lengths, kernel, recurrent_kernel, bias, row_groups)
