"""w2vvx.search.galleries: what `w2vvx search` ranks (its CLI tests cover the options end to end)."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.io.bigfile import write_bigfile
from w2vvx.search.galleries import check_scope, needs_split_items, open_gallery, search_gallery, search_items


@pytest.fixture
def encoded(tmp_path):
    write_bigfile(tmp_path / "encoded", ["a", "b", "c"], np.eye(3, dtype=np.float32))
    return open_gallery(tmp_path / "encoded")


def test_an_encoded_bigfile_is_searched_whole_or_restricted_to_a_split(encoded):
    query = np.array([[0.2, 0.1, 0.9]])
    ids, scores, captions_of = search_gallery(encoded, query, k=2)
    assert ids.tolist() == [["c", "a"]] and captions_of("c") == []
    assert needs_split_items(encoded, "test") and not needs_split_items(encoded, None)
    ids, _, _ = search_gallery(encoded, query, k=2, split="test", split_item_ids=["a", "b"])
    assert ids.tolist() == [["a", "b"]]


def test_a_split_the_bigfile_lacks_is_refused_naming_the_command_that_encodes_it(encoded):
    check_scope(encoded, split="test", split_item_ids=["a"])
    with pytest.raises(ConfigError, match="w2vvx encode --split test"):
        check_scope(encoded, split="test", split_item_ids=["a", "zzz"])


def test_items_encoded_now_come_with_their_captions():
    class Model:
        def encode_items(self, features, item_ids):
            return features[[int(item) for item in item_ids]]

    ids, scores, captions_of = search_items(Model(), np.eye(2, dtype=np.float32), ["0", "1"],
                                            np.array([[0.0, 1.0]]), k=1, captions={"1": ["a cat"]})
    assert ids.tolist() == [["1"]] and captions_of("1") == ["a cat"] and captions_of("0") == []
