"""COCO-CN recipe on tiny files in the release formats (real COCO-CN / xFlickr&CO lines, toy features)."""
import json
import shutil

import pytest

from recipes import coco_cn
from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io.captions import read_captions
from w2vvx.io.imagesets import read_imageset


@pytest.fixture
def sources(tmp_path, fixtures_dir):
    base = tmp_path / "in"
    for name in ("coco_cn_release", "coco_captions", "coco_features"):
        shutil.copytree(fixtures_dir / "recipes" / name, base / name)
    return {"release_dir": base / "coco_cn_release",
            "test_json": base / "coco_cn_release" / "merged_captions_coco-cn_test.json",
            "mt_file": base / "coco_cn_release" / "imageid.baidu-translated-caption.txt",
            "coco_captions_dir": base / "coco_captions",
            "features_bigfile": base / "coco_features" / "resnext101_toy"}


def test_prepare_writes_the_lineage_collections(sources, tmp_path):
    root = tmp_path / "root"
    plan = coco_cn.prepare(root, **sources)
    assert "0.514" in plan and "li-xirong/coco-cn" in plan
    test = read_captions(root / "cococntest" / "TextData" / "cococntest.caption.txt")
    test_json = json.loads(sources["test_json"].read_text(encoding="utf-8"))
    human = [a for a in test_json["annotations"] if a["source"] == "cn"]
    assert len(test) == len(human) and all(c.tag == "zh" for c in test)
    train_en = set(read_imageset(root / "mscoco2014dev-train" / "ImageSets" / "mscoco2014dev-train.txt"))
    held_out = set(read_imageset(root / "cococntest" / "ImageSets" / "cococntest.txt"))
    held_out |= set(read_imageset(root / "cococnval" / "ImageSets" / "cococnval.txt"))
    assert train_en and not train_en & held_out
    en_test = read_captions(root / "mscoco2014dev-test" / "TextData" / "mscoco2014dev-test.caption.txt")
    assert len(en_test) == 4 and len({c.item_id for c in en_test}) == 4
    assert (root / "cococntrain" / "TextData" / "cococntrain_zhb.caption.txt").is_file()
    assert "[to do]" not in coco_cn.prepare(root, dry_run=True, **sources)


def test_malformed_tsv_line_is_reported(sources, tmp_path):
    path = sources["release_dir"] / "imageid.human-written-caption.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = "COCO_val2014_000000000042 missing the sentence number"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as raised:
        coco_cn.prepare(tmp_path / "root", dry_run=True, **sources)
    assert raised.value.line == 3 and "on request" in str(raised.value)


def test_bad_json_and_missing_options(sources, tmp_path):
    sources["test_json"].write_text('{"images": []}', encoding="utf-8")
    with pytest.raises(DataFormatError, match="annotations"):
        coco_cn.prepare(tmp_path / "root", dry_run=True, **sources)
    with pytest.raises(ConfigError, match="features"):
        coco_cn.prepare(tmp_path / "root", dry_run=True, release_dir=sources["release_dir"],
                        coco_captions_dir=sources["coco_captions_dir"])


@pytest.mark.slow
def test_small_scale_end_to_end(sources, tmp_path):
    root = tmp_path / "root"
    coco_cn.prepare(root, **sources)
    results = coco_cn.run(root, tmp_path / "run", feature="resnext101_toy", config="base_w2vv", small_scale=True,
                          verbose=0, train_word_vectors=True)
    assert list(results)[:2] == ["CL", "CM"] and list(results)[2].startswith("CLM (w=")
    assert all(r["t2i_queries"] == 4 for r in results.values())
    assert "mIR" in (tmp_path / "run" / "results.md").read_text(encoding="utf-8")
