"""MSR-VTT-CN recipe on a tiny release in NRCCR's layout (collection msrvttcn; real caption lines, toy frame features)."""
import shutil

import numpy as np
import pytest

from recipes import msrvtt_cn
from w2vvx.io.bigfile import BigFile, write_bigfile
from w2vvx.io.frames import mean_pool_frames, read_video2frames


@pytest.fixture
def release(tmp_path, fixtures_dir):
    target = tmp_path / "release"
    shutil.copytree(fixtures_dir / "releases" / "msrvttcn", target)
    return target


def _feature_dir(release):
    return release / "msrvttcn" / "FeatureData" / "resnext101-resnet152"


def test_frame_features_are_mean_pooled_per_video(release, tmp_path):
    root = tmp_path / "root"
    plan = msrvtt_cn.prepare(release, root)
    assert "mean-pool frame features" in plan
    pooled = BigFile(root / "msrvttcn" / "FeatureData" / "resnext101-resnet152_mean")
    assert pooled.shape[0] == 50
    frames = BigFile(_feature_dir(release))
    video2frames = read_video2frames(_feature_dir(release) / "video2frames.txt")
    video = pooled.names[7]
    np.testing.assert_allclose(pooled.read([video])[1][0], mean_pool_frames(frames, video2frames, [video])[0],
                               rtol=1e-6)


def test_video_level_features_are_copied_for_split_videos(release, tmp_path):
    folder = _feature_dir(release)
    frames = BigFile(folder)
    video2frames = read_video2frames(folder / "video2frames.txt")
    videos = list(video2frames)
    pooled = mean_pool_frames(frames, video2frames, videos)
    shutil.rmtree(folder)
    write_bigfile(folder, videos, pooled)
    root = tmp_path / "root"
    plan = msrvtt_cn.prepare(release, root)
    assert "copy the video features" in plan
    copied = BigFile(root / "msrvttcn" / "FeatureData" / "resnext101-resnet152")
    assert copied.shape == (50, 12)
    np.testing.assert_array_equal(copied.read([videos[3]])[1][0], pooled[3])


def test_features_missing_for_a_video_is_an_error(release, tmp_path):
    from w2vvx.errors import DataFormatError

    path = _feature_dir(release) / "video2frames.txt"
    video2frames = read_video2frames(path)
    video2frames.pop(next(iter(video2frames)))
    path.write_text(repr(video2frames), encoding="utf-8")
    with pytest.raises(DataFormatError, match="not in video2frames"):
        msrvtt_cn.prepare(release, tmp_path / "root")


@pytest.mark.slow
def test_small_scale_end_to_end(release, tmp_path):
    root = tmp_path / "root"
    msrvtt_cn.prepare(release, root)
    results = msrvtt_cn.run(root, tmp_path / "run", small_scale=True, verbose=0)
    assert results["native w=0.8"]["t2i_queries"] == 10  # 1 Chinese sentence per clip
    assert 0.0 <= results["native w=1"]["t2i_mir"] <= 1.0
