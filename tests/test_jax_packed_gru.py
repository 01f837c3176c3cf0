"""jax_packed_gru (JAX on the CPU): states and every gradient equal a padded lax.scan GRU's, in float64."""
import functools

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from w2vvx.backend.jax_packed_gru import jax_packed_gru  # noqa: E402


def padded_scan_gru(x, lengths, kernel, recurrent_kernel, bias):
    """keras.layers.GRU(reset_after=True)'s cell over every padded step; the state is carried at padded steps."""
    units = recurrent_kernel.shape[0]
    projected = x @ kernel + bias[0]
    running = (jnp.arange(x.shape[1])[None, :] < lengths[:, None]).T[..., None]

    def step(state, inputs):
        step_input, real = inputs
        recurrent = state @ recurrent_kernel + bias[1]
        z = jax.nn.sigmoid(step_input[:, :units] + recurrent[:, :units])
        r = jax.nn.sigmoid(step_input[:, units:2 * units] + recurrent[:, units:2 * units])
        n = jnp.tanh(step_input[:, 2 * units:] + r * recurrent[:, 2 * units:])
        new_state = jnp.where(real, n + z * (state - n), state)
        return new_state, new_state

    _, states = jax.lax.scan(step, jnp.zeros((x.shape[0], units), x.dtype), (projected.transpose(1, 0, 2), running))
    return states.transpose(1, 0, 2)


def _problem(lengths, steps, features=3, units=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(lengths), steps, features))
    weights = [rng.normal(size=shape) * 0.5 for shape in ((features, 3 * units), (units, 3 * units), (2, 3 * units))]
    upstream = rng.normal(size=(len(lengths), steps, units))
    return x, np.asarray(lengths), weights, upstream


@pytest.mark.parametrize("lengths,steps,row_groups", [
    ([7, 2, 0, 5, 7], 7, 2),             # an empty row, ties, groups that do not divide the batch
    ([1, 1, 1, 1, 1, 1], 4, 8),          # more groups than rows; every row ends after one step
    ([0, 0, 0], 5, 3),                   # nothing to compute
    ([9, 3, 8, 1, 0, 6, 2], 9, 3),       # unsorted lengths
    ([4, 12, 7, 12, 1, 9, 3, 12, 5, 10, 2, 8, 6, 11, 0, 12], 12, 8),
])
def test_states_and_gradients_equal_the_padded_scan(lengths, steps, row_groups):
    x, lengths, weights, upstream = _problem(lengths, steps)
    real = (np.arange(steps)[None, :] < lengths[:, None])[..., None]
    with jax.enable_x64(True):
        args = [jnp.asarray(a, "float64") for a in (x, *weights)]
        lengths_array = jnp.asarray(lengths)

        def loss(gru, *args):
            return jnp.sum(jnp.where(real, gru(args[0], lengths_array, *args[1:]), 0.0) * upstream)

        packed = functools.partial(jax_packed_gru, row_groups=row_groups)
        states = np.asarray(jax.jit(packed)(args[0], lengths_array, *args[1:]))
        expected = np.asarray(padded_scan_gru(args[0], lengths_array, *args[1:]))
        np.testing.assert_allclose(np.where(real, states, 0.0), np.where(real, expected, 0.0), rtol=1e-12, atol=1e-12)
        assert not np.any(np.where(real, 0.0, states)), "padded steps must be zeros"

        grads = jax.jit(jax.grad(lambda *a: loss(packed, *a), argnums=(0, 1, 2, 3)))(*args)
        expected_grads = jax.grad(lambda *a: loss(padded_scan_gru, *a), argnums=(0, 1, 2, 3))(*args)
    for name, got, want in zip(["inputs", "kernel", "recurrent_kernel", "bias"], grads, expected_grads):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-12, err_msg=name)


def test_a_frozen_input_leaves_the_weight_gradients_unchanged():
    """Inside one jit the unused input gradient is dropped; the kernels' gradients stay those of the full rule."""
    x, lengths, weights, upstream = _problem([5, 3, 5, 1], 5, seed=2)
    lengths = jnp.asarray(lengths)

    def loss(kernel, recurrent_kernel, bias, x):
        return jnp.sum(jax_packed_gru(x, lengths, kernel, recurrent_kernel, bias) * upstream)

    frozen = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(*weights, jnp.asarray(x, "float32"))
    full = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))(*weights, jnp.asarray(x, "float32"))
    for got, want in zip(frozen, full[:3]):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)


def test_the_weights_follow_the_inputs_dtype():
    x, lengths, weights, _ = _problem([3, 2], 3)
    states = jax_packed_gru(jnp.asarray(x, "bfloat16"), lengths, *[w.astype("float32") for w in weights])
    assert states.dtype == jnp.bfloat16 and states.shape == (2, 3, 4)


@pytest.mark.parametrize("bad,match", [
    ({"row_groups": 0}, "row_groups` must be a positive int"),
    ({"row_groups": True}, "row_groups` must be a positive int"),
    ({"row_groups": 2.0}, "row_groups` must be a positive int"),
    ({"inputs": np.zeros((2, 3))}, r"inputs must be \(batch, steps, features\), got shape \(2, 3\)"),
])
def test_bad_arguments_are_refused(bad, match):
    x, lengths, weights, _ = _problem([3, 2], 3)
    arguments = {"inputs": x, "lengths": lengths, "kernel": weights[0], "recurrent_kernel": weights[1],
                 "bias": weights[2], **bad}
    with pytest.raises(ValueError, match=match):
        jax_packed_gru(**arguments)


_SHARDED = """
import numpy as np, jax, jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from w2vvx.backend.jax_packed_gru import jax_packed_gru
rng = np.random.default_rng(3)
x = rng.normal(size=(8, 6, 3)).astype("float32")
lengths = np.array([6, 0, 2, 5, 1, 6, 3, 4], "int32")
weights = [(rng.normal(size=s) * 0.5).astype("float32") for s in ((3, 12), (4, 12), (2, 12))]
def loss(x, lengths, *weights):
    return jnp.sum(jax_packed_gru(x, lengths, *weights, row_groups=4) ** 2)
grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 2, 3, 4)))
mesh = Mesh(np.array(jax.devices()), ("batch",))
rows = NamedSharding(mesh, PartitionSpec("batch"))
sharded = grad(jax.device_put(x, rows), jax.device_put(lengths, rows), *weights)
single = grad(x, lengths, *weights)
assert len(jax.devices()) == 2, jax.devices()
for a, b in zip(jax.tree_util.tree_leaves(sharded), jax.tree_util.tree_leaves(single)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
print("equal")
"""


def test_a_batch_sharded_over_two_devices_gives_the_same_states_and_gradients():
    """Under keras.distribution.DataParallel the batch is split over devices (GSPMD): one global program."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", _SHARDED], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "equal" in done.stdout, done.stderr[-3000:]


_MESH_TRAINING = """
import numpy as np, keras
import w2vvx.backend.jax_packed_gru as packed
from w2vvx.models import build_model, get_config
calls = []
plain = packed.jax_packed_gru
packed.jax_packed_gru = lambda *args, **kwargs: calls.append(1) or plain(*args, **kwargs)
BATCH, VOCAB, LENGTH, VISUAL = 128, 60, 8, 16  # batch x units = 128 x 128: MaskedGRU packs on the CPU
config = get_config("w2vvpp", gru_units=128, embed_dim=16, w2v_dim=8, common_space_dim=32, dropout=0.0,
                    learning_rate=1e-2, w2v_words="bow")
batches = []
for step in range(3):
    rng = np.random.default_rng(step)
    ids = rng.integers(1, VOCAB, (BATCH, LENGTH)).astype("int32")
    ids[np.arange(LENGTH)[None, :] >= rng.integers(1, LENGTH + 1, (BATCH, 1))] = 0  # lengths 1..8
    batches.append({"tokens": ids, "bow_tokens": ids, "visual": rng.random((BATCH, VISUAL), dtype="float32")})
keras.utils.set_random_seed(1)
devices = keras.distribution.list_devices()
assert len(devices) == 2, devices
with keras.distribution.DataParallel(devices=devices).scope():
    model = build_model(config, VOCAB, VOCAB, VISUAL)
    start = [np.asarray(w.value) for w in model.weights]
    mesh_losses = [float(np.asarray(model.train_on_batch(b))) for b in batches]
    mesh_weights = [np.asarray(w.value) for w in model.weights]
assert calls, "the packed GRU did not run"
reference = build_model(config, VOCAB, VOCAB, VISUAL)
reference.set_weights(start)
single_losses = [float(np.asarray(reference.train_on_batch(b))) for b in batches]
np.testing.assert_allclose(mesh_losses, single_losses, rtol=1e-4)
assert max(float(np.max(np.abs(a - b))) for a, b in zip(mesh_weights, reference.get_weights())) < 1e-4
assert max(float(np.max(np.abs(a - b))) for a, b in zip(start, reference.get_weights())) > 1e-3
print("equal", mesh_losses)
"""


def test_a_model_on_a_two_device_mesh_trains_as_on_one_device():
    """``fit``'s step of the library's ``w2vvpp`` under ``DataParallel`` over two host devices, with the packed
    GRU running, takes the steps one device takes on the same global batch (losses and weights)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu",
               KERAS_BACKEND="jax")
    done = subprocess.run([sys.executable, "-c", _MESH_TRAINING], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and "equal" in done.stdout, done.stderr[-3000:]
