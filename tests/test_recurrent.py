"""MaskedGRU parity with keras.layers.GRU(reset_after=True): outputs, gradients, padding, serialization."""
import numpy as np
import pytest

import keras
from keras import ops

from w2vvx.layers.recurrent import MaskedGRU

BATCH, STEPS, FEATURES, UNITS = 5, 7, 6, 4
LENGTHS = np.array([7, 3, 1, 5, 2])


def _inputs(seed=0, lengths=LENGTHS, steps=STEPS):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(lengths), steps, FEATURES)).astype("float32")
    mask = np.arange(steps)[None, :] < lengths[:, None]
    return x, mask


def _pair(return_sequences, use_fast_path=True, zero_output_for_mask=False):
    reference = keras.layers.GRU(UNITS, return_sequences=return_sequences, reset_after=True,
                                 bias_initializer="random_normal", use_cudnn=False)
    reference.build((None, STEPS, FEATURES))
    layer = MaskedGRU(UNITS, return_sequences=return_sequences, use_fast_path=use_fast_path,
                      zero_output_for_mask=zero_output_for_mask)
    layer.build((None, STEPS, FEATURES))
    layer.set_weights(reference.get_weights())
    return reference, layer


def _value_and_grads(layer, x, mask, weight_vector):
    """Loss = sum(output * fixed random weights); returns output, d loss / d (x, kernel, recurrent_kernel, bias)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(trainable, x_in):
            out, _ = layer.stateless_call(trainable, non_trainable, x_in, mask=mask)
            return ops.sum(out * weight_vector), out

        trainable = [v.value for v in layer.trainable_variables]
        (_, out), (g_w, g_x) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(trainable, x)
        return np.asarray(out), [np.asarray(g_x)] + [np.asarray(g) for g in g_w]
    if backend == "tensorflow":
        import tensorflow as tf

        x_var = tf.Variable(x)
        with tf.GradientTape() as tape:
            out = layer(x_var, mask=mask)
            loss = tf.reduce_sum(out * weight_vector)
        grads = tape.gradient(loss, [x_var] + [v.value for v in layer.trainable_variables])
        return out.numpy(), [g.numpy() for g in grads]
    import torch

    device = layer.trainable_variables[0].value.device  # the backend's device (cuda:0 on a GPU)
    x_t = torch.tensor(x, requires_grad=True, device=device)
    out = layer(x_t, mask=torch.tensor(mask, device=device))
    loss = (out * torch.tensor(weight_vector, device=device)).sum()
    params = [v.value for v in layer.trainable_variables]
    grads = torch.autograd.grad(loss, [x_t] + params)
    return out.detach().cpu().numpy(), [g.cpu().numpy() for g in grads]


@pytest.mark.parity
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("use_fast_path", [True, False])
def test_matches_keras_gru_outputs_and_gradients(return_sequences, use_fast_path):
    reference, layer = _pair(return_sequences, use_fast_path)
    x, mask = _inputs()
    shape = (BATCH, STEPS, UNITS) if return_sequences else (BATCH, UNITS)
    weight_vector = np.random.default_rng(1).normal(size=shape).astype("float32")
    expected_out, expected_grads = _value_and_grads(reference, x, mask, weight_vector)
    out, grads = _value_and_grads(layer, x, mask, weight_vector)
    np.testing.assert_allclose(out, expected_out, atol=1e-5)
    for name, got, want in zip(["inputs", "kernel", "recurrent_kernel", "bias"], grads, expected_grads):
        # cuDNN's backward sums over steps in another order: ~1e-5 relative on an H100
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=f"gradient of {name}")


@pytest.mark.parity
@pytest.mark.parametrize("use_fast_path", [True, False])
def test_padding_content_and_length_do_not_change_result(use_fast_path):
    _, layer = _pair(False, use_fast_path)
    x, mask = _inputs()
    noisy = x.copy()
    noisy[~mask] = 1000.0  # garbage at padded steps must be ignored
    longer = np.concatenate([x, np.full((BATCH, 3, FEATURES), -50.0, "float32")], axis=1)
    longer_mask = np.concatenate([mask, np.zeros((BATCH, 3), bool)], axis=1)
    base = ops.convert_to_numpy(layer(x, mask=mask))
    np.testing.assert_allclose(ops.convert_to_numpy(layer(noisy, mask=mask)), base, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(longer, mask=longer_mask)), base, atol=1e-6)
    for row, length in enumerate(LENGTHS):  # each row alone, unpadded, gives the same last state
        alone = ops.convert_to_numpy(layer(x[row:row + 1, :length]))
        np.testing.assert_allclose(alone[0], base[row], atol=1e-5)


@pytest.mark.parity
@pytest.mark.parametrize("use_fast_path", [True, False])
def test_zero_output_for_mask_and_carried_outputs(use_fast_path):
    _, carried = _pair(True, use_fast_path)
    _, zeroed = _pair(True, use_fast_path, zero_output_for_mask=True)
    zeroed.set_weights(carried.get_weights())
    x, mask = _inputs()
    out_carried = ops.convert_to_numpy(carried(x, mask=mask))
    out_zeroed = ops.convert_to_numpy(zeroed(x, mask=mask))
    assert np.all(out_zeroed[~mask] == 0)
    np.testing.assert_allclose(out_zeroed[mask], out_carried[mask], atol=1e-6)
    last = out_carried[np.arange(BATCH), LENGTHS - 1]
    np.testing.assert_allclose(out_carried[1, 3:], np.repeat(last[1:2], STEPS - 3, axis=0), atol=1e-6)


@pytest.mark.parity
def test_mask_with_holes_and_empty_rows_keep_previous_state():
    _, fast = _pair(True, True)
    _, portable = _pair(True, False)
    portable.set_weights(fast.get_weights())
    x, _ = _inputs()
    mask = np.random.default_rng(3).random((BATCH, STEPS)) < 0.6
    mask[2] = False
    out = ops.convert_to_numpy(fast(x, mask=mask))
    # cuDNN on a GPU sums in another order than the scan: float32 rounding, up to ~5e-6 seen on an H100
    np.testing.assert_allclose(out, ops.convert_to_numpy(portable(x, mask=mask)), atol=2e-5)
    np.testing.assert_allclose(out[2], 0.0)


@pytest.mark.parity
def test_serialization_round_trip_in_a_model(tmp_path):
    tokens = keras.Input((STEPS,), dtype="int32")
    embedded = keras.layers.Embedding(20, FEATURES, mask_zero=True)(tokens)
    outputs = MaskedGRU(UNITS, name="gru", zero_output_for_mask=True, return_sequences=True)(embedded)
    model = keras.Model(tokens, outputs)
    ids = np.array([[3, 4, 5, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]], "int32")
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    layer = restored.get_layer("gru")
    assert isinstance(layer, MaskedGRU) and layer.zero_output_for_mask and layer.return_sequences
    np.testing.assert_allclose(ops.convert_to_numpy(restored(ids)), ops.convert_to_numpy(model(ids)), atol=1e-6)
    assert [w.path.split("/")[-1] for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]


@pytest.mark.parametrize("bad", [{"units": 0}, {"units": 2.5}, {"units": 4, "return_sequences": "yes"}])
def test_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="MaskedGRU"):
        MaskedGRU(**bad)


@pytest.mark.parity
def test_torch_padded_and_packed_kernels_agree_with_the_scan():
    """The CUDA route (whole padded batch) and the CPU route (packed) of the torch kernel, both on the CPU."""
    if keras.backend.backend() != "torch":
        pytest.skip("the fused torch kernel exists on the torch backend only")
    import torch

    from w2vvx.backend import gru_kernels

    x, mask = _inputs(seed=3)
    _, layer = _pair(return_sequences=True, use_fast_path=False)
    expected = ops.convert_to_numpy(layer(x, mask=mask))
    lengths = torch.tensor(mask.sum(1))
    x_cpu = torch.tensor(x)
    if layer.kernel.value.device.type != "cpu":
        pytest.skip("the packed route runs on the CPU; on a GPU the layer tests above cover cuDNN")
    for packed in (False, True):
        states = gru_kernels.torch_fused_gru(x_cpu, lengths, layer.kernel, layer.recurrent_kernel,
                                              layer.bias, packed=packed)
        states = states.detach().numpy()
        real = mask[..., None].repeat(UNITS, -1)
        np.testing.assert_allclose(states[real], expected[real], rtol=1e-5, atol=1e-5,
                                   err_msg=f"packed={packed}")


def test_a_model_with_the_gru_is_never_xla_compiled_on_tensorflow():
    """TensorFlow's GRU paths (cuDNN, the scan's gradient accumulators) do not compile with XLA, and Keras
    turns XLA on by itself with a GPU (jit_compile="auto"); a w2vvx model must ask for it not to be."""
    from keras.src.trainers.trainer import model_supports_jit

    from w2vvx.models import build_model, get_config

    config = get_config("w2vvpp", gru_units=4, embed_dim=4, w2v_dim=4, common_space_dim=8)
    model = build_model(config, gru_vocab_size=12, bow_vocab_size=12, visual_dim=6)
    assert model_supports_jit(model) is (keras.backend.backend() != "tensorflow")
    if keras.backend.backend() == "tensorflow":
        with pytest.warns(UserWarning):  # Keras refuses XLA for the model, with a warning
            model.compile(optimizer="adam", jit_compile=True)
        assert model.jit_compile is False


def _plain_scan_states(x, lengths, kernel, recurrent_kernel, bias):
    layer = MaskedGRU(kernel.shape[1] // 3, return_sequences=True, use_fast_path=False)
    layer.build((None, x.shape[1], x.shape[2]))
    layer.set_weights([kernel, recurrent_kernel, bias])
    mask = np.arange(x.shape[1])[None, :] < lengths[:, None]
    return layer, mask, ops.convert_to_numpy(layer(x, mask=mask))


@pytest.mark.parity
def test_the_packed_gru_in_the_layer_equals_the_plain_scan(monkeypatch):
    """On the CPU the layer runs tf_packed_gru (TensorFlow) or jax_packed_gru (JAX): real tokens only, the
    gradient written out. States at real steps and every gradient equal the plain scan's through the
    layer's compaction (holes in the mask) and expansion."""
    from w2vvx.layers import recurrent

    packed = {"tensorflow": "tf_packed", "jax": "jax_packed"}.get(keras.backend.backend())
    if packed is None:
        pytest.skip("torch's packed GRU is tested in test_torch_packed_gru.py and above")
    if not _gpu_visible():
        assert recurrent._compacted_kernel() == packed
    monkeypatch.setattr(recurrent, "_compacted_kernel", lambda: packed)
    monkeypatch.setattr(recurrent, "_SKIPPING_MIN_WORK", 0)
    rng = np.random.default_rng(11)
    lengths = np.array([9, 0, 4, 1, 6, 9, 2], "int32")
    x = rng.normal(size=(len(lengths), 9, FEATURES)).astype("float32")
    weights = [rng.normal(size=s).astype("float32") * 0.5 for s in ((FEATURES, 3 * UNITS), (UNITS, 3 * UNITS),
                                                                    (2, 3 * UNITS))]
    reference, mask, _ = _plain_scan_states(x, lengths, *weights)
    mask[3, 0], mask[2, 2] = False, False  # holes: the layer compacts them away first
    layer = MaskedGRU(UNITS, return_sequences=True)
    layer.build((None, 9, FEATURES))
    layer.set_weights(weights)
    weight_vector = rng.normal(size=(len(lengths), 9, UNITS)).astype("float32")
    want_out, want = _value_and_grads(reference, x, mask, weight_vector)
    got_out, got = _value_and_grads(layer, x, mask, weight_vector)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-5)
    for name, g, w in zip(["inputs", "kernel", "recurrent_kernel", "bias"], got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=f"gradient of {name}")


def _gpu_visible():
    if keras.backend.backend() == "jax":
        import jax

        return jax.default_backend() != "cpu"
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))
