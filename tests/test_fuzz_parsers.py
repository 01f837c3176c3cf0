"""Fuzzing of every parser: any input gives a parsed result or a W2VVXError, never another exception.

The encoding properties (issue 13): a file with a UTF-8 byte-order mark, CR-only or CRLF line ends reads
exactly as the plain LF file; the same content as UTF-16/UTF-32 is refused with an error that names the
encoding; and none of this changes a caption's item id, sentence or order.
"""
import itertools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from w2vvx.config import load_settings, parse_ini_text
from w2vvx.errors import W2VVXError
from w2vvx.io.bigfile import BigFile, decode_ids, parse_shape_text
from w2vvx.io.bigfile_convert import txt2bin
from w2vvx.io.captions import Caption, parse_sentence_id, read_captions, read_sentences
from w2vvx.io.frames import parse_video2frames
from w2vvx.io.imagesets import parse_imageset
from w2vvx.text.tokenizers import get_tokenizer
from w2vvx.text.vocabulary import Vocabulary, parse_vocabulary
from w2vvx.text.word_vectors import load_word_vectors

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

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
    try:
        names = decode_ids(data)  # UTF-8 with ISO-8859-1 fallback per id; only UTF-16/32-looking bytes are refused
    except W2VVXError as error:  # (and a tail of NUL bytes: space that was never written)
        assert "UTF-16" in str(error) or "UTF-32" in str(error) or "NUL byte" in str(error)
        return
    assert all(name and isinstance(name, str) and not name.startswith("\ufeff") for name in names)


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


# -- byte-order marks, line ends and wide encodings ----------------------------------------------------------
_WORD = st.text(alphabet="abcxyzé中文ßД0123456789.,'-", min_size=1, max_size=6)
_SENTENCE = st.lists(_WORD, min_size=1, max_size=5).map(" ".join)
_ITEM = st.tuples(st.text(alphabet="abcdef0123456789_", min_size=1, max_size=8),
                  st.sampled_from(["", ".jpg", ".mp4"])).map("".join)
_CAPTION_LINES = st.lists(st.tuples(_ITEM, st.sampled_from(["enc", "zh", "google_enc2zh"]), _SENTENCE),
                          min_size=1, max_size=12).map(
    lambda rows: [(f"{item}#{tag}#{number}", text) for number, (item, tag, text) in enumerate(rows)])
_LINE_ENDS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}


def _encoded(lines, end: str, bom: bool, final_end: bool) -> bytes:
    text = end.join(lines) + (end if final_end else "")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


@FUZZ
@given(rows=_CAPTION_LINES, end=st.sampled_from(sorted(_LINE_ENDS)), bom=st.booleans(), final_end=st.booleans())
def test_caption_files_read_the_same_with_bom_and_any_line_end(workdir, rows, end, bom, final_end):
    lines = [f"{sent_id} {text}" for sent_id, text in rows]
    plain = read_captions(_write(workdir, _encoded(lines, "\n", False, True), "p.caption.txt"))
    other = read_captions(_write(workdir, _encoded(lines, _LINE_ENDS[end], bom, final_end), "o.caption.txt"))
    assert other == plain
    assert [c.sent_id for c in plain] == [sent_id for sent_id, _ in rows]
    assert [c.text for c in plain] == [text for _, text in rows]
    assert all("." not in c.item_id or not c.item_id.endswith((".jpg", ".mp4")) for c in plain)


@FUZZ
@given(rows=_CAPTION_LINES, codec=st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32"]))
def test_wide_caption_files_are_refused_by_name(workdir, rows, codec):
    text = "".join(f"{sent_id} {text}\n" for sent_id, text in rows)
    path = _write(workdir, text.encode(codec), "w.caption.txt")
    with pytest.raises(W2VVXError) as info:
        read_captions(path)
    family = "UTF-32" if "32" in codec else "UTF-16"
    assert family in str(info.value) and f"iconv -f {family} -t UTF-8" in str(info.value)


@FUZZ
@given(sentences=st.lists(_SENTENCE | st.just(""), min_size=1, max_size=10),
       end=st.sampled_from(sorted(_LINE_ENDS)), bom=st.booleans())
def test_sentence_files_keep_alignment_with_bom_and_any_line_end(workdir, sentences, end, bom):
    path = _write(workdir, _encoded(sentences, _LINE_ENDS[end], bom, True), "train.de")
    assert read_sentences(path) == sentences


@FUZZ
@given(ids=st.lists(st.text(alphabet="abcdef0123456789_.", min_size=1, max_size=8), min_size=1, max_size=10,
                    unique=True),
       end=st.sampled_from(sorted(_LINE_ENDS)), bom=st.booleans(), codec=st.sampled_from(["utf-8", "utf-16"]))
def test_imagesets_and_id_txt_with_bom_line_ends_and_utf16(ids, end, bom, codec):
    if codec == "utf-16":
        data = "\n".join(ids).encode("utf-16")
        for parse in (parse_imageset, decode_ids):
            with pytest.raises(W2VVXError, match="UTF-16"):
                parse(data)
        return
    data = _encoded(ids, _LINE_ENDS[end], bom, False)
    assert parse_imageset(data) == ids
    assert decode_ids(data) == ids


@FUZZ
@given(data=FUZZ_BYTES, bom=st.booleans())
def test_any_bytes_with_a_bom(workdir, data, bom):
    """Arbitrary bytes, BOM-prefixed or not, never raise anything but a W2VVXError in the line-based readers."""
    data = (b"\xef\xbb\xbf" if bom else b"") + data
    for read in (read_captions, read_sentences):
        try:
            read(_write(workdir, data))
        except W2VVXError:
            pass
    for parse in (parse_imageset, decode_ids):
        try:
            parsed = parse(data)
        except W2VVXError:
            continue
        assert not any(name.startswith("\ufeff") for name in parsed)


def test_fuzz_workdir_is_not_polluting_cwd():
    assert not any(name.endswith(".tmp") for name in os.listdir("."))
