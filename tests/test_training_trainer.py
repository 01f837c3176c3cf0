"""End-to-end training on a tiny in-test collection: learning, selection, files, resume, load_run."""
import csv

import keras
import numpy as np
import pytest

from w2vvx.errors import ResumeError
from w2vvx.evaluation.metrics import evaluate_retrieval
from w2vvx.io import BigFile, read_captions, write_bigfile, write_captions
from w2vvx.models import get_config
from w2vvx.training import Trainer, latest_checkpoint, load_run

ATTRIBUTES = ["red", "blue", "green", "small", "large", "dog", "cat", "bird", "ball", "tree"]
FILLERS = ["a", "the", "near", "with", "photo", "of", "one"]
DIM = len(ATTRIBUTES)


def _make_collection(root, seed=0):
    """Items are pairs of attribute words; an item's feature is the sum of its attributes' vectors."""
    rng = np.random.default_rng(seed)
    attribute_vectors = {word: np.eye(DIM)[index] + 0.1 * rng.random(DIM) for index, word in enumerate(ATTRIBUTES)}
    pairs = [(a, b) for i, a in enumerate(ATTRIBUTES) for b in ATTRIBUTES[i + 1:]]
    rng.shuffle(pairs)
    train_pairs, val_pairs = pairs[:30], pairs[30:40]
    names, vectors, train_lines, val_lines = [], [], [], []
    for split, split_pairs, lines in (("train", train_pairs, train_lines), ("val", val_pairs, val_lines)):
        for number, (a, b) in enumerate(split_pairs):
            item = f"{split}{number:02d}.jpg"
            names.append(item[:-len(".jpg")])  # captions 'x.jpg#enc#0' meet features keyed 'x' (the lineage's id rule)
            vectors.append(attribute_vectors[a] + attribute_vectors[b])
            for index in range(3):
                words = [a, b, *rng.choice(FILLERS, size=2)]
                rng.shuffle(words)
                lines.append((f"{item}#enc#{index}", " ".join(words)))
    write_bigfile(root / "feat", names, np.asarray(vectors, np.float32))
    write_captions(root / "train.caption.txt", train_lines)
    write_captions(root / "val.caption.txt", val_lines)
    return BigFile(root / "feat"), read_captions(root / "train.caption.txt"), read_captions(root / "val.caption.txt")


def _tiny_config(**overrides):
    settings = dict(gru_units=8, embed_dim=8, w2v_dim=8, text_mlp=(16,), batch_size=10, max_epochs=3,
                    vocab_min_count=2, dropout=0.1, learning_rate=3e-3)
    settings.update(overrides)
    return get_config("base_w2vv", **settings)


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return _make_collection(tmp_path_factory.mktemp("collection"))


def _trainer(run_dir, collection, **kwargs):
    features, train, val = collection
    kwargs.setdefault("config", _tiny_config())
    return Trainer(run_dir=run_dir, train_captions=train, features=features, val_captions=val, verbose=0,
                   seed=7, **kwargs)


def _chance_level(val, metric_key, trials=20):
    rng = np.random.default_rng(0)
    item_ids = list(dict.fromkeys(caption.item_id for caption in val))
    text_ids = [caption.item_id for caption in val]
    values = [evaluate_retrieval(rng.normal(size=(len(text_ids), 4)), text_ids,
                                 rng.normal(size=(len(item_ids), 4)), item_ids)[metric_key] for _ in range(trials)]
    return float(np.mean(values))


@pytest.mark.parity
def test_training_learns_and_writes_run_files(tmp_path, collection):
    run_dir = tmp_path / "run"
    result = _trainer(run_dir, collection, config=_tiny_config(max_epochs=8)).fit()
    losses = [entry["loss"] for entry in result.history]
    assert result.epochs_done == 8 and not result.interrupted
    assert losses[-1] < 0.7 * losses[0]
    assert result.monitor == "val_i2t_map"
    assert result.best_metric == max(entry["val_i2t_map"] for entry in result.history)
    assert result.best_metric > 1.5 * _chance_level(collection[2], "i2t_map")
    for name in ("best.keras", "history.csv", "training.png", "config.json", "provenance.json"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "prepared").exists()  # the vocabularies live in best.keras only
    with open(run_dir / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == list(range(1, 9))
    assert {"loss", "lr", "val_i2t_map", "val_sumr"} <= set(rows[0])
    assert (run_dir / "training.png").read_bytes()[:4] == b"\x89PNG"
    assert latest_checkpoint(run_dir).name == "epoch-0008"
    tensorboard_events = list((run_dir / "logs").rglob("events.out.tfevents*"))
    assert tensorboard_events, "TensorBoard event files are written on every backend (w2vvx.training.event_log)"

    run = load_run(run_dir)
    features, _, val = collection
    texts = run.model.preprocessor(val)
    text_emb = np.asarray(run.model.text_encoder.predict_on_batch(texts))
    items = list(dict.fromkeys(caption.item_id for caption in val))
    item_emb = np.asarray(run.model.visual_encoder.predict_on_batch(features.read(items)[1]))
    reloaded = evaluate_retrieval(text_emb, [caption.item_id for caption in val], item_emb, items)
    assert reloaded["i2t_map"] == pytest.approx(result.best_metric, abs=1e-4)


@pytest.mark.parity
def test_resumed_run_matches_uninterrupted_run(tmp_path, collection):
    straight = _trainer(tmp_path / "straight", collection).fit()
    first = _trainer(tmp_path / "resumed", collection, max_epochs=1).fit()
    assert first.epochs_done == 1
    resumed = _trainer(tmp_path / "resumed", collection).fit(resume=True)
    assert resumed.epochs_done == 3
    for key in ("loss", "val_i2t_map", "val_sumr", "lr"):
        assert [entry[key] for entry in resumed.history] == pytest.approx(
            [entry[key] for entry in straight.history], rel=1e-4, abs=1e-6), key
    straight_weights = np.load(latest_checkpoint(tmp_path / "straight") / "model.npz")
    resumed_weights = np.load(latest_checkpoint(tmp_path / "resumed") / "model.npz")
    for key in straight_weights.files:
        np.testing.assert_allclose(resumed_weights[key], straight_weights[key], rtol=1e-4, atol=1e-6)


def test_existing_checkpoint_needs_resume_or_overwrite(tmp_path, collection):
    _trainer(tmp_path / "run", collection, max_epochs=1, tensorboard=False).fit()
    with pytest.raises(ResumeError, match="resume"):
        _trainer(tmp_path / "run", collection, max_epochs=1).fit()
    with pytest.raises(ResumeError, match="batch_size"):
        _trainer(tmp_path / "run", collection, config=_tiny_config(batch_size=5)).fit(resume=True)
    again = _trainer(tmp_path / "run", collection, max_epochs=1, overwrite=True).fit()
    assert again.epochs_done == 1


def test_half_written_checkpoint_is_ignored_on_resume(tmp_path, collection):
    run_dir = tmp_path / "run"
    _trainer(run_dir, collection, max_epochs=1).fit()
    # what a kill -9 during the next checkpoint write leaves: a temp folder without the final rename
    stale = run_dir / "checkpoints" / ".epoch-0002.abc.tmp"
    stale.mkdir()
    (stale / "model.npz").write_bytes(b"partial")
    result = _trainer(run_dir, collection, max_epochs=2).fit(resume=True)
    assert result.epochs_done == 2 and not stale.exists()
    assert [entry["epoch"] for entry in result.history] == [1, 2]


def test_finished_run_is_not_trained_again(tmp_path, collection):
    run_dir = tmp_path / "run"
    _trainer(run_dir, collection, max_epochs=1).fit()
    result = _trainer(run_dir, collection, max_epochs=1).fit(resume=True)
    assert result.epochs_done == 1 and len(result.history) == 1


class InterruptAt(keras.callbacks.Callback):
    """Presses Ctrl-C when epoch ``epoch`` (0-based) starts."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_the_last_complete_epoch_and_resumes_exactly(tmp_path, collection, caplog):
    straight = _trainer(tmp_path / "straight", collection, max_epochs=2).fit()
    stopped = _trainer(tmp_path / "run", collection, max_epochs=2, callbacks=[InterruptAt(1)]).fit()
    assert stopped.interrupted and stopped.epochs_done == 1
    assert "resume" in caplog.text
    assert latest_checkpoint(tmp_path / "run").name == "epoch-0001"
    resumed = _trainer(tmp_path / "run", collection, max_epochs=2).fit(resume=True)
    assert [entry["loss"] for entry in resumed.history] == pytest.approx(
        [entry["loss"] for entry in straight.history], rel=1e-4)


def test_a_config_name_trains_at_the_cli_default_size_and_says_so(collection, tmp_path, caplog):
    from w2vvx.models.sizes import sized_config

    with caplog.at_level("INFO", logger="w2vvx.training.trainer"):
        trainer = _trainer(tmp_path / "run", collection, config="w2vvpp")
    assert trainer.config == sized_config("w2vvpp", "small")  # as `w2vvx train` without --size
    assert "size 'small'" in caplog.text and "hours on a CPU" in caplog.text
    lineage = _trainer(tmp_path / "run", collection, config="w2vvpp", size="lineage")
    assert lineage.config == get_config("w2vvpp")


def test_size_with_a_model_config_is_refused(collection, tmp_path):
    from w2vvx.errors import ConfigError

    with pytest.raises(ConfigError, match="applies to a config name"):
        _trainer(tmp_path / "run", collection, config=_tiny_config(), size="tiny")
