"""GRU sentence encoder: embedding → dropout → GRU over the real tokens → pooling."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.layers._validation import one_of, positive_int, probability
from w2vvx.layers.attention_pooling import AttentionPooling
from w2vvx.layers.masking import masked_mean, padding_mask
from w2vvx.layers.mean_word2vec import check_embedding_matrix
from w2vvx.layers.recurrent import MaskedGRU

POOLINGS = ("last", "mean", "attention")
PADDINGS = ("post", "pre")


def pre_pad(token_ids):
    """Move the real tokens of post-padded ``(B, L)`` ids to the end of each row (Keras 2 ``pad_sequences``).

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(pre_pad(np.array([[4, 5, 0, 0], [7, 0, 0, 0]]))).tolist()
        [[0, 0, 4, 5], [0, 0, 0, 7]]
    """
    token_ids = ops.cast(token_ids, "int32")
    ones = ops.ones_like(token_ids)
    positions = ops.cumsum(ones, axis=1) - ones
    shift = ops.sum(ops.cast(ops.logical_not(padding_mask(token_ids)), "int32"), axis=1, keepdims=True)
    source = positions - shift
    valid = ops.greater_equal(source, ops.zeros_like(source))
    gathered = ops.take_along_axis(token_ids, ops.maximum(source, ops.zeros_like(source)), axis=1)
    return ops.where(valid, gathered, ops.zeros_like(token_ids))


@keras.saving.register_keras_serializable(package="w2vvx")
class GRUTextEncoder(keras.layers.Layer):
    """Encode post-padded token ids with a (bi)GRU and pool the states into one vector.

    The GRU uses ``reset_after=True`` (the formulation of cuDNN and PyTorch) and receives the
    padding mask (id 0), so padded steps neither update the state nor enter the pooling:

    - ``"last"``: the state after the last real token (W2VV, base_w2vv of COCO-CN); for a
      bidirectional GRU, the forward final state concatenated with the backward final state.
    - ``"mean"``: mean of the states over the real tokens (W2VV++).
    - ``"attention"``: :class:`AttentionPooling` over the states (enhanced W2VV of COCO-CN).

    ``padding="pre"`` is COCO-CN's exact input (coco-cn ``utils/dataset.py`` 61-62: Keras 2
    ``pad_sequences(maxlen=32, truncating='post')``, which pre-pads; ``w2vv.py``: an unmasked GRU and
    ``apply_attention``'s softmax over all 32 steps): the real tokens are moved to the end of the row,
    the GRU runs over every step (padding steps included, on the embedding row of id 0) and the pooling
    sees every step. Post-padded input keeps being accepted; the layer re-pads it.

    Args:
        vocab_size: GRU vocabulary rows, padding (0) included.
        embed_dim: word embedding dimension (500 in the lineage).
        units: GRU units per direction (1024 in the lineage).
        bidirectional: run a second GRU backwards and concatenate (output ``2 * units``).
        pooling: one of ``"last"``, ``"mean"``, ``"attention"``.
        dropout: dropout rate on the word embeddings (and on the states before attention).
        embedding_trainable: whether the word embedding is trained.
        attention_mask_padding: forwarded to :class:`AttentionPooling` (``mask_padding``).
        padding: ``"post"`` (masked GRU over the real tokens) or ``"pre"`` (COCO-CN, see above).
        embeddings: optional ``(vocab_size, embed_dim)`` initial matrix (word2vec rows); not
            part of ``get_config`` (a saved model restores it from its weights).

    Example:
        >>> import numpy as np
        >>> encoder = GRUTextEncoder(vocab_size=20, embed_dim=8, units=6, pooling="mean")
        >>> tuple(encoder(np.array([[4, 5, 6, 0, 0]], dtype="int32")).shape)
        (1, 6)
    """

    def __init__(self, vocab_size: int, embed_dim: int = 500, units: int = 1024,
                 bidirectional: bool = False, pooling: str = "last", dropout: float = 0.2,
                 embedding_trainable: bool = True, attention_mask_padding: bool = True,
                 embeddings=None, padding: str = "post", **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = positive_int("vocab_size", vocab_size)
        self.embed_dim = positive_int("embed_dim", embed_dim)
        self.units = positive_int("units", units)
        self.bidirectional = bool(bidirectional)
        self.pooling = one_of("pooling", pooling, POOLINGS)
        self.dropout = probability("dropout", dropout)
        self.embedding_trainable = bool(embedding_trainable)
        self.attention_mask_padding = bool(attention_mask_padding)
        self.padding = one_of("padding", padding, PADDINGS)
        self._initial_embeddings = (None if embeddings is None else
                                    check_embedding_matrix(embeddings, vocab_size, embed_dim, self.name))
        self.embedding = keras.layers.Embedding(
            vocab_size, embed_dim, embeddings_initializer=keras.initializers.RandomUniform(-1.0, 1.0),
            trainable=self.embedding_trainable, name="embedding")
        self.embedding_dropout = keras.layers.Dropout(self.dropout, name="embedding_dropout")
        self.recurrent = self._make_recurrent()
        if self.pooling == "attention":
            self.state_dropout = keras.layers.Dropout(self.dropout, name="state_dropout")
            self.attention = AttentionPooling(mask_padding=self.attention_mask_padding, name="attention")

    @property
    def output_dim(self) -> int:
        return self.units * (2 if self.bidirectional else 1)

    def _make_recurrent(self):
        """The recurrent core: the fast masked GRU, or Keras's GRU for the bidirectional encoder.

        Both compute the same ``reset_after`` (PyTorch-compatible) GRU; :class:`MaskedGRU` projects
        the inputs of all steps at once and, on torch, skips padded steps (see ``recurrent.py``).
        """
        return_sequences = self.pooling != "last"
        if self.bidirectional:
            gru = keras.layers.GRU(self.units, reset_after=True, return_sequences=return_sequences, name="gru")
            return keras.layers.Bidirectional(gru, merge_mode="concat", name="bigru")
        return MaskedGRU(self.units, return_sequences=return_sequences, name="gru")

    def build(self, input_shape):
        batch, length = input_shape[0], input_shape[1]
        self.embedding.build((batch, length))
        if self._initial_embeddings is not None:
            self.embedding.embeddings.assign(self._initial_embeddings)
            self._initial_embeddings = None
        self.recurrent.build((batch, length, self.embed_dim))
        if self.pooling == "attention":
            self.attention.build((batch, length, self.output_dim))
        self.built = True

    def token_states(self, token_ids, training=None):
        """``(states, mask)``: the per-token GRU states ``(B, L, H)`` and the padding mask ``(B, L)``.

        What ``call`` pools; other models (NRCCR's cross-attention) use the states themselves.
        """
        token_ids = ops.cast(token_ids, "int32")
        if self.padding == "pre":  # COCO-CN: pre-padded, every step run and pooled
            token_ids = pre_pad(token_ids)
            words = self.embedding_dropout(self.embedding(token_ids), training=training)
            return self.recurrent(words, training=training), ops.ones_like(padding_mask(token_ids))
        mask = padding_mask(token_ids)
        words = self.embedding_dropout(self.embedding(token_ids), training=training)
        return self.recurrent(words, mask=mask, training=training), mask

    def call(self, token_ids, training=None):
        states, mask = self.token_states(token_ids, training=training)
        if self.pooling == "last":
            return states
        if self.pooling == "mean":
            return masked_mean(states, mask)
        return self.attention(self.state_dropout(states, training=training), mask=mask)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embed_dim": self.embed_dim,
                "units": self.units, "bidirectional": self.bidirectional, "pooling": self.pooling,
                "dropout": self.dropout, "embedding_trainable": self.embedding_trainable,
                "attention_mask_padding": self.attention_mask_padding, "padding": self.padding}
