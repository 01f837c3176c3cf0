"""VATEX recipe on a tiny release in the NRCCR format (real caption lines, toy I3D frame features)."""
import shutil

import numpy as np
import pytest

from recipes import vatex
from w2vvx.errors import DataFormatError, MissingFileError
from w2vvx.io.bigfile import BigFile
from w2vvx.io.frames import read_video2frames
from w2vvx.io.imagesets import read_imageset


@pytest.fixture
def release(tmp_path, fixtures_dir):
    target = tmp_path / "release"
    shutil.copytree(fixtures_dir / "recipes" / "vatex_release", target)
    return target


def test_dry_run_checks_inputs_prints_plan_and_writes_nothing(release, tmp_path):
    root = tmp_path / "root"
    plan = vatex.prepare(release, root, dry_run=True)
    assert not root.exists()
    assert "[to do] features" in plan and "i3d_kinetics_mean" in plan
    assert "80 captions of 8 items" in plan and "missing (optional)" in plan
    assert "Baidu Pan" in plan and "366.5" in plan


def test_prepare_mean_pools_frames_and_is_idempotent(release, tmp_path):
    root = tmp_path / "root"
    vatex.prepare(release, root)
    pooled = BigFile(root / "vatex" / "FeatureData" / "i3d_kinetics_mean")
    frames = BigFile(release / "vatex" / "FeatureData" / "i3d_kinetics")
    video2frames = read_video2frames(release / "vatex" / "FeatureData" / "i3d_kinetics" / "video2frames.txt")
    video = pooled.names[0]
    expected = frames.read(video2frames[video])[1].mean(axis=0)
    np.testing.assert_allclose(pooled.read([video])[1][0], expected, rtol=1e-6)
    assert len(read_imageset(root / "vatex" / "ImageSets" / "vatextest.txt")) == 3
    # the zh->en MT of the MLCMR copy is stored under NRCCR's name
    assert (root / "vatex" / "TextData" / "vatextest_google_zh2enc.caption.txt").is_file()
    stamp = (root / "vatex" / "FeatureData" / "i3d_kinetics_mean" / "feature.bin").stat().st_mtime_ns
    plan = vatex.prepare(release, root)
    assert "[done] features" in plan and "[to do]" not in plan
    assert (root / "vatex" / "FeatureData" / "i3d_kinetics_mean" / "feature.bin").stat().st_mtime_ns == stamp


def test_missing_file_error_names_it_and_its_source(release, tmp_path):
    (release / "vatex" / "TextData" / "vatextrain_google_enc2zh.caption.txt").unlink()
    with pytest.raises(MissingFileError) as raised:
        vatex.prepare(release, tmp_path / "root", dry_run=True)
    assert "vatextrain_google_enc2zh.caption.txt" in str(raised.value) and "nrccr" in str(raised.value)


def test_malformed_caption_line_is_reported_with_line_number(release, tmp_path):
    path = release / "vatex" / "TextData" / "vatexval_zh.caption.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = "a line without a sentence id"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as raised:
        vatex.prepare(release, tmp_path / "root", dry_run=True)
    assert raised.value.line == 4 and "vatexval_zh.caption.txt" in str(raised.value)


def test_malformed_video2frames_is_reported(release, tmp_path):
    (release / "vatex" / "FeatureData" / "i3d_kinetics" / "video2frames.txt").write_text("{'v': [1, 2]}")
    with pytest.raises(DataFormatError, match="video2frames"):
        vatex.prepare(release, tmp_path / "root", dry_run=True)


def test_half_finished_prepare_is_redone(release, tmp_path, monkeypatch):
    root = tmp_path / "root"
    import recipes.video as video

    def crash(*args, **kwargs):
        raise RuntimeError("killed while pooling")

    monkeypatch.setattr(video, "_pool_features", crash)
    with pytest.raises(RuntimeError):
        vatex.prepare(release, root)
    assert not (root / "vatex" / "FeatureData" / "i3d_kinetics_mean").exists()
    monkeypatch.undo()
    plan = vatex.prepare(release, root)
    assert "[done] captions" in plan and "[to do] features" in plan
    assert (root / "vatex" / "FeatureData" / "i3d_kinetics_mean").is_dir()


def test_run_before_prepare_says_what_to_do(tmp_path):
    with pytest.raises(MissingFileError, match="prepare"):
        vatex.run(tmp_path, tmp_path / "run", small_scale=True)


@pytest.mark.slow
def test_small_scale_end_to_end(release, tmp_path):
    root = tmp_path / "root"
    vatex.prepare(release, root)
    results = vatex.run(root, tmp_path / "run", small_scale=True, verbose=0)
    assert set(results) == {"native w=1", "native w=0.8", "native w=0.5", "native w=0.2", "native w=0"}
    assert results["native w=0.8"]["t2i_queries"] == 30 and results["native w=0.8"]["i2t_queries"] == 3
    report = (tmp_path / "run" / "results.md").read_text(encoding="utf-8")
    assert "| zh queries, native w=0.8 |" in report and "not comparable" in report
    assert "NRCCRTrainer" in report and "MISSING optional file: vatextrain_google_enc2zh2enc" in report
    # a second run reuses the finished model (resumable) and gives the same numbers
    again = vatex.run(root, tmp_path / "run", small_scale=True, verbose=0)
    assert again["native w=0.8"]["sumr"] == pytest.approx(results["native w=0.8"]["sumr"])
