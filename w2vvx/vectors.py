"""NumPy helpers for embedding matrices (no Keras import): the one L2 normalisation of the library."""
from __future__ import annotations

import numpy as np

from w2vvx.errors import ConfigError


def l2_normalize(vectors, eps: float = 1e-12, dtype="float32") -> np.ndarray:
    """Return a copy of ``vectors`` (float32 unless ``dtype`` says otherwise) with unit L2 norm rows.

    Cosine similarity is the inner product of rows normalised this way; every ranking of w2vvx
    (evaluation, search, the retriever's ``encode_text``/``encode_items``) goes through it.

    Args:
        vectors: array of shape ``(N, D)``.
        eps: norms below this are treated as zero (zero rows stay zero).
        dtype: the dtype of the result and of the computation.

    Example:
        >>> l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    vectors = np.array(vectors, dtype=dtype, copy=True)
    if vectors.ndim != 2:
        raise ConfigError(f"expected a 2-D array (N, D) of embeddings, got shape {vectors.shape}")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms < eps] = 1.0
    vectors /= norms
    return vectors
