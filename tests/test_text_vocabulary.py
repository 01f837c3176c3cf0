"""Vocabulary and SentenceFeaturizer (w2vvx.text.vocabulary, w2vvx.text.featurizer)."""

import numpy as np
import pytest

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.captions import read_captions
from w2vvx.text.featurizer import SentenceFeaturizer
from w2vvx.text.tokenizers import get_tokenizer
from w2vvx.text.vocabulary import PAD, UNK, Vocabulary


def test_build_orders_by_count_then_word_and_thresholds():
    tokens = [["b", "a", "c"], ["a", "b"], ["a", "d"], ["b"]]
    vocab = Vocabulary.build(tokens, min_count=2)
    assert vocab.words == [PAD, UNK, "a", "b"]
    assert vocab.count("a") == 3 and vocab.count("zz") == 0
    assert len(vocab) == 4 and "a" in vocab and "c" not in vocab and vocab.word(3) == "b"
    assert Vocabulary.build(tokens, min_count=1).words[2:] == ["a", "b", "c", "d"]


def test_encode_post_pads_and_truncates():
    vocab = Vocabulary(["a", "b"])
    assert vocab.encode(["a", "x", "b"], maxlen=5).tolist() == [2, 1, 3, 0, 0]
    out = vocab.encode(["a"] * 40, maxlen=32)
    assert out.dtype == np.int32 and out.shape == (32,) and (out == 2).all()
    assert vocab.encode(["x", "b"], maxlen=3, drop_unknown=True).tolist() == [3, 0, 0]
    with pytest.raises(ConfigError):
        vocab.encode(["a"], maxlen=0)


def test_save_load_round_trip(tmp_path):
    vocab = Vocabulary.build([["狗", "跑"], ["狗"]], min_count=1)
    vocab.save(tmp_path / "v.txt")
    assert (tmp_path / "v.txt").read_text(encoding="utf-8") == "狗 2\n跑 1\n"
    assert Vocabulary.load(tmp_path / "v.txt") == vocab


@pytest.mark.parametrize("content,match", [
    (b"a 3\nb x\n", r"v.txt:2: count 'x'"), (b"a 3\nb -1\n", r":2: count '-1'"), (b"a 1 2\n", r":1: expected 'word count'"),
    (b"a 1\na 2\n", r"lines 1 and 2"), (b"a 1\n\xff 2\n", r"v.txt:2: not valid UTF-8")])
def test_load_errors_name_line(tmp_path, content, match):
    (tmp_path / "v.txt").write_bytes(content)
    with pytest.raises(DataFormatError, match=match):
        Vocabulary.load(tmp_path / "v.txt")


def test_load_missing_and_bare_words(tmp_path):
    with pytest.raises(MissingFileError):
        Vocabulary.load(tmp_path / "absent.txt")
    (tmp_path / "w.txt").write_text("<pad> 0\ndog\ncat 4\n")
    assert Vocabulary.load(tmp_path / "w.txt").words == [PAD, UNK, "dog", "cat"]


def test_build_argument_errors():
    with pytest.raises(ConfigError):
        Vocabulary.build([["a"]], min_count=0)
    with pytest.raises(ConfigError, match="tokenize"):
        Vocabulary.build(["a sentence"], min_count=1)
    with pytest.raises(DataFormatError, match="reserved"):
        Vocabulary(["<unk>"])


def _featurizer(maxlen=6):
    gru = Vocabulary(["a", "dog", "runs", "on", "the", "grass"])
    bow = Vocabulary(["dog", "runs", "grass", "the"])
    return SentenceFeaturizer("en", gru, bow, maxlen=maxlen)


def test_featurizer_tokens_and_bow_tokens():
    out = _featurizer()("A dog runs on the wet grass, fast")
    assert out["tokens"].tolist() == [2, 3, 4, 5, 6, 1]  # truncated at maxlen, 'wet' -> <unk>
    assert out["bow_tokens"].tolist() == [2, 3, 4, 0, 0, 0]  # stopwords 'a','on','the' dropped, OOV dropped
    assert out["tokens"].dtype == np.int32 and out["bow_tokens"].dtype == np.int32


def test_featurizer_batch_matches_single():
    featurizer = _featurizer()
    texts = ["a dog", "", "grass runs the dog"]
    batch = featurizer.batch(texts)
    assert batch["tokens"].shape == (3, 6) and batch["bow_tokens"].shape == (3, 6)
    for row, text in enumerate(texts):
        np.testing.assert_array_equal(batch["tokens"][row], featurizer(text)["tokens"])
    assert featurizer.batch([])["tokens"].shape == (0, 6)


def test_featurizer_argument_errors():
    with pytest.raises(ConfigError):
        SentenceFeaturizer("en", Vocabulary([]), Vocabulary([]), maxlen=0)
    with pytest.raises(ConfigError):
        SentenceFeaturizer("en", ["a"], Vocabulary([]))
    with pytest.raises(ConfigError, match="unsupported language 'xx'"):
        SentenceFeaturizer("xx", Vocabulary([]), Vocabulary([]))
    assert SentenceFeaturizer("google_enc2zh", Vocabulary([]), Vocabulary([])).language == "zh"  # a tag names it


def test_chinese_featurizer_on_fixture(fixtures_dir):
    captions = read_captions(fixtures_dir / "captions" / "vatexval_zh.caption.txt")
    tokenize = get_tokenizer("zh")
    token_lists = [tokenize(c.text) for c in captions]
    vocab = Vocabulary.build(token_lists, min_count=2)
    assert len(vocab) > 5
    featurizer = SentenceFeaturizer("zh", vocab, vocab)
    assert featurizer.tokenize(captions[0].text) == token_lists[0]
    batch = featurizer.batch([c.text for c in captions])
    assert batch["tokens"].shape == (20, 32)
    assert (batch["tokens"][:, 0] > 1).mean() > 0.5


def test_real_vatex_vocabulary(shared_data):
    captions = read_captions(shared_data / "vatex" / "vatexval.caption.txt")
    tokenize = get_tokenizer("en")
    vocab = Vocabulary.build((tokenize(c.text) for c in captions), min_count=5)
    assert vocab.word(2) == "a"
    assert 1500 < len(vocab) < 6000
    counts = [vocab.count(w) for w in vocab.words[2:]]
    assert counts == sorted(counts, reverse=True) and min(counts) >= 5
