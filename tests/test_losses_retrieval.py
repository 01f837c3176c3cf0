"""Retrieval losses against direct NumPy transcriptions of their formulas."""
import keras
import numpy as np
import pytest

from w2vvx.errors import ConfigError
from w2vvx.losses import (InfoNCELoss, MSELoss, OneToKContrastiveLoss, PairwiseContrastiveLoss,
                          TripletRankingLoss, get_loss)

RNG = np.random.default_rng(7)
B, D = 5, 4
VISUAL = RNG.normal(size=(B, D)).astype("float32")
TEXT = RNG.normal(size=(B, D)).astype("float32")
NEGATIVE = RNG.normal(size=(B, D)).astype("float32")


def value(x):
    return float(keras.ops.convert_to_numpy(x))


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def log_softmax(x, axis):
    x = x - x.max(axis=axis, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))


def numpy_ctl(text, positives, negatives, margin):
    terms = []
    for i in range(len(text)):
        terms.append(1 * np.sum((text[i] - positives[i]) ** 2))
        distance = np.linalg.norm(text[i] - negatives[i])
        terms.append((1 - 0) * max(margin - distance, 0.0) ** 2)
    return np.mean(terms)


@pytest.mark.parity
def test_mse_matches_numpy():
    assert value(MSELoss()(VISUAL, TEXT)) == pytest.approx(np.mean((VISUAL - TEXT) ** 2), rel=1e-5)


@pytest.mark.parity
@pytest.mark.parametrize("margin", [2.0, 4.0])
def test_pairwise_contrastive_with_given_negatives(margin):
    y_true = np.concatenate([VISUAL, NEGATIVE])
    expected = numpy_ctl(TEXT, VISUAL, NEGATIVE, margin)
    assert value(PairwiseContrastiveLoss(margin=margin)(y_true, TEXT)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parity
def test_pairwise_contrastive_in_batch_fallback_uses_next_row():
    expected = numpy_ctl(TEXT, VISUAL, np.roll(VISUAL, -1, axis=0), 4.0)
    assert value(PairwiseContrastiveLoss(margin=4.0)(VISUAL, TEXT)) == pytest.approx(expected, rel=1e-5)


def test_pairwise_contrastive_rejects_bad_row_count():
    with pytest.raises(ConfigError, match="B or 2B rows"):
        PairwiseContrastiveLoss()(VISUAL[:3], TEXT)


def numpy_triplet(visual, text, margin, max_violation, direction, reduction):
    scores = unit(text) @ unit(visual).T  # [text i, visual j]
    n = len(scores)
    total = []
    for q in range(n):
        cost = 0.0
        if direction in ("t2v", "both"):
            row = [max(0.0, margin + scores[q, j] - scores[q, q]) for j in range(n) if j != q]
            cost += max(row) if max_violation else sum(row)
        if direction in ("v2t", "both"):
            col = [max(0.0, margin + scores[i, q] - scores[q, q]) for i in range(n) if i != q]
            cost += max(col) if max_violation else sum(col)
        total.append(cost)
    return sum(total) if reduction == "sum" else np.mean(total)


@pytest.mark.parity
@pytest.mark.parametrize("direction", ["t2v", "v2t", "both"])
@pytest.mark.parametrize("max_violation", [True, False])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_triplet_matches_numpy(direction, max_violation, reduction):
    loss = TripletRankingLoss(margin=0.2, max_violation=max_violation, direction=direction, reduction=reduction)
    expected = numpy_triplet(VISUAL, TEXT, 0.2, max_violation, direction, reduction)
    assert expected > 0
    assert value(loss(VISUAL, TEXT)) == pytest.approx(expected, rel=1e-5)


def numpy_info_nce(visual, text, temperature):
    logits = unit(text) @ unit(visual).T / temperature
    t2v = -np.diag(log_softmax(logits, axis=1))
    v2t = -np.diag(log_softmax(logits, axis=0))
    return (t2v.mean() + v2t.mean()) / 2


@pytest.mark.parity
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_info_nce_matches_numpy(temperature):
    expected = numpy_info_nce(VISUAL, TEXT, temperature)
    assert value(InfoNCELoss(temperature=temperature)(VISUAL, TEXT)) == pytest.approx(expected, rel=1e-5)
    passed = InfoNCELoss(temperature=1.0)(VISUAL, TEXT, temperature=keras.ops.convert_to_tensor(temperature))
    assert value(passed) == pytest.approx(expected, rel=1e-5)


def numpy_one_to_k(visual, texts, k, temperature):
    batch = len(visual)
    logits = unit(visual) @ unit(texts).T / temperature  # (B, K*B); text k*B + i belongs to item i
    i2t_rows = log_softmax(logits, axis=1)
    i2t = np.mean([-sum(i2t_rows[i, kk * batch + i] for kk in range(k)) for i in range(batch)])
    t2i_cols = log_softmax(logits, axis=0)
    t2i = np.mean([-t2i_cols[r % batch, r] for r in range(k * batch)])
    return (i2t + t2i) / 2 / k


@pytest.mark.parity
@pytest.mark.parametrize("k", [1, 3])
def test_one_to_k_matches_numpy(k):
    texts = RNG.normal(size=(k * B, D)).astype("float32")
    expected = numpy_one_to_k(VISUAL, texts, k, 0.07)
    assert value(OneToKContrastiveLoss(num_captions=k)(VISUAL, texts)) == pytest.approx(expected, rel=1e-5)
    passed = OneToKContrastiveLoss(num_captions=k)(VISUAL, texts, temperature=0.2)
    assert value(passed) == pytest.approx(numpy_one_to_k(VISUAL, texts, k, 0.2), rel=1e-5)


def test_one_to_k_rejects_wrong_caption_count():
    with pytest.raises(ConfigError, match="K·B"):
        OneToKContrastiveLoss(num_captions=2)(VISUAL, TEXT)


def test_get_loss_and_serialization():
    assert isinstance(get_loss("ctl", margin=2.0), PairwiseContrastiveLoss)
    with pytest.raises(ConfigError, match="Did you mean 'triplet'"):
        get_loss("triplett")
    with pytest.raises(ConfigError, match="bad arguments"):
        get_loss("mse", margin=1.0)
    for loss in (MSELoss(), PairwiseContrastiveLoss(3.0), TripletRankingLoss(direction="both", reduction="mean"),
                 InfoNCELoss(0.1), OneToKContrastiveLoss(3, 0.05)):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
