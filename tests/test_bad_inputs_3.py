"""Bad inputs of issue 23 (docs/errors.md, third part): one test per table row.

Inputs checked where they enter: queries the model cannot read, feature files of another type, vocabulary
assets that changed, token ids and feature rows out of range, half-failed index builds, word-vector files
with a BOM, another encoding, gzip or a wrong header, text files ending in NUL bytes. As in
tests/test_bad_inputs.py, a case raises a w2vvx error whose message holds the documented words, or
(``error=None``) performs a documented handling that the case function checks itself.
"""
from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from w2vvx.errors import ConfigError, DataFormatError, QueryError

from bad_input_runner import check_bad_input

CASES = {}


def case(name, error=None, says=(), logged=()):
    def register(function):
        CASES[name] = (function, error, tuple(says), tuple(logged))
        return function

    return register


@pytest.fixture(scope="module")
def retriever():
    from w2vvx.models import W2VVPreprocessor, build_model, get_config
    from w2vvx.text import Vocabulary

    vocab = Vocabulary(["dog", "runs", "cat", "grass", "狗", "草地"])
    config = get_config("w2vvpp", gru_units=4, embed_dim=4, w2v_dim=4, common_space_dim=8, dropout=0.0)
    pre = W2VVPreprocessor(vocab, vocab, languages=["en", "zh"], maxlen=6)
    return build_model(config, len(vocab), len(vocab), visual_dim=6, preprocessor=pre)


ITEMS = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)


# -- queries ------------------------------------------------------------------------------------------------------
@case("query-all-words-unknown", QueryError, says=["query '一只狗在草地上奔跑'", "language 'en'", "['en', 'zh']",
                                                   "none of its words"])
def _(tmp, request):
    request.getfixturevalue("retriever").search(["一只狗在草地上奔跑"], items=ITEMS, k=2, language="en")


@case("query-wrong-language", QueryError, says=["query 'a dog runs'", "language 'zh'", "keeps no word"])
def _(tmp, request):
    request.getfixturevalue("retriever").encode_text(["a dog runs"], language="zh")


@case("query-mostly-unknown-words")
def _(tmp, request):
    with pytest.warns(Warning) as caught:
        request.getfixturevalue("retriever").encode_text(["the small dog jumps"], language="en")
    from w2vvx.errors import UnknownWordsWarning

    assert any(issubclass(w.category, UnknownWordsWarning) and "'the small dog jumps'" in str(w.message)
               and "3 of its 4 words" in str(w.message) for w in caught)


# -- features -----------------------------------------------------------------------------------------------------
def _bigfile(folder: Path, raw: bytes, shape: str, n: int):
    folder.mkdir()
    (folder / "feature.bin").write_bytes(raw)
    (folder / "shape.txt").write_text(shape)
    (folder / "id.txt").write_text(" ".join(f"i{k}" for k in range(n)))
    return folder


FEATURES = np.random.default_rng(1).random((5, 8)) * 2


@case("bigfile-float64-read-as-float32", DataFormatError, says=["feature.bin", "read as float64 they are plausible",
                                                                "twice the dimension (16 instead of 8)", "'<f8'"])
def _(tmp, request):
    from w2vvx.io.bigfile import BigFile

    BigFile(_bigfile(tmp / "f64", FEATURES.astype("<f8").tobytes(), "5 16", 5))


@case("bigfile-float64-size", DataFormatError, says=["feature.bin", "exactly twice the size: is it float64?"])
def _(tmp, request):
    from w2vvx.io.bigfile import BigFile

    BigFile(_bigfile(tmp / "f64", FEATURES.astype("<f8").tobytes(), "5 8", 5))


@case("bigfile-big-endian", DataFormatError, says=["feature.bin", "byte-swapped they are plausible", "big-endian",
                                                   "'>f4'"])
def _(tmp, request):
    from w2vvx.io.bigfile import BigFile

    BigFile(_bigfile(tmp / "be", FEATURES.astype(">f4").tobytes(), "5 8", 5))


@case("bigfile-random-bytes", DataFormatError, says=["feature.bin", "not little-endian float32 features",
                                                     "of another type or damaged"])
def _(tmp, request):
    from w2vvx.io.bigfile import BigFile

    raw = np.random.default_rng(2).integers(0, 256, size=5 * 8 * 4, dtype=np.uint8).tobytes()
    BigFile(_bigfile(tmp / "junk", raw, "5 8", 5))


@case("encode-items-infinite-row", DataFormatError, says=["features row 2 (0-based) holds NaN or Inf"])
def _(tmp, request):
    items = ITEMS.copy()
    items[2, 3] = np.inf
    request.getfixturevalue("retriever").search(["dog"], items=items, k=2)


# -- models ---------------------------------------------------------------------------------------------------------
@case("keras-vocabulary-asset-changed", DataFormatError, says=["m.keras: the vocabulary asset gru_vocab.txt",
                                                               "holds 7 entries", "saved with 8", "edited or damaged"])
def _(tmp, request):
    import zipfile

    from w2vvx.io.archives import load_keras_model

    path = request.getfixturevalue("retriever").save_for_inference(tmp / "good.keras")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp / "m.keras", "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("gru_vocab.txt"):
                data = b"".join(data.splitlines(keepends=True)[1:])
            target.writestr(info, data)
    load_keras_model(tmp / "m.keras")


@case("token-ids-out-of-range", ConfigError, says=["encode_text: 'tokens' row 0, position 1 holds id 50",
                                                   "the vocabulary has 8 ids (0-7)"])
def _(tmp, request):
    request.getfixturevalue("retriever").encode_text({"tokens": [[2, 50]], "bow_tokens": [[2, 3]]})


# -- indexes --------------------------------------------------------------------------------------------------------
@case("ann-failed-build-leaves-index-intact")
def _(tmp, request):
    from w2vvx.search.ann import ANNIndex, available_backends

    if not available_backends():
        pytest.skip("no ANN backend installed")
    rng = np.random.default_rng(0)
    index = ANNIndex(8, kind="hnsw").build(rng.normal(size=(100, 8)), [f"a{i}" for i in range(100)])
    more = rng.normal(size=(200, 8))
    more[137] = np.nan
    with pytest.raises(DataFormatError, match=r"vectors row 137 \(0-based\)"):
        index.build(more, [f"b{i}" for i in range(200)], chunk_rows=64)
    assert len(index) == 100 and index._stored_count() == 100
    assert index.search(rng.normal(size=(1, 8)), k=5)[0].shape == (1, 5)
    index.save(tmp / "ann")


@case("ann-save-inconsistent", DataFormatError, says=["the index is inconsistent", "holds 103 vectors but 100 ids"])
def _(tmp, request):
    from w2vvx.search.ann import ANNIndex, available_backends

    if "faiss" not in available_backends():
        pytest.skip("faiss not installed")
    index = ANNIndex(4, backend="faiss", kind="hnsw").build(np.random.default_rng(0).normal(size=(100, 4)))
    index._index.add(np.ones((3, 4), np.float32))  # changed behind the index's back
    index.save(tmp / "ann")


# -- word vectors ---------------------------------------------------------------------------------------------------
W2V_TEXT = "3 2\ndog 0.5 1.0\ncat 1 2\n狗 -1 0.25\n"


@case("word2vec-text-with-bom")
def _(tmp, request):
    from w2vvx.text.word_vectors import detect_format, load_word_vectors

    (tmp / "vec.txt").write_bytes(b"\xef\xbb\xbf" + W2V_TEXT.encode())
    assert detect_format(tmp / "vec.txt") == "word2vec_text"
    assert load_word_vectors(tmp / "vec.txt").index_to_key == ["dog", "cat", "狗"]


@case("glove-not-utf8", DataFormatError, says=["glove.txt:1", "2 of 3 words are not valid utf-8", "gb18030",
                                               "encoding='gb18030'", "iconv -f GB18030"])
def _(tmp, request):
    from w2vvx.text.word_vectors import load_word_vectors

    (tmp / "glove.txt").write_bytes("狗 0.1 0.2\n猫 0.3 0.4\n鸟 0.5 0.6\n".encode("gbk"))
    try:
        load_word_vectors(tmp / "glove.txt")
    finally:
        assert load_word_vectors(tmp / "glove.txt", encoding="gb18030").index_to_key == ["狗", "猫", "鸟"]


@case("word-vectors-gzip")
def _(tmp, request):
    from w2vvx.text.word_vectors import load_word_vectors

    (tmp / "vec.txt.gz").write_bytes(gzip.compress(W2V_TEXT.encode()))
    (tmp / "glove.gz").write_bytes(gzip.compress(W2V_TEXT.split("\n", 1)[1].encode()))
    assert load_word_vectors(tmp / "vec.txt.gz")["cat"].tolist() == [1.0, 2.0]
    assert load_word_vectors(tmp / "glove.gz").index_to_key == ["dog", "cat", "狗"]


@case("word-vectors-gzip-truncated", DataFormatError, says=["vec.txt.gz", "gzip file is damaged or truncated",
                                                            "re-download"])
def _(tmp, request):
    from w2vvx.text.word_vectors import load_word_vectors

    data = gzip.compress((W2V_TEXT * 50).encode())
    (tmp / "vec.txt.gz").write_bytes(data[: len(data) // 2])
    load_word_vectors(tmp / "vec.txt.gz")


@case("word2vec-binary-header-dim-too-large", DataFormatError,
      says=["vec.bin", "N=3 vectors of D=10", "at least 120 bytes of values", "the header's D (or N) is larger"])
def _(tmp, request):
    from gensim.models import KeyedVectors

    from w2vvx.text.word_vectors import load_word_vectors

    vectors = KeyedVectors(vector_size=5)
    vectors.add_vectors(["dog", "cat", "bird"], np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32))
    vectors.save_word2vec_format(str(tmp / "good.bin"), binary=True)
    (tmp / "vec.bin").write_bytes((tmp / "good.bin").read_bytes().replace(b"3 5\n", b"3 10\n", 1))
    load_word_vectors(tmp / "vec.bin")


# -- text files -----------------------------------------------------------------------------------------------------
@case("caption-file-ends-in-nul-bytes", DataFormatError, says=["x.caption.txt:3", "the line is 60 NUL bytes",
                                                               "never written", "tr -d"])
def _(tmp, request):
    from w2vvx.io.captions import read_captions

    (tmp / "x.caption.txt").write_bytes(b"a#enc#0 a dog\nb#enc#0 a cat\n" + b"\x00" * 60)
    read_captions(tmp / "x.caption.txt")


@case("imageset-ends-in-nul-bytes", DataFormatError, says=["test.txt:3", "60 NUL bytes"])
def _(tmp, request):
    from w2vvx.io.imagesets import read_imageset

    (tmp / "test.txt").write_bytes(b"a\nb\n" + b"\x00" * 60)  # it was called UTF-32 text
    read_imageset(tmp / "test.txt")


# -- the runner ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, tmp_path, request, caplog):
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        check_bad_input(CASES, name, tmp_path, request, caplog)


def test_cases_are_documented():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\|\s*`([a-z0-9-]+)`\s*\|", docs, flags=re.M))
    assert set(CASES) <= documented, f"not in docs/errors.md: {sorted(set(CASES) - documented)}"
