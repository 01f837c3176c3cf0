"""Settings: ``common.ini`` (shell-style ``key=value``, as coco-cn's) and where the data root is.

The data root (``rootpath``) is chosen in this order:

1. an explicit argument (the CLI's ``--rootpath``);
2. the ``W2VVX_ROOTPATH`` environment variable;
3. ``rootpath=`` in ``common.ini`` (a path given, else the one next to the repository);
4. ``$HOME/VisualSearch`` (the lineage default).
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Optional

from w2vvx.errors import ConfigError, MissingFileError

ROOTPATH_ENV = "W2VVX_ROOTPATH"
DEFAULT_INI = Path(__file__).resolve().parents[1] / "common.ini"
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _expand(value: str, variables: Mapping[str, str], path, number: int) -> str:
    def substitute(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise ConfigError(f"{path}:{number}: ${name} is not defined (neither earlier in the file nor in the "
                              "environment); define it or write the path out")
        return variables[name]

    if "${" in value and not re.search(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value):
        raise ConfigError(f"{path}:{number}: malformed '${{...}}' in {value!r}; expected ${{NAME}}")
    expanded = _VAR_RE.sub(substitute, value)
    if expanded.startswith("~"):
        expanded = os.path.expanduser(expanded)
    return expanded


def _unquote(raw: str, path, number: int):
    """Return ``(value, expand)`` for a shell-style value; single quotes disable expansion."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        if end < 0:
            raise ConfigError(f"{path}:{number}: unterminated {quote} quote in {raw!r}")
        rest = raw[end + 1:].strip()
        if rest and not rest.startswith("#"):
            raise ConfigError(f"{path}:{number}: unexpected text {rest!r} after the quoted value")
        return raw[1:end], quote == '"'
    if " #" in raw or "\t#" in raw:
        raw = re.split(r"\s#", raw, maxsplit=1)[0].rstrip()
    if any(ch.isspace() for ch in raw):
        raise ConfigError(f"{path}:{number}: value {raw!r} contains whitespace; quote it (\"...\")")
    return raw, True


def parse_ini_text(text: str, path="common.ini", environ: Optional[Mapping[str, str]] = None) -> dict:
    """Parse shell-style ``key=value`` lines (``#`` comments, ``export`` and ``[section]`` lines allowed).

    ``$NAME`` and ``${NAME}`` expand from earlier keys, then from ``environ`` (default ``os.environ``).

    Example:
        >>> parse_ini_text("root=$HOME/VS  # data\\nfreq_threshold=5", environ={"HOME": "/h"})
        {'root': '/h/VS', 'freq_threshold': '5'}
    """
    environ = os.environ if environ is None else environ
    values: dict = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().lstrip("\ufeff")
        if not stripped or stripped.startswith("#") or stripped.startswith(";"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export "):].lstrip()
        key, sep, raw = stripped.partition("=")
        key = key.strip()
        if not sep or not _KEY_RE.match(key):
            raise ConfigError(f"{path}:{number}: expected 'key=value', found {stripped[:80]!r}")
        value, expand = _unquote(raw, path, number)
        if expand:
            value = _expand(value, {**environ, **values}, path, number)
        values[key] = value
    return values


def read_ini(path) -> dict:
    """Read a ``common.ini`` file into a dict of strings (see :func:`parse_ini_text`)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError("settings file not found", path=path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: byte {error.start} is not valid UTF-8; save the file as UTF-8") from None
    return parse_ini_text(text, path=path)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved settings.

    Attributes:
        rootpath: the data root (not checked to exist; see :func:`ensure_writable_rootpath`).
        rootpath_source: where ``rootpath`` came from: ``"argument"``, ``"environment"``, ``"ini"`` or
            ``"default"``.
        ini_path: the ``common.ini`` that was read, or ``None``.
        values: every key of that file (read-only mapping of strings).
    """

    rootpath: Path
    rootpath_source: str
    ini_path: Optional[Path] = None
    values: Mapping[str, str] = dataclasses.field(default_factory=lambda: MappingProxyType({}))

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        return self.values.get(key, default)

    def get_int(self, key: str, default: Optional[int] = None) -> Optional[int]:
        raw = self.values.get(key)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{self.ini_path}: {key}={raw!r} is not an integer") from None

    def get_bool(self, key: str, default: bool = False) -> bool:
        raw = self.values.get(key)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"{self.ini_path}: {key}={raw!r} is not a boolean (use 1/0, true/false)")


def _account_home() -> Optional[str]:
    """The home folder of the account running Python (from the password database), as a login shell sets it."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir or None
    except (ImportError, KeyError, AttributeError):  # Windows, or an account without an entry
        return None


def load_settings(rootpath=None, ini_path=None, environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Resolve the settings (see the module docstring for the ``rootpath`` precedence).

    Args:
        rootpath: an explicit data root; wins over everything.
        ini_path: a ``common.ini`` to read; it must exist. By default the repository's ``common.ini``
            is read if present.
        environ: the environment to use (default ``os.environ``).

    Example:
        >>> load_settings(rootpath="/data/VS").rootpath_source
        'argument'
    """
    environ = os.environ if environ is None else environ
    values: dict = {}
    used_ini: Optional[Path] = None
    if ini_path is not None:
        used_ini = Path(ini_path)
        if not used_ini.is_file():
            raise ConfigError(f"settings file {used_ini} not found (given as ini_path)")
    elif DEFAULT_INI.is_file():
        used_ini = DEFAULT_INI
    if used_ini is not None:
        try:
            text = used_ini.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise ConfigError(f"{used_ini}: byte {error.start} is not valid UTF-8; save the file as UTF-8") from None
        if "HOME" not in environ and _account_home():  # HOME unset (cron, containers): the account's home
            environ = {**environ, "HOME": _account_home()}
        values = parse_ini_text(text, path=used_ini, environ=environ)
    if rootpath is not None and not os.fspath(rootpath).strip():
        raise ConfigError("the rootpath given (--rootpath) is empty; give the VisualSearch folder, e.g. "
                          "--rootpath ~/VisualSearch (an empty path is never taken to mean the default)")
    if ROOTPATH_ENV in environ and not environ[ROOTPATH_ENV].strip():
        raise ConfigError(f"the environment variable {ROOTPATH_ENV} is set but empty; set it to the VisualSearch "
                          f"folder or unset it (unset {ROOTPATH_ENV})")
    if used_ini is not None and "rootpath" in values and not values["rootpath"].strip():
        raise ConfigError(f"{used_ini}: rootpath= is empty (or names an unset variable); give a folder or delete the "
                          "line")
    if rootpath is not None:
        chosen, source = os.path.expanduser(os.fspath(rootpath)), "argument"
    elif environ.get(ROOTPATH_ENV):
        chosen, source = os.path.expanduser(environ[ROOTPATH_ENV]), "environment"
    elif values.get("rootpath"):
        chosen, source = values["rootpath"], "ini"
    else:
        home = environ.get("HOME") or os.path.expanduser("~")
        chosen, source = os.path.join(home, "VisualSearch"), "default"
    return Settings(rootpath=Path(chosen), rootpath_source=source, ini_path=used_ini,
                    values=MappingProxyType(dict(values)))


def ensure_writable_rootpath(rootpath) -> Path:
    """Check that ``rootpath`` is an existing, writable folder before anything is written under it.

    Raises:
        ConfigError: it does not exist, is not a folder, or is read-only; the message says how to fix it.
    """
    path = Path(rootpath)
    if not path.exists():
        raise ConfigError(f"rootpath {path} does not exist; create it (mkdir -p {path}) or choose another with "
                          f"--rootpath / {ROOTPATH_ENV} / rootpath= in common.ini")
    if not path.is_dir():
        raise ConfigError(f"rootpath {path} is not a folder; choose a folder with --rootpath / {ROOTPATH_ENV}")
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"rootpath {path} is read-only for this user; choose a writable folder with --rootpath / "
                          f"{ROOTPATH_ENV}, or fix its permissions")
    return path


#: Keras 3 backends (w2vvx is tested on the first three).
KERAS_BACKENDS = ("tensorflow", "torch", "jax", "numpy", "openvino")


def check_keras_backend(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Check ``KERAS_BACKEND`` before Keras is imported (Keras itself fails with "Unable to import backend").

    Returns the backend named, or ``None`` when the variable is unset.

    Raises:
        ConfigError: the variable names no Keras backend.

    Example:
        >>> check_keras_backend({"KERAS_BACKEND": "torch"})
        'torch'
    """
    environ = os.environ if environ is None else environ
    value = environ.get("KERAS_BACKEND")
    if value is None:
        return None
    if value.strip().lower() not in KERAS_BACKENDS:
        raise ConfigError(f"the environment variable KERAS_BACKEND={value!r} names no Keras backend; set it to "
                          "tensorflow, torch or jax (e.g. export KERAS_BACKEND=tensorflow), or unset it")
    return value.strip().lower()


def _installed(package: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a broken or blocked installation counts as absent
        return False


def _keras_json_backend(environ: Mapping[str, str]) -> Optional[str]:
    """The backend named in Keras's ``keras.json`` (``$KERAS_HOME`` or ``~/.keras``), if any."""
    import json

    home = environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as handle:
            backend = json.load(handle).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return backend if isinstance(backend, str) else None


def choose_keras_backend(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Pick an installed backend when ``KERAS_BACKEND`` is unset and Keras's default (TensorFlow) is not installed.

    Keras starts on TensorFlow unless told otherwise, so a torch- or JAX-only install would fail on its first
    import. Called before Keras is imported (``import w2vvx`` and the command line do), this sets
    ``KERAS_BACKEND`` in ``environ`` to ``torch``, else ``jax``, unless ``keras.json`` names an installed one.

    Returns:
        The backend set, or ``None`` when nothing was changed.

    Example:
        >>> choose_keras_backend({"KERAS_BACKEND": "jax"}) is None  # an explicit choice is never changed
        True
    """
    environ = os.environ if environ is None else environ
    if environ.get("KERAS_BACKEND") or _installed("tensorflow"):
        return None
    configured = _keras_json_backend(environ)
    if configured in KERAS_BACKENDS and configured != "tensorflow" and _installed(configured):
        return None
    for backend in ("torch", "jax"):
        if _installed(backend):
            environ["KERAS_BACKEND"] = backend
            return backend
    return None


def check_backend_installed(backend: str, where: str = "--backend") -> None:
    """Refuse a backend whose framework is not importable, in one line that says what is installed.

    Example:
        >>> check_backend_installed("numpy")  # Keras's numpy backend needs no framework
    """
    package = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}.get(backend)
    if package is None or _installed(package):
        return
    import sys

    others = [name for name in ("tensorflow", "torch", "jax") if name != backend and _installed(name)]
    hint = (f"use {' or '.join(others)} (installed)" if others else "no backend framework is installed")
    raise ConfigError(f"{where} {backend}: the {package} package is not installed in this Python "
                      f"({sys.executable}); pip install {package}, or {hint}")
