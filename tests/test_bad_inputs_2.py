"""Bad inputs of issue 13 (docs/errors.md, second part): one test per table row.

Run folders shared by two processes or resumed on other data, NaN rows, byte-order marks, CR-only and
UTF-16 text, tiny validation splits, signals, group permissions. As in tests/test_bad_inputs.py, a case
either raises a w2vvx error whose message holds the documented words, or (``error=None``) performs a
documented handling, which the case function checks itself (and ``logged`` lines appear in the log).
"""
from __future__ import annotations

import inspect
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from w2vvx.errors import ConfigError, DataFormatError, ProvenanceError, RunLockedError

from bad_input_runner import check_bad_input

CASES = {}
DIM = 6
WORDS = ["red", "blue", "green", "dog", "cat", "bird", "ball", "tree"]


def case(name, error=None, says=(), logged=()):
    def register(function):
        CASES[name] = (function, error, tuple(says), tuple(logged))
        return function

    return register


# -- a tiny collection and a trained run (module fixtures) --------------------------------------------------
def _write_collection(root: Path, n_train: int = 16, n_val: int = 10, seed: int = 0):
    from w2vvx.io import write_bigfile, write_captions

    rng = np.random.default_rng(seed)
    names, rows, lines = [], [], {"train": [], "val": []}
    for split, count in (("train", n_train), ("val", n_val)):
        for number in range(count):
            item = f"{split}{number:02d}"
            names.append(item)
            rows.append(rng.normal(size=DIM))
            for index in range(2):
                words = rng.choice(WORDS, size=3)
                lines[split].append((f"{item}#enc#{index}", " ".join(words)))
    write_bigfile(root / "feat", names, np.asarray(rows, np.float32))
    write_captions(root / "train.caption.txt", lines["train"])
    write_captions(root / "val.caption.txt", lines["val"])
    return root


def _config():
    from w2vvx.models import get_config

    return get_config("base_w2vv", gru_units=4, embed_dim=4, w2v_dim=4, text_mlp=(8,), batch_size=8, max_epochs=1,
                      vocab_min_count=1)


def _word_vectors():
    rng = np.random.default_rng(1)
    return {word: rng.normal(size=4).astype(np.float32) for word in WORDS}


def _trainer(collection: Path, run_dir: Path, features=None, train=None, val=None, **kwargs):
    from w2vvx.io import BigFile, read_captions
    from w2vvx.training import Trainer

    return Trainer(_config(), run_dir, train if train is not None else read_captions(collection / "train.caption.txt"),
                   features if features is not None else BigFile(collection / "feat"),
                   val if val is not None else read_captions(collection / "val.caption.txt"),
                   word_vectors=_word_vectors(), verbose=0, tensorboard=False, **kwargs)


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return _write_collection(tmp_path_factory.mktemp("collection"))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, collection):
    """A run folder trained one epoch (config.json, checkpoints/, best.keras, provenance.json)."""
    run_dir = tmp_path_factory.mktemp("runs") / "a"
    result = _trainer(collection, run_dir).fit()
    assert result.epochs_done == 1 and (run_dir / "best.keras").is_file()
    return run_dir


def _copy_run(request, tmp: Path, name: str = "copy") -> Path:
    target = tmp / name
    shutil.copytree(request.getfixturevalue("trained_run"), target)
    return target


def _other_features(tmp: Path, collection: Path, seed: int = 5, nan_item=None) -> Path:
    """A BigFile with the same ids and dimension as the collection's, other values (NaN in ``nan_item``, written
    into feature.bin the way a foreign conversion would: w2vvx's writers refuse NaN rows)."""
    from w2vvx.io import BigFile, write_bigfile

    original = BigFile(collection / "feat")
    values = np.random.default_rng(seed).normal(size=original.shape).astype(np.float32)
    write_bigfile(tmp / "feat2", original.names, values)
    if nan_item is not None:
        values[original.index(nan_item), 2] = np.nan
        values.astype("<f4").tofile(tmp / "feat2" / "feature.bin")
    return tmp / "feat2"


# -- run folders: one training at a time ----------------------------------------------------------------------
@case("run-dir-busy", RunLockedError, says=["another training is using this run folder", f"pid {os.getpid()} on host",
                                            "--run-dir"])
def _(tmp, request):
    from w2vvx.training.run_dir import RunDirLock

    collection = request.getfixturevalue("collection")
    with RunDirLock(tmp / "run"):
        _trainer(collection, tmp / "run").fit()


@case("run-dir-busy-resume", RunLockedError, says=["another training is using this run folder", "command:"])
def _(tmp, request):
    from w2vvx.training.run_dir import RunDirLock

    run = _copy_run(request, tmp)
    with RunDirLock(run):
        _trainer(request.getfixturevalue("collection"), run).fit(resume=True)


@case("run-dir-lock-of-killed-process")
def _(tmp, request):
    from w2vvx.training.run_dir import RunDirLock

    script = ("import sys, time; from w2vvx.training.run_dir import RunDirLock; "
              "lock = RunDirLock(sys.argv[1]).acquire(); print('LOCKED', flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", script, str(tmp / "run")], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} "):
            RunDirLock(tmp / "run").acquire()
    finally:
        holder.kill()  # kill -9: no clean-up runs, the lock file stays, the OS lock goes with the process
        holder.wait(timeout=60)
    assert (tmp / "run" / "run.lock").exists()
    with RunDirLock(tmp / "run") as lock:
        assert lock.held


@case("checkpoint-temporary-of-live-writer")
def _(tmp, request):
    from w2vvx.io.atomic import _HOST
    from w2vvx.training.checkpoint import remove_stale_temporaries

    checkpoints = tmp / "run" / "checkpoints"
    live = checkpoints / f".epoch-0002.{_HOST}-{os.getpid()}-abc.tmp"
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
    dead = checkpoints / f".epoch-0002.{_HOST}-{dead_pid}-abc.tmp"
    for folder in (live, dead):
        folder.mkdir(parents=True)
        (folder / "model.npz").write_bytes(b"partial")
    remove_stale_temporaries(tmp / "run")
    assert live.is_dir() and not dead.exists()


# -- provenance: resume, load and search on the data the run was trained on ---------------------------------------
@case("resume-other-captions", ProvenanceError, says=["trained on other data", "training captions: 32 captions",
                                                      "(given now)", "start a new run folder"])
def _(tmp, request):
    from w2vvx.io import read_captions

    collection = request.getfixturevalue("collection")
    run = _copy_run(request, tmp)
    train = read_captions(collection / "train.caption.txt")[:-4]  # another caption variant / file
    _trainer(collection, run, train=train, max_epochs=2).fit(resume=True)


@case("resume-other-validation-captions", ProvenanceError, says=["validation captions: 20 captions"])
def _(tmp, request):
    from w2vvx.io import read_captions

    collection = request.getfixturevalue("collection")
    run = _copy_run(request, tmp)
    val = [c._replace(text=c.text + " red") for c in read_captions(collection / "val.caption.txt")]
    _trainer(collection, run, val=val, max_epochs=2).fit(resume=True)


@case("resume-other-features", ProvenanceError, says=["training features: BigFile 'feat' of shape (26, 6)",
                                                      "BigFile 'feat2' of shape (26, 6)"])
def _(tmp, request):
    from w2vvx.io import BigFile

    collection = request.getfixturevalue("collection")
    run = _copy_run(request, tmp)
    features = BigFile(_other_features(tmp, collection))  # same ids and dimension, other values
    _trainer(collection, run, features=features, max_epochs=2).fit(resume=True)


@case("resume-same-data-copied-run")
def _(tmp, request):
    collection = request.getfixturevalue("collection")
    run = _copy_run(request, tmp)  # a copied folder (other path, new mtimes) resumes on the same data
    result = _trainer(collection, run, max_epochs=1).fit(resume=True)
    assert result.epochs_done == 1 and not result.interrupted


@case("best-model-from-another-run", ProvenanceError, says=["best.keras", "copied from another run",
                                                            "do not belong together"])
def _(tmp, request):
    from w2vvx.training.trainer import build_compiled_model, load_run

    run = _copy_run(request, tmp)
    loaded = load_run(run)
    other = build_compiled_model(loaded.config.replace(text_mlp=(6,)), loaded.model.preprocessor, visual_dim=DIM)
    other.save(tmp / "other.keras")
    shutil.copyfile(tmp / "other.keras", run / "best.keras")
    load_run(run)


@case("vocabulary-rebuilt-differs-on-resume", ProvenanceError,
      says=["gru_vocab.txt", "built again from the training captions differ", "words would map to other words"])
def _(tmp, request):
    import json

    run = _copy_run(request, tmp)  # as if the tokenizers had changed since the run started
    record = json.loads((run / "provenance.json").read_text(encoding="utf-8"))
    record["vocabularies"]["gru_vocab.txt"]["sha256"] = "0" * 64
    (run / "provenance.json").write_text(json.dumps(record), encoding="utf-8")
    _trainer(request.getfixturevalue("collection"), run, max_epochs=2).fit(resume=True)


@case("vocabulary-of-another-run", ProvenanceError, says=["the vocabulary of best.keras", "gru_vocab.txt",
                                                          "do not belong together"])
def _(tmp, request):
    import json

    from w2vvx.training.trainer import load_run

    run = _copy_run(request, tmp)
    record = json.loads((run / "provenance.json").read_text(encoding="utf-8"))
    record["vocabularies"]["gru_vocab.txt"]["count"] += 1
    (run / "provenance.json").write_text(json.dumps(record), encoding="utf-8")
    load_run(run)


@case("provenance-file-damaged", ProvenanceError, says=["provenance.json", "not valid JSON"])
def _(tmp, request):
    from w2vvx.training.trainer import load_run

    run = _copy_run(request, tmp)
    (run / "provenance.json").write_text("{truncated", encoding="utf-8")
    load_run(run)


@case("json-file-not-an-object", DataFormatError, says=["config.json", "expected a JSON object, found a JSON list",
                                                        "ModelConfig.save"])
def _(tmp, request):
    from w2vvx.models import ModelConfig

    (tmp / "config.json").write_text("[1, 2]", encoding="utf-8")
    ModelConfig.load(tmp / "config.json")


@case("search-index-encoded-by-other-run", ProvenanceError, says=["encoded by the model of run 'a'",
                                                                  "w2vvx encode"])
def _(tmp, request):
    from w2vvx.io import write_bigfile
    from w2vvx.training.run_dir import check_encoding, read_provenance, record_encoding, write_provenance

    run_a = request.getfixturevalue("trained_run")
    write_bigfile(tmp / "index", ["x", "y"], np.eye(2, 4, dtype=np.float32))
    record_encoding(tmp / "index", run_a)
    run_b = _copy_run(request, tmp, "b")
    record = read_provenance(run_b)
    record.pop("format")
    record["best_model"] = {**record["best_model"], "sha256": "f" * 64}  # run b saved another model
    write_provenance(run_b, record)
    check_encoding(tmp / "index", run_b)


@case("search-index-without-encoder-record", logged=["does not say which model encoded it"])
def _(tmp, request):
    from w2vvx.io import write_bigfile
    from w2vvx.training.run_dir import check_encoding

    write_bigfile(tmp / "index", ["x"], np.ones((1, 4), np.float32))
    check_encoding(tmp / "index", request.getfixturevalue("trained_run"))


@case("evaluate-with-other-feature-type", logged=["trained on features 'feat'", "'feat2'", "--feature feat"])
def _(tmp, request):
    from w2vvx.io import BigFile
    from w2vvx.training.run_dir import check_features_for_run

    features = BigFile(_other_features(tmp, request.getfixturevalue("collection")))
    check_features_for_run(request.getfixturevalue("trained_run"), features)


# -- empty paths and settings -------------------------------------------------------------------------------
@case("rootpath-empty", ConfigError, says=["rootpath given (--rootpath) is empty", "never taken to mean the default"])
def _(tmp, request):
    from w2vvx.config import load_settings

    load_settings(rootpath="", environ={"HOME": str(tmp)})


@case("rootpath-environment-empty", ConfigError, says=["W2VVX_ROOTPATH is set but empty", "unset W2VVX_ROOTPATH"])
def _(tmp, request):
    from w2vvx.config import load_settings

    load_settings(environ={"HOME": str(tmp), "W2VVX_ROOTPATH": " "})


@case("rootpath-ini-empty", ConfigError, says=["common.ini", "rootpath= is empty"])
def _(tmp, request):
    from w2vvx.config import load_settings

    (tmp / "common.ini").write_text("rootpath=\n", encoding="utf-8")
    load_settings(ini_path=tmp / "common.ini", environ={"HOME": str(tmp)})


@case("cli-rootpath-empty")
def _(tmp, request):
    from w2vvx.cli import main

    home = tmp / "home"
    (home / "VisualSearch").mkdir(parents=True)
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("W2VVX_ROOTPATH", raising=False)
    capsys = request.getfixturevalue("capsys")
    with pytest.raises(SystemExit) as info:
        main(["--rootpath", "", "generate", "--scale", "tiny", "--feature-dim", "8", "--overwrite"])
    output = capsys.readouterr()
    assert info.value.code == 2 and "rootpath given (--rootpath) is empty" in output.err
    assert list((home / "VisualSearch").iterdir()) == []  # nothing generated in $HOME/VisualSearch


@case("keras-backend-unknown", ConfigError, says=["KERAS_BACKEND='bogus'", "tensorflow, torch or jax"])
def _(tmp, request):
    from w2vvx.config import check_keras_backend

    check_keras_backend({"KERAS_BACKEND": "bogus"})


@case("cli-keras-backend-unknown")
def _(tmp, request):
    env = {**os.environ, "KERAS_BACKEND": "bogus", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "w2vvx.cli", "env"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "KERAS_BACKEND='bogus' names no Keras backend" in done.stderr, done.stderr[-2000:]
    assert "Unable to import backend" not in done.stderr


# -- NaN and Inf ------------------------------------------------------------------------------------------------
@case("training-feature-nan-row", DataFormatError, says=["feat2/feature.bin", "id 'train03'", "NaN or Inf"])
def _(tmp, request):
    from w2vvx.io import BigFile

    collection = request.getfixturevalue("collection")
    features = BigFile(_other_features(tmp, collection, nan_item="train03"))
    try:
        _trainer(collection, tmp / "run", features=features).fit()
    finally:
        assert not (tmp / "run" / "checkpoints").exists()  # refused before the first batch


@case("validation-feature-nan-row", DataFormatError, says=["feature.bin", "id 'val04'", "NaN or Inf"])
def _(tmp, request):
    from w2vvx.io import BigFile

    collection = request.getfixturevalue("collection")
    val_features = BigFile(_other_features(tmp, collection, nan_item="val04"))
    _trainer(collection, tmp / "run", val_features=val_features).fit()


@case("evaluation-feature-nan-row", DataFormatError, says=["feat2/feature.bin", "id 'val01'", "NaN or Inf"])
def _(tmp, request):
    from w2vvx.io import BigFile

    features = BigFile(_other_features(tmp, request.getfixturevalue("collection"), nan_item="val01"))
    features.check_finite([f"val{i:02d}" for i in range(10)])  # what evaluate/encode/search run first


@case("imageset-id-without-feature", DataFormatError, says=["toytest.txt", "1 of 3 ids listed here", "'ghost'",
                                                            "feat/id.txt"])
def _(tmp, request):
    from w2vvx.io import BigFile
    from w2vvx.io.imagesets import read_imageset, write_imageset

    write_imageset(tmp / "ImageSets" / "toytest.txt", ["val00", "ghost", "val01"])
    features = BigFile(request.getfixturevalue("collection") / "feat")
    features.require(read_imageset(tmp / "ImageSets" / "toytest.txt"), source=tmp / "ImageSets" / "toytest.txt")


@case("search-nan-query", DataFormatError, says=["query 1", "NaN or Inf"])
def _(tmp, request):
    from w2vvx.search.brute_force import search

    search(np.array([[1.0, 0.0], [np.nan, 1.0]]), np.eye(2, dtype=np.float32), k=2)


@case("search-nan-gallery-row", DataFormatError, says=["gallery row 2 (id 'c')", "NaN or Inf", "w2vvx encode"])
def _(tmp, request):
    from w2vvx.search.brute_force import search

    gallery = np.eye(4, 3, dtype=np.float32)
    gallery[2, 1] = np.nan
    search(np.ones((1, 3)), gallery, k=2, gallery_ids=["a", "b", "c", "d"])


@case("search-index-nan-row", DataFormatError, says=["index/feature.bin", "(id 'y')", "NaN or Inf"])
def _(tmp, request):
    from w2vvx.search.brute_force import BruteForceIndex

    vectors = np.eye(3, dtype=np.float32)
    BruteForceIndex(vectors, ids=["x", "y", "z"]).save(tmp / "index")
    with open(tmp / "index" / "feature.bin", "r+b") as handle:  # a NaN row from another tool's conversion
        handle.seek(3 * 4)
        handle.write(np.float32(np.nan).tobytes())
    BruteForceIndex.load(tmp / "index").search(np.ones(3), k=3)


@case("search-score-overflow", DataFormatError, says=["overflow float32", "L2-normalise"])
def _(tmp, request):
    from w2vvx.search.brute_force import search

    kwargs = {"metric": "ip"} if "metric" in inspect.signature(search).parameters else {}
    search(np.full((1, 2), 3e38), np.full((2, 2), 3e38, dtype=np.float32), k=1, **kwargs)  # raw inner product


@case("search-results-always-valid")
def _(tmp, request):
    from w2vvx.search.brute_force import search

    gallery = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    indices, scores = search(np.random.default_rng(1).normal(size=(3, 4)), gallery, k=60, chunk_rows=7)
    assert indices.shape == (3, 50) and (indices >= 0).all() and np.isfinite(scores).all()
    assert all(len(set(row)) == 50 for row in indices.tolist())


@case("ann-nan-row", DataFormatError, says=["vectors row 1", "NaN or Inf"])
def _(tmp, request):
    from w2vvx.search.ann import ANNIndex, available_backends

    if not available_backends():
        pytest.skip("no ANN backend installed")
    vectors = np.eye(4, dtype=np.float32)
    vectors[1, 0] = np.nan
    ANNIndex(4, metric="cos", kind="hnsw").build(vectors, ["a", "b", "c", "d"])


@case("ann-nan-query", DataFormatError, says=["queries row 0", "NaN or Inf"])
def _(tmp, request):
    from w2vvx.search.ann import ANNIndex, available_backends

    if not available_backends():
        pytest.skip("no ANN backend installed")
    index = ANNIndex(4, metric="cos", kind="hnsw").build(np.eye(4, dtype=np.float32), ["a", "b", "c", "d"])
    index.search(np.array([np.nan, 1, 0, 0]), k=2)


@case("ann-usearch-one-query")
def _(tmp, request):
    pytest.importorskip("usearch")
    from w2vvx.search.ann import ANNIndex

    vectors = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    index = ANNIndex(8, metric="cos", backend="usearch").build(vectors, [f"v{i}" for i in range(40)])
    ids, scores = index.search(vectors[3], k=5)  # one (D,) query: usearch answers with Matches, not BatchMatches
    assert ids.shape == (1, 5) and ids[0, 0] == "v3" and np.isfinite(scores).all()
    many, _ = index.search(vectors[3:5], k=5)
    assert many[0].tolist() == ids[0].tolist()


@case("ann-index-file-truncated", DataFormatError, says=["index.bin", "truncated, damaged", "build and save the index"])
def _(tmp, request):
    from w2vvx.search.ann import ANNIndex, available_backends

    if not available_backends():
        pytest.skip("no ANN backend installed")
    vectors = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    ANNIndex(8, metric="cos", kind="hnsw").build(vectors, [f"v{i}" for i in range(50)]).save(tmp / "index")
    data = (tmp / "index" / "index.bin").read_bytes()
    (tmp / "index" / "index.bin").write_bytes(data[: len(data) // 2])
    ANNIndex.load(tmp / "index")


@case("ann-index-file-foreign", DataFormatError, says=["index.bin", "cannot read this"])
def _(tmp, request):
    from w2vvx.search.ann import ANNIndex, available_backends

    if not available_backends():
        pytest.skip("no ANN backend installed")
    vectors = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    ANNIndex(8, metric="cos", kind="hnsw").build(vectors, [f"v{i}" for i in range(50)]).save(tmp / "index")
    (tmp / "index" / "index.bin").write_bytes(b"<html>404 Not Found</html>" * 10)
    ANNIndex.load(tmp / "index")


# -- encodings: byte-order marks, CR-only lines, UTF-16 ------------------------------------------------------------
CAPTIONS = "a.jpg#enc#0 a red dog\nb#enc#0 a blue cat\nc#enc#0 one green bird\n"


@case("caption-utf8-bom")
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_bytes(b"\xef\xbb\xbf" + CAPTIONS.encode())
    captions = read_captions(tmp / "c.caption.txt")
    assert [c.item_id for c in captions] == ["a", "b", "c"] and captions[0].sent_id == "a.jpg#enc#0"


@case("caption-bom-inside-file")
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_bytes(b"a#enc#0 x\n\xef\xbb\xbfb#enc#0 y\n")  # `cat` of two files with BOMs
    assert [c.item_id for c in read_captions(tmp / "c.caption.txt")] == ["a", "b"]


@case("caption-cr-only-lines")
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_bytes(CAPTIONS.replace("\n", "\r").encode())
    captions = read_captions(tmp / "c.caption.txt")
    assert [c.text for c in captions] == ["a red dog", "a blue cat", "one green bird"]


@case("caption-crlf-lines")
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_bytes(CAPTIONS.replace("\n", "\r\n").encode())
    assert [c.text for c in read_captions(tmp / "c.caption.txt")][-1] == "one green bird"


@case("caption-cr-only-error-line", DataFormatError, says=["c.caption.txt:2", "no sentence"])
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_bytes(b"a#enc#0 x\rb#enc#0\rc#enc#0 z\r")
    read_captions(tmp / "c.caption.txt")


@case("caption-utf16", DataFormatError, says=["c.caption.txt", "UTF-16 little-endian", "iconv -f UTF-16 -t UTF-8"])
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_bytes(CAPTIONS.encode("utf-16"))
    read_captions(tmp / "c.caption.txt")


@case("caption-utf16-without-bom", DataFormatError, says=["c.caption.txt", "UTF-16", "iconv"])
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_bytes(CAPTIONS.encode("utf-16-le"))
    read_captions(tmp / "c.caption.txt")


@case("caption-utf32", DataFormatError, says=["c.caption.txt", "UTF-32", "iconv -f UTF-32"])
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_bytes(CAPTIONS.encode("utf-32"))
    read_captions(tmp / "c.caption.txt")


@case("sentences-utf8-bom")
def _(tmp, request):
    from w2vvx.io.captions import read_sentences

    (tmp / "train.de").write_bytes("\ufeffein Hund\nzwei Katzen\n".encode())
    assert read_sentences(tmp / "train.de") == ["ein Hund", "zwei Katzen"]


@case("sentences-cr-only-lines")
def _(tmp, request):
    from w2vvx.io.captions import read_sentences

    (tmp / "train.de").write_bytes(b"ein Hund\r\rzwei Katzen\r")
    assert read_sentences(tmp / "train.de") == ["ein Hund", "", "zwei Katzen"]  # the blank line keeps alignment


@case("sentences-utf16", DataFormatError, says=["train.de", "UTF-16", "iconv"])
def _(tmp, request):
    from w2vvx.io.captions import read_sentences

    (tmp / "train.de").write_bytes("ein Hund\n".encode("utf-16"))
    read_sentences(tmp / "train.de")


@case("imageset-utf8-bom")
def _(tmp, request):
    from w2vvx.io.imagesets import read_imageset

    (tmp / "split.txt").write_bytes(b"\xef\xbb\xbfimg1\nimg2\n")
    assert read_imageset(tmp / "split.txt") == ["img1", "img2"]


@case("imageset-cr-only-lines")
def _(tmp, request):
    from w2vvx.io.imagesets import read_imageset

    (tmp / "split.txt").write_bytes(b"img1\rimg2\rimg3")
    assert read_imageset(tmp / "split.txt") == ["img1", "img2", "img3"]


@case("imageset-utf16", DataFormatError, says=["split.txt", "UTF-16", "iconv"])
def _(tmp, request):
    from w2vvx.io.imagesets import read_imageset

    (tmp / "split.txt").write_bytes("img1\nimg2\n".encode("utf-16"))
    read_imageset(tmp / "split.txt")


@case("vocabulary-cr-only-lines")
def _(tmp, request):
    from w2vvx.text.vocabulary import Vocabulary

    (tmp / "vocab.txt").write_bytes(b"\xef\xbb\xbfdog 3\rcat 2\rball 1\r")
    vocab = Vocabulary.load(tmp / "vocab.txt")
    assert [vocab.word(i) for i in range(len(vocab))][-3:] == ["dog", "cat", "ball"]


@case("vocabulary-utf16", DataFormatError, says=["vocab.txt", "UTF-16", "iconv"])
def _(tmp, request):
    from w2vvx.text.vocabulary import Vocabulary

    (tmp / "vocab.txt").write_bytes("dog 3\ncat 2\n".encode("utf-16"))
    Vocabulary.load(tmp / "vocab.txt")


@case("bigfile-ids-utf8-bom")
def _(tmp, request):
    from w2vvx.io import BigFile, write_bigfile

    write_bigfile(tmp / "feat", ["synth000000", "synth000001"], np.eye(2, dtype=np.float32))
    (tmp / "feat" / "id.txt").write_bytes(b"\xef\xbb\xbf" + (tmp / "feat" / "id.txt").read_bytes())
    features = BigFile(tmp / "feat")
    assert features.names[0] == "synth000000" and "synth000000" in features


@case("bigfile-ids-utf16", DataFormatError, says=["id.txt", "UTF-16", "iconv"])
def _(tmp, request):
    from w2vvx.io import BigFile, write_bigfile

    write_bigfile(tmp / "feat", ["a", "b"], np.eye(2, dtype=np.float32))
    (tmp / "feat" / "id.txt").write_bytes("a b\n".encode("utf-16"))
    BigFile(tmp / "feat")


@case("caption-ids-with-extension-meet-features")
def _(tmp, request):
    from w2vvx.datasets.batching import CaptionBatchDataset
    from w2vvx.io import BigFile, read_captions, write_bigfile
    from w2vvx.training.prepare import prepare_text

    write_bigfile(tmp / "feat", ["a", "b", "c"], np.eye(3, dtype=np.float32))  # keyed as in the lineage
    (tmp / "c.caption.txt").write_text("a.jpg#enc#0 a red dog\nb.mp4#enc#0 a blue cat\nc#enc#0 one green bird\n",
                                       encoding="utf-8")
    captions = read_captions(tmp / "c.caption.txt")  # 'a.jpg#enc#0' -> item 'a'
    assert [c.item_id for c in captions] == ["a", "b", "c"]
    prepared = prepare_text(captions, word_vectors=_word_vectors(), min_count=1)
    CaptionBatchDataset(captions, prepared.preprocessor(), BigFile(tmp / "feat"), batch_size=3)
    assert "no visual feature" not in request.getfixturevalue("caplog").text  # every caption found its item


@case("caption-ids-keep-extension")
def _(tmp, request):
    from w2vvx.io import read_captions

    (tmp / "c.caption.txt").write_text(CAPTIONS, encoding="utf-8")
    assert read_captions(tmp / "c.caption.txt", keep_extension=True)[0].item_id == "a.jpg"


# -- validation split, word vectors, hints, permissions --------------------------------------------------------
@case("validation-split-too-small", ConfigError, says=["validation split has 1 item(s)", "meaningless",
                                                        "min_val_items="])
def _(tmp, request):
    from w2vvx.io import read_captions

    collection = request.getfixturevalue("collection")
    val = [c for c in read_captions(collection / "val.caption.txt") if c.item_id == "val00"]
    _trainer(collection, tmp / "run", val=val)


@case("validation-split-small-accepted-knowingly")
def _(tmp, request):
    from w2vvx.io import read_captions

    collection = request.getfixturevalue("collection")
    val = [c for c in read_captions(collection / "val.caption.txt") if c.item_id in ("val00", "val01", "val02")]
    with pytest.raises(ConfigError, match="at least 2"):
        _trainer(collection, tmp / "run", val=val[:2], min_val_items=1)
    trainer = _trainer(collection, tmp / "run", val=val, min_val_items=3)
    assert trainer.val_items == ["val00", "val01", "val02"]


@case("glove-token-with-spaces", DataFormatError, says=["glove.txt:2", "the word itself holds spaces", "awk 'NF==4'"])
def _(tmp, request):
    from w2vvx.text.word_vectors import load_word_vectors

    (tmp / "glove.txt").write_text("the 0.1 0.2 0.3\n. . . 0.1 0.2 0.3\ncat 0.3 0.2 0.1\n", encoding="utf-8")
    load_word_vectors(tmp / "glove.txt", format="glove")


@case("word2vec-text-value-not-a-number", DataFormatError, says=["vec.txt:3", "'oops' is not a number"])
def _(tmp, request):
    from w2vvx.text.word_vectors import load_word_vectors

    (tmp / "vec.txt").write_text("2 3\nthe 0.1 0.2 0.3\ncat 0.3 oops 0.1\n", encoding="utf-8")
    load_word_vectors(tmp / "vec.txt", format="word2vec_text")


@case("hint-names-an-existing-command")
def _(tmp, request):
    import click

    from w2vvx.cli import cli

    commands = set(cli.list_commands(click.Context(cli)))  # built-in commands and installed plugins
    # `w2vvx recipe` comes from the recipes' w2vvx.cli_plugins entry point, which an install of the package
    # declares (setup.py); without that declaration `w2vvx recipe` is missing from the installed command
    commands.add("recipe")
    package = Path(__file__).resolve().parents[1] / "w2vvx"
    named = set()
    for path in package.rglob("*.py"):
        named |= set(re.findall(r"`w2vvx ([a-z][a-z0-9-]*)", path.read_text(encoding="utf-8")))
    assert named, "expected some messages that recommend a w2vvx command"
    assert named <= commands, f"messages recommend commands that do not exist: {sorted(named - commands)}"


@case("outputs-readable-by-the-group")
def _(tmp, request):
    from w2vvx.io import write_bigfile, write_captions

    previous = os.umask(0o002)
    try:
        write_captions(tmp / "c.caption.txt", [("a#0", "a dog")])
        write_bigfile(tmp / "feat", ["a"], np.ones((1, 2), np.float32))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp / "c.caption.txt").stat().st_mode) == 0o664  # mkstemp alone gives 0600
    assert stat.S_IMODE((tmp / "feat").stat().st_mode) == 0o775  # mkdtemp alone gives 0700
    assert stat.S_IMODE((tmp / "feat" / "feature.bin").stat().st_mode) == 0o664


@case("outputs-private-under-umask-077")
def _(tmp, request):
    from w2vvx.io import write_captions

    previous = os.umask(0o077)
    try:
        write_captions(tmp / "c.caption.txt", [("a#0", "a dog")])
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp / "c.caption.txt").stat().st_mode) == 0o600


# -- signals ---------------------------------------------------------------------------------------------------------
@case("sigterm-during-training")
def _(tmp, request):
    import keras

    class SendSigterm(keras.callbacks.Callback):  # what `kill <pid>`, a scheduler or `docker stop` does
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                os.kill(os.getpid(), signal.SIGTERM)

    collection = request.getfixturevalue("collection")
    before = signal.getsignal(signal.SIGTERM)
    result = _trainer(collection, tmp / "run", max_epochs=2, callbacks=[SendSigterm()]).fit()
    assert result.interrupted and result.signal == "SIGTERM" and result.epochs_done == 0
    assert sorted(p.name for p in (tmp / "run").rglob(".*")) == []  # no temporary left behind
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is restored after fit
    assert "interrupted after 0 complete epochs (SIGTERM)" in request.getfixturevalue("caplog").text


@case("sigint-ignored-by-the-launcher")
def _(tmp, request):
    from w2vvx.training.signals import GracefulStop

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job of a non-interactive shell
    term = signal.getsignal(signal.SIGTERM)
    try:
        with GracefulStop() as stop:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) == stop._handle
        assert signal.getsignal(signal.SIGTERM) is term
    finally:
        signal.signal(signal.SIGINT, previous)


# -- the runner ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, tmp_path, request, caplog):
    check_bad_input(CASES, name, tmp_path, request, caplog)


def test_cases_are_documented():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\|\s*`([a-z0-9-]+)`\s*\|", docs, flags=re.M))
    assert set(CASES) <= documented, f"not in docs/errors.md: {sorted(set(CASES) - documented)}"
