"""NRCCR measurements: per-term loss logging during fit, and the teacher/student view diagnostics."""
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
    from w2vvx.training.nrccr import nrccr_view_diagnostics
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
