"""The gate of the backend fast paths: on only for the Keras and torch versions they were tested with.

The fast paths of :mod:`w2vvx.backend` lean on code that the frameworks do not promise to keep:

- :class:`~w2vvx.backend.torch_train_step.TorchTrainStep` replaces the optimizer's step counter's
  ``assign_add`` for one update, toggles ``optimizer.global_clipnorm`` and finds the loss tracker
  among ``model.metrics`` by its name ``"loss"`` (Keras internals);
- :func:`~w2vvx.backend.gru_kernels.torch_fused_gru` calls ``torch._VF.gru`` (a private torch
  entry point, what ``torch.nn.GRU`` calls);
- :func:`~w2vvx.backend.gru_kernels.keras_fused_gru` calls ``keras.src.backend.gru`` (Keras's
  fused cuDNN GRU kernel, not part of the public API).

:func:`fast_path_status` switches them on only where Keras is in :data:`TESTED_KERAS` (and, on
the torch backend, torch in :data:`TESTED_TORCH`). Elsewhere (unless the environment variable
:data:`FAST_PATH_ENV` is ``force``), or when :data:`FAST_PATH_ENV` is ``0``, the library falls back
to Keras's own train step and the portable ``keras.ops`` GRU (same results up to float rounding,
slower on a GPU), and says so in one log line per process. The answer is computed once per process
(``functools.lru_cache``); ``fast_path_status.cache_clear()`` makes the next call read the versions
and the variable again. The library asks only where a fast path would run (the torch backend, or
TensorFlow with a GPU for the GRU), so other set-ups never see the line.
"""
from __future__ import annotations

import functools
import logging
import os
import re
from typing import NamedTuple, Optional, Tuple

import keras

logger = logging.getLogger(__name__)

#: the environment variable that turns the fast paths off: ``W2VVX_FAST_PATH=0``
FAST_PATH_ENV = "W2VVX_FAST_PATH"
#: the Keras versions the fast paths were tested with: ``>=3.15,<3.16`` (lowest included, highest excluded)
TESTED_KERAS = ((3, 15), (3, 16))
#: the torch versions the torch fast paths were tested with: ``>=2.13,<2.14`` (setup.py pins torch 2.13.0)
TESTED_TORCH = ((2, 13), (2, 14))
_OFF_VALUES = ("0", "false", "no", "off")
_ON_VALUES = ("", "1", "true", "yes", "on")  # on with the tested versions (the default)


class FastPathStatus(NamedTuple):
    """Whether the fast paths run, and why not when they do not."""

    enabled: bool
    reason: str  # empty when enabled


def version_tuple(version: str) -> Tuple[int, int]:
    """``(major, minor)`` of a version string (local and pre-release suffixes ignored).

    Args:
        version: a version such as ``"3.15.1"``, ``"2.13.0+cpu"`` or ``"3.16.0.dev2025"``.

    Example:
        >>> version_tuple("2.13.0+cpu")
        (2, 13)
    """
    match = re.match(r"\s*(\d+)\.(\d+)", str(version))
    if match is None:
        raise ValueError(f"expected a version string such as '3.15.1', got {version!r}")
    return int(match.group(1)), int(match.group(2))


def describe_range(tested: Tuple[Tuple[int, int], Tuple[int, int]]) -> str:
    """A tested range as pip writes it.

    Example:
        >>> describe_range(TESTED_KERAS)
        '>=3.15,<3.16'
    """
    (low_major, low_minor), (high_major, high_minor) = tested
    return f">={low_major}.{low_minor},<{high_major}.{high_minor}"


def _in_range(version: str, tested) -> bool:
    try:
        return tested[0] <= version_tuple(version) < tested[1]
    except ValueError:  # an unreadable version is an untested one
        return False


def _torch_version() -> Optional[str]:
    try:
        import torch
    except ImportError:
        return None
    return str(torch.__version__)


def untested_versions(backend: str, keras_version: str, torch_version: Optional[str]) -> str:
    """The installed versions outside the tested ranges, as text (empty when every one was tested).

    Args:
        backend: the Keras backend (``"torch"`` also checks ``torch_version``).
        keras_version: the installed Keras version.
        torch_version: the installed torch version, or None.

    Example:
        >>> untested_versions("torch", "3.15.1", "2.13.0+cpu")
        ''
        >>> untested_versions("tensorflow", "3.17.0", None)
        'Keras 3.17.0 (tested: >=3.15,<3.16)'
    """
    untested = []
    if not _in_range(keras_version, TESTED_KERAS):
        untested.append(f"Keras {keras_version} (tested: {describe_range(TESTED_KERAS)})")
    if backend == "torch" and not _in_range(torch_version or "", TESTED_TORCH):
        untested.append(f"torch {torch_version} (tested: {describe_range(TESTED_TORCH)})")
    return ", ".join(untested)


@functools.lru_cache(maxsize=None)
def fast_path_status() -> FastPathStatus:
    """Whether the backend fast paths run in this process; logs one line when they do not.

    Off when :data:`FAST_PATH_ENV` is ``0`` (an INFO line), or when Keras (or, on the torch backend,
    torch) is outside the tested versions (a WARNING line naming them), unless :data:`FAST_PATH_ENV`
    is ``force``. Cached: the check and its log line happen once per process.

    Raises:
        ValueError: :data:`FAST_PATH_ENV` is set to something other than ``0``, ``1`` or ``force``.

    Example:
        >>> status = fast_path_status()
        >>> status.enabled == (status.reason == "")
        True
    """
    fallback = "Keras's own train step and the portable keras.ops GRU run instead (same results, slower on a GPU)"
    setting = os.environ.get(FAST_PATH_ENV, "").strip().lower()
    if setting in _OFF_VALUES:
        reason = f"{FAST_PATH_ENV}={os.environ[FAST_PATH_ENV]}"
        logger.info("w2vvx: backend fast paths off (%s); %s.", reason, fallback)
        return FastPathStatus(False, reason)
    if setting not in _ON_VALUES + ("force",):
        raise ValueError(f"{FAST_PATH_ENV} must be 0 (fast paths off), 1 (on with the tested Keras and torch "
                         f"versions, the default) or force (on with any version), got {os.environ[FAST_PATH_ENV]!r}")
    backend = keras.backend.backend()
    untested = untested_versions(backend, keras.__version__, _torch_version() if backend == "torch" else None)
    if untested and setting == "force":
        logger.warning("w2vvx: backend fast paths forced on (%s=force) with untested %s.", FAST_PATH_ENV, untested)
    elif untested:
        reason = f"untested versions: {untested}"
        logger.warning("w2vvx: backend fast paths off for untested %s; %s. %s=force turns them on anyway.",
                       untested, fallback, FAST_PATH_ENV)
        return FastPathStatus(False, reason)
    return FastPathStatus(True, "")


def fast_path_enabled() -> bool:
    """Whether the backend fast paths run in this process (see :func:`fast_path_status`).

    Example:
        >>> isinstance(fast_path_enabled(), bool)
        True
    """
    return fast_path_status().enabled
