"""The fused GRU kernels that :class:`~w2vvx.layers.recurrent.MaskedGRU` runs on the backends that have one.

Both take a post-padded batch (each row's real steps first) and the weights of
``keras.layers.GRU(reset_after=True)``'s cell (``kernel`` (in, 3u), ``recurrent_kernel`` (u, 3u),
``bias`` (2, 3u); gate order z, r, h), and return all states ``(B, T, u)``:

- :func:`torch_fused_gru`: on CUDA ``torch._VF.gru``, what ``torch.nn.GRU`` calls (a private torch
  entry point: cuDNN over the padded batch); on the CPU the packed batch (real tokens only) through
  :func:`~w2vvx.backend.torch_packed_gru.packed_gru`;
- :func:`keras_fused_gru`: ``keras.src.backend.gru``, the cuDNN kernel ``keras.layers.GRU`` calls
  on TensorFlow with a GPU (not part of Keras's public API).

On the CPU, TensorFlow and JAX have packed GRUs of their own (public API only, real tokens only,
the gradient written out): :mod:`w2vvx.backend.tf_packed_gru` and :mod:`w2vvx.backend.jax_packed_gru`.

The layer calls them only when :func:`~w2vvx.backend.versions.fast_path_enabled` says the installed
versions are the tested ones; else it runs its portable ``keras.ops.scan``.
"""
from __future__ import annotations

import keras

from w2vvx.backend.gru_cell import cell_forward


def torch_fused_gru(inputs, lengths, kernel, recurrent_kernel, bias, packed=None):
    """All states ``(B, T, u)`` of a post-padded GRU on torch: cuDNN on CUDA, a packed GRU on the CPU.

    On CUDA the whole padded batch goes through ``torch._VF.gru`` (what ``nn.GRU`` calls: cuDNN; no
    host synchronisation; steps after a row's end are computed and never read). Packing on CUDA was
    measured slower on an H100 (one device copy per time step, and the lengths read on the host;
    ``benchmarks/bench_torch_step.py --variants eager,packed-gru`` compares them). On the CPU, where
    reading the lengths costs nothing, the batch is packed so that only real tokens are computed, by
    :func:`~w2vvx.backend.torch_packed_gru.packed_gru` (its large products outside the time loop).

    Args:
        inputs: ``(B, T, in)`` torch tensor, each row's real steps first.
        lengths: ``(B,)`` integer tensor, the real steps of each row.
        kernel, recurrent_kernel, bias: the cell's weights (Keras variables or tensors), Keras layout.
        packed: None (pack on the CPU only, outside ``torch.compile``), or True / False to force it.

    Example:
        >>> import numpy as np
        >>> if keras.backend.backend() == "torch":
        ...     import torch
        ...     x, lengths = torch.ones(2, 3, 4), torch.tensor([3, 1])
        ...     weights = torch.zeros(4, 6), torch.zeros(2, 6), torch.zeros(2, 6)
        ...     shape = tuple(torch_fused_gru(x, lengths, *weights).shape)
        ... else:
        ...     shape = (2, 3, 2)
        >>> shape
        (2, 3, 2)
    """
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from w2vvx.backend.torch_packed_gru import packed_gru

    kernel, recurrent_kernel, bias = (torch.as_tensor(getattr(w, "value", w)) for w in
                                      (kernel, recurrent_kernel, bias))
    if packed is None:  # packing reads the lengths on the host: not on a GPU, nor inside torch.compile
        packed = inputs.device.type == "cpu" and not torch.compiler.is_compiling()
    if packed:
        sequence = pack_padded_sequence(inputs, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        data = packed_gru(sequence.data, sequence.batch_sizes, kernel, recurrent_kernel, bias)
        outputs, _ = pad_packed_sequence(sequence._replace(data=data), batch_first=True,
                                         total_length=inputs.shape[1])
        return outputs
    dtype = inputs.dtype

    def reorder(matrix):  # Keras gate order (z, r, h) -> PyTorch (r, z, h)
        z, r, h = torch.chunk(matrix, 3, dim=-1)
        return torch.cat([r, z, h], dim=-1)

    params = [reorder(kernel).t().to(dtype).contiguous(), reorder(recurrent_kernel).t().to(dtype).contiguous(),
              reorder(bias[0]).to(dtype), reorder(bias[1]).to(dtype)]
    initial = inputs.new_zeros(1, inputs.shape[0], recurrent_kernel.shape[0])
    outputs, _ = torch._VF.gru(inputs.contiguous(), initial, params, True, 1, 0.0, torch.is_grad_enabled(),
                               False, True)
    return outputs


def keras_fused_gru(inputs, mask, kernel, recurrent_kernel, bias):
    """All states ``(B, T, u)`` of a GRU through Keras's fused kernel, as ``keras.layers.GRU`` calls it.

    That kernel (``keras.src.backend.gru``) is cuDNN on TensorFlow with a GPU; it raises
    ``NotImplementedError`` where there is none (then this returns None: use the portable path).

    Args:
        inputs: ``(B, T, in)`` tensor.
        mask: ``(B, T)`` boolean, a right-padded mask with at least one True per row (cuDNN refuses
            empty sequences).
        kernel, recurrent_kernel, bias: the cell's weights, Keras layout.

    Example:
        >>> import numpy as np
        >>> x, mask = np.ones((2, 3, 4), "float32"), np.array([[True, True, False], [True, False, False]])
        >>> weights = np.zeros((4, 6), "float32"), np.zeros((2, 6), "float32"), np.zeros((2, 6), "float32")
        >>> states = keras_fused_gru(x, mask, *weights)  # None without a fused kernel (the CPU)
        >>> states is None or tuple(states.shape) == (2, 3, 2)
        True
    """
    from keras.src import backend as keras_backend  # Keras's fused GRU kernel, as keras.layers.GRU calls it

    initial = keras.ops.zeros((keras.ops.shape(inputs)[0], recurrent_kernel.shape[0]), dtype=inputs.dtype)
    try:
        _, outputs, _ = keras_backend.gru(inputs, initial, mask, kernel, recurrent_kernel, bias,
                                          keras.activations.tanh, keras.activations.sigmoid,
                                          return_sequences=True, reset_after=True)
    except NotImplementedError:
        return None
    return outputs


def gru_step(state, projected_input, step_mask, recurrent_kernel, recurrent_bias):
    """One step of ``keras.layers.GRU(reset_after=True)``: the new state, kept where ``step_mask`` is False.

    Args:
        state: ``(B, u)`` previous state.
        projected_input: ``(B, 3u)``, the step's input times the kernel plus the input bias.
        step_mask: ``(B, 1)`` boolean, True where the step is real.
        recurrent_kernel, recurrent_bias: ``(u, 3u)`` and ``(3u,)``.

    Example:
        >>> zeros = keras.ops.zeros  # tensors on the backend's device: the step runs inside a scan
        >>> state = gru_step(zeros((1, 2)), zeros((1, 6)), keras.ops.ones((1, 1), "bool"), zeros((2, 6)), zeros((6,)))
        >>> keras.ops.convert_to_numpy(state).tolist()  # z = 0.5, candidate tanh(0) = 0
        [[0.0, 0.0]]
    """
    ops = keras.ops
    recurrent = ops.matmul(state, recurrent_kernel) + recurrent_bias
    new_state, *_ = cell_forward(projected_input, recurrent, state, ops.sigmoid, ops.tanh)
    return ops.where(step_mask, new_state, state)
