"""Multi-scale sentence vector of W2VV / W2VV++: [GRU pooled ‖ bag of words ‖ mean word2vec]."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers._validation import one_of, positive_int
from w2vvx.layers.bow import BagOfWords
from w2vvx.layers.gru_encoder import GRUTextEncoder
from w2vvx.layers.mean_word2vec import MeanWordEmbedding

BRANCHES = ("gru", "bow", "w2v")
TOKEN_INPUTS = ("tokens", "bow_tokens")
#: what the word2vec branch may average: GRU ids, BoW ids, or the preprocessor's ``w2v_tokens``
W2V_SOURCES = ("bow_tokens", "tokens", "w2v_tokens")


@keras.saving.register_keras_serializable(package="w2vvx")
class MultiScaleTextEncoder(keras.layers.Layer):
    """Concatenate the GRU, bag-of-words and mean-word2vec encodings of a sentence.

    Inputs are the featurizer's dict ``{"tokens": (B, L) int, "bow_tokens": (B, L) int}``: the GRU
    reads ``tokens`` (GRU vocabulary), the bag of words reads ``bow_tokens`` (BoW vocabulary,
    stopwords removed), the word2vec branch reads ``w2v_source`` (``"bow_tokens"`` as the lineage's
    ``word2vec_filterstop``, or ``"tokens"``). Output order: GRU, BoW, word2vec (present ones only).

    Args:
        branches: a subset of ``("gru", "bow", "w2v")``.
        gru_vocab_size: GRU vocabulary size (needed for ``"gru"`` and for ``"w2v"`` on ``tokens``).
        bow_vocab_size: BoW vocabulary size (needed for ``"bow"`` and for ``"w2v"`` on
            ``bow_tokens``).
        embed_dim, units, bidirectional, pooling, dropout, embedding_trainable,
        attention_mask_padding: the :class:`GRUTextEncoder` settings (``gru_padding`` is its ``padding``).
        w2v_dim: dimension of the mean word2vec vector.
        w2v_source: ``"bow_tokens"``, ``"tokens"`` or ``"w2v_tokens"`` (the preprocessor's
            word-vector vocabulary: ``ModelConfig.w2v_words`` ``"pretrained"``/``"pretrained_unique"``).
        w2v_vocab_size: rows of the ``w2v_tokens`` vocabulary (needed with that source).
        w2v_unique: the word2vec mean counts each word once per sentence (W2VV++).
        w2v_trainable: whether the word2vec matrix of the mean branch is trained.
        gru_embeddings, w2v_embeddings: optional initial matrices (not part of ``get_config``).

    Example:
        >>> import numpy as np
        >>> encoder = MultiScaleTextEncoder(gru_vocab_size=10, bow_vocab_size=7, embed_dim=4,
        ...                                 units=3, w2v_dim=4)
        >>> ids = np.array([[2, 3, 0]], dtype="int32")
        >>> tuple(encoder({"tokens": ids, "bow_tokens": ids}).shape)
        (1, 14)
    """

    def __init__(self, branches=BRANCHES, gru_vocab_size=None, bow_vocab_size=None,
                 embed_dim: int = 500, units: int = 1024, bidirectional: bool = False,
                 pooling: str = "last", dropout: float = 0.2, embedding_trainable: bool = True,
                 attention_mask_padding: bool = True, w2v_dim: int = 500,
                 w2v_source: str = "bow_tokens", w2v_trainable: bool = False,
                 gru_embeddings=None, w2v_embeddings=None, gru_padding: str = "post",
                 w2v_vocab_size=None, w2v_unique: bool = False, **kwargs):
        super().__init__(**kwargs)
        branches = tuple(branches)
        unknown = [b for b in branches if b not in BRANCHES]
        if unknown or not branches or len(set(branches)) != len(branches):
            raise ConfigError(f"branches must be a non-empty subset of {BRANCHES} without repeats, "
                              f"got {branches!r}")
        self.branches = tuple(b for b in BRANCHES if b in branches)
        self.gru_vocab_size = gru_vocab_size
        self.bow_vocab_size = bow_vocab_size
        self.embed_dim = embed_dim
        self.units = units
        self.bidirectional = bool(bidirectional)
        self.pooling = pooling
        self.dropout = dropout
        self.embedding_trainable = bool(embedding_trainable)
        self.attention_mask_padding = bool(attention_mask_padding)
        self.gru_padding = gru_padding
        self.w2v_dim = w2v_dim
        self.w2v_source = one_of("w2v_source", w2v_source, W2V_SOURCES)
        self.w2v_vocab_size = w2v_vocab_size
        self.w2v_unique = bool(w2v_unique)
        self.w2v_trainable = bool(w2v_trainable)
        self.gru = self.bow = self.w2v = None
        if "gru" in self.branches:
            self.gru = GRUTextEncoder(
                positive_int("gru_vocab_size", gru_vocab_size), embed_dim=embed_dim, units=units,
                bidirectional=bidirectional, pooling=pooling, dropout=dropout,
                embedding_trainable=embedding_trainable, attention_mask_padding=attention_mask_padding,
                padding=gru_padding,
                embeddings=gru_embeddings, name="gru_encoder")
        if "bow" in self.branches:
            self.bow = BagOfWords(positive_int("bow_vocab_size", bow_vocab_size), name="bag_of_words")
        if "w2v" in self.branches:
            name = {"bow_tokens": "bow_vocab_size", "tokens": "gru_vocab_size",
                    "w2v_tokens": "w2v_vocab_size"}[self.w2v_source]
            source_size = {"bow_vocab_size": bow_vocab_size, "gru_vocab_size": gru_vocab_size,
                           "w2v_vocab_size": w2v_vocab_size}[name]
            self.w2v = MeanWordEmbedding(positive_int(name, source_size), positive_int("w2v_dim", w2v_dim),
                                         trainable=w2v_trainable, embeddings=w2v_embeddings,
                                         unique_words=self.w2v_unique, name="mean_word2vec")

    @property
    def output_dim(self) -> int:
        dims = {"gru": self.gru.output_dim if self.gru else 0,
                "bow": self.bow_vocab_size if self.bow else 0,
                "w2v": self.w2v_dim if self.w2v else 0}
        return sum(dims[b] for b in self.branches)

    def _needed_inputs(self):
        needed = set()
        if self.gru is not None:
            needed.add("tokens")
        if self.bow is not None:
            needed.add("bow_tokens")
        if self.w2v is not None:
            needed.add(self.w2v_source)
        return needed

    def _check_inputs(self, inputs):
        if not isinstance(inputs, dict):
            raise ConfigError(f"{self.name} expects a dict with keys {sorted(self._needed_inputs())}, "
                              f"got {type(inputs).__name__}")
        missing = sorted(self._needed_inputs() - set(inputs))
        if missing:
            raise ConfigError(f"{self.name} needs inputs {missing} (branches {self.branches}); "
                              f"got keys {sorted(inputs)}")

    def build(self, input_shape):
        self._check_inputs(input_shape)
        if self.gru is not None:
            self.gru.build(tuple(input_shape["tokens"]))
        if self.bow is not None:
            self.bow.build(tuple(input_shape["bow_tokens"]))
        if self.w2v is not None:
            self.w2v.build(tuple(input_shape[self.w2v_source]))
        self.built = True

    def call(self, inputs, training=None):
        self._check_inputs(inputs)
        parts = []
        if self.gru is not None:
            parts.append(self.gru(inputs["tokens"], training=training))
        if self.bow is not None:
            parts.append(self.bow(inputs["bow_tokens"]))
        if self.w2v is not None:
            parts.append(self.w2v(inputs[self.w2v_source]))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape["tokens" if "tokens" in input_shape else "bow_tokens"][0], self.output_dim)

    def get_config(self):
        return {**super().get_config(), "branches": list(self.branches),
                "gru_vocab_size": self.gru_vocab_size, "bow_vocab_size": self.bow_vocab_size,
                "embed_dim": self.embed_dim, "units": self.units, "bidirectional": self.bidirectional,
                "pooling": self.pooling, "dropout": self.dropout,
                "embedding_trainable": self.embedding_trainable,
                "attention_mask_padding": self.attention_mask_padding, "gru_padding": self.gru_padding,
                "w2v_dim": self.w2v_dim,
                "w2v_source": self.w2v_source, "w2v_trainable": self.w2v_trainable,
                "w2v_vocab_size": self.w2v_vocab_size, "w2v_unique": self.w2v_unique}
