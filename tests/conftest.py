"""Shared test settings.

The Keras backend is chosen by ``KERAS_BACKEND`` before anything imports keras; the CI runs the
whole suite on TensorFlow and the tests marked ``parity`` on torch and JAX too.
"""
import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _full_float32_matmuls() -> None:
    """Tests compare backends at float32 tolerances: no TF32 on NVIDIA GPUs (the default of JAX and cuDNN).

    Imports only the framework of the backend under test; a no-op on CPUs. The environment variables
    reach the subprocesses that some tests start on another backend.
    """
    os.environ.setdefault("NVIDIA_TF32_OVERRIDE", "0")  # cuBLAS/cuDNN of every framework
    os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
    backend = os.environ["KERAS_BACKEND"]
    if backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    elif backend == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)


def pytest_configure(config):
    _full_float32_matmuls()
    config.addinivalue_line("markers", "parity: backend-parity tests, run on every Keras backend in CI")
    config.addinivalue_line("markers", "slow: end-to-end tests that take more than a few seconds")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder ``../shared/data``; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the checkout in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def keras_backend() -> str:
    import keras

    return keras.backend.backend()
