"""Backbone, preprocessor and retriever: configs serialise the parts, vocabularies travel as assets, cosine output."""
import keras
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.io.captions import Caption
from w2vvx.models import (SIZES, W2VVBackbone, W2VVPreprocessor, W2VVRetriever, build_model, get_config,
                          size_overrides, sized_config)
from w2vvx.text import Vocabulary

VOCAB = Vocabulary(["dog", "runs", "cat", "sleeps", "hund", "katze", "狗", "猫"])
VISUAL_DIM = 12


def _retriever(name="w2vv_infonce", preprocessor=True):
    config = get_config(name, gru_units=8, embed_dim=8, w2v_dim=8, dropout=0.0)
    config = config.replace(text_mlp=(16,)) if config.common_space_dim is None else config.replace(common_space_dim=16)
    pre = W2VVPreprocessor(VOCAB, VOCAB, languages=["en", "de", "zh"], maxlen=6) if preprocessor else None
    return build_model(config, len(VOCAB), len(VOCAB), visual_dim=VISUAL_DIM, preprocessor=pre)


def test_preprocessor_tokenises_each_language_and_captions_by_their_tag():
    pre = W2VVPreprocessor(VOCAB, VOCAB, languages=["en", "de", "zh"], maxlen=4)
    assert pre(["the dog runs"])["tokens"].tolist() == [[1, 2, 3, 0]]
    assert pre("ein hund", language="de")["tokens"].tolist() == [[1, 6, 0, 0]]
    mixed = pre([Caption("v1#enc#0", "v1", "enc", 0, "a cat"),
                 Caption("v1#google_enc2zh#0", "v1", "google_enc2zh", 0, "一只 猫")])
    assert mixed["tokens"][0, 1] == VOCAB.id("cat") and VOCAB.id("猫") in mixed["tokens"][1].tolist()
    with pytest.raises(ConfigError, match="trained on .* not 'fr'"):
        pre(["un chien"], language="fr")
    with pytest.raises(ConfigError, match="no vocabularies"):
        W2VVPreprocessor(languages=["en"])(["a dog"])


def test_retriever_config_serialises_its_parts_and_rebuilds_the_same_model():
    model = _retriever()
    config = model.get_config()
    assert {config[key]["class_name"] for key in ("backbone", "preprocessor", "loss_fn", "temperature")} == {
        "W2VVBackbone", "W2VVPreprocessor", "InfoNCELoss", "LearnableTemperature"}
    copy = model.inference_copy()
    assert isinstance(copy, W2VVRetriever) and getattr(copy, "optimizer", None) is None
    sentences = ["a dog runs", "a cat sleeps"]
    np.testing.assert_allclose(copy.encode_text(sentences), model.encode_text(sentences), atol=1e-6)


def test_encode_text_and_items_are_unit_norm_by_default_and_search_ranks_by_cosine():
    model = _retriever("w2vv_attention_ctl")  # W2VV maps text into the visual space: raw norms are not 1
    items = np.random.default_rng(0).random((5, VISUAL_DIM)).astype("float32") * 10
    # (item_id, text) pairs are data, not queries: an all-unknown one encodes (queries raise QueryError)
    text = model.encode_text([("q0", "a dog runs"), ("q1", "狗")], language="zh")
    assert np.allclose(np.linalg.norm(text[np.linalg.norm(text, axis=1) > 0], axis=1), 1.0, atol=1e-5)
    raw = model.encode_items(items, normalize=False)
    unit = model.encode_items(items)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    ids, scores = model.search(["a dog runs"], items=items, item_ids=list("abcde"), k=5)
    cosine = model.encode_text(["a dog runs"]) @ unit.T
    assert ids[0].tolist() == [list("abcde")[i] for i in np.argsort(-cosine[0], kind="stable")]
    np.testing.assert_allclose(scores[0], np.sort(cosine[0])[::-1], atol=1e-5)
    with pytest.raises(ConfigError, match="not both"):
        model.search(["a dog"], k=1)


def test_a_model_without_preprocessor_takes_token_inputs_and_says_what_is_missing():
    model = _retriever(preprocessor=False)
    tokens = {"tokens": np.ones((2, 4), "int32"), "bow_tokens": np.ones((2, 4), "int32")}
    assert model.encode_text(tokens).shape == (2, 16)
    with pytest.raises(ConfigError, match="no preprocessor"):
        model.encode_text(["a dog"])


def test_backbone_rejects_bad_hyperparameters():
    with pytest.raises(ConfigError, match="visual_dim must be a positive integer"):
        W2VVBackbone(get_config("w2vvpp"), 10, 10, visual_dim=0)
    with pytest.raises(ConfigError, match="backbone must be a W2VVBackbone"):
        W2VVRetriever(keras.Sequential())


def test_model_sizes_are_defined_once_and_shape_the_config():
    assert set(SIZES) == {"lineage", "small", "tiny", "smoke"}
    assert sized_config("w2vvpp", "lineage") == get_config("w2vvpp")
    small = sized_config("w2vv_attention_ctl", "small", max_epochs=3)
    assert (small.gru_units, small.max_epochs, small.learning_rate) == (128, 3, 1e-3)
    assert size_overrides("smoke", get_config("base_w2vv")).get("common_space_dim") is None
    assert sized_config("w2vvpp", "smoke").common_space_dim == 32
    with pytest.raises(ConfigError, match="size must be one of"):
        sized_config("w2vvpp", "huge")
