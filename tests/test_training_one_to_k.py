"""CCRK 1-to-K training through the Trainer and the CLI; validation in several languages with MRV."""
import json

import keras
import numpy as np
import pytest

from w2vvx.datasets.batching import MultilingualBatchDataset
from w2vvx.errors import ConfigError
from w2vvx.evaluation.metrics import evaluate_retrieval
from w2vvx.evaluation.mrv import mean_rank_variance
from w2vvx.io import BigFile, Caption, write_bigfile
from w2vvx.models import build_model, get_config
from w2vvx.training import Trainer, load_run
from w2vvx.evaluation.mrv import aligned_mrv
from w2vvx.training.callbacks import MultilingualRetrievalValidation

WORDS = {"en": ["red", "blue", "green", "small", "large", "dog", "cat", "bird", "ball", "tree"],
         "de": ["rot", "blau", "gruen", "klein", "gross", "hund", "katze", "vogel", "spielball", "baum"],
         "fr": ["rouge", "bleu", "vert", "petit", "grand", "chien", "chat", "oiseau", "balle", "arbre"]}
FILLERS = {"en": ["a", "near", "photo"], "de": ["ein", "nahe", "foto"], "fr": ["une", "pres", "image"]}
TAGS = {"train": {"en": "enc", "de": "enc2de", "fr": "enc2fr"}, "val": {"en": "enc", "de": "de", "fr": "fr"}}
DIM = len(WORDS["en"])


def _make_collection(root, seed=0):
    """Items are pairs of attributes; captions say them in three languages; features sum attribute vectors."""
    rng = np.random.default_rng(seed)
    vectors = np.eye(DIM) + 0.1 * rng.random((DIM, DIM))
    pairs = [(a, b) for a in range(DIM) for b in range(a + 1, DIM)]
    rng.shuffle(pairs)
    names, rows = [], []
    captions = {split: {language: [] for language in WORDS} for split in ("train", "val")}
    for split, split_pairs in (("train", pairs[:30]), ("val", pairs[30:40])):
        for number, (a, b) in enumerate(split_pairs):
            item = f"{split}{number:02d}"
            names.append(item)
            rows.append(vectors[a] + vectors[b])
            for index in range(2):
                order = rng.permutation(3)
                for language, words in WORDS.items():
                    tokens = [words[a], words[b], FILLERS[language][index]]
                    tag = TAGS[split][language]
                    captions[split][language].append(Caption(f"{item}#{tag}#{index}", item, tag, index,
                                                             " ".join(tokens[i] for i in order)))
    write_bigfile(root / "feat", names, np.asarray(rows, np.float32))
    return BigFile(root / "feat"), captions


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return _make_collection(tmp_path_factory.mktemp("multilingual"))


def _tiny_config(name="w2vv_1tok", **overrides):
    settings = dict(gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16, batch_size=10, max_epochs=4,
                    vocab_min_count=1, dropout=0.0, learning_rate=1e-2)
    settings.update(overrides)
    return get_config(name, **settings)


@pytest.mark.parity
def test_one_to_k_model_fit_on_aligned_batches_lowers_the_loss(collection):
    features, captions = collection
    keras.utils.set_random_seed(0)
    vocabulary = {word: index + 2 for index, word in enumerate(sorted(
        {word for words in (*WORDS.values(), *FILLERS.values()) for word in words}))}

    def featurize(caption_list):  # a stand-in preprocessor: captions -> (N, L) token ids
        ids = np.array([[vocabulary[word] for word in caption.text.split()] for caption in caption_list], np.int32)
        return {"tokens": ids, "bow_tokens": ids}

    data = MultilingualBatchDataset(captions["train"], featurize, features, batch_size=10, seed=0)
    config = _tiny_config(loss_kwargs={"num_captions": 3, "temperature": 0.1}, learnable_temperature=False)
    size = len(vocabulary) + 2
    model = build_model(config, gru_vocab_size=size, bow_vocab_size=size, visual_dim=DIM)
    history = model.fit(data, epochs=5, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert data.epoch == 5 and all(np.isfinite(losses))
    assert losses[-1] < 0.9 * losses[0]


@pytest.mark.parity
def test_trainer_trains_one_to_k_and_reports_mrv(tmp_path, collection):
    features, captions = collection
    result = Trainer(_tiny_config(), tmp_path / "run", captions["train"], features,
                     {"en": captions["val"]["en"], "de": captions["val"]["de"]}, verbose=0, seed=1,
                     tensorboard=False).fit()
    assert result.epochs_done == 4 and result.monitor == "val_sumr"
    history = result.history
    losses = [entry["loss"] for entry in history]
    assert losses[-1] < losses[0]
    for entry in history:
        assert entry["val_t2i_mrv"] >= 0 and entry["val_i2t_mrv"] >= 0
        assert entry["val_sumr"] == pytest.approx((entry["val_en_sumr"] + entry["val_de_sumr"]) / 2)
    assert result.best_metric == max(entry["val_sumr"] for entry in history)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["loss_kwargs"]["num_captions"] == 3
    run = load_run(tmp_path / "run")
    text = run.model.encode_text(captions["val"]["de"])
    assert text.shape == (len(captions["val"]["de"]), 16)


def test_one_to_k_needs_per_language_captions(tmp_path, collection):
    features, captions = collection
    with pytest.raises(ConfigError, match=r"train_captions=\{language: captions\}"):
        Trainer(_tiny_config(), tmp_path, captions["train"]["en"], features, captions["val"]["en"])
    with pytest.raises(ConfigError, match="at least 2 languages"):
        Trainer(_tiny_config(), tmp_path, {"en": captions["train"]["en"]}, features, captions["val"]["en"])
    with pytest.raises(ConfigError, match="are for the one_to_k loss"):
        Trainer(_tiny_config("w2vvpp"), tmp_path, captions["train"], features, captions["val"]["en"])
    untagged = {"en": [(c.item_id, c.text) for c in captions["train"]["en"]], "source": [("x", "y")]}
    with pytest.raises(ConfigError, match="'source' is not a language code"):
        Trainer(_tiny_config(), tmp_path, untagged, features, captions["val"]["en"])


def test_validation_in_several_languages_averages_metrics_and_reports_mrv():
    rng = np.random.default_rng(0)
    items = [f"v{i}" for i in range(6)]
    item_emb = rng.normal(size=(6, 4))
    text_ids = {"en": [item for item in items for _ in range(2)], "de": items + ["v0"]}
    text_emb = {language: rng.normal(size=(len(ids), 4)) for language, ids in text_ids.items()}
    keys = {"en": [(item, n) for item in items for n in range(2)], "de": [(item, 0) for item in items] + [("v0", 1)]}
    callback = MultilingualRetrievalValidation(lambda model: (text_emb, item_emb), text_ids, items, text_keys=keys,
                                               language_keys=("sumr", "t2i_mir"))
    logs = callback.compute()
    results = {language: evaluate_retrieval(text_emb[language], ids, item_emb, items, return_ranks=True)
               for language, ids in text_ids.items()}
    assert logs["sumr"] == pytest.approx((results["en"]["sumr"] + results["de"]["sumr"]) / 2)
    assert logs["de_t2i_mir"] == pytest.approx(results["de"]["t2i_mir"])
    # t2i queries are matched by (item, caption number): en rows 0,2,4,.. and 1 ("v0", 1) with de rows 0..6
    en_rows = [2 * i for i in range(6)] + [1]
    expected = mean_rank_variance([results["en"]["t2i_ranks"][en_rows], results["de"]["t2i_ranks"]])
    assert logs["t2i_mrv"] == pytest.approx(expected)
    assert logs["i2t_mrv"] == pytest.approx(mean_rank_variance([results["en"]["i2t_ranks"],
                                                                results["de"]["i2t_ranks"]]))
    same = aligned_mrv({"en": results["en"], "copy": results["en"]}, {"en": keys["en"], "copy": keys["en"]})
    assert same == {"t2i_mrv": 0.0, "i2t_mrv": 0.0}


def test_cli_trains_one_to_k_on_machine_translated_variants(tmp_path):
    from click.testing import CliRunner

    from w2vvx.cli import cli
    from w2vvx.datasets.synthetic import generate_collection

    generate_collection(tmp_path, name="synth", scale="tiny", feature_dim=16, languages=("zh", "de"))
    out = CliRunner().invoke(cli, [
        "--rootpath", str(tmp_path), "train", "w2vv_1tok", "--collection", "synth", "--size", "tiny",
        "--train-variants", "en,google_enc2zh,google_enc2de", "--val-variants", ",zh", "--run-dir",
        str(tmp_path / "run"), "--set", "max_epochs=1", "--set", "common_space_dim=32", "--set", "gru_units=8"],
        catch_exceptions=False)
    assert out.exit_code == 0, out.output
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert "val_t2i_mrv" in history[0] and "val_zh_sumr" in history[0] and len(history) == 2
    assert json.loads((tmp_path / "run" / "config.json").read_text())["loss_kwargs"]["num_captions"] == 3
    out = CliRunner().invoke(cli, ["--rootpath", str(tmp_path), "train", "w2vv_1tok", "--collection", "synth",
                                   "--train-variant", "google_enc2de", "--train-variants", ",google_enc2de"])
    assert out.exit_code == 2 and "not both" in out.output
