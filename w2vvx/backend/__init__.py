"""Backend-specific speed code of w2vvx, in one place and gated by the tested framework versions.

Everything here is a fast path: it computes what Keras's own code computes (same results up to
float rounding), faster on a GPU, by reaching past Keras's or torch's public API:

- :mod:`w2vvx.backend.torch_train_step`: the torch train step of every
  :class:`~w2vvx.models.task.Task` (no host waits, CUDA graphs) and :func:`pinned_batches`;
- :mod:`w2vvx.backend.torch_optimizer_update`: Keras's RMSprop and Adam rules computed in place,
  which that step runs on the CPU;
- :mod:`w2vvx.backend.gru_kernels`: the GRU kernels behind
  :class:`~w2vvx.layers.recurrent.MaskedGRU` (``torch._VF.gru``, the packed CPU GRU of
  :mod:`w2vvx.backend.torch_packed_gru`, ``keras.src.backend.gru``);
- :mod:`w2vvx.backend.gru_cell`: the GRU cell and its gradient, written once for all these loops;
- :mod:`w2vvx.backend.tf_packed_gru` and :mod:`w2vvx.backend.jax_packed_gru`: the GRU of
  :class:`~w2vvx.layers.recurrent.MaskedGRU` on TensorFlow's and JAX's CPU, over real tokens only,
  its gradient written out (imported by the layer when it runs);
- :mod:`w2vvx.backend.placement`: :func:`single_device`, for what one process computes alone while a
  ``keras.distribution`` is active (validation, inference copies);
- :mod:`w2vvx.backend.versions`: the gate. The fast paths run only with the Keras and torch
  versions they were tested with (:data:`TESTED_KERAS`, :data:`TESTED_TORCH`), and not at all with
  ``W2VVX_FAST_PATH=0``; else Keras's own train step and the portable GRU run, and one log line
  says so.

This package imports only Keras, NumPy and (lazily) torch, TensorFlow and JAX: models, layers and training import it,
never the other way round.
"""
from w2vvx.backend.gru_kernels import gru_step, keras_fused_gru, torch_fused_gru
from w2vvx.backend.placement import single_device
from w2vvx.backend.torch_train_step import (
    TorchTrainStep,
    clipping_done_by_the_step,
    pinned_batches,
    scales_loss,
    uses_fast_step,
)
from w2vvx.backend.versions import (
    FAST_PATH_ENV,
    TESTED_KERAS,
    TESTED_TORCH,
    FastPathStatus,
    fast_path_enabled,
    fast_path_status,
)

__all__ = [
    "FAST_PATH_ENV", "FastPathStatus", "TESTED_KERAS", "TESTED_TORCH", "TorchTrainStep", "clipping_done_by_the_step",
    "fast_path_enabled", "fast_path_status", "gru_step", "keras_fused_gru", "pinned_batches", "scales_loss",
    "single_device", "torch_fused_gru",
    "uses_fast_step",
]
