"""Approximate index: recall@10 vs exact search, save/load, clear error when the library is missing."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.search import ann
from w2vvx.errors import DataFormatError
from w2vvx.io.bigfile import write_bigfile
from w2vvx.search.ann import ANNIndex, available_backends, build_feature_index, default_nlist, load_feature_index
from w2vvx.search.brute_force import search

BACKENDS = available_backends()
needs_faiss = pytest.mark.skipif("faiss" not in BACKENDS, reason="faiss-cpu not installed")


def clustered(rng, n, dim, n_clusters=20):
    centres = rng.normal(size=(n_clusters, dim))
    points = centres[rng.integers(0, n_clusters, n)] + 0.3 * rng.normal(size=(n, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_recall_at_10_vs_brute_force(backend):
    rng = np.random.default_rng(0)
    vectors = clustered(rng, 2000, 24)
    queries = clustered(rng, 50, 24)
    index = ANNIndex(24, metric="ip", backend=backend, threads=1).build(vectors, [f"x{i}" for i in range(2000)])
    ids, scores = index.search(queries, k=10)
    exact, exact_scores = search(queries, vectors, k=10)
    recall = np.mean([len({f"x{j}" for j in e} & set(a)) / 10 for a, e in zip(ids, exact)])
    assert recall >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    np.testing.assert_allclose(scores[:, 0], exact_scores[:, 0], atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_load_round_trip(tmp_path, backend):
    rng = np.random.default_rng(1)
    vectors = clustered(rng, 300, 8)
    index = ANNIndex(8, metric="cos", backend=backend, threads=1).build(vectors * 3.0)
    index.save(tmp_path / "ann")
    loaded = ANNIndex.load(tmp_path / "ann", threads=1)
    assert loaded.backend == backend and loaded.metric == "cos" and len(loaded) == 300
    queries = vectors[:7]
    assert loaded.search(queries, k=3)[0].tolist() == index.search(queries, k=3)[0].tolist()
    assert loaded.search(queries, k=1)[0][:, 0].tolist() == [str(i) for i in range(7)]
    with pytest.raises(ConfigError, match="exists"):
        index.save(tmp_path / "ann")


def recall_at_10(ids, exact, prefix="x"):
    return np.mean([len({f"{prefix}{j}" for j in e} & set(a)) / 10 for a, e in zip(ids, exact)])


@needs_faiss
@pytest.mark.parametrize("encoding", ["flat", "fp16"])
def test_ivf_recall_at_10_vs_brute_force(encoding):
    rng = np.random.default_rng(2)
    points = clustered(rng, 4060, 32, n_clusters=40)
    vectors, queries = points[:4000], points[4000:]  # queries from the gallery's distribution, not its rows
    index = ANNIndex(32, kind="ivf", encoding=encoding, nprobe=8, threads=1)
    index.build(vectors[:2500], [f"x{i}" for i in range(2500)], chunk_rows=700)
    index.build(vectors[2500:], [f"x{i}" for i in range(2500, 4000)])  # incremental add, trained once
    assert index.kind == "ivf" and index.params["nlist"] == default_nlist(2500) and len(index) == 4000
    ids, scores = index.search(queries, k=10)
    exact, exact_scores = search(queries, vectors, k=10)
    assert recall_at_10(ids, exact) >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    np.testing.assert_allclose(scores[:, 0], exact_scores[:, 0], atol=1e-2 if encoding == "fp16" else 1e-4)
    index.nprobe = 1  # fewer lists scanned: recall cannot improve
    assert recall_at_10(index.search(queries, k=10)[0], exact) <= recall_at_10(ids, exact)


@needs_faiss
def test_feature_index_round_trip_and_stale_detection(tmp_path):
    rng = np.random.default_rng(3)
    vectors = clustered(rng, 800, 16)
    folder = tmp_path / "FeatureData" / "feat"
    names = [f"img{i}" for i in range(800)]
    write_bigfile(folder, names, vectors)
    built = build_feature_index(folder, metric="ip", nprobe=4, threads=1)
    assert (folder / "ann" / "meta.json").is_file()
    loaded = load_feature_index(folder, threads=1)
    assert loaded.kind == "ivf" and loaded.nprobe == 4 and loaded.params["nlist"] == built.params["nlist"]
    assert loaded.search(vectors[:5], k=4)[0].tolist() == built.search(vectors[:5], k=4)[0].tolist()
    assert loaded.search(vectors[:3], k=1)[0][:, 0].tolist() == names[:3]
    with pytest.raises(ConfigError, match="exists"):
        build_feature_index(folder)
    # the features are rewritten with other ids: the saved index no longer matches
    (folder / "id.txt").write_text(" ".join(reversed(names)) + "\n")
    with pytest.raises(DataFormatError, match="stale ANN index"):
        load_feature_index(folder)
    build_feature_index(folder, overwrite=True, threads=1)
    assert load_feature_index(folder).search(vectors[:1], k=1)[0][0, 0] == "img799"


@needs_faiss
def test_index_without_source_is_refused_for_features(tmp_path):
    vectors = clustered(np.random.default_rng(4), 100, 8)
    write_bigfile(tmp_path / "feat", [f"v{i}" for i in range(100)], vectors)
    ANNIndex(8, kind="hnsw").build(vectors).save(tmp_path / "plain")
    with pytest.raises(DataFormatError, match="not built from a BigFile"):
        ANNIndex.load(tmp_path / "plain", features=tmp_path / "feat")


def test_missing_library_says_how_to_install(monkeypatch):
    from w2vvx.search import ann_support

    monkeypatch.setattr(ann_support.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pip install w2vvx\[ann\]"):
        ANNIndex(4, backend="faiss")
    with pytest.raises(ConfigError, match=r"pip install w2vvx\[ann\]"):
        ANNIndex(4)


def test_bad_arguments():
    if not BACKENDS:
        pytest.skip("no ANN library installed")
    with pytest.raises(ConfigError, match="metric"):
        ANNIndex(4, metric="hamming")
    with pytest.raises(ConfigError, match="backend"):
        ANNIndex(4, backend="annoy")
    with pytest.raises(ConfigError, match="kind"):
        ANNIndex(4, kind="lsh")
    with pytest.raises(ConfigError, match="encoding"):
        ANNIndex(4, encoding="pq")
    with pytest.raises(ConfigError, match="nprobe"):
        ANNIndex(4, nprobe=0)
    if "usearch" in BACKENDS:
        with pytest.raises(ConfigError, match="faiss"):
            ANNIndex(4, backend="usearch", kind="ivf")
    index = ANNIndex(4)
    with pytest.raises(ConfigError, match="empty"):
        index.search(np.ones((1, 4)))
    with pytest.raises(ConfigError, match="shape"):
        index.build(np.ones((2, 3)))


class _FaissWithGpus:
    """faiss as a machine with GPUs shows it: the GPU copies are clones on the CPU that count their calls."""

    def __init__(self, faiss):
        self.faiss, self.calls = faiss, []

    def __getattr__(self, name):
        return getattr(self.faiss, name)

    def get_num_gpus(self):
        return 2

    def index_cpu_to_all_gpus(self, index):
        self.calls.append("to_gpus")
        return self.faiss.clone_index(index)

    def index_gpu_to_cpu(self, index):
        self.calls.append("to_cpu")
        return self.faiss.clone_index(index)


def test_ivf_builds_on_the_gpus_faiss_sees_and_is_kept_on_the_cpu(monkeypatch):
    faiss = pytest.importorskip("faiss")
    from w2vvx.search import ann

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(400, 16)).astype(np.float32)
    ids = [f"v{i}" for i in range(400)]
    on_cpu = ann.ANNIndex(16, backend="faiss", kind="ivf", nlist=4, device="cpu").build(vectors, ids)
    fake = _FaissWithGpus(faiss)
    monkeypatch.setattr(ann, "require_backend", lambda backend: fake)
    on_gpus = ann.ANNIndex(16, backend="faiss", kind="ivf", nlist=4).build(vectors, ids)
    assert fake.calls == ["to_gpus", "to_cpu", "to_gpus", "to_cpu"]  # k-means, then the rows' assignment
    assert type(on_gpus._index).__name__ == type(on_cpu._index).__name__  # searched and saved on the CPU
    assert on_gpus.search(vectors[:5], k=3)[0].tolist() == on_cpu.search(vectors[:5], k=3)[0].tolist()
    assert ann.ANNIndex(16, backend="faiss", kind="ivf", nlist=4, device="cpu").use_gpus is False
    with pytest.raises(ConfigError, match="kind='ivf'"):
        ann.ANNIndex(16, backend="faiss", kind="hnsw", device="gpu")
    monkeypatch.setattr(ann, "require_backend", lambda backend: faiss)
    with pytest.raises(ConfigError, match="faiss-gpu"):
        ann.ANNIndex(16, backend="faiss", kind="ivf", device="gpu")
    with pytest.raises(ConfigError, match="device must be one of"):
        ann.ANNIndex(16, backend="faiss", device="tpu")
