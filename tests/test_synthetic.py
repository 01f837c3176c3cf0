"""The embedded synthetic collection: determinism, layout, Chinese segmentation, MT noise, learnability."""
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from w2vvx.datasets import synthetic
from w2vvx.datasets.noise import MTNoise
from w2vvx.datasets.synthetic import (Scene, SceneFeaturizer, SceneObject, SyntheticSpec, generate_collection,
                                      load_scenes)
from w2vvx.datasets.synthetic_language import Lexicon
from w2vvx.errors import ConfigError
from w2vvx.io.bigfile import BigFile
from w2vvx.io.captions import read_captions
from w2vvx.io.collection import Collection

NAME = "w2vvx_synth"
TINY = dict(scale="tiny", feature_dim=64)


def _files(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return generate_collection(tmp_path_factory.mktemp("synth"), **TINY)


def test_same_seed_gives_byte_identical_files_and_other_seed_differs(tiny, tmp_path):
    again = generate_collection(tmp_path / "a", **TINY)
    assert _files(again) == _files(tiny)
    other = generate_collection(tmp_path / "b", seed=1, **TINY)
    assert _files(other)[f"TextData/{NAME}train.caption.txt"] != _files(tiny)[f"TextData/{NAME}train.caption.txt"]


def test_layout_is_readable_with_the_expected_counts(tiny):
    coll = Collection(tiny.parent, NAME)
    spec = SyntheticSpec.from_scale("tiny", feature_dim=64)
    sizes = {"train": spec.n_train, "val": spec.n_val, "test": spec.n_test}
    features = coll.features("synth_scene_64")
    assert features.shape == (spec.n_items, 64)
    assert float(np.min(features.matrix)) >= 0.0
    expected = {"train": {None: "enc", "google_enc2zh": "enc2zh", "google_enc2zh2enc": "enc2zh2enc",
                          "google_enc2de": "enc2de", "google_enc2de2enc": "enc2de2enc", "zh": "zh", "de": "de"},
                "val": {None: "enc", "zh": "zh", "de": "de", "google_zh2enc": "zh2enc", "google_de2enc": "de2enc"}}
    expected["test"] = expected["val"]
    for split, variants in expected.items():
        ids = coll.item_ids(split)
        assert len(ids) == sizes[split] and all(features.index(i) >= 0 for i in ids)
        assert sorted(coll.variants(split), key=str) == sorted(variants, key=str)
        for variant, tag in variants.items():
            captions = coll.captions(split, variant)
            assert len(captions) == sizes[split] * 5
            assert {c.tag for c in captions} == {tag}
            assert [c.item_id for c in captions[::5]] == ids
            assert [c.index for c in captions[:5]] == [0, 1, 2, 3, 4]
    meta = json.loads((tiny / "generator.json").read_text(encoding="utf-8"))
    assert SyntheticSpec(**{**meta["spec"], "languages": tuple(meta["spec"]["languages"])}) == spec
    assert set(load_scenes(tiny)) == {f"synth{i:06d}" for i in range(spec.n_items)}


def test_existing_collection_needs_overwrite_and_a_failed_run_leaves_nothing(tiny, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="overwrite"):
        generate_collection(tiny.parent, **TINY)

    def broken(self, scenes, indices):
        raise RuntimeError("disk full")

    monkeypatch.setattr(SceneFeaturizer, "__call__", broken)
    with pytest.raises(RuntimeError):
        generate_collection(tmp_path, **TINY)
    assert list(tmp_path.iterdir()) == []


def test_invalid_arguments_are_reported():
    with pytest.raises(ConfigError, match="mt_noise"):
        SyntheticSpec(mt_noise=1.5)
    with pytest.raises(ConfigError, match="languages"):
        SyntheticSpec(languages=("fr",))
    with pytest.raises(ConfigError, match="scale"):
        SyntheticSpec.from_scale("huge")
    with pytest.raises(ConfigError, match="n_train"):
        SyntheticSpec(n_train=0)


def test_chinese_has_no_spaces_and_jieba_splits_it_into_lexicon_words(tmp_path):
    jieba = pytest.importorskip("jieba")
    jieba.setLogLevel(logging.ERROR)
    folder = generate_collection(tmp_path, mt_noise=0.0, **TINY)
    words = Lexicon.default().chinese_words()
    for variant in ("train_zh", "val_zh", "test_zh", "train_google_enc2zh"):
        captions = read_captions(folder / "TextData" / f"{NAME}{variant}.caption.txt")
        for caption in captions:
            assert " " not in caption.text
            tokens = jieba.lcut(caption.text)
            assert len(tokens) >= 1
            unknown = [t for t in tokens if t not in words]
            assert not unknown, (caption.text, unknown)


def _english_concepts(lexicon: Lexicon):
    table = {}
    for name in lexicon.categories:
        for singular, plural in lexicon.variants("category", name, "en"):
            table[singular] = table[plural] = ("category", name)
    for name in lexicon.colours:
        for word in lexicon.variants("colour", name, "en"):
            table[word] = ("colour", name)
    for name in lexicon.places:
        for _, noun in lexicon.variants("place", name, "en"):
            table[noun] = ("place", name)
    for name in lexicon.actions:
        for forms in lexicon.variants("action", name, "en"):
            for word in forms:
                table[word] = ("action", name)
    return table


def _chinese_concepts(lexicon: Lexicon):
    table = {}
    for kind, names in (("category", lexicon.categories), ("colour", lexicon.colours),
                        ("place", lexicon.places), ("action", lexicon.actions)):
        for name in names:
            for word in lexicon.variants(kind, name, "zh"):
                table[word] = (kind, name)
    return table


def _mt_error_shares(folder: Path, lexicon: Lexicon):
    """Share of concepts in the MT Chinese that the English caption does not hold (wrong sense), and of
    English concepts missing from the MT (dropped or left untranslated)."""
    jieba = pytest.importorskip("jieba")
    jieba.setLogLevel(logging.ERROR)
    en_table, zh_table = _english_concepts(lexicon), _chinese_concepts(lexicon)
    english = read_captions(folder / "TextData" / f"{NAME}train.caption.txt")
    chinese = read_captions(folder / "TextData" / f"{NAME}train_google_enc2zh.caption.txt")
    wrong = missing = total_zh = total_en = 0
    for en, zh in zip(english, chinese):
        assert en.item_id == zh.item_id and en.index == zh.index
        en_set = {en_table[w] for w in re.sub(r"[^a-z]", " ", en.text.lower()).split() if w in en_table}
        zh_set = {zh_table[w] for w in jieba.lcut(zh.text) if w in zh_table}
        wrong += len(zh_set - en_set)
        missing += len(en_set - zh_set)
        total_zh += len(zh_set)
        total_en += len(en_set)
    return wrong / total_zh, missing / total_en


def test_mt_noise_level_controls_wrong_and_dropped_words(tmp_path):
    lexicon = Lexicon.default()
    clean = generate_collection(tmp_path / "clean", mt_noise=0.0, **TINY)
    noisy = generate_collection(tmp_path / "noisy", mt_noise=0.5, **TINY)
    assert _mt_error_shares(clean, lexicon) == (0.0, 0.0)
    wrong, missing = _mt_error_shares(noisy, lexicon)
    rates = MTNoise(0.5).rates()
    assert 0.5 * rates["wrong_sense"] < wrong < 2.0 * rates["wrong_sense"]
    assert missing > rates["drop"] * 0.8
    observed = json.loads((noisy / "generator.json").read_text(encoding="utf-8"))["mt_noise_observed"]["enc2zh"]
    assert abs(observed["wrong"] / observed["slots"] - rates["wrong_sense"]) < 0.04
    clean_meta = json.loads((clean / "generator.json").read_text(encoding="utf-8"))["mt_noise_observed"]["enc2zh"]
    assert clean_meta["wrong"] == clean_meta["dropped"] == clean_meta["swaps"] == 0 and not clean_meta["literal"]


def test_scenes_sharing_a_category_have_different_features():
    featurizer = SceneFeaturizer(Lexicon.default(), dim=512, seed=0, noise=0.0)
    base = Scene((SceneObject("car", "red", 1, "big"), SceneObject("dog", "blue", 2, "small")), "park", "run")
    variants = [
        Scene((SceneObject("car", "blue", 1, "big"), SceneObject("dog", "red", 2, "small")), "park", "run"),
        Scene((SceneObject("car", "green", 1, "big"), SceneObject("dog", "blue", 2, "small")), "park", "run"),
        Scene((SceneObject("car", "red", 1, "big"),), "park", "run"),
        Scene(base.objects, "beach", "run"),
        Scene(base.objects, "park", "sleep"),
    ]
    features = featurizer([base] + variants, range(6))
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarity = unit[1:] @ unit[0]
    assert np.all(similarity < 0.99), similarity


def _bow(texts, vocabulary):
    matrix = np.zeros((len(texts), len(vocabulary) + 1))
    matrix[:, -1] = 1.0
    for row, text in enumerate(texts):
        for word in re.sub(r"[^a-z0-9]", " ", text.lower()).split():
            if word in vocabulary:
                matrix[row, vocabulary[word]] += 1.0
    return matrix


def _recall_at(scores, truth_columns, k):
    truth = scores[np.arange(len(truth_columns)), truth_columns]
    ranks = (scores > truth[:, None]).sum(axis=1)
    return float(np.mean(ranks < k))


def test_ridge_regression_from_words_retrieves_items_and_needs_the_whole_sentence(tmp_path):
    folder = generate_collection(tmp_path, n_train=800, n_val=20, n_test=200, feature_dim=256)
    features = BigFile(folder / "FeatureData" / "synth_scene_256")
    train = read_captions(folder / "TextData" / f"{NAME}train.caption.txt")
    test = read_captions(folder / "TextData" / f"{NAME}test.caption.txt")
    vocabulary = {w: i for i, w in enumerate(sorted({w for c in train for w in re.sub(r"[^a-z0-9]", " ", c.text).split()}))}
    x = _bow([c.text for c in train], vocabulary)
    y = features.read_rows([features.index(c.item_id) for c in train])
    weights = np.linalg.solve(x.T @ x + np.eye(x.shape[1]), x.T @ y)
    items = [line.strip() for line in (folder / "ImageSets" / f"{NAME}test.txt").read_text().splitlines()]
    visual = features.read_rows([features.index(i) for i in items])
    visual /= np.linalg.norm(visual, axis=1, keepdims=True)
    column = {item: k for k, item in enumerate(items)}
    truth = np.array([column[c.item_id] for c in test])

    def recall10(texts):
        predicted = _bow(texts, vocabulary) @ weights
        predicted /= np.linalg.norm(predicted, axis=1, keepdims=True)
        return _recall_at(predicted @ visual.T, truth, 10)

    scenes = load_scenes(folder)
    lexicon = Lexicon.default()
    full = recall10([c.text for c in test])
    category_only = recall10([lexicon.surface("category", scenes[c.item_id].objects[0].category, "en") for c in test])
    chance = 10 / len(items)
    assert full > 5 * chance, (full, chance)
    assert full > category_only + 0.2, (full, category_only)


def test_spec_presets_and_item_ids():
    assert SyntheticSpec.from_scale("tiny").n_items == 200
    spec = SyntheticSpec.from_scale("default", n_train=10)
    assert (spec.n_train, spec.n_val, spec.n_test) == (10, 300, 1000)
    assert spec.split_ranges()["val"] == range(10, 310)
    assert synthetic.item_scene(spec, 3) == synthetic.item_scene(SyntheticSpec(n_train=99), 3)
