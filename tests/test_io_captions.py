"""Caption files (w2vvx.io.captions) and ImageSets files (w2vvx.io.imagesets)."""
import gzip
import json

import pytest

from w2vvx.errors import DataFormatError, MissingFileError
from w2vvx.io.captions import (Caption, caption_file_name, iter_captions, parse_sentence_id, read_captions,
                               read_sentences, strip_extension, write_captions)
from w2vvx.io.imagesets import read_imageset, write_imageset


@pytest.mark.parametrize("sent_id,expected", [
    ("video7064#zh#0", ("video7064", "zh", 0)),
    ("1000268201_693b08cb0e.jpg#enc#3", ("1000268201_693b08cb0e.jpg", "enc", 3)),
    ("img#1", ("img", None, 1)),
    ("v1#google_enc2zh#12", ("v1", "google_enc2zh", 12)),
    ("a#b#c#2", ("a", "b#c", 2)),
])
def test_parse_sentence_id(sent_id, expected):
    assert parse_sentence_id(sent_id) == expected


@pytest.mark.parametrize("bad", ["noid", "#zh#0", "v#zh#x", "v#", "v##0"])
def test_parse_sentence_id_errors(bad):
    with pytest.raises(DataFormatError):
        parse_sentence_id(bad)


def test_strip_extension():
    assert strip_extension("a.jpg") == "a" and strip_extension("v.MP4") == "v" and strip_extension("video1") == "video1"
    assert strip_extension(".jpg") == ".jpg"


def test_round_trip_and_tabs_and_blank_lines(tmp_path):
    path = tmp_path / "x.caption.txt"
    write_captions(path, [("v1#enc#0", "A dog  runs."), Caption("v2#1", "v2", None, 1, "一只 狗")])
    assert path.read_text(encoding="utf-8") == "v1#enc#0 A dog  runs.\nv2#1 一只 狗\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n   \nv3#0\tTab separated\r\n")
    captions = read_captions(path)
    assert [c.item_id for c in captions] == ["v1", "v2", "v3"]
    assert captions[0] == Caption("v1#enc#0", "v1", "enc", 0, "A dog  runs.")
    assert captions[2].text == "Tab separated"
    assert list(iter_captions(path)) == captions


def test_bom_is_ignored(tmp_path):
    path = tmp_path / "b.caption.txt"
    path.write_bytes("\ufeffv1#0 hello\n".encode("utf-8"))
    assert read_captions(path)[0].sent_id == "v1#0"


def test_line_without_sentence(tmp_path):
    path = tmp_path / "x.caption.txt"
    path.write_text("v1#0 fine\nv2#0\n")
    with pytest.raises(DataFormatError, match=r"x.caption.txt:2: .*no sentence"):
        read_captions(path)


def test_line_without_id(tmp_path):
    path = tmp_path / "x.caption.txt"
    path.write_text("v1#0 fine\n  a sentence without id\n")
    with pytest.raises(DataFormatError, match=r"x.caption.txt:2: .*no sentence id"):
        read_captions(path)


def test_plain_sentence_file_is_rejected(tmp_path):
    path = tmp_path / "x.caption.txt"
    path.write_text("A man is running.\n")
    with pytest.raises(DataFormatError, match=r":1: sentence id 'A' has no '#'"):
        read_captions(path)


def test_non_utf8_line_names_byte_offset(tmp_path):
    path = tmp_path / "x.caption.txt"
    path.write_bytes(b"v1#0 ok\nv2#0 caf\xe9\n")
    with pytest.raises(DataFormatError, match=r"x.caption.txt:2: byte 8 .*file offset 16.*re-encode"):
        read_captions(path)
    assert read_captions(path, encoding="latin-1")[1].text == "café"


def test_empty_file_and_missing_file(tmp_path):
    (tmp_path / "e.caption.txt").write_text("\n\n")
    with pytest.raises(DataFormatError, match="empty"):
        read_captions(tmp_path / "e.caption.txt")
    with pytest.raises(MissingFileError, match="caption file not found"):
        read_captions(tmp_path / "absent.caption.txt")


def test_duplicate_sentence_id(tmp_path):
    path = tmp_path / "d.caption.txt"
    path.write_text("v#0 a\nv#1 b\nv#0 c\n")
    with pytest.raises(DataFormatError, match=r"'v#0' appears twice \(captions 1 and 3\)"):
        read_captions(path)


def test_write_rejects_bad_pairs(tmp_path):
    with pytest.raises(DataFormatError, match="whitespace"):
        write_captions(tmp_path / "w.txt", [("v 1#0", "x")])
    with pytest.raises(DataFormatError, match="newline"):
        write_captions(tmp_path / "w.txt", [("v#0", "x\ny")])
    assert not (tmp_path / "w.txt").exists()


def test_caption_file_name():
    assert caption_file_name("msrvtt10kyu", "test", "zh") == "msrvtt10kyutest_zh.caption.txt"
    assert caption_file_name("cococntrain") == "cococntrain.caption.txt"


def test_read_sentences_gz_keeps_alignment(tmp_path):
    path = tmp_path / "s.de.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("Ein Hund.\n\nZwei Männer.\n")
    assert read_sentences(path) == ["Ein Hund.", "", "Zwei Männer."]


def test_fixture_caption_files(fixtures_dir):
    zh = read_captions(fixtures_dir / "captions" / "vatexval_zh.caption.txt")
    assert len(zh) == 20 and len({c.item_id for c in zh}) == 2 and {c.tag for c in zh} == {"zh"}
    assert [c.index for c in zh[:10]] == list(range(10))
    mt = read_captions(fixtures_dir / "captions" / "msrvtt10kyutest_google_zhc2en.caption.txt")
    assert mt[0].item_id == "video9770" and mt[0].tag == "zhc2en"
    tsv = read_captions(fixtures_dir / "captions" / "coco-cn_ext.icap2020.txt")
    assert tsv[0].item_id.startswith("COCO_") and tsv[0].tag is None and "\t" not in tsv[0].text
    en = read_captions(fixtures_dir / "captions" / "flickr8kenc.caption.txt")
    # the lineage's id rule: the .jpg of '1000268201_693b08cb0e.jpg#enc#0' is not part of the item id
    assert en[0].item_id == "1000268201_693b08cb0e" and en[0].sent_id.startswith("1000268201_693b08cb0e.jpg#")
    kept = read_captions(fixtures_dir / "captions" / "flickr8kenc.caption.txt", keep_extension=True)
    assert kept[0].item_id == "1000268201_693b08cb0e.jpg"
    assert strip_extension(kept[0].item_id) == "1000268201_693b08cb0e"
    test_ids = read_imageset(fixtures_dir / "imagesets" / "flickr8ktest.txt")
    assert len(test_ids) == 5 and not any(i.endswith(".jpg") for i in test_ids)


@pytest.mark.parametrize("name,count,items", [
    ("vatex/vatexval.caption.txt", 15000, 1500), ("vatex/vatexval_zh.caption.txt", 15000, 1500),
    ("vatex/vatextest_zh.caption.txt", 15000, 1500), ("vatex/vatextest_google_enc2zh.caption.txt", 15000, 1500),
    ("msrvtt-cn/msrvtt10kyutest_zh.caption.txt", 1000, 1000),
    ("msrvtt-cn/msrvtt10kyutest.caption.txt", 1000, 1000),
    ("flickr8k-cn/flickr8kzhc.caption.txt", 40455, 8091), ("flickr8k-cn/flickr8kenc.caption.txt", 40460, 8092),
    ("flickr8k-cn/flickr8kzhmtest.captions.txt", 5000, 1000),
])
def test_real_caption_counts(shared_data, name, count, items):
    captions = read_captions(shared_data / name)
    assert len(captions) == count
    assert len({c.item_id for c in captions}) == items


def test_real_imagesets(shared_data):
    assert len(read_imageset(shared_data / "flickr8k-cn" / "flickr8ktrain.txt")) == 6000
    assert len(read_imageset(shared_data / "multi30k" / "task1" / "image_splits" / "val.txt")) == 1014


def test_real_coco_cn_json(shared_data):
    data = json.loads((shared_data / "coco-cn" / "merged_captions_coco-cn_test.json").read_text(encoding="utf-8"))
    assert len(data["images"]) == 1000 and len(data["annotations"]) == 6033
    sources = [a["source"] for a in data["annotations"]]
    assert sources.count("cn") == 1033 and sources.count("zhm") == 5000


def test_fixture_coco_cn_json(fixtures_dir):
    data = json.loads((fixtures_dir / "coco-cn" / "merged_captions_coco-cn_test.head.json").read_text(encoding="utf-8"))
    assert len(data["images"]) == 2 and len(data["annotations"]) == 12


def test_imageset_round_trip_and_errors(tmp_path):
    write_imageset(tmp_path / "s.txt", ["a", "b.jpg"])
    assert read_imageset(tmp_path / "s.txt") == ["a", "b.jpg"]
    (tmp_path / "two.txt").write_text("a\nb c\n")
    with pytest.raises(DataFormatError, match=r"two.txt:2: expected one id per line"):
        read_imageset(tmp_path / "two.txt")
    (tmp_path / "dup.txt").write_text("a\nb\na\n")
    with pytest.raises(DataFormatError, match=r"lines 1 and 3"):
        read_imageset(tmp_path / "dup.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataFormatError, match="no ids"):
        read_imageset(tmp_path / "empty.txt")
    with pytest.raises(MissingFileError, match=r"absent.txt: ImageSets file not found"):
        read_imageset(tmp_path / "absent.txt")
    (tmp_path / "bin.txt").write_bytes(b"a\n\xff\n")
    with pytest.raises(DataFormatError, match=r"bin.txt:2: .*offset 2"):
        read_imageset(tmp_path / "bin.txt")
