"""A masked GRU with the exact mathematics of ``keras.layers.GRU(reset_after=True)`` (= PyTorch ``nn.GRU``).

Why a separate layer: Keras's own masked GRU runs a per-step Python loop on the torch backend that
recomputes the input projection and processes padded steps. ``MaskedGRU`` computes the input
projection of every step in one matmul, then runs the recurrence with a backend-specific fast path:

- torch: the batch is sorted by length and packed (like ``pack_padded_sequence``), each step runs
  only the rows whose sentence is still going, and a hand-written backward accumulates the
  recurrent-weight gradient in a single large matmul over all steps (``_TorchPackedGRU``).
- jax / tensorflow: ``keras.ops.scan`` over time-major inputs (``jax.lax.scan`` / ``tf.scan``),
  compiled by the surrounding ``jit``/XLA train step.

Masks must be post-padded (real tokens first). A step where the mask is off keeps the previous
state. With ``return_sequences=True`` the output at a padded step is the carried state, as in
``keras.layers.GRU`` (or zeros with ``zero_output_for_mask=True``, as ``pad_packed_sequence`` gives).
The returned last state is the state after each row's last real token.

Weights have the names, shapes and order of ``keras.layers.GRU``'s cell (``kernel`` (in, 3u),
``recurrent_kernel`` (u, 3u), ``bias`` (2, 3u); gate order z, r, h), so
``masked_gru.set_weights(keras_gru.get_weights())`` transfers a trained Keras GRU.
"""
import functools

import keras
from keras import ops

_BACKEND = keras.backend.backend()


@keras.saving.register_keras_serializable(package="w2vvx")
class MaskedGRU(keras.layers.Layer):
    """Unidirectional GRU over post-padded, masked sequences.

    Args:
        units: positive int, size of the hidden state.
        return_sequences: if True return all states ``(B, T, units)``, else the last real state
            ``(B, units)``.
        zero_output_for_mask: with ``return_sequences``, output zeros (True) or the carried state
            (False, Keras's default) at padded steps.
        use_fast_path: use the backend-specific recurrence when one exists (torch); False forces
            the portable ``keras.ops.scan`` path (same results up to float rounding).
        kernel_initializer, recurrent_initializer, bias_initializer: Keras initializers, defaults
            as in ``keras.layers.GRU``.
        **kwargs: base ``keras.layers.Layer`` arguments (name, dtype, trainable).

    Example:
        >>> import numpy as np
        >>> tokens = np.array([[4, 2, 0], [1, 5, 7]])
        >>> embedded = keras.layers.Embedding(10, 8, mask_zero=True)
        >>> gru = MaskedGRU(16)
        >>> tuple(gru(embedded(tokens)).shape)  # the padded id 0 is masked out
        (2, 16)
    """

    def __init__(
        self,
        units,
        return_sequences=False,
        zero_output_for_mask=False,
        use_fast_path=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"MaskedGRU: `units` must be a positive int, got {units!r}")
        for flag_name, flag in (("return_sequences", return_sequences),
                                ("zero_output_for_mask", zero_output_for_mask),
                                ("use_fast_path", use_fast_path)):
            if not isinstance(flag, bool):
                raise ValueError(f"MaskedGRU: `{flag_name}` must be True or False, got {flag!r}")
        self.units = units
        self.return_sequences = return_sequences
        self.zero_output_for_mask = zero_output_for_mask
        self.use_fast_path = use_fast_path
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"MaskedGRU: the last input dimension must be known, got input shape {input_shape}")
        self.kernel = self.add_weight(name="kernel", shape=(input_dim, 3 * self.units),
                                      initializer=self.kernel_initializer)
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, 3 * self.units),
                                                initializer=self.recurrent_initializer)
        self.bias = self.add_weight(name="bias", shape=(2, 3 * self.units), initializer=self.bias_initializer)

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def call(self, inputs, mask=None):
        batch, steps = ops.shape(inputs)[0], ops.shape(inputs)[1]
        if mask is None:
            mask = ops.ones((batch, steps), dtype="bool")
        mask = ops.cast(mask, "bool")
        if self.use_fast_path and _BACKEND == "torch":
            return self._call_torch(inputs, mask)
        return self._call_scan(inputs, mask)

    # -- portable path -------------------------------------------------------------------------
    def _gru_step(self, state, x_t, m_t, recurrent_kernel, recurrent_bias):
        units = self.units
        recurrent = ops.matmul(state, recurrent_kernel) + recurrent_bias
        z = ops.sigmoid(x_t[:, :units] + recurrent[:, :units])
        r = ops.sigmoid(x_t[:, units:2 * units] + recurrent[:, units:2 * units])
        candidate = ops.tanh(x_t[:, 2 * units:] + r * recurrent[:, 2 * units:])
        new_state = ops.where(m_t, candidate + z * (state - candidate), state)
        output = ops.where(m_t, new_state, ops.zeros_like(new_state)) if self.zero_output_for_mask else new_state
        return new_state, output

    def _call_scan(self, inputs, mask):
        projected = ops.matmul(inputs, self.kernel) + self.bias[0]  # all steps at once: (B, T, 3u)
        recurrent_kernel, recurrent_bias = self.recurrent_kernel, self.bias[1]
        step_mask = ops.expand_dims(ops.transpose(mask, (1, 0)), -1)  # (T, B, 1)

        def step(state, step_inputs):
            return self._gru_step(state, *step_inputs, recurrent_kernel, recurrent_bias)

        initial = ops.zeros((ops.shape(inputs)[0], self.units), dtype=projected.dtype)
        last, outputs = ops.scan(step, initial, (ops.transpose(projected, (1, 0, 2)), step_mask))
        return ops.transpose(outputs, (1, 0, 2)) if self.return_sequences else last

    # -- torch fast path -----------------------------------------------------------------------
    def _call_torch(self, inputs, mask):
        import torch

        lengths = mask.sum(dim=1)
        positions = torch.arange(mask.shape[1], device=mask.device)
        post_padded = bool(torch.equal(mask, positions.unsqueeze(0) < lengths.unsqueeze(1)))
        if not post_padded or bool((lengths == 0).any()):
            return self._call_scan(inputs, mask)  # holes in the mask or empty rows: exact generic path
        return _torch_packed_gru(inputs, lengths, self.kernel.value, self.recurrent_kernel.value, self.bias.value,
                                 self.return_sequences, self.zero_output_for_mask)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "return_sequences": self.return_sequences,
            "zero_output_for_mask": self.zero_output_for_mask,
            "use_fast_path": self.use_fast_path,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config


def _torch_packed_gru(inputs, lengths, kernel, recurrent_kernel, bias, return_sequences, zero_output_for_mask):
    """Packed GRU on torch: sort rows by length, project only real tokens, run active rows per step."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
    projected = torch.addmm(bias[0], packed.data, kernel)  # one matmul over every real token
    batch_sizes = packed.batch_sizes.tolist()
    states = _torch_autograd_function().apply(projected, recurrent_kernel, bias[1], batch_sizes)
    sorted_lengths = lengths[packed.sorted_indices]
    # Position of each row's last real token inside the packed data: rows are sorted by length,
    # so the step-t block holds rows 0..batch_sizes[t]-1.
    offsets = torch.tensor([0] + batch_sizes[:-1], device=states.device).cumsum(0)
    rows = torch.arange(len(sorted_lengths), device=states.device)
    last_sorted = states[offsets[sorted_lengths - 1] + rows]
    last = last_sorted[packed.unsorted_indices]
    if not return_sequences:
        return last
    outputs, _ = pad_packed_sequence(torch.nn.utils.rnn.PackedSequence(
        states, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices),
        batch_first=True, total_length=inputs.shape[1])
    if zero_output_for_mask:
        return outputs
    padded = torch.arange(inputs.shape[1], device=inputs.device).unsqueeze(0) >= lengths.unsqueeze(1)
    return torch.where(padded.unsqueeze(-1), last.unsqueeze(1), outputs)


@functools.cache
def _torch_autograd_function():
    import torch

    class TorchPackedGRU(torch.autograd.Function):
        """Recurrence over packed, length-sorted data; inputs are the projected tokens (N, 3u)."""

        @staticmethod
        def forward(ctx, projected, recurrent_kernel, recurrent_bias, batch_sizes):
            units = recurrent_kernel.shape[0]
            total = projected.shape[0]
            states = projected.new_empty(total, units)
            previous = projected.new_empty(total, units)
            gates = projected.new_empty(total, 3 * units)  # z, r, candidate
            recurrent_h = projected.new_empty(total, units)  # (h W_h + b_h), needed for dr
            state = projected.new_zeros(batch_sizes[0], units)
            start = 0
            with torch.no_grad():
                for size in batch_sizes:
                    stop = start + size
                    h = state[:size]
                    recurrent = torch.addmm(recurrent_bias, h, recurrent_kernel)
                    x = projected[start:stop]
                    zr = torch.sigmoid(x[:, :2 * units] + recurrent[:, :2 * units])
                    z, r = zr[:, :units], zr[:, units:]
                    candidate = torch.tanh(torch.addcmul(x[:, 2 * units:], r, recurrent[:, 2 * units:]))
                    new = torch.addcmul(candidate, z, h - candidate)
                    gates[start:stop, :2 * units] = zr
                    gates[start:stop, 2 * units:] = candidate
                    recurrent_h[start:stop] = recurrent[:, 2 * units:]
                    previous[start:stop] = h
                    states[start:stop] = new
                    state = new
                    start = stop
            ctx.batch_sizes = batch_sizes
            ctx.save_for_backward(recurrent_kernel, previous, gates, recurrent_h)
            return states

        @staticmethod
        def backward(ctx, grad_states):
            recurrent_kernel, previous, gates, recurrent_h = ctx.saved_tensors
            batch_sizes = ctx.batch_sizes
            units = recurrent_kernel.shape[0]
            grad_pre = torch.empty_like(gates)  # d(x-projection) = d(pre-activations), (N, 3u)
            grad_recurrent = torch.empty_like(gates)  # d(h W + b), (N, 3u)
            grad_state = grad_states.new_zeros(batch_sizes[0], units)
            kernel_t = recurrent_kernel.t()
            stop = grad_states.shape[0]
            for size in reversed(batch_sizes):
                start = stop - size
                dh = grad_state[:size] + grad_states[start:stop]
                z = gates[start:stop, :units]
                r = gates[start:stop, units:2 * units]
                candidate = gates[start:stop, 2 * units:]
                h = previous[start:stop]
                d_candidate_pre = dh * (1 - z) * (1 - candidate * candidate)
                d_z_pre = dh * (h - candidate) * z * (1 - z)
                d_r_pre = d_candidate_pre * recurrent_h[start:stop] * r * (1 - r)
                grad_pre[start:stop, :units] = d_z_pre
                grad_pre[start:stop, units:2 * units] = d_r_pre
                grad_pre[start:stop, 2 * units:] = d_candidate_pre
                grad_recurrent[start:stop, :2 * units] = grad_pre[start:stop, :2 * units]
                grad_recurrent[start:stop, 2 * units:] = d_candidate_pre * r
                new_grad = torch.addmm(dh * z, grad_recurrent[start:stop], kernel_t)
                grad_state = torch.cat([new_grad, grad_state[size:]]) if size < grad_state.shape[0] else new_grad
                stop = start
            grad_kernel = previous.t() @ grad_recurrent  # one matmul over every step
            grad_bias = grad_recurrent.sum(0)
            return grad_pre, grad_kernel, grad_bias, None

    return TorchPackedGRU
