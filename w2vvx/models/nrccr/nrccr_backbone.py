"""The NRCCR backbone: the W2VV towers with NRCCR's shared attention block, :class:`NRCCRBackbone`.

Wang et al., "Cross-Lingual Cross-Modal Retrieval with Noise-Robust Learning" (ACM MM 2022),
repository HuiGuanLab/nrccr (``model.py`` ``Text_share``, ``transformer_cross.py``). NRCCR's text
encoder (mBERT, one attention block, mean pooling, then the text mapping) is shared by the source
language and its machine translation (MT). Here the text tower is the W2VV one
(:func:`~w2vvx.models.w2vv.w2vv_backbone.build_text_encoder`, one joint vocabulary of both languages)
with the GRU part of the sentence vector pooled by NRCCR's attention block (self-attention, residual,
then the mean over real tokens). The same block, in cross mode (no residual), with source-token
states as queries and MT-token states as keys/values, gives the "cross" pooling
(:meth:`NRCCRBackbone.cross_embedding`), the soft pseudo target of the noisy MT sentence.

The teacher as published (``teacher="cross"``). NRCCR's cross sentence vector is the pooling of
``[Attn(Q=source, K/V=MT); MT tokens]`` alone (``model.py`` 253, 268-269), mapped by the same text
mapping as the student's sentence vector. The W2VV sentence vector also holds BoW and word2vec
parts, which have no cross counterpart; the cross vector goes through the SAME head (mapping and
projection: teacher and student share them in NRCCR too) with zeros in place of those parts. So the
teacher is a function of the GRU states and the attention block only: it does not move with the BoW
or word2vec weights, and the similarity-view teacher is not built from the student's own BoW/word2vec
input. A separate mapping for the cross vector was not chosen: NRCCR has none, and one would learn
only from the feature view (about 1e-4 of the loss). ``teacher="concat"`` keeps the former
``[cross ‖ BoW(MT) ‖ word2vec(MT)]`` as an ablation.
"""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers.cross_attention import AttentionMeanPooling, CrossAttention, CrossAttentionPseudoTarget
from w2vvx.models.w2vv.w2vv_backbone import W2VVBackbone, build_text_encoder, check_settings, head_inputs

#: the dropout of NRCCR's attention block (``BertAttention``)
ATTENTION_DROPOUT = 0.1


@keras.saving.register_keras_serializable(package="w2vvx")
class NRCCRBackbone(W2VVBackbone):
    """The W2VV towers with NRCCR's attention block shared by the text pooling and the cross pooling.

    Inputs and outputs as :class:`~w2vvx.models.W2VVBackbone` (``text_encoder``, ``visual_encoder``);
    in addition:

    * ``token_encoder``: ``{"tokens", "bow_tokens"}`` → ``{"embedding", "token_states", "token_mask",
      "context"}`` (the same layers as ``text_encoder``; ``context`` holds the word2vec part);
    * ``sentence_encoder``: the same inputs → ``{"sentence", "token_states", "token_mask", "context"}``,
      everything of ``token_encoder`` but the head (``sentence``, the dense columns of the head's input);
    * ``text_head``: the mapping and projection, ``{"sentence", "bow_tokens"}`` → embedding (the BoW
      block of the sentence vector comes as ids: :func:`~w2vvx.models.w2vv.w2vv_backbone.build_text_head`);
    * ``token_pooling``: the self-attention + mean pooling of the token states;
    * ``cross_attention``: the :class:`~w2vvx.layers.CrossAttentionPseudoTarget` (sharing the block);
    * :meth:`encode_views`: several text views of a batch through one pass of the shared layers;
    * :meth:`cross_embedding`: the teacher embedding of a (source, MT) pair.

    Args:
        model_config, gru_vocab_size, bow_vocab_size, visual_dim, frames, word_vectors: as
            :class:`~w2vvx.models.W2VVBackbone`; the config needs a common space, the "gru" branch,
            ``pooling="mean"`` and a unidirectional GRU.
        num_heads: attention heads (NRCCR: 8; must divide ``gru_units``).
        key_dim: query/key size; ``None`` = the GRU state size.
        shared_attention: one block for the self- and cross-attention (NRCCR); False: plain mean
            pooling in the text encoder and a separate cross-attention.

    Example:
        >>> import numpy as np
        >>> from w2vvx.models import get_config
        >>> config = get_config("nrccr", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> backbone = NRCCRBackbone(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12, num_heads=2)
        >>> ids = {"tokens": np.array([[3, 4, 0]], "int32"), "bow_tokens": np.array([[3, 4, 0]], "int32")}
        >>> src, mt = backbone.token_encoder(ids), backbone.token_encoder(ids)
        >>> tuple(src["token_states"].shape), tuple(backbone.cross_embedding(src, mt).shape)
        ((1, 3, 8), (1, 16))
    """

    def __init__(self, model_config, gru_vocab_size=None, bow_vocab_size=None, visual_dim: int = 2048,
                 frames: bool = False, num_heads: int = 8, key_dim=None, shared_attention: bool = True,
                 word_vectors=None, **kwargs):
        config, visual_dim, frames = check_settings(model_config, visual_dim, frames)
        if config.common_space_dim is None:
            raise ConfigError(f"NRCCR needs a common space: config {config.name!r} has common_space_dim=None")
        if "gru" not in config.text_branches or config.pooling != "mean" or config.bidirectional:
            raise ConfigError(f"NRCCR needs the 'gru' branch with pooling='mean' and a unidirectional GRU; config "
                              f"{config.name!r} has branches {config.text_branches}, pooling {config.pooling!r}, "
                              f"bidirectional={config.bidirectional}")
        if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
            raise ConfigError(f"num_heads must be a positive integer, got {num_heads!r}")
        if config.gru_units % num_heads:
            raise ConfigError(f"gru_units ({config.gru_units}) must be a multiple of the cross-attention heads "
                              f"({num_heads}); set weights num_heads")
        if not isinstance(shared_attention, bool):
            raise ConfigError(f"shared_attention must be True or False, got {shared_attention!r}")
        width = key_dim or config.gru_units
        attention = None
        if shared_attention:  # NRCCR: one attention block, self-attention in the encoder and cross-attention
            attention = CrossAttention(num_heads=num_heads, key_dim=width, dropout=ATTENTION_DROPOUT, name="attention")
        pooling = AttentionMeanPooling(attention, name="token_pooling")
        token_encoder = build_text_encoder(config, gru_vocab_size, bow_vocab_size, visual_dim, word_vectors,
                                           token_pooling=pooling, name="token_encoder")
        text_encoder = keras.Model(token_encoder.input, token_encoder.output["embedding"], name="text_encoder")
        cross = CrossAttentionPseudoTarget(num_heads=num_heads, key_dim=width, dropout=ATTENTION_DROPOUT,
                                           attention=attention, name="cross_attention")
        cross.build((None, None, config.gru_units), (None, None, config.gru_units))
        self._init_towers(config, gru_vocab_size, bow_vocab_size, visual_dim, frames, text_encoder, token_encoder,
                          **kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.shared_attention = shared_attention
        self.token_encoder = token_encoder
        self.token_pooling = pooling
        self.text_head = token_encoder.get_layer("text_head")
        sentence = token_encoder.get_layer("sentence_vector" if "context" in token_encoder.output
                                           else "token_pooling").output
        self.sentence_encoder = keras.Model(
            token_encoder.input, {"sentence": sentence, **{key: value for key, value in token_encoder.output.items()
                                                           if key != "embedding"}}, name="sentence_encoder")
        self.cross_attention = cross

    def encode_views(self, views, training=None):
        """``token_encoder`` outputs of several text views of one batch, from one pass of the shared layers.

        The views (e.g. the source captions, their MT and back-translation) share every weight, so
        their rows are stacked and go through the embedding, GRU, attention pooling and BoW/word2vec
        parts at once: one GRU call over ``V·B`` rows instead of ``V`` calls over ``B`` (fewer, larger
        kernels). The head (mapping, projection and its BatchNorm) runs per view, so that each view is
        normalised by its own batch statistics, as when each view is encoded on its own.

        Args:
            views: a list of ``token_encoder`` inputs (``{"tokens", "bow_tokens"}``), the same batch size
                each; widths may differ (shorter views are padded with 0, i.e. masked).
            training: enables dropout and the head's batch statistics.

        Returns:
            One dict per view, as ``token_encoder`` returns (``"embedding"``, ``"token_states"``,
            ``"token_mask"``, ``"context"``), with the view's ``"bow_tokens"``.
        """
        keys = tuple(views[0])
        width = _common_width([view[key] for view in views for key in keys])
        stacked = {key: ops.concatenate([_pad_to(view[key], width) for view in views], axis=0) for key in keys}
        encoded = self.sentence_encoder(stacked, training=training)
        parts = {key: ops.split(value, len(views), axis=0) for key, value in encoded.items()}
        head_takes_bow = "bow" in self.model_config.text_branches
        outputs = []
        for index in range(len(views)):
            view = {key: value[index] for key, value in parts.items()}
            view["bow_tokens"] = ops.convert_to_tensor(views[index]["bow_tokens"])
            view["embedding"] = self.text_head(
                head_inputs(view.pop("sentence"), view["bow_tokens"] if head_takes_bow else None), training=training)
            outputs.append(view)
        return outputs

    def cross_embedding(self, source, target, concat_context: bool = False, training=None):
        """The teacher embedding of aligned (source, MT) sentences from their ``token_encoder`` outputs.

        Args:
            source, target: ``token_encoder`` outputs of the source sentences and their MT (as
                :meth:`encode_views` returns them; ``concat_context`` needs the MT's ``"bow_tokens"``).
            concat_context: ``False`` (NRCCR): the cross pooling alone, zeros in place of the MT's
                BoW/word2vec parts; ``True``: ``[cross ‖ BoW(MT) ‖ word2vec(MT)]`` (ablation).
            training: enables dropout (and batch statistics in the head).
        """
        pooled = self.cross_attention(source["token_states"], target["token_states"],
                                      source_mask=source["token_mask"], target_mask=target["token_mask"],
                                      training=training)
        if "context" in target:
            context = target["context"] if concat_context else ops.zeros_like(target["context"])
            pooled = ops.concatenate([pooled, ops.cast(context, pooled.dtype)], axis=-1)
        bow_tokens = None
        if "bow" in self.model_config.text_branches:
            if concat_context and "bow_tokens" not in target:
                raise ConfigError("cross_embedding(concat_context=True) needs the MT's 'bow_tokens' in target (the "
                                  "views as encode_views returns them)")
            bow_tokens = target["bow_tokens"] if concat_context else ops.zeros((ops.shape(pooled)[0], 1), "int32")
        return self.text_head(head_inputs(pooled, bow_tokens), training=training)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "shared_attention": self.shared_attention}


def _common_width(token_ids) -> int:
    """The widest ``L`` of several ``(B, L)`` id arrays (static: the GRU needs a known sentence length)."""
    widths = [ids.shape[1] for ids in token_ids]
    if any(width is None for width in widths):
        raise ConfigError(f"NRCCR's text views need a known sentence length (the padded width), got widths {widths}; "
                          "pad every batch of a view to one width (the preprocessor's maxlen)")
    return max(int(width) for width in widths)


def _pad_to(ids, width: int):
    """Post-pad token ids ``(B, L)`` with 0 (padding) to ``(B, width)``."""
    missing = width - int(ids.shape[1])
    return ids if missing == 0 else ops.pad(ids, [[0, 0], [0, missing]])
