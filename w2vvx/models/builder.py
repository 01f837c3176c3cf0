"""Build a compiled :class:`~w2vvx.models.W2VVRetriever` from a :class:`ModelConfig`; the optimizer of a config."""
from __future__ import annotations

import keras
import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.models.configs import ModelConfig
from w2vvx.models.w2vv.w2vv_backbone import W2VVBackbone
from w2vvx.models.w2vv.w2vv_retriever import W2VVRetriever


def build_optimizer(config: ModelConfig) -> keras.optimizers.Optimizer:
    """RMSprop (rho 0.9, eps 1e-6 as W2VV) or Adam with the config's learning rate.

    ``config.clipnorm`` clips the global norm of all gradients together, as Keras 2's ``clipnorm``
    (W2VV, COCO-CN) and PyTorch's ``clip_grad_norm_`` (W2VV++, NRCCR) did; Keras 3's ``clipnorm``
    would clip each variable separately.

    Example:
        >>> from w2vvx.models import get_config
        >>> type(build_optimizer(get_config("nrccr"))).__name__
        'Adam'
    """
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=config.learning_rate, rho=0.9, epsilon=1e-6,
                                        global_clipnorm=config.clipnorm)
    return keras.optimizers.Adam(learning_rate=config.learning_rate, global_clipnorm=config.clipnorm)


def build_model(config: ModelConfig, gru_vocab_size=None, bow_vocab_size=None, visual_dim: int = 2048,
                word_vectors=None, frames: bool = False, compile: bool = True, name=None,
                preprocessor=None, w2v_vocab_size=None) -> W2VVRetriever:
    """Build (and by default compile with the config's optimizer) a :class:`W2VVRetriever`.

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
        preprocessor: optional :class:`~w2vvx.models.W2VVPreprocessor` (then ``encode_text`` and
            ``search`` take raw sentences, and the vocabularies are saved with the model).
        w2v_vocab_size: rows of the word-vector vocabulary (``w2v_tokens``) that ``config.w2v_words``
            ``"pretrained"``/``"pretrained_unique"`` average; default: the preprocessor's ``w2v_vocab``.

    Example:
        >>> from w2vvx.models import get_config
        >>> config = get_config("base_w2vv", gru_units=8, embed_dim=8, w2v_dim=8, text_mlp=(16,))
        >>> model = build_model(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12)
        >>> sorted(model.backbone.text_encoder.input)
        ['bow_tokens', 'tokens']
    """
    if not isinstance(config, ModelConfig):
        raise ConfigError(f"config must be a ModelConfig (see w2vvx.models.get_config), got {type(config).__name__}")
    if isinstance(visual_dim, bool) or not isinstance(visual_dim, (int, np.integer)) or visual_dim <= 0:
        raise ConfigError(f"visual_dim must be a positive integer, got {visual_dim!r}")
    if w2v_vocab_size is None and getattr(preprocessor, "w2v_vocab", None) is not None:
        w2v_vocab_size = len(preprocessor.w2v_vocab)
    backbone = W2VVBackbone(config, gru_vocab_size=gru_vocab_size, bow_vocab_size=bow_vocab_size,
                            visual_dim=int(visual_dim), frames=frames, word_vectors=word_vectors,
                            w2v_vocab_size=w2v_vocab_size)
    model = W2VVRetriever(backbone, preprocessor=preprocessor, name=name or config.name)
    if compile:
        model.compile(optimizer=build_optimizer(config))
    return model
