"""NRCCR building blocks: cross-attention, the cross pseudo-target vector, distillation losses."""
import numpy as np
import pytest

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers.cross_attention import CrossAttention, CrossAttentionPseudoTarget
from w2vvx.losses.distillation import (FeatureDistillationLoss, SimilarityDistillationLoss,
                                       feature_distillation_loss, similarity_distillation_loss)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _weights(dense):
    kernel, bias = (ops.convert_to_numpy(w).astype("float64") for w in dense.weights)
    return kernel, bias


def _numpy_cross_attention(layer, query, value, query_mask, value_mask):
    heads = layer.num_heads
    wq, bq = _weights(layer.query_dense)
    wk, bk = _weights(layer.key_dense)
    wv, bv = _weights(layer.value_dense)
    wo, bo = _weights(layer.output_dense)
    gamma, beta = (ops.convert_to_numpy(w).astype("float64") for w in layer.layer_norm.weights)

    def split(x):
        b, length, d = x.shape
        return x.reshape(b, length, heads, d // heads).transpose(0, 2, 1, 3)

    q, k, v = split(query @ wq + bq), split(value @ wk + bk), split(value @ wv + bv)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(layer.key_dim // heads)
    scores = np.where(value_mask[:, None, None, :] > 0, scores, -1e9)
    context = (_softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(query.shape[0], query.shape[1], -1)
    out = context @ wo + bo
    mean, var = out.mean(-1, keepdims=True), out.var(-1, keepdims=True)
    out = (out - mean) / np.sqrt(var + layer.layer_norm_epsilon) * gamma + beta
    return out * query_mask[:, :, None]


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(2, 4, 16)).astype("float32")
    value = rng.normal(size=(2, 5, 16)).astype("float32")
    query_mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], dtype="float32")
    value_mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], dtype="float32")
    return query, value, query_mask, value_mask


@pytest.mark.parity
def test_cross_attention_matches_numpy_and_respects_masks():
    query, value, query_mask, value_mask = _inputs()
    layer = CrossAttention(num_heads=8, key_dim=32, dropout=0.1)
    out = ops.convert_to_numpy(layer(query, value, query_mask=query_mask, value_mask=value_mask))
    expected = _numpy_cross_attention(layer, query.astype("float64"), value.astype("float64"), query_mask, value_mask)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    assert np.all(out[0, 3] == 0)
    changed = value.copy()
    changed[0, 2:] = 100.0  # padded keys of sample 0
    again = ops.convert_to_numpy(layer(query, changed, query_mask=query_mask, value_mask=value_mask))
    np.testing.assert_allclose(again, out, rtol=1e-5, atol=1e-5)
    unmasked = ops.convert_to_numpy(layer(query, changed))
    assert not np.allclose(unmasked[0, :3], out[0, :3], atol=1e-3)


@pytest.mark.parity
def test_pseudo_target_is_masked_mean_of_attention_and_target_tokens():
    query, value, query_mask, value_mask = _inputs(1)
    layer = CrossAttentionPseudoTarget(num_heads=8, key_dim=32)
    cross = ops.convert_to_numpy(layer(query, value, source_mask=query_mask, target_mask=value_mask))
    attended = ops.convert_to_numpy(layer.attention(query, value, query_mask=query_mask, value_mask=value_mask))
    sequence = np.concatenate([attended, value], axis=1)
    mask = np.concatenate([query_mask, value_mask], axis=1)[:, :, None]
    expected = (sequence * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(cross, expected, rtol=1e-5, atol=1e-5)
    assert cross.shape == (2, 16)


@pytest.mark.parity
def test_cross_layers_save_and_load(tmp_path):
    query, value, query_mask, value_mask = _inputs(2)
    source = keras.Input((4, 16))
    target = keras.Input((5, 16))
    source_mask = keras.Input((4,))
    target_mask = keras.Input((5,))
    cross = CrossAttentionPseudoTarget(num_heads=8, key_dim=32, name="pseudo")(
        source, target, source_mask=source_mask, target_mask=target_mask)
    model = keras.Model([source, target, source_mask, target_mask], cross)
    path = tmp_path / "cross.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    inputs = [query, value, query_mask, value_mask]
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(inputs)), ops.convert_to_numpy(model(inputs)),
                               rtol=1e-5, atol=1e-5)
    layer = CrossAttention(num_heads=4, key_dim=16, output_dim=8, dropout=0.0)
    assert CrossAttention.from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize("kwargs", [dict(num_heads=3, key_dim=32), dict(num_heads=0), dict(dropout=1.5)])
def test_cross_attention_rejects_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        CrossAttention(**kwargs)


def _numpy_similarity_distillation(v, t, c, tau):
    def ce(student, teacher):
        log_student = student - student.max(1, keepdims=True)
        log_student = log_student - np.log(np.exp(log_student).sum(1, keepdims=True))
        return -(log_student * _softmax(teacher)).sum(1).mean()

    return (ce(v @ t.T / tau, v @ c.T / tau) + ce(t @ v.T / tau, c @ v.T / tau)) / 2


def _numpy_smooth_l1(a, b, beta):
    d = np.abs(a - b)
    return np.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta).mean()


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parity
def test_distillation_losses_match_numpy():
    rng = np.random.default_rng(4)
    v, t, c = (_unit(rng.normal(size=(6, 8))) for _ in range(3))
    expected = _numpy_similarity_distillation(v, t, c, 0.07)
    got = float(similarity_distillation_loss(*(x.astype("float32") for x in (v, t, c))))
    assert got == pytest.approx(expected, rel=1e-4)
    stacked = np.stack([t, c], axis=1).astype("float32")
    assert float(SimilarityDistillationLoss()(v.astype("float32"), stacked)) == pytest.approx(expected, rel=1e-4)
    raw = [x * 3.0 for x in (v, t, c)]
    assert float(similarity_distillation_loss(*(x.astype("float32") for x in raw), normalize=True)) == pytest.approx(
        expected, rel=1e-4)
    a, b = rng.normal(size=(5, 7)) * 6, rng.normal(size=(5, 7)) * 6
    expected_feature = _numpy_smooth_l1(a, b, 4.0)
    assert float(feature_distillation_loss(a.astype("float32"), b.astype("float32"))) == pytest.approx(
        expected_feature, rel=1e-5)
    assert float(FeatureDistillationLoss()(b.astype("float32"), a.astype("float32"))) == pytest.approx(
        expected_feature, rel=1e-5)


def _gradients(function, arrays):
    """Gradients of a scalar ``function(*tensors)`` with respect to every input, per backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            for tensor in tensors:
                tape.watch(tensor)
            value = function(*tensors)
        return [np.zeros_like(a) if g is None else g.numpy() for a, g in zip(arrays, tape.gradient(value, tensors))]
    if backend == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        function(*tensors).backward()
        return [np.zeros_like(a) if t.grad is None else t.grad.numpy() for a, t in zip(arrays, tensors)]
    if backend == "jax":
        import jax

        return [np.asarray(g) for g in jax.grad(lambda *xs: function(*xs), argnums=tuple(range(len(arrays))))(*arrays)]
    pytest.skip(f"no gradient helper for backend {backend}")


@pytest.mark.parity
def test_similarity_teacher_gets_no_gradient():
    rng = np.random.default_rng(5)
    v, t, c = (_unit(rng.normal(size=(4, 6))).astype("float32") for _ in range(3))
    grad_v, grad_t, grad_c = _gradients(similarity_distillation_loss, [v, t, c])
    assert np.all(grad_c == 0)
    assert np.abs(grad_t).max() > 1e-3 and np.abs(grad_v).max() > 1e-3


@pytest.mark.parity
def test_feature_distillation_teacher_gradient_follows_the_option():
    rng = np.random.default_rng(6)
    t, c = rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(3, 4)).astype("float32")
    grad_t, grad_c = _gradients(lambda a, b: feature_distillation_loss(a, b), [t, c])
    np.testing.assert_allclose(grad_c, -grad_t, rtol=1e-6, atol=1e-7)
    assert np.abs(grad_c).max() > 0
    _, grad_c_detached = _gradients(lambda a, b: feature_distillation_loss(a, b, detach_teacher=True), [t, c])
    assert np.all(grad_c_detached == 0)


def test_distillation_losses_round_trip_and_validate():
    for loss in (SimilarityDistillationLoss(tau=0.05, normalize=True), FeatureDistillationLoss(beta=2.0, detach_teacher=True)):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert clone.get_config() == loss.get_config()
    with pytest.raises(ConfigError):
        SimilarityDistillationLoss(tau=0)
    with pytest.raises(ConfigError):
        FeatureDistillationLoss(beta=-1)
