"""Nothing from a data file is executed, nothing untrusted is unpickled, archives stay in their folder, no network.

Each point is checked twice: statically over the source of the package (``w2vvx`` and ``recipes``, by
parsing it, so strings and comments do not count) and by behaviour, with a malicious file whose code
would leave a marker file behind if it ever ran.
"""
from __future__ import annotations

import ast
import io
import os
import pickle
import socket
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from w2vvx.errors import DataFormatError, UntrustedFileError, W2VVXError

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("w2vvx", "recipes")
#: (file, function) pairs allowed to unpickle, each reached only with trusted=True.
TRUST_GATED = {("w2vvx/text/word_vectors.py", "_load_pickle")}


def _sources():
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            yield path.relative_to(REPO).as_posix(), ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _calls(tree):
    """Yield ``(call node, dotted name, enclosing function name)``."""
    def walk(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                yield child, _dotted(child.func), function
            yield from walk(child, inner)

    yield from walk(tree, None)


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _keyword(call: ast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


class _Marker:
    """A pickle payload that creates ``path`` when unpickled (what a malicious file would do)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# -- no eval / exec ---------------------------------------------------------------------------------------
def test_no_eval_or_exec_in_the_package():
    found = [f"{path}:{call.lineno} {name}" for path, tree in _sources() for call, name, _ in _calls(tree)
             if name in ("eval", "exec", "builtins.eval", "builtins.exec", "compile", "__import__")]
    assert found == []


def test_video2frames_with_code_is_rejected_not_run(tmp_path):
    from w2vvx.io import read_video2frames

    marker = tmp_path / "ran"
    for content in (f"{{'v1': ['v1_0'], 'v2': __import__('os').system('touch {marker}')}}",
                    f"{{'v1': [open('{marker}', 'w').name]}}",
                    f"{{'v1': ['v1_0' for _ in [__import__('os').system('touch {marker}')]]}}"):
        (tmp_path / "video2frames.txt").write_text(content)
        with pytest.raises(DataFormatError) as info:
            read_video2frames(tmp_path / "video2frames.txt")
        assert "video2frames.txt" in str(info.value)
        assert not marker.exists()
    (tmp_path / "video2frames.txt").write_text("{'v1': ['v1_1', 'v1_0']}")
    assert read_video2frames(tmp_path / "video2frames.txt") == {"v1": ["v1_0", "v1_1"]}


# -- no pickle of untrusted files -------------------------------------------------------------------------
UNPICKLERS = {"pickle.load", "pickle.loads", "pickle.Unpickler", "cPickle.load", "dill.load", "dill.loads",
              "cloudpickle.load", "cloudpickle.loads", "joblib.load", "torch.load", "marshal.load", "marshal.loads",
              "shelve.open", "SaveLoad.load", "KeyedVectors.load", "Word2Vec.load", "pd.read_pickle",
              "pandas.read_pickle"}


def test_unpickling_only_in_trust_gated_code():
    found = [f"{path}:{call.lineno} {name} in {function}" for path, tree in _sources()
             for call, name, function in _calls(tree)
             if name in UNPICKLERS and (path, function) not in TRUST_GATED]
    assert found == []


def test_numpy_loads_never_allow_pickle():
    found = []
    for path, tree in _sources():
        for call, name, _ in _calls(tree):
            if name in ("np.load", "numpy.load"):
                value = _keyword(call, "allow_pickle")
                if not (isinstance(value, ast.Constant) and value.value is False):
                    found.append(f"{path}:{call.lineno} np.load without allow_pickle=False")
    assert found == []


def test_trust_gate_is_checked_before_loading():
    """load_word_vectors raises UntrustedFileError before calling _load_pickle unless trusted=True."""
    source = (REPO / "w2vvx/text/word_vectors.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    function = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                    and node.name == "load_word_vectors")
    body = ast.get_source_segment(source, function)
    assert body.index("if not trusted") < body.index("_load_pickle(")


@pytest.mark.parametrize("name", ["vectors.kv", "zh_jieba.model", "looks_like_text.txt"])
def test_gensim_pickle_without_trust_is_refused_and_not_run(tmp_path, name):
    from w2vvx.text.word_vectors import load_word_vectors

    marker = tmp_path / "ran"
    (tmp_path / name).write_bytes(pickle.dumps(_Marker(marker), protocol=4))
    with pytest.raises(UntrustedFileError) as info:
        load_word_vectors(tmp_path / name)
    assert name in str(info.value) and "trusted=True" in str(info.value)
    assert not marker.exists()


def test_real_gensim_keyed_vectors_load_only_when_trusted(tmp_path):
    from gensim.models import KeyedVectors

    from w2vvx.text.word_vectors import load_word_vectors

    vectors = KeyedVectors(vector_size=2)
    vectors.add_vectors(["dog", "cat"], np.array([[1, 0], [0, 1]], np.float32))
    vectors.save(str(tmp_path / "own.kv"))
    with pytest.raises(UntrustedFileError):
        load_word_vectors(tmp_path / "own.kv")
    assert load_word_vectors(tmp_path / "own.kv", trusted=True)["cat"].tolist() == [0.0, 1.0]


def test_npy_features_with_objects_are_not_unpickled(tmp_path):
    from w2vvx.io import npy_to_bigfile

    marker = tmp_path / "ran"
    np.save(tmp_path / "f.npy", np.array([_Marker(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError):
        npy_to_bigfile(tmp_path / "f.npy", ["a"], tmp_path / "out")
    assert not marker.exists()


# -- .keras files in safe mode ----------------------------------------------------------------------------
def test_every_keras_load_uses_safe_mode():
    found = []
    loads = 0
    for path, tree in _sources():
        for call, name, _ in _calls(tree):
            if name.endswith("load_model") and name != "load_keras_model":
                loads += 1
                value = _keyword(call, "safe_mode")
                if not (isinstance(value, ast.Constant) and value.value is True):
                    found.append(f"{path}:{call.lineno} {name} without safe_mode=True")
    assert loads >= 1 and found == []


def test_keras_file_with_a_lambda_layer_is_refused(tmp_path):
    import keras

    from w2vvx.io.archives import load_keras_model

    marker = tmp_path / "ran"
    marker_name = str(marker)
    model = keras.Sequential([keras.Input((2,)),
                              keras.layers.Lambda(lambda x: x * 0 + len(open(marker_name, "w").name))])
    model.save(tmp_path / "evil.keras")
    marker.unlink(missing_ok=True)  # written while the model was built here, not by loading
    with pytest.raises(UntrustedFileError) as info:
        load_keras_model(tmp_path / "evil.keras")
    assert "evil.keras" in str(info.value) and "safe mode" in str(info.value)
    assert not marker.exists()


# -- archives ---------------------------------------------------------------------------------------------
def _tar(path: Path, members):
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _device(name: str):
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info, None


MALICIOUS_TARS = {
    "dot-dot": [_file("data/ok.txt"), _file("../escaped.txt")],
    "absolute": [_file("/tmp/w2vvx-absolute-escape.txt")],
    "symlink-absolute": [_link("data/passwd", "/etc/passwd")],
    "symlink-outside": [_link("data/up", "../../escaped.txt")],
    "hardlink-outside": [_link("data/hard", "../escaped.txt", tarfile.LNKTYPE)],
    "symlink-then-write-through": [_link("data", ".."), _file("data/escaped.txt")],
    "device": [_device("data/null")],
}


@pytest.mark.parametrize("name", sorted(MALICIOUS_TARS))
def test_malicious_tar_is_refused(tmp_path, name):
    from w2vvx.io.archives import extract_archive

    work = tmp_path / "work"
    work.mkdir()
    archive = _tar(tmp_path / f"{name}.tar.gz", MALICIOUS_TARS[name])
    with pytest.raises(UntrustedFileError) as info:
        extract_archive(archive, work / "dest")
    assert f"{name}.tar.gz" in str(info.value)
    assert sorted(os.listdir(work)) == []  # no destination, no temporary folder
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/w2vvx-absolute-escape.txt").exists()


def _zip(path: Path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return path


MALICIOUS_ZIPS = {
    "dot-dot": [("ok.txt", b"x", stat.S_IFREG | 0o644), ("../escaped.txt", b"x", stat.S_IFREG | 0o644)],
    "absolute": [("/tmp/w2vvx-absolute-escape.txt", b"x", stat.S_IFREG | 0o644)],
    "backslash-dot-dot": [("..\\escaped.txt", b"x", stat.S_IFREG | 0o644)],
    "symlink-outside": [("up", b"../../escaped.txt", stat.S_IFLNK | 0o777)],
    "symlink-absolute": [("passwd", b"/etc/passwd", stat.S_IFLNK | 0o777)],
}


@pytest.mark.parametrize("name", sorted(MALICIOUS_ZIPS))
def test_malicious_zip_is_refused(tmp_path, name):
    from w2vvx.io.archives import extract_archive

    work = tmp_path / "work"
    work.mkdir()
    archive = _zip(tmp_path / f"{name}.zip", MALICIOUS_ZIPS[name])
    with pytest.raises(UntrustedFileError) as info:
        extract_archive(archive, work / "dest")
    assert f"{name}.zip" in str(info.value)
    assert sorted(os.listdir(work)) == []
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/w2vvx-absolute-escape.txt").exists()


def test_good_archives_extract(tmp_path):
    from w2vvx.io.archives import extract_archive

    tar = _tar(tmp_path / "good.tar.gz", [_file("coll/TextData/a.caption.txt", b"v1#enc#0 a dog\n"),
                                          _link("coll/latest", "TextData/a.caption.txt")])
    out = extract_archive(tar, tmp_path / "from_tar")
    assert (out / "coll" / "TextData" / "a.caption.txt").read_bytes() == b"v1#enc#0 a dog\n"
    assert (out / "coll" / "latest").read_bytes() == b"v1#enc#0 a dog\n"
    archive = _zip(tmp_path / "good.zip", [("coll/ids.txt", b"a\nb\n", stat.S_IFREG | 0o644)])
    assert (extract_archive(archive, tmp_path / "from_zip") / "coll" / "ids.txt").read_text() == "a\nb\n"
    with pytest.raises(W2VVXError):
        extract_archive(archive, tmp_path / "from_zip")  # exists, no overwrite


def test_tar_extraction_uses_the_data_filter_and_nothing_else_extracts():
    source = (REPO / "w2vvx/io/archives.py").read_text(encoding="utf-8")
    assert 'filter="data"' in source
    found = [f"{path}:{call.lineno}" for path, tree in _sources() for call, name, _ in _calls(tree)
             if name.endswith((".extractall", ".extract")) and path != "w2vvx/io/archives.py"]
    assert found == []


# -- no network at run time -------------------------------------------------------------------------------
NETWORK_MODULES = ("urllib", "urllib2", "urllib3", "requests", "http", "httpx", "aiohttp", "socket", "ftplib",
                   "smtplib", "telnetlib", "xmlrpc", "paramiko", "websocket", "websockets")


# The search page (``w2vvx serve``) is a local web server (127.0.0.1 by default): it listens, it never connects out.
SERVER_MODULES = {"w2vvx/serving/server.py": {"http.server", "urllib.parse"}}


def test_package_imports_no_network_module():
    found = []
    for path, tree in _sources():
        allowed = SERVER_MODULES.get(path, set())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            found += [f"{path}:{node.lineno} {name}" for name in names
                      if name.split(".")[0] in NETWORK_MODULES and name not in allowed]
    assert found == []


@pytest.mark.slow
def test_training_and_search_make_no_network_connection(tmp_path, monkeypatch):
    from w2vvx.io import BigFile, read_captions, write_bigfile, write_captions
    from w2vvx.models import get_config
    from w2vvx.search import ANNIndex, available_backends, search
    from w2vvx.search.encode import encode_items
    from w2vvx.training import Trainer, load_run

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args else kwargs)
        raise OSError("network access attempted during a w2vvx run")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)

    rng = np.random.default_rng(0)
    words = ["red", "blue", "dog", "cat", "ball", "tree"]
    items = [f"i{k}" for k in range(12)]
    write_bigfile(tmp_path / "feat", items, rng.normal(size=(12, 6)).astype(np.float32))
    lines = [(f"{item}#enc#{j}", " ".join(rng.choice(words, size=3))) for item in items for j in range(2)]
    write_captions(tmp_path / "train.caption.txt", lines[:16])
    write_captions(tmp_path / "val.caption.txt", lines[16:])
    config = get_config("base_w2vv", gru_units=4, embed_dim=4, w2v_dim=4, text_mlp=(8,), batch_size=4,
                        max_epochs=1, vocab_min_count=1)
    Trainer(config, tmp_path / "run", read_captions(tmp_path / "train.caption.txt"), BigFile(tmp_path / "feat"),
            read_captions(tmp_path / "val.caption.txt"), verbose=0, tensorboard=False,
            min_val_items=4).fit()  # 4 validation items: enough to run the code path, not for selection
    run = load_run(tmp_path / "run")
    encoded = encode_items(run.model, BigFile(tmp_path / "feat"), tmp_path / "encoded")
    query = run.model.encode_text(["a red dog"])
    ids, _ = search(query, BigFile(encoded).matrix, k=3, normalize_queries=True)
    assert ids.shape == (1, 3)
    if available_backends():
        index = ANNIndex(BigFile(encoded).ndims, metric="ip").build(BigFile(encoded).matrix, BigFile(encoded).names)
        index.save(tmp_path / "ann")
        assert len(ANNIndex.load(tmp_path / "ann").search(query, k=3)[0][0]) == 3
    assert attempts == []
