"""Data parallelism on JAX: a sharded global batch trains exactly like one device, negatives included.

Runs in a subprocess because the number of (host) devices is fixed when JAX starts:
``XLA_FLAGS=--xla_force_host_platform_device_count=2``.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax")

SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import jax
    import keras
    from keras import ops

    assert len(jax.devices()) == 2, jax.devices()
    BATCH, TEXT, VISUAL, SPACE = 8, 6, 5, 4
    rng = np.random.default_rng(0)
    x = {"text": rng.normal(size=(BATCH, TEXT)).astype("float32"),
         "visual": rng.normal(size=(BATCH, VISUAL)).astype("float32")}
    y = np.zeros((BATCH, 1), "float32")

    def build():
        text = keras.Input((TEXT,), name="text")
        visual = keras.Input((VISUAL,), name="visual")
        t = keras.layers.UnitNormalization()(keras.layers.Dense(SPACE, activation="tanh")(text))
        v = keras.layers.UnitNormalization()(keras.layers.Dense(SPACE, activation="tanh")(visual))
        return keras.Model({"text": text, "visual": visual}, keras.layers.Concatenate()([t, v]))

    class InBatchContrastive(keras.losses.Loss):
        # symmetric InfoNCE: every other item of the *global* batch is a negative
        def call(self, y_true, y_pred):
            t, v = y_pred[:, :SPACE], y_pred[:, SPACE:]
            logits = ops.matmul(t, ops.transpose(v)) / 0.1
            labels = ops.arange(ops.shape(logits)[0])
            t2v = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
            v2t = keras.losses.sparse_categorical_crossentropy(labels, ops.transpose(logits), from_logits=True)
            return t2v + v2t

    def train(initial_weights=None):
        keras.utils.set_random_seed(1)
        model = build()
        if initial_weights is not None:
            model.set_weights(initial_weights)
        start = [w.copy() for w in model.get_weights()]
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=InBatchContrastive())
        losses = [float(np.asarray(model.train_on_batch(x, y))) for _ in range(2)]
        return start, losses, model.get_weights()

    start, single_losses, single_weights = train()
    # Per-shard loss (what a data-parallel run would compute if each device only saw its own negatives).
    half = {k: v[: BATCH // 2] for k, v in x.items()}
    keras.utils.set_random_seed(1)
    probe = build()
    probe.set_weights(start)
    shard_loss = float(np.mean(np.asarray(InBatchContrastive(reduction=None)(y[: BATCH // 2], probe(half)))))

    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    _, parallel_losses, parallel_weights = train(start)
    print(json.dumps({
        "single_losses": single_losses,
        "parallel_losses": parallel_losses,
        "shard_loss": shard_loss,
        "max_weight_difference": max(float(np.max(np.abs(a - b))) for a, b in zip(single_weights, parallel_weights)),
        "max_weight_change": max(float(np.max(np.abs(a - b))) for a, b in zip(start, single_weights)),
    }))
    """
)


def test_data_parallel_matches_single_device_with_global_negatives():
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2",
               OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["max_weight_change"] > 1e-3  # the step really trained
    for single, parallel in zip(result["single_losses"], result["parallel_losses"]):
        assert parallel == pytest.approx(single, abs=1e-5)
    # The loss over the global batch differs from a per-shard loss: negatives came from both devices.
    assert abs(result["shard_loss"] - result["single_losses"][0]) > 1e-3
    assert result["max_weight_difference"] < 1e-5
