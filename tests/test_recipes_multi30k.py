"""Multi30K recipe on a tiny copy of the raw release (real first lines of the .gz files) with the toy
features of NRCCR's FeatureData layout (id lists + .npy, tests/fixtures/releases/multi30k)."""
import gzip
import shutil

import numpy as np
import pytest

from recipes import multi30k
from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.bigfile import BigFile
from w2vvx.io.captions import read_captions


@pytest.fixture
def release(tmp_path, fixtures_dir):
    data = tmp_path / "data"
    shutil.copytree(fixtures_dir / "recipes" / "multi30k_release", data)
    features = tmp_path / "FeatureData"
    shutil.copytree(fixtures_dir / "releases" / "multi30k" / "multi30k" / "FeatureData", features)
    return data, features


def _task2_bigfile(data, tmp_path):
    from w2vvx.io.bigfile import write_bigfile
    from w2vvx.io.captions import strip_extension

    ids = []
    for split in ("train", "val", "test_2016"):
        ids += (data / "task2" / "image_splits" / f"{split}_images.txt").read_text().split()
    ids = list(dict.fromkeys(strip_extension(i) for i in ids))
    folder = tmp_path / "task2_features"
    write_bigfile(folder, ids, np.random.default_rng(0).random((len(ids), 8), dtype=np.float32))
    return folder


def test_dry_run_lists_every_file_with_its_source(release, tmp_path):
    data, features = release
    plan = multi30k.prepare(data, tmp_path / "root", task=1, lang="fr", features_dir=features, dry_run=True)
    assert not (tmp_path / "root").exists()
    for name in ("task1/raw/train.fr.gz", "task1/image_splits/test_2016_flickr.txt",
                 "resnet_152/train-resnet_152-avgpool.npy", "FeatureData/train_id.txt"):
        assert name in plan
    assert "github.com/multi30k/dataset" in plan and "452.9" in plan


def test_task1_prepare_aligns_lines_with_images(release, tmp_path):
    data, features = release
    root = tmp_path / "root"
    multi30k.prepare(data, root, task=1, lang="de", features_dir=features)
    german = read_captions(root / "multi30k" / "TextData" / "multi30ktrain_de.caption.txt")
    images = (data / "task1" / "image_splits" / "train.txt").read_text().split()
    with gzip.open(data / "task1" / "raw" / "train.de.gz", "rt", encoding="utf-8") as handle:
        first = handle.readline().rstrip("\n")
    stem = images[0].rsplit(".", 1)[0]  # the lineage's id rule: no .jpg
    assert german[0].sent_id == f"{stem}#de#0" and german[0].text == first
    bigfile = BigFile(root / "multi30k" / "FeatureData" / "resnet_152")
    assert bigfile.shape == (24, 8)
    val_ids = (features / "val_id.txt").read_text().split()
    val_image = (data / "task1" / "image_splits" / "val.txt").read_text().split()[2].rsplit(".", 1)[0]
    expected = np.load(features / "resnet_152" / "val-resnet_152-avgpool.npy")[val_ids.index(val_image)]
    np.testing.assert_array_equal(bigfile.read([val_image])[1][0], expected)


def test_task2_keeps_five_descriptions_per_image_grouped(release, tmp_path):
    data, features = release
    root = tmp_path / "root"
    multi30k.prepare(data, root, task=2, lang="de", features_bigfile=_task2_bigfile(data, tmp_path))
    captions = read_captions(root / "multi30k" / "TextData" / "multi30ktask2test2016_de.caption.txt")
    assert len(captions) == 30
    assert [c.index for c in captions[:5]] == [0, 1, 2, 3, 4] and len({c.item_id for c in captions[:5]}) == 1


def test_sentence_file_shorter_than_split_is_named(release, tmp_path):
    data, features = release
    path = data / "task1" / "raw" / "val.de.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DataFormatError) as raised:
        multi30k.prepare(data, tmp_path / "root", task=1, lang="de", features_dir=features, dry_run=True)
    assert "val.de.gz" in str(raised.value) and "5 lines, expected 6" in str(raised.value)


def test_not_gzip_is_reported(release, tmp_path):
    data, features = release
    (data / "task1" / "raw" / "test_2016_flickr.de.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataFormatError, match="test_2016_flickr.de.gz"):
        multi30k.prepare(data, tmp_path / "root", task=1, lang="de", features_dir=features, dry_run=True)


def test_npy_with_wrong_row_count_is_rejected(release, tmp_path):
    data, features = release
    np.save(features / "resnet_152" / "val-resnet_152-avgpool.npy", np.zeros((5, 8), np.float32))
    with pytest.raises(DataFormatError, match="5 rows, expected 6"):
        multi30k.prepare(data, tmp_path / "root", task=1, lang="de", features_dir=features)


def test_missing_features_and_bad_options(release, tmp_path):
    data, features = release
    (features / "resnet_152" / "train-resnet_152-avgpool.npy").unlink()
    with pytest.raises(MissingFileError, match="Baidu Pan"):
        multi30k.prepare(data, tmp_path / "root", features_dir=features, dry_run=True)
    with pytest.raises(ConfigError, match="features"):
        multi30k.prepare(data, tmp_path / "root", dry_run=True)
    with pytest.raises(ConfigError, match="English and German"):
        multi30k.prepare(data, tmp_path / "root", task=2, lang="fr", features_dir=features, dry_run=True)
    with pytest.raises(ConfigError, match="exactly one of"):
        multi30k.prepare(data, tmp_path / "root", nrccr_dir=data, features_dir=features, dry_run=True)


@pytest.mark.slow
def test_small_scale_end_to_end_task1(release, tmp_path):
    data, features = release
    root = tmp_path / "root"
    multi30k.prepare(data, root, task=1, lang="de", features_dir=features)
    results = multi30k.run(root, tmp_path / "run", task=1, lang="de", small_scale=True, verbose=0)
    assert list(results) == ["native w=1"]  # no query MT given: native queries only
    assert results["native w=1"]["t2i_queries"] == 6
    report = (tmp_path / "run" / "results.md").read_text(encoding="utf-8")
    assert "12 source captions aligned with human de training text" in report
    assert "MISSING optional file: multi30ktest2016_google_de2enc.caption.txt" in report
    assert "MISSING optional file: multi30ktrain_google_enc2de.caption.txt" in report


@pytest.mark.slow
def test_small_scale_end_to_end_nrccr_release_fuses_with_w_05(fixtures_dir, tmp_path):
    release = tmp_path / "nrccr"
    shutil.copytree(fixtures_dir / "releases" / "multi30k", release)
    root = tmp_path / "root"
    multi30k.prepare(nrccr_dir=release, rootpath=root)
    results = multi30k.run(root, tmp_path / "run", small_scale=True, max_epochs=1, verbose=0)
    assert list(results) == ["native w=1", "native w=0.5"]  # NRCCR tester_img.py: w = 0.5
    assert "MISSING" not in (tmp_path / "run" / "results.md").read_text(encoding="utf-8")
