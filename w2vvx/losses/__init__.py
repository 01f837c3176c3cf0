"""Retrieval losses: ``call(y_true, y_pred)`` with y_true = visual-side, y_pred = text-side embeddings.

``get_loss(name, **kwargs)`` builds one of the model-level losses by the name a ``ModelConfig``
uses ("mse", "ctl", "triplet", "infonce", "one_to_k").
"""
from __future__ import annotations

import difflib

from w2vvx.errors import ConfigError
from w2vvx.losses.info_nce import InfoNCELoss
from w2vvx.losses.mse import MSELoss
from w2vvx.losses.one_to_k import OneToKContrastiveLoss
from w2vvx.losses.pairwise_contrastive import PairwiseContrastiveLoss
from w2vvx.losses.triplet import TripletRankingLoss
from w2vvx.losses.distillation import FeatureDistillationLoss, SimilarityDistillationLoss
from w2vvx.losses.elr import EarlyLearningTargets, ELRLoss
from w2vvx.losses.label_contrastive import MultimodalContrastiveLoss
from w2vvx.losses.mce import MeanClusteringError

LOSSES = {
    "mse": MSELoss,
    "ctl": PairwiseContrastiveLoss,
    "triplet": TripletRankingLoss,
    "infonce": InfoNCELoss,
    "one_to_k": OneToKContrastiveLoss,
}


def get_loss(name: str, **kwargs):
    """Instantiate the loss registered under ``name`` with ``kwargs``.

    Example:
        >>> get_loss("triplet", margin=0.2).margin
        0.2
    """
    if name not in LOSSES:
        close = difflib.get_close_matches(str(name), LOSSES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown loss {name!r}; known losses: {', '.join(LOSSES)}.{hint}")
    try:
        return LOSSES[name](**kwargs)
    except TypeError as error:
        raise ConfigError(f"bad arguments {kwargs!r} for loss {name!r} ({LOSSES[name].__name__}): {error}") from error


__all__ = ["ELRLoss", "EarlyLearningTargets", "FeatureDistillationLoss", "InfoNCELoss", "LOSSES", "MSELoss",
           "MeanClusteringError", "MultimodalContrastiveLoss", "OneToKContrastiveLoss", "PairwiseContrastiveLoss",
           "SimilarityDistillationLoss", "TripletRankingLoss", "get_loss"]
