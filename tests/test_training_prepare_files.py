"""Prepared-text files: damaged matrices are named; tokenizers are built once per language."""
import numpy as np
import pytest

from w2vvx.errors import DataFormatError, MissingFileError, UntrustedFileError
from w2vvx.io.captions import Caption
from w2vvx.training import prepare
from w2vvx.training.prepare import PreparedText, prepare_text, tokenize_captions, tokenize_captions_both


def _prepared(tmp_path):
    captions = [("img1", "a dog runs on the grass")] * 3
    prepared = prepare_text(captions, word_vectors={"dog": [1.0, 0.0]}, min_count=1)
    prepared.save(tmp_path)
    return prepared


def test_object_or_damaged_npy_is_a_data_format_error(tmp_path):
    _prepared(tmp_path)
    matrix = tmp_path / "prepared" / "gru_embedding.npy"
    np.save(matrix, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match="gru_embedding.npy.*not a plain numeric .npy"):
        PreparedText.load(tmp_path)
    matrix.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataFormatError, match="gru_embedding.npy"):
        PreparedText.load(tmp_path)
    np.save(matrix, np.array([["a", "b"]]))
    with pytest.raises(DataFormatError, match="expected a float matrix"):
        PreparedText.load(tmp_path)
    matrix.unlink()
    with pytest.raises(MissingFileError, match="gru_embedding.npy"):
        PreparedText.load(tmp_path)


def test_captions_are_tokenized_once_per_language(monkeypatch):
    built = []
    real = prepare.get_tokenizer

    def counting(language, remove_stopwords=False):
        built.append((language, remove_stopwords))
        return real(language, remove_stopwords=remove_stopwords)

    monkeypatch.setattr(prepare, "get_tokenizer", counting)
    captions = [Caption("a#enc#0", "a", "enc", 0, "The dog and the cat"),
                Caption("a#de#0", "a", "de", 0, "Der Hund und die Katze")] * 3
    tokens, filtered = tokenize_captions_both(captions)
    assert sorted(built) == [("de", False), ("en", False)]
    assert tokens[0] == ["the", "dog", "and", "the", "cat"] and filtered[0] == ["dog", "cat"]
    assert filtered[1] == ["hund", "katze"]
    assert tokenize_captions(captions, remove_stopwords=True) == filtered
    assert tokenize_captions_both(captions, with_filtered=False) == (tokens, None)


def test_untrusted_pickle_message_names_the_cli_flag(tmp_path):
    from click.testing import CliRunner

    from w2vvx.cli import cli
    from w2vvx.text.word_vectors import load_word_vectors

    (tmp_path / "v.kv").write_bytes(b"\x80\x04not really")
    with pytest.raises(UntrustedFileError, match="CLI: --trusted") as error:
        load_word_vectors(tmp_path / "v.kv")
    assert "--trusted" in CliRunner().invoke(cli, ["train", "--help"]).output
    assert "trust-pickle" not in str(error.value)
