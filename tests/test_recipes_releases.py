"""Each recipe accepts a tiny copy of the real release layout (tests/fixtures/releases/) and trains NRCCR itself."""
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from recipes import coco_cn, msrvtt_cn, multi30k, vatex
from w2vvx.io.bigfile import BigFile


def _release(fixtures_dir, tmp_path, name):
    target = tmp_path / "release" / name
    shutil.copytree(fixtures_dir / "releases" / name, target)
    return target


def _read_files(folder: Path):
    """Every file of a release fixture, as the plan should name it (a BigFile is named by its folder)."""
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name in ("feature.bin", "id.txt", "shape.txt"):
            path = path.parent
        out.append(path)
    return sorted(set(out))


@pytest.mark.parametrize("name, prepare", [
    ("vatex", lambda release, root: vatex.prepare(release, root, dry_run=True)),
    ("msrvttcn", lambda release, root: msrvtt_cn.prepare(release, root, dry_run=True)),
    ("multi30k", lambda release, root: multi30k.prepare(nrccr_dir=release, rootpath=root, dry_run=True)),
    ("coco-cn", lambda release, root: coco_cn.prepare(root, retrieval_data=release / "coco-cn_retrieval_data",
                                                      dry_run=True)),
])
def test_dry_run_accepts_the_release_layout_and_names_every_file(fixtures_dir, tmp_path, name, prepare):
    release = _release(fixtures_dir, tmp_path, name)
    plan = prepare(release, tmp_path / "root")
    assert not (tmp_path / "root").exists()
    for path in _read_files(release):
        assert str(path) in plan, f"{path.relative_to(release)} is not named in the plan of {name}"
    assert "missing (optional)" not in plan


def test_msrvttcn_uses_nrccr_file_names(fixtures_dir, tmp_path):
    release = _release(fixtures_dir, tmp_path, "msrvttcn")
    plan = msrvtt_cn.prepare(release, tmp_path / "root", dry_run=True)
    for name in ("msrvttcntrain.caption.txt", "msrvttcntrain_google_enc2zh.caption.txt",
                 "msrvttcnval_zh.caption.txt", "msrvttcnval_google_zh2enc.caption.txt"):
        assert f"msrvttcn/TextData/{name}" in plan
    assert "msrvtt10kyu/" not in plan.replace("VisualSearch/msrvtt10kyu/TextData", "")


def test_multi30k_features_are_read_with_their_id_lists(fixtures_dir, tmp_path):
    release = _release(fixtures_dir, tmp_path, "multi30k")
    root = tmp_path / "root"
    multi30k.prepare(nrccr_dir=release, rootpath=root)
    features = BigFile(root / "multi30k" / "FeatureData" / "resnet_152")
    feature_data = release / "multi30k" / "FeatureData"
    ids = (feature_data / "test_id_2016.txt").read_text().split()
    array = np.load(feature_data / "resnet_152" / "test_2016_flickr-resnet152-avgpool.npy")
    # the fixture's id lists are in reverse split order: the row order is the id list's, not the split file's
    first_query = (release / "multi30k" / "TextData" / "multi30ktest_de_2016_task1.caption.txt").read_text(
        encoding="utf-8").split("#")[0]
    np.testing.assert_array_equal(features.read([first_query])[1][0], array[ids.index(first_query)])
    assert ids.index(first_query) != 0


def test_coco_cn_accepts_the_retrieval_data_archive(fixtures_dir, tmp_path):
    folder = fixtures_dir / "releases" / "coco-cn" / "coco-cn_retrieval_data"
    archive = tmp_path / "coco-cn_retrieval_data.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)
    root = tmp_path / "root"
    plan = coco_cn.prepare(root, retrieval_data=archive, dry_run=True)
    assert "coco-cn_retrieval_data.tar.gz" in plan and "[to do] extract" in plan and not root.exists()
    plan = coco_cn.prepare(root, retrieval_data=archive)
    for collection in list(coco_cn.EN.values()) + list(coco_cn.ZH.values()):
        assert (root / collection / "TextData" / f"{collection}.caption.txt").is_file()
    assert BigFile(root / "mscoco2014dev" / "FeatureData" / coco_cn.RETRIEVAL_FEATURE).shape[0] > 0
    assert "[to do]" not in coco_cn.prepare(root, retrieval_data=archive, dry_run=True)


@pytest.fixture(scope="module")
def msrvttcn_run(tmp_path_factory, fixtures_dir):
    tmp_path = tmp_path_factory.mktemp("msrvttcn")
    release = _release(fixtures_dir, tmp_path, "msrvttcn")
    (release / "msrvttcn" / "TextData" / "msrvttcnval_google_zh2enc.caption.txt").unlink()
    root = tmp_path / "root"
    msrvtt_cn.prepare(release, root)
    results = msrvtt_cn.run(root, tmp_path / "run", small_scale=True, max_epochs=1, verbose=0)
    return tmp_path / "run", results


def test_msrvttcn_recipe_trains_the_nrccr_model(msrvttcn_run):
    from w2vvx.training.trainer import load_run

    run_dir, results = msrvttcn_run
    run = load_run(run_dir / "model")
    assert type(run.model).__name__ == "NRCCRRetriever"
    assert run.model.backbone.cross_attention is not None  # the cross-attention view
    history = (run_dir / "model" / "history.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    for term in ("loss_source", "loss_target", "loss_similarity", "loss_feature", "loss_backtranslation"):
        assert term in history, f"{term} is not a term of the trained loss ({history})"
    assert list(results) == ["native w=1", "native w=0.8", "native w=0.5", "native w=0.2", "native w=0"]
    assert results["native w=1"]["t2i_queries"] == 10


def test_missing_optional_file_is_named_in_the_results_header(msrvttcn_run):
    run_dir, _ = msrvttcn_run
    report = (run_dir / "results.md").read_text(encoding="utf-8")
    assert "MISSING optional file: msrvttcnval_google_zh2enc.caption.txt" in report
    assert "NRCCRTrainer" in report and "similarity" in report and "backtranslation" in report


@pytest.mark.slow
def test_coco_cn_run_on_the_prepared_retrieval_data(fixtures_dir, tmp_path):
    root = tmp_path / "root"
    coco_cn.prepare(root, retrieval_data=fixtures_dir / "releases" / "coco-cn" / "coco-cn_retrieval_data")
    results = coco_cn.run(root, tmp_path / "run", feature=coco_cn.RETRIEVAL_FEATURE, config="base_w2vv",
                          small_scale=True, max_epochs=1, verbose=0, train_word_vectors=True)
    assert list(results)[:2] == ["CL", "CM"] and list(results)[2].startswith("CLM (w=")
    report = (tmp_path / "run" / "results.md").read_text(encoding="utf-8")
    assert "MISSING optional file cococntrain_zhb.caption.txt" in report and "ONE English test sentence" in report
