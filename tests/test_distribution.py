"""Data parallelism and mixed precision of the library's own models and Trainer.

Data parallel runs on JAX with two forced host devices, in a subprocess, because the number of
devices is fixed when JAX starts (``XLA_FLAGS=--xla_force_host_platform_device_count=2``): the
library's ``w2vvpp`` trained on a batch split across both devices must take the same steps as on one
device, with negatives from the global batch, and ``Trainer(devices="all")`` must train end to end.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.models import build_model, get_config
from w2vvx.training.placement import data_parallel, dtype_policy, resolve_devices

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import jax, keras
    sys.path.insert(0, sys.argv[1])
    from w2vvx.models import build_model, get_config
    from w2vvx.training.placement import data_parallel
    from test_training_trainer import _make_collection, _tiny_config
    from w2vvx.training import Trainer
    from pathlib import Path

    assert len(jax.devices()) == 2, jax.devices()
    BATCH, VOCAB, LENGTH, VISUAL = 8, 40, 6, 12
    rng = np.random.default_rng(0)
    ids = rng.integers(1, VOCAB, (BATCH, LENGTH)).astype("int32")
    ids[:, 4:] = 0
    x = {"tokens": ids, "bow_tokens": ids, "visual": rng.random((BATCH, VISUAL), dtype="float32")}
    config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16, dropout=0.0)

    def train(devices, start=None):
        keras.utils.set_random_seed(1)
        with data_parallel(devices):
            model = build_model(config, VOCAB, VOCAB, VISUAL)
            if start is not None:
                model.set_weights(start)
            initial = [w.copy() for w in model.get_weights()]
            losses = [float(np.asarray(model.train_on_batch(x))) for _ in range(2)]
            return initial, losses, model.get_weights()

    start, single_losses, single_weights = train(None)
    _, parallel_losses, parallel_weights = train("all", start)
    half = {k: v[: BATCH // 2] for k, v in x.items()}
    keras.utils.set_random_seed(1)
    probe = build_model(config, VOCAB, VOCAB, VISUAL)
    probe.set_weights(start)
    shard_loss = float(np.asarray(probe.compute_loss(half, y_pred=probe(half), training=False)))

    root = Path(sys.argv[2])
    features, train_captions, val_captions = _make_collection(root)
    result = Trainer(_tiny_config(max_epochs=2), root / "run", train_captions, features, val_captions,
                     verbose=0, seed=3, devices="all").fit()
    print(json.dumps({
        "single_losses": single_losses, "parallel_losses": parallel_losses, "shard_loss": shard_loss,
        "max_weight_difference": max(float(np.max(np.abs(a - b))) for a, b in zip(single_weights, parallel_weights)),
        "max_weight_change": max(float(np.max(np.abs(a - b))) for a, b in zip(start, single_weights)),
        "trainer_epochs": result.epochs_done,
    }))
    """
)


@pytest.mark.slow
def test_library_model_data_parallel_matches_one_device_with_global_negatives(tmp_path):
    pytest.importorskip("jax")
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2",
               OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=python_path)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO / "tests"), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["max_weight_change"] > 1e-4  # the steps really trained
    for single, parallel in zip(result["single_losses"], result["parallel_losses"]):
        assert parallel == pytest.approx(single, rel=1e-5, abs=1e-6)
    # A per-device loss (each shard its own negatives) differs: the parallel loss used the global batch.
    assert abs(result["shard_loss"] - result["single_losses"][0]) > 1e-4
    assert result["max_weight_difference"] < 1e-5
    assert result["trainer_epochs"] == 2


def test_one_device_is_keras_default_placement():
    assert resolve_devices(None) is None
    assert resolve_devices("1") is None
    with data_parallel(None) as devices:
        assert devices is None


def test_unknown_device_is_refused_with_the_available_ones():
    if keras.backend.backend() == "torch":
        pytest.skip("torch trains on one device; see the next test")
    with pytest.raises(ConfigError, match="not visible.*available"):
        resolve_devices("gpu:7,gpu:8")


def test_several_devices_on_torch_are_refused(monkeypatch):
    if keras.backend.backend() != "torch":
        pytest.skip("the refusal concerns the torch backend")
    with pytest.raises(ConfigError, match="JAX"):
        with data_parallel(["cpu:0", "cuda:0"]):
            pass


@pytest.mark.parity
def test_mixed_bfloat16_model_computes_in_bfloat16_and_keeps_float32_weights():
    config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
    with dtype_policy("mixed_bfloat16"):
        model = build_model(config, 30, 30, 12)
    assert keras.config.dtype_policy().name == "float32"  # restored
    assert {w.dtype for w in model.trainable_weights} == {"float32"}
    ids = np.array([[3, 4, 5, 0], [6, 0, 0, 0]], "int32")
    data = {"tokens": ids, "bow_tokens": ids, "visual": np.random.default_rng(0).random((2, 12), dtype="float32")}
    loss = float(np.asarray(model.train_on_batch(data)))
    assert np.isfinite(loss)
    assert any(layer.compute_dtype == "bfloat16" for layer in model.text_encoder.layers if layer.weights)


def test_unknown_precision_is_refused():
    with pytest.raises(ConfigError, match="precision must be one of"):
        with dtype_policy("float8"):
            pass
