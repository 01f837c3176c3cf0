"""The gate of the backend fast paths (``w2vvx.backend.versions``) and what runs behind it.

With the fast paths off (``W2VVX_FAST_PATH=0``, or untested Keras/torch versions) Keras's own train
step and the portable GRU run: same losses, weights and GRU outputs as the fast paths, within float
tolerance. ``run_tests.sh`` also runs this file and ``tests/test_recurrent.py`` on torch with
``W2VVX_FAST_PATH=0`` in the environment.
"""
import logging

import numpy as np
import pytest

import keras

from w2vvx.backend import versions
from w2vvx.layers import MaskedGRU
from w2vvx.models import build_model, get_config
from random_batches import random_token_batch

GATE_LOGGER = "w2vvx.backend.versions"
VOCAB, LENGTH, VISUAL = 40, 7, 12


@pytest.fixture
def gate(monkeypatch, caplog):
    """A fresh gate (cache cleared) that reads this test's environment; restored afterwards."""
    monkeypatch.delenv(versions.FAST_PATH_ENV, raising=False)
    versions.fast_path_status.cache_clear()
    caplog.set_level(logging.INFO, logger=GATE_LOGGER)
    yield monkeypatch
    monkeypatch.undo()
    versions.fast_path_status.cache_clear()


def _gate_lines(caplog):
    return [record for record in caplog.records if record.name == GATE_LOGGER]


def _set_fast_path(monkeypatch, on: bool):
    """Fast paths on (``force``: whatever torch this machine has, e.g. a GPU image's untested one) or off."""
    monkeypatch.setenv(versions.FAST_PATH_ENV, "force" if on else "0")
    versions.fast_path_status.cache_clear()


# -- the gate ------------------------------------------------------------------------------------
@pytest.mark.parity
def test_tested_versions_turn_the_fast_paths_on_silently(gate, caplog):
    gate.setattr(keras, "__version__", "3.15.1")
    if keras.backend.backend() == "torch":
        import torch

        gate.setattr(torch, "__version__", "2.13.0+cu126")
    assert versions.fast_path_status() == versions.FastPathStatus(True, "")
    assert not _gate_lines(caplog)


@pytest.mark.parity
def test_untested_keras_falls_back_with_exactly_one_log_line(gate, caplog):
    gate.setattr(keras, "__version__", "3.16.0")
    for _ in range(3):  # asked at every step and GRU call: logged once
        assert not versions.fast_path_enabled()
    lines = _gate_lines(caplog)
    assert len(lines) == 1, [record.getMessage() for record in lines]
    message = lines[0].getMessage()
    assert lines[0].levelno == logging.WARNING
    assert "Keras 3.16.0" in message and ">=3.15,<3.16" in message and "Keras's own train step" in message
    assert "3.16.0" in versions.fast_path_status().reason


@pytest.mark.parity
def test_untested_torch_falls_back_on_the_torch_backend_only(gate, caplog):
    import torch

    gate.setattr(keras, "__version__", "3.15.1")
    gate.setattr(torch, "__version__", "2.1.0")
    enabled = versions.fast_path_enabled()
    if keras.backend.backend() != "torch":
        assert enabled and not _gate_lines(caplog)  # torch's version matters to the torch paths only
        return
    assert not enabled
    (line,) = _gate_lines(caplog)
    assert "torch 2.1.0" in line.getMessage() and ">=2.13,<2.14" in line.getMessage()


@pytest.mark.parity
@pytest.mark.parametrize("setting", ["0", "false", "OFF"])
def test_environment_variable_turns_the_fast_paths_off(gate, caplog, setting):
    gate.setenv(versions.FAST_PATH_ENV, setting)
    assert versions.fast_path_status() == versions.FastPathStatus(False, f"W2VVX_FAST_PATH={setting}")
    (line,) = _gate_lines(caplog)
    assert line.levelno == logging.INFO and "off" in line.getMessage()


def test_unknown_setting_says_what_was_expected(gate):
    gate.setenv(versions.FAST_PATH_ENV, "fast")
    with pytest.raises(ValueError, match=r"W2VVX_FAST_PATH must be 0 .* 1 .* or force .*, got 'fast'"):
        versions.fast_path_enabled()


@pytest.mark.parity
def test_force_turns_them_on_with_untested_versions_and_says_so(gate, caplog):
    gate.setenv(versions.FAST_PATH_ENV, "force")
    gate.setattr(keras, "__version__", "3.99.0")
    assert versions.fast_path_enabled()
    (line,) = _gate_lines(caplog)
    assert line.levelno == logging.WARNING and "forced on" in line.getMessage() and "3.99.0" in line.getMessage()


def test_unreadable_version_is_untested_and_version_tuple_says_what_it_expected():
    assert versions.untested_versions("jax", "nightly", None).startswith("Keras nightly")
    with pytest.raises(ValueError, match="expected a version string"):
        versions.version_tuple("nightly")


# -- what runs with the fast paths off ------------------------------------------------------------
def _model():
    keras.utils.set_random_seed(3)
    config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16, dropout=0.0,
                        clipnorm=0.05)  # a small norm, so clipping acts on every step
    return build_model(config, gru_vocab_size=VOCAB, bow_vocab_size=VOCAB, visual_dim=VISUAL)


def _data(count=22, seed=0):
    return random_token_batch(count, LENGTH, VOCAB, VISUAL, seed)


def _fit(fast: bool, monkeypatch):
    _set_fast_path(monkeypatch, fast)
    model = _model()
    history = model.fit(_data(), batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    weights = [np.asarray(keras.ops.convert_to_numpy(weight)) for weight in model.trainable_weights]
    return model, history, weights


@pytest.mark.parity
def test_train_step_with_the_fast_paths_off_equals_the_fast_step(gate):
    if keras.backend.backend() != "torch":
        pytest.skip("the torch train step's fallback (run with KERAS_BACKEND=torch)")
    fast, fast_loss, fast_weights = _fit(True, gate)
    assert fast.torch_train_step is not None, "the fast step did not serve fit with the gate on"
    plain, plain_loss, plain_weights = _fit(False, gate)
    assert plain.torch_train_step is None, "W2VVX_FAST_PATH=0 still ran w2vvx's torch step"
    assert int(plain.optimizer.iterations.numpy()) == int(fast.optimizer.iterations.numpy()) == 6
    np.testing.assert_allclose(plain_loss, fast_loss, rtol=2e-4)
    for ours, theirs in zip(plain_weights, fast_weights):
        np.testing.assert_allclose(ours, theirs, rtol=2e-4, atol=2e-6)


@pytest.mark.parity
def test_torch_step_class_none_keeps_keras_own_step(gate):
    if keras.backend.backend() != "torch":
        pytest.skip("the torch train step (run with KERAS_BACKEND=torch)")
    _set_fast_path(gate, True)
    model = _model()
    model.torch_step_class = None
    model.fit(_data(count=8), batch_size=8, epochs=1, verbose=0)
    assert model.torch_train_step is None


@pytest.mark.parity
@pytest.mark.parametrize("return_sequences", [False, True])
def test_masked_gru_with_the_fast_paths_off_equals_the_fused_kernel(gate, return_sequences):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 7, 6)).astype("float32")
    mask = np.arange(7)[None, :] < np.array([7, 3, 1, 5, 0])[:, None]  # the last row has no token
    layer = MaskedGRU(4, return_sequences=return_sequences, bias_initializer="random_normal")
    layer.build((None, 7, 6))
    outputs = {}
    for on in (True, False):
        _set_fast_path(gate, on)
        outputs[on] = np.asarray(keras.ops.convert_to_numpy(layer(x, mask=mask)))
    np.testing.assert_allclose(outputs[False], outputs[True], rtol=1e-5, atol=1e-5)


def test_distributed_training_refuses_to_run_without_the_fast_step(gate):
    """Keras's own step would not average the gradients over the processes: say so instead."""
    from w2vvx.errors import ConfigError
    from w2vvx.training.distributed import ProcessGroup

    _set_fast_path(gate, False)
    model = _model()  # compiled by build_model
    group = ProcessGroup.__new__(ProcessGroup)  # no process group is joined: the check comes first
    with pytest.raises(ConfigError, match="W2VVX_FAST_PATH=0"):
        group.distribute(model)
