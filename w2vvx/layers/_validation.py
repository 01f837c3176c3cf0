"""Argument checks shared by the layers and losses (messages say what was expected and what was given)."""
from __future__ import annotations

from w2vvx.errors import ConfigError


def positive_int(name: str, value) -> int:
    """Return ``value`` as an int if it is a positive integer, else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def probability(name: str, value) -> float:
    """Return ``value`` as a float in [0, 1), else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def positive_float(name: str, value) -> float:
    """Return ``value`` as a float if it is > 0, else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value) > 0.0:
        raise ConfigError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def one_of(name: str, value, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ConfigError listing them."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value
