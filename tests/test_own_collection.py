"""`w2vvx collection build`: captions in common forms + an image folder or feature file -> the lineage layout."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from w2vvx.datasets.caption_tables import read_caption_table
from w2vvx.datasets.own_data import assign_splits, build_collection, item_id_of
from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io.bigfile import write_bigfile
from w2vvx.io.collection import Collection

IDS = [f"img{n:02d}" for n in range(12)]


@pytest.fixture
def features(tmp_path):
    folder = tmp_path / "feat16"
    write_bigfile(folder, IDS, np.random.default_rng(0).normal(size=(len(IDS), 16)))
    return folder


def _csv(tmp_path, lines, name="captions.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows():
    rows = ["image,caption,lang"]
    for n, item in enumerate(IDS):
        rows += [f"photos/{item}.jpg,a photo number {n} of a dog,en", f"{item}.JPG,\"a dog, picture {n}\",en",
                 f"{item},一只狗 {n},zh"]
    return rows


def test_csv_with_languages_writes_the_layout_train_reads(tmp_path, features):
    folder = build_collection(tmp_path / "root", "mine", _csv(tmp_path, _rows()), features=features, val=3, test=2)
    coll = Collection(tmp_path / "root", "mine")
    assert folder == coll.path
    splits = {split: coll.item_ids(split) for split in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [7, 3, 2]
    assert sorted(sum(splits.values(), [])) == IDS
    train = coll.captions("train")
    assert {c.tag for c in train} == {"enc"} and len(train) == 14 and train[0].sent_id.endswith("#enc#0")
    assert coll.captions("train")[1].text.startswith("a dog, picture")  # quoted separator kept
    zh = coll.captions("val", "zh")
    assert {c.tag for c in zh} == {"zh"} and {c.item_id for c in zh} == set(splits["val"])
    assert coll.variants("test") == [None, "zh"] and coll.feature_names() == ["feat16"]
    assert coll.features("feat16").shape == (12, 16)
    info = json.loads((folder / "collection.json").read_text())
    assert info["languages"] == ["en", "zh"] and info["captions"] == 36 and "file name" in info["id_rule"]


def test_jsonl_coco_and_lineage_forms(tmp_path, features):
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("".join(json.dumps({"file_name": f"{i}.png", "text": f"cat {i}", "split": s}) + "\n"
                             for i, s in zip(IDS, ["train"] * 8 + ["val"] * 2 + ["test"] * 2)))
    coll = Collection(build_collection(tmp_path / "a", "j", jsonl, features=features).parent, "j")
    assert coll.item_ids("val") == IDS[8:10]  # the split of each caption is kept
    coco = tmp_path / "c.json"
    coco.write_text(json.dumps({"images": [{"id": n, "file_name": f"x/{i}.jpg"} for n, i in enumerate(IDS)],
                                "annotations": [{"image_id": n, "caption": f"bird {n}"} for n in range(12)]}))
    assert read_caption_table(coco)[3].image == "x/img03.jpg"
    build_collection(tmp_path / "b", "c", coco, features=features, val=2, test=0)
    lineage = tmp_path / "old.caption.txt"
    lineage.write_text("".join(f"{i}.jpg#enc#0 a horse {i}\n{i}.jpg#zh#0 一匹马\n" for i in IDS), encoding="utf-8")
    rows = read_caption_table(lineage)
    assert (rows[0].image, rows[0].language, rows[1].language) == ("img00.jpg", "en", "zh")


def test_errors_name_the_line_and_the_id_rule(tmp_path, features):
    bad = _csv(tmp_path, ["image,caption", "img01.jpg,a dog", "dgo.jpg,a dog"])
    with pytest.raises(DataFormatError, match=r"captions.csv:3: image 'dgo.jpg' \(id 'dgo': the file name without "
                                              r"folder and extension\) is not in the feature file"):
        build_collection(tmp_path / "r", "x", bad, features=features)
    twice = _csv(tmp_path, ["image,caption", "img01.jpg,a dog", "img01,a dog"], "twice.csv")
    with pytest.raises(DataFormatError, match=r"twice.csv:3: the same caption of 'img01' is already given at "
                                              r".*twice.csv:2"):
        build_collection(tmp_path / "r", "x", twice, features=features)
    fields = _csv(tmp_path, ["img01.jpg"], "fields.csv")
    with pytest.raises(DataFormatError, match=r"fields.csv:1: expected image,caption"):
        read_caption_table(fields)
    lang = _csv(tmp_path, ["image,caption,lang", "img01.jpg,a dog,klingon"], "lang.csv")
    with pytest.raises(DataFormatError, match=r"lang.csv:2: unknown language 'klingon'"):
        build_collection(tmp_path / "r", "x", lang, features=features)
    split = tmp_path / "split.jsonl"
    split.write_text('{"image": "img01", "caption": "a", "split": "train"}\n'
                     '{"image": "img01", "caption": "b", "split": "test"}\n')
    with pytest.raises(DataFormatError, match=r"split.jsonl:2: item 'img01' is put in 'test' here but in 'train'"):
        build_collection(tmp_path / "r", "x", split, features=features)
    with pytest.raises(DataFormatError, match="unknown captions format"):
        read_caption_table(_csv(tmp_path, ["a"], "captions.xlsx"))
    with pytest.raises(ConfigError, match="cannot give 6 val and 6 test"):
        assign_splits(IDS, val=6, test=6)
    assert not (tmp_path / "r" / "x").exists()  # nothing half-written


def test_id_rule_and_existing_collection(tmp_path, features):
    assert [item_id_of(r) for r in ("a/b/dog.jpeg", "dog", "dog.v2.png", "C:\\x\\Cat.PNG")] == \
        ["dog", "dog", "dog.v2", "Cat"]
    path = _csv(tmp_path, _rows())
    build_collection(tmp_path / "r", "x", path, features=features)
    with pytest.raises(ConfigError, match="exists; pass overwrite=True"):
        build_collection(tmp_path / "r", "x", path, features=features)


def test_cli_collection_build(tmp_path, features):
    from w2vvx.cli import cli

    result = CliRunner().invoke(cli, ["--rootpath", str(tmp_path / "new_root"), "collection", "build", "mine",
                                      "--captions", str(_csv(tmp_path, _rows())), "--features", str(features),
                                      "--val", "2", "--test", "0.25"])
    assert result.exit_code == 0, result.output
    assert "36 captions (en, zh) of 12 items (train 7, val 2, test 3)" in result.output
    bad = CliRunner().invoke(cli, ["--rootpath", str(tmp_path), "collection", "build", "m", "--captions",
                                   str(_csv(tmp_path, ["image,caption", "zz.jpg,x"], "bad.csv")), "--features",
                                   str(features)])
    # the error boundary of main() prints it as one line with status 2; through CliRunner it is the exception
    assert isinstance(bad.exception, DataFormatError) and "bad.csv:2: image 'zz.jpg'" in str(bad.exception)


def test_image_folder_alone_is_extracted_into_featuredata(tmp_path):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for item in IDS:
        Image.fromarray(rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)).save(photos / f"{item}.png")
    folder = build_collection(tmp_path / "root", "pix", _csv(tmp_path, _rows()), images=photos, model="tiny_image",
                              val=2, test=2)
    features = Collection(tmp_path / "root", "pix").features("tiny_image")
    assert features.shape == (12, 432) and features.names == IDS
    assert json.loads((folder / "collection.json").read_text())["images"] == str(photos.resolve())
    (photos / "img00.png").unlink()  # a caption whose image is gone is refused, naming the line
    with pytest.raises(DataFormatError, match=r"captions.csv:2: image 'photos/img00.jpg' \(id 'img00'.*image folder"):
        build_collection(tmp_path / "root", "pix2", _csv(tmp_path, _rows()), images=photos, model="tiny_image")
