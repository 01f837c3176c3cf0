"""Model and training settings as a dataclass, with the lineage's named configurations.

Named configs (``get_config(name)``):

- ``base_w2vv``: COCO-CN's W2VV. Text = [GRU-1024 last state ‖ BoW (stopwords removed) ‖ mean
  word2vec (stopwords removed)] → Dense 2048 ReLU → dropout → Dense (visual dim) ReLU regressing the
  visual feature; MSE; RMSprop 1e-4, clipnorm 10; batch 100; selection by image→text mAP.
- ``w2vv_attention``: as base_w2vv, with attention pooling over the GRU states.
- ``w2vv_attention_ctl``: the enhanced W2VV of COCO-CN: attention + pairwise contrastive loss (margin 2).
- ``w2vvpp``: W2VV++: GRU mean pooling, common space 2048 (Linear → tanh → dropout → L2 norm on
  both sides), max-violation triplet loss margin 0.2 text→video, RMSprop 1e-4, clip 2, batch 128.
- ``w2vv_infonce``: the W2VV++ architecture with a symmetric InfoNCE loss and a learnable temperature.
- ``w2vv_1tok``: the W2VV++ architecture with CCRK's 1-to-K contrastive loss (K = 2 languages).
- ``nrccr``: NRCCR's settings on the W2VV++ encoders: GRU mean pooling (its token states feed the
  cross-attention), common space 1536 (Linear → BatchNorm → dropout → L2 norm), VSE++ max-violation
  triplet margin 0.2 both directions, Adam 1e-4, clip 2, batch 128, LR ×0.99 per epoch, selection by
  text→video SumR. Build it with ``w2vvx.models.nrccr.build_nrccr_model`` for the cross-lingual loss;
  ``build_model`` gives the same encoders trained with the triplet loss alone (the MT-only baseline).

How each trains (fields ``sampling``, ``lr_schedule``, ``visual_encoder``, ``gru_padding``, ``w2v_words``; docs/recipes.md
"How each method trains"): ``base_w2vv`` and ``w2vv_attention`` sample W2VV's ``"items"``; the others
visit every caption once per epoch (``"captions"``: coco-cn ``utils/dataset.py``, w2vvpp
``data_provider.py``, nrccr ``util/tag_data_provider_vid.py`` 368-384). ``w2vvpp``, ``w2vv_infonce`` and
``w2vv_1tok`` use W2VV++'s ``"plateau"`` schedule (w2vvpp ``model.py``: StepLR ×0.99 +
ReduceLROnPlateau(max, 0.5, patience 2)); the W2VV/COCO-CN configs and ``nrccr`` the ``"halving"`` rule.
The NRCCR recipes set ``visual_encoder`` to NRCCR's frame transformer (videos) or image layer (ResNet-152).

Example:
    >>> {name: get_config(name).sampling for name in ("base_w2vv", "w2vvpp", "nrccr")}
    {'base_w2vv': 'items', 'w2vvpp': 'captions', 'nrccr': 'captions'}
"""
from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from w2vvx.errors import ConfigError, DataFormatError
from w2vvx.io.atomic import atomic_path
from w2vvx.io.json_files import read_json_object

TEXT_BRANCHES = ("gru", "bow", "w2v")
POOLINGS = ("last", "mean", "attention")
OPTIMIZERS = ("rmsprop", "adam")
LOSS_NAMES = ("mse", "ctl", "triplet", "infonce", "one_to_k")
SELECTION_METRICS = ("v2t_map", "t2v_mir", "t2v_map", "sum_recall", "t2v_sum_recall")
#: Which captions an epoch visits (w2vvx.datasets.batching_sampling).
SAMPLING_MODES = ("items", "captions")
#: Learning-rate rules (w2vvx.training.schedules).
LR_SCHEDULES = ("halving", "plateau", "plateau_torch12")
#: Visual towers before the projection: frame mean pooling / identity, NRCCR's image layer, NRCCR's frame transformer.
VISUAL_ENCODERS = ("mean", "nrccr_image", "nrccr_frames")
#: Where the GRU input's padding goes: "post" (masked) or "pre" (COCO-CN: pre-padded, unmasked).
GRU_PADDINGS = ("post", "pre")
#: Words the mean-word2vec branch averages (docs/recipes.md "How each method trains").
W2V_WORDS = ("bow", "pretrained", "pretrained_unique")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build, compile and train one W2VV-family model.

    Architecture:
        text_branches: subset of ("gru", "bow", "w2v") concatenated into the sentence vector.
        w2v_source: input the word2vec branch averages ("bow_tokens": stopword-filtered BoW ids as
            the lineage's ``word2vec_filterstop``; or "tokens").
        embed_dim: GRU word embedding dimension. w2v_dim: mean word2vec dimension.
        gru_units, bidirectional, pooling ("last" | "mean" | "attention"), attention_mask_padding
            (False = coco-cn's softmax over padded steps too).
        we_trainable: train the GRU word embedding. w2v_trainable: train the mean-word2vec matrix.
        text_mlp: hidden layer widths of W2VV's text→visual MLP (the output layer has the visual
            dimension, or ``common_space_dim``).
        common_space_dim: None = map text into the visual space (W2VV); an int = project both
            sides into a common space of that size (W2VV++).
        activation: hidden-layer activation; output_activation: W2VV output activation;
        space_activation: common-space activation (None = linear); batch_norm: BatchNorm in the
            projection (NRCCR). dropout: dropout rate everywhere.
    Loss: ``loss`` (one of LOSS_NAMES) and ``loss_kwargs`` for its class; for "infonce" and
        "one_to_k", ``learnable_temperature`` gives the model a trainable τ (init
        ``loss_kwargs["temperature"]``, clamped to ``temperature_range``).
    Training: optimizer, learning_rate, clipnorm, batch_size, max_epochs, selection_metric,
        lr_decay (per-epoch factor), lr_halving_patience (bad epochs before halving the LR),
        early_stop_patience. Text: maxlen, vocab_min_count, frames (frame-level visual input).
    Lineage settings (each method's own; see docs/recipes.md):
        sampling: ``"items"`` (W2VV: distinct items per batch, one random caption each) or ``"captions"``
            (every caption once per epoch, shuffled: COCO-CN, W2VV++, NRCCR);
            :mod:`w2vvx.datasets.batching_sampling`.
        lr_schedule: ``"halving"`` (W2VV / COCO-CN / NRCCR: halve after ``lr_halving_patience`` epochs
            at a rate without improvement, ×``lr_decay`` per epoch) or ``"plateau"`` (W2VV++: ×``lr_decay``
            per epoch, then PyTorch's ``ReduceLROnPlateau(max, factor 0.5, patience lr_halving_patience)``) or
            ``"plateau_torch12"`` (the same with PyTorch 1.2's closed-form StepLR, which w2vvpp pins);
            :mod:`w2vvx.training.schedules`.
        visual_encoder: ``"mean"`` (frames mean-pooled, vectors as they are), ``"nrccr_image"``
            (ReLU(Linear D→D), NRCCR ``model.py`` 121-129) or ``"nrccr_frames"`` (NRCCR's one-layer frame
            transformer, ``model.py`` 82-117, hidden ``visual_hidden_dim``, ``visual_heads`` heads, at most
            ``max_frames`` frames), before the common-space projection.
        gru_padding: ``"post"`` (masked GRU over the real tokens) or ``"pre"`` (COCO-CN: Keras 2
            ``pad_sequences`` pre-padding, GRU and attention over all ``maxlen`` steps, unmasked).
        w2v_words: the words the mean-word2vec branch averages: ``"bow"`` (the BoW vocabulary's words,
            min count ``vocab_min_count``), ``"pretrained"`` (W2VV / COCO-CN ``AveWord2VecFilterStop``:
            every non-stopword token that has a word vector, whatever its count; w2vv ``util/text2vec.py``
            65-108) or ``"pretrained_unique"`` (W2VV++ ``W2VecNSW``: each such word once per sentence, as
            its ``BigFile.read`` reads a set; w2vvpp ``txt2vec.py`` 62-76). The last two read the
            preprocessor's ``w2v_tokens`` (every stopword-filtered training word, whatever its count;
            words without a vector have zero rows and are skipped).
    """

    name: str = "custom"
    text_branches: tuple = ("gru", "bow", "w2v")
    w2v_source: str = "bow_tokens"
    embed_dim: int = 500
    w2v_dim: int = 500
    gru_units: int = 1024
    bidirectional: bool = False
    pooling: str = "last"
    attention_mask_padding: bool = True
    we_trainable: bool = False
    w2v_trainable: bool = False
    text_mlp: tuple = (2048,)
    common_space_dim: Optional[int] = None
    activation: str = "relu"
    output_activation: Optional[str] = "relu"
    space_activation: Optional[str] = "tanh"
    batch_norm: bool = False
    dropout: float = 0.2
    loss: str = "mse"
    loss_kwargs: dict = field(default_factory=dict)
    learnable_temperature: bool = False
    temperature_range: tuple = (0.001, 0.5)
    optimizer: str = "rmsprop"
    learning_rate: float = 1e-4
    clipnorm: Optional[float] = 10.0
    batch_size: int = 100
    max_epochs: int = 200
    selection_metric: str = "v2t_map"
    lr_decay: float = 1.0
    lr_halving_patience: int = 3
    early_stop_patience: int = 10
    maxlen: int = 32
    vocab_min_count: int = 5
    frames: bool = False
    sampling: str = "items"
    lr_schedule: str = "halving"
    visual_encoder: str = "mean"
    visual_hidden_dim: int = 1024
    visual_heads: int = 8
    max_frames: int = 64
    gru_padding: str = "post"
    w2v_words: str = "bow"

    def __post_init__(self):
        _validate(self)
        object.__setattr__(self, "loss_kwargs", dict(self.loss_kwargs))

    def replace(self, **overrides) -> "ModelConfig":
        """A copy with ``overrides`` applied (unknown keys raise ConfigError naming the closest)."""
        _check_keys(overrides)
        return dataclasses.replace(self, **_normalise(overrides))

    def to_dict(self) -> dict:
        """Plain JSON-able dict (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else (dict(value) if isinstance(value, dict) else value)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError(f"a model config must be a dict/JSON object, got {type(data).__name__}")
        _check_keys(data)
        return cls(**_normalise(data))

    def save(self, path) -> None:
        """Write the config as JSON, atomically."""
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path) -> "ModelConfig":
        """Read a config written by :meth:`save`."""
        path = Path(path)
        data = read_json_object(path, fix="write the config again with ModelConfig.save",
                                missing="model config file not found; write one with ModelConfig.save")
        try:
            return cls.from_dict(data)
        except ConfigError as error:
            raise DataFormatError(str(error), path) from error


_TUPLE_FIELDS = ("text_branches", "text_mlp", "temperature_range")


def _normalise(values: dict) -> dict:
    values = dict(values)
    for key in _TUPLE_FIELDS:
        if key in values and isinstance(values[key], list):
            values[key] = tuple(values[key])
    return values


def _check_keys(values: dict) -> None:
    known = [f.name for f in dataclasses.fields(ModelConfig)]
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown model config field {key!r}.{hint}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(c: ModelConfig) -> None:
    _require(isinstance(c.text_branches, tuple) and c.text_branches
             and set(c.text_branches) <= set(TEXT_BRANCHES) and len(set(c.text_branches)) == len(c.text_branches),
             f"text_branches must be a non-empty subset of {TEXT_BRANCHES}, got {c.text_branches!r}")
    _require(c.w2v_source in ("bow_tokens", "tokens"),
             f"w2v_source must be 'bow_tokens' or 'tokens', got {c.w2v_source!r}")
    _require(c.pooling in POOLINGS, f"pooling must be one of {POOLINGS}, got {c.pooling!r}")
    for key in ("embed_dim", "w2v_dim", "gru_units", "batch_size", "max_epochs", "maxlen", "vocab_min_count"):
        _require(_is_int(getattr(c, key)) and getattr(c, key) > 0,
                 f"{key} must be a positive integer, got {getattr(c, key)!r}")
    for key in ("lr_halving_patience", "early_stop_patience"):
        _require(_is_int(getattr(c, key)) and getattr(c, key) >= 0,
                 f"{key} must be an integer >= 0, got {getattr(c, key)!r}")
    _require(isinstance(c.text_mlp, tuple) and all(_is_int(u) and u > 0 for u in c.text_mlp),
             f"text_mlp must be a list of positive layer widths, got {c.text_mlp!r}")
    _require(c.common_space_dim is None or (_is_int(c.common_space_dim) and c.common_space_dim > 0),
             f"common_space_dim must be None or a positive integer, got {c.common_space_dim!r}")
    _require(isinstance(c.dropout, (int, float)) and 0 <= c.dropout < 1,
             f"dropout must be in [0, 1), got {c.dropout!r}")
    _require(c.loss in LOSS_NAMES, f"loss must be one of {LOSS_NAMES}, got {c.loss!r}")
    _require(isinstance(c.loss_kwargs, dict), f"loss_kwargs must be a dict, got {c.loss_kwargs!r}")
    _require(not c.learnable_temperature or c.loss in ("infonce", "one_to_k"),
             f"learnable_temperature applies to the 'infonce' and 'one_to_k' losses, not {c.loss!r}")
    _require(isinstance(c.temperature_range, tuple) and len(c.temperature_range) == 2
             and 0 < c.temperature_range[0] < c.temperature_range[1],
             f"temperature_range must be (min, max) with 0 < min < max, got {c.temperature_range!r}")
    _require(c.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {c.optimizer!r}")
    _require(isinstance(c.learning_rate, (int, float)) and c.learning_rate > 0,
             f"learning_rate must be > 0, got {c.learning_rate!r}")
    _require(c.clipnorm is None or (isinstance(c.clipnorm, (int, float)) and c.clipnorm > 0),
             f"clipnorm must be None or > 0, got {c.clipnorm!r}")
    _require(isinstance(c.lr_decay, (int, float)) and 0 < c.lr_decay <= 1,
             f"lr_decay must be in (0, 1], got {c.lr_decay!r}")
    _require(c.selection_metric in SELECTION_METRICS,
             f"selection_metric must be one of {SELECTION_METRICS}, got {c.selection_metric!r}")
    for key, allowed in (("sampling", SAMPLING_MODES), ("lr_schedule", LR_SCHEDULES),
                         ("visual_encoder", VISUAL_ENCODERS), ("gru_padding", GRU_PADDINGS),
                         ("w2v_words", W2V_WORDS)):
        _require(getattr(c, key) in allowed, f"{key} must be one of {allowed}, got {getattr(c, key)!r}")
    for key in ("visual_hidden_dim", "visual_heads", "max_frames"):
        _require(_is_int(getattr(c, key)) and getattr(c, key) > 0,
                 f"{key} must be a positive integer, got {getattr(c, key)!r}")
    _require(c.visual_hidden_dim % c.visual_heads == 0,
             f"visual_hidden_dim ({c.visual_hidden_dim}) must be a multiple of visual_heads ({c.visual_heads})")


_BASE_W2VV = ModelConfig(
    name="base_w2vv", text_branches=("gru", "bow", "w2v"), pooling="last", we_trainable=False,
    text_mlp=(2048,), common_space_dim=None, activation="relu", output_activation="relu", dropout=0.2,
    loss="mse", optimizer="rmsprop", learning_rate=1e-4, clipnorm=10.0, batch_size=100, max_epochs=200,
    selection_metric="v2t_map", lr_halving_patience=3, early_stop_patience=10, w2v_words="pretrained")

_W2VVPP = ModelConfig(
    name="w2vvpp", text_branches=("gru", "bow", "w2v"), pooling="mean", we_trainable=True,
    text_mlp=(), common_space_dim=2048, space_activation="tanh", dropout=0.2, loss="triplet",
    loss_kwargs={"margin": 0.2, "max_violation": True, "direction": "t2v", "reduction": "sum"},
    optimizer="rmsprop", learning_rate=1e-4, clipnorm=2.0, batch_size=128, max_epochs=80,
    selection_metric="t2v_mir", lr_decay=0.99, lr_halving_patience=2, early_stop_patience=10,
    sampling="captions", lr_schedule="plateau", w2v_words="pretrained_unique")

NAMED_CONFIGS = {
    "base_w2vv": _BASE_W2VV,
    "w2vv_attention": _BASE_W2VV.replace(name="w2vv_attention", pooling="attention"),
    "w2vv_attention_ctl": _BASE_W2VV.replace(name="w2vv_attention_ctl", pooling="attention", loss="ctl",
                                             loss_kwargs={"margin": 2.0}, sampling="captions"),
    "w2vvpp": _W2VVPP,
    "w2vv_infonce": _W2VVPP.replace(name="w2vv_infonce", loss="infonce", loss_kwargs={"temperature": 0.07},
                                    learnable_temperature=True, selection_metric="sum_recall"),
    "w2vv_1tok": _W2VVPP.replace(name="w2vv_1tok", loss="one_to_k",
                                 loss_kwargs={"num_captions": 2, "temperature": 0.07},
                                 learnable_temperature=True, selection_metric="sum_recall"),
    "nrccr": _W2VVPP.replace(name="nrccr", common_space_dim=1536, space_activation=None, batch_norm=True,
                             loss_kwargs={"margin": 0.2, "max_violation": True, "direction": "both",
                                          "reduction": "sum"},
                             optimizer="adam", learning_rate=1e-4, clipnorm=2.0, batch_size=128, max_epochs=50,
                             selection_metric="t2v_sum_recall", lr_decay=0.99, lr_halving_patience=3,
                             early_stop_patience=10, lr_schedule="halving", w2v_words="bow"),
}


def config_names() -> list:
    """Names accepted by :func:`get_config`."""
    return list(NAMED_CONFIGS)


def get_config(name: str, **overrides: Any) -> ModelConfig:
    """The named config, with optional field overrides.

    Example:
        >>> get_config("w2vvpp", batch_size=64).batch_size
        64
    """
    if name not in NAMED_CONFIGS:
        close = difflib.get_close_matches(str(name), NAMED_CONFIGS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown model config {name!r}; known configs: {', '.join(NAMED_CONFIGS)}.{hint}")
    config = NAMED_CONFIGS[name]
    return config.replace(**overrides) if overrides else config
