"""Noise injection, label MAP, and the Wikipedia loader."""
import numpy as np
import pytest

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.noisy.metrics import label_map
from w2vvx.noisy.noise import noisy_view_labels, symmetric_label_noise
from w2vvx.noisy.wikipedia import load_wikipedia


@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.37, 0.8, 1.0])
def test_noise_flips_exactly_the_requested_fraction_to_other_classes(ratio):
    labels = np.arange(1003) % 7
    noisy = symmetric_label_noise(labels, ratio, num_classes=7, seed=5)
    assert int((noisy != labels).sum()) == round(ratio * 1003)
    assert noisy.min() >= 0 and noisy.max() < 7


def test_noise_is_deterministic_and_seed_dependent():
    labels = np.arange(500) % 4
    first = symmetric_label_noise(labels, 0.4, 4, seed=3)
    np.testing.assert_array_equal(first, symmetric_label_noise(labels, 0.4, 4, seed=3))
    assert np.any(first != symmetric_label_noise(labels, 0.4, 4, seed=4))
    np.testing.assert_array_equal(labels, np.arange(500) % 4)  # input untouched


def test_noise_is_uniform_over_the_other_classes():
    labels = np.zeros(20000, dtype=int)
    noisy = symmetric_label_noise(labels, 1.0, 5, seed=0)
    counts = np.bincount(noisy, minlength=5)
    assert counts[0] == 0
    assert np.all(np.abs(counts[1:] / 20000 - 0.25) < 0.015)


def test_view_labels_shared_or_independent():
    labels = np.arange(300) % 3
    shared = noisy_view_labels(labels, 0.5, 3, seed=1)
    np.testing.assert_array_equal(shared[0], shared[1])
    independent = noisy_view_labels(labels, 0.5, 3, seed=1, shared=False)
    assert np.any(independent[0] != independent[1])
    assert all(int((v != labels).sum()) == 150 for v in independent)


@pytest.mark.parametrize("bad", [dict(ratio=1.5), dict(ratio=-0.1), dict(num_classes=1), dict(labels=np.array([0, 9]))])
def test_noise_rejects_bad_arguments(bad):
    arguments = dict(labels=np.array([0, 1, 2]), ratio=0.5, num_classes=3)
    arguments.update(bad)
    with pytest.raises(ConfigError):
        symmetric_label_noise(**arguments)


def _brute_force_map(queries, query_labels, gallery, gallery_labels):
    aps = []
    for q, ql in zip(queries, query_labels):
        sims = [float(np.dot(q, g) / np.linalg.norm(q) / np.linalg.norm(g)) for g in gallery]
        order = sorted(range(len(gallery)), key=lambda j: (-sims[j], j))
        hits, precisions = 0, []
        for rank, j in enumerate(order, start=1):
            if gallery_labels[j] == ql:
                hits += 1
                precisions.append(hits / rank)
        if hits:
            aps.append(sum(precisions) / hits)
    return sum(aps) / len(aps)


def test_label_map_matches_brute_force():
    rng = np.random.default_rng(0)
    queries, gallery = rng.normal(size=(17, 5)), rng.normal(size=(23, 5))
    query_labels, gallery_labels = rng.integers(0, 4, 17), rng.integers(0, 4, 23)
    expected = _brute_force_map(queries, query_labels, gallery, gallery_labels)
    assert label_map(queries, query_labels, gallery, gallery_labels, chunk_size=4) == pytest.approx(expected, rel=1e-12)


def test_label_map_of_random_features_is_near_the_class_prior():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 400)
    value = label_map(rng.normal(size=(400, 8)), labels, rng.normal(size=(400, 8)), labels)
    assert 0.17 < value < 0.26


def test_load_wikipedia_real_data(shared_data):
    data = load_wikipedia(shared_data / "features" / "wikipedia")
    assert data.train.image.shape == (2173, 128) and data.train.text.shape == (2173, 10)
    assert data.test.image.shape == (693, 128) and data.test.text.shape == (693, 10)
    assert data.num_classes == 10 and data.categories[0] == "art"
    assert data.train.labels.min() == 0 and data.train.labels.max() == 9
    assert data.train.image.dtype == np.float32
    assert data.test.text_ids[0] == "6d6ead4cf7fd78eea820ac94d101f602-5" and data.test.labels[0] == 1


def test_load_wikipedia_errors(tmp_path, shared_data):
    with pytest.raises(MissingFileError, match="raw_features.mat"):
        load_wikipedia(tmp_path)
    source = shared_data / "features" / "wikipedia"
    for name in ("raw_features.mat", "categories.list", "testset_txt_img_cat.list"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    lines = (source / "trainset_txt_img_cat.list").read_text().splitlines()
    broken = list(lines)
    broken[4] = broken[4].rsplit("\t", 1)[0] + "\t11"
    (tmp_path / "trainset_txt_img_cat.list").write_text("\n".join(broken) + "\n")
    with pytest.raises(DataFormatError, match=r"trainset_txt_img_cat.list:5: category must lie in 1..10"):
        load_wikipedia(tmp_path)
    (tmp_path / "trainset_txt_img_cat.list").write_text("\n".join(lines[:100]) + "\n")
    with pytest.raises(DataFormatError, match="I_tr"):
        load_wikipedia(tmp_path)
