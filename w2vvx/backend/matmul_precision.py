"""TensorFloat-32 matrix products for float32 models, the same way on every backend.

On NVIDIA GPUs from Ampere on, a float32 matrix product can run on the tensor cores with inputs
rounded to TF32 (10 mantissa bits) and float32 accumulation. The backends disagree by default:
JAX and TensorFlow use TF32 for float32 products on such GPUs, PyTorch does not for matrix products
(``torch.get_float32_matmul_precision() == "highest"``), only inside cuDNN (the GRU). Inside
:func:`tf32_matmuls` every backend uses TF32; on the way out the previous settings come back, so
nothing outlives the block. On a CPU, or a GPU without TF32, nothing changes.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import keras


@contextlib.contextmanager
def tf32_matmuls() -> Iterator[str]:
    """Float32 matrix products (and cuDNN's) run in TF32 on the GPU inside this block, on any backend.

    Yields:
        The backend's name.

    Example:
        >>> with tf32_matmuls() as backend:
        ...     product = keras.ops.matmul(keras.ops.ones((2, 3)), keras.ops.ones((3, 2)))
        >>> keras.ops.convert_to_numpy(product).tolist()
        [[3.0, 3.0], [3.0, 3.0]]
    """
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        previous = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True
        try:
            yield backend
        finally:
            torch.set_float32_matmul_precision(previous[0])
            torch.backends.cudnn.allow_tf32 = previous[1]
    elif backend == "jax":
        import jax

        with jax.default_matmul_precision("tensorfloat32"):
            yield backend
    elif backend == "tensorflow":
        import tensorflow as tf

        previous = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(True)
        try:
            yield backend
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(previous)
    else:
        yield backend
