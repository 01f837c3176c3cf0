"""Fuzzing of every parser: any input gives a parsed result or a W2VVXError, never another exception."""
import itertools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from w2vvx.config import load_settings, parse_ini_text
from w2vvx.errors import W2VVXError
from w2vvx.io.bigfile import BigFile, decode_ids, parse_shape_text, txt2bin
from w2vvx.io.captions import Caption, parse_sentence_id, read_captions
from w2vvx.io.frames import parse_video2frames
from w2vvx.io.imagesets import parse_imageset
from w2vvx.text.tokenizers import get_tokenizer
from w2vvx.text.vocabulary import Vocabulary, parse_vocabulary
from w2vvx.text.word_vectors import load_word_vectors

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_PIECES = [b"#", b" ", b"\n", b"a", b"0", b"1", b"7", b"\t", b"\xff", b"{", b"}", b"'", b'"', b"[", b"]", b":",
           b",", b"_", b"=", b"$", b"${", b"\r", b"\x00", "一".encode(), b"nan", b"-", b".", b"e", b"enc", b"zh",
           b"\xef\xbb\xbf", b"#", b"\\", b"(", b")", b"\x80", b"\xe9", b"video1_", b"export ", b"HOME"]
FUZZ_BYTES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.lists(st.sampled_from(_PIECES), max_size=80).map(b"".join),
)
FUZZ_TEXT = st.one_of(st.text(max_size=200), FUZZ_BYTES.map(lambda data: data.decode("utf-8", "replace")))
_counter = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _write(workdir, data: bytes, name="f.txt"):
    path = workdir / f"{next(_counter)}_{name}"
    path.write_bytes(data)
    return path


@FUZZ
@given(data=FUZZ_BYTES)
def test_caption_files(workdir, data):
    path = _write(workdir, data, "x.caption.txt")
    try:
        captions = read_captions(path)
    except W2VVXError:
        return
    assert captions and all(isinstance(c, Caption) and c.item_id and c.text for c in captions)


@FUZZ
@given(sent_id=FUZZ_TEXT)
def test_sentence_ids(sent_id):
    try:
        item, tag, index = parse_sentence_id(sent_id)
    except W2VVXError:
        return
    assert item and "#" not in item and index >= 0


@FUZZ
@given(data=FUZZ_BYTES)
def test_shape_txt(data):
    try:
        n, d = parse_shape_text(data)
    except W2VVXError:
        return
    assert n >= 0 and d >= 1


@FUZZ
@given(data=FUZZ_BYTES)
def test_id_txt(data):
    names = decode_ids(data)  # never fails: UTF-8 with ISO-8859-1 fallback per id
    assert all(name and isinstance(name, str) for name in names)


@FUZZ
@given(shape=FUZZ_BYTES | st.sampled_from([b"2 1", b"1 1", b"0 3", b"3 2\n"]),
       ids=FUZZ_BYTES | st.sampled_from([b"a b", b"a", b"a a", b""]),
       n_floats=st.integers(0, 8))
def test_bigfile_open(workdir, shape, ids, n_floats):
    folder = workdir / f"bf{next(_counter)}"
    folder.mkdir()
    (folder / "shape.txt").write_bytes(shape)
    (folder / "id.txt").write_bytes(ids)
    (folder / "feature.bin").write_bytes(np.full(n_floats, np.nan if n_floats == 3 else 0.5, "<f4").tobytes())
    try:
        bigfile = BigFile(folder, check_finite=True)
    except W2VVXError:
        return
    assert bigfile.read_rows(np.arange(len(bigfile))).shape == bigfile.shape


_VECTOR_LINES = st.lists(
    st.tuples(st.sampled_from([b"a", b"b", b"caf\xe9", b"\xc2\x85", b"2", b"#"]),
              st.lists(st.sampled_from([b"1", b"-2.5", b"nan", b"inf", b"1e39", b"x", b"0x1", b"3", b"1e-50"]),
                       max_size=4)),
    max_size=8).map(lambda lines: b"".join(name + b" " + b" ".join(values) + b"\n" for name, values in lines))


@FUZZ
@given(data=FUZZ_BYTES | _VECTOR_LINES)
def test_txt2bin(workdir, data):
    path = _write(workdir, data)
    try:
        bigfile = txt2bin(path, workdir / f"out{next(_counter)}")
    except W2VVXError:
        return
    assert np.isfinite(np.asarray(bigfile.matrix)).all()


@FUZZ
@given(data=FUZZ_BYTES)
def test_imagesets(data):
    try:
        ids = parse_imageset(data)
    except W2VVXError:
        return
    assert ids and len(set(ids)) == len(ids)


_FRAME_DICTS = st.dictionaries(st.text(max_size=8), st.lists(st.text(max_size=10) | st.integers(), max_size=4),
                               max_size=4).map(lambda d: repr(d).encode("utf-8", "surrogatepass"))


@FUZZ
@given(data=FUZZ_BYTES | _FRAME_DICTS)
def test_video2frames(data):
    try:
        mapping = parse_video2frames(data)
    except W2VVXError:
        return
    assert all(isinstance(v, str) and all(isinstance(f, str) for f in frames) for v, frames in mapping.items())


@FUZZ
@given(data=FUZZ_BYTES)
def test_vocabulary_files(data):
    try:
        vocab = parse_vocabulary(data)
    except W2VVXError:
        return
    assert isinstance(vocab, Vocabulary) and vocab.word(0) == "<pad>"


@FUZZ
@given(text=FUZZ_TEXT)
def test_common_ini_text(text):
    try:
        values = parse_ini_text(text, environ={"HOME": "/home/u"})
    except W2VVXError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())


@FUZZ
@given(data=FUZZ_BYTES)
def test_common_ini_file(workdir, data):
    path = _write(workdir, data, "common.ini")
    try:
        load_settings(None, path, environ={"HOME": "/home/u"})
    except W2VVXError:
        return


@FUZZ
@given(data=FUZZ_BYTES)
def test_word_vector_files(workdir, data):
    path = _write(workdir, data, "vectors.txt")
    try:
        load_word_vectors(path)
    except W2VVXError:
        return


_TOKENIZERS = {language: get_tokenizer(language) for language in ("en", "de", "fr", "cs", "zh")}


@FUZZ
@given(text=FUZZ_TEXT, language=st.sampled_from(sorted(_TOKENIZERS)))
def test_tokenizers(text, language):
    tokens = _TOKENIZERS[language](text)
    assert all(isinstance(t, str) and t and not any(ch.isspace() for ch in t) for t in tokens)


def test_fuzz_workdir_is_not_polluting_cwd():
    assert not any(name.endswith(".tmp") for name in os.listdir("."))
