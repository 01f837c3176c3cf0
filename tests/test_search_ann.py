"""Approximate index: recall@10 vs exact search, save/load, clear error when the library is missing."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.search import ann
from w2vvx.search.ann import ANNIndex, available_backends
from w2vvx.search.brute_force import search

BACKENDS = available_backends()


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


def test_missing_library_says_how_to_install(monkeypatch):
    monkeypatch.setattr(ann.importlib.util, "find_spec", lambda name: None)
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
    index = ANNIndex(4)
    with pytest.raises(ConfigError, match="empty"):
        index.search(np.ones((1, 4)))
    with pytest.raises(ConfigError, match="shape"):
        index.build(np.ones((2, 3)))
