"""``precision="tf32"``: TensorFloat-32 matrix products on every backend, set only inside the block."""
import inspect

import keras
import numpy as np
import pytest

from w2vvx.backend.matmul_precision import tf32_matmuls
from w2vvx.training.placement import PRECISIONS, dtype_policy, matmul_mode

pytestmark = pytest.mark.parity


def _backend_setting():
    """What the current backend says about TF32 for float32 matrix products, as a comparable value."""
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        return torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    if backend == "jax":
        import jax

        return jax.config.jax_default_matmul_precision
    import tensorflow as tf

    return tf.config.experimental.tensor_float_32_execution_enabled()


def _tf32_setting():
    return {"torch": ("high", True), "jax": "tensorfloat32", "tensorflow": True}[keras.backend.backend()]


def test_tf32_is_set_inside_the_block_and_restored_after():
    before = _backend_setting()
    with tf32_matmuls():
        assert _backend_setting() == _tf32_setting()
    assert _backend_setting() == before


def test_setting_is_restored_when_the_block_raises():
    before = _backend_setting()
    with pytest.raises(RuntimeError, match="inside"):
        with tf32_matmuls():
            raise RuntimeError("inside")
    assert _backend_setting() == before


def test_other_precisions_leave_the_backend_alone():
    before = _backend_setting()
    for precision in ("float32", "mixed_bfloat16"):
        with matmul_mode(precision):
            assert _backend_setting() == before


def test_tf32_models_keep_float32_layers_and_compute_the_same_on_the_cpu():
    with dtype_policy("tf32"):
        layer = keras.layers.Dense(3, kernel_initializer="ones")
    assert (layer.compute_dtype, layer.variable_dtype) == ("float32", "float32")
    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    plain = keras.ops.convert_to_numpy(layer(x))
    with matmul_mode("tf32"):
        tf32 = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(tf32, plain, rtol=1e-3)  # identical on a CPU; TF32 rounds to ~1e-3 on a GPU


def test_unknown_precision_names_the_choices():
    with pytest.raises(Exception, match="precision must be one of.*tf32"):
        with matmul_mode("tf16"):
            pass


def test_cli_offers_exactly_the_trainer_precisions():
    from w2vvx.cli.train import command as train
    from w2vvx.training.trainer import Trainer

    option = next(p for p in train.params if p.name == "precision")
    assert tuple(option.type.choices) == PRECISIONS
    assert "tf32" in inspect.getdoc(Trainer)
