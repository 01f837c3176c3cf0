"""CaptionBatchDataset / EncodeDataset: the lineage's sampling, determinism, negatives, model.fit on every backend."""
import math

import keras
import numpy as np
import pytest

from w2vvx.datasets.batching import CaptionBatchDataset, EncodeDataset, caption_pairs
from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io import BigFile, read_captions, write_bigfile, write_captions

N_ITEMS, DIM = 7, 3


def _captions(n_per_item=(1, 2, 3, 4, 5, 3, 2)):
    """Caption text encodes (item, caption index) so batches can be checked against their items."""
    return [(f"item{item}", f"{item} {index}") for item, count in enumerate(n_per_item) for index in range(count)]


def _featurize(captions):
    """A stand-in preprocessor (same call as the model's): token arrays of the (item, index) captions."""
    rows = [text.split() for _, text in caption_pairs(captions)]
    return {"tokens": np.array([[int(item), int(index)] for item, index in rows], np.int32).reshape(-1, 2),
            "bow_tokens": np.array([[int(item)] for item, _ in rows], np.int32).reshape(-1, 1)}


@pytest.fixture
def features(tmp_path):
    names = [f"item{item}" for item in range(N_ITEMS)] + ["unused"]
    vectors = np.repeat(np.arange(N_ITEMS + 1, dtype=np.float32)[:, None], DIM, axis=1)
    write_bigfile(tmp_path / "feat", names, vectors)
    return BigFile(tmp_path / "feat")


def test_epoch_has_ceil_sentences_over_batch_steps_of_distinct_items(features):
    captions = _captions()
    data = CaptionBatchDataset(captions, _featurize, features, batch_size=4, seed=1)
    assert len(data) == math.ceil(len(captions) / 4)
    seen = []
    for index in range(len(data)):
        (batch,) = data[index]
        items = batch["tokens"][:, 0]
        assert len(set(items.tolist())) == 4, "items repeat inside a batch"
        np.testing.assert_array_equal(batch["visual"][:, 0], items.astype(np.float32))
        np.testing.assert_array_equal(batch["bow_tokens"][:, 0], items)
        assert batch["tokens"].dtype == np.int32 and batch["visual"].dtype == np.float32
        seen.extend(items.tolist())
    # every item is visited once per pass of ceil(7 / 4) batches
    assert sorted(seen[:N_ITEMS]) == list(range(N_ITEMS))


def test_one_random_caption_per_item_covers_all_captions(features):
    counts = (1, 2, 3, 4, 5, 3, 2)
    data = CaptionBatchDataset(_captions(counts), _featurize, features, batch_size=N_ITEMS, seed=0)
    drawn = set()
    for epoch in range(40):
        data.set_epoch(epoch)
        (batch,) = data[0]
        drawn.update(map(tuple, batch["tokens"].tolist()))
    assert drawn == {(item, index) for item, count in enumerate(counts) for index in range(count)}


def test_batches_depend_only_on_seed_epoch_and_index(features):
    first = CaptionBatchDataset(_captions(), _featurize, features, batch_size=3, seed=5, negatives=True)
    second = CaptionBatchDataset(_captions(), _featurize, features, batch_size=3, seed=5, negatives=True)
    second.set_epoch(2)
    later = [second[index][0] for index in reversed(range(len(second)))][::-1]
    first.set_epoch(2)
    for index, expected in enumerate(later):
        for key, value in first[index][0].items():
            np.testing.assert_array_equal(value, expected[key])
    first.set_epoch(3)
    assert any(not np.array_equal(first[index][0]["tokens"], later[index]["tokens"]) for index in range(len(first)))
    other_seed = CaptionBatchDataset(_captions(), _featurize, features, batch_size=3, seed=6)
    other_seed.set_epoch(2)
    assert any(not np.array_equal(other_seed[index][0]["tokens"], later[index]["tokens"])
               for index in range(len(first)))


def test_epoch_advances_only_after_all_batches_were_served(features):
    data = CaptionBatchDataset(_captions(), _featurize, features, batch_size=3)
    data.on_epoch_end()  # Keras calls this once before the first epoch
    data.on_epoch_begin()
    data[0]  # Keras probes one batch to build the model, then ends that "epoch"
    data.on_epoch_end()
    assert data.epoch == 0
    data.on_epoch_begin()
    for index in range(len(data)):
        data[index]
    data.on_epoch_end()
    data.on_epoch_end()
    assert data.epoch == 1


def test_negatives_are_outside_the_batch(features):
    data = CaptionBatchDataset(_captions(), _featurize, features, batch_size=4, seed=3, negatives=True)
    for epoch in range(5):
        data.set_epoch(epoch)
        for index in range(len(data)):
            (batch,) = data[index]
            negatives = batch["negative_visual"][:, 0].astype(int)
            assert not set(negatives.tolist()) & set(batch["tokens"][:, 0].tolist())
            assert negatives.max() < N_ITEMS  # rows of items without captions are never drawn


def test_negatives_when_the_batch_holds_every_item(features):
    data = CaptionBatchDataset(_captions(), _featurize, features, batch_size=50, seed=3, negatives=True)
    (batch,) = data[0]
    assert len(batch["visual"]) == N_ITEMS
    assert np.all(batch["negative_visual"][:, 0].astype(int) != batch["tokens"][:, 0])


def test_items_without_features_are_skipped(features, caplog):
    captions = _captions() + [("ghost", "9 0")]
    data = CaptionBatchDataset(captions, _featurize, features, batch_size=4)
    assert "ghost" not in data.item_ids and data.n_sentences == len(captions) - 1
    assert "1 of 8 items have no visual feature" in caplog.text
    with pytest.raises(DataFormatError, match="none of the 1 caption items"):
        CaptionBatchDataset([("ghost", "9 0")], _featurize, features)


def test_callable_features_and_caption_objects(tmp_path):
    write_captions(tmp_path / "c.txt", [(f"item{item}#enc#{index}", f"{item} {index}")
                                        for item in range(4) for index in range(2)])
    captions = read_captions(tmp_path / "c.txt")
    frames = lambda ids: np.stack([np.full((5, DIM), int(name[4:]), np.float32) for name in ids])  # noqa: E731
    data = CaptionBatchDataset(captions, _featurize, frames, batch_size=2, shuffle=False)
    (batch,) = data[0]
    assert batch["visual"].shape == (2, 5, DIM)
    np.testing.assert_array_equal(batch["visual"][:, 0, 0], batch["tokens"][:, 0])


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size"), ({"seed": -1}, "seed"), ({"steps_per_epoch": 0}, "steps_per_epoch")])
def test_bad_arguments_are_named(features, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        CaptionBatchDataset(_captions(), _featurize, features, **kwargs)


def test_encode_dataset_keeps_order_and_reads_bigfile_rows(features):
    texts = EncodeDataset({"tokens": np.arange(10).reshape(5, 2)}, batch_size=2)
    assert len(texts) == 3
    np.testing.assert_array_equal(np.concatenate([texts[i][0]["tokens"] for i in range(3)]),
                                  np.arange(10).reshape(5, 2))
    items = EncodeDataset.from_features(features, ["item3", "item0", "unused"], batch_size=2)
    np.testing.assert_array_equal(np.concatenate([items[i][0] for i in range(len(items))])[:, 0], [3, 0, 7])
    with pytest.raises(DataFormatError, match="no row"):
        EncodeDataset.from_features(features, ["nope"])
    with pytest.raises(IndexError):
        items[2]


class TinyRegressor(keras.Model):
    """Text ids -> visual vector; records the items it was trained on to check batches in fit."""

    def __init__(self):
        super().__init__()
        self.embed = keras.layers.Embedding(N_ITEMS, DIM)

    def call(self, inputs):
        return self.embed(inputs["tokens"][:, 0])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        target = x["visual"] - 0.01 * x["negative_visual"]
        return keras.ops.mean(keras.ops.square(y_pred - target))


@pytest.mark.parity
def test_model_fit_consumes_the_dataset(features):
    keras.utils.set_random_seed(0)
    model = TinyRegressor()
    model.compile(optimizer=keras.optimizers.Adam(0.1))
    data = CaptionBatchDataset(_captions(), _featurize, features, batch_size=4, seed=0, negatives=True)
    history = model.fit(data, epochs=4, verbose=0, shuffle=False)
    assert data.epoch == 4
    losses = history.history["loss"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    predictions = keras.ops.convert_to_numpy(model.predict(EncodeDataset(
        {"tokens": np.arange(N_ITEMS, dtype=np.int32)[:, None].repeat(2, 1)}, batch_size=3), verbose=0))
    assert predictions.shape == (N_ITEMS, DIM)
