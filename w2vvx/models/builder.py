"""Build a :class:`W2VVModel` from a :class:`ModelConfig`."""
from __future__ import annotations

import keras
import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.layers import (CommonSpaceProjection, LearnableTemperature, MultiScaleTextEncoder,
                          TextToVisualMapping, VisualEncoder)
from w2vvx.losses import get_loss
from w2vvx.models.configs import ModelConfig
from w2vvx.models.w2vv import W2VVModel


def _split_word_vectors(word_vectors, config: ModelConfig):
    """Return (GRU embedding init, mean-word2vec init) from ``word_vectors``."""
    if word_vectors is None:
        return None, None
    if not isinstance(word_vectors, dict):
        word_vectors = {"tokens": word_vectors}
    unknown = set(word_vectors) - {"tokens", "bow_tokens"}
    if unknown:
        raise ConfigError(f"word_vectors keys must be 'tokens' (GRU vocabulary rows) and/or 'bow_tokens' "
                          f"(BoW vocabulary rows), got {sorted(unknown)}")
    gru_init = word_vectors.get("tokens") if "gru" in config.text_branches else None
    w2v_init = None
    if "w2v" in config.text_branches:
        w2v_init = word_vectors.get(config.w2v_source)
        if w2v_init is None:
            raise ConfigError(
                f"the word2vec branch averages {config.w2v_source!r} ids, so word_vectors needs a matrix "
                f"for that vocabulary: pass word_vectors={{'tokens': ..., {config.w2v_source!r}: ...}} "
                "(w2vvx.text.embedding_matrix builds one per vocabulary)")
    if gru_init is not None and np.shape(gru_init)[1] != config.embed_dim:
        raise ConfigError(f"word_vectors['tokens'] has {np.shape(gru_init)[1]} columns but embed_dim is "
                          f"{config.embed_dim}; set embed_dim to the word-vector dimension")
    return gru_init, w2v_init


def build_text_encoder(config: ModelConfig, gru_vocab_size, bow_vocab_size, output_dim: int,
                       word_vectors=None, name: str = "text_encoder") -> keras.Model:
    """Functional text model ``{"tokens", "bow_tokens"} → (B, output_dim)``.

    ``output_dim`` is the visual dimension (W2VV) or ignored in favour of
    ``config.common_space_dim`` (W2VV++).
    """
    gru_init, w2v_init = _split_word_vectors(word_vectors, config)
    w2v_dim = config.w2v_dim if w2v_init is None else int(np.shape(w2v_init)[1])
    inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key) for key in ("tokens", "bow_tokens")}
    sentence = MultiScaleTextEncoder(
        branches=config.text_branches, gru_vocab_size=gru_vocab_size, bow_vocab_size=bow_vocab_size,
        embed_dim=config.embed_dim, units=config.gru_units, bidirectional=config.bidirectional,
        pooling=config.pooling, dropout=config.dropout, embedding_trainable=config.we_trainable,
        attention_mask_padding=config.attention_mask_padding, w2v_dim=w2v_dim,
        w2v_source=config.w2v_source, w2v_trainable=config.w2v_trainable,
        gru_embeddings=gru_init, w2v_embeddings=w2v_init, name="multiscale")(inputs)
    if config.common_space_dim is None:
        embedding = TextToVisualMapping(
            hidden_units=config.text_mlp, output_dim=output_dim, activation=config.activation,
            output_activation=config.output_activation, dropout=config.dropout, name="mapping")(sentence)
    else:
        if config.text_mlp:
            sentence = TextToVisualMapping(
                hidden_units=config.text_mlp[:-1], output_dim=config.text_mlp[-1],
                activation=config.activation, output_activation=config.activation,
                dropout=config.dropout, name="mapping")(sentence)
        embedding = CommonSpaceProjection(
            config.common_space_dim, activation=config.space_activation, dropout=config.dropout,
            batch_norm=config.batch_norm, name="projection")(sentence)
    return keras.Model(inputs, embedding, name=name)


def build_visual_encoder(config: ModelConfig, visual_dim: int, frames: bool = False,
                         name: str = "visual_encoder") -> keras.Model:
    """Functional visual model ``(B, D)`` (or ``(B, T, D)`` when ``frames``) → ``(B, E)``."""
    features = keras.Input(shape=(None, visual_dim) if frames else (visual_dim,), dtype="float32", name="visual")
    embedding = VisualEncoder(common_space_dim=config.common_space_dim, activation=config.space_activation,
                              dropout=config.dropout, batch_norm=config.batch_norm, name="visual_projection")(features)
    return keras.Model(features, embedding, name=name)


def build_optimizer(config: ModelConfig) -> keras.optimizers.Optimizer:
    """RMSprop (rho 0.9, eps 1e-6 as W2VV) or Adam with the config's learning rate.

    ``config.clipnorm`` clips the global norm of all gradients together, as Keras 2's ``clipnorm``
    (W2VV, COCO-CN) and PyTorch's ``clip_grad_norm_`` (W2VV++, NRCCR) did; Keras 3's ``clipnorm``
    would clip each variable separately.
    """
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=config.learning_rate, rho=0.9, epsilon=1e-6,
                                        global_clipnorm=config.clipnorm)
    return keras.optimizers.Adam(learning_rate=config.learning_rate, global_clipnorm=config.clipnorm)


def build_model(config: ModelConfig, gru_vocab_size=None, bow_vocab_size=None, visual_dim: int = 2048,
                word_vectors=None, frames: bool = False, compile: bool = True, name=None) -> W2VVModel:
    """Build (and by default compile with the config's optimizer) a :class:`W2VVModel`.

    Args:
        config: a :class:`ModelConfig` (see :func:`w2vvx.models.get_config`).
        gru_vocab_size: rows of the GRU vocabulary (padding included); needed with the "gru" branch.
        bow_vocab_size: rows of the BoW vocabulary; needed with the "bow" branch (and "w2v" on
            ``bow_tokens``).
        visual_dim: visual feature dimension D.
        word_vectors: optional initial word vectors: one ``(gru_vocab_size, embed_dim)`` matrix for
            the GRU embedding, or a dict ``{"tokens": ..., "bow_tokens": ...}`` with one matrix per
            vocabulary (the word2vec branch needs the one of ``config.w2v_source``). Without it,
            embeddings start uniform(-1, 1).
        frames: visual inputs are ``(B, T, D)`` frame features (mean-pooled); also set by
            ``config.frames``.
        compile: compile with :func:`build_optimizer` (the loss is applied by ``compute_loss``).
        name: model name.

    Example:
        >>> from w2vvx.models import get_config
        >>> config = get_config("base_w2vv", gru_units=8, embed_dim=8, w2v_dim=8, text_mlp=(16,))
        >>> model = build_model(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12)
        >>> sorted(model.text_encoder.input)
        ['bow_tokens', 'tokens']
    """
    if not isinstance(config, ModelConfig):
        raise ConfigError(f"config must be a ModelConfig (see w2vvx.models.get_config), got {type(config).__name__}")
    if isinstance(visual_dim, bool) or not isinstance(visual_dim, (int, np.integer)) or visual_dim <= 0:
        raise ConfigError(f"visual_dim must be a positive integer, got {visual_dim!r}")
    visual_dim = int(visual_dim)
    frames = bool(frames or config.frames)
    text_encoder = build_text_encoder(config, gru_vocab_size, bow_vocab_size, visual_dim, word_vectors)
    visual_encoder = build_visual_encoder(config, visual_dim, frames)
    loss_kwargs = dict(config.loss_kwargs)
    loss_fn = get_loss(config.loss, **loss_kwargs)
    temperature = None
    if config.learnable_temperature:
        low, high = config.temperature_range
        temperature = LearnableTemperature(initial=loss_kwargs.get("temperature", 0.07), min_value=low,
                                           max_value=high, learnable=True, name="temperature")
    settings = {"model_config": config.to_dict(), "gru_vocab_size": gru_vocab_size,
                "bow_vocab_size": bow_vocab_size, "visual_dim": visual_dim, "frames": frames}
    model = W2VVModel(text_encoder, visual_encoder, loss_fn, temperature=temperature,
                      build_settings=settings, name=name or config.name)
    if compile:
        model.compile(optimizer=build_optimizer(config))
    return model
