"""w2vvx: cross-lingual cross-modal retrieval in the Word2VisualVec lineage, on Keras 3.

Importing ``w2vvx`` registers every serializable class (layers, losses, models) with Keras, so a saved
retriever loads with plain Keras in safe mode::

    import keras, w2vvx
    retriever = keras.saving.load_model("runs/w2vvpp/best.keras")
    queries = retriever.encode_text(["一只狗在草地上奔跑"], language="zh")

Keras is imported here: set ``KERAS_BACKEND`` before ``import w2vvx`` to choose the backend.
"""
from w2vvx.config import check_keras_backend as _check_keras_backend

_check_keras_backend()  # KERAS_BACKEND=bogus: a ConfigError saying what to set, not Keras's import traceback
from w2vvx import layers, losses, models, noisy  # noqa: F401,E402  (registers the serializable classes)
from w2vvx.models import W2VVBackbone, W2VVPreprocessor, W2VVRetriever, build_model, get_config

try:
    from importlib.metadata import version as _installed_version

    __version__ = _installed_version("w2vvx")
except Exception:  # running from a checkout that was never installed
    __version__ = "unknown"

__all__ = ["W2VVBackbone", "W2VVPreprocessor", "W2VVRetriever", "build_model", "get_config", "layers", "losses",
           "models", "noisy"]
