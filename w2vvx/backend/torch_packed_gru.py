"""A GRU over a packed batch for torch on the CPU, with its gradient written out (public torch API only).

ATen's packed GRU (what ``torch.nn.GRU`` runs on a ``PackedSequence`` on the CPU) multiplies each
step's inputs by the input kernel, and its autograd graph computes both kernels' gradients one time
step at a time: products with an inner size of at most the batch. :func:`packed_gru` does the same
mathematics with the large products outside the time loop: the input projection of every token at
once before it, and the kernels' and inputs' gradients as one product each after the reverse loop
(only the state's gradient must go step by step). Same states and gradients up to float rounding;
at the lineage's sizes (batch 128, 500 → 1,024, lengths 8-32, one thread) forward and backward ran
1.32x (1.11-1.36) as fast as ATen's (``benchmarks/bench_gru_paths.py --measures packed``).
"""
from __future__ import annotations

import torch

from w2vvx.backend.gru_cell import cell_backward


class _PackedGRU(torch.autograd.Function):
    """Forward and backward of a GRU over packed, time-major rows (Keras layout and gate order z, r, h)."""

    @staticmethod
    def forward(ctx, data, kernel, recurrent_kernel, input_bias, recurrent_bias, batch_sizes):
        units = recurrent_kernel.shape[0]
        projected = torch.addmm(input_bias, data, kernel)  # every token's input product at once: (N, 3u)
        total = data.shape[0]
        states = data.new_empty(total, units)
        previous = data.new_empty(total, units)
        update = data.new_empty(total, units)
        reset = data.new_empty(total, units)
        candidate = data.new_empty(total, units)
        recurrent_candidate = data.new_empty(total, units)
        state = data.new_zeros(batch_sizes[0], units)
        start = 0
        for rows in batch_sizes:
            step = slice(start, start + rows)
            state = state[:rows]
            recurrent = torch.addmm(recurrent_bias, state, recurrent_kernel)
            z, r, h = projected[step].split(units, dim=1)
            recurrent_z, recurrent_r, recurrent_h = recurrent.split(units, dim=1)
            torch.sigmoid(z + recurrent_z, out=update[step])
            torch.sigmoid(r + recurrent_r, out=reset[step])
            torch.tanh(torch.addcmul(h, reset[step], recurrent_h), out=candidate[step])
            previous[step] = state
            recurrent_candidate[step] = recurrent_h
            new_state = torch.addcmul(candidate[step], update[step], state - candidate[step])
            states[step] = new_state
            state = new_state
            start += rows
        ctx.save_for_backward(data, kernel, recurrent_kernel, previous, update, reset, candidate, recurrent_candidate)
        ctx.batch_sizes = batch_sizes
        return states

    @staticmethod
    def backward(ctx, grad_states):
        data, kernel, recurrent_kernel, previous, update, reset, candidate, recurrent_candidate = ctx.saved_tensors
        batch_sizes = ctx.batch_sizes
        units = recurrent_kernel.shape[0]
        total = data.shape[0]
        grad_projected = data.new_empty(total, 3 * units)
        grad_recurrent = data.new_empty(total, 3 * units)
        grad_state = data.new_zeros(batch_sizes[0], units)  # rows not yet running (in reverse) get nothing
        recurrent_kernel_t = recurrent_kernel.t()
        end = total
        for rows in reversed(batch_sizes):
            step = slice(end - rows, end)
            end -= rows
            grad = grad_state[:rows] + grad_states[step]
            z, r = update[step], reset[step]
            grad_z, grad_r, grad_n = cell_backward(grad, previous[step], z, r, candidate[step],
                                                   recurrent_candidate[step])
            grad_projected[step, :units] = grad_z
            grad_projected[step, units:2 * units] = grad_r
            grad_projected[step, 2 * units:] = grad_n
            grad_recurrent[step, :2 * units] = grad_projected[step, :2 * units]
            torch.mul(grad_n, r, out=grad_recurrent[step, 2 * units:])
            grad_state[:rows] = torch.addmm(grad * z, grad_recurrent[step], recurrent_kernel_t)
        needs = ctx.needs_input_grad
        grad_data = grad_projected @ kernel.t() if needs[0] else None
        grad_kernel = data.t() @ grad_projected if needs[1] else None
        grad_recurrent_kernel = previous.t() @ grad_recurrent if needs[2] else None
        grad_input_bias = grad_projected.sum(0) if needs[3] else None
        grad_recurrent_bias = grad_recurrent.sum(0) if needs[4] else None
        return grad_data, grad_kernel, grad_recurrent_kernel, grad_input_bias, grad_recurrent_bias, None


def packed_gru(data, batch_sizes, kernel, recurrent_kernel, bias):
    """The states of a GRU (``keras.layers.GRU(reset_after=True)``'s cell) over a packed batch, from a zero state.

    Args:
        data: ``(N, in)`` tensor, the ``data`` of a ``torch.nn.utils.rnn.PackedSequence`` (time-major
            rows of the running sequences, longest first).
        batch_sizes: the running rows at each step (``PackedSequence.batch_sizes``), non-increasing.
        kernel, recurrent_kernel, bias: ``(in, 3u)``, ``(u, 3u)`` and ``(2, 3u)`` tensors in Keras's layout
            (gate order z, r, h; ``bias[0]`` for the inputs, ``bias[1]`` for the state).

    Returns:
        ``(N, u)`` states, row for row with ``data``.

    Example:
        >>> from torch.nn.utils.rnn import pack_sequence
        >>> packed = pack_sequence([torch.ones(3, 4), torch.ones(1, 4)])
        >>> weights = torch.zeros(4, 6), torch.zeros(2, 6), torch.zeros(2, 6)
        >>> tuple(packed_gru(packed.data, packed.batch_sizes, *weights).shape)
        (4, 2)
    """
    sizes = batch_sizes.tolist() if hasattr(batch_sizes, "tolist") else [int(rows) for rows in batch_sizes]
    if not sizes or any(later > earlier for earlier, later in zip(sizes, sizes[1:])) or sizes[-1] <= 0:
        raise ValueError(f"packed_gru: batch_sizes must be positive and non-increasing (a PackedSequence's), "
                         f"got {sizes}")
    if sum(sizes) != data.shape[0]:
        raise ValueError(f"packed_gru: batch_sizes sum to {sum(sizes)} rows but data has {data.shape[0]}")
    dtype = data.dtype
    kernel, recurrent_kernel, bias = (weight.to(dtype) for weight in (kernel, recurrent_kernel, bias))
    return _PackedGRU.apply(data, kernel, recurrent_kernel, bias[0], bias[1], sizes)
