"""Where and in which precision a model trains: several devices (data parallel) and mixed precision.

Data parallelism uses ``keras.distribution.DataParallel``: every device holds the whole model, each
batch is split across the devices, and the step is compiled as one program over the *global* batch
(SPMD), so in-batch negatives (triplet, InfoNCE, 1-to-K) and the pairwise contrastive loss's
negatives come from the whole batch, exactly as on one device with the same batch size. Keras 3
distributes on JAX (and, with its own limits, TensorFlow); PyTorch trains on one device.

Mixed precision uses a Keras dtype policy (``"mixed_bfloat16"``, ``"mixed_float16"``): layers
compute in the low precision and keep float32 weights. ``"tf32"`` keeps float32 everywhere but runs the
float32 matrix products on a GPU's tensor cores in TensorFloat-32 on every backend
(:func:`w2vvx.backend.matmul_precision.tf32_matmuls`; JAX and TensorFlow do so by default, PyTorch not).
"""
from __future__ import annotations

import contextlib
from typing import Iterator, List, Optional, Sequence, Union

import keras

from w2vvx.backend.matmul_precision import tf32_matmuls
from w2vvx.errors import ConfigError
from w2vvx.training.hosts import process_count

PRECISIONS = ("float32", "tf32", "mixed_bfloat16", "mixed_float16")
DISTRIBUTED_BACKENDS = ("jax", "tensorflow")


def resolve_devices(devices: Union[None, str, Sequence[str]]) -> Optional[List[str]]:
    """The device list a data-parallel run uses, or ``None`` for Keras's default single device.

    Args:
        devices: ``None`` (one device), ``"all"`` (every accelerator Keras sees, else every CPU
            device), a comma-separated string (``"gpu:0,gpu:1"``) or a list of such names (see
            ``keras.distribution.list_devices()``).

    Returns:
        The device names, or ``None`` when one device is asked for.

    Example:
        >>> resolve_devices(None) is None
        True
    """
    if devices is None:
        return None
    if isinstance(devices, str):
        if devices.strip() in ("", "1", "default"):
            return None
        names = [name.strip() for name in devices.split(",") if name.strip()]
    else:
        names = [str(name) for name in devices]
    backend = keras.backend.backend()
    if backend not in DISTRIBUTED_BACKENDS:
        if names == ["all"] or len(names) > 1:
            raise ConfigError(f"training on several devices ({', '.join(names)}) needs the JAX (or TensorFlow) "
                              f"backend: Keras 3 does not distribute the {backend} backend; set KERAS_BACKEND=jax, "
                              "or train on one device")
        return None
    available = [str(d) for d in keras.distribution.list_devices()]
    if names == ["all"]:
        names = available
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ConfigError(f"devices {unknown} are not visible to the {backend} backend; "
                          f"available: {available} (or 'all')")
    if len(set(names)) != len(names):
        raise ConfigError(f"devices must not repeat, got {names}")
    return names if len(names) > 1 else None


@contextlib.contextmanager
def data_parallel(devices: Union[None, str, Sequence[str]]) -> Iterator[Optional[List[str]]]:
    """Build and train inside this context to split every batch across ``devices``.

    Args:
        devices: as :func:`resolve_devices`; ``None`` or one device leaves Keras's default placement.

    On several JAX processes (:func:`~w2vvx.training.hosts.initialize_hosts`) the devices are those of every
    process whatever ``devices`` says (``None`` or ``"all"``; a part of them is refused).

    Raises:
        ConfigError: several devices on a backend Keras cannot distribute (torch), unknown names, or a part
            of a multi-process job's devices.

    Example:
        >>> with data_parallel(None) as devices:
        ...     devices is None
        True
    """
    names = resolve_devices(devices)
    if process_count() > 1:  # one program over the devices of every process: all of them
        every = [str(d) for d in keras.distribution.list_devices()]
        if devices is not None and devices != "all" and sorted(names or []) != sorted(every):
            raise ConfigError(f"this JAX process is one of {process_count()}: training uses the devices of every process "
                              f"({len(every)}), not a part of them ({devices}); give --devices all or none")
        names = every
    if names is None:
        yield None
        return
    distribution = keras.distribution.DataParallel(devices=names)
    if process_count() > 1:  # every process feeds its own slice of each batch (the trainer shards them)
        distribution.auto_shard_dataset = False
    with distribution.scope():
        yield names


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is one of :data:`PRECISIONS`, else raise a ConfigError."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    return precision


@contextlib.contextmanager
def dtype_policy(precision: str) -> Iterator[str]:
    """Layers created inside this context compute in ``precision`` (weights stay float32).

    The global Keras policy is restored on exit, so only the model built here is affected.

    Example:
        >>> with dtype_policy("mixed_bfloat16"):
        ...     layer = keras.layers.Dense(2)
        >>> layer.compute_dtype, layer.variable_dtype, keras.config.dtype_policy().name
        ('bfloat16', 'float32', 'float32')
    """
    check_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32" if precision == "tf32" else precision)
    try:
        yield precision
    finally:
        keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def matmul_mode(precision: str) -> Iterator[str]:
    """Steps run inside this context compute their float32 matrix products as ``precision`` asks.

    ``"tf32"``: in TensorFloat-32 on GPUs that have it, on every backend; any other precision keeps the
    backend's own setting.

    Example:
        >>> with matmul_mode("tf32") as precision:
        ...     precision
        'tf32'
    """
    check_precision(precision)
    with tf32_matmuls() if precision == "tf32" else contextlib.nullcontext():
        yield precision


def enable_determinism() -> None:
    """Ask the backend for deterministic kernels (process-wide; slower on GPU)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
