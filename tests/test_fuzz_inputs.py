"""Fuzzing by class (issue 23): every reader and public API entry point gets generated bad input and must
answer with a w2vvx error (``W2VVXError``, a subclass of the matching built-in) or a correct result.

Budget: CI runs the whole file in well under 40 s on its TensorFlow leg; every test is derandomized
(the same examples on every run, so CI is never flaky) and has ``deadline=None``.
"""
import gzip
import itertools
import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from w2vvx.errors import DataFormatError, QueryError, W2VVXError, W2VVXWarning
from w2vvx.io.bigfile import BigFile, write_bigfile
from w2vvx.io.json_files import read_json_object
from w2vvx.text import Vocabulary
from w2vvx.text.word_vectors import load_word_vectors


def fuzz(examples):
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


_counter = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_inputs")


# -- BigFile: bytes of another type or byte order --------------------------------------------------------------
@fuzz(60)
@given(rows=st.integers(2, 12), dim=st.integers(8, 24), scale=st.sampled_from([1e-3, 0.1, 1.0, 30.0]),
       relu=st.booleans(), dtype=st.sampled_from(["<f4", "<f8", ">f4", ">f8"]), seed=st.integers(0, 2 ** 16))
def test_bigfile_of_any_float_type_opens_only_as_little_endian_float32(workdir, rows, dim, scale, relu, dtype, seed):
    values = np.random.default_rng(seed).normal(size=(rows, dim)) * scale
    if relu:
        values = np.maximum(values, 0.0)  # CNN features: many exact zeros
    raw = values.astype(dtype).tobytes()
    claimed = dim * np.dtype(dtype).itemsize // 4  # shape.txt written as if the bytes were float32
    assume(np.count_nonzero(values) >= 32)
    folder = workdir / f"bf{next(_counter)}"
    folder.mkdir()
    (folder / "feature.bin").write_bytes(raw)
    (folder / "shape.txt").write_text(f"{rows} {claimed}\n")
    (folder / "id.txt").write_text(" ".join(f"i{k}" for k in range(rows)))
    if dtype == "<f4":
        np.testing.assert_array_equal(BigFile(folder).matrix, values.astype(np.float32))
        return
    with pytest.raises(DataFormatError) as info:
        BigFile(folder)
    hint = {"<f8": "read as float64 they are plausible", ">f4": "byte-swapped they are plausible"}.get(dtype)
    assert "not little-endian float32" in str(info.value) and (hint is None or hint in str(info.value))


# -- word-vector files: BOM, gzip, line ends, encodings, headers -------------------------------------------------
_WORDS = st.lists(st.text(alphabet="abcdefxyz狗猫鸟草地éßДー", min_size=1, max_size=5), min_size=1, max_size=6,
                  unique=True)


@fuzz(60)
@given(words=_WORDS, dim=st.integers(1, 4), header=st.booleans(), bom=st.booleans(), compress=st.booleans(),
       crlf=st.booleans(), encoding=st.sampled_from(["utf-8", "utf-8", "gbk"]), seed=st.integers(0, 999),
       damage=st.sampled_from([None, None, "drop-value", "extra-value", "bad-header", "nan", "truncate"]))
def test_word_vector_text_files_load_exactly_or_raise(workdir, words, dim, header, bom, compress, crlf, encoding, seed,
                                                      damage):
    vectors = np.round(np.random.default_rng(seed).normal(size=(len(words), dim)), 3).astype(np.float32)
    lines = [f"{w} " + " ".join(repr(float(v)) for v in row) for w, row in zip(words, vectors)]
    if damage == "drop-value":
        lines[-1] = lines[-1].rsplit(" ", 1)[0]
    elif damage == "extra-value":
        lines[-1] += " 0.5"
    elif damage == "nan":
        lines[-1] = lines[-1].rsplit(" ", 1)[0] + " nan"
    if header:
        lines.insert(0, f"{len(words) + (damage == 'bad-header')} {dim}")
    text = ("\r\n" if crlf else "\n").join(lines) + "\n"
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        return
    data = (b"\xef\xbb\xbf" if bom else b"") + data
    if compress:
        data = gzip.compress(data, mtime=0)
    if damage == "truncate":
        data = data[: max(1, len(data) * 2 // 3)]
    path = workdir / f"v{next(_counter)}.txt{'.gz' if compress else ''}"
    path.write_bytes(data)
    try:
        loaded = load_word_vectors(path)
    except W2VVXError:
        assert damage is not None or encoding != "utf-8" or (dim == 1 and not header), \
            "a clean UTF-8 file must load"  # 'word v' lines without a header are ambiguous with 'N D'
        return
    if encoding == "gbk" and any(w.encode("gbk") != w.encode("utf-8") for w in words):
        assert all(w.encode("gbk").decode("utf-8", "strict") for w in words)  # only if GBK bytes were valid UTF-8
        return
    assert damage in (None, "truncate") or (damage == "bad-header" and not header)
    assert loaded.index_to_key == words[: len(loaded.index_to_key)]
    np.testing.assert_array_equal(loaded.vectors, vectors[: len(loaded.index_to_key)])


# -- JSON records -----------------------------------------------------------------------------------------------
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
                     lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children,
                                                                                       max_size=3), max_leaves=8)


@fuzz(80)
@given(value=_JSON, cut=st.integers(0, 40), bom=st.booleans(), codec=st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_json_records(workdir, value, cut, bom, codec):
    data = json.dumps(value, ensure_ascii=False)
    data = data[: len(data) - cut] if cut < len(data) else data
    try:
        raw = data.encode(codec)
    except UnicodeEncodeError:
        return
    path = workdir / f"j{next(_counter)}.json"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + raw)
    try:
        record = read_json_object(path, fix="write it again")
    except W2VVXError:
        return
    assert isinstance(record, dict)


# -- the model API: queries, token ids, features, k -------------------------------------------------------------
VOCAB = Vocabulary(["dog", "runs", "cat", "grass", "red", "狗", "草地", "hund"])


@pytest.fixture(scope="module")
def retriever():
    from w2vvx.models import W2VVPreprocessor, build_model, get_config

    config = get_config("w2vvpp", gru_units=4, embed_dim=4, w2v_dim=4, common_space_dim=8, dropout=0.0)
    pre = W2VVPreprocessor(VOCAB, VOCAB, languages=["en", "zh", "de"], maxlen=5)
    return build_model(config, len(VOCAB), len(VOCAB), visual_dim=6, preprocessor=pre)


_QUERY = st.one_of(st.text(max_size=40),
                   st.lists(st.sampled_from(["dog", "runs", "狗", "草地", "qq", "the", "一只", "!!", "\x00", " ",
                                             "\ufeff", "\u2028", "Hund", "ÉTÉ"]), max_size=8).map(" ".join))


@fuzz(25)
@given(queries=st.lists(_QUERY, min_size=1, max_size=4), language=st.sampled_from(["en", "zh", "de", None]))
def test_stdin_queries_encode_or_raise_a_query_error(retriever, queries, language):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", W2VVXWarning)
        try:
            embedding = retriever.encode_text(queries, language=language)
        except QueryError as error:
            assert any(repr(q if len(q) <= 80 else q[:77] + "...") in str(error) for q in queries)
            return
    assert embedding.shape == (len(queries), 8) and np.isfinite(embedding).all()


_ARRAYS = hnp.arrays(dtype=st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.bool_, np.uint64,
                                            np.complex64, np.float16]),
                     shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7),
                     elements={"allow_nan": True, "allow_infinity": True} if False else None)


@fuzz(60)
@given(tokens=_ARRAYS, same=st.booleans(), batch_size=st.sampled_from([1, 3, 256, 0, -1, True, 2.5]))
def test_encode_text_token_inputs(retriever, tokens, same, batch_size):
    bow = tokens if same else np.ones_like(tokens)
    try:
        embedding = retriever.encode_text({"tokens": tokens, "bow_tokens": bow}, batch_size=batch_size)
    except W2VVXError:
        return
    assert tokens.ndim == 2 and tokens.size and ((tokens >= 0) & (tokens < len(VOCAB))).all()
    assert embedding.shape == (tokens.shape[0], 8) and np.isfinite(embedding).all()


@fuzz(60)
@given(features=hnp.arrays(dtype=st.sampled_from([np.float32, np.float64, np.int32, np.float16, np.bool_]),
                           shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=7)),
       k=st.sampled_from([1, 3, 10, 0, -2, None, 1.5]))
def test_encode_items_and_search_on_any_array(retriever, features, k):
    try:
        ids, scores = retriever.search(["dog runs"], items=features, k=k)
    except W2VVXError:
        return
    assert features.ndim == 2 and features.shape[1] == 6 and np.isfinite(features.astype(np.float64)).all()
    assert ids.shape == scores.shape == (1, min(k, len(features))) and np.isfinite(scores).all()


# -- search: brute force, ANN, BigFile writing -------------------------------------------------------------------
_VECTORS = hnp.arrays(dtype=np.float32, shape=st.tuples(st.integers(0, 30), st.sampled_from([4, 5])),
                      elements=st.floats(-1e3, 1e3, width=32) | st.sampled_from([np.nan, np.inf, 0.0]))


@fuzz(60)
@given(gallery=_VECTORS, queries=_VECTORS, k=st.integers(-1, 40), ids=st.booleans())
def test_brute_force_index(gallery, queries, k, ids):
    from w2vvx.search.brute_force import BruteForceIndex

    try:
        index = BruteForceIndex(gallery, ids=[f"g{i}" for i in range(len(gallery))] if ids else None)
        found, scores = index.search(queries, k=k)
    except W2VVXError:
        return
    assert k >= 1
    if len(queries) == 0:  # nothing to rank: an empty answer, the gallery is read (and checked) by a real query
        assert found.shape == scores.shape == (0, min(k, len(gallery)))
        return
    assert np.isfinite(gallery).all() and np.isfinite(queries).all() and len(gallery)
    assert found.shape == scores.shape == (len(queries), min(k, len(gallery))) and np.isfinite(scores).all()


@fuzz(40)
@given(first=_VECTORS, second=_VECTORS, chunk=st.integers(1, 12), kind=st.sampled_from(["hnsw", "ivf"]))
def test_ann_index_builds_atomically(first, second, chunk, kind):
    from w2vvx.search.ann import ANNIndex, available_backends

    if "faiss" not in available_backends():
        pytest.skip("faiss not installed")
    dim = first.shape[1]
    index = ANNIndex(dim, backend="faiss", kind=kind, nlist=1)
    for vectors in (first, second):
        before = len(index)
        try:
            index.build(vectors, chunk_rows=chunk)
        except W2VVXError:
            assert len(index) == before == index._stored_count()
            continue
        assert len(index) == before + len(vectors) == index._stored_count()
    if len(index):
        found, scores = index.search(np.ones((1, dim), np.float32), k=3)
        assert found.shape == (1, 3)


@fuzz(60)
@given(names=st.lists(st.text(max_size=4), max_size=5), vectors=_VECTORS | hnp.arrays(np.float64, (2, 3)))
def test_write_bigfile_then_read_back(workdir, names, vectors):
    folder = workdir / f"w{next(_counter)}"
    try:
        write_bigfile(folder, names, vectors)
    except W2VVXError:
        assert not folder.exists()
        return
    bigfile = BigFile(folder)
    assert bigfile.names == names
    np.testing.assert_array_equal(bigfile.matrix, np.asarray(vectors, np.float32))


# -- saved models: .keras assets and preset folders ---------------------------------------------------------------
@pytest.fixture(scope="module")
def preset(retriever, tmp_path_factory):
    folder = retriever.save_to_preset(tmp_path_factory.mktemp("preset") / "p")
    return folder, retriever.encode_text(["dog runs", "red cat"], language="en")


@fuzz(8)
@given(part=st.sampled_from(["config.json", "metadata.json", "gru_vocab.txt", "bow_vocab.txt"]),
       how=st.sampled_from(["truncate", "drop-line", "append-line", "swap-lines", "junk"]), at=st.integers(0, 200))
def test_preset_folders_with_a_changed_file(workdir, preset, part, how, at):
    import shutil

    from w2vvx.models import W2VVRetriever

    folder, expected = preset
    copy = workdir / f"p{next(_counter)}"
    shutil.copytree(folder, copy)
    path = next(copy.rglob(part))
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    at = at % max(1, len(lines))
    if how == "truncate":
        data = data[: at % max(1, len(data))]
    elif how == "drop-line":
        data = b"".join(lines[:at] + lines[at + 1:])
    elif how == "append-line":
        data = data + b"zebra 3\n"
    elif how == "swap-lines" and len(lines) > at + 1:
        data = b"".join(lines[:at] + [lines[at + 1], lines[at]] + lines[at + 2:])
    elif how == "junk":
        data = bytes(range(256))[at:] * 3
    path.write_bytes(data)
    try:
        model = W2VVRetriever.from_preset(copy)
        embedding = model.encode_text(["dog runs", "red cat"], language="en")
    except W2VVXError:
        return
    np.testing.assert_allclose(embedding, expected, atol=1e-6)
