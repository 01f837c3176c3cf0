"""Features from pixels: image folders and video frames into BigFiles (ResNet-152, CLIP via keras-hub)."""
from w2vvx.features.backbones import MODELS, FeatureModel, build_feature_model
from w2vvx.features.extract import extract_image_features
from w2vvx.features.images import image_id, list_images
from w2vvx.features.video import extract_video_features

__all__ = ["MODELS", "FeatureModel", "build_feature_model", "extract_image_features", "extract_video_features",
           "image_id", "list_images"]
