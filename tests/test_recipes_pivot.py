"""Pivot benchmark: leak-free query sets from the shared data, and a tiny end-to-end run."""
import pytest

from recipes import pivot
from w2vvx.errors import ConfigError, MissingFileError
from w2vvx.evaluation.baselines import NRCCR_MEASURED


def test_flickr8k_trains_on_mt_and_tests_on_human_chinese(shared_data):
    task = pivot.load_task(shared_data, "flickr8k-cn", max_items=20)
    assert {c.tag for c in task.train} == {"zhb", "zhg"}
    assert {c.tag for c in task.test} == {"zhc"} and {c.tag for c in task.val} == {"zhc"}
    train_items = {c.item_id for c in task.train}
    assert not train_items & set(task.test_items) and not train_items & set(task.val_items)
    assert all(item in task.features for item in task.test_items)


def test_multi30k_tests_on_task2_german_only(shared_data):
    task = pivot.load_task(shared_data, "multi30k", max_items=10)
    assert {c.tag for c in task.train} == {"de"} and {c.tag for c in task.test} == {"dec"}
    assert len(task.test) == 50 and len(task.test_items) == 10


def test_vatex_uses_only_leak_free_human_queries_and_disjoint_videos(shared_data):
    task = pivot.load_task(shared_data, "vatex")
    assert all(c.index < 5 and c.tag == "zh" for c in task.test + task.val)
    assert {c.tag for c in task.train} == {"enc2zh"}
    train_items = {c.item_id for c in task.train}
    assert len(train_items) == 1000 and len(task.val_items) == 250 and len(task.test_items) == 250
    assert not train_items & set(task.test_items)


def test_unknown_or_skipped_dataset_says_why(shared_data):
    with pytest.raises(ConfigError, match="leaky"):
        pivot.pivot_inputs(shared_data, "msrvtt-cn")


def test_missing_shared_data_is_named(tmp_path):
    with pytest.raises(MissingFileError, match="shared data"):
        pivot.load_task(tmp_path, "vatex")


@pytest.mark.slow
def test_small_scale_end_to_end(shared_data, tmp_path, capsys):
    results = pivot.run_pivot(shared_data, tmp_path, datasets=("multi30k",), small_scale=True, max_items=30,
                              verbose=0)
    assert results["multi30k"]["t2i_queries"] == 150
    assert "warning:" not in capsys.readouterr().out  # the NRCCR warning comes with NRCCR results only
    table = (tmp_path / "pivot_results.md").read_text(encoding="utf-8")
    assert "| multi30k (ours) |" in table and "floor" not in table  # no floor comparison for capped runs


def test_nrccr_pairs_align_english_with_baidu_and_google_mt_by_image_and_caption_index(shared_data):
    task = pivot.load_task(shared_data, "flickr8k-cn", max_items=15)
    source, translations = pivot.load_nrccr_pairs(shared_data, "flickr8k-cn", task)
    assert len(source) == len(translations) == 150  # each English caption twice: with zhb and with zhg
    assert {c.tag for c in source} == {"enc"} and {c.tag for c in translations} == {"zhb", "zhg"}
    assert sorted(c.text for c in translations) == sorted(c.text for c in task.train)  # the baseline's MT text
    assert all((s.item_id, s.index) == (t.item_id, t.index) for s, t in zip(source, translations))
    assert {c.item_id for c in source} == {c.item_id for c in task.train}
    assert not {c.item_id for c in source} & (set(task.test_items) | set(task.val_items))


def test_nrccr_pairs_of_multi30k_are_task1_english_and_german(shared_data):
    task = pivot.load_task(shared_data, "multi30k", max_items=5)
    source, translations = pivot.load_nrccr_pairs(shared_data, "multi30k", task)
    assert [c.item_id for c in source] == [c.item_id for c in translations] and len(source) == 5
    assert {c.tag for c in source} == {"en"} and {c.tag for c in translations} == {"de"}


def test_unknown_method_is_rejected_before_training(shared_data, tmp_path):
    with pytest.raises(ConfigError, match="nrccr"):
        pivot.run_pivot(shared_data, tmp_path, datasets=("flickr8k-cn",), method="baseline,nrcr")
    assert not any(tmp_path.iterdir())


def test_nrccr_method_runs_end_to_end_on_tiny_flickr8k_cn(shared_data, tmp_path, capsys):
    results = pivot.run_pivot(shared_data, tmp_path, datasets=("flickr8k-cn",), small_scale=True, max_items=12,
                              method="nrccr", verbose=0)
    printed = capsys.readouterr().out
    assert "| flickr8k-cn nrccr (ours) |" in printed.split("warning: NRCCR has not beaten its baseline")[0]
    assert NRCCR_MEASURED[0] in printed  # the measured gap, after the results
    assert list(results) == ["flickr8k-cn nrccr"]
    metrics = results["flickr8k-cn nrccr"]
    assert metrics["t2i_queries"] == 60 and metrics["gallery"] == 12 and metrics["train_captions"] == 240
    assert 0.0 <= metrics["t2i_r1"] <= metrics["t2i_r10"] <= 100.0
    assert (tmp_path / "flickr8k-cn-nrccr" / "best.keras").is_file()
    table = (tmp_path / "pivot_results.md").read_text(encoding="utf-8")
    assert "| flickr8k-cn nrccr (ours) |" in table and "back-translation weight 0" in table


class _FakeEncoder:
    """Stands in for MiniLM: one fixed random vector per distinct sentence, remembering what it encoded."""

    def __init__(self):
        self.seen = []

    def encode(self, texts, batch_size=256, normalize_embeddings=True):
        import zlib

        import numpy as np

        self.seen.extend(texts)
        rows = [np.random.default_rng(zlib.crc32(t.encode("utf-8"))).standard_normal(8) for t in texts]
        return np.stack([row / np.linalg.norm(row) for row in rows]).astype("float32")


def test_held_out_caption_stand_in_never_sees_a_training_caption(shared_data, tmp_path, monkeypatch):
    from recipes import stand_in

    encoder = _FakeEncoder()
    monkeypatch.setattr(stand_in, "_encoder", lambda: encoder)
    task = pivot.load_task(shared_data, "flickr8k-cn", max_items=6, stand_in="held-out-captions",
                           stand_in_dir=tmp_path)
    assert {c.index for c in task.train} == {2, 3, 4}  # Baidu/Google MT of English #2-#4 only
    source, translations = pivot.load_nrccr_pairs(shared_data, "flickr8k-cn", task)
    assert {c.index for c in source} == {2, 3, 4}
    assert not set(encoder.seen) & {c.text for c in source}  # the vectors came from English #0-#1 alone
    items = {c.item_id for c in task.train} | set(task.val_items) | set(task.test_items)
    assert len(encoder.seen) == 2 * len(items) and task.features.shape == (len(items), 8)
    encoder.seen.clear()
    pivot.load_task(shared_data, "flickr8k-cn", max_items=6, stand_in="held-out-captions", stand_in_dir=tmp_path)
    assert encoder.seen == []  # cached


def test_held_out_caption_stand_in_is_refused_where_it_does_not_exist(shared_data, tmp_path):
    with pytest.raises(ConfigError, match="held-out-caption stand-in exists for"):
        pivot.load_task(shared_data, "multi30k", stand_in="held-out-captions", stand_in_dir=tmp_path)
    with pytest.raises(ConfigError, match="stand_in must be one of"):
        pivot.load_task(shared_data, "flickr8k-cn", stand_in="captions")
