"""MRV (CCRK) and results tables."""
import csv

import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.evaluation.metrics import evaluate_retrieval
from w2vvx.evaluation.mrv import mean_rank_variance, mrv_from_results
from w2vvx.evaluation.report import ResultsTable, format_results


def test_mrv_is_mean_of_population_std():
    ranks = {"en": [0, 5, 2], "de": [0, 1, 2], "ja": [3, 3, 2], "zh": [1, 7, 2]}
    expected = np.mean([np.std([0, 0, 3, 1]), np.std([5, 1, 3, 7]), 0.0])
    assert mean_rank_variance(ranks) == pytest.approx(expected)
    assert mean_rank_variance(list(ranks.values())) == pytest.approx(expected)


def test_mrv_rejects_misaligned_or_single_language():
    with pytest.raises(ConfigError, match="at least 2"):
        mean_rank_variance({"en": [0, 1]})
    with pytest.raises(ConfigError, match="same length"):
        mean_rank_variance({"en": [0, 1], "de": [0]})


def test_mrv_from_evaluate_retrieval_ranks_both_directions():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(6, 8)).astype(np.float32)
    ids = [f"img{k}" for k in range(6)]
    results = {}
    for language in ("en", "de", "zh"):
        texts = items + rng.normal(size=items.shape).astype(np.float32) * 1.5
        results[language] = evaluate_retrieval(texts, ids, items, ids, return_ranks=True)
    mrv = mrv_from_results(results)
    assert mrv["t2i_mrv"] == pytest.approx(mean_rank_variance({k: r["t2i_ranks"] for k, r in results.items()}))
    assert mrv["i2t_mrv"] == pytest.approx(mean_rank_variance({k: r["i2t_ranks"] for k, r in results.items()}))
    shuffled = dict(results["de"], t2i_item_ids=ids[::-1])
    with pytest.raises(ConfigError, match="not aligned"):
        mrv_from_results({"en": results["en"], "de": shuffled})


def test_results_table_markdown_and_csv(tmp_path):
    table = ResultsTable()
    table.add("CM", {"t2i_r1": 30.81, "t2i_r5": 64.4, "t2i_map": 0.45781, "sumr": 366.5})
    table.add("CLM", {"t2i_r1": 31.0})
    markdown = table.to_markdown()
    lines = markdown.splitlines()
    assert lines[0].startswith("| setting | t2i R@1 | t2i R@5 |")
    assert "| CM | 30.8 | 64.4 |" in lines[2] and "0.458" in lines[2] and lines[2].endswith("| 366.5 |")
    assert lines[3].startswith("| CLM | 31.0 |  |")
    table.write_markdown(tmp_path / "t.md")
    assert (tmp_path / "t.md").read_text() == markdown + "\n"
    table.write_csv(tmp_path / "t.csv")
    rows = list(csv.reader(open(tmp_path / "t.csv")))
    assert rows[0][:3] == ["setting", "t2i_r1", "t2i_r5"]
    assert rows[1][0] == "CM" and float(rows[1][1]) == 30.81
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_format_results_lists_both_directions():
    text = format_results({"t2i_r1": 1.0, "i2t_r1": 2.0, "i2t_map": 0.5, "sumr": 3.0}, title="val")
    assert text.splitlines() == ["val", "t2i: R@1 1.0", "i2t: R@1 2.0  mAP 0.500", "SumR 3.0"]
