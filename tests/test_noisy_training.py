"""The noisy-label two-tower model trains with model.fit on every backend and beats chance."""
import numpy as np
import pytest

from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.noisy.model import NoisyCrossModalModel, NormalizedClassifier
from w2vvx.noisy.noise import symmetric_label_noise
from w2vvx.noisy.training import train_noisy_retrieval


def _toy_pairs(num_samples, num_classes=4, seed=0):
    """Paired views whose class shows through a noisy class-specific direction in both modalities."""
    rng = np.random.default_rng(seed)
    labels = np.arange(num_samples) % num_classes
    image_centres, text_centres = rng.normal(size=(num_classes, 12)), rng.normal(size=(num_classes, 6))
    image = image_centres[labels] + 0.6 * rng.normal(size=(num_samples, 12))
    text = text_centres[labels] + 0.6 * rng.normal(size=(num_samples, 6))
    return image.astype("float32"), text.astype("float32"), labels


@pytest.mark.parity
@pytest.mark.parametrize("method", ["mrl", "elr"])
def test_tiny_training_beats_chance(method):
    all_image, all_text, all_labels = _toy_pairs(240)
    image, text, labels = all_image[:160], all_text[:160], all_labels[:160]
    test_image, test_text, test_labels = all_image[160:], all_text[160:], all_labels[160:]
    noisy = symmetric_label_noise(labels, 0.4, 4, seed=0)
    trained = train_noisy_retrieval(image, text, noisy, 4, method=method, epochs=8, batch_size=32,
                                    learning_rate=3e-3, hidden_units=(32,), embedding_dim=16)
    scores = trained.evaluate(test_image, test_text, test_labels)
    chance = 0.25
    assert scores["i2t"] > chance + 0.15 and scores["t2i"] > chance + 0.15, scores
    if method == "elr":
        targets = ops.convert_to_numpy(trained.model.image_targets.targets)
        # every sample was seen each epoch, so every running target is a (near-)distribution
        np.testing.assert_allclose(targets.sum(axis=1), 1 - 0.7 ** 8, rtol=1e-4)


@pytest.mark.parity
def test_classifier_columns_are_unit_centres():
    layer = NormalizedClassifier(3, seed=0)
    features = np.eye(5, dtype="float32")
    logits = ops.convert_to_numpy(layer(features))
    np.testing.assert_allclose(np.linalg.norm(logits, axis=0), 1.0, rtol=1e-5)


def test_model_validation_and_config():
    with pytest.raises(ConfigError, match="method"):
        NoisyCrossModalModel(4, 3, 2, method="mae")
    with pytest.raises(ConfigError, match="num_samples"):
        NoisyCrossModalModel(4, 3, 2, method="elr")
    model = NoisyCrossModalModel(4, 3, 2, num_samples=5, method="elr", hidden_units=(8,), embedding_dim=4)
    clone = NoisyCrossModalModel.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    with pytest.raises(ConfigError, match="missing"):
        model({"image": np.ones((2, 4), "float32")})
    with pytest.raises(ConfigError, match="same number of rows"):
        train_noisy_retrieval(np.ones((4, 3)), np.ones((5, 2)), np.zeros(4, int), 2)


def test_wikipedia_training_beats_chance(shared_data):
    from w2vvx.noisy.wikipedia import load_wikipedia

    data = load_wikipedia(shared_data / "features" / "wikipedia")
    trained = train_noisy_retrieval(data.train.image, data.train.text, data.train.labels, data.num_classes,
                                    method="mrl", epochs=2, learning_rate=1e-3, hidden_units=(64,), embedding_dim=32)
    scores = trained.evaluate(data.test.image, data.test.text, data.test.labels)
    chance = float(np.sum((np.bincount(data.test.labels) / len(data.test.labels)) ** 2))
    assert scores["i2t"] > chance + 0.05 and scores["t2i"] > chance + 0.03, scores
