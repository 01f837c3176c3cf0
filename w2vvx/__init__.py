"""w2vvx: cross-lingual cross-modal retrieval in the Word2VisualVec lineage, on Keras 3.

Importing ``w2vvx`` registers every serializable class (layers, losses, models) with Keras, so a saved
retriever loads with plain Keras in safe mode::

    import keras, w2vvx
    retriever = keras.saving.load_model("runs/w2vvpp/best.keras")
    queries = retriever.encode_text(["一只狗在草地上奔跑"], language="zh")

``import w2vvx`` itself does not import Keras (the command line answers ``--help`` without a backend):
when Keras is already imported the classes are registered at once, otherwise as soon as Keras is
imported. Set ``KERAS_BACKEND`` before Keras is imported to choose the backend; when it is unset and
TensorFlow is not installed, the installed backend (torch, else JAX) is chosen (see
:func:`w2vvx.config.choose_keras_backend`). ``w2vvx.W2VVRetriever`` and the other names below are
imported on first use.
"""
import sys as _sys

from w2vvx.config import check_keras_backend as _check_keras_backend
from w2vvx.config import choose_keras_backend as _choose_keras_backend

_REGISTERING_MODULES = ("layers", "losses", "models", "noisy")
_LAZY_NAMES = {"W2VVBackbone": "w2vvx.models", "W2VVPreprocessor": "w2vvx.models",
               "W2VVRetriever": "w2vvx.models", "build_model": "w2vvx.models", "get_config": "w2vvx.models"}


def _register_classes() -> None:
    """Import the modules that register the serializable classes with Keras."""
    import importlib

    for name in _REGISTERING_MODULES:
        importlib.import_module(f"w2vvx.{name}")


def _importing_w2vvx() -> bool:
    """Whether a w2vvx module is being imported further up the stack (it imports what it needs itself)."""
    frame = _sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and str(frame.f_globals.get("__name__", "")).startswith("w2vvx."):
            return True
        frame = frame.f_back
    return False


class _RegisterWhenKerasLoads:
    """A one-shot import hook: once ``keras`` has been imported, register the w2vvx classes with it.

    When Keras is imported by a w2vvx module (which imports the classes it uses itself), the registration
    waits until no w2vvx module is being imported any more (the hook sees each one finish).
    """

    def __init__(self):
        self.keras_loaded = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "keras" and not self.keras_loaded:
            _check_keras_backend()  # KERAS_BACKEND=bogus: a ConfigError saying what to set, not Keras's traceback
            then = self._keras_executed
        elif fullname.startswith("w2vvx."):
            then = self._w2vvx_executed
        else:
            return None
        spec = None
        for finder in _sys.meta_path[_sys.meta_path.index(self) + 1:]:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _LoaderThen(spec.loader, then)
        return spec

    def _keras_executed(self) -> None:
        self.keras_loaded = True
        self._w2vvx_executed()

    def _w2vvx_executed(self) -> None:
        if self.keras_loaded and self in _sys.meta_path and not _importing_w2vvx():
            _sys.meta_path.remove(self)
            _register_classes()


class _LoaderThen:
    """Wraps a loader: runs ``then()`` after the module has executed."""

    def __init__(self, loader, then):
        self.loader = loader
        self.then = then

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.then()

    def __getattr__(self, name):
        return getattr(self.loader, name)


if _sys.modules.get("keras") is not None:
    _register_classes()
else:
    _choose_keras_backend()  # a torch- or JAX-only install starts without KERAS_BACKEND
    if not any(isinstance(finder, _RegisterWhenKerasLoads) for finder in _sys.meta_path):
        _sys.meta_path.insert(0, _RegisterWhenKerasLoads())


def __getattr__(name):
    import importlib

    if name in _REGISTERING_MODULES:
        return importlib.import_module(f"w2vvx.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'w2vvx' has no attribute {name!r}")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("w2vvx")
    except Exception:  # running from a checkout that was never installed
        return "unknown"


__version__ = _version()
__all__ = ["W2VVBackbone", "W2VVPreprocessor", "W2VVRetriever", "build_model", "get_config", "layers", "losses",
           "models", "noisy"]
