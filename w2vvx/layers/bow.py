"""Bag-of-words counts from padded token ids."""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.layers._validation import positive_int


@keras.saving.register_keras_serializable(package="w2vvx")
class BagOfWords(keras.layers.Layer):
    """Count how often each vocabulary id occurs in each sentence.

    Ids ``1 .. vocab_size - 1`` are counted; id 0 is padding and is ignored, so column 0 of the
    output is always zero (as the lineage's BoW vectors, which have one column per vocabulary row).
    The counts are scattered into a ``(B, V)`` matrix in one vectorised scatter-add (torch:
    ``Tensor.scatter_add``; JAX and TensorFlow: ``keras.ops.scatter``, which sums duplicate indices),
    so no ``(B, L, V)`` one-hot tensor is materialised and no index is read on the host. (Keras's
    torch ``scatter`` loops over the indices in Python, one device synchronisation each.)

    Args:
        vocab_size: number of rows of the vocabulary, padding (0) included.

    Example:
        >>> import numpy as np
        >>> counts = BagOfWords(5)(np.array([[3, 3, 1, 0]], dtype="int32"))
        >>> keras.ops.convert_to_numpy(counts).tolist()
        [[0.0, 1.0, 0.0, 2.0, 0.0]]
    """

    def __init__(self, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = positive_int("vocab_size", vocab_size)

    def call(self, token_ids):
        if keras.backend.backend() == "torch":
            return _torch_counts(token_ids, self.vocab_size, self.compute_dtype)
        token_ids = ops.cast(token_ids, "int32")
        shape = ops.shape(token_ids)
        batch, length = shape[0], shape[1]
        rows = ops.repeat(ops.expand_dims(ops.arange(batch, dtype="int32"), 1), length, axis=1)
        indices = ops.stack([ops.reshape(rows, (-1,)), ops.reshape(token_ids, (-1,))], axis=1)
        values = ops.reshape(ops.cast(ops.not_equal(token_ids, 0), self.compute_dtype), (-1,))
        return ops.scatter(indices, values, (batch, self.vocab_size))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.vocab_size)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size}


def _torch_counts(token_ids, vocab_size, dtype):
    import torch

    token_ids = torch.as_tensor(token_ids).long()
    ones = (token_ids != 0).to(getattr(torch, dtype))
    counts = torch.zeros(token_ids.shape[0], vocab_size, dtype=ones.dtype, device=token_ids.device)
    return counts.scatter_add_(1, token_ids, ones)
