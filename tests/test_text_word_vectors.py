"""Word-vector loading, training and embedding initialisation (w2vvx.text.word_vectors)."""
import numpy as np
import pytest
from gensim.models import KeyedVectors, Word2Vec

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError, UntrustedFileError
from w2vvx.io.bigfile import BigFile, write_bigfile
from w2vvx.text.vocabulary import Vocabulary
from w2vvx.text.word_vectors import (coverage, detect_format, embedding_matrix, load_word_vectors,
                                     train_word2vec)

SENTENCES = [["a", "dog", "runs", "on", "grass"], ["a", "cat", "sits", "on", "a", "mat"],
             ["the", "dog", "chases", "the", "cat"]] * 20


def _kv():
    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(["dog", "cat", "caf\u00e9"], np.arange(9, dtype=np.float32).reshape(3, 3))
    return kv


@pytest.mark.parametrize("binary", [True, False])
def test_word2vec_round_trip(tmp_path, binary):
    path = tmp_path / ("v.bin" if binary else "v.txt")
    _kv().save_word2vec_format(str(path), binary=binary)
    assert detect_format(path) == ("word2vec_binary" if binary else "word2vec_text")
    loaded = load_word_vectors(path)
    np.testing.assert_array_equal(loaded["café"], [6, 7, 8])


def test_glove_and_bigfile(tmp_path):
    (tmp_path / "g.txt").write_text("dog 1 2\ncat 3 4\n")
    assert detect_format(tmp_path / "g.txt") == "glove"
    assert load_word_vectors(tmp_path / "g.txt")["cat"].tolist() == [3, 4]
    write_bigfile(tmp_path / "vec500", ["dog", "cat"], np.eye(2, dtype=np.float32))
    kv = load_word_vectors(tmp_path / "vec500")
    assert detect_format(tmp_path / "vec500") == "bigfile" and kv["cat"].tolist() == [0, 1]


def test_pickle_formats_need_trust(tmp_path):
    _kv().save(str(tmp_path / "v.kv"))
    with pytest.raises(UntrustedFileError, match="trusted=True"):
        load_word_vectors(tmp_path / "v.kv")
    assert load_word_vectors(tmp_path / "v.kv", trusted=True)["dog"].tolist() == [0, 1, 2]
    Word2Vec(SENTENCES, vector_size=4, min_count=1, workers=1, seed=1).save(str(tmp_path / "zh.model"))
    with pytest.raises(UntrustedFileError):
        load_word_vectors(tmp_path / "zh.model")
    model_vectors = load_word_vectors(tmp_path / "zh.model", trusted=True)
    assert model_vectors.vector_size == 4 and "dog" in model_vectors.key_to_index


def test_unexpected_formats(tmp_path):
    (tmp_path / "x.txt").write_text("hello world\nnot vectors\n")
    with pytest.raises(DataFormatError, match="unknown word-vector format"):
        load_word_vectors(tmp_path / "x.txt")
    (tmp_path / "e.txt").write_text("")
    with pytest.raises(DataFormatError, match="empty"):
        load_word_vectors(tmp_path / "e.txt")
    (tmp_path / "t.txt").write_text("3 2\na 1 2\nb 1\n")
    with pytest.raises(DataFormatError, match="word2vec_text"):
        load_word_vectors(tmp_path / "t.txt")
    with pytest.raises(MissingFileError):
        load_word_vectors(tmp_path / "absent.bin")
    with pytest.raises(ConfigError, match="unknown word-vector format 'xml'"):
        load_word_vectors(tmp_path / "x.txt", format="xml")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataFormatError, match="BigFile"):
        load_word_vectors(tmp_path / "folder")
    (tmp_path / "junk.kv").write_bytes(b"\x80\x04junk")
    with pytest.raises(DataFormatError, match="gensim"):
        load_word_vectors(tmp_path / "junk.kv", trusted=True)


def test_fixture_word_vectors(fixtures_dir):
    glove = load_word_vectors(fixtures_dir / "wordvec" / "test_glove.head.txt")
    assert glove.vectors.shape == (6, 50)
    fasttext = load_word_vectors(fixtures_dir / "wordvec" / "lee_fasttext.head.vec")
    assert fasttext.vectors.shape == (20, 10)


@pytest.mark.parametrize("name,fmt,shape", [("euclidean_vectors.bin", "word2vec_binary", (2747, 10)),
                                            ("lee_fasttext.vec", "word2vec_text", (1762, 10)),
                                            ("test_glove.txt", "glove", (76, 50))])
def test_real_gensim_test_vectors(shared_data, name, fmt, shape):
    path = shared_data / "wordvec" / "gensim-4.4.0" / name
    assert detect_format(path) == fmt
    assert load_word_vectors(path).vectors.shape == shape


def test_train_word2vec_deterministic():
    first = train_word2vec(SENTENCES, dim=8, seed=3, min_count=2, epochs=2)
    second = train_word2vec(SENTENCES, dim=8, seed=3, min_count=2, epochs=2)
    np.testing.assert_array_equal(first["dog"], second["dog"])
    assert first.vector_size == 8
    with pytest.raises(ConfigError, match="min_count"):
        train_word2vec([["rare"]], dim=4, min_count=5)
    with pytest.raises(ConfigError):
        train_word2vec(SENTENCES, dim=0)


def test_embedding_matrix_rows(tmp_path):
    vocab = Vocabulary(["dog", "zebra", "cat"])
    for vectors in (_kv(), {"dog": [0, 1, 2], "cat": [3, 4, 5]}):
        matrix = embedding_matrix(vocab, vectors, seed=7)
        assert matrix.shape == (5, 3) and matrix.dtype == np.float32
        assert (matrix[0] == 0).all()
        np.testing.assert_array_equal(matrix[2], [0, 1, 2])
        np.testing.assert_array_equal(matrix[4], [3, 4, 5])
        assert (np.abs(matrix[[1, 3]]) <= 1).all() and not (matrix[[1, 3]] == 0).all()
        np.testing.assert_array_equal(matrix, embedding_matrix(vocab, vectors, seed=7))
    write_bigfile(tmp_path / "w2v", ["cat", "dog"], np.array([[3, 4, 5], [0, 1, 2]], np.float32))
    np.testing.assert_array_equal(embedding_matrix(vocab, BigFile(tmp_path / "w2v"), seed=7),
                                  embedding_matrix(vocab, _kv(), seed=7))
    assert coverage(vocab, _kv()) == pytest.approx(2 / 3)
    with pytest.raises(ConfigError):
        embedding_matrix(vocab, [1, 2, 3])


def test_word2vec_on_a_small_corpus_separates_its_vectors(tmp_path):
    """5 passes over one collection's captions leave every vector near one direction; enough passes do not."""
    from w2vvx.datasets.synthetic import generate_collection
    from w2vvx.io.collection import Collection
    from w2vvx.text.tokenizers import tokenize_captions
    from w2vvx.text.word_vectors import train_word2vec

    generate_collection(tmp_path, name="s", seed=0, n_train=300, n_val=10, n_test=10, languages=("zh",),
                        feature_dim=8)
    tokens, _ = tokenize_captions(Collection(tmp_path, "s").captions("train"))  # about 12,500 words

    def mean_cosine(vectors):
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        cosines = unit @ unit.T
        return float((cosines.sum() - len(cosines)) / (len(cosines) ** 2 - len(cosines)))

    assert mean_cosine(train_word2vec(tokens, dim=32, min_count=2, epochs=5).vectors) > 0.9
    assert mean_cosine(train_word2vec(tokens, dim=32, min_count=2).vectors) < 0.2
