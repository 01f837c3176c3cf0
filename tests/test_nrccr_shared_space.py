"""NRCCR's shared token space: word vectors per language, aligned synthetic vectors, per-term gradient norms."""
import click
import keras
import numpy as np
import pytest
from random_batches import random_views

from w2vvx.errors import ConfigError

VOCAB, VISUAL, BATCH, LENGTH = 30, 12, 6, 6


def _model(weights=None):
    from w2vvx.models import build_nrccr_model, get_config

    keras.utils.set_random_seed(0)
    config = get_config("nrccr", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
    return build_nrccr_model(config, gru_vocab_size=VOCAB, bow_vocab_size=VOCAB, visual_dim=VISUAL,
                             weights={"num_heads": 2, **(weights or {})})


# -- word vectors per language ---------------------------------------------------------------------------------
def test_vectors_per_language_merge_into_one_lookup_first_language_wins(tmp_path):
    from w2vvx.text.bilingual_vectors import merge_language_vectors

    path = tmp_path / "zh.vec"
    path.write_text("2 2\n狗 0.9 0.1\ndog 0.0 1.0\n", encoding="utf-8")
    merged = merge_language_vectors({"en": {"dog": [1.0, 0.0], "cat": [0.5, 0.5]}, "zh": str(path)})
    assert sorted(merged.key_to_index) == ["cat", "dog", "狗"]
    assert merged["dog"].tolist() == [1.0, 0.0] and merged["狗"].tolist() == pytest.approx([0.9, 0.1])


@pytest.mark.parametrize("by_language, message", [
    ({"en": {"dog": [1.0, 0.0]}, "zh": {"狗": [1.0, 0.0, 0.0]}}, "share one dimension"),
    ({"english": {"dog": [1.0, 0.0]}}, "english"),
    ({}, "non-empty"),
])
def test_vectors_per_language_are_checked(by_language, message):
    from w2vvx.text.bilingual_vectors import merge_language_vectors

    with pytest.raises(ConfigError, match=message):
        merge_language_vectors(by_language)


def test_prepare_text_starts_a_word_and_its_translation_close_with_aligned_vectors():
    from w2vvx.datasets.synthetic_vectors import aligned_word_vectors
    from w2vvx.io.captions import Caption
    from w2vvx.training.prepare import prepare_text

    captions = [Caption(f"i{k}#enc#0", f"i{k}", "enc", 0, "a red car on the road") for k in range(3)]
    captions += [Caption(f"i{k}#enc2zh#0", f"i{k}", "enc2zh", 0, "一辆 红色 的 汽车 在 马路") for k in range(3)]
    prepared = prepare_text(captions, word_vectors=aligned_word_vectors(dim=16, noise=0.1), min_count=1)
    vocab, emb = prepared.gru_vocab, prepared.gru_embedding
    assert prepared.word_vectors.startswith("per language: en=given, zh=given")

    def cosine(a, b):
        va, vb = emb[vocab.id(a)], emb[vocab.id(b)]
        return float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))

    assert cosine("car", "汽车") > 0.9 and cosine("red", "红色") > 0.9
    assert cosine("car", "红色") < 0.5


def test_aligned_synthetic_vectors_cover_the_lexicon_translations():
    from w2vvx.datasets.synthetic_vectors import aligned_word_vectors, word_translations

    vectors = aligned_word_vectors(dim=32, noise=0.3, seed=1)
    pairs = word_translations("en", "zh")
    known = [(en, zh) for en, zhs in pairs.items() for zh in zhs if en in vectors["en"] and zh in vectors["zh"]]
    assert len(known) > 100
    together = np.mean([vectors["en"][en] @ vectors["zh"][zh] for en, zh in known])
    rng = np.random.default_rng(0)
    zh_words = list(vectors["zh"])
    apart = np.mean([vectors["en"][en] @ vectors["zh"][zh_words[rng.integers(len(zh_words))]] for en, _ in known])
    assert together > 0.8 and abs(apart) < 0.2
    with pytest.raises(ConfigError, match="noise"):
        aligned_word_vectors(noise=-1.0)


def test_cli_word_vectors_take_a_path_or_language_pairs(tmp_path):
    from w2vvx.cli.common import parse_word_vectors

    en, zh = tmp_path / "en.vec", tmp_path / "zh.vec"
    en.write_text(""), zh.write_text("")
    assert parse_word_vectors(()) is None and parse_word_vectors((str(en),)) == str(en)
    assert parse_word_vectors((f"en={en}", f"zh={zh}")) == {"en": str(en), "zh": str(zh)}
    for values, message in (((f"xx={en}",), "LANG=PATH"), ((f"en={tmp_path / 'no.vec'}",), "does not exist"),
                            ((f"en={en}", f"en={zh}"), "twice"), ((str(tmp_path / "none.vec"),), "does not exist"),
                            ((str(en), str(zh)), "LANG=PATH")):
        with pytest.raises(click.BadParameter, match=message):
            parse_word_vectors(values)


# -- where each term's gradient goes ---------------------------------------------------------------------------
@pytest.mark.parity
def test_gradient_norms_per_term_reach_the_blocks_the_loss_says_and_change_nothing():
    from w2vvx.models.nrccr import shared_block_gradient_norms

    model = _model()
    batch = random_views(VOCAB, BATCH, LENGTH, VISUAL, 0)
    before = [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.variables]
    norms = shared_block_gradient_norms(model, batch)
    after = [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert sorted(norms) == ["adversarial", "backtranslation", "discriminator", "feature", "similarity", "source",
                             "target"]
    # the discriminator learns from detached states: nothing of it reaches the encoder
    assert all(value == 0.0 for value in norms["discriminator"].values())
    # the generator term acts on the token states only (GRU), not on the pooling or the head
    assert norms["adversarial"]["word_gru"] > 0.0
    assert norms["adversarial"]["attention"] == 0.0 and norms["adversarial"]["text_head"] == 0.0
    for term in ("source", "target", "similarity", "feature", "backtranslation"):
        assert all(value > 0.0 for value in norms[term].values()), term


def test_gradient_norms_need_an_nrccr_model():
    from w2vvx.models.nrccr import shared_block_gradient_norms

    with pytest.raises(ConfigError, match="NRCCR"):
        shared_block_gradient_norms(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), {})
