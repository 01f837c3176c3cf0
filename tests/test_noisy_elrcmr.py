"""ELRCMR: the weight-balance schedule, the loss value by hand, the MRL-format loaders, a tiny end-to-end run."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from keras import ops

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.noisy.balance import WeightBalance
from w2vvx.noisy.datasets import load_noisy_dataset
from w2vvx.noisy.model import NoisyCrossModalModel
from w2vvx.noisy.training import train_noisy_retrieval


# ---- the schedule -------------------------------------------------------------------------------
def test_weight_balance_against_a_hand_trace():
    # The seed's Wikipedia flags: --beta 0.75 --lama 1 --betasetp 3000 --setp 100000 --zeta 0.001 --alpha 1.
    balance = WeightBalance.from_flags(beta=0.75, lama=1.0, betasetp=3000, setp=100000, zeta=0.001, alpha=1.0)
    # step:   0      1500    2200 (= 100 epochs x 22)  2997 (floor reached)  3000     10000
    betas = [0.75, 0.375, 0.75 * (800 / 3000), 0.75 * 0.001, 0.75 * 0.001, 0.75 * 0.001]
    lambdas = [1.0, 0.985, 0.978, 1 - 2997 / 100000, 0.97, 0.9]
    for step, beta, lam in zip([0, 1500, 2200, 2997, 3000, 10000], betas, lambdas):
        assert float(balance.beta_at(step)) == pytest.approx(beta, rel=1e-5), step
        assert float(balance.lambda_at(step)) == pytest.approx(lam, rel=1e-5), step
        assert float(balance.contrastive_at(step)) == pytest.approx(1.0 - beta, rel=1e-5), step
    # --alpha scales the contrastive term; no --betasetp/--setp: constant weights (the balance off)
    assert float(WeightBalance(beta=1.0, beta_steps=10, contrastive_weight=0.5).contrastive_at(5)) == pytest.approx(0.25)
    constant = WeightBalance(beta=0.75, elr_lambda=2.0)
    assert not constant.dynamic
    assert [float(constant.beta_at(s)) for s in (0, 10**6)] == [0.75, 0.75]
    assert float(constant.lambda_at(10**6)) == 2.0


@pytest.mark.parametrize("kwargs, message", [({"beta": 1.5}, "beta"), ({"floor": -0.1}, "floor"),
                                             ({"beta_steps": 0}, "beta_steps"), ({"elr_lambda": -1}, "elr_lambda")])
def test_weight_balance_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        WeightBalance(**kwargs)


# ---- the loss by hand ---------------------------------------------------------------------------
def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _mrl_contrastive(views, tau=1.0):
    """MRL main_noisy.py cross_modal_contrastive_ctriterion, written out with explicit sums."""
    batch, n_view = len(views[0]), len(views)
    features = np.concatenate(views)
    sim = np.exp(features @ features.T / tau)
    sim = sim - np.diag(np.diag(sim))
    sum1 = sum(sim[:, v * batch:(v + 1) * batch] for v in range(n_view))
    diag1 = np.concatenate([np.diag(sum1[v * batch:(v + 1) * batch]) for v in range(n_view)])
    sum2 = sum(sim[v * batch:(v + 1) * batch] for v in range(n_view))
    diag2 = np.concatenate([np.diag(sum2[:, v * batch:(v + 1) * batch]) for v in range(n_view)])
    return -np.mean(np.log(diag1 / sim.sum(1))) - np.mean(np.log(diag2 / sim.sum(1)))


def test_elrcmr_loss_on_a_tiny_batch_matches_a_hand_computation():
    image = np.array([[0.6, 0.8], [1.0, 0.0]], "float32")
    text = np.array([[0.0, 1.0], [0.8, -0.6]], "float32")
    logits = {"image": np.array([[1.0, -0.5], [0.2, 0.3]], "float32"),
              "text": np.array([[0.0, 2.0], [-1.0, 0.5]], "float32")}
    targets = {"image": np.array([[0.6, 0.4], [0.3, 0.7]], "float32"),
               "text": np.array([[0.5, 0.5], [0.1, 0.9]], "float32")}
    labels = np.array([0, 1])
    step = 1500.0
    model = NoisyCrossModalModel(2, 2, num_classes=2, num_samples=2, method="elrcmr", hidden_units=(4,),
                                 embedding_dim=2, beta=0.75, elr_lambda=2.0, beta_steps=3000, elr_steps=6000,
                                 weight_floor=0.001, contrastive_weight=0.5)
    y_pred = {"image_embedding": image, "text_embedding": text, "image_logits": logits["image"],
              "text_logits": logits["text"], "image_targets": targets["image"], "text_targets": targets["text"],
              "step": np.full((2,), step, "float32")}
    got = float(ops.convert_to_numpy(model.compute_loss(y=labels, y_pred=y_pred)))

    beta, lam, alpha = 0.75 * (1 - 1500 / 3000), 2.0 * (1 - 1500 / 6000), 0.5   # 0.375, 1.5
    label_loss = 0.0
    for view in ("image", "text"):
        p = _softmax(logits[view].astype(np.float64))
        mce = np.log(1.0 - p[np.arange(2), labels])                       # MRL's MCE: log(1 - p_y)
        clipped = np.clip(p, 1e-4, 1 - 1e-4)
        elr = np.log(1.0 - np.sum(targets[view] * clipped, axis=1))       # ELR: log(1 - <t, p>)
        label_loss += np.mean(mce + lam * elr)
    expected = beta * label_loss + alpha * (1 - beta) * _mrl_contrastive([image, text])
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parity
def test_the_step_counter_drives_the_schedule_under_fit():
    rng = np.random.default_rng(0)
    image, text = rng.normal(size=(10, 5)).astype("float32"), rng.normal(size=(10, 3)).astype("float32")
    labels = np.arange(10) % 2
    trained = train_noisy_retrieval(image, text, labels, 2, method="elrcmr", epochs=2, batch_size=4,
                                    learning_rate=1e-3, hidden_units=(8,), embedding_dim=4, beta=1.0, elr_lambda=0.5,
                                    beta_steps=12, elr_steps=60, weight_floor=0.001)
    model = trained.model
    assert float(ops.convert_to_numpy(model.step_counter.count)) == 6.0  # 2 epochs x ceil(10 / 4) steps
    assert float(model.balance.beta_at(6)) == pytest.approx(0.5)
    clone = NoisyCrossModalModel.from_config(model.get_config())
    assert clone.get_config() == model.get_config() and clone.balance == model.balance


def test_elrcmr_needs_sample_indices_and_the_training_size():
    with pytest.raises(ConfigError, match="num_samples"):
        NoisyCrossModalModel(4, 3, 2, method="elrcmr")
    model = NoisyCrossModalModel(4, 3, 2, num_samples=4, method="elrcmr", hidden_units=(4,), embedding_dim=2)
    out = model({"image": np.ones((2, 4), "float32"), "text": np.ones((2, 3), "float32")})
    with pytest.raises(ConfigError, match="sample indices"):
        model.compute_loss(y=np.zeros(2, int), y_pred=out)


# ---- loaders ------------------------------------------------------------------------------------
def test_xmedianet_hdf5_fixture_loads_like_mrl(fixtures_dir):
    data = load_noisy_dataset("xmedianet", fixtures_dir / "noisy", valid_len=8)
    assert (len(data.train), len(data.valid), len(data.test)) == (24, 8, 8)  # no valid_ sets: test[:8] validates
    assert data.train.image.shape == (24, 12) and data.train.text.shape == (24, 6)
    assert data.num_classes == 4
    np.testing.assert_array_equal(data.train.image_labels[:5], [0, 1, 2, 3, 0])  # 1-based labels shifted to 0
    np.testing.assert_array_equal(data.train.image_labels, data.train.text_labels)
    direct = load_noisy_dataset("xmedianet2views", fixtures_dir / "noisy" / "XMediaNet" /
                                "xmedianet_deep_doc2vec_data.h5py", valid_len=4)
    assert (len(direct.valid), len(direct.test)) == (4, 12)
    with pytest.raises(DataFormatError, match="test split is empty"):
        load_noisy_dataset("xmedianet", fixtures_dir / "noisy")  # default valid_len 4000 > 16 test pairs


def test_inria_mat_fixture_loads_like_mrl(fixtures_dir):
    data = load_noisy_dataset("inria", fixtures_dir / "noisy")
    assert (len(data.train), len(data.valid), len(data.test)) == (24, 8, 8)
    assert data.train.image_labels.shape == (24,) and data.num_classes == 4  # N x 1 MATLAB columns flattened
    assert data.test.text.dtype == np.float32


def test_loaders_report_bad_input(tmp_path, fixtures_dir):
    with pytest.raises(ConfigError, match="unknown data name"):
        load_noisy_dataset("nus", tmp_path)
    with pytest.raises(MissingFileError, match="INRIA-Websearch.mat"):
        load_noisy_dataset("inria", tmp_path)
    import h5py

    with h5py.File(tmp_path / "xmedianet_deep_doc2vec_data.h5py", "w") as handle:
        handle["train_imgs_deep"] = np.ones((3, 2))
    with pytest.raises(DataFormatError, match="train_text"):
        load_noisy_dataset("xmedianet", tmp_path)
    import scipy.io

    scipy.io.savemat(str(tmp_path / "INRIA-Websearch.mat"), {"tr_img": np.ones((2, 2))})
    with pytest.raises(DataFormatError, match="tr_txt"):
        load_noisy_dataset("inria", tmp_path)


def test_wikipedia_shared_features_split_as_mrl(shared_data):
    data = load_noisy_dataset("wiki", shared_data / "features" / "wikipedia")
    assert (len(data.train), len(data.valid), len(data.test)) == (2173, 231, 462)
    assert data.num_classes == 10


# ---- end to end ---------------------------------------------------------------------------------
def test_seed_command_runs_end_to_end_on_the_fixture(tmp_path, fixtures_dir):
    from recipes.cli import recipes

    # The seed's XMediaNet command, with a tiny model and 2 epochs.
    args = ["noisy", "run", "--data-name", "xmedianet", "--data-dir", str(fixtures_dir / "noisy"), "--valid-len", "8",
            "--max-epochs", "2", "--loss", "MCE", "--lr", "1e-3", "--train-batch-size", "8", "--lama", "0.001",
            "--zeta", "0.001", "--beta", "1", "--alpha", "1", "--setp", "100000", "--betasetp", "50000",
            "--noisy-ratio", "0.4", "--hidden", "16", "--output-dim", "8", "--run-dir", str(tmp_path)]
    result = CliRunner().invoke(recipes, args)
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["method"] == "elrcmr" and results["steps"] == 6
    assert results["final_weights"]["beta"] == pytest.approx(1 - 6 / 50000, rel=1e-6)
    assert len(results["test_map_by_epoch"]) == 2 and len(results["centre_cosine_to_best_by_epoch"]) == 2
    assert 0.0 < results["last_epoch"]["i2t"] <= 1.0
    assert "best validation epoch" in result.output
    bad = CliRunner().invoke(recipes, args[:-2] + ["--loss", "CE", "--run-dir", str(tmp_path)])
    assert bad.exit_code != 0 and "need --loss MCE" in str(bad.exception)
