"""NRCCR's video encoder: a one-layer transformer over the frame features, mean-pooled."""
from __future__ import annotations

import math

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers._validation import positive_int, probability
from w2vvx.layers.device_math import filled_like, nonzero
from w2vvx.layers.masking import masked_mean


@keras.saving.register_keras_serializable(package="w2vvx")
class FrameTransformerEncoder(keras.layers.Layer):
    """Encode ``(B, T, D)`` frame features into ``(B, hidden_dim)`` as NRCCR's ``video_transformer_encoding``.

    Follows HuiGuanLab/nrccr ``model.py`` 82-117 with ``transformer_cross.py`` (``LinearLayer``,
    ``TrainablePositionalEncoding``, ``BertAttention``) and ``util/tag_data_provider_vid.py`` 12, 76-85:

    1. the first ``max_frames`` (64) frames of each video;
    2. LayerNorm(D) → dropout 0.1 → Linear(D→H) → ReLU (``LinearLayer(layer_norm=True, relu=True)``);
    3. + a trainable position embedding (``max_positions`` = 80 rows), LayerNorm, dropout 0.1;
    4. one BERT attention block: queries and keys projected to ``key_dim`` (512) split over the heads,
       values to H, scores scaled by ``1/sqrt(H / heads)`` (NRCCR's ``attention_head_size``), additive
       mask -10000 where the query or the key frame is padding, softmax, dropout 0.1, Linear(H→H),
       dropout, LayerNorm(· + input);
    5. the mean over the real frames.

    One difference, on purpose: NRCCR's last step averages over the padded length of its batch
    (``F.avg_pool1d`` over ``max(len)`` positions, padding included), so a video's vector depends on the
    other videos of its batch; here the mean is over the video's own frames, so padding frames never
    change the output. Padding frames are those whose features are all zero (how
    :class:`~w2vvx.datasets.batching_frames.FrameSequenceFeatures` pads), or ``mask`` when given.

    Args:
        hidden_dim: H (NRCCR ``video_hidden_size`` 1024).
        num_heads: attention heads (``video_num_attention`` 8); must divide ``key_dim`` and H.
        key_dim: the query/key projection size (``key_query_size`` 512).
        max_frames: frames kept per video (``VIDEO_MAX_LEN`` 64).
        max_positions: rows of the position table (``max_ctx_l`` 80), at least ``max_frames``.
        dropout: dropout of the input, the position embedding, the attention and its output (0.1).

    Example:
        >>> import numpy as np
        >>> layer = FrameTransformerEncoder(hidden_dim=8, num_heads=2, key_dim=4, max_frames=3, max_positions=4)
        >>> tuple(layer(np.ones((2, 5, 6), "float32")).shape)
        (2, 8)
    """

    def __init__(self, hidden_dim: int = 1024, num_heads: int = 8, key_dim: int = 512, max_frames: int = 64,
                 max_positions: int = 80, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = positive_int("hidden_dim", hidden_dim)
        self.num_heads = positive_int("num_heads", num_heads)
        self.key_dim = positive_int("key_dim", key_dim)
        self.max_frames = positive_int("max_frames", max_frames)
        self.max_positions = positive_int("max_positions", max_positions)
        self.dropout = probability("dropout", dropout)
        if hidden_dim % num_heads or key_dim % num_heads:
            raise ConfigError(f"num_heads ({num_heads}) must divide hidden_dim ({hidden_dim}) and key_dim ({key_dim})")
        if max_positions < max_frames:
            raise ConfigError(f"max_positions ({max_positions}) must be >= max_frames ({max_frames})")
        self.input_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="input_norm")
        self.input_dropout = keras.layers.Dropout(self.dropout, name="input_dropout")
        self.input_projection = keras.layers.Dense(self.hidden_dim, name="input_projection")
        self.position_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="position_norm")
        self.position_dropout = keras.layers.Dropout(self.dropout, name="position_dropout")
        self.query = keras.layers.Dense(self.key_dim, name="query")
        self.key = keras.layers.Dense(self.key_dim, name="key")
        self.value = keras.layers.Dense(self.hidden_dim, name="value")
        self.attention_dropout = keras.layers.Dropout(self.dropout, name="attention_dropout")
        self.output_dense = keras.layers.Dense(self.hidden_dim, name="output_dense")
        self.output_dropout = keras.layers.Dropout(self.dropout, name="output_dropout")
        self.output_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="output_norm")

    def build(self, input_shape):
        batch, frames, dim = input_shape[0], input_shape[1], input_shape[-1]
        hidden = (batch, frames, self.hidden_dim)
        self.input_norm.build((batch, frames, dim))
        self.input_projection.build((batch, frames, dim))
        # nn.Embedding's default init: N(0, 1)
        self.positions = self.add_weight(name="positions", shape=(self.max_positions, self.hidden_dim),
                                         initializer=keras.initializers.RandomNormal(stddev=1.0))
        for layer in (self.position_norm, self.query, self.key, self.value, self.output_dense, self.output_norm):
            layer.build(hidden)
        self.built = True

    def _heads(self, x):
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], self.num_heads, shape[2] // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))  # (B, heads, T, d)

    def call(self, frames, mask=None, training=None):
        frames = frames[:, :self.max_frames]
        mask = ops.any(nonzero(frames), axis=-1) if mask is None else ops.cast(mask[:, :self.max_frames], "bool")
        x = self.input_projection(self.input_dropout(self.input_norm(frames), training=training))
        x = ops.relu(x)
        x = x + ops.expand_dims(self.positions[:ops.shape(x)[1]], 0)
        x = self.position_dropout(self.position_norm(x), training=training)
        scores = ops.matmul(self._heads(self.query(x)), ops.transpose(self._heads(self.key(x)), (0, 1, 3, 2)))
        scores = scores * filled_like(scores, 1.0 / math.sqrt(self.hidden_dim // self.num_heads))
        pair = ops.logical_and(mask[:, None, :, None], mask[:, None, None, :])  # query and key both real
        scores = ops.where(pair, scores, scores + filled_like(scores, -10000.0))
        probs = self.attention_dropout(ops.softmax(scores, axis=-1), training=training)
        context = ops.transpose(ops.matmul(probs, self._heads(self.value(x))), (0, 2, 1, 3))
        shape = ops.shape(context)
        context = ops.reshape(context, (shape[0], shape[1], self.hidden_dim))
        out = self.output_dropout(self.output_dense(context), training=training)
        out = self.output_norm(out + x)
        return masked_mean(out, mask)

    def compute_mask(self, frames, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.hidden_dim)

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
                "key_dim": self.key_dim, "max_frames": self.max_frames, "max_positions": self.max_positions,
                "dropout": self.dropout}
