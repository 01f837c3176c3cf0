"""MSR-VTT-CN recipe on a tiny release (real MSR-VTT-CN caption lines, toy video-level features)."""
import shutil

import pytest

from recipes import msrvtt_cn
from w2vvx.io.bigfile import BigFile


@pytest.fixture
def release(tmp_path, fixtures_dir):
    target = tmp_path / "release"
    shutil.copytree(fixtures_dir / "recipes" / "msrvtt_release", target)
    return target


def test_video_level_features_are_copied_for_split_videos(release, tmp_path):
    root = tmp_path / "root"
    plan = msrvtt_cn.prepare(release, root)
    assert "copy the video features" in plan and "308" in plan
    features = BigFile(root / "msrvtt10kyu" / "FeatureData" / "resnext101-resnet152")
    source = BigFile(release / "msrvtt10kyu" / "FeatureData" / "resnext101-resnet152")
    assert features.shape == source.shape
    name = features.names[7]
    assert (features.read([name])[1] == source.read([name])[1]).all()


def test_features_missing_for_a_video_is_an_error(release, tmp_path):
    from w2vvx.errors import DataFormatError
    from w2vvx.io.bigfile import write_bigfile

    folder = release / "msrvtt10kyu" / "FeatureData" / "resnext101-resnet152"
    source = BigFile(folder)
    names, vectors = source.names[:-1], source.read_rows(list(range(len(source) - 1)))
    shutil.rmtree(folder)
    write_bigfile(folder, names, vectors)
    with pytest.raises(DataFormatError, match="no feature row"):
        msrvtt_cn.prepare(release, tmp_path / "root")


@pytest.mark.slow
def test_small_scale_end_to_end(release, tmp_path):
    root = tmp_path / "root"
    msrvtt_cn.prepare(release, root)
    results = msrvtt_cn.run(root, tmp_path / "run", small_scale=True, verbose=0)
    assert results["w=0.8"]["t2i_queries"] == 10  # 1 Chinese sentence per clip
    assert 0.0 <= results["w=1"]["t2i_mir"] <= 1.0
