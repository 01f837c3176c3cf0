"""Score fusion (COCO-CN CLM weight search, NRCCR query-translation fusion) and the CL route."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.evaluation.fusion import (MULTI30K_NATIVE_WEIGHT, fuse_scores, minmax_normalize, minmax_normalize_matrix,
                                     query_translation_fusion, rank_normalize, search_fusion_weight,
                                     sentence_to_item_scores)
from w2vvx.evaluation.metrics import evaluate_from_scores


def test_minmax_normalize_rows_and_constant_row():
    out = minmax_normalize([[2.0, 4.0, 3.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(out, [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]])


def test_rank_normalize_follows_descending_order():
    np.testing.assert_allclose(rank_normalize([[0.1, 0.7, 0.3, 0.9]]), [[0.25, 0.75, 0.5, 1.0]])


def test_fuse_scores_weighted_sum_and_shape_check():
    a, b = np.array([[1.0, 3.0]]), np.array([[10.0, 0.0]])
    np.testing.assert_allclose(fuse_scores([a, b], [0.25, 0.75]), [[7.75, 0.75]])
    np.testing.assert_allclose(fuse_scores([a, b], [0.5, 0.5], normalization="minmax"), [[0.5, 0.5]])
    with pytest.raises(ConfigError, match="shape"):
        fuse_scores([a, np.ones((2, 2))], [0.5, 0.5])
    with pytest.raises(ConfigError, match="one weight per"):
        fuse_scores([a, b], [1.0])


def _nrccr_norm_score(errors):
    # Independent transcription of NRCCR validate.py norm_score: it works on errors (= -cosine) and
    # min-max normalises the whole matrix (np.min / np.max without an axis).
    score = -errors
    score = score - np.min(score)
    score = score / np.max(score)
    return -score


def _nrccr_fused_errors(native_scores, translated_scores, w):
    # tester_vid.py / tester_img.py: errors_1 = the query's MT into English, errors_2 = the native query;
    # fused = w * norm(errors_1) + (1 - w) * norm(errors_2); ranking by ascending error.
    return w * _nrccr_norm_score(-translated_scores) + (1 - w) * _nrccr_norm_score(-native_scores)


@pytest.mark.parametrize("nrccr_w", [1.0, 0.8, 0.5, 0.2, 0.0])
def test_query_translation_fusion_equals_nrccr_norm_score_transcription(nrccr_w):
    rng = np.random.default_rng(0)
    native, translated = rng.normal(size=(5, 7)), rng.normal(size=(5, 7)) * 5 + 2
    native[2] += 3.0  # a query whose scores are all high: whole-matrix normalisation keeps it high
    ours = query_translation_fusion(native, translated, native_weight=1.0 - nrccr_w)
    np.testing.assert_allclose(ours, -_nrccr_fused_errors(native, translated, nrccr_w), atol=1e-12)
    items = [f"i{k}" for k in range(7)]
    queries = [items[k % 7] for k in range(5)]
    ours_metrics = evaluate_from_scores(ours, queries, items)
    theirs_metrics = evaluate_from_scores(-_nrccr_fused_errors(native, translated, nrccr_w), queries, items)
    assert ours_metrics["sumr"] == theirs_metrics["sumr"]


def test_query_translation_fusion_is_not_per_row_and_checks_weight():
    native = np.array([[0.0, 1.0], [0.5, 0.5]])
    translated = np.array([[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(query_translation_fusion(native, translated), [[0.2, 0.8], [0.4, 0.4]])
    per_row = 0.8 * minmax_normalize(native) + 0.2 * minmax_normalize(translated)
    assert not np.allclose(per_row, query_translation_fusion(native, translated))
    np.testing.assert_allclose(minmax_normalize_matrix([[3.0, 3.0]]), [[0.0, 0.0]])
    with pytest.raises(ConfigError):
        query_translation_fusion(native, translated, native_weight=1.5)
    assert MULTI30K_NATIVE_WEIGHT == 0.5


def test_search_fusion_weight_finds_the_weight_that_helps_and_matches_direct_evaluation():
    rng = np.random.default_rng(1)
    n = 30
    ids = [f"i{k}" for k in range(n)]
    truth = np.eye(n)
    # each route is right on a different half of the queries; a mix is right on both.
    a = rng.normal(size=(n, n)) * 0.1 + np.where(np.arange(n)[:, None] < n // 2, truth, 0)
    b = rng.normal(size=(n, n)) * 0.1 + np.where(np.arange(n)[:, None] >= n // 2, truth, 0)
    grid = np.arange(0, 1, 0.1)
    weight, value, values = search_fusion_weight(a, b, ids, ids, metric="mir", grid=grid)
    assert 0.0 < weight < 1.0
    assert value == max(values.values())
    assert value > values[0.0]
    direct = evaluate_from_scores(weight * a + (1 - weight) * b, ids, ids)["t2i_mir"]
    assert value == pytest.approx(direct)
    weight_sumr, _, _ = search_fusion_weight(a, b, ids, ids, metric="sumr", grid=grid)
    assert 0.0 < weight_sumr < 1.0
    with pytest.raises(ConfigError, match="metric"):
        search_fusion_weight(a, b, ids, ids, metric="r1")


def test_search_fusion_weight_default_grid_is_coco_cn():
    ids = ["x", "y"]
    scores = np.array([[1.0, 0.0], [0.0, 1.0]])
    weight, value, values = search_fusion_weight(scores, scores, ids, ids)
    assert len(values) == 100 and min(values) == 0.0 and max(values) == pytest.approx(0.99)
    assert weight == 0.0 and value == 1.0  # ties go to the first weight


def test_sentence_to_item_scores_max_and_mean_vs_loop():
    rng = np.random.default_rng(2)
    queries = rng.normal(size=(5, 4)).astype(np.float32)
    sentences = rng.normal(size=(9, 4)).astype(np.float32)
    owners = ["b", "a", "c", "a", "b", "b", "c", "zz", "a"]  # shuffled; "zz" is not a scored item
    items = ["a", "b", "c"]
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    sn = sentences / np.linalg.norm(sentences, axis=1, keepdims=True)
    sims = qn @ sn.T
    for reduce, fn in (("max", np.max), ("mean", np.mean)):
        expected = np.stack([fn(sims[:, [j for j, o in enumerate(owners) if o == item]], axis=1)
                             for item in items], axis=1)
        for chunk_size in (1, 2, 100):
            out = sentence_to_item_scores(queries, sentences, owners, items, reduce=reduce, chunk_size=chunk_size)
            np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_sentence_to_item_scores_rejects_item_without_sentence():
    with pytest.raises(ConfigError, match="no sentence"):
        sentence_to_item_scores(np.ones((1, 2)), np.ones((1, 2)), ["a"], ["a", "b"])
    with pytest.raises(ConfigError, match="reduce"):
        sentence_to_item_scores(np.ones((1, 2)), np.ones((1, 2)), ["a"], ["a"], reduce="min")
