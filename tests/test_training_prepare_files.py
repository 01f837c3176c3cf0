"""Caption tokenisation for vocabularies: one tokenizer per language, the tokenisation the preprocessor uses."""
import pytest

from w2vvx.errors import UntrustedFileError
from w2vvx.io.captions import Caption
from w2vvx.text import tokenizers
from w2vvx.text.tokenizers import tokenize_captions


def test_captions_are_tokenized_once_per_language(monkeypatch):
    built = []
    real = tokenizers.Tokenizer

    class Counting(real):
        def __init__(self, language, remove_stopwords=False):
            built.append((language, remove_stopwords))
            super().__init__(language, remove_stopwords)

    monkeypatch.setattr(tokenizers, "Tokenizer", Counting)
    captions = [Caption("a#enc#0", "a", "enc", 0, "The dog and the cat"),
                Caption("a#de#0", "a", "de", 0, "Der Hund und die Katze")] * 3
    tokens, filtered = tokenize_captions(captions)
    assert sorted(built) == [("de", False), ("en", False)]
    assert tokens[0] == ["the", "dog", "and", "the", "cat"] and filtered[0] == ["dog", "cat"]
    assert filtered[1] == ["hund", "katze"]


def test_a_language_without_stopword_list_keeps_every_word_as_content():
    tokens, content = tokenize_captions([("a", "犬 が 走る")], default_language="ja")
    assert tokens == content and tokens[0]


def test_untrusted_pickle_message_names_the_cli_flag(tmp_path):
    from click.testing import CliRunner

    from w2vvx.cli import cli
    from w2vvx.text.word_vectors import load_word_vectors

    (tmp_path / "v.kv").write_bytes(b"\x80\x04not really")
    with pytest.raises(UntrustedFileError, match="CLI: --trusted") as error:
        load_word_vectors(tmp_path / "v.kv")
    assert "--trusted" in CliRunner().invoke(cli, ["train", "--help"]).output
    assert "trust-pickle" not in str(error.value)
