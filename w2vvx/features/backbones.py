"""Image models that turn pixels into one feature vector per image.

* ``resnet152``: the lineage's ResNet-152 (``keras.applications``), global average pooling of the last
  block (the "pool5" 2048-d feature of W2VV/W2VV++/COCO-CN), Caffe-style preprocessing.
* ``resnet50``: the same family, 2048-d, about half the cost.
* ``mobilenet_v3_small``: ``keras.applications.MobileNetV3Small`` pooled (576-d): a small, fast choice.
* ``tiny_image``: no network at all: the image shrunk to 12 x 12 colour cells, centred (432-d). A weak but
  real feature that needs no weights (offline machines, tests, a first try of the walk-through).
* ``clip_vit_b32``: CLIP ViT-B/32's image tower through keras-hub (512-d projected embedding; NRCCR uses
  it for Multi30K). keras-hub is an optional extra: ``pip install keras-hub``.

Weights: ``"imagenet"`` (downloaded by Keras from its usual hub on first use and cached),
``"none"`` (random initialisation: for tests and offline checks, not for retrieval), or a local file
(``.weights.h5``/``.h5`` weights of the same architecture, or a whole ``.keras`` model).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from w2vvx.errors import ConfigError, MissingFileError

#: Model name -> (feature dimension, default image size, what it is).
MODELS = {
    "resnet152": (2048, 224, "ResNet-152, global average pool (the lineage's pool5 feature)"),
    "resnet50": (2048, 224, "ResNet-50, global average pool"),
    "mobilenet_v3_small": (576, 224, "MobileNetV3-Small, global average pool (small and fast)"),
    "tiny_image": (432, 48, "12 x 12 colour cells of the image, no weights (offline baseline)"),
    "clip_vit_b32": (512, 224, "CLIP ViT-B/32 image tower via keras-hub (pip install keras-hub)"),
}
CLIP_PRESET = "clip_vit_base_patch32"


def check_model_name(model: str) -> str:
    """``model`` if it is one of :data:`MODELS`, else a ConfigError listing them."""
    if model not in MODELS:
        raise ConfigError(f"unknown feature model {model!r}; choose one of {sorted(MODELS)}")
    return model


def weights_spec(weights) -> str:
    """Normalise ``weights``: ``"imagenet"``, ``"none"`` or an existing local weights file.

    Example:
        >>> weights_spec(None), weights_spec("NONE")
        ('none', 'none')
    """
    if weights is None or str(weights).lower() == "none":
        return "none"
    if str(weights).lower() == "imagenet":
        return "imagenet"
    path = Path(weights)
    if not path.is_file():
        raise MissingFileError("weights file not found; give 'imagenet' (downloaded by Keras), 'none' (random, "
                               "for tests) or a local .weights.h5 / .h5 / .keras file", path=path)
    if not path.name.endswith((".h5", ".keras")):
        raise ConfigError(f"weights file {path} is neither .weights.h5/.h5 nor .keras; save the model's weights "
                          "with model.save_weights('x.weights.h5') or the model with model.save('x.keras')")
    return str(path)


class FeatureModel:
    """A callable ``images (B, S, S, 3) float32 in [0, 255] -> features (B, D) float32``.

    Build it with :func:`build_feature_model`; ``name``, ``weights``, ``image_size`` and ``dim`` describe it.
    """

    def __init__(self, name: str, weights: str, image_size: int, dim: int, fn: Callable[[np.ndarray], np.ndarray]):
        self.name, self.weights, self.image_size, self.dim = name, weights, image_size, dim
        self._fn = fn

    def __call__(self, images) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise ConfigError(f"expected images of shape (B, {self.image_size}, {self.image_size}, 3), got "
                              f"{images.shape}")
        out = np.asarray(self._fn(images), dtype=np.float32)
        return out.reshape(len(images), -1)

    def describe(self) -> dict:
        return {"model": self.name, "weights": self.weights, "image_size": self.image_size, "dim": self.dim}


def build_feature_model(model: str = "resnet152", weights="imagenet", image_size: Optional[int] = None) -> FeatureModel:
    """Build a :class:`FeatureModel`.

    Args:
        model: one of :data:`MODELS`.
        weights: ``"imagenet"``, ``"none"`` or a local weights/model file (see the module docstring).
        image_size: square input size in pixels (default: the model's, 224). Smaller sizes run faster and
            change the features; keep the size of the collection you compare with.

    Raises:
        ConfigError: an unknown model, a bad size, or keras-hub missing for ``clip_vit_b32``.
    """
    check_model_name(model)
    weights = weights_spec(weights)
    size = MODELS[model][1] if image_size is None else image_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 32:
        raise ConfigError(f"image_size must be an integer >= 32 (pixels), got {size!r}")
    if model == "clip_vit_b32":
        return _clip(weights, size)
    if model == "tiny_image":
        return _tiny_image(weights, size)
    import keras

    if weights.endswith(".keras"):
        from w2vvx.io.archives import load_keras_model

        net = load_keras_model(weights)
        preprocess = _preprocess_of(model)
    else:
        builders = {"resnet152": keras.applications.ResNet152, "resnet50": keras.applications.ResNet50,
                    "mobilenet_v3_small": keras.applications.MobileNetV3Small}
        net = builders[model](include_top=False, weights="imagenet" if weights == "imagenet" else None,
                              input_shape=(size, size, 3), pooling="avg")
        if weights not in ("imagenet", "none"):
            try:
                net.load_weights(weights)
            except (ValueError, OSError, KeyError) as error:
                raise ConfigError(f"cannot load {weights} into {model} without its top: {error}; save weights of "
                                  f"keras.applications with include_top=False (or pass 'imagenet')") from None
        preprocess = _preprocess_of(model)

    def run(images):
        return keras.ops.convert_to_numpy(net(preprocess(images.copy()), training=False))

    return FeatureModel(model, weights, size, MODELS[model][0], run)


def _tiny_image(weights: str, size: int) -> FeatureModel:
    grid = 12
    if weights != "none" and weights != "imagenet":
        raise ConfigError("tiny_image has no weights; leave --weights out or give 'none'")
    if size % grid:
        raise ConfigError(f"tiny_image averages {grid} x {grid} cells, so image_size must be a multiple of {grid} "
                          f"(e.g. 48), got {size}")

    def run(images):
        cell = size // grid
        cells = images.reshape(len(images), grid, cell, grid, cell, 3).mean(axis=(2, 4))
        return (cells.reshape(len(images), -1) - 127.5) / 127.5

    return FeatureModel("tiny_image", "none", size, MODELS["tiny_image"][0], run)


def _preprocess_of(model: str):
    import keras

    if model.startswith("resnet"):
        return keras.applications.resnet.preprocess_input  # RGB -> BGR, ImageNet means subtracted
    return lambda images: images  # MobileNetV3 rescales inside the model (include_preprocessing)


def _clip(weights: str, size: int) -> FeatureModel:
    try:
        import keras_hub
    except ImportError:
        raise ConfigError("the clip_vit_b32 model needs keras-hub, an optional extra: pip install keras-hub "
                          "(or pip install w2vvx[clip]); or choose --model resnet152") from None
    if weights == "none":
        raise ConfigError("clip_vit_b32 comes only with its pretrained weights (weights='imagenet' downloads the "
                          f"keras-hub preset {CLIP_PRESET!r}, or give a local preset folder)")
    preset = CLIP_PRESET if weights == "imagenet" else weights
    backbone = keras_hub.models.CLIPBackbone.from_preset(preset)
    converter = keras_hub.layers.CLIPImageConverter.from_preset(preset)

    def run(images):
        import keras

        return keras.ops.convert_to_numpy(backbone.get_vision_embeddings(converter(images)))

    return FeatureModel("clip_vit_b32", weights, size, MODELS["clip_vit_b32"][0], run)
