"""W2VV-family models: named configs and size presets, the backbone, the preprocessor and the retriever.

keras-hub style: :class:`W2VVBackbone` (the two towers, from hyperparameters),
:class:`W2VVPreprocessor` (raw sentences of each language -> token inputs; vocabularies saved as
assets) and :class:`W2VVRetriever` (the task: loss, ``encode_text``, ``encode_items``, ``search``).
:func:`build_model` builds a compiled retriever from a :class:`ModelConfig`.
"""
from w2vvx.models.configs import NAMED_CONFIGS, ModelConfig, config_names, get_config
from w2vvx.models.presets import SIZE_PRESETS, size_names, size_overrides, sized_config
from w2vvx.models.w2vv_backbone import W2VVBackbone, build_text_encoder, build_visual_encoder, split_word_vectors
from w2vvx.models.w2vv_preprocessor import W2VVPreprocessor
from w2vvx.models.w2vv import W2VVModel, build_loss, predict_batches
from w2vvx.models.w2vv_retriever import W2VVRetriever
from w2vvx.models.builder import build_model, build_optimizer
from w2vvx.models.nrccr import NRCCRModel, NRCCRWeights, build_nrccr_model

__all__ = ["ModelConfig", "NAMED_CONFIGS", "NRCCRModel", "NRCCRWeights", "SIZE_PRESETS", "W2VVBackbone", "W2VVModel",
           "W2VVPreprocessor", "W2VVRetriever", "build_loss", "build_model", "build_nrccr_model", "build_optimizer",
           "build_text_encoder", "build_visual_encoder", "config_names", "get_config", "predict_batches",
           "size_names", "size_overrides", "sized_config", "split_word_vectors"]
