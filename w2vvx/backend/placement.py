"""Where a computation runs when a ``keras.distribution`` is active: :func:`single_device`.

A model trained data parallel (``keras.distribution.DataParallel``) keeps its variables on every device
of the distribution, and on several JAX processes a compiled call on those variables needs every process.
What one process does alone (process 0's validation, the inference copy that ``best.keras`` saves) runs
on a copy of the model built and called inside :func:`single_device`, on this process's default device.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import keras


@contextlib.contextmanager
def single_device() -> Iterator[None]:
    """Build and call models on this process's default device, whatever distribution is active outside.

    The distribution active before is restored on exit.

    Example:
        >>> with single_device():
        ...     keras.distribution.distribution() is None
        True
    """
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)
