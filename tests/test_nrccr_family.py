"""NRCCR as a model family: the published teacher, the language-adversarial game, presets across backends."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from random_batches import random_views

VOCAB, VISUAL, BATCH, LENGTH = 30, 12, 6, 6


def _model(weights=None, seed=0, preprocessor=None, vocab_size=VOCAB):
    from w2vvx.models import build_nrccr_model, get_config

    keras.utils.set_random_seed(seed)
    config = get_config("nrccr", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16, learning_rate=1e-2)
    return build_nrccr_model(config, gru_vocab_size=vocab_size, bow_vocab_size=vocab_size, visual_dim=VISUAL,
                             weights={"num_heads": 2, **(weights or {})}, preprocessor=preprocessor)


def _batch(seed=0):
    return random_views(VOCAB, BATCH, LENGTH, VISUAL, seed)


def _numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


# -- the views through one pass ------------------------------------------------------------------------------------
def _one_view_at_a_time(backbone, views, training):
    return [backbone.token_encoder(view, training=training) for view in views]


@pytest.mark.parity
@pytest.mark.parametrize("branches", [None, ("gru",)], ids=["gru+bow+w2v", "gru-only"])
@pytest.mark.parametrize("training", [False, True])
def test_stacked_views_equal_one_view_at_a_time(training, branches):
    """One pass over the stacked views gives each view what its own pass gives: the head's BatchNorm
    normalises each view by its own batch statistics (training) or the moving ones; widths may differ.
    A head without a BoW block is not handed the BoW ids (Keras would warn of a mismatched input)."""
    import warnings

    from w2vvx.models import build_nrccr_model, get_config

    keras.utils.set_random_seed(0)
    config = get_config("nrccr", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16, dropout=0.0,
                        **({"text_branches": branches} if branches else {}))
    model = build_nrccr_model(config, gru_vocab_size=VOCAB, bow_vocab_size=VOCAB, visual_dim=VISUAL,
                              weights={"num_heads": 2})
    attention = model.backbone.token_pooling.attention  # NRCCR's attention dropout (0.1): off, to compare
    attention.attention_dropout.rate = attention.output_dropout.rate = 0.0
    batch = _batch()
    views = [{"tokens": batch[f"{view}_tokens"], "bow_tokens": batch[f"{view}_bow_tokens"]} for view in ("src", "mt")]
    views.append({key: value[:, :LENGTH - 2] for key, value in views[0].items()})  # a narrower view
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stacked = model.backbone.encode_views(views, training=training)
        alone = _one_view_at_a_time(model.backbone, views, training)
    for index, (got, want) in enumerate(zip(stacked, alone)):
        assert sorted(got) == sorted([*want, "bow_tokens"])
        for key in want:
            expected, value = _numpy(want[key]), _numpy(got[key])
            if key == "token_mask":  # the narrower view comes back padded to the widest, and masked there
                assert not value[:, expected.shape[1]:].any()
            if key in ("token_states", "token_mask"):
                value = value[:, :expected.shape[1]]
            np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5, err_msg=f"view {index} {key}")


def test_stacked_views_in_a_traced_step_of_any_batch_size():
    """TensorFlow traces ``fit``'s step for any batch size after a few shapes (``reduce_retracing``): the
    views of different widths still stack; a width unknown while tracing is refused with a clear message."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("symbolic shapes exist in TensorFlow functions only")
    import tensorflow as tf

    from w2vvx.errors import ConfigError

    model = _model()
    batch = _batch()
    views = [{"tokens": batch["src_tokens"], "bow_tokens": batch["src_bow_tokens"]},
             {key: batch[f"mt_{key}"][:, :LENGTH - 2] for key in ("tokens", "bow_tokens")}]

    def embeddings(src, mt):
        return [view["embedding"] for view in model.backbone.encode_views([src, mt])]

    spec = [{key: tf.TensorSpec((None, int(view["tokens"].shape[1])), tf.int32) for key in view} for view in views]
    got = tf.function(embeddings, input_signature=spec)(*views)
    want = [model.backbone.token_encoder(view)["embedding"] for view in views]
    for got_view, want_view in zip(got, want):
        np.testing.assert_allclose(_numpy(got_view), _numpy(want_view), rtol=1e-5, atol=1e-5)
    unknown = [{key: tf.TensorSpec((None, None), tf.int32) for key in view} for view in views]
    with pytest.raises(Exception, match="known sentence length") as raised:  # TensorFlow re-raises what tracing met
        tf.function(embeddings, input_signature=unknown)(*views)
    assert "ConfigError" in str(raised.value) or isinstance(raised.value, ConfigError)


# -- the teacher as published -------------------------------------------------------------------------------------
@pytest.mark.parity
@pytest.mark.parametrize("teacher", ["cross", "concat"])
def test_the_published_teacher_does_not_move_with_the_bow_and_word2vec_branches(teacher):
    model = _model({"teacher": teacher})
    batch = _batch()
    before = {key: _numpy(value) for key, value in model(batch, training=False).items()}
    word2vec = model.backbone.token_encoder.get_layer("multiscale").w2v.embeddings
    word2vec.assign(np.random.default_rng(5).normal(size=tuple(word2vec.shape)).astype("float32"))
    changed = dict(batch, mt_bow_tokens=np.roll(batch["mt_bow_tokens"], 1, axis=1))  # other BoW counts
    after = {key: _numpy(value) for key, value in model(changed, training=False).items()}
    assert np.abs(after["target"] - before["target"]).max() > 1e-3  # the student's MT vector has those parts
    moved = np.abs(after["cross"] - before["cross"]).max()
    if teacher == "cross":
        assert moved < 1e-6
    else:
        assert moved > 1e-3


def test_the_teacher_setting_is_checked_and_saved():
    from w2vvx.errors import ConfigError
    from w2vvx.models import NRCCRRetriever, NRCCRWeights

    with pytest.raises(ConfigError, match="teacher must be one of"):
        NRCCRWeights(teacher="mean")
    model = _model({"teacher": "concat"})
    assert NRCCRRetriever.from_config(model.get_config()).nrccr_weights.teacher == "concat"
    assert NRCCRWeights().teacher == "cross" and NRCCRWeights().adversarial == 0.001
    with pytest.raises(ConfigError, match="the backbone was built with"):
        NRCCRRetriever(model.backbone, weights={"num_heads": 4})


# -- the language-adversarial game --------------------------------------------------------------------------------
def _gradient_norms(model, batch, term):
    """``{variable path: gradient norm}`` of one weighted loss term (0 where no gradient arrives)."""
    variables = model.trainable_variables
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = model.loss_terms(model(batch, training=False))[term]
        grads = tape.gradient(value, [v.value for v in variables])
    elif backend == "torch":
        for v in variables:
            v.value.grad = None
        model.loss_terms(model(batch, training=False))[term].backward()
        grads = [v.value.grad for v in variables]
    else:
        import jax

        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss(trainable):
            outputs, _ = model.stateless_call(trainable, non_trainable, batch, training=False)
            return model.loss_terms(outputs)[term]

        grads = jax.grad(loss)([v.value for v in variables])
    return {v.path: 0.0 if g is None else float(np.linalg.norm(_numpy(g))) for v, g in zip(variables, grads)}


@pytest.mark.parity
def test_the_discriminator_learns_from_its_loss_only_and_the_encoder_from_the_generator_term():
    model = _model({"adversarial": 0.5})
    batch = {key: keras.ops.convert_to_tensor(value) for key, value in _batch().items()}
    discriminator = {v.path for v in model.discriminator.trainable_variables}
    assert len(discriminator) == 6
    text = {v.path for v in model.backbone.token_encoder.trainable_variables}
    visual = {v.path for v in model.backbone.visual_encoder.trainable_variables}

    own = _gradient_norms(model, batch, "discriminator")
    assert all(own[path] > 0 for path in discriminator)
    assert all(value == 0 for path, value in own.items() if path not in discriminator)  # features detached

    generator = _gradient_norms(model, batch, "adversarial")
    assert all(generator[path] == 0 for path in discriminator)  # the frozen discriminator
    gru = [path for path in text if "gru" in path]
    assert gru and all(generator[path] > 0 for path in gru)  # the MT token states are pushed to look real
    assert all(generator[path] == 0 for path in visual)

    retrieval = _gradient_norms(model, batch, "source")
    assert all(retrieval[path] == 0 for path in discriminator)


@pytest.mark.parity
def test_fit_logs_the_adversarial_terms_and_the_discriminator_learns():
    model = _model({"adversarial": 0.001})
    before = [_numpy(v) for v in model.discriminator.trainable_variables]
    history = model.fit(_batch(), epochs=3, batch_size=BATCH, verbose=0).history
    assert {"loss_adversarial", "loss_discriminator"} <= set(history)
    assert all(np.isfinite(history["loss_discriminator"]))
    assert history["loss_discriminator"][-1] < history["loss_discriminator"][0]
    after = [_numpy(v) for v in model.discriminator.trainable_variables]
    assert max(float(np.abs(a - b).max()) for a, b in zip(after, before)) > 0


def test_no_discriminator_without_the_adversarial_weight():
    model = _model({"adversarial": 0.0})
    assert model.discriminator is None
    outputs = model(_batch(), training=False)
    assert not any(key.startswith("language_") for key in outputs)
    assert "adversarial" not in model.loss_terms(outputs)


# -- presets and saved files on another backend -------------------------------------------------------------------
SENTENCES = ["一只 狗 在 跑", "一只 猫 在 睡觉", "a dog runs"]

_LOADER = textwrap.dedent("""
    import json, sys
    import keras
    import numpy as np
    import w2vvx
    from w2vvx.models import NRCCRBackbone, NRCCRRetriever, W2VVPreprocessor

    keras_file, preset, sentences = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    out = {"backend": keras.backend.backend()}
    loaded = keras.saving.load_model(keras_file)
    out["keras_class"] = type(loaded).__name__
    out["keras"] = loaded.encode_text(sentences[:2], language="zh").tolist()
    task = NRCCRRetriever.from_preset(preset)
    out["preset"] = task.encode_text(sentences[:2], language="zh").tolist()
    out["preset_en"] = task.encode_text(sentences[2:], language="en").tolist()
    out["backbone_class"] = type(NRCCRBackbone.from_preset(preset)).__name__
    out["vocabulary"] = len(W2VVPreprocessor.from_preset(preset).gru_vocab)
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_a_trained_nrccr_model_loads_and_encodes_chinese_on_another_backend(tmp_path):
    from w2vvx.models import NRCCRBackbone, NRCCRRetriever, W2VVPreprocessor
    from w2vvx.text import Vocabulary

    vocab = Vocabulary(["a", "dog", "runs", "cat", "sleeps", "一只", "狗", "在", "跑", "猫", "睡觉"])
    preprocessor = W2VVPreprocessor(vocab, vocab, languages=["en", "zh"], default_language="en", maxlen=LENGTH)
    model = _model(preprocessor=preprocessor, vocab_size=len(vocab))
    src = preprocessor(["a dog runs", "a cat sleeps"] * 3, language="en")
    mt = preprocessor(["一只 狗 在 跑", "一只 猫 在 睡觉"] * 3, language="zh")
    batch = {"visual": np.random.default_rng(0).normal(size=(BATCH, VISUAL)).astype("float32")}
    for view, text in (("src", src), ("mt", mt), ("bt", src)):
        batch.update({f"{view}_tokens": text["tokens"], f"{view}_bow_tokens": text["bow_tokens"]})
    model.fit(batch, epochs=2, batch_size=BATCH, verbose=0)

    expected = model.encode_text(SENTENCES[:2], language="zh")
    keras_file = model.save_for_inference(tmp_path / "best.keras")
    preset = model.save_to_preset(tmp_path / "preset")
    assert isinstance(NRCCRRetriever.from_preset(preset), NRCCRRetriever)
    assert isinstance(NRCCRBackbone.from_preset(keras_file), NRCCRBackbone)
    other = "torch" if keras.backend.backend() != "torch" else "tensorflow"
    env = dict(os.environ, KERAS_BACKEND=other, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", _LOADER, str(keras_file), str(preset), json.dumps(SENTENCES)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["backend"] == other and out["keras_class"] == "NRCCRRetriever"
    assert out["backbone_class"] == "NRCCRBackbone" and out["vocabulary"] == len(vocab)
    np.testing.assert_allclose(np.array(out["keras"]), expected, atol=1e-5)
    np.testing.assert_allclose(np.array(out["preset"]), expected, atol=1e-5)
    np.testing.assert_allclose(np.array(out["preset_en"]), model.encode_text(SENTENCES[2:], language="en"),
                               atol=1e-5)


# -- where the cross-attention looks ------------------------------------------------------------------------------
def _synthetic_translations():
    """``{English word: {Chinese words}}`` of the synthetic collection's lexicon (content and function words)."""
    from w2vvx.datasets.synthetic_vectors import word_translations

    return word_translations("en", "zh")


def test_alignment_rate_counts_peaks_on_translations_against_chance():
    from w2vvx.models.nrccr import alignment_rate

    attention = np.array([[[0.1, 0.7, 0.2, 0.0], [0.6, 0.3, 0.1, 0.0], [0.2, 0.2, 0.1, 0.5]]])
    source, target = np.array([[4, 5, 6]]), np.array([[9, 8, 7, 0]])
    result = alignment_rate(attention, source, target, {4: {8}, 5: {7}, 6: {3}})
    # token 4 peaks on 8 (hit), 5 on 9 (miss), 6 has no translation in the MT; padding never wins
    assert result == {"rate": 0.5, "tokens": 2, "chance": pytest.approx(1 / 3)}


def test_attention_alignment_on_synthetic_translations():
    from w2vvx.models import W2VVPreprocessor
    from w2vvx.models.nrccr import attention_alignment, translation_ids
    from w2vvx.text import Vocabulary

    pairs = _synthetic_translations()
    words = sorted({w for w in pairs if " " not in w} | {t for ts in pairs.values() for t in ts if t and " " not in t})
    vocab = Vocabulary(words)
    table = translation_ids(pairs, vocab)
    assert len(table) > 20
    english = [w for w in pairs if w in vocab and vocab.id(w) in table][:8]
    source = [" ".join(english[i:i + 3]) for i in range(0, 6)]
    target = [" ".join(sorted(pairs[w])[0] for w in sentence.split()) for sentence in source]
    pre = W2VVPreprocessor(vocab, vocab, languages=["en", "zh"], maxlen=LENGTH)
    model = _model(vocab_size=len(vocab))
    result = attention_alignment(model, pre(source, language="en", check_queries=False),
                                 pre(target, language="zh", check_queries=False), table)
    assert result["tokens"] > 0 and 0.0 <= result["rate"] <= 1.0 and 0.0 < result["chance"] <= 1.0
