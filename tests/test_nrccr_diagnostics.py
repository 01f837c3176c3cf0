"""NRCCR measurements: per-term loss logging during fit, and the teacher/student view diagnostics."""
import logging
import math

import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.io.captions import Caption
from random_batches import random_views

VOCAB, BOW, VISUAL, BATCH, LENGTH = 30, 20, 12, 6, 6


def _model(weights, gru_vocab_size=VOCAB, bow_vocab_size=BOW, visual_dim=VISUAL, preprocessor=None):
    import keras

    from w2vvx.models import get_config
    from w2vvx.models.nrccr import build_nrccr_model

    keras.utils.set_random_seed(0)
    config = get_config("nrccr", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16, learning_rate=1e-2)
    return build_nrccr_model(config, gru_vocab_size=gru_vocab_size, bow_vocab_size=bow_vocab_size,
                             visual_dim=visual_dim, weights=weights.replace(num_heads=2), preprocessor=preprocessor)


def _batch(seed=0):
    return random_views(BOW, BATCH, LENGTH, VISUAL, seed)


@pytest.mark.parametrize("row", ["nrccr", "src_mt", "nrccr_no_bt"])
def test_fit_logs_each_active_weighted_term_and_they_sum_to_the_loss(row):
    from w2vvx.models.nrccr import ABLATIONS

    weights = ABLATIONS[row]
    model = _model(weights)
    history = model.fit(_batch(), epochs=2, batch_size=BATCH, verbose=0).history
    term_keys = sorted(key for key in history if key.startswith("loss_"))
    adversarial = ("discriminator",) if weights.adversarial else ()
    assert term_keys == sorted(f"loss_{term}" for term in weights.active_terms() + adversarial)
    assert ("loss_adversarial" in term_keys) == ("loss_discriminator" in term_keys) == (weights.adversarial > 0)
    assert ("cos_target_cross" in history) == weights.needs_cross
    assert ("cos_source_backtranslation" in history) == (weights.backtranslation > 0)
    for epoch in range(2):  # one batch per epoch: the epoch means are that batch's values
        total = sum(history[key][epoch] for key in term_keys)
        assert total == pytest.approx(history["loss"][epoch], rel=1e-4)
    if weights.needs_cross:
        assert all(-1.0 <= value <= 1.0 for value in history["cos_target_cross"])


def _captions(tag, items, words):
    return [Caption(f"{item}#{tag}#{k}", item, tag, k, f"{words[k % len(words)]} {item} {tag} {k}")
            for item in items for k in range(2)]


def test_view_diagnostics_measure_teacher_and_student():
    from w2vvx.models.nrccr import ABLATIONS
    from w2vvx.training.nrccr_diagnostics import nrccr_view_diagnostics
    from w2vvx.training.prepare import prepare_text

    items = [f"i{n}" for n in range(10)]
    source = _captions("enc", items, ("dog", "cat"))
    mt = _captions("enc2zh", items, ("gou", "mao"))
    prepared = prepare_text(source + mt, word_vectors={"dog": [1.0, 0.0]}, min_count=1, maxlen=8)
    rng = np.random.default_rng(0)
    rows = {item: rng.normal(size=VISUAL).astype("float32") for item in items}
    features = lambda ids: np.stack([rows[i] for i in ids])  # noqa: E731
    model = _model(ABLATIONS["nrccr"], gru_vocab_size=len(prepared.gru_vocab),
                   bow_vocab_size=len(prepared.bow_vocab), preprocessor=prepared.preprocessor())
    stats = nrccr_view_diagnostics(model, source, list(reversed(mt)), features, batch_size=4)
    assert stats["batches"] == 3  # 10 items (one pair each) in batches of 4: 4 + 4 + 2
    for view in ("source", "target", "cross"):
        assert 0.0 <= stats[f"r1_{view}"] <= 100.0
    assert stats["kl_similarity"] >= -1e-9
    assert 0.0 <= stats["teacher_entropy"] <= math.log(4) + 1e-6
    assert -1.0 <= stats["cos_target_cross"] <= 1.0 and -1.0 <= stats["cos_target_source"] <= 1.0
    assert nrccr_view_diagnostics(model, source, mt, features, batch_size=4, max_items=4)["batches"] == 1
    # a model without the cross-attention has no teacher to measure
    plain = _model(ABLATIONS["src_mt"], gru_vocab_size=len(prepared.gru_vocab),
                   bow_vocab_size=len(prepared.bow_vocab), preprocessor=prepared.preprocessor())
    with pytest.raises(ConfigError, match="no cross embedding"):
        nrccr_view_diagnostics(plain, source, mt, features, batch_size=4)


def _attention_kernels(layer):
    import keras

    return [np.array(keras.ops.convert_to_numpy(v)) for v in layer.trainable_weights]


@pytest.mark.parametrize("shared", [True, False])
def test_the_cross_attention_learns_from_the_retrieval_terms_only_when_shared(shared):
    """NRCCR shares one attention block between the encoder (self) and the cross view; a separate cross-attention
    gets no gradient from the triplet terms, nor from the similarity view (its teacher is detached)."""
    from w2vvx.models.nrccr import NRCCRWeights

    weights = NRCCRWeights(feature=0.0, backtranslation=0.0, shared_attention=shared)
    model = _model(weights)
    attention = model.backbone.cross_attention.attention
    assert (attention is model.backbone.token_pooling.attention) == shared
    assert (model.backbone.token_pooling.attention is None) == (not shared)
    before = _attention_kernels(attention)
    model.fit(_batch(), epochs=3, batch_size=BATCH, verbose=0)
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(_attention_kernels(attention), before))
    if shared:
        assert moved > 1e-4
    else:
        assert moved == 0.0


# -- the same diagnostics after every epoch (history.csv) ----------------------------------------------------------
def _tiny_collection(root):
    from w2vvx.datasets.synthetic import generate_collection
    from w2vvx.io.collection import Collection

    generate_collection(root, name="toy", seed=0, n_train=40, n_val=12, n_test=6, mt_noise=0.3, languages=("zh",),
                        feature_dim=16)
    collection = Collection(root, "toy")
    return collection, collection.features(collection.feature_names()[0])


@pytest.mark.parity
def test_epoch_diagnostics_go_into_history_csv_and_leave_training_unchanged(tmp_path):
    """With ``diagnostics`` the teacher's, student's and source's held-out R@1, the word alignment and the
    per-term gradient norms are columns of every epoch; the run trains exactly as without them."""
    import csv

    import keras

    from w2vvx.datasets.synthetic_vectors import word_translations
    from w2vvx.models import get_config
    from w2vvx.models.nrccr import NRCCRWeights
    from w2vvx.training.nrccr import nrccr_trainer_for_collection

    collection, features = _tiny_collection(tmp_path / "data")
    config = get_config("nrccr", embed_dim=8, w2v_dim=8, gru_units=8, common_space_dim=8, batch_size=16,
                        max_epochs=2, vocab_min_count=1, maxlen=24)
    weights = NRCCRWeights(num_heads=2)
    results, models = {}, {}
    for diagnostics in (True, False):
        trainer = nrccr_trainer_for_collection(
            collection, config, tmp_path / f"run_{diagnostics}", features, weights=weights, seed=0, verbose=0,
            tensorboard=False, diagnostics=diagnostics, word_translations=word_translations("en", "zh"))
        results[diagnostics], models[diagnostics] = trainer.fit(), trainer.model
    with_diag, without = results[True].history, results[False].history
    assert not any(key.startswith("diag_") for entry in without for key in entry)
    expected = {"diag_r1_cross", "diag_r1_target", "diag_r1_source", "diag_alignment", "diag_alignment_chance"}
    expected |= {f"diag_grad_{term}_{block}" for term in weights.active_terms() for block in ("word_gru", "attention")}
    for entry, plain in zip(with_diag, without):
        assert {key for key in entry if key.startswith("diag_")} == expected
        assert all(0.0 <= entry[key] <= 100.0 for key in expected if "grad" not in key)
        assert all(entry[key] >= 0.0 for key in expected if "grad" in key)
        assert entry["diag_grad_target_word_gru"] > 100 * entry["diag_grad_feature_word_gru"]  # inert, as published
        for key, value in plain.items():
            assert entry[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    for variable, other in zip(models[True].variables, models[False].variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable.value), keras.ops.convert_to_numpy(other.value),
                                   rtol=1e-5, atol=1e-6, err_msg=variable.path)
    with (tmp_path / "run_True" / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and float(rows[-1]["diag_r1_cross"]) == pytest.approx(with_diag[-1]["diag_r1_cross"])


def test_epoch_diagnostics_arguments_are_checked():
    from w2vvx.training.nrccr_diagnostics import NRCCRDiagnostics

    source = _captions("enc", ["a", "b"], ["x"])
    with pytest.raises(ConfigError, match="both held-out views"):
        NRCCRDiagnostics(source=source)
    with pytest.raises(ConfigError, match="visual features"):
        NRCCRDiagnostics(source=source, target=_captions("zh", ["a", "b"], ["y"]))
    with pytest.raises(ConfigError, match="word_translations need held-out pairs"):
        NRCCRDiagnostics(word_translations={"dog": ["狗"]})
    with pytest.raises(Exception, match="no held-out target with the same item"):
        NRCCRDiagnostics(source=source, target=_captions("zh", ["a"], ["y"]), features={})


@pytest.mark.parity  # runs in the JAX leg of CI; skipped on the other backends
def test_diagnostics_compile_once_and_not_again_every_epoch_on_jax(caplog):
    """Each epoch's diagnostics reuse compiled functions: an eager call of the GRU's scan compiled anew every
    time on JAX, and a long run died after ~25 epochs ("LLVM ERROR: Unable to allocate section memory")."""
    import keras

    if keras.backend.backend() != "jax":
        pytest.skip("compilation caches are JAX's")
    import jax

    from w2vvx.datasets.batching import preprocess_captions
    from w2vvx.models.nrccr import ABLATIONS, attention_alignment, shared_block_gradients, translation_ids
    from w2vvx.training.nrccr_diagnostics import nrccr_view_diagnostics
    from w2vvx.training.prepare import prepare_text

    items = [f"i{n}" for n in range(10)]
    source, mt = _captions("enc", items, ("dog", "cat")), _captions("enc2zh", items, ("gou", "mao"))
    prepared = prepare_text(source + mt, word_vectors={"dog": [1.0, 0.0]}, min_count=1, maxlen=8)
    features = lambda ids: np.ones((len(ids), VISUAL), "float32")  # noqa: E731
    model = _model(ABLATIONS["nrccr"], gru_vocab_size=len(prepared.gru_vocab),
                   bow_vocab_size=len(prepared.bow_vocab), preprocessor=prepared.preprocessor())
    tokens = (preprocess_captions(model.preprocessor, source), preprocess_captions(model.preprocessor, mt),
              translation_ids({"dog": ["gou"]}, model.preprocessor.gru_vocab))
    gradients = shared_block_gradients(model)
    batch = {**{f"{view}_{key}": value for view, arrays in (("src", tokens[0]), ("mt", tokens[1]), ("bt", tokens[0]))
                for key, value in arrays.items()}, "visual": features(items * 2)}

    def one_epoch():
        nrccr_view_diagnostics(model, source, mt, features, batch_size=4)
        attention_alignment(model, *tokens)
        gradients(batch)

    one_epoch()
    caplog.clear()
    with jax.log_compiles(), caplog.at_level(logging.WARNING):
        one_epoch()
    compiled = [record.getMessage()[:80] for record in caplog.records if "Compiling" in record.getMessage()]
    assert not compiled, compiled
