"""Is this ``feature.bin`` really little-endian float32? A plausibility check on a sample of its values.

A BigFile's ``feature.bin`` has no header, so bytes of another type read as float32 without complaint when
their size fits ``shape.txt``: float64 values whose ``shape.txt`` says twice the dimension, or big-endian
(byte-swapped) float32. Their values then look like random bit patterns: magnitudes spread over the whole
float32 range (1e-38 .. 1e38) and denormals, which features never hold (CNN, CLIP and word vectors stay
within a few orders of magnitude of 1, with exact zeros). :func:`check_feature_sample` looks at the
exponents of a sample and, when a real share of them is absurd, says which reading fits the bytes.
"""
from __future__ import annotations

import numpy as np

from w2vvx.errors import DataFormatError

#: finite values above this magnitude, or denormals, are absurd for features
ABSURD_MAGNITUDE = 1e18
#: share of absurd values (among the non-zero sampled ones) that marks the file as misread
ABSURD_SHARE = 0.01
_SAMPLE_VALUES = 1 << 16
_SAMPLE_ROWS = 256


def absurd_share(values: np.ndarray) -> float:
    """Share of the finite non-zero ``values`` that are denormal or larger than :data:`ABSURD_MAGNITUDE`.

    Example:
        >>> absurd_share(np.array([0.5, -1.25, 0.0, 3.0], "<f4"))
        0.0
        >>> absurd_share(np.array([0.5, 1.0], "<f4").byteswap().view("<f4"))  # byte-swapped: denormals
        1.0
    """
    with np.errstate(invalid="ignore", over="ignore"):
        values = np.asarray(values, dtype=np.float64)
    magnitude = np.abs(values[np.isfinite(values) & (values != 0)])
    if magnitude.size == 0:
        return 0.0
    tiny = float(np.finfo(np.float32).tiny)
    return float(np.count_nonzero((magnitude < tiny) | (magnitude > ABSURD_MAGNITUDE)) / magnitude.size)


def sample_rows(n_rows: int, n_dims: int) -> np.ndarray:
    """Up to 256 row positions spread evenly over the file (at most about 65,536 values)."""
    count = max(1, min(n_rows, _SAMPLE_ROWS, _SAMPLE_VALUES // max(1, n_dims)))
    return np.unique(np.linspace(0, n_rows - 1, count).astype(np.int64))


def check_feature_sample(raw: np.ndarray, path=None) -> None:
    """Raise :class:`~w2vvx.errors.DataFormatError` when sampled rows of ``feature.bin`` are not plausibly
    little-endian float32, naming what the bytes look like instead (float64, big-endian float32).

    Args:
        raw: sampled rows as read (``(rows, D)`` ``<f4``), each row contiguous in the file.
        path: the ``feature.bin`` file, for the message.

    Example:
        >>> values = np.random.default_rng(0).normal(size=(4, 8))
        >>> check_feature_sample(values.astype("<f4"))
        >>> check_feature_sample(values.astype("<f8").view("<f4"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        w2vvx.errors.DataFormatError: these bytes are not little-endian float32 features: ... as float64 ...
    """
    raw = np.ascontiguousarray(raw, dtype="<f4")
    share = absurd_share(raw)
    absurd = share * np.count_nonzero(np.isfinite(raw) & (raw != 0))
    if share < ABSURD_SHARE or absurd < 2:
        return
    what = (f"{share:.0%} of the sampled non-zero values are denormal or beyond {ABSURD_MAGNITUDE:.0e} in "
            "magnitude, which features never are")
    swapped = raw.byteswap().view("<f4")
    if raw.shape[-1] % 2 == 0:
        doubles = raw.view("<f8")
        if np.isfinite(doubles).all() and absurd_share(doubles) < ABSURD_SHARE:
            raise DataFormatError(
                f"these bytes are not little-endian float32 features: {what}; read as float64 they are plausible, "
                f"so the file was written as float64 and shape.txt gives twice the dimension ({raw.shape[-1]} "
                f"instead of {raw.shape[-1] // 2}). Convert it: np.fromfile(path, '<f8').astype('<f4'), and write "
                "the BigFile again (w2vvx.io.write_bigfile)", path=path)
    if np.isfinite(swapped).all() and absurd_share(swapped) < ABSURD_SHARE:
        raise DataFormatError(
            f"these bytes are not little-endian float32 features: {what}; byte-swapped they are plausible, so the "
            "file is big-endian float32 (written by Java, MATLAB or '>f4'). Convert it: "
            "np.fromfile(path, '>f4').astype('<f4'), and write the BigFile again (w2vvx.io.write_bigfile)", path=path)
    raise DataFormatError(
        f"these bytes are not little-endian float32 features: {what}; the file is of another type or damaged. "
        "Re-create it as float32 (w2vvx.io.write_bigfile, or w2vvx.io.bigfile_convert.txt2bin)", path=path)
