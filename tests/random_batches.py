"""Random token batches for the model test files (one definition each, imported where needed)."""
import numpy as np


def random_views(vocab: int, batch: int, length: int, visual_dim: int, seed: int = 0) -> dict:
    """Source, MT and back-translation token views (post-padded, 2..length tokens) and visual rows.

    Example:
        >>> sorted(random_views(10, 2, 4, 3))[:2]
        ['bt_bow_tokens', 'bt_tokens']
    """
    rng = np.random.default_rng(seed)
    views = {}
    for view in ("src", "mt", "bt"):
        tokens = rng.integers(2, vocab, (batch, length)).astype("int32")
        lengths = rng.integers(2, length + 1, batch)
        tokens[np.arange(length)[None, :] >= lengths[:, None]] = 0
        views[f"{view}_tokens"] = tokens
        views[f"{view}_bow_tokens"] = tokens
    views["visual"] = rng.normal(size=(batch, visual_dim)).astype("float32")
    return views


def random_token_batch(count: int, length: int, vocab: int, visual_dim: int, seed: int = 0) -> dict:
    """``tokens``/``bow_tokens`` (post-padded, 1..length tokens) and ``visual`` rows for a W2VV model's ``fit``.

    Example:
        >>> random_token_batch(3, 4, 10, 2)["tokens"].shape
        (3, 4)
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, length + 1, count)
    ids = rng.integers(1, vocab, (count, length)).astype("int32")
    ids[np.arange(length)[None] >= lengths[:, None]] = 0
    return {"tokens": ids, "bow_tokens": ids.copy(), "visual": rng.random((count, visual_dim), dtype="float32")}
