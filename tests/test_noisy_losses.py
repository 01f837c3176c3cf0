"""MCE, ELR and the multimodal contrastive loss against NumPy transcriptions of MRL / ELR."""
import numpy as np
import pytest

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.losses.elr import ELRLoss, EarlyLearningTargets, elr_loss, update_running_targets
from w2vvx.losses.label_contrastive import MultimodalContrastiveLoss, multimodal_contrastive_loss
from w2vvx.losses.mce import MeanClusteringError, mean_clustering_error


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _numpy_mce(labels, logits, tau):
    p = _softmax(logits / tau)
    q = np.eye(logits.shape[1])[labels]
    return np.log(((1 - q) * p).sum(1) / p.sum(1))


def _numpy_contrastive(views, tau):
    """Literal transcription of MRL main_noisy.py cross_modal_contrastive_ctriterion."""
    n_view, batch = len(views), views[0].shape[0]
    features = np.concatenate(views)
    sim = np.exp(features @ features.T / tau)
    sim = sim - np.diag(np.diag(sim))
    sum1 = sum(sim[:, v * batch:(v + 1) * batch] for v in range(n_view))
    diag1 = np.concatenate([np.diag(sum1[v * batch:(v + 1) * batch]) for v in range(n_view)])
    loss1 = -np.log(diag1 / sim.sum(1)).mean()
    sum2 = sum(sim[v * batch:(v + 1) * batch] for v in range(n_view))
    diag2 = np.concatenate([np.diag(sum2[:, v * batch:(v + 1) * batch]) for v in range(n_view)])
    loss2 = -np.log(diag2 / sim.sum(1)).mean()
    return loss1 + loss2


def _numpy_elr(labels, logits, old_targets, beta, lam, clip=1e-4):
    p = np.clip(_softmax(logits), clip, 1 - clip)
    targets = beta * old_targets + (1 - beta) * p / p.sum(1, keepdims=True)
    log_p = logits - logits.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    ce = -log_p[np.arange(len(labels)), labels]
    return ce + lam * np.log(1 - (targets * p).sum(1)), targets


@pytest.mark.parity
@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_mce_matches_numpy(tau):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype("float32") * 3
    labels = rng.integers(0, 4, size=6)
    expected = _numpy_mce(labels, logits.astype("float64"), tau)
    got = ops.convert_to_numpy(mean_clustering_error(labels, logits, tau=tau))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    loss = MeanClusteringError(tau=tau)
    np.testing.assert_allclose(float(loss(labels, logits)), expected.mean(), rtol=1e-5, atol=1e-5)


@pytest.mark.parity
def test_mce_is_finite_when_the_label_is_certain():
    logits = np.array([[80.0, -80.0, -80.0]], dtype="float32")
    value = float(ops.convert_to_numpy(mean_clustering_error(np.array([0]), logits))[0])
    assert np.isfinite(value) and value == pytest.approx(np.log(1e-7), rel=1e-3)


@pytest.mark.parity
@pytest.mark.parametrize("tau,num_views", [(1.0, 2), (0.3, 2), (1.0, 3)])
def test_contrastive_matches_mrl_transcription(tau, num_views):
    rng = np.random.default_rng(1)
    views = [rng.normal(size=(5, 8)) for _ in range(num_views)]
    views = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in views]
    expected = _numpy_contrastive(views, tau)
    got = float(multimodal_contrastive_loss([v.astype("float32") for v in views], tau=tau))
    assert got == pytest.approx(expected, rel=1e-4)
    stacked = np.stack(views, axis=1).astype("float32")
    assert float(MultimodalContrastiveLoss(tau=tau)(np.zeros(5), stacked)) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parity
def test_contrastive_is_finite_at_small_temperature():
    x = np.eye(4, dtype="float32")
    assert np.isfinite(float(multimodal_contrastive_loss([x, x[[1, 0, 3, 2]]], tau=0.001)))


@pytest.mark.parity
def test_elr_loss_matches_numpy():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(5, 3)) * 2
    labels = rng.integers(0, 3, size=5)
    old = _softmax(rng.normal(size=(5, 3)))
    expected, expected_targets = _numpy_elr(labels, logits, old, beta=0.7, lam=3.0)
    targets = update_running_targets(old.astype("float32"), logits.astype("float32"), beta=0.7)
    np.testing.assert_allclose(ops.convert_to_numpy(targets), expected_targets, rtol=1e-5, atol=1e-6)
    got = ops.convert_to_numpy(elr_loss(labels, logits.astype("float32"), targets, elr_lambda=3.0))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    packed = np.concatenate([logits, ops.convert_to_numpy(targets)], axis=-1).astype("float32")
    assert float(ELRLoss(elr_lambda=3.0)(labels, packed)) == pytest.approx(expected.mean(), rel=1e-4)


@pytest.mark.parity
def test_elr_targets_state_updates_only_the_batch_rows_in_training():
    layer = EarlyLearningTargets(num_samples=5, num_classes=3, beta=0.6)
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 3)).astype("float32")
    indices = np.array([4, 1])
    returned = ops.convert_to_numpy(layer(logits, indices, training=False))
    assert np.all(ops.convert_to_numpy(layer.targets) == 0)
    returned = ops.convert_to_numpy(layer(logits, indices, training=True))
    state = ops.convert_to_numpy(layer.targets)
    _, expected = _numpy_elr(np.zeros(2, int), logits.astype("float64"), np.zeros((2, 3)), beta=0.6, lam=0.0)
    np.testing.assert_allclose(returned, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state[[4, 1]], expected, rtol=1e-5, atol=1e-6)
    assert np.all(state[[0, 2, 3]] == 0)
    second = ops.convert_to_numpy(layer(logits, indices, training=True))
    # the update from zero gave 0.4 * p_normalised = expected, so the next one is 0.6 * expected + expected
    np.testing.assert_allclose(second, 1.6 * expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("factory", [
    lambda: MeanClusteringError(tau=0),
    lambda: ELRLoss(elr_lambda=-1),
    lambda: EarlyLearningTargets(0, 3),
    lambda: EarlyLearningTargets(3, 3, beta=1.0),
    lambda: MultimodalContrastiveLoss(tau=-1.0),
])
def test_bad_arguments_are_rejected(factory):
    with pytest.raises(ConfigError):
        factory()


def test_losses_round_trip_through_config():
    for loss in (MeanClusteringError(tau=0.5), ELRLoss(elr_lambda=2.0), MultimodalContrastiveLoss(tau=0.2)):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
    layer = EarlyLearningTargets(7, 3, beta=0.4)
    clone = EarlyLearningTargets.from_config(layer.get_config())
    assert (clone.num_samples, clone.num_classes, clone.beta) == (7, 3, 0.4)
