"""Run preparation: per-language tokenization, vocabularies, word vectors, the run's preprocessor."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.io import Caption
from w2vvx.training.prepare import prepare_text, prepare_vocabularies


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
    arrays = prepared.preprocessor()([ENGLISH[0], CHINESE[0], ("v1", "dog")])
    assert arrays["tokens"].dtype == np.int32 and arrays["tokens"].shape == (3, 32)
    assert arrays["tokens"][1][1] == prepared.gru_vocab.id("狗")
    assert arrays["tokens"][2][0] == prepared.gru_vocab.id("dog")  # untagged pair: default language
    with pytest.raises(ConfigError, match="trained on"):
        prepared.preprocessor()(["ein hund"], language="de")


def test_trained_word2vec_is_deterministic_and_vocabularies_rebuild_alike():
    first = prepare_text(ENGLISH, dim=6, min_count=5, seed=3)
    second = prepare_text(ENGLISH, dim=6, min_count=5, seed=3)
    assert first.word_vectors == "trained" and first.gru_embedding.shape == (8, 6)
    np.testing.assert_array_equal(first.gru_embedding, second.gru_embedding)
    # what a resumed run builds: the same vocabularies (same word ids), no word vectors
    again = prepare_vocabularies(ENGLISH, min_count=5)
    assert again.gru_vocab == first.gru_vocab and again.bow_vocab == first.bow_vocab
    assert again.gru_embedding is None and again.initial_word_vectors() is None
    assert again.languages == ["en"] and again.maxlen == 32
    assert again.preprocessor().vocabulary_digests_now() == first.preprocessor().vocabulary_digests_now()
    np.testing.assert_array_equal(again.preprocessor()(["a dog"])["tokens"], first.preprocessor()(["a dog"])["tokens"])


def test_errors_name_the_problem():
    with pytest.raises(ConfigError, match="no word occurs 5 times"):
        prepare_text([("v1", "a rare sentence")], word_vectors={"a": [1.0]})
    with pytest.raises(ConfigError, match="no training captions"):
        prepare_vocabularies([])
