"""NRCCR's attention block and the "cross" pseudo-target vector it provides.

Wang et al., "Cross-Lingual Cross-Modal Retrieval with Noise-Robust Learning" (ACM MM 2022),
repository HuiGuanLab/nrccr (``transformer_cross.py`` ``BertAttention``, ``model.py`` ``Text_share``):
one BERT-style multi-head attention block (8 heads, queries and keys projected to 512, values to the
hidden size, attention-probability dropout 0.1, output projection, dropout, LayerNorm) is used twice
with the same weights: as the text encoder's self-attention (with the residual connection) and as
the cross-attention whose queries are the source-language (e.g. English) token features and whose
keys and values are the machine-translated target-language token features (``cross=True``: WITHOUT
the residual). The cross output is concatenated along time with the target tokens and mean-pooled
into the "cross" vector, a soft pseudo target for the noisy translated sentence.

Differences from NRCCR, on purpose: padded keys are excluded with a masked softmax and padded
positions are excluded from the mean pooling (NRCCR pools over padding); scores are scaled by the
per-head query/key size (NRCCR divides by the per-head value size).
"""
from __future__ import annotations

import math

import keras
from keras import ops

from w2vvx.errors import ConfigError

from w2vvx.layers.masking import masked_mean

_MASKED = -1e9


def _positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def _as_mask(mask, shape_like):
    """Float mask ``(B, L)`` of ones where valid; all ones when ``mask`` is None."""
    if mask is None:
        return ops.ones(ops.shape(shape_like)[:2], dtype=shape_like.dtype)
    return ops.cast(mask, shape_like.dtype)


@keras.saving.register_keras_serializable(package="w2vvx")
class CrossAttention(keras.layers.Layer):
    """Multi-head cross-attention with key/query masks and no residual connection (NRCCR).

    Args:
        num_heads: attention heads (NRCCR: 8).
        key_dim: total size of the query/key projections, split over the heads (NRCCR: 512).
        output_dim: size of the value and output projections; default the value features' size
            (so the output can be concatenated with the target tokens).
        dropout: dropout on attention probabilities and on the output projection (NRCCR: 0.1).
        layer_norm_epsilon: epsilon of the output LayerNorm.

    Call args:
        query: ``(B, Lq, Dq)`` source-language token features.
        value: ``(B, Lk, Dk)`` target-language token features (keys and values).
        query_mask: optional ``(B, Lq)`` bool/0-1 mask of real query tokens; outputs at padded
            query positions are zero.
        value_mask: optional ``(B, Lk)`` mask of real key tokens; padded keys get no attention.
        training: enables dropout.
        residual: add the query before the LayerNorm (NRCCR's self-attention mode, ``cross=False`` in
            its ``BertSelfOutput``; the query size must equal the output size). Default False: the
            cross-attention mode.
        return_attention: also return the attention probabilities ``(B, heads, Lq, Lk)``.

    Returns:
        ``(B, Lq, output_dim)`` (and the probabilities with ``return_attention``).

    Example:
        >>> import numpy as np
        >>> layer = CrossAttention(num_heads=2, key_dim=8)
        >>> out = layer(np.ones((2, 3, 6), "float32"), np.ones((2, 4, 6), "float32"))
        >>> tuple(out.shape)
        (2, 3, 6)
    """

    def __init__(self, num_heads: int = 8, key_dim: int = 512, output_dim: int | None = None, dropout: float = 0.1,
                 layer_norm_epsilon: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = _positive_int("num_heads", num_heads)
        self.key_dim = _positive_int("key_dim", key_dim)
        if self.key_dim % self.num_heads:
            raise ConfigError(f"key_dim ({key_dim}) must be a multiple of num_heads ({num_heads})")
        self.output_dim = None if output_dim is None else _positive_int("output_dim", output_dim)
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.supports_masking = False
        self.query_dense = keras.layers.Dense(self.key_dim, name="query")
        self.key_dense = keras.layers.Dense(self.key_dim, name="key")
        self.value_dense = None
        self.output_dense = None
        self.attention_dropout = keras.layers.Dropout(self.dropout)
        self.output_dropout = keras.layers.Dropout(self.dropout)
        self.layer_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="layer_norm")

    def build(self, query_shape, value_shape):
        if len(query_shape) != 3 or len(value_shape) != 3:
            raise ConfigError(f"CrossAttention expects (batch, time, features) inputs, got query {query_shape} "
                              f"and value {value_shape}")
        units = self.output_dim or value_shape[-1]
        if units % self.num_heads:
            raise ConfigError(f"the value/output size ({units}) must be a multiple of num_heads ({self.num_heads}); "
                              "set output_dim")
        self.value_dense = keras.layers.Dense(units, name="value")
        self.output_dense = keras.layers.Dense(units, name="output")
        self.query_dense.build(query_shape)
        self.key_dense.build(value_shape)
        self.value_dense.build(value_shape)
        self.output_dense.build(tuple(query_shape[:-1]) + (units,))
        self.layer_norm.build(tuple(query_shape[:-1]) + (units,))
        self.built = True

    def _split_heads(self, x):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, length, self.num_heads, ops.shape(x)[-1] // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, query, value, query_mask=None, value_mask=None, training=None, residual=False,
             return_attention=False):
        query = ops.convert_to_tensor(query, dtype=self.compute_dtype)
        value = ops.convert_to_tensor(value, dtype=self.compute_dtype)
        q = self._split_heads(self.query_dense(query))
        k = self._split_heads(self.key_dense(value))
        v = self._split_heads(self.value_dense(value))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.key_dim // self.num_heads)
        key_mask = _as_mask(value_mask, value)[:, None, None, :]
        scores = scores + (1.0 - key_mask) * _MASKED
        probabilities = self.attention_dropout(ops.softmax(scores, axis=-1), training=training)
        context = ops.transpose(ops.matmul(probabilities, v), (0, 2, 1, 3))
        batch, length = ops.shape(context)[0], ops.shape(context)[1]
        context = ops.reshape(context, (batch, length, -1))
        output = self.output_dropout(self.output_dense(context), training=training)
        if residual:
            output = output + query
        output = self.layer_norm(output) * _as_mask(query_mask, query)[:, :, None]
        return (output, probabilities) if return_attention else output

    def compute_output_shape(self, query_shape, value_shape):
        return tuple(query_shape[:-1]) + (self.output_dim or value_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "key_dim": self.key_dim, "output_dim": self.output_dim,
                       "dropout": self.dropout, "layer_norm_epsilon": self.layer_norm_epsilon})
        return config


@keras.saving.register_keras_serializable(package="w2vvx")
class CrossAttentionPseudoTarget(keras.layers.Layer):
    """The NRCCR "cross" vector: ``mean_pool([CrossAttention(src, tgt) ; tgt])`` over real tokens.

    Args:
        num_heads, key_dim, dropout: passed to :class:`CrossAttention` (its output size equals the
            target features' size, so that the two sequences can be concatenated along time).
        attention: an existing :class:`CrossAttention` to use instead (NRCCR shares the weights of
            its attention block); when given, the other arguments are ignored.

    Call args:
        source_tokens: ``(B, Ls, D)`` source-language token features (queries).
        target_tokens: ``(B, Lt, D)`` target-language (MT) token features.
        source_mask, target_mask: optional ``(B, Ls)`` / ``(B, Lt)`` masks of real tokens.
        training: enables dropout.

    Returns:
        ``(B, D)`` cross vector.

    Example:
        >>> import numpy as np
        >>> layer = CrossAttentionPseudoTarget(num_heads=2, key_dim=8)
        >>> tuple(layer(np.ones((2, 3, 6), "float32"), np.ones((2, 4, 6), "float32")).shape)
        (2, 6)
    """

    def __init__(self, num_heads: int = 8, key_dim: int = 512, dropout: float = 0.1, attention=None, **kwargs):
        super().__init__(**kwargs)
        if attention is not None and not isinstance(attention, CrossAttention):
            if isinstance(attention, dict):
                attention = keras.saving.deserialize_keras_object(attention)
            else:
                raise ConfigError(f"attention must be a CrossAttention layer, got {type(attention).__name__}")
        if attention is not None and attention.output_dim is not None:
            raise ConfigError("the shared CrossAttention must have output_dim=None so that its output matches "
                              f"the target token size; it has output_dim={attention.output_dim}")
        self.attention = attention or CrossAttention(num_heads=num_heads, key_dim=key_dim, dropout=dropout,
                                                     name="cross_attention")
        self.num_heads = self.attention.num_heads
        self.key_dim = self.attention.key_dim
        self.dropout = self.attention.dropout

    def build(self, source_tokens_shape, target_tokens_shape):
        if not self.attention.built:
            self.attention.build(source_tokens_shape, target_tokens_shape)
        self.built = True

    def call(self, source_tokens, target_tokens, source_mask=None, target_mask=None, training=None):
        target_tokens = ops.convert_to_tensor(target_tokens, dtype=self.compute_dtype)
        source_tokens = ops.convert_to_tensor(source_tokens, dtype=self.compute_dtype)
        attended = self.attention(source_tokens, target_tokens, query_mask=source_mask, value_mask=target_mask,
                                  training=training)
        sequence = ops.concatenate([attended, target_tokens], axis=1)
        mask = ops.concatenate([_as_mask(source_mask, source_tokens), _as_mask(target_mask, target_tokens)], axis=1)
        return masked_mean(sequence, mask)

    def compute_output_shape(self, source_tokens_shape, target_tokens_shape):
        return (source_tokens_shape[0], target_tokens_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "key_dim": self.key_dim, "dropout": self.dropout,
                       "attention": keras.saving.serialize_keras_object(self.attention)})
        return config


@keras.saving.register_keras_serializable(package="w2vvx")
class AttentionMeanPooling(keras.layers.Layer):
    """Sentence vector of token states: NRCCR's self-attention block (residual mode), then the masked mean.

    Args:
        attention: the :class:`CrossAttention` block applied as self-attention (NRCCR ``Text_share``:
            the same block serves the cross-attention); ``None`` pools the states with a plain mean.

    Call args:
        token_states: ``(B, L, H)``.
        token_mask: ``(B, L)`` mask of real tokens.
        training: enables dropout.

    Returns:
        ``(B, H)``.

    Example:
        >>> import numpy as np
        >>> layer = AttentionMeanPooling(CrossAttention(num_heads=2, key_dim=4))
        >>> tuple(layer(np.ones((2, 3, 6), "float32"), np.ones((2, 3), "float32")).shape)
        (2, 6)
    """

    def __init__(self, attention=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(attention, dict):
            attention = keras.saving.deserialize_keras_object(attention)
        if attention is not None and not isinstance(attention, CrossAttention):
            raise ConfigError(f"attention must be a CrossAttention layer or None, got {type(attention).__name__}")
        self.attention = attention

    def build(self, token_states_shape, token_mask_shape=None):
        if self.attention is not None and not self.attention.built:
            self.attention.build(token_states_shape, token_states_shape)
        self.built = True

    def call(self, token_states, token_mask=None, training=None):
        if self.attention is not None:
            token_states = self.attention(token_states, token_states, query_mask=token_mask, value_mask=token_mask,
                                          training=training, residual=True)
        return masked_mean(token_states, token_mask)

    def compute_output_shape(self, token_states_shape, token_mask_shape=None):
        return (token_states_shape[0], token_states_shape[-1])

    def get_config(self):
        return {**super().get_config(), "attention": None if self.attention is None
                else keras.saving.serialize_keras_object(self.attention)}
