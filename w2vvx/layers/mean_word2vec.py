"""Mean of (word2vec) word embeddings over the real tokens of a sentence."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers._validation import positive_int
from w2vvx.layers.masking import first_occurrence, masked_mean, padding_mask
from w2vvx.layers.device_math import nonzero


def check_embedding_matrix(matrix, vocab_size: int, dim: int, name: str) -> np.ndarray:
    """Return ``matrix`` as float32 (vocab_size, dim) or raise ConfigError naming both shapes."""
    matrix = np.asarray(matrix, dtype="float32")
    if matrix.shape != (vocab_size, dim):
        raise ConfigError(
            f"{name}: embedding matrix has shape {matrix.shape}, expected ({vocab_size}, {dim}) = "
            "(vocabulary size incl. padding row 0, embedding dim); build it from the same vocabulary"
        )
    return matrix


@keras.saving.register_keras_serializable(package="w2vvx")
class MeanWordEmbedding(keras.layers.Layer):
    """Average the embeddings of the non-padding tokens of each sentence (the "word2vec" branch).

    Tokens whose embedding row is all zeros are words without a pre-trained vector
    (:func:`w2vvx.training.prepare.prepare_text` leaves their rows at zero) and are skipped, as
    COCO-CN's ``AveWord2VecFilterStop`` averages only the words that have a vector; a sentence without
    any such word gives zeros.

    Args:
        vocab_size: number of vocabulary rows, padding (0) included.
        dim: embedding dimension.
        trainable: whether the embedding matrix is trained (the lineage keeps word2vec frozen).
        embeddings: optional ``(vocab_size, dim)`` matrix (e.g. word2vec rows) to start from. It is
            not part of ``get_config``: a saved model restores it from its weights.
        embeddings_initializer: initializer used when ``embeddings`` is not given (default
            uniform(-1, 1), as the lineage initialises out-of-vocabulary rows).
        skip_zero_rows: skip tokens whose row is all zeros (words without a vector); ``False``
            averages every non-padding token.
        unique_words: count each token id once per sentence (W2VV++: its ``BigFile.read`` reads the
            set of the sentence's words); ``False`` averages every occurrence (W2VV, COCO-CN).

    Example:
        >>> import numpy as np
        >>> layer = MeanWordEmbedding(4, 2, embeddings=np.array([[9, 9], [1, 2], [3, 4], [0, 0]]))
        >>> keras.ops.convert_to_numpy(layer(np.array([[1, 2, 3], [3, 0, 0], [0, 0, 0]]))).tolist()
        [[2.0, 3.0], [0.0, 0.0], [0.0, 0.0]]
        >>> ids = np.array([[1, 1, 2]])
        >>> keras.ops.convert_to_numpy(layer(ids)).tolist()
        [[1.6666666269302368, 2.6666667461395264]]
        >>> unique = MeanWordEmbedding(4, 2, embeddings=np.array([[9, 9], [1, 2], [3, 4], [0, 0]]), unique_words=True)
        >>> keras.ops.convert_to_numpy(unique(ids)).tolist()
        [[2.0, 3.0]]
    """

    def __init__(self, vocab_size: int, dim: int, trainable: bool = False, embeddings=None,
                 embeddings_initializer="w2vvx_uniform", skip_zero_rows: bool = True,
                 unique_words: bool = False, **kwargs):
        super().__init__(trainable=trainable, **kwargs)
        self.skip_zero_rows = bool(skip_zero_rows)
        self.unique_words = bool(unique_words)
        self.vocab_size = positive_int("vocab_size", vocab_size)
        self.dim = positive_int("dim", dim)
        if embeddings_initializer == "w2vvx_uniform":
            embeddings_initializer = keras.initializers.RandomUniform(-1.0, 1.0)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self._initial_embeddings = (None if embeddings is None else
                                    check_embedding_matrix(embeddings, vocab_size, dim, self.name))

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.vocab_size, self.dim),
            initializer=self.embeddings_initializer, trainable=self.trainable)
        if self._initial_embeddings is not None:
            self.embeddings.assign(self._initial_embeddings)
            self._initial_embeddings = None
        self.built = True

    def call(self, token_ids):
        token_ids = ops.cast(token_ids, "int32")
        vectors = ops.take(self.embeddings, token_ids, axis=0)
        mask = padding_mask(token_ids)
        if self.skip_zero_rows:
            has_vector = ops.any(nonzero(vectors), axis=-1)
            mask = ops.logical_and(mask, has_vector)
        if self.unique_words:
            mask = ops.logical_and(mask, first_occurrence(token_ids))
        return masked_mean(vectors, mask)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "skip_zero_rows": self.skip_zero_rows, "unique_words": self.unique_words}

