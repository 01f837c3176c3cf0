"""Which devices each Keras backend can train on, asked of the frameworks themselves.

Keras places every tensor on the backend's first accelerator when one is visible, else on the CPU.
These functions say which that is for TensorFlow, PyTorch and JAX, whether or not the backend is the
one Keras runs on now, so that a user sees before training whether the GPU build was installed.
"""
from __future__ import annotations

import importlib.util
from typing import Dict, List

BACKENDS = ("tensorflow", "torch", "jax")


def backend_devices(backend: str) -> List[str]:
    """Devices the framework of ``backend`` sees, accelerators first.

    Args:
        backend: one of ``"tensorflow"``, ``"torch"``, ``"jax"``.

    Returns:
        Device names (``"cuda:0 (NVIDIA H100 80GB HBM3)"``, ``"cpu"``, ...); an empty list when the
        framework is not installed.

    Example:
        >>> "cpu" in backend_devices("torch") or backend_devices("torch") == [] or "cuda" in backend_devices("torch")[0]
        True
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if importlib.util.find_spec(backend) is None:
        return []
    if backend == "torch":
        import torch

        gpus = [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
        return gpus + ["cpu"]
    if backend == "jax":
        import jax

        devices = jax.devices()
        described = [f"{device.platform}:{device.id} ({device.device_kind})" for device in devices]
        return described + ([] if devices[0].platform == "cpu" else ["cpu"])
    import tensorflow as tf

    gpus = [f"gpu:{i} ({gpu.name})" for i, gpu in enumerate(tf.config.list_physical_devices("GPU"))]
    return gpus + ["cpu"]


def training_device(backend: str) -> str:
    """The device Keras trains on with ``backend``: its first accelerator, else ``"cpu"``.

    Returns ``"not installed"`` when the framework is missing.
    """
    devices = backend_devices(backend)
    return devices[0] if devices else "not installed"


def device_names() -> List[str]:
    """The names ``--devices`` / ``Trainer(devices=)`` accept on the current Keras backend.

    ``keras.distribution.list_devices()`` where Keras distributes (JAX, TensorFlow), else this backend's
    devices as :func:`backend_devices` names them. Errors of a broken accelerator set-up come back as text.
    """
    import keras

    try:
        if keras.backend.backend() in ("jax", "tensorflow"):
            return [str(device) for device in keras.distribution.list_devices()]
        return backend_devices(keras.backend.backend())
    except Exception as error:  # a broken CUDA build: show it, do not stop `w2vvx env`
        return [f"unknown ({type(error).__name__}: {error})"]


def describe_backends() -> Dict[str, str]:
    """``{backend: training device}`` for TensorFlow, PyTorch and JAX, with errors as text.

    A broken accelerator set-up is reported in the value rather than raised, so that ``w2vvx env``
    can show what is wrong.
    """
    described = {}
    for backend in BACKENDS:
        try:
            described[backend] = training_device(backend)
        except Exception as error:  # an installed but broken CUDA build: show it, do not stop
            described[backend] = f"error: {type(error).__name__}: {error}"
    return described
