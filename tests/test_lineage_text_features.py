"""The mean-word2vec branch averages the lineage's words (issue #21 item 4, ``ModelConfig.w2v_words``).

W2VV / COCO-CN ``AveWord2VecFilterStop`` (w2vv ``util/text2vec.py`` 65-108): every non-stopword token
that has a pretrained vector, whatever its training count; W2VV++ ``W2VecNSW`` (w2vvpp ``txt2vec.py``
62-76, ``bigfile.py`` ``read`` takes ``set(requested)``): each such word once.
"""
from __future__ import annotations

import numpy as np
import pytest
import keras

from w2vvx.errors import ConfigError
from w2vvx.models import build_model, get_config
from w2vvx.training.prepare import prepare_text

# "zebra" is seen once (below the BoW min count 5) but has a pretrained vector
CAPTIONS = [(f"img{i % 3}", "a dog runs on grass") for i in range(5)] + [("img1", "zebra zebra dog")]
VECTORS = {"dog": [1.0, 0.0], "zebra": [0.0, 4.0], "grass": [2.0, 2.0], "runs": [0.0, 1.0]}


@pytest.fixture(scope="module")
def prepared():
    return prepare_text(CAPTIONS, word_vectors=VECTORS, min_count=5)


def _w2v_mean(prepared, mode, sentence="the zebra zebra dog"):
    config = get_config("w2vvpp", gru_units=4, embed_dim=2, w2v_dim=2, common_space_dim=8,
                        text_branches=("w2v",), w2v_words=mode)
    pre = prepared.preprocessor()
    model = build_model(config, gru_vocab_size=len(pre.gru_vocab), bow_vocab_size=len(pre.bow_vocab), visual_dim=6,
                        preprocessor=pre, word_vectors=prepared.initial_word_vectors())
    multiscale = model.backbone.text_encoder.get_layer("multiscale")
    ids = pre([sentence], check_queries=False)[multiscale.w2v_source]
    return model, keras.ops.convert_to_numpy(multiscale.w2v(ids))[0]


def test_rare_word_with_a_vector_counts_in_pretrained_mode_only(prepared):
    assert "zebra" not in prepared.bow_vocab and "zebra" in prepared.w2v_vocab
    _, bow = _w2v_mean(prepared, "bow")
    _, pretrained = _w2v_mean(prepared, "pretrained")
    np.testing.assert_allclose(bow, [1.0, 0.0], atol=1e-6)  # dog alone
    np.testing.assert_allclose(pretrained, (2 * np.array([0.0, 4.0]) + [1.0, 0.0]) / 3, atol=1e-6)


def test_pretrained_unique_counts_a_repeated_word_once(prepared):
    _, unique = _w2v_mean(prepared, "pretrained_unique")
    np.testing.assert_allclose(unique, (np.array([0.0, 4.0]) + [1.0, 0.0]) / 2, atol=1e-6)


def test_words_without_a_vector_are_skipped(prepared):
    # "a"/"on" are stopwords; "gazelle" never seen: dropped; only dog and grass have vectors
    _, mean = _w2v_mean(prepared, "pretrained", "a dog on grass gazelle")
    np.testing.assert_allclose(mean, [1.5, 1.0], atol=1e-6)


def test_lineage_configs_name_their_words():
    assert get_config("base_w2vv").w2v_words == "pretrained"
    assert get_config("w2vv_attention_ctl").w2v_words == "pretrained"
    assert get_config("w2vvpp").w2v_words == "pretrained_unique"
    assert get_config("nrccr").w2v_words == "bow"


def test_config_refuses_an_unknown_mode():
    with pytest.raises(ConfigError, match=r"w2v_words must be one of \('bow', 'pretrained', 'pretrained_unique'\)"):
        get_config("w2vvpp", w2v_words="unique")


def test_save_load_round_trip_keeps_w2v_tokens(prepared, tmp_path):
    model, _ = _w2v_mean(prepared, "pretrained_unique")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.text_input_names == ("tokens", "bow_tokens", "w2v_tokens")
    assert loaded.preprocessor.w2v_vocab.words == prepared.w2v_vocab.words
    sentences = ["zebra zebra dog", "dog runs on grass"]
    np.testing.assert_allclose(loaded.encode_text(sentences), model.encode_text(sentences), atol=1e-6)


def test_model_saved_without_w2v_vocab_still_loads(prepared, tmp_path):
    from w2vvx.models.w2vv.w2vv_preprocessor import W2VVPreprocessor

    pre = W2VVPreprocessor(prepared.gru_vocab, prepared.bow_vocab)  # as before w2v_vocab existed
    config = get_config("w2vvpp", gru_units=4, embed_dim=2, w2v_dim=2, common_space_dim=8, w2v_words="bow")
    model = build_model(config, gru_vocab_size=len(pre.gru_vocab), bow_vocab_size=len(pre.bow_vocab),
                        visual_dim=6, preprocessor=pre)
    model.save(tmp_path / "old.keras")
    loaded = keras.saving.load_model(tmp_path / "old.keras")
    assert loaded.preprocessor.w2v_vocab is None and loaded.text_input_names == ("tokens", "bow_tokens")
    np.testing.assert_allclose(loaded.encode_text(["dog runs"]), model.encode_text(["dog runs"]), atol=1e-6)


def test_unique_mean_on_torch_backend(tmp_path):
    """The hand-computed unique mean on the torch backend (a subprocess: the backend is chosen at import)."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np, keras; from w2vvx.layers.mean_word2vec import MeanWordEmbedding;"
            "l = MeanWordEmbedding(4, 2, embeddings=np.array([[0, 0], [1, 0], [0, 4], [0, 0]]), unique_words=True);"
            "print(keras.ops.convert_to_numpy(l(np.array([[2, 2, 1, 3, 0]]))).tolist())")
    env = dict(os.environ, KERAS_BACKEND="torch")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[[0.5, 2.0]]"
