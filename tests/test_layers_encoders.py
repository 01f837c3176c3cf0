"""Layers: shapes, masking (padding never changes the output) and serialization."""
import keras
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.layers import (AttentionPooling, BagOfWords, CommonSpaceProjection, GRUTextEncoder, L2Normalize,
                          LearnableTemperature, MeanWordEmbedding, MultiScaleTextEncoder, TextToVisualMapping,
                          VisualEncoder)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def pad(ids, length):
    ids = np.asarray(ids, dtype="int32")
    return np.pad(ids, ((0, 0), (0, length - ids.shape[1])))


@pytest.mark.parity
def test_bag_of_words_counts_real_tokens_only():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, size=(5, 9)).astype("int32")
    expected = np.zeros((5, 7), "float32")
    for row, sentence in enumerate(ids):
        for token in sentence[sentence > 0]:
            expected[row, token] += 1
    np.testing.assert_array_equal(to_numpy(BagOfWords(7)(ids)), expected)
    assert to_numpy(BagOfWords(7)(np.zeros((2, 4), "int32"))).sum() == 0


@pytest.mark.parity
def test_mean_word_embedding_masks_padding_and_empty_rows():
    matrix = np.arange(12, dtype="float32").reshape(6, 2)
    layer = MeanWordEmbedding(6, 2, embeddings=matrix)
    ids = np.array([[1, 3, 0, 0], [0, 0, 0, 0]], "int32")
    out = to_numpy(layer(ids))
    np.testing.assert_allclose(out[0], matrix[[1, 3]].mean(axis=0))
    np.testing.assert_array_equal(out[1], [0.0, 0.0])
    np.testing.assert_allclose(to_numpy(layer(pad(ids, 9))), out)
    assert not layer.trainable_weights


def test_mean_word_embedding_rejects_wrong_matrix():
    with pytest.raises(ConfigError, match=r"\(6, 2\)"):
        MeanWordEmbedding(6, 2, embeddings=np.zeros((5, 2)))


@pytest.mark.parity
def test_attention_pooling_ignores_padding_when_masked():
    rng = np.random.default_rng(1)
    states = rng.normal(size=(3, 4, 5)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], bool)
    layer = AttentionPooling()
    out = to_numpy(layer(states, mask=mask))
    noisy = states.copy()
    noisy[~mask] = 100.0
    np.testing.assert_allclose(to_numpy(layer(noisy, mask=mask)), out, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[2], np.zeros(5))
    scores = np.tanh(states @ to_numpy(layer.scorer.kernel) + to_numpy(layer.scorer.bias))[..., 0]
    weights = np.exp(scores[0, :2]) / np.exp(scores[0, :2]).sum()
    np.testing.assert_allclose(out[0], weights @ states[0, :2], rtol=1e-5, atol=1e-6)
    unmasked = AttentionPooling(mask_padding=False)
    unmasked.build(states.shape)
    unmasked.set_weights(layer.get_weights())
    assert not np.allclose(to_numpy(unmasked(noisy, mask=mask))[0], out[0])


@pytest.mark.parity
@pytest.mark.parametrize("pooling,bidirectional", [("last", False), ("mean", False), ("attention", False),
                                                   ("last", True)])
def test_gru_encoder_output_does_not_depend_on_padding(pooling, bidirectional):
    encoder = GRUTextEncoder(vocab_size=20, embed_dim=6, units=5, pooling=pooling, bidirectional=bidirectional)
    ids = np.array([[3, 4, 5, 0], [7, 0, 0, 0], [2, 9, 11, 12]], "int32")
    out = to_numpy(encoder(ids))
    assert out.shape == (3, 10 if bidirectional else 5)
    np.testing.assert_allclose(to_numpy(encoder(pad(ids, 9))), out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(encoder(ids[1:2, :1]))[0], out[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parity
def test_gru_encoder_last_state_matches_numpy_gru():
    encoder = GRUTextEncoder(vocab_size=10, embed_dim=3, units=4, pooling="last", dropout=0.0)
    ids = np.array([[5, 2, 7, 0, 0]], "int32")
    out = to_numpy(encoder(ids))[0]
    embeddings = to_numpy(encoder.embedding.embeddings)
    kernel, recurrent, bias = (to_numpy(w) for w in encoder.recurrent.weights)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    h = np.zeros(4, "float32")
    for token in [5, 2, 7]:  # Keras gate order z, r, h; reset_after: r multiplies (U_h h + b_rh)
        x = embeddings[token] @ kernel + bias[0]
        inner = h @ recurrent + bias[1]
        z = sigmoid(x[:4] + inner[:4])
        r = sigmoid(x[4:8] + inner[4:8])
        candidate = np.tanh(x[8:] + r * inner[8:])
        h = z * h + (1 - z) * candidate
    np.testing.assert_allclose(out, h, rtol=1e-4, atol=1e-5)


@pytest.mark.parity
def test_gru_encoder_uses_given_embeddings():
    matrix = np.random.default_rng(2).normal(size=(8, 3)).astype("float32")
    encoder = GRUTextEncoder(vocab_size=8, embed_dim=3, units=2, embeddings=matrix, embedding_trainable=False)
    encoder(np.array([[1, 2]], "int32"))
    np.testing.assert_array_equal(to_numpy(encoder.embedding.embeddings), matrix)
    assert all("embedding" not in w.path for w in encoder.trainable_weights)


def test_gru_encoder_rejects_unknown_pooling():
    with pytest.raises(ConfigError, match="pooling must be one of"):
        GRUTextEncoder(vocab_size=8, pooling="max")


@pytest.mark.parity
def test_multiscale_concatenates_branches_in_order():
    ids = np.array([[2, 3, 0], [4, 0, 0]], "int32")
    bow_ids = np.array([[1, 1, 0], [0, 0, 0]], "int32")
    encoder = MultiScaleTextEncoder(gru_vocab_size=10, bow_vocab_size=5, embed_dim=4, units=3, w2v_dim=2)
    out = to_numpy(encoder({"tokens": ids, "bow_tokens": bow_ids}))
    assert out.shape == (2, 3 + 5 + 2) == (2, encoder.output_dim)
    np.testing.assert_array_equal(out[:, 3:8], to_numpy(BagOfWords(5)(bow_ids)))
    np.testing.assert_array_equal(out[1, 8:], [0.0, 0.0])
    bow_only = MultiScaleTextEncoder(branches=("bow",), bow_vocab_size=5)
    assert to_numpy(bow_only({"tokens": ids, "bow_tokens": bow_ids})).shape == (2, 5)
    with pytest.raises(ConfigError, match="bow_tokens"):
        encoder({"tokens": ids})
    with pytest.raises(ConfigError, match="branches"):
        MultiScaleTextEncoder(branches=("gru", "cnn"), gru_vocab_size=10)


@pytest.mark.parity
def test_mappings_and_visual_encoder():
    x = np.random.default_rng(3).normal(size=(4, 6)).astype("float32")
    mlp = TextToVisualMapping((8,), 5, dropout=0.0)
    assert to_numpy(mlp(x)).shape == (4, 5) and to_numpy(mlp(x)).min() >= 0
    projected = to_numpy(CommonSpaceProjection(3, batch_norm=True)(x))
    np.testing.assert_allclose(np.linalg.norm(projected, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(to_numpy(VisualEncoder()(x)), x)
    frames = np.zeros((2, 5, 6), "float32")
    frames[0, :2] = x[:2]
    frames[1, :3] = x[1:4]
    pooled = to_numpy(VisualEncoder()(frames))
    np.testing.assert_allclose(pooled, [x[:2].mean(0), x[1:4].mean(0)], rtol=1e-6)
    mask = np.array([[1, 0, 0, 0, 0], [1, 1, 1, 0, 0]], bool)
    np.testing.assert_allclose(to_numpy(VisualEncoder()(frames, mask=mask))[0], x[0], rtol=1e-6)
    assert to_numpy(VisualEncoder(7)(frames)).shape == (2, 7)
    np.testing.assert_allclose(to_numpy(L2Normalize()(np.array([[3.0, 4.0], [0.0, 0.0]]))), [[0.6, 0.8], [0, 0]])


def test_learnable_temperature_clamps_and_validates():
    tau = LearnableTemperature(0.07)
    assert float(to_numpy(tau())) == pytest.approx(0.07)
    tau.log_temperature.assign(np.log(5.0))
    assert float(to_numpy(tau())) == pytest.approx(0.5)
    assert len(tau.trainable_weights) == 1
    assert not LearnableTemperature(0.07, learnable=False).trainable_weights
    with pytest.raises(ConfigError, match="min_value <= initial"):
        LearnableTemperature(0.9)


@pytest.mark.parametrize("layer,inputs", [
    (BagOfWords(6), np.array([[1, 2, 0]], "int32")),
    (MeanWordEmbedding(6, 3), np.array([[1, 2, 0]], "int32")),
    (GRUTextEncoder(6, embed_dim=3, units=2, pooling="attention", bidirectional=True),
     np.array([[1, 2, 0]], "int32")),
    (TextToVisualMapping((4,), 3), np.ones((2, 5), "float32")),
    (CommonSpaceProjection(3, activation=None, batch_norm=True), np.ones((2, 5), "float32")),
    (VisualEncoder(3), np.ones((2, 5), "float32")),
])
def test_layers_round_trip_through_config(layer, inputs):
    expected = to_numpy(layer(inputs))
    clone = layer.__class__.from_config(layer.get_config())
    clone(inputs)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(clone(inputs)), expected, rtol=1e-6)
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer)).get_config() \
        == layer.get_config()
