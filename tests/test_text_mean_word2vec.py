"""The mean-word2vec branch averages only the words that have a pre-trained vector (COCO-CN AveWord2VecFilterStop)."""
import numpy as np

from w2vvx.layers.mean_word2vec import MeanWordEmbedding
from w2vvx.training.prepare import prepare_text


def test_words_without_a_vector_are_skipped_not_averaged_as_random_rows():
    captions = [("img1", "a dog runs on the green grass")] * 5
    vectors = {"dog": [1.0, 0.0, 0.0], "grass": [0.0, 1.0, 0.0]}  # "runs" and "green" have no vector
    prepared = prepare_text(captions, word_vectors=vectors, min_count=5)
    bow = prepared.bow_vocab
    for word in ("runs", "green"):
        assert word in bow and not prepared.w2v_embedding[bow.id(word)].any()
    assert prepared.gru_embedding[prepared.gru_vocab.id("runs")].any()  # the GRU keeps the lineage's uniform rows
    tokens = prepared.preprocessor()(["a dog runs on the green grass"])["bow_tokens"]
    layer = MeanWordEmbedding(len(bow), 3, embeddings=prepared.w2v_embedding)
    out = np.asarray(layer(tokens))[0]
    np.testing.assert_allclose(out, [0.5, 0.5, 0.0], atol=1e-6)  # the mean of dog and grass only


def test_skip_zero_rows_round_trips_and_can_be_switched_off():
    matrix = np.array([[0, 0], [2, 2], [0, 0]], dtype=np.float32)
    layer = MeanWordEmbedding(3, 2, embeddings=matrix, skip_zero_rows=False)
    np.testing.assert_allclose(np.asarray(layer(np.array([[1, 2]])))[0], [1.0, 1.0])
    config = MeanWordEmbedding(3, 2, embeddings=matrix).get_config()
    assert config["skip_zero_rows"] is True
    assert MeanWordEmbedding.from_config(config).skip_zero_rows
