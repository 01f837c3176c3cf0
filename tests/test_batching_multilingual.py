"""MultilingualBatchDataset: K aligned captions per item for CCRK's 1-to-K loss."""
import numpy as np
import pytest

from w2vvx.datasets.batching import (CaptionBatchDataset, MultilingualBatchDataset, caption_numbers, caption_pairs,
                                     tag_captions)
from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io import BigFile, Caption, write_bigfile

N_ITEMS, DIM = 6, 3
LANGUAGE_CODES = {"en": 0, "zh": 1, "de": 2}


def _captions(language, n_per_item=(1, 2, 3, 4, 2, 3), skip=()):
    """Caption text encodes (language, item, caption number); ``skip`` drops (item, n) pairs."""
    code = LANGUAGE_CODES[language]
    return [Caption(f"item{item}#{language}#{n}", f"item{item}", language, n, f"{code} {item} {n}")
            for item, count in enumerate(n_per_item) for n in range(count) if (item, n) not in skip]


def _featurize_one(text):
    code, item, number = (int(part) for part in text.split())
    return {"tokens": np.array([code, item, number], np.int32), "bow_tokens": np.array([item, 0, 0], np.int32)}


def _featurize(captions):
    """A stand-in preprocessor (same call as the model's): captions -> stacked token arrays."""
    rows = [_featurize_one(text) for _, text in caption_pairs(captions)]
    return {key: np.stack([row[key] for row in rows]) for key in ("tokens", "bow_tokens")}


@pytest.fixture
def features(tmp_path):
    names = [f"item{item}" for item in range(N_ITEMS)]
    write_bigfile(tmp_path / "feat", names, np.repeat(np.arange(N_ITEMS, dtype=np.float32)[:, None], DIM, axis=1))
    return BigFile(tmp_path / "feat")


def _dataset(features, captions=None, **kwargs):
    captions = captions or {language: _captions(language) for language in ("en", "zh", "de")}
    kwargs.setdefault("batch_size", 4)
    return MultilingualBatchDataset(captions, _featurize, features, seed=3, **kwargs)


def test_batches_hold_one_aligned_caption_per_language(features):
    data = _dataset(features)
    assert data.languages == ["en", "zh", "de"] and data.num_languages == 3
    assert len(data) == int(np.ceil(15 / 4))
    for index in range(len(data)):
        (x,) = data[index]
        assert x["tokens"].shape == (4, 3, 3) and x["bow_tokens"].shape == (4, 3, 3)
        assert x["tokens"].dtype == np.int32 and x["visual"].shape == (4, DIM)
        items = x["visual"][:, 0].astype(int)
        assert len(set(items.tolist())) == 4
        for row, item in enumerate(items):
            codes, caption_items, numbers = x["tokens"][row].T
            assert codes.tolist() == [0, 1, 2]
            assert (caption_items == item).all()
            assert len(set(numbers.tolist())) == 1  # the same caption number n in every language


def test_reference_language_draws_like_caption_batches(features):
    data = _dataset(features)
    single = CaptionBatchDataset(_captions("en"), _featurize, features, batch_size=4, seed=3)
    for index in range(len(data)):
        np.testing.assert_array_equal(data.get_batch(index, epoch=1)[0]["tokens"][:, 0],
                                      single.get_batch(index, epoch=1)[0]["tokens"])


def test_missing_caption_number_falls_back_to_a_caption_of_the_same_item(features):
    captions = {"en": _captions("en"), "de": _captions("de", skip={(3, 3), (3, 2), (2, 1)})}
    data = _dataset(features, captions)
    seen_fallback = False
    for epoch in range(6):
        for index in range(len(data)):
            (x,) = data.get_batch(index, epoch)
            for row in x["tokens"]:
                assert row[0, 1] == row[1, 1]
                if row[0, 2] != row[1, 2]:
                    seen_fallback = True
                    assert (row[0, 1], row[0, 2]) in {(3, 3), (3, 2), (2, 1)}
    assert seen_fallback


def test_batches_depend_only_on_seed_epoch_and_index(features):
    first, second = _dataset(features), _dataset(features)
    order = list(range(len(first)))
    for index in order[::-1]:
        second.get_batch(index, epoch=2)
    for index in order:
        a, b = first.get_batch(index, epoch=2)[0], second.get_batch(index, epoch=2)[0]
        assert all(np.array_equal(a[key], b[key]) for key in a)
    other_epoch = [first.get_batch(index, epoch=3)[0]["tokens"] for index in order]
    assert any(not np.array_equal(first.get_batch(i, epoch=2)[0]["tokens"], other_epoch[i]) for i in order)


def test_items_lacking_a_language_are_skipped(features, caplog):
    captions = {"en": _captions("en"), "zh": [c for c in _captions("zh") if c.item_id != "item5"]}
    data = _dataset(features, captions)
    assert "item5" not in data.item_ids and data.n_items == N_ITEMS - 1
    assert "lack captions in another language" in caplog.text


def test_pairs_with_one_preprocessor(features):
    pairs = {"en": [(f"item{i}", f"0 {i} 0") for i in range(N_ITEMS)],
             "de": [(f"item{i}", f"2 {i} 0") for i in range(N_ITEMS)]}
    data = MultilingualBatchDataset(pairs, _featurize, features, batch_size=3)
    (x,) = data[0]
    assert x["tokens"][:, :, 0].tolist() == [[0, 2]] * 3
    assert caption_numbers([("a", "x"), Caption("b#en#5", "b", "en", 5, "y"), ("a", "z")]).tolist() == [0, 5, 1]


@pytest.mark.parametrize("captions, error, message", [
    ([("item0", "0 0 0")], ConfigError, "mapping"),
    ({}, ConfigError, "mapping"),
    ({"en": _captions("en"), "de": []}, ConfigError, "'de'"),
    ({"en": _captions("en"), "de": [("other", "2 0 0")]}, DataFormatError, "share item ids"),
])
def test_bad_caption_sets_are_named(features, captions, error, message):
    with pytest.raises(error, match=message):
        MultilingualBatchDataset(captions, _featurize, features, batch_size=2)


def test_preprocessor_outputs_must_have_one_layout(features):
    captions = {language: _captions(language) for language in ("en", "de")}

    def uneven(caption_list):  # German rows come out shorter: refused, naming the languages
        arrays = _featurize(caption_list)
        german = caption_list[0].tag == "de"
        return {key: value[:, :2] if german else value for key, value in arrays.items()}

    with pytest.raises(ConfigError, match="same keys and maxlen"):
        MultilingualBatchDataset(captions, uneven, features)


def test_tag_captions_tags_pairs_with_their_language_key():
    tagged = tag_captions({"de": [("a", "ein hund"), ("a", "zwei hunde")], "zh": _captions("zh")[:1]})
    assert [(c.sent_id, c.tag, c.index) for c in tagged["de"]] == [("a#de#0", "de", 0), ("a#de#1", "de", 1)]
    assert tagged["zh"][0].tag == "zh"
    with pytest.raises(ConfigError, match="'mt' is not a language code"):
        tag_captions({"mt": [("a", "x")]})
    with pytest.raises(ConfigError, match="no validation captions for language 'de'"):
        tag_captions({"de": []}, "validation")
