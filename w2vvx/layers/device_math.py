"""Element-wise helpers that never copy a Python number to the accelerator.

A ``keras.ops`` call with a Python scalar operand (``ops.maximum(x, 1e-12)``, ``ops.not_equal(ids, 0)``)
turns the scalar into a tensor on the backend's device; on torch/CUDA that is a host-to-device copy
from pageable memory, which waits for the GPU to finish its queue (a ``cudaStreamSynchronize``). Inside
a training step each one stalls the pipeline. These helpers build the constant on the device instead
(``zeros_like(x) + value``: the scalar travels as a kernel argument) or avoid it (a cast to bool).
"""
from __future__ import annotations

import keras  # noqa: F401  (doctest namespace)
from keras import ops


def filled_like(x, value):
    """A tensor of ``x``'s shape and dtype filled with ``value``, made on ``x``'s device.

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(filled_like(np.zeros((1, 2), "float32"), -1.5)).tolist()
        [[-1.5, -1.5]]
    """
    return ops.zeros_like(x) + value


def at_least(x, floor):
    """``maximum(x, floor)`` for a Python number ``floor``, without a host-to-device copy.

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(at_least(np.array([0.0, 2.0]), 1.0)).tolist()
        [1.0, 2.0]
    """
    return ops.maximum(x, filled_like(x, floor))


def clipped(x, low, high):
    """``clip(x, low, high)`` for Python numbers ``low`` and ``high``, without a host-to-device copy.

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(clipped(np.array([-1.0, 0.5, 3.0]), 0.0, 1.0)).tolist()
        [0.0, 0.5, 1.0]
    """
    return ops.minimum(at_least(x, low), filled_like(x, high))


def nonzero(x):
    """Boolean tensor, True where ``x != 0`` (NaN counts as nonzero, as in ``x != 0``).

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(nonzero(np.array([3, 0, -1]))).tolist()
        [True, False, True]
    """
    return ops.cast(x, "bool")
