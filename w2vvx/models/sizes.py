"""Model sizes: the field overrides that shrink a named config for the hardware at hand (CLI ``--size``).

- ``lineage``: the config exactly as published (GPU, hours).
- ``small``: a CPU-sized model that trains in minutes on two cores (smaller GRU and embeddings, a 10x
  learning rate so that 10 epochs suffice where the lineage trains 100-200); the CLI default.
- ``tiny``: the test size of ``do-all``.
- ``smoke``: the smallest model, 2 epochs, for a recipe's ``--small-scale`` smoke run (configs with a
  common space get a 32-d space and no text MLP).

"Preset" in w2vvx means only a saved folder (:mod:`w2vvx.models.presets`); a size is a set of overrides.
"""
from __future__ import annotations

from typing import Dict

from w2vvx.errors import ConfigError
from w2vvx.models.configs import ModelConfig, get_config

SIZES: Dict[str, dict] = {
    "lineage": {},
    "small": {"embed_dim": 64, "w2v_dim": 64, "gru_units": 128, "learning_rate": 1e-3, "max_epochs": 8,
              "lr_halving_patience": 2, "early_stop_patience": 4},
    "tiny": {"embed_dim": 16, "w2v_dim": 16, "gru_units": 32, "text_mlp": (256,), "learning_rate": 3e-3,
             "max_epochs": 8, "batch_size": 32, "vocab_min_count": 1},
    "smoke": {"gru_units": 16, "embed_dim": 16, "w2v_dim": 16, "text_mlp": (32,), "batch_size": 16,
              "max_epochs": 2, "vocab_min_count": 1, "early_stop_patience": 2, "lr_halving_patience": 1},
}
#: Common-space size of the ``smoke`` size for configs with a common space (w2vvpp, nrccr).
SMOKE_SPACE_DIM = 32
#: The text MLP of the ``small`` size for configs that map text through one (the W2VV family's 2048 hidden
#: units halved; configs without a text MLP, w2vvpp and nrccr, keep none).
SMALL_TEXT_MLP = (1024,)
#: The size of ``w2vvx train`` and of ``Trainer`` given a config name, when none is chosen.
DEFAULT_SIZE = "small"
#: How long each size takes to train, in one line (logged by ``Trainer``).
SIZE_COSTS: Dict[str, str] = {
    "lineage": "the published sizes: hours on a CPU; use a GPU, or size='small'",
    "small": "CPU-sized: minutes on 2 cores; size='lineage' for the published sizes (hours on a CPU)",
    "tiny": "the test size: seconds to a minute",
    "smoke": "the smallest model, 2 epochs: smoke runs only",
}


def model_sizes() -> list:
    """The model sizes, largest first.

    Example:
        >>> model_sizes()
        ['lineage', 'small', 'tiny', 'smoke']
    """
    return list(SIZES)


def size_overrides(size: str, config: ModelConfig = None) -> dict:
    """The field overrides of ``size`` (for ``config``: the ``smoke`` space and ``small`` MLP rules depend on it).

    Example:
        >>> size_overrides("small")["gru_units"]
        128
        >>> size_overrides("small", get_config("w2vv_attention_ctl"))["text_mlp"]
        (1024,)
        >>> size_overrides("smoke", get_config("w2vvpp"))["common_space_dim"]
        32
    """
    if size not in SIZES:
        raise ConfigError(f"size must be one of {model_sizes()}, got {size!r}")
    overrides = dict(SIZES[size])
    if size == "smoke" and config is not None and config.common_space_dim is not None:
        overrides.update(common_space_dim=SMOKE_SPACE_DIM, text_mlp=())
    if size == "small" and config is not None and config.text_mlp:
        overrides["text_mlp"] = SMALL_TEXT_MLP
    return overrides


def size_cost(size: str) -> str:
    """How long ``size`` takes to train, in one line.

    Example:
        >>> size_cost("lineage")
        "the published sizes: hours on a CPU; use a GPU, or size='small'"
    """
    if size not in SIZES:
        raise ConfigError(f"size must be one of {model_sizes()}, got {size!r}")
    return SIZE_COSTS[size]


def sized_config(config, size: str = DEFAULT_SIZE, **overrides) -> ModelConfig:
    """A named config (or a ``ModelConfig``) with the model size, then ``overrides``, applied.

    When the overrides set ``embed_dim`` (and the size does not pin ``w2v_dim`` separately), the
    word2vec branch follows it: word vectors are trained at the GRU embedding size.

    Example:
        >>> sized_config("w2vv_attention_ctl", "small").gru_units
        128
        >>> sized_config("w2vvpp", "small", embed_dim=64).w2v_dim
        64
    """
    if isinstance(config, str):
        config = get_config(config)
    if not isinstance(config, ModelConfig):
        raise ConfigError(f"config must be a config name or a ModelConfig, got {type(config).__name__}")
    fields = size_overrides(size, config)
    fields.update(overrides)
    if "embed_dim" in overrides and "w2v_dim" not in overrides:
        fields["w2v_dim"] = fields["embed_dim"]
    return config.replace(**fields) if fields else config
