"""Exact chunked top-k search vs a full sort, on arrays and memory-mapped files."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.search.brute_force import BruteForceIndex, search


def reference_top_k(queries, gallery, k, metric="ip"):
    queries, gallery = queries.astype(np.float64), gallery.astype(np.float64)
    if metric == "cos":
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        gallery = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    scores = queries @ gallery.T
    order = np.lexsort((np.broadcast_to(np.arange(gallery.shape[0]), scores.shape), -scores), axis=1)[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


@pytest.mark.parametrize("metric", ["ip", "cos"])
@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 10_000])
def test_matches_full_sort_for_any_chunk_size(chunk_rows, metric):
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(300, 16)).astype(np.float32)
    queries = rng.normal(size=(25, 16)).astype(np.float32)
    indices, scores = search(queries, gallery, k=10, chunk_rows=chunk_rows, metric=metric)
    expected_i, expected_s = reference_top_k(queries, gallery, 10, metric)
    np.testing.assert_array_equal(indices, expected_i)
    np.testing.assert_allclose(scores, expected_s, rtol=1e-5, atol=1e-5)
    assert scores.dtype == np.float32 and indices.dtype == np.int64


def test_sparse_merge_path_when_later_chunks_have_few_candidates():
    rng = np.random.default_rng(1)
    gallery = rng.normal(size=(2000, 8)).astype(np.float32)
    gallery[:50] *= 5.0  # strong rows first: later chunks rarely beat the running k-th score
    queries = rng.normal(size=(40, 8)).astype(np.float32)
    indices, _ = search(queries, gallery, k=5, chunk_rows=100, metric="ip")
    np.testing.assert_array_equal(indices, reference_top_k(queries, gallery, 5)[0])


def test_k_larger_than_gallery_and_single_query_vector():
    gallery = np.eye(3, dtype=np.float32)
    indices, scores = search(np.array([0.0, 2.0, 1.0]), gallery, k=10, metric="ip")
    assert indices.tolist() == [[1, 2, 0]]
    assert scores.tolist() == [[2.0, 1.0, 0.0]]
    assert search(np.array([0.0, 2.0, 1.0]), gallery, k=1)[1].tolist() == [[pytest.approx(2 / 5 ** 0.5)]]


def test_memmap_gallery_and_float16_storage(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.normal(size=(500, 32)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    path = tmp_path / "gallery.bin"
    data.tofile(path)
    gallery = np.memmap(path, dtype=np.float32, mode="r", shape=data.shape)
    queries = rng.normal(size=(20, 32)).astype(np.float32)
    expected_i, _ = reference_top_k(queries, data, 10)
    index = BruteForceIndex(gallery)
    assert index.vectors is gallery  # kept by reference, not loaded
    np.testing.assert_array_equal(index.search(queries, k=10, chunk_rows=33)[0], expected_i)
    half = BruteForceIndex(gallery, storage="float16")
    assert half.vectors.dtype == np.float16
    half_i, _ = half.search(queries, k=10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(half_i, expected_i)])
    assert recall >= 0.9


def test_normalize_gallery_and_queries_gives_cosine_order():
    gallery = np.array([[10.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    query = np.array([[0.5, 0.9]], dtype=np.float32)
    assert BruteForceIndex(gallery, metric="ip").search(query, k=1)[0].tolist() == [[0]]
    assert BruteForceIndex(gallery).search(query, k=1)[0].tolist() == [[1]]  # cosine by default
    assert BruteForceIndex(gallery, normalize=True).search(query, k=1, normalize_queries=True)[0].tolist() == [[1]]


@pytest.mark.parametrize("storage", ["float32", "float16"])
def test_save_load_round_trip_with_ids(tmp_path, storage):
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(40, 6)).astype(np.float32)
    ids = [f"img{i}" for i in range(40)]
    index = BruteForceIndex(vectors, ids=ids, storage=storage)
    index.save(tmp_path / "idx")
    loaded = BruteForceIndex.load(tmp_path / "idx")
    assert loaded.storage == storage and loaded.ids == ids and isinstance(loaded.vectors, np.memmap)
    queries = rng.normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_array_equal(loaded.search(queries, k=4)[0], index.search(queries, k=4)[0])
    with pytest.raises(ConfigError, match="exists"):
        index.save(tmp_path / "idx")
    index.save(tmp_path / "idx", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # no temp folders left


def test_load_rejects_truncated_feature_file(tmp_path):
    BruteForceIndex(np.ones((4, 3), np.float32)).save(tmp_path / "idx")
    with open(tmp_path / "idx" / "feature.bin", "r+b") as handle:
        handle.truncate(20)
    with pytest.raises(DataFormatError, match="truncated"):
        BruteForceIndex.load(tmp_path / "idx")


def test_argument_errors():
    gallery = np.ones((3, 2), np.float32)
    with pytest.raises(ConfigError, match="shape"):
        search(np.ones((1, 5)), gallery)
    with pytest.raises(ConfigError, match="k must"):
        search(np.ones((1, 2)), gallery, k=0)
    with pytest.raises(ConfigError, match="float32 or float16"):
        search(np.ones((1, 2)), np.ones((3, 2), np.float64))
    with pytest.raises(ConfigError, match="whitespace"):
        BruteForceIndex(gallery, ids=["a", "b c", "d"])
