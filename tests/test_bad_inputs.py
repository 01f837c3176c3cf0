"""Every bad input of docs/errors.md, one test per table row.

Each case feeds the library a broken file or setting the way a researcher would meet it (dead links,
half-finished downloads, other people's conversions) and checks that the answer is a w2vvx error that
names the file (and line or id) and says what to do, or, where the table documents a handling instead,
that the handling happens and is logged. Cases that write check that nothing half-written is left.
The ``cli-*`` rows run the ``w2vvx`` command in-process and check exit status 2, an ``error:`` line
and no traceback.
"""
from __future__ import annotations

import builtins
import errno
import gzip
import io
import os
import re
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError, StorageError, UntrustedFileError

from bad_input_runner import check_bad_input

DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
CASES = {}


def case(name, error=None, says=(), logged=()):
    """Register a table row: ``error`` raised (message holding ``says``) or, with ``error=None``, ``logged``."""

    def register(function):
        CASES[name] = (function, error, tuple(says), tuple(logged))
        return function

    return register


def _leftovers(folder: Path, *names):
    """Entries of ``folder`` that are hidden temporaries or one of ``names`` (what a failed write might leave)."""
    if not folder.is_dir():
        return []
    return sorted(child.name for child in folder.iterdir() if child.name.startswith(".") or child.name in names)


def _bigfile(tmp, names=("a", "b", "c"), dim=4, folder="feat"):
    from w2vvx.io import write_bigfile

    path = tmp / folder
    write_bigfile(path, list(names), np.arange(len(names) * dim, dtype=np.float32).reshape(len(names), dim))
    return path


# -- BigFile ------------------------------------------------------------------------------------------------
@case("bigfile-folder-missing", MissingFileError, says=["nofeat", "BigFile folder not found", "txt2bin"])
def _(tmp, request):
    from w2vvx.io import BigFile

    BigFile(tmp / "nofeat")


@case("bigfile-feature-truncated", DataFormatError, says=["feature.bin", "truncated", "expected 48 bytes",
                                                          "re-download"])
def _(tmp, request):
    from w2vvx.io import BigFile

    path = _bigfile(tmp)
    data = (path / "feature.bin").read_bytes()
    (path / "feature.bin").write_bytes(data[:30])
    BigFile(path)


@case("bigfile-feature-oversized", DataFormatError, says=["feature.bin", "oversized", "bytes too many"])
def _(tmp, request):
    from w2vvx.io import BigFile

    path = _bigfile(tmp)
    with open(path / "feature.bin", "ab") as handle:
        handle.write(b"\0" * 16)
    BigFile(path)


@case("bigfile-feature-empty", DataFormatError, says=["feature.bin", "truncated", "found 0"])
def _(tmp, request):
    from w2vvx.io import BigFile

    path = _bigfile(tmp)
    (path / "feature.bin").write_bytes(b"")
    BigFile(path)


@case("bigfile-shape-missing", MissingFileError, says=["shape.txt", "missing", "re-create"])
def _(tmp, request):
    from w2vvx.io import BigFile

    path = _bigfile(tmp)
    (path / "shape.txt").unlink()
    BigFile(path)


@case("bigfile-shape-malformed", DataFormatError, says=["shape.txt:1", "expected one line 'N D'", "3x4"])
def _(tmp, request):
    from w2vvx.io import BigFile

    path = _bigfile(tmp)
    (path / "shape.txt").write_text("3x4\n")
    BigFile(path)


@case("bigfile-shape-disagrees-with-ids", DataFormatError, says=["id.txt", "found 2 ids", "N=3"])
def _(tmp, request):
    from w2vvx.io import BigFile

    path = _bigfile(tmp)
    (path / "id.txt").write_text("a b\n")
    BigFile(path)


@case("bigfile-duplicate-ids", DataFormatError, says=["id.txt", "duplicate id 'a'", "de-duplicated"])
def _(tmp, request):
    from w2vvx.io import BigFile

    path = _bigfile(tmp)
    (path / "id.txt").write_text("a b a\n")
    BigFile(path)


@case("bigfile-nan-row", DataFormatError, says=["feature.bin", "row 1 (id 'b')", "NaN or Inf"])
def _(tmp, request):
    from w2vvx.io import BigFile

    path = _bigfile(tmp)
    matrix = np.fromfile(path / "feature.bin", dtype="<f4")
    matrix[5] = np.nan
    matrix.tofile(path / "feature.bin")
    BigFile(path, check_finite=True)


@case("bigfile-write-infinite-row", DataFormatError, says=["position 1 (id 'b')", "NaN or Inf"])
def _(tmp, request):
    from w2vvx.io import write_bigfile

    vectors = np.ones((2, 3), np.float32)
    vectors[1, 2] = np.inf
    try:
        write_bigfile(tmp / "out", ["a", "b"], vectors)
    finally:
        assert _leftovers(tmp, "out") == []


@case("bigfile-non-utf8-ids", logged=["not valid UTF-8", "ISO-8859-1"])
def _(tmp, request):
    from w2vvx.io import BigFile

    path = _bigfile(tmp)
    (path / "id.txt").write_bytes(b"a caf\xe9 c\n")
    assert BigFile(path).names == ["a", "café", "c"]


@case("txt2bin-inconsistent-dims", DataFormatError, says=["vec.txt:3", "found 2 values, expected 3"])
def _(tmp, request):
    from w2vvx.io import txt2bin

    (tmp / "vec.txt").write_text("a 1 2 3\nb 4 5 6\nc 7 8\n")
    try:
        txt2bin(tmp / "vec.txt", tmp / "out")
    finally:
        assert _leftovers(tmp, "out") == []


@case("txt2bin-duplicates-and-nan-rows", logged=["skipped 1 duplicate id(s) and 1 row(s) with NaN/Inf"])
def _(tmp, request):
    from w2vvx.io import txt2bin

    (tmp / "vec.txt").write_text("a 1 2\nb nan 1\na 3 4\nc 5 6\n")
    assert txt2bin(tmp / "vec.txt", tmp / "out").names == ["a", "c"]


@case("npy-with-pickled-objects", DataFormatError, says=["obj.npy", "not a plain numeric .npy"])
def _(tmp, request):
    from w2vvx.io import npy_to_bigfile

    np.save(tmp / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    try:
        npy_to_bigfile(tmp / "obj.npy", ["x", "y"], tmp / "out")
    finally:
        assert _leftovers(tmp, "out") == []


# -- captions, split files ----------------------------------------------------------------------------------
@case("caption-not-utf8", DataFormatError, says=["c.caption.txt:2", "not valid utf-8", "iconv"])
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_bytes("v1#zh#0 一只狗\n".encode() + "v1#zh#1 一只狗在草地上\n".encode("gb18030"))
    read_captions(tmp / "c.caption.txt")


@case("caption-line-without-id", DataFormatError, says=["c.caption.txt:2", "no sentence id"])
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_text("v1#enc#0 a dog\n   a cat on a mat\n")
    read_captions(tmp / "c.caption.txt")


@case("caption-line-without-sentence", DataFormatError, says=["c.caption.txt:2", "no sentence",
                                                              "'<sent_id> <sentence>'"])
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_text("v1#enc#0 a dog\nv1#enc#1\n")
    read_captions(tmp / "c.caption.txt")


@case("caption-id-without-hash", DataFormatError, says=["c.caption.txt:1", "has no '#'", "<item>#<tag>#<n>"])
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_text("a dog runs on the grass\n")
    read_captions(tmp / "c.caption.txt")


@case("caption-duplicate-sentence-id", DataFormatError, says=["c.caption.txt", "'v1#enc#0' appears twice"])
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_text("v1#enc#0 a dog\nv1#enc#0 a cat\n")
    read_captions(tmp / "c.caption.txt")


@case("caption-file-empty", DataFormatError, says=["c.caption.txt", "empty"])
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_bytes(b"\n\n")
    read_captions(tmp / "c.caption.txt")


@case("caption-gz-truncated", DataFormatError, says=["c.caption.txt.gz", "damaged or truncated", "re-download"])
def _(tmp, request):
    from w2vvx.io import read_captions

    data = gzip.compress(("".join(f"v{i}#enc#0 a dog number {i}\n" for i in range(2000))).encode())
    (tmp / "c.caption.txt.gz").write_bytes(data[: len(data) // 2])
    read_captions(tmp / "c.caption.txt.gz")


def _featurize(text):
    return {"tokens": np.array([len(text)], np.int32)}


@case("caption-item-without-feature", logged=["1 of 2 items have no visual feature and are skipped", "ghost"])
def _(tmp, request):
    from w2vvx.datasets.batching import CaptionBatchDataset
    from w2vvx.io import BigFile

    features = BigFile(_bigfile(tmp, names=("a", "b")))
    data = CaptionBatchDataset([("a", "x"), ("ghost", "y")], _featurize, features, batch_size=2)
    assert data.item_ids == ["a"]


@case("caption-items-none-with-feature", DataFormatError, says=["none of the 2 caption items", "feat",
                                                                "same collection"])
def _(tmp, request):
    from w2vvx.datasets.batching import CaptionBatchDataset
    from w2vvx.io import BigFile

    features = BigFile(_bigfile(tmp, names=("a", "b")))
    CaptionBatchDataset([("x", "x"), ("y", "y")], _featurize, features, batch_size=2)


@case("validation-item-without-feature", DataFormatError, says=["feat", "1 item ids have no row", "ghost"])
def _(tmp, request):
    from w2vvx.datasets.batching import EncodeDataset
    from w2vvx.io import BigFile

    EncodeDataset.from_features(BigFile(_bigfile(tmp)), ["a", "ghost"])


@case("split-caption-file-missing", MissingFileError, says=["toytest_zh.caption.txt", "this split has: 'de'"])
def _(tmp, request):
    from w2vvx.io import Collection, write_captions

    collection = Collection(tmp, "toy")
    write_captions(collection.caption_path("test", "de"), [("v1#de#0", "ein Hund")])
    collection.captions("test", "zh")


@case("imageset-file-missing", MissingFileError, says=["toyval.txt", "ImageSets file not found", "write_imageset"])
def _(tmp, request):
    from w2vvx.io import read_imageset

    read_imageset(tmp / "toy" / "ImageSets" / "toyval.txt")


@case("imageset-duplicate-id", DataFormatError, says=["ids.txt:3", "'img1' is listed twice (lines 1 and 3)"])
def _(tmp, request):
    from w2vvx.io import read_imageset

    (tmp / "ids.txt").write_text("img1\nimg2\nimg1\n")
    read_imageset(tmp / "ids.txt")


@case("video2frames-code-not-run", DataFormatError, says=["video2frames.txt", "not a JSON object nor a Python dict"])
def _(tmp, request):
    from w2vvx.io import read_video2frames

    marker = tmp / "pwned"
    (tmp / "video2frames.txt").write_text(
        "{'v1': ['v1_0'], 'v2': __import__('os').system('touch %s')}" % marker)
    try:
        read_video2frames(tmp / "video2frames.txt")
    finally:
        assert not marker.exists()


# -- text ---------------------------------------------------------------------------------------------------
@case("empty-sentence", logged=[])
def _(tmp, request):
    run = request.getfixturevalue("tiny_run")
    inputs = run.model.preprocessor(["", "   "], check_queries=False)
    assert not inputs["tokens"].any() and not inputs["bow_tokens"].any()
    embedding = run.model.encode_text(inputs)
    assert embedding.shape[0] == 2 and np.isfinite(embedding).all()


@case("sentence-all-out-of-vocabulary", logged=[])
def _(tmp, request):
    run = request.getfixturevalue("tiny_run")
    inputs = run.model.preprocessor(["qqzx wvvk xxjj"], check_queries=False)
    assert inputs["tokens"][0, :3].tolist() == [1, 1, 1] and not inputs["bow_tokens"].any()
    assert np.isfinite(run.model.encode_text(inputs)).all()


@case("unknown-language-tag", ConfigError, says=["unknown caption tag 'xx'", "google_enc2zh"])
def _(tmp, request):
    from w2vvx.io import Caption
    from w2vvx.training.prepare import prepare_text

    captions = [Caption(f"v{i}#xx#0", f"v{i}", "xx", 0, "un chien") for i in range(3)]
    prepare_text(captions, word_vectors={"chien": [1.0, 0.0]}, min_count=1)


@case("vocabulary-bad-count", DataFormatError, says=["vocab.txt:2", "count 'many' of word 'cat'",
                                                     "non-negative integer"])
def _(tmp, request):
    from w2vvx.text.vocabulary import Vocabulary

    (tmp / "vocab.txt").write_text("dog 5\ncat many\n")
    Vocabulary.load(tmp / "vocab.txt")


@case("vocabulary-negative-count", DataFormatError, says=["vocab.txt:1", "count '-3'"])
def _(tmp, request):
    from w2vvx.text.vocabulary import Vocabulary

    (tmp / "vocab.txt").write_text("dog -3\n")
    Vocabulary.load(tmp / "vocab.txt")


@case("word-vectors-unknown-format", DataFormatError, says=["vectors.json", "unknown word-vector format",
                                                            "pass format="])
def _(tmp, request):
    from w2vvx.text.word_vectors import load_word_vectors

    (tmp / "vectors.json").write_text('{"dog": [0.1, 0.2]}')
    load_word_vectors(tmp / "vectors.json")


@case("word-vectors-truncated", DataFormatError, says=["vec.txt", "not a valid word2vec_text",
                                                       "unexpected end of input"])
def _(tmp, request):
    from w2vvx.text.word_vectors import load_word_vectors

    (tmp / "vec.txt").write_text("5 3\ndog 0.1 0.2 0.3\n")
    load_word_vectors(tmp / "vec.txt")


@case("word-vectors-pickle-untrusted", UntrustedFileError, says=["zh.model", "pickle", "trusted=True"])
def _(tmp, request):
    from w2vvx.text.word_vectors import load_word_vectors

    (tmp / "zh.model").write_bytes(b"\x80\x04\x95" + b"\0" * 16)
    load_word_vectors(tmp / "zh.model")


# -- models and runs ----------------------------------------------------------------------------------------
def _run_copy(tmp, request, content=None):
    from w2vvx.training.trainer import load_run

    run = request.getfixturevalue("tiny_run").run_dir
    copy = tmp / "run"
    shutil.copytree(run, copy)
    if content is not None:
        content(copy / "best.keras")
    return load_run, copy


@case("keras-file-corrupt", DataFormatError, says=["best.keras", "not a Keras model file", "train again"])
def _(tmp, request):
    load_run, run = _run_copy(tmp, request, lambda path: path.write_bytes(b"<html>404 Not Found</html>"))
    load_run(run)


@case("keras-file-truncated", DataFormatError, says=["best.keras", "damaged"])
def _(tmp, request):
    def truncate(path):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    load_run, run = _run_copy(tmp, request, truncate)
    load_run(run)


@case("keras-file-foreign-zip", DataFormatError, says=["best.keras", "not a loadable Keras model"])
def _(tmp, request):
    def foreign(path):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "not a model")

    load_run, run = _run_copy(tmp, request, foreign)
    load_run(run)


@case("keras-file-foreign-model", DataFormatError, says=["best.keras", "holds a Sequential, not a Retriever"])
def _(tmp, request):
    import keras

    load_run, run = _run_copy(tmp, request, lambda path: keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2)]).save(path))
    load_run(run)


@case("feature-dim-disagrees-with-model", DataFormatError, says=["feat16", "16 dimensions",
                                                                 "trained on 12-dimensional"])
def _(tmp, request):
    from w2vvx.io import BigFile
    from w2vvx.search.encode import encode_items

    run = request.getfixturevalue("tiny_run")
    features = BigFile(_bigfile(tmp, dim=16, folder="feat16"))
    try:
        encode_items(run.model, features, tmp / "encoded")
    finally:
        assert _leftovers(tmp, "encoded") == []


@case("config-name-unknown", ConfigError, says=["unknown model config 'w2vvp'", "Did you mean 'w2vvpp'?"])
def _(tmp, request):
    from w2vvx.models import get_config

    get_config("w2vvp")


@case("ini-malformed", ConfigError, says=["common.ini:2", "expected 'key=value'"])
def _(tmp, request):
    from w2vvx.config import load_settings

    (tmp / "common.ini").write_text("rootpath=/data\nthis line is not a setting\n")
    load_settings(ini_path=tmp / "common.ini")


@case("rootpath-missing", ConfigError, says=["nowhere", "does not exist", "mkdir -p", "--rootpath"])
def _(tmp, request):
    from w2vvx.config import ensure_writable_rootpath

    ensure_writable_rootpath(tmp / "nowhere")


def _read_only(monkeypatch, folder: Path):
    """Make ``folder`` read-only; as root (where mode bits do not stop writes) also make os.access say so."""
    folder.mkdir(exist_ok=True)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        real_access = os.access

        def access(path, mode, *args, **kwargs):
            if Path(path).resolve() == folder.resolve() and mode & os.W_OK:
                return False
            return real_access(path, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)


@case("rootpath-read-only", ConfigError, says=["readonly", "read-only", "--rootpath"])
def _(tmp, request):
    from w2vvx.config import ensure_writable_rootpath

    _read_only(request.getfixturevalue("monkeypatch"), tmp / "readonly")
    try:
        ensure_writable_rootpath(tmp / "readonly")
    finally:
        (tmp / "readonly").chmod(0o755)


def _disk_full_after(monkeypatch, n_bytes: int):
    """Make Path.write_text write ``n_bytes`` and then fail as a full disk does."""
    real_write_text = Path.write_text

    def write_text(self, data, *args, **kwargs):
        real_write_text(self, data[:n_bytes], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", write_text)


@case("disk-full-writing-text", StorageError, says=["out.caption.txt", "the disk is full", "Free space"])
def _(tmp, request):
    from w2vvx.io import write_captions

    (tmp / "TextData").mkdir()
    _disk_full_after(request.getfixturevalue("monkeypatch"), 5)
    try:
        write_captions(tmp / "TextData" / "out.caption.txt", [("v1#enc#0", "a dog runs")] * 1)
    finally:
        assert sorted(os.listdir(tmp / "TextData")) == []


@case("disk-full-writing-bigfile", StorageError, says=["out", "the disk is full", "nothing was written"])
def _(tmp, request):
    from w2vvx.io import bigfile_writer, write_bigfile

    def full_disk_open(path, mode="r", *args, **kwargs):
        if str(path).endswith("feature.bin") and "w" in mode:
            return builtins.open("/dev/full", mode, buffering=0)
        return builtins.open(path, mode, *args, **kwargs)

    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full (a device that is always full) is not available")
    request.getfixturevalue("monkeypatch").setattr(bigfile_writer, "open", full_disk_open, raising=False)
    try:
        write_bigfile(tmp / "out", [f"i{k}" for k in range(100)], np.ones((100, 64), np.float32))
    finally:
        assert _leftovers(tmp, "out") == []


@case("ann-index-part-missing", MissingFileError, says=["meta.json", "ANN index folder lacks meta.json"])
def _(tmp, request):
    from w2vvx.search.ann import ANNIndex

    (tmp / "index").mkdir()
    (tmp / "index" / "index.bin").write_bytes(b"")
    (tmp / "index" / "id.txt").write_text("a\n")
    ANNIndex.load(tmp / "index")


@case("archive-truncated", DataFormatError, says=["release.tar.gz", "damaged or truncated", "re-download"])
def _(tmp, request):
    from w2vvx.io.archives import extract_archive

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        payload = os.urandom(200_000)
        info = tarfile.TarInfo("data/feature.bin")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    (tmp / "release.tar.gz").write_bytes(buffer.getvalue()[:50_000])
    try:
        extract_archive(tmp / "release.tar.gz", tmp / "release")
    finally:
        assert _leftovers(tmp, "release") == []


@case("archive-path-traversal", UntrustedFileError, says=["evil.zip", "'../outside.txt'", "refusing"])
def _(tmp, request):
    from w2vvx.io.archives import extract_archive

    with zipfile.ZipFile(tmp / "evil.zip", "w") as archive:
        archive.writestr("../outside.txt", "owned")
    try:
        extract_archive(tmp / "evil.zip", tmp / "out")
    finally:
        assert not (tmp / "outside.txt").exists() and _leftovers(tmp, "out") == []


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run folder (config.json, best.keras) of an untrained tiny model with 12-d visual input."""
    from w2vvx.models import get_config
    from w2vvx.training.checkpoint import save_best_model
    from w2vvx.training.prepare import prepare_text
    from w2vvx.training.trainer import CONFIG_FILE, build_compiled_model, load_run

    run_dir = tmp_path_factory.mktemp("tiny_run")
    captions = [(f"img{i}", "a dog runs on the grass") for i in range(5)]
    prepared = prepare_text(captions, word_vectors={"dog": [1.0] * 8, "grass": [0.5] * 8}, min_count=1)
    config = get_config("base_w2vv", gru_units=8, embed_dim=8, w2v_dim=8, text_mlp=(16,), vocab_min_count=1)
    config.save(run_dir / CONFIG_FILE)
    save_best_model(run_dir, build_compiled_model(config, prepared.preprocessor(), visual_dim=12,
                                                  word_vectors=prepared.initial_word_vectors()))
    return load_run(run_dir)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, tmp_path, request, caplog):
    check_bad_input(CASES, name, tmp_path, request, caplog)


# -- the command line ---------------------------------------------------------------------------------------
def _cli(argv, capsys):
    from w2vvx.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    captured = capsys.readouterr()
    return info.value.code, captured.out + captured.err


CLI_CASES = {}


def cli_case(name, says):
    def register(function):
        CLI_CASES[name] = (function, says)
        return function

    return register


@cli_case("cli-collection-missing", says=["nosuch", "no collection 'nosuch' under the rootpath", "--collection"])
def _(tmp, request):
    return ["--rootpath", str(tmp), "vocab", "--collection", "nosuch"]


@cli_case("cli-config-unknown", says=["unknown model config 'base_w2v'", "Did you mean 'base_w2vv'?"])
def _(tmp, request):
    return ["--rootpath", str(tmp), "train", "base_w2v", "--collection", "toy"]


@cli_case("cli-rootpath-read-only", says=["read-only", "--rootpath"])
def _(tmp, request):
    _read_only(request.getfixturevalue("monkeypatch"), tmp / "readonly")
    return ["--rootpath", str(tmp / "readonly"), "generate", "--scale", "tiny", "--feature-dim", "8"]


@cli_case("cli-rootpath-missing", says=["does not exist", "mkdir -p"])
def _(tmp, request):
    return ["--rootpath", str(tmp / "nowhere"), "generate", "--scale", "tiny", "--feature-dim", "8"]


@cli_case("cli-keras-file-corrupt", says=["best.keras", "not a Keras model file"])
def _(tmp, request):
    run = tmp / "run"
    shutil.copytree(request.getfixturevalue("tiny_run").run_dir, run)
    (run / "best.keras").write_bytes(b"PK\x03\x04 truncated download")
    return ["search", str(run), "a", "dog"]


@cli_case("cli-disk-full", says=["the disk is full", "word_vocab_1.txt"])
def _(tmp, request):
    from w2vvx.io import Collection, write_captions

    collection = Collection(tmp, "toy")
    write_captions(collection.caption_path("train"), [(f"v{i}#enc#0", "a dog runs") for i in range(3)])
    _disk_full_after(request.getfixturevalue("monkeypatch"), 3)
    return ["--rootpath", str(tmp), "vocab", "--collection", "toy", "--min-count", "1", "--out", str(tmp / "voc")]


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_cli_bad_input(name, tmp_path, request, capsys):
    function, says = CLI_CASES[name]
    argv = function(tmp_path, request)
    try:
        code, output = _cli(argv, capsys)
    finally:
        for folder in (tmp_path / "readonly",):
            if folder.exists():
                folder.chmod(0o755)
    assert code == 2, output
    assert "error:" in output and "Traceback" not in output, output
    for text in says:
        assert text in output, f"{name}: {text!r} missing from {output!r}"
    if name == "cli-disk-full":
        assert not (tmp_path / "voc").exists() or _leftovers(tmp_path / "voc") == []


# -- the table and the tests agree --------------------------------------------------------------------------
def _documented_cases():
    rows = re.findall(r"^\|\s*`([a-z0-9-]+)`\s*\|", DOCS.read_text(encoding="utf-8"), flags=re.M)
    return rows


def test_every_documented_case_has_a_test_and_back():
    from test_bad_inputs_2 import CASES as CASES_2  # the second table (issue 13)
    from test_bad_inputs_3 import CASES as CASES_3  # the third table (issue 23)

    documented = _documented_cases()
    assert len(documented) == len(set(documented)), "a case id appears twice in docs/errors.md"
    assert not set(CASES_2) & (set(CASES) | set(CLI_CASES)), "a case id is tested in both files"
    assert not set(CASES_3) & (set(CASES) | set(CLI_CASES) | set(CASES_2)), "a case id is tested in two files"
    tested = set(CASES) | set(CLI_CASES) | set(CASES_2) | set(CASES_3)
    assert set(documented) == tested, (f"in docs only: {sorted(set(documented) - tested)}; "
                                       f"tested only: {sorted(tested - set(documented))}")
    assert len(documented) >= 100
