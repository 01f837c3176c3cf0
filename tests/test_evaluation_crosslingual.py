"""CL / CM / CLM and query-translation fusion (w2vvx.evaluation.crosslingual), checked by hand-made cases."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.evaluation.crosslingual import (clm_rows, cross_lingual_scores, cross_modal_scores,
                                           first_sentence_per_item, translation_fusion_rows)
from w2vvx.evaluation.fusion import sentence_to_item_scores
from w2vvx.evaluation.metrics import evaluate_from_scores


def test_cl_uses_one_sentence_per_item_as_zh2en_sim():
    # item "a" has a bad first English sentence and a perfect second one: COCO-CN compares the query
    # with the ONE English test sentence of each image (the first), not the best of an item's sentences
    query = np.array([[1.0, 0.0]])
    sentences = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    owners = ["a", "a", "b"]
    cl = cross_lingual_scores(query, sentences, owners, ["a", "b"])
    np.testing.assert_allclose(cl, [[0.0, 0.6]], atol=1e-6)
    best_of = sentence_to_item_scores(query, sentences, owners, ["a", "b"])
    np.testing.assert_allclose(best_of, [[1.0, 0.6]], atol=1e-6)
    with pytest.raises(ConfigError, match="no source-language sentence"):
        first_sentence_per_item(owners, ["a", "c"])


def test_clm_rows_choose_weight_on_val_and_apply_it_to_test():
    rng = np.random.default_rng(3)
    items = [f"i{k}" for k in range(12)]
    truth = np.eye(12)
    cl_val, cm_val = truth + rng.normal(0, 0.8, (12, 12)), truth + rng.normal(0, 0.8, (12, 12))
    cl_test, cm_test = truth + rng.normal(0, 0.8, (12, 12)), truth + rng.normal(0, 0.8, (12, 12))
    rows, weight = clm_rows(cl_val, cm_val, items, items, cl_test, cm_test, items, items)
    # brute force over COCO-CN's grid, raw scores (rank_norm = 0)
    mirs = [evaluate_from_scores(w * cl_val + (1 - w) * cm_val, items, items)["t2i_mir"]
            for w in np.arange(100) * 0.01]
    assert weight == pytest.approx(int(np.argmax(mirs)) * 0.01)
    key = f"CLM (w={weight:.2f})"
    assert list(rows) == ["CL", "CM", key]
    expected = evaluate_from_scores(weight * cl_test + (1 - weight) * cm_test, items, items)
    assert rows[key]["t2i_mir"] == pytest.approx(expected["t2i_mir"])
    assert rows["CM"]["t2i_mir"] == pytest.approx(evaluate_from_scores(cm_test, items, items)["t2i_mir"])


def test_cross_modal_is_cosine_and_translation_rows():
    queries, items = np.array([[3.0, 0.0], [0.0, 0.5]]), np.array([[1.0, 1.0], [0.0, 2.0]])
    np.testing.assert_allclose(cross_modal_scores(queries, items), [[2 ** -0.5, 0.0], [2 ** -0.5, 1.0]], atol=1e-6)
    native = np.eye(3)
    rows = translation_fusion_rows(native, None, ["a", "b", "c"], ["a", "b", "c"])
    assert list(rows) == ["native w=1"]
    rows = translation_fusion_rows(native, native[::-1], ["a", "b", "c"], ["a", "b", "c"])
    assert list(rows) == ["native w=1", "native w=0.8", "native w=0.5", "native w=0.2", "native w=0"]
    assert rows["native w=1"]["t2i_r1"] == 100.0 and rows["native w=0"]["t2i_r1"] < 100.0
