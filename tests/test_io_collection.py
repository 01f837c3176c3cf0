"""Collections (w2vvx.io.collection) and video frame lists (w2vvx.io.frames)."""
import json

import numpy as np
import pytest

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.bigfile import write_bigfile
from w2vvx.io.captions import write_captions
from w2vvx.io.collection import Collection, SplitCollections
from w2vvx.io.frames import mean_pool_frames, parse_video2frames, read_video2frames
from w2vvx.io.imagesets import write_imageset


@pytest.fixture
def vatex_like(tmp_path):
    coll = Collection(tmp_path, "toyvid")
    write_captions(coll.caption_path("val"), [("v1#enc#0", "a dog"), ("v2#enc#0", "a cat"), ("v1#enc#1", "dog")])
    write_captions(coll.caption_path("val", "zh"), [("v1#zh#0", "狗"), ("v2#zh#0", "猫")])
    write_captions(coll.caption_path("val", "google_enc2zh"), [("v1#enc2zh#0", "狗"), ("v2#enc2zh#0", "猫")])
    write_captions(coll.caption_path("train", "google_enc2zh2enc"), [("v3#enc2zh2enc#0", "dog")])
    write_bigfile(coll.feature_dir / "i3d", ["v1", "v2", "v3"], np.eye(3, dtype=np.float32))
    return coll


def test_single_folder_layout(vatex_like, tmp_path):
    coll = vatex_like
    assert coll.caption_path("val", "zh") == tmp_path / "toyvid" / "TextData" / "toyvidval_zh.caption.txt"
    assert coll.variants("val") == [None, "google_enc2zh", "zh"]
    assert coll.variants("train") == ["google_enc2zh2enc"]
    assert [c.text for c in coll.captions("val", "zh")] == ["狗", "猫"]
    assert coll.item_ids("val") == ["v1", "v2"]
    assert coll.item_ids("train") == ["v3"]
    assert coll.feature_names() == ["i3d"]
    assert coll.features("i3d").shape == (3, 3)


def test_imageset_wins_over_captions(vatex_like):
    write_imageset(vatex_like.imageset_path("val"), ["v2", "v1"])
    assert vatex_like.item_ids("val") == ["v2", "v1"]


def test_missing_files_name_path_and_remedy(vatex_like):
    with pytest.raises(MissingFileError, match=r"toyvidval_fr.caption.txt: .*this split has: \(none\), 'google_enc2zh'"):
        vatex_like.captions("val", "fr")
    with pytest.raises(MissingFileError, match=r"FeatureData/resnet: feature 'resnet' not found \(available: \['i3d'\]\).*txt2bin"):
        vatex_like.features("resnet")
    with pytest.raises(MissingFileError, match=r"ImageSets/toyvidtest.txt: neither"):
        vatex_like.item_ids("test")


def test_bad_names_rejected(tmp_path):
    with pytest.raises(ConfigError):
        Collection(tmp_path, "../escape")
    with pytest.raises(ConfigError):
        SplitCollections(tmp_path)


def test_split_collections_layout(tmp_path):
    sc = SplitCollections(tmp_path, train="cococntrain", val="cococnval", test="cococntest",
                          feature_collection="mscoco2014dev")
    write_captions(sc.caption_path("train"), [("COCO_1#0", "一 只 狗"), ("COCO_2#0", "猫")])
    write_imageset(sc.imageset_path("test"), ["COCO_3"])
    write_bigfile(sc.feature_dir() / "resnext", ["COCO_1", "COCO_2", "COCO_3"], np.ones((3, 2), np.float32))
    assert sc.caption_path("train") == tmp_path / "cococntrain" / "TextData" / "cococntrain.caption.txt"
    assert sc.item_ids("train") == ["COCO_1", "COCO_2"]
    assert sc.item_ids("test") == ["COCO_3"]
    assert sc.features("resnext", "test").read(["COCO_3"])[0] == ["COCO_3"]
    assert sc.feature_names() == ["resnext"]
    assert sc.variants("train") == [None]
    with pytest.raises(ConfigError, match=r"unknown split 'dev'"):
        sc.captions("dev")
    with pytest.raises(MissingFileError, match="cococnval.caption.txt"):
        sc.captions("val")
    own = SplitCollections(tmp_path, train="cococntrain")
    with pytest.raises(ConfigError, match="give a split"):
        own.features("resnext")
    with pytest.raises(MissingFileError, match="cococntrain/FeatureData/resnext"):
        own.features("resnext", "train")


def test_real_vatex_as_collection(shared_data, tmp_path):
    text = tmp_path / "vatex" / "TextData"
    text.mkdir(parents=True)
    for name in ("vatexval.caption.txt", "vatexval_zh.caption.txt", "vatexval_google_enc2zh.caption.txt"):
        (text / name).symlink_to(shared_data / "vatex" / name)
    (tmp_path / "vatex" / "FeatureData").mkdir()
    (tmp_path / "vatex" / "FeatureData" / "minilm_en_pivot").symlink_to(shared_data / "pivot" / "vatex" / "minilm_en_pivot")
    coll = Collection(tmp_path, "vatex")
    assert coll.variants("val") == [None, "google_enc2zh", "zh"]
    ids = coll.item_ids("val")
    assert len(ids) == 1500
    assert coll.features("minilm_en_pivot").names == ids  # the pivot keeps first-appearance order


# ---- video2frames ---------------------------------------------------------------------------------

def test_dict_literal_sorted_numerically():
    parsed = parse_video2frames(b"{'v1': ['v1_10', 'v1_2', 'v1_1'], 'v2': []}")
    assert parsed == {"v1": ["v1_1", "v1_2", "v1_10"], "v2": []}


def test_json_and_text_variants(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"v": ["v_3", "v_0"]}))
    assert read_video2frames(tmp_path / "a.json") == {"v": ["v_0", "v_3"]}
    assert parse_video2frames(b"v v_9 v_10\n\nw w_1\n") == {"v": ["v_9", "v_10"], "w": ["w_1"]}
    assert parse_video2frames(b"v b a\n", sort=False) == {"v": ["b", "a"]}


@pytest.mark.parametrize("content", [
    b"{'v': [1, 2]}", b"{1: ['a_1']}", b"['v_1']", b"{'v': 'v_1'}", b"{'v': __import__('os').getcwd()}",
    b"{'v': ['v_1']", b"", b"\xff{", b"{'v': ['nonumber']}", b"v v_1\nv v_2\n"])
def test_bad_video2frames(content):
    with pytest.raises(DataFormatError):
        parse_video2frames(content)


def test_missing_video2frames(tmp_path):
    with pytest.raises(MissingFileError, match="video2frames"):
        read_video2frames(tmp_path / "video2frames.txt")


def test_mean_pool_frames(tmp_path):
    frames = {"a": ["a_0", "a_1", "a_2"], "b": ["b_0", "b_9"]}
    vectors = np.arange(8, dtype=np.float32).reshape(4, 2)
    write_bigfile(tmp_path / "f", ["a_0", "a_1", "a_2", "b_0"], vectors)
    from w2vvx.io.bigfile import BigFile

    bf = BigFile(tmp_path / "f")
    pooled = mean_pool_frames(bf, frames, ["b", "a"])
    np.testing.assert_allclose(pooled, [vectors[3], vectors[:3].mean(0)])
    assert mean_pool_frames(bf, frames, []).shape == (0, 2)
    with pytest.raises(DataFormatError, match="not in video2frames"):
        mean_pool_frames(bf, frames, ["c"])
    with pytest.raises(DataFormatError, match="none of the 1 frames of video 'd'"):
        mean_pool_frames(bf, {"d": ["d_0"]}, ["d"])
