"""sampling="captions" (COCO-CN, W2VV++, NRCCR: every caption once per epoch) and "items" (W2VV) pinned."""
import math

import numpy as np
import pytest

from w2vvx.datasets.batching import CaptionBatchDataset, MultilingualBatchDataset, caption_epoch_plan, caption_pairs
from w2vvx.errors import ConfigError
from w2vvx.models.configs import config_names, get_config

COUNTS = (1, 2, 3, 4, 5, 3, 2)  # 20 captions of 7 items


def _captions(counts=COUNTS):
    return [(f"item{item}", f"{item} {index}") for item, count in enumerate(counts) for index in range(count)]


def _featurize(captions):
    """A stand-in preprocessor (same call as the model's)."""
    return {"tokens": np.array([[int(word) for word in text.split()] for _, text in caption_pairs(captions)], np.int32)}


def _features(ids):
    return np.array([[float(item[4:])] for item in ids], np.float32)


@pytest.mark.parametrize("batch_size", [3, 8, 20])
def test_caption_epochs_visit_every_caption_exactly_once(batch_size):
    data = CaptionBatchDataset(_captions(), _featurize, _features, batch_size=batch_size, seed=4,
                               sampling="captions", negatives=True)
    assert len(data) == math.ceil(20 / batch_size)
    for epoch in range(3):
        seen = []
        for index in range(len(data)):
            (batch,) = data.get_batch(index, epoch)
            # the visual row belongs to the caption's item, the negative to an item outside the batch
            np.testing.assert_array_equal(batch["visual"][:, 0], batch["tokens"][:, 0].astype(np.float32))
            negatives, items = batch["negative_visual"][:, 0].astype(int), batch["tokens"][:, 0]
            if len(set(items.tolist())) < 7:
                assert not set(negatives.tolist()) & set(items.tolist())
            else:  # the batch holds every item: any item but the caption's own
                assert (negatives != items).all()
            seen.extend(map(tuple, batch["tokens"].tolist()))
        assert sorted(seen) == sorted(map(tuple, _featurize_all())), f"epoch {epoch}"
    # last batch partial (as a DataLoader without drop_last), order shuffled and different per epoch
    assert len(data.get_batch(len(data) - 1, 0)[0]["tokens"]) == 20 - (len(data) - 1) * data.batch_size
    assert data.epoch_plan(0).tolist() != data.epoch_plan(1).tolist() or batch_size == 20


def _featurize_all():
    return [[item, index] for item, count in enumerate(COUNTS) for index in range(count)]


def test_caption_batches_may_repeat_an_item_and_are_deterministic():
    first = CaptionBatchDataset(_captions(), _featurize, _features, batch_size=20, seed=1, sampling="captions")
    second = CaptionBatchDataset(_captions(), _featurize, _features, batch_size=20, seed=1, sampling="captions")
    items = first.get_batch(0)[0]["tokens"][:, 0]
    assert len(set(items.tolist())) == 7 < len(items)  # 20 captions of 7 items in one batch
    np.testing.assert_array_equal(items, second.get_batch(0)[0]["tokens"][:, 0])


def test_caption_epoch_with_more_steps_continues_with_full_batches():
    data = CaptionBatchDataset(_captions(), _featurize, _features, batch_size=6, seed=0, sampling="captions",
                               steps_per_epoch=7)
    sizes = [len(data.get_batch(index)[0]["tokens"]) for index in range(7)]
    assert sizes == [6] * 7
    plan = data.epoch_plan(0).tolist()
    assert sorted(plan[:20]) == list(range(20)) and len(plan) == 42
    assert sorted(caption_epoch_plan(0, 0, 5, shuffle=False).tolist()) == [0, 1, 2, 3, 4]


def test_items_mode_is_unchanged():
    # the first batches of the W2VV scheme before sampling= existed (git 419f8cb batching.py, same seed)
    data = CaptionBatchDataset(_captions(), _featurize, _features, batch_size=3, seed=5, negatives=True)
    got = [(data.get_batch(i, 0)[0]["tokens"].tolist(),
            data.get_batch(i, 0)[0]["negative_visual"][:, 0].astype(int).tolist()) for i in range(3)]
    assert got == [([[1, 1], [4, 1], [2, 0]], [0, 5, 5]), ([[3, 1], [6, 1], [5, 0]], [4, 2, 1]),
                   ([[0, 0], [1, 0], [3, 3]], [4, 2, 2])]
    assert data.sampling == "items"


def test_multilingual_caption_epochs_cover_every_reference_caption_once():
    english = [(f"item{i}", f"{i} {n}") for i in range(5) for n in range(2)]
    german = [(f"item{i}", f"{i} {n + 10}") for i in range(5) for n in range(2)]
    data = MultilingualBatchDataset({"en": english, "de": german}, _featurize, _features, batch_size=4, seed=2,
                                    sampling="captions")
    seen = []
    for index in range(len(data)):
        tokens = data.get_batch(index, 0)[0]["tokens"]
        np.testing.assert_array_equal(tokens[:, 0, 0], tokens[:, 1, 0])  # same item in both languages
        np.testing.assert_array_equal(tokens[:, 0, 1] + 10, tokens[:, 1, 1])  # caption n matched
        seen.extend(map(tuple, tokens[:, 0].tolist()))
    assert sorted(seen) == sorted((i, n) for i in range(5) for n in range(2))


def test_sampling_of_every_named_config_and_bad_value():
    expected = {"base_w2vv": "items", "w2vv_attention": "items", "w2vv_attention_ctl": "captions",
                "w2vvpp": "captions", "w2vv_infonce": "captions", "w2vv_1tok": "captions", "nrccr": "captions"}
    assert {name: get_config(name).sampling for name in config_names()} == expected
    with pytest.raises(ConfigError, match="sampling must be one of"):
        get_config("w2vvpp", sampling="sentences")
    with pytest.raises(ConfigError, match="sampling must be one of"):
        CaptionBatchDataset(_captions(), _featurize, _features, sampling="caption")
