"""BagOfWordsDense: a Dense layer over [dense ‖ BoW counts ‖ dense] with the counts given as ids."""
import numpy as np
import pytest

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers import BagOfWords, BagOfWordsDense

VOCAB, UNITS = 11, 5
# repeated words, padding in the middle and at the end, a sentence without words
IDS = np.array([[3, 3, 7, 0, 0], [1, 10, 0, 4, 4], [0, 0, 0, 0, 0], [2, 5, 9, 6, 3]], "int32")


def _to_numpy(value):
    return np.asarray(ops.convert_to_numpy(value))


def _value_and_grads(layer, inputs, output_weights):
    """Loss = sum(output * fixed weights): output, d loss / d (sentence, every trained weight)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def loss_fn(trainable, sentence):
            out, _ = layer.stateless_call(trainable, [v.value for v in layer.non_trainable_variables],
                                          {**inputs, "sentence": sentence})
            return ops.sum(out * output_weights), out

        trainable = [v.value for v in layer.trainable_variables]
        (_, out), (grads, sentence_grad) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
            trainable, inputs["sentence"])
        return _to_numpy(out), [_to_numpy(sentence_grad)] + [_to_numpy(g) for g in grads]
    if backend == "tensorflow":
        import tensorflow as tf

        sentence = tf.Variable(inputs["sentence"])
        with tf.GradientTape() as tape:
            out = layer({**inputs, "sentence": sentence})
            loss = tf.reduce_sum(out * output_weights)
        grads = tape.gradient(loss, [sentence] + [v.value for v in layer.trainable_variables])
        return out.numpy(), [_to_numpy(tf.convert_to_tensor(g)) for g in grads]
    import torch

    sentence = torch.tensor(inputs["sentence"], requires_grad=True)
    out = layer({**inputs, "sentence": sentence})
    loss = (out * torch.tensor(output_weights)).sum()
    grads = torch.autograd.grad(loss, [sentence] + [v.value for v in layer.trainable_variables])
    return out.detach().numpy(), [g.numpy() for g in grads]


def _dense_reference(layer, sentence, offset):
    """A keras Dense layer with the same weights over the full vector [leading ‖ counts ‖ trailing]."""
    counts = _to_numpy(BagOfWords(VOCAB, dtype="float32")(IDS))
    full = np.concatenate([sentence[:, :offset], counts, sentence[:, offset:]], axis=1)
    dense = keras.layers.Dense(UNITS, activation="tanh", dtype="float32")
    dense.build(full.shape)
    dense.set_weights([layer.kernel_matrix(), _to_numpy(layer.bias)])
    return dense, full


@pytest.mark.parity
@pytest.mark.parametrize("offset, dense_dim", [(3, 7), (0, 4), (4, 4)])
def test_equals_a_dense_layer_over_the_count_vector(offset, dense_dim):
    """Outputs and every gradient equal a Dense layer's over the counts (leading only, trailing only, both)."""
    rng = np.random.default_rng(offset)
    sentence = rng.normal(size=(len(IDS), dense_dim)).astype("float32")
    layer = BagOfWordsDense(UNITS, bow_vocab_size=VOCAB, bow_offset=offset, activation="tanh",
                            bias_initializer="random_normal", dtype="float32")
    inputs = {"sentence": sentence, "bow_tokens": IDS}
    layer.build({"sentence": sentence.shape, "bow_tokens": IDS.shape})
    output_weights = rng.normal(size=(len(IDS), UNITS)).astype("float32")
    out, grads = _value_and_grads(layer, inputs, output_weights)
    dense, full = _dense_reference(layer, sentence, offset)
    np.testing.assert_allclose(out, _to_numpy(dense(full)), rtol=1e-5, atol=1e-6)
    # the Dense layer's gradients, by hand: d tanh = 1 - out², then the product's
    delta = output_weights * (1.0 - out ** 2)
    kernel_grad = full.T @ delta
    sentence_grad = delta @ layer.kernel_matrix()[np.r_[0:offset, offset + VOCAB:offset + VOCAB + dense_dim - offset]].T
    got_kernel = np.concatenate([g for g, v in zip(grads[1:], layer.trainable_variables) if "kernel" in v.path])
    np.testing.assert_allclose(grads[0], sentence_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_kernel, kernel_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[-1], delta.sum(axis=0), rtol=1e-5, atol=1e-6)
    assert not got_kernel[offset].any()  # the padding row of the BoW block: never counted


@pytest.mark.parity
def test_a_sentence_vector_of_words_only():
    layer = BagOfWordsDense(UNITS, bow_vocab_size=VOCAB, dtype="float32", bias_initializer="random_normal")
    out = _to_numpy(layer({"bow_tokens": IDS}))
    counts = _to_numpy(BagOfWords(VOCAB, dtype="float32")(IDS))
    np.testing.assert_allclose(out, counts @ layer.kernel_matrix() + _to_numpy(layer.bias), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[2], _to_numpy(layer.bias))  # no words: the bias alone


@pytest.mark.parity
def test_bow_dropout_keeps_or_drops_each_sentence_word_as_one():
    """With an identity kernel the output is the counts the product saw: each (sentence, word) count is kept
    whole (scaled by 1 / (1 - rate)) or dropped, about ``rate`` of them dropped, and none at inference."""
    rate = 0.5
    ids = np.tile(np.array([[1, 2, 2, 3, 3, 3, 0]], "int32"), (400, 1))
    keras.utils.set_random_seed(0)
    layer = BagOfWordsDense(4, bow_vocab_size=4, bow_dropout=rate, use_bias=False)
    layer.build({"bow_tokens": ids.shape})
    layer.bow_kernel.assign(np.eye(4, dtype="float32"))
    counts = np.array([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(_to_numpy(layer({"bow_tokens": ids}, training=False)), np.tile(counts, (400, 1)))
    seen = _to_numpy(layer({"bow_tokens": ids}, training=True))
    kept = np.isclose(seen, counts / (1 - rate))
    assert np.logical_or(kept, np.isclose(seen, 0.0)).all()  # never part of a word's count
    dropped = 1.0 - kept[:, 1:].mean()
    assert 0.4 < dropped < 0.6, dropped


def test_saved_as_one_kernel_as_a_dense_layer_saves_it():
    layer = BagOfWordsDense(UNITS, bow_vocab_size=VOCAB, bow_offset=2, bias_initializer="random_normal")
    layer.build({"sentence": (None, 6), "bow_tokens": (None, None)})
    store = {}
    layer.save_own_variables(store)
    assert sorted(store) == ["0", "1"] and store["0"].shape == (6 + VOCAB, UNITS)
    dense = keras.layers.Dense(UNITS)
    dense.build((None, 6 + VOCAB))
    dense.load_own_variables(store)
    np.testing.assert_allclose(_to_numpy(dense.kernel), layer.kernel_matrix())
    other = BagOfWordsDense(UNITS, bow_vocab_size=VOCAB, bow_offset=2)
    other.build({"sentence": (None, 6), "bow_tokens": (None, None)})
    other.load_own_variables(store)
    np.testing.assert_allclose(other.kernel_matrix(), layer.kernel_matrix())
    smaller = BagOfWordsDense(UNITS, bow_vocab_size=VOCAB - 1, bow_offset=2)
    smaller.build({"sentence": (None, 6), "bow_tokens": (None, None)})
    with pytest.raises(ConfigError, match=r"saved kernel has shape \(17, 5\).*\(16, 5\)"):
        smaller.load_own_variables(store)


def test_the_kernel_is_drawn_at_the_scale_of_the_whole_vector():
    """Glorot's limit depends on the full fan-in: the three blocks are slices of one draw."""
    layer = BagOfWordsDense(64, bow_vocab_size=2000, bow_offset=10)
    layer.build({"sentence": (None, 30), "bow_tokens": (None, None)})
    limit = np.sqrt(6.0 / (2030 + 64))
    for variable in (layer.leading_kernel, layer.bow_kernel, layer.trailing_kernel):
        values = _to_numpy(variable)
        assert np.abs(values).max() <= limit and np.abs(values).max() > 0.9 * limit


def test_config_round_trip():
    layer = BagOfWordsDense(UNITS, bow_vocab_size=VOCAB, bow_offset=1, activation="relu", bow_dropout=0.2)
    clone = BagOfWordsDense.from_config(layer.get_config())
    assert (clone.units, clone.bow_vocab_size, clone.bow_offset, clone.bow_dropout) == (UNITS, VOCAB, 1, 0.2)


@pytest.mark.parametrize("kwargs, match", [
    ({"units": 0}, "units must be a positive integer"),
    ({"bow_vocab_size": 0}, "bow_vocab_size must be a positive integer"),
    ({"bow_offset": -1}, "bow_offset must be an integer >= 0"),
    ({"bow_offset": 2.5}, "bow_offset must be an integer >= 0"),
    ({"bow_dropout": 1.0}, r"bow_dropout must be a number in \[0, 1\)"),
])
def test_bad_arguments_are_refused(kwargs, match):
    settings = {"units": UNITS, "bow_vocab_size": VOCAB, **kwargs}
    with pytest.raises(ConfigError, match=match):
        BagOfWordsDense(**settings)


def test_bad_inputs_are_refused():
    with pytest.raises(ConfigError, match="expects a dict with 'bow_tokens'"):
        BagOfWordsDense(UNITS, bow_vocab_size=VOCAB).build((None, 8))
    with pytest.raises(ConfigError, match="bow_offset=5 dense columns come before the BoW block, but 'sentence' has "
                                          "only 3 columns"):
        BagOfWordsDense(UNITS, bow_vocab_size=VOCAB, bow_offset=5).build({"sentence": (None, 3),
                                                                          "bow_tokens": (None, None)})


@pytest.mark.parity
@pytest.mark.parametrize("name, text_mlp, first", [
    ("w2vvpp", (), lambda head: head.get_layer("projection").linear),
    ("w2vvpp", (7,), lambda head: head.get_layer("mapping").output_layer),
    ("base_w2vv", (7,), lambda head: head.get_layer("mapping").hidden[0]),
])
def test_the_models_first_dense_sees_gru_bow_word2vec_in_the_lineage_order(name, text_mlp, first):
    """In a built model the head's first layer computes Dense([GRU ‖ BoW counts ‖ word2vec]) with its kernel."""
    from w2vvx.models import build_model, get_config

    keras.utils.set_random_seed(0)
    config = get_config(name, gru_units=6, embed_dim=4, w2v_dim=3, text_mlp=text_mlp, w2v_words="bow",
                        **({"common_space_dim": 8} if name == "w2vvpp" else {}))
    model = build_model(config, gru_vocab_size=VOCAB, bow_vocab_size=VOCAB, visual_dim=8)
    multiscale = model.text_encoder.get_layer("multiscale")
    layer = first(model.text_encoder.get_layer("text_head"))
    assert isinstance(layer, BagOfWordsDense) and layer.bow_offset == multiscale.gru.output_dim
    inputs = {"tokens": IDS, "bow_tokens": IDS[:, ::-1].copy()}
    dense_columns = _to_numpy(multiscale(inputs))
    counts = _to_numpy(BagOfWords(VOCAB)(inputs["bow_tokens"]))
    offset = layer.bow_offset
    full = np.concatenate([dense_columns[:, :offset], counts, dense_columns[:, offset:]], axis=1)
    want = full @ layer.kernel_matrix() + _to_numpy(layer.bias)
    got = _to_numpy(layer({"sentence": dense_columns, "bow_tokens": inputs["bow_tokens"]}))
    np.testing.assert_allclose(got, _to_numpy(layer.activation(want)), rtol=1e-5, atol=1e-6)


@pytest.mark.parity
def test_a_model_of_the_bow_branch_alone():
    """No dense columns: the head reads the ids alone, l2(tanh(counts @ kernel + bias)) for W2VV++ in inference."""
    from w2vvx.models import build_model, get_config

    keras.utils.set_random_seed(0)
    config = get_config("w2vvpp", text_branches=("bow",), text_mlp=(), common_space_dim=8)
    model = build_model(config, gru_vocab_size=VOCAB, bow_vocab_size=VOCAB, visual_dim=8)
    layer = model.text_encoder.get_layer("text_head").get_layer("projection").linear
    assert isinstance(layer, BagOfWordsDense) and layer.dense_dim == 0
    got = _to_numpy(model.text_encoder({"tokens": IDS, "bow_tokens": IDS}, training=False))
    counts = _to_numpy(BagOfWords(VOCAB)(IDS))
    want = np.tanh(counts @ layer.kernel_matrix() + _to_numpy(layer.bias))
    want /= np.maximum(np.linalg.norm(want, axis=1, keepdims=True), 1e-12)  # the sentence without words: 0
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_files_of_w2vvx_0_2():
    """A W2VV++ file of 0.2 loads and encodes as it did; a text-MLP file is refused with the reason and the way out."""
    from pathlib import Path

    import w2vvx  # noqa: F401  (registers the classes for loading)

    folder = Path(__file__).parent / "fixtures" / "w2vvx_0.2"
    saved = np.load(folder / "text_embeddings.npz")
    ids = saved["ids"]
    model = keras.saving.load_model(folder / "w2vvpp.keras")
    got = _to_numpy(model.text_encoder({"tokens": ids, "bow_tokens": ids[:, ::-1].copy()}))
    np.testing.assert_allclose(got, saved["w2vvpp"], rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="written by w2vvx 0.2 or earlier.*train the model again, or load it with "
                                        "w2vvx 0.2"):
        keras.saving.load_model(folder / "w2vv_attention_ctl.keras")
