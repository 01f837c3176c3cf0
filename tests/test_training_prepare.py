"""Run preparation: per-language tokenization, vocabularies, word vectors, featurizer, save/load."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError, MissingFileError
from w2vvx.io import Caption
from w2vvx.training.prepare import PreparedText, prepare_text


def _caption(item, tag, index, text):
    return Caption(f"{item}#{tag}#{index}", item, tag, index, text)


ENGLISH = [_caption(f"v{n}", "enc", 0, "a dog runs on the grass") for n in range(5)]
CHINESE = [_caption(f"v{n}", "google_enc2zh", 0, "一只 狗 在 草地 上 跑") for n in range(5)]


def test_vocabularies_follow_min_count_and_stopwords():
    captions = ENGLISH + [_caption("v9", "enc", 1, "a cat sleeps")]
    prepared = prepare_text(captions, word_vectors={"dog": [1.0, 2.0]}, min_count=5)
    assert prepared.gru_vocab.words == ["<pad>", "<unk>", "a", "dog", "grass", "on", "runs", "the"]
    assert "the" not in prepared.bow_vocab and "dog" in prepared.bow_vocab
    assert prepared.gru_embedding.shape == (8, 2) and prepared.w2v_embedding.shape == (len(prepared.bow_vocab), 2)
    np.testing.assert_array_equal(prepared.gru_embedding[prepared.gru_vocab.id("dog")], [1.0, 2.0])
    np.testing.assert_array_equal(prepared.gru_embedding[0], [0.0, 0.0])


def test_languages_come_from_caption_tags():
    prepared = prepare_text(ENGLISH + CHINESE, word_vectors={"dog": [1.0]}, min_count=5)
    assert prepared.languages == ["en", "zh"]
    assert "狗" in prepared.gru_vocab and "dog" in prepared.gru_vocab
    arrays = prepared.featurizer.featurize_captions([ENGLISH[0], CHINESE[0], ("v1", "dog")])
    assert arrays["tokens"].dtype == np.int32 and arrays["tokens"].shape == (3, 32)
    assert arrays["tokens"][1][1] == prepared.gru_vocab.id("狗")
    assert arrays["tokens"][2][0] == prepared.gru_vocab.id("dog")  # untagged pair: default language
    with pytest.raises(ConfigError, match="languages"):
        prepared.featurizer.for_language("de")


def test_trained_word2vec_is_deterministic_and_round_trips(tmp_path):
    first = prepare_text(ENGLISH, dim=6, min_count=5, seed=3)
    second = prepare_text(ENGLISH, dim=6, min_count=5, seed=3)
    assert first.word_vectors == "trained" and first.gru_embedding.shape == (8, 6)
    np.testing.assert_array_equal(first.gru_embedding, second.gru_embedding)
    first.save(tmp_path)
    loaded = PreparedText.load(tmp_path)
    assert loaded.gru_vocab == first.gru_vocab and loaded.bow_vocab == first.bow_vocab
    np.testing.assert_array_equal(loaded.w2v_embedding, first.w2v_embedding)
    assert loaded.languages == ["en"] and loaded.maxlen == 32
    np.testing.assert_array_equal(loaded.featurizer("a dog")["tokens"], first.featurizer("a dog")["tokens"])


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="no word occurs 5 times"):
        prepare_text([("v1", "a rare sentence")], word_vectors={"a": [1.0]})
    with pytest.raises(MissingFileError, match="train a model first"):
        PreparedText.load(tmp_path)
