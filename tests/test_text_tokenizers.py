"""Tokenizers, caption-tag languages and stopword lists (w2vvx.text.tokenizers, w2vvx.text.stopwords)."""
import gzip
import pickle

import pytest

from w2vvx.errors import ConfigError
from w2vvx.text.stopwords import STOPWORD_LANGUAGES, load_stopwords
from w2vvx.text.tokenizers import get_tokenizer, is_segmented_chinese, language_of_tag, tokenize_unicode


def test_english_as_lineage():
    tokenize = get_tokenizer("en")
    assert tokenize("A child's pink-dress; 2 DOGS!") == ["a", "child", "s", "pink", "dress", "2", "dogs"]
    assert tokenize("Café naïve") == ["caf", "na", "ve"]  # non-ASCII letters are separators, as in w2vv
    assert get_tokenizer("en", remove_stopwords=True)("The dog is on the grass") == ["dog", "grass"]


def test_chinese_segmented_and_unsegmented():
    tokenize = get_tokenizer("zh")
    assert tokenize("一个 配 有 热 狗肉 松 的 烤 面包 ， 被 放 在 蓝色 碟子 里 。") == \
        ["一个", "配", "有", "热", "狗肉", "松", "的", "烤", "面包", "被", "放", "在", "蓝色", "碟子", "里"]
    tokens = tokenize("一个穿着泳装的女人躺在海水里。")
    assert "女人" in tokens and "海水" in tokens and "。" not in tokens
    assert "".join(tokens) == "一个穿着泳装的女人躺在海水里"
    assert tokenize("一只 dog 在 跑 DVD") == ["一只", "在", "跑"]  # Latin letters dropped as the lineage
    assert get_tokenizer("zh", remove_stopwords=True)("一只 狗 在 草地 上 跑 了") == ["一只", "狗", "草地", "跑"]
    assert is_segmented_chinese("狗 跑") and not is_segmented_chinese("狗跑 dog")


def test_chinese_jieba_is_lazy_shared_and_picklable(monkeypatch):
    from w2vvx.text import tokenizers

    loads = []
    real = tokenizers._jieba_segmenter.__wrapped__
    cached = tokenizers.functools.lru_cache(maxsize=1)(lambda: loads.append(1) or real())
    monkeypatch.setattr(tokenizers, "_jieba_segmenter", cached)
    tokenize = get_tokenizer("zh")
    tokenize("狗 跑")  # segmented: jieba not needed
    assert loads == []
    clone = pickle.loads(pickle.dumps(tokenize))
    assert clone("狗 跑") == ["狗", "跑"]
    assert tokenize("一只狗在跑") and get_tokenizer("zh", remove_stopwords=True)("一只狗在跑")
    assert loads == [1]  # loaded once, shared by every Chinese tokenizer of the process


def test_unicode_tokenizer_keeps_diacritics_and_nfc():
    assert get_tokenizer("de")("Zwei junge Männer, draußen!") == ["zwei", "junge", "männer", "draußen"]
    assert get_tokenizer("cs")("Dva mladí muži venku poblíž keřů.") == ["dva", "mladí", "muži", "venku", "poblíž", "keřů"]
    decomposed = "Mänl".replace("ä", "a\u0308")
    assert tokenize_unicode(decomposed) == ["mänl"]


def test_french_apostrophes():
    tokenize = get_tokenizer("fr")
    assert tokenize("L’homme d'affaires mange aujourd'hui.") == ["l'", "homme", "d'", "affaires", "mange", "aujourd'hui"]
    assert get_tokenizer("fr", remove_stopwords=True)("L'homme et la femme") == ["homme", "femme"]
    assert tokenize("'quoted' words'") == ["quoted", "words"]


@pytest.mark.parametrize("tag,language", [
    ("enc", "en"), ("en", "en"), ("zhc2en", "en"), ("enc2zh2enc", "en"), ("google_zh2enc", "en"),
    ("google_zhc2en", "en"), ("zh", "zh"), ("zhc", "zh"), ("zhb", "zh"), ("zhg", "zh"), ("zhm", "zh"),
    ("enc2zh", "zh"), ("google_enc2zh", "zh"), ("de", "de"), ("fr", "fr"), ("cs", "cs"), ("ja", "ja"),
    ("google_enc2de", "de")])
def test_language_of_tag(tag, language):
    assert language_of_tag(tag) == language


@pytest.mark.parametrize("tag", [None, "", "xx", "enc2", "klingon", "en2xx"])
def test_unknown_tag_lists_known(tag):
    with pytest.raises(ConfigError, match="enc2zh"):
        language_of_tag(tag)


def test_unknown_language():
    with pytest.raises(ConfigError, match="unsupported language 'xx'"):
        get_tokenizer("xx")


@pytest.mark.parametrize("language", STOPWORD_LANGUAGES)
def test_stopword_lists(language):
    words = load_stopwords(language)
    assert len(words) >= 90
    tokenize = get_tokenizer(language)
    for word in words:  # every stopword survives its own tokenizer unchanged, so filtering can match it
        if word.endswith("'"):  # a French elision is a token only in front of a word
            assert tokenize(word + "homme") == [word, "homme"], (language, word)
        else:
            assert tokenize(word) == [word], (language, word)


def test_english_stopwords_nltk_like():
    words = load_stopwords("en")
    assert {"the", "a", "of", "and", "is", "ourselves", "wouldn"} <= words and "dog" not in words


@pytest.mark.parametrize("language,expected_first", [
    ("en", ["a", "group", "of", "men", "are", "loading", "cotton", "onto", "a", "truck"]),
    ("de", ["eine", "gruppe", "von", "männern", "lädt", "baumwolle", "auf", "einen", "lastwagen"]),
    ("fr", ["un", "groupe", "d'", "hommes", "chargent", "du", "coton", "dans", "un", "camion"]),
    ("cs", ["skupina", "mužů", "nakládá", "bavlnu", "na", "náklaďák"]),
])
def test_multi30k_fixture_tokenization(fixtures_dir, language, expected_first):
    with gzip.open(fixtures_dir / "multi30k" / f"val.{language}.gz", "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert len(lines) == 10
    tokenize = get_tokenizer(language)
    assert all(tokenize(line) for line in lines)
    assert tokenize(lines[0]) == expected_first


@pytest.mark.parametrize("split,count", [("train", 29000), ("val", 1014), ("test_2016_flickr", 1000)])
@pytest.mark.parametrize("language", ["en", "de", "fr", "cs"])
def test_multi30k_real_counts(shared_data, split, count, language):
    with gzip.open(shared_data / "multi30k" / "task1" / "raw" / f"{split}.{language}.gz", "rt",
                   encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert len(lines) == count
    if split != "train":
        tokenize = get_tokenizer(language)
        empty = [line for line in lines if not tokenize(line)]
        assert not empty
