"""A masked GRU with the exact mathematics of ``keras.layers.GRU(reset_after=True)`` (= PyTorch ``nn.GRU``).

Why a separate layer: Keras's own masked GRU falls back to a per-step Python loop on the torch
backend whenever a mask is given, and never reaches cuDNN there. ``MaskedGRU`` turns any mask into
a plain, unmasked problem without a host synchronisation, then runs the fused kernel of the backend:

1. *Compaction.* The real steps of each row are moved to the front (a gather along time, stable
   in order); a GRU skips masked steps, so running it over the compacted row gives the same states
   at the real steps, whatever the mask (post-padded or with holes).
2. *Fused recurrence* (the kernels live in :mod:`w2vvx.backend.gru_kernels`).
   - torch: ``torch._VF.gru`` (what ``torch.nn.GRU`` calls): cuDNN over the padded batch on CUDA;
     on the CPU :func:`~w2vvx.backend.torch_packed_gru.packed_gru` over the packed batch (real
     tokens only, its gradient written out).
   - tensorflow: Keras's own cuDNN GRU kernel when a GPU is visible (with the sequence lengths).
   - tensorflow on the CPU: :func:`~w2vvx.backend.tf_packed_gru.tf_packed_gru`, the packed batch
     (real tokens only; a TensorFlow graph may slice by a row count known at run time), its
     gradient written out.
   - jax on the CPU: :func:`~w2vvx.backend.jax_packed_gru.jax_packed_gru`, the packed batch in a
     buffer of static size, every product bounded by the real rows, its gradient written out.
   - jax on a GPU: ``keras.ops.scan`` (``jax.lax.scan``) over every step, compiled by the
     surrounding ``jit`` (padded steps run in parallel lanes there).

   The fused kernels are private framework entry points: they run only where
   :func:`w2vvx.backend.fast_path_enabled` says the installed versions are the tested ones (and not
   with ``W2VVX_FAST_PATH=0``); elsewhere the portable scan runs (same results up to float rounding).
   The TensorFlow and JAX packed GRUs use public API only and run whenever
   ``use_fast_path`` is True (from batch x units = 128 x 128 up: a smaller GRU has little to skip).
3. *Expansion.* The output at original step ``t`` is the compacted state after the real tokens up
   to ``t`` (the carried state, as ``keras.layers.GRU``), or zeros at masked steps with
   ``zero_output_for_mask=True``; the last state is the state after each row's last real token
   (zeros for a row without any).

The computation after a row's last real token (padding) is never read, so it receives no
gradient. Nothing in ``call`` reads a tensor value on the host: no device synchronisation.

Weights have the names, shapes and order of ``keras.layers.GRU``'s cell (``kernel`` (in, 3u),
``recurrent_kernel`` (u, 3u), ``bias`` (2, 3u); gate order z, r, h), so
``masked_gru.set_weights(keras_gru.get_weights())`` transfers a trained Keras GRU.
"""
import keras
from keras import ops

from w2vvx.backend import fast_path_enabled, gru_step, keras_fused_gru, torch_fused_gru
from w2vvx.layers.device_math import at_least

_BACKEND = keras.backend.backend()
# batch x units from which the TensorFlow and JAX packed GRUs run (the main job's `small` GRU: 128 x 128; an
# unknown batch size counts as large)
_SKIPPING_MIN_WORK = 128 * 128


@keras.saving.register_keras_serializable(package="w2vvx")
class MaskedGRU(keras.layers.Layer):
    """Unidirectional GRU over masked sequences, on the backend's fused kernel.

    Args:
        units: positive int, size of the hidden state.
        return_sequences: if True return all states ``(B, T, units)``, else the last real state
            ``(B, units)``.
        zero_output_for_mask: with ``return_sequences``, output zeros (True) or the carried state
            (False, Keras's default) at masked steps.
        use_fast_path: use the backend's fused GRU kernel where one exists (torch always, cuDNN
            on TensorFlow with a GPU) and the backend fast paths are on
            (:func:`w2vvx.backend.fast_path_enabled`), and the packed GRUs of TensorFlow and JAX
            without a GPU; False forces the plain ``keras.ops.scan`` over every padded step (same
            results up to float rounding).
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
        if keras.backend.backend() == "tensorflow":
            # XLA compiles neither TensorFlow path: cuDNN's op (GPU), nor the scan's gradient accumulators (CPU).
            # Keras's GRU says so too; without it jit_compile="auto" turns XLA on with a GPU and fit fails.
            self.supports_jit = False

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
        if self.use_fast_path:
            states = self._compacted_states(inputs, mask)
            if states is not None:
                return states
        return self._call_scan(inputs, mask)

    # -- portable path -------------------------------------------------------------------------
    def _call_scan(self, inputs, mask):
        projected = ops.matmul(inputs, self.kernel) + self.bias[0]  # all steps at once: (B, T, 3u)
        recurrent_kernel, recurrent_bias = self.recurrent_kernel, self.bias[1]
        step_mask = ops.expand_dims(ops.transpose(mask, (1, 0)), -1)  # (T, B, 1)

        def step(state, step_inputs):
            new_state = gru_step(state, *step_inputs, recurrent_kernel, recurrent_bias)
            if self.zero_output_for_mask:
                return new_state, ops.where(step_inputs[1], new_state, ops.zeros_like(new_state))
            return new_state, new_state

        initial = ops.zeros((ops.shape(inputs)[0], self.units), dtype=projected.dtype)
        last, outputs = ops.scan(step, initial, (ops.transpose(projected, (1, 0, 2)), step_mask))
        return ops.transpose(outputs, (1, 0, 2)) if self.return_sequences else last

    # -- compacted paths: a fused or packed kernel -------------------------------------------------
    def _compacted_states(self, inputs, mask):
        """Compact, run the backend's fastest GRU over post-padded rows, expand; None where none applies."""
        steps = ops.shape(inputs)[1]
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
        kernel = _compacted_kernel()
        batch = inputs.shape[0]
        if kernel in ("tf_packed", "jax_packed") and batch is not None and batch * self.units < _SKIPPING_MIN_WORK:
            kernel = None  # a small GRU has little to skip: the plain scan
        if kernel is None:
            return None
        compacted = _gather_steps(inputs, compaction_order(mask))
        if kernel == "torch":
            compact_states = torch_fused_gru(compacted, lengths, self.kernel, self.recurrent_kernel, self.bias)
        elif kernel == "tf_packed":
            from w2vvx.backend.tf_packed_gru import tf_packed_gru

            compact_states = tf_packed_gru(compacted, lengths, self.kernel, self.recurrent_kernel, self.bias)
        elif kernel == "jax_packed":
            from w2vvx.backend.jax_packed_gru import jax_packed_gru

            compact_states = jax_packed_gru(compacted, lengths, self.kernel.value, self.recurrent_kernel.value,
                                            self.bias.value)
        else:
            # cuDNN refuses empty sequences; a row without tokens gets zeros from _state_after anyway
            positions = ops.expand_dims(ops.arange(steps, dtype="int32"), 0)
            right_padded = positions < ops.expand_dims(at_least(lengths, 1), 1)
            compact_states = keras_fused_gru(compacted, right_padded, self.kernel, self.recurrent_kernel, self.bias)
        if compact_states is None:
            return None
        compact_states = ops.cast(compact_states, inputs.dtype)
        if not self.return_sequences:
            return _state_after(compact_states, ops.expand_dims(lengths, 1))[:, 0]
        seen = ops.cumsum(ops.cast(mask, "int32"), axis=1)  # real tokens up to and including each step
        outputs = _state_after(compact_states, seen)
        if self.zero_output_for_mask:
            outputs = ops.where(ops.expand_dims(mask, -1), outputs, ops.zeros_like(outputs))
        return outputs

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


def compaction_order(mask):
    """For each row, the time indices of its real steps (in order) followed by its masked steps.

    Args:
        mask: ``(B, T)`` boolean, True at real steps.

    Returns:
        ``(B, T)`` int32 permutation: gathering along time with it moves real steps to the front.

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(compaction_order(np.array([[False, True, False, True]]))).tolist()
        [[1, 3, 0, 2]]
    """
    mask = ops.cast(mask, "bool")
    real = ops.cast(mask, "int32")
    lengths = ops.sum(real, axis=1, keepdims=True)
    destination = ops.where(mask, ops.cumsum(real, axis=1) - 1, lengths + ops.cumsum(1 - real, axis=1) - 1)
    # ``destination`` is a permutation of 0..T-1 per row; its inverse is the gather order.
    return ops.cast(ops.argsort(destination, axis=1), "int32")


def _gather_steps(sequences, steps):
    """``sequences[b, steps[b, j]]`` for ``(B, T, D)`` sequences and ``(B, J)`` step indices.

    One row gather on the flattened ``(B*T, D)`` tensor (an index-add backward), not a gather with a
    ``(B, J, D)`` index tensor.
    """
    shape = ops.shape(sequences)
    batch, length = shape[0], shape[1]
    rows = ops.expand_dims(ops.arange(batch, dtype="int32") * length, 1) + ops.cast(steps, "int32")
    flat = ops.reshape(sequences, (-1, shape[2]))
    return ops.reshape(ops.take(flat, ops.reshape(rows, (-1,)), axis=0), (batch, -1, shape[2]))


def _state_after(compact_states, counts):
    """``compact_states[b, counts[b, j] - 1]`` for ``(B, J)`` counts, zeros where a count is 0."""
    counts = ops.cast(counts, "int32")
    picked = _gather_steps(compact_states, at_least(counts - 1, 0))
    return ops.where(ops.expand_dims(counts > 0, -1), picked, ops.zeros_like(picked))


def _compacted_kernel():
    """The GRU kernel for compacted rows on this backend and device: "torch", "cudnn", "tf_packed",
    "jax_packed" or None."""
    if _BACKEND == "torch":
        return "torch" if fast_path_enabled() else None
    if _BACKEND == "tensorflow":
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            return "cudnn" if fast_path_enabled() else None
        return "tf_packed"
    import jax

    return "jax_packed" if jax.default_backend() == "cpu" else None
