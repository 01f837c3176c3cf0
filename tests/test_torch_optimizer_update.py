"""The in-place RMSprop / Adam rules (torch on the CPU) give Keras's own updates, step after step."""
import numpy as np
import pytest

import keras

from w2vvx.backend.torch_optimizer_update import in_place_rule, updates_in_place

pytestmark = pytest.mark.parity

torch_only = pytest.mark.skipif(keras.backend.backend() != "torch", reason="a torch-backend rule")


def run(optimizer, in_place, steps=4):
    rng = np.random.default_rng(0)
    weights = [keras.Variable(rng.normal(size=shape).astype("float32"), name=f"w{i}")
               for i, shape in enumerate([(5, 3), (3,), (5, 3)])]  # two weights share a scratch shape
    optimizer.build(weights)
    scratch = {}
    for _ in range(steps):
        grads = [keras.ops.convert_to_tensor(rng.normal(size=w.shape).astype("float32")) for w in weights]
        if in_place:
            with updates_in_place(optimizer, scratch):
                optimizer.apply(grads, weights)
        else:
            optimizer.apply(grads, weights)
    return [keras.ops.convert_to_numpy(w) for w in weights], optimizer


@torch_only
@pytest.mark.parametrize("make", [
    lambda: keras.optimizers.RMSprop(learning_rate=0.01),
    lambda: keras.optimizers.RMSprop(learning_rate=0.01, momentum=0.9, rho=0.8),
    lambda: keras.optimizers.RMSprop(learning_rate=keras.optimizers.schedules.ExponentialDecay(0.01, 1, 0.5)),
    lambda: keras.optimizers.Adam(learning_rate=0.01),
    lambda: keras.optimizers.Adam(learning_rate=0.01, beta_1=0.5, weight_decay=0.1),
], ids=["rmsprop", "rmsprop-momentum", "rmsprop-schedule", "adam", "adam-weight-decay"])
def test_in_place_rule_equals_keras(make):
    expected, _ = run(make(), in_place=False)
    got, optimizer = run(make(), in_place=True)
    assert in_place_rule(optimizer) is not None
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)
    assert "_parallel_update_step" not in vars(optimizer)  # the class's own rule is back after the context


@torch_only
def test_settings_without_an_in_place_rule_keep_keras():
    for optimizer in (keras.optimizers.RMSprop(centered=True), keras.optimizers.Adam(amsgrad=True),
                      keras.optimizers.SGD(), keras.optimizers.AdamW()):
        assert in_place_rule(optimizer) is None, type(optimizer).__name__
    expected, _ = run(keras.optimizers.Adam(amsgrad=True), in_place=False)
    got, _ = run(keras.optimizers.Adam(amsgrad=True), in_place=True)
    for want, have in zip(expected, got):
        np.testing.assert_array_equal(have, want)


def test_other_backends_have_no_rule():
    if keras.backend.backend() == "torch":
        pytest.skip("the torch backend has the rules")
    assert in_place_rule(keras.optimizers.RMSprop()) is None
