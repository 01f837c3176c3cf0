"""Model configs, the builder and W2VVRetriever: training with fit, saving, loading across backends."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.models import ModelConfig, W2VVRetriever, build_model, config_names, get_config

GRU_VOCAB, BOW_VOCAB, VISUAL_DIM, LENGTH = 30, 20, 12, 6
TINY = dict(gru_units=8, embed_dim=8, w2v_dim=8, dropout=0.0, learning_rate=1e-2)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(name, **overrides):
    config = get_config(name, **TINY)
    if config.common_space_dim is None:
        config = config.replace(text_mlp=(16,))
    else:
        config = config.replace(common_space_dim=16)
    return config.replace(**overrides)


def batch(n=32, seed=0, captions=None):
    rng = np.random.default_rng(seed)
    shape = (n, LENGTH) if captions is None else (n, captions, LENGTH)
    tokens = rng.integers(1, GRU_VOCAB, shape).astype("int32")
    tokens[..., 4:] = 0
    bow = rng.integers(1, BOW_VOCAB, shape).astype("int32")
    bow[..., 3:] = 0
    return {"tokens": tokens, "bow_tokens": bow, "visual": rng.random((n, VISUAL_DIM)).astype("float32")}


def test_named_configs_and_lineage_settings():
    assert set(config_names()) >= {"base_w2vv", "w2vv_attention", "w2vv_attention_ctl", "w2vvpp", "w2vv_infonce",
                                   "w2vv_1tok"}
    base = get_config("base_w2vv")
    assert (base.pooling, base.loss, base.optimizer, base.clipnorm, base.common_space_dim) == \
        ("last", "mse", "rmsprop", 10.0, None)
    ctl = get_config("w2vv_attention_ctl")
    assert (ctl.pooling, ctl.loss, ctl.loss_kwargs) == ("attention", "ctl", {"margin": 2.0})
    pp = get_config("w2vvpp")
    assert (pp.pooling, pp.common_space_dim, pp.clipnorm, pp.batch_size, pp.loss_kwargs["direction"]) == \
        ("mean", 2048, 2.0, 128, "t2v")
    with pytest.raises(ConfigError, match="Did you mean 'w2vvpp'"):
        get_config("w2vvp")
    with pytest.raises(ConfigError, match="Did you mean 'gru_units'"):
        base.replace(gru_unit=5)
    with pytest.raises(ConfigError, match="pooling must be one of"):
        base.replace(pooling="max")
    with pytest.raises(ConfigError, match="learnable_temperature"):
        base.replace(learnable_temperature=True)


def test_config_json_round_trip(tmp_path):
    config = get_config("w2vv_1tok", text_mlp=(64, 32))
    path = tmp_path / "config.json"
    config.save(path)
    assert ModelConfig.load(path) == config
    assert json.loads(path.read_text())["text_mlp"] == [64, 32]
    path.write_text('{"pooling": "max"}')
    with pytest.raises(DataFormatError, match="config.json"):
        ModelConfig.load(path)


def test_builder_validates_word_vectors():
    config = tiny_config("base_w2vv")
    with pytest.raises(ConfigError, match="bow_tokens"):
        build_model(config, GRU_VOCAB, BOW_VOCAB, VISUAL_DIM, word_vectors=np.zeros((GRU_VOCAB, 8)))
    vectors = {"tokens": np.ones((GRU_VOCAB, 8), "float32"), "bow_tokens": np.full((BOW_VOCAB, 8), 2.0, "float32")}
    model = build_model(config, GRU_VOCAB, BOW_VOCAB, VISUAL_DIM, word_vectors=vectors)
    encoder = model.text_encoder.get_layer("multiscale")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(encoder.w2v.embeddings), vectors["bow_tokens"])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(encoder.gru.embedding.embeddings), vectors["tokens"])


@pytest.mark.parity
def test_ctl_model_trains_and_round_trips(tmp_path):
    model = build_model(tiny_config("w2vv_attention_ctl"), GRU_VOCAB, BOW_VOCAB, VISUAL_DIM)
    data = batch()
    data["negative_visual"] = np.random.default_rng(1).random((32, VISUAL_DIM)).astype("float32")
    history = model.fit(data, batch_size=8, epochs=3, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    outputs = model(data)
    assert keras.ops.shape(outputs["text"]) == keras.ops.shape(outputs["visual"]) == (32, VISUAL_DIM)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, W2VVRetriever) and loaded.backbone.get_config() == model.backbone.get_config()
    np.testing.assert_allclose(loaded.encode_text(data), model.encode_text(data), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.encode_visual(data["visual"]), data["visual"])
    loaded.fit(data, batch_size=8, epochs=1, verbose=0)


@pytest.mark.parity
def test_w2vvpp_model_embeds_into_unit_common_space():
    model = build_model(tiny_config("w2vvpp"), GRU_VOCAB, BOW_VOCAB, VISUAL_DIM)
    data = batch()
    losses = model.fit(data, batch_size=8, epochs=3, verbose=0, shuffle=False).history["loss"]
    assert losses[-1] < losses[0]
    for embedding in (model.encode_text(data, batch_size=5), model.encode_visual(data["visual"], batch_size=5)):
        assert embedding.shape == (32, 16)
        np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parity
def test_one_to_k_model_learns_its_temperature():
    model = build_model(tiny_config("w2vv_1tok", loss_kwargs={"num_captions": 2, "temperature": 0.1}),
                        GRU_VOCAB, BOW_VOCAB, VISUAL_DIM)
    data = batch(captions=2)
    assert model(data)["text"].shape[0] == 64
    before = float(keras.ops.convert_to_numpy(model.temperature()))
    losses = model.fit(data, batch_size=8, epochs=3, verbose=0, shuffle=False).history["loss"]
    assert losses[-1] < losses[0]
    assert before == pytest.approx(0.1)
    assert float(keras.ops.convert_to_numpy(model.temperature())) != pytest.approx(before, abs=1e-6)
    assert any("temperature" in w.path for w in model.trainable_weights)


SAVE_SCRIPT = """
import sys, numpy as np, keras
from w2vvx.models import build_model, get_config
config = get_config("w2vv_attention", gru_units=6, embed_dim=5, w2v_dim=4, text_mlp=(7,), dropout=0.0)
model = build_model(config, 30, 20, 12, compile=False)
rng = np.random.default_rng(0)
tokens = rng.integers(0, 30, (4, 6)).astype("int32"); bow = rng.integers(0, 20, (4, 6)).astype("int32")
np.save(sys.argv[2], model.encode_text({"tokens": tokens, "bow_tokens": bow}))
np.savez(sys.argv[3], tokens=tokens, bow=bow)
model.save(sys.argv[1])
"""


@pytest.mark.parity
def test_model_saved_on_another_backend_loads_here(tmp_path):
    here = keras.backend.backend()
    other = "torch" if here != "torch" else "jax"
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
    env = {**os.environ, "KERAS_BACKEND": other, "PYTHONPATH": python_path, "OMP_NUM_THREADS": "1"}
    paths = [str(tmp_path / "m.keras"), str(tmp_path / "emb.npy"), str(tmp_path / "inputs.npz")]
    subprocess.run([sys.executable, "-c", SAVE_SCRIPT, *paths], env=env, check=True, timeout=300)
    loaded = keras.saving.load_model(paths[0], safe_mode=True)
    inputs = np.load(paths[2])
    embeddings = loaded.encode_text({"tokens": inputs["tokens"], "bow_tokens": inputs["bow"]})
    np.testing.assert_allclose(embeddings, np.load(paths[1]), rtol=1e-4, atol=1e-5)
