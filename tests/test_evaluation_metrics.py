"""Chunked retrieval metrics vs brute-force definitions (full sort of every query's ranking)."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.evaluation.metrics import evaluate_from_scores, evaluate_retrieval, l2_normalize


def brute_force(scores, caption_items, item_ids):
    """Reference: sort every ranking; relevant results first among equal scores (optimistic ties)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.array([item_ids.index(c) for c in caption_items])
    n_captions, n_items = scores.shape
    t2i = []
    for c in range(n_captions):
        relevant = np.zeros(n_items, bool)
        relevant[positive[c]] = True
        order = np.lexsort((~relevant, -scores[c]))
        t2i.append(np.flatnonzero(relevant[order])[0])
    i2t, ap, queried = [], [], []
    for i in range(n_items):
        relevant = positive == i
        if not relevant.any():
            continue
        order = np.lexsort((~relevant, -scores[:, i]))
        hits = np.flatnonzero(relevant[order]) + 1
        i2t.append(hits[0] - 1)
        ap.append(np.mean(np.arange(1, len(hits) + 1) / hits))
        queried.append(item_ids[i])
    t2i, i2t = np.array(t2i), np.array(i2t)
    out = {}
    for name, ranks in (("t2i", t2i), ("i2t", i2t)):
        for k in (1, 5, 10):
            out[f"{name}_r{k}"] = 100.0 * np.mean(ranks < k)
        out[f"{name}_medr"] = np.floor(np.median(ranks)) + 1
        out[f"{name}_meanr"] = ranks.mean() + 1
        out[f"{name}_mir"] = np.mean(1.0 / (ranks + 1))
    out["t2i_map"] = out["t2i_mir"]
    out["i2t_map"] = np.mean(ap)
    out["sumr"] = sum(out[f"{d}_r{k}"] for d in ("t2i", "i2t") for k in (1, 5, 10))
    return out, t2i, i2t, np.array(ap), queried


def assert_matches(results, reference):
    for key, value in reference.items():
        assert results[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


@pytest.mark.parametrize("seed", range(8))
def test_random_embeddings_match_brute_force_for_several_chunk_sizes(seed):
    rng = np.random.default_rng(seed)
    n_items, dim = int(rng.integers(2, 40)), int(rng.integers(2, 16))
    item_ids = [f"img{k}" for k in range(n_items)]
    n_captions = int(rng.integers(1, 120))
    caption_items = [item_ids[j] for j in rng.integers(0, n_items, n_captions)]
    items = rng.standard_normal((n_items, dim)).astype(np.float32)
    texts = rng.standard_normal((n_captions, dim)).astype(np.float32)
    scores = l2_normalize(texts).astype(np.float64) @ l2_normalize(items).astype(np.float64).T
    reference, t2i, i2t, ap, queried = brute_force(scores, caption_items, item_ids)
    for chunk_size in (1, 3, 7, 1024):
        results = evaluate_retrieval(texts, caption_items, items, item_ids, chunk_size=chunk_size,
                                     return_ranks=True)
        assert_matches(results, reference)
        np.testing.assert_array_equal(results["t2i_ranks"], t2i)
        np.testing.assert_array_equal(results["i2t_ranks"], i2t)
        np.testing.assert_allclose(results["i2t_ap"], ap)
        assert results["i2t_item_ids"] == queried


@pytest.mark.parametrize("seed", range(6))
def test_integer_scores_with_many_ties_match_optimistic_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    n_items, n_captions = int(rng.integers(1, 25)), int(rng.integers(1, 60))
    item_ids = [f"v{k}" for k in range(n_items)]
    caption_items = [item_ids[j] for j in rng.integers(0, n_items, n_captions)]
    scores = rng.integers(0, 3, size=(n_captions, n_items)).astype(np.float32)
    reference, t2i, i2t, ap, _ = brute_force(scores, caption_items, item_ids)
    for chunk_size in (1, 2, 5, 100):
        results = evaluate_from_scores(scores, caption_items, item_ids, chunk_size=chunk_size, return_ranks=True)
        assert_matches(results, reference)
        np.testing.assert_array_equal(results["t2i_ranks"], t2i)
        np.testing.assert_allclose(results["i2t_ap"], ap)


def test_ties_are_optimistic_only_strictly_greater_scores_count():
    # caption 0 ties its item with two others; caption 1 is beaten by one item and ties one.
    scores = np.array([[0.5, 0.5, 0.5], [0.9, 0.4, 0.4]])
    results = evaluate_from_scores(scores, ["b", "c"], ["a", "b", "c"], return_ranks=True)
    np.testing.assert_array_equal(results["t2i_ranks"], [0, 1])
    # i2t: item "b" scores its captions (0.5, 0.4), its caption 0 is first -> rank 0;
    # item "c" scores them (0.5, 0.4) too but its caption is 1 -> rank 1.
    assert results["i2t_item_ids"] == ["b", "c"]
    np.testing.assert_array_equal(results["i2t_ranks"], [0, 1])
    # a pessimistic or index-order tie rule would rank caption 0 behind item "a" (column 0)
    pessimistic = evaluate_from_scores(scores[:, ::-1], ["b", "c"], ["c", "b", "a"], return_ranks=True)
    np.testing.assert_array_equal(pessimistic["t2i_ranks"], [0, 1])


def test_hand_made_case_item_without_caption_one_caption_many_captions_shuffled():
    # Items: a (3 captions, shuffled among others), b (1 caption), c (no caption: t2i distractor only).
    items = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    texts = np.array([
        [0, 0, 1],        # a, but closest to c -> t2i rank 2? (a: 0, b: 0, c: 1) -> rank 1 (only c greater)
        [1, 0, 0],        # a, rank 0
        [0, 1, 0],        # b, rank 0
        [1, 1, 0],        # a, tie a/b -> rank 0
    ], dtype=np.float32)
    caption_items = ["a", "a", "b", "a"]
    results = evaluate_retrieval(texts, caption_items, items, ["a", "b", "c"], return_ranks=True)
    np.testing.assert_array_equal(results["t2i_ranks"], [1, 0, 0, 0])
    assert results["t2i_r1"] == 75.0
    assert results["i2t_item_ids"] == ["a", "b"]  # c has no caption: not a query
    assert results["i2t_queries"] == 2 and results["t2i_queries"] == 4
    # item a: scores with captions (0, 1, 0, 0.707): ranking 1, 3 (relevant), then 0/2 tie at 0 with
    # caption 0 relevant first -> hits at positions 1, 2, 3 -> AP = 1.
    assert results["i2t_ap"][0] == pytest.approx(1.0)
    # item b: scores (0, 0, 1, 0.707): its only caption is first.
    assert results["i2t_ranks"].tolist() == [0, 0]
    assert results["i2t_map"] == pytest.approx(1.0)


def test_i2t_average_precision_by_hand():
    # one item, captions ranked: irrelevant, relevant, irrelevant, relevant -> AP = (1/2 + 2/4) / 2
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    results = evaluate_from_scores(scores, ["y", "x", "y", "x"], ["x", "y"], return_ranks=True)
    assert results["i2t_item_ids"] == ["x", "y"]
    assert results["i2t_ap"][0] == pytest.approx(0.5)
    assert results["i2t_ranks"][0] == 1
    # item y: its captions score 0.1 and 0.3 but caption 3 (x) scores 0.4 -> first hit at rank 1
    assert results["i2t_mir"] == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_medr_is_floor_of_median_plus_one_and_recalls_in_percent():
    # t2i ranks 0, 1, 2, 3 -> median 1.5 -> MedR 2; MeanR 2.5
    scores = np.array([[4, 0, 0, 0], [4, 3, 0, 0], [4, 3, 2, 0], [4, 3, 2, 1]], dtype=np.float64)
    results = evaluate_from_scores(scores, ["a", "b", "c", "d"], ["a", "b", "c", "d"])
    assert results["t2i_medr"] == 2.0
    assert results["t2i_meanr"] == 2.5
    assert results["t2i_r1"] == 25.0
    assert results["t2i_r5"] == 100.0


def test_normalize_false_uses_inner_product():
    items = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    texts = np.array([[1.0, 0.6]], dtype=np.float32)  # cosine prefers item 0, inner product item 1
    assert evaluate_retrieval(texts, ["i0"], items, ["i0", "i1"])["t2i_r1"] == 100.0
    assert evaluate_retrieval(texts, ["i0"], items, ["i0", "i1"], normalize=False)["t2i_r1"] == 0.0


def test_errors_name_the_problem():
    items = np.eye(2, dtype=np.float32)
    with pytest.raises(ConfigError, match="not in item_ids"):
        evaluate_retrieval(items, ["a", "zzz"], items, ["a", "b"])
    with pytest.raises(ConfigError, match="occurs twice"):
        evaluate_retrieval(items, ["a", "a"], items, ["a", "a"])
    with pytest.raises(ConfigError, match="one id per row"):
        evaluate_retrieval(items, ["a"], items, ["a", "b"])
    with pytest.raises(ConfigError, match="dimension"):
        evaluate_retrieval(np.ones((2, 3)), ["a", "b"], items, ["a", "b"])
    with pytest.raises(ConfigError, match="chunk_size"):
        evaluate_retrieval(items, ["a", "b"], items, ["a", "b"], chunk_size=0)
    with pytest.raises(ConfigError, match="shape"):
        evaluate_from_scores(np.ones((3, 2)), ["a", "b"], ["a", "b"])
