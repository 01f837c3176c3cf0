"""Checks of what enters a model from the user, on the host, once: token ids in range (every backend),
feature arrays and their rows finite (``Retriever.encode_text`` / ``encode_items`` / ``fit``).

Query words are checked by :meth:`w2vvx.text.SentenceFeaturizer.check_query`.
"""
from __future__ import annotations

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError


def numeric_array(value, what: str) -> np.ndarray:
    """``value`` as a real numeric NumPy array, or a ConfigError naming ``what`` (ragged, strings, objects)."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:  # ragged lists
        raise ConfigError(f"{what} is not a rectangular numeric array ({error})") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) \
            or np.issubdtype(array.dtype, np.complexfloating):
        raise ConfigError(f"{what} must be a real numeric array, got dtype {array.dtype}")
    return array


def float_features(features) -> np.ndarray:
    """``features`` as a non-empty float32 array (values beyond float32 become Inf, refused by the caller)."""
    array = numeric_array(features, "features")
    if array.size == 0:
        raise ConfigError(f"no features to encode: got shape {array.shape}; give an (N, D) array with N >= 1")
    with np.errstate(over="ignore"):
        return array.astype("float32")


def check_finite_rows(features, what: str = "features", offset: int = 0, ids=None) -> None:
    """Raise :class:`~w2vvx.errors.DataFormatError` naming the first row of ``features`` with NaN or Inf
    (it would become a normal-looking embedding and be ranked).

    Example:
        >>> check_finite_rows(np.array([[0.0, 1.0], [np.inf, 0.0]]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        w2vvx.errors.DataFormatError: features row 1 (0-based) holds NaN or Inf; ...
    """
    features = np.asarray(features)
    finite = np.isfinite(features.reshape(len(features), -1)).all(axis=1)
    if not finite.all():
        row = offset + int(np.argmin(finite))
        name = f" (id {ids[row]!r})" if ids is not None and row < len(ids) else ""
        raise DataFormatError(f"{what} row {row} (0-based){name} holds NaN or Inf; such a row would be encoded to "
                              "a meaningless embedding and ranked: re-extract the features or drop that item")


class FiniteBatches:
    """Batches ``(x,)`` of an item dataset, each checked for NaN/Inf rows as it is read."""

    def __init__(self, dataset, ids, batch_size: int):
        self.dataset, self.ids, self.batch_size = dataset, ids, batch_size

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        batch = self.dataset[index]
        check_finite_rows(batch[0] if isinstance(batch, tuple) else batch, offset=index * self.batch_size,
                          ids=self.ids)
        return batch


def check_token_ids(inputs, gru_vocab_size=None, bow_vocab_size=None, where: str = "token inputs",
                    w2v_vocab_size=None) -> None:
    """Raise :class:`~w2vvx.errors.ConfigError` when a token id is outside its vocabulary ``[0, size)``.

    Checked where ids enter a model (``encode_text``, ``fit`` on arrays), in NumPy on the host, never
    inside a compiled step: an out-of-range id gives NaN or another word's embedding on JAX (which
    clamps or fills gathers) and raw backend errors on TensorFlow and torch.

    Args:
        inputs: a dict with ``"tokens"`` and/or ``"bow_tokens"`` integer arrays.
        gru_vocab_size: rows of the GRU vocabulary (``tokens``); ``None`` skips the check.
        bow_vocab_size: rows of the BoW vocabulary (``bow_tokens``); ``None`` skips the check.
        where: what the inputs are, for the message.
        w2v_vocab_size: rows of the word-vector vocabulary (``w2v_tokens``); ``None`` skips the check.

    Example:
        >>> check_token_ids({"tokens": np.array([[2, 9]])}, gru_vocab_size=5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        w2vvx.errors.ConfigError: token inputs: 'tokens' row 0, position 1 holds id 9, but the vocabulary has 5 ids (0-4)...
    """
    for key, size in (("tokens", gru_vocab_size), ("bow_tokens", bow_vocab_size), ("w2v_tokens", w2v_vocab_size)):
        if key not in inputs:
            continue
        value = inputs[key]
        if not isinstance(value, np.ndarray):
            if not hasattr(value, "__array__") and not isinstance(value, (list, tuple)):
                continue  # a symbolic or device tensor: checked where it was made
            value = np.asarray(value)
        if value.size == 0:
            continue
        if not (np.issubdtype(value.dtype, np.integer) or value.dtype == bool):
            if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)) \
                    or not np.all(value == np.round(value)):
                raise ConfigError(f"{where}: {key!r} must hold integer token ids, got dtype {value.dtype}")
        low, high = value.min(), value.max()
        bad = None
        if low < 0:
            bad = low
        elif size is not None and high >= size:
            bad = high
        if bad is not None:
            position = np.argwhere(value == bad)[0]
            at = f"row {position[0]}" + (f", position {position[-1]}" if len(position) > 1 else "")
            limit = "" if size is None else f", but the vocabulary has {size} ids (0-{size - 1})"
            raise ConfigError(f"{where}: {key!r} {at} holds id {int(bad)}{limit}; token ids come from the "
                              "model's own vocabularies (its preprocessor, model.preprocessor): tokenise "
                              "with those, not with another run's")
