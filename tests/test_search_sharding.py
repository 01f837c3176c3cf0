"""Sharded encoding: shard bounds, parts beside the output, and an atomic merge equal to one process."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.bigfile import BigFile, write_bigfile
from w2vvx.search.encode import encode_items
from w2vvx.search.index_store import StoredIndex, build_index_from_shards
from w2vvx.search.sharding import encode_shard, merge_shards, parse_shard, shard_bounds, shard_path


class Doubling:
    """A stand-in retriever: embeddings are twice the features (normalised as encode_items asks)."""

    def encode_items(self, rows, normalize=True, batch_size=None):
        rows = 2 * np.asarray(rows, np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True) if normalize else rows


@pytest.fixture()
def features(tmp_path):
    rng = np.random.default_rng(0)
    write_bigfile(tmp_path / "feat", [f"item{i}" for i in range(11)], rng.random((11, 5), dtype=np.float32) + 0.1)
    return BigFile(tmp_path / "feat")


def test_shards_cover_every_row_once_in_order():
    for size in (1, 7, 10, 101):
        for count in range(1, min(size, 6) + 1):
            bounds = [shard_bounds(size, (index, count)) for index in range(count)]
            assert bounds[0][0] == 0 and bounds[-1][1] == size
            assert all(stop == start for (_, stop), (start, _) in zip(bounds, bounds[1:]))
            assert max(b - a for a, b in bounds) - min(b - a for a, b in bounds) <= 1


def test_parse_shard_refuses_what_is_not_i_of_n():
    assert parse_shard(" 3/4 ") == (3, 4)
    assert parse_shard("auto", environ={}) == (0, 1)
    for text in ("4/4", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(ConfigError, match="shard"):
            parse_shard(text)


def test_merged_shards_equal_one_process_and_appear_atomically(features, tmp_path):
    model, ids = Doubling(), [f"item{i}" for i in (10, 3, 4, 0, 7, 1, 2)]
    encode_items(model, features, tmp_path / "one", item_ids=ids)
    out = tmp_path / "sharded"
    for index in (2, 0):
        encode_shard(model, features, out, (index, 3), item_ids=ids)
    with pytest.raises(MissingFileError, match="1 of 3 shards"):
        merge_shards(out, 3)
    assert not out.exists()  # nothing half-joined
    encode_shard(model, features, out, (1, 3), item_ids=ids)
    merge_shards(out, 3)
    one, merged = BigFile(tmp_path / "one"), BigFile(out)
    assert merged.names == one.names == ids
    np.testing.assert_array_equal(merged.matrix, one.matrix)
    assert not shard_path(out, (0, 3)).parent.exists()
    with pytest.raises(ConfigError, match="empty"):
        encode_shard(model, features, tmp_path / "x", (0, 8), item_ids=ids[:3])


def test_shards_of_different_models_are_refused(features, tmp_path):
    out = tmp_path / "mixed"
    encode_shard(Doubling(), features, out, (0, 2))
    part = shard_path(out, (1, 2))
    write_bigfile(part, [f"item{i}" for i in range(6, 11)], np.ones((5, 3), np.float32))
    with pytest.raises(DataFormatError, match="different dimensions"):
        merge_shards(out, 2)
    assert not out.exists()


def test_index_from_shards_searches_as_the_one_process_index(features, tmp_path):
    folder = tmp_path / "index"
    for index in range(3):
        encode_shard(Doubling(), features, folder / "vectors", (index, 3))
    build_index_from_shards(folder, 3, info={"split": "all"})
    index = StoredIndex.load(folder)
    assert index.ids == features.names and index.split == "all"
    ids, _ = index.search(features.read_rows(np.array([4])), k=1)
    assert ids.tolist() == [["item4"]]
