"""Models: named configs and sizes, the generic Backbone / Preprocessor / Task classes, one folder per family.

keras-hub style: a family folder (:mod:`w2vvx.models.w2vv`, :mod:`w2vvx.models.nrccr`) holds a
functional backbone (the towers, from hyperparameters), its preprocessor (raw sentences of each
language -> token inputs; vocabularies saved as assets) and its task (the loss, ``encode_text``,
``encode_items``, ``search``), each saveable as a preset folder (:mod:`w2vvx.models.presets`).
:func:`build_model` builds a compiled :class:`W2VVRetriever` from a :class:`ModelConfig`,
:func:`build_nrccr_model` an :class:`NRCCRRetriever`.
"""
from w2vvx.models.configs import NAMED_CONFIGS, ModelConfig, config_names, get_config
from w2vvx.models.sizes import SIZES, model_sizes, size_overrides, sized_config
from w2vvx.models.backbone import Backbone
from w2vvx.models.preprocessor import Preprocessor
from w2vvx.models.task import Task
from w2vvx.models.retriever import Retriever, predict_batches
from w2vvx.models.w2vv import (W2VVBackbone, W2VVPreprocessor, W2VVRetriever, build_loss, build_text_encoder,
                               build_visual_encoder, split_word_vectors)
from w2vvx.models.builder import build_model, build_optimizer
from w2vvx.models.nrccr import NRCCRBackbone, NRCCRRetriever, NRCCRWeights, build_nrccr_model

__all__ = ["Backbone", "ModelConfig", "NAMED_CONFIGS", "NRCCRBackbone", "NRCCRRetriever", "NRCCRWeights",
           "Preprocessor", "Retriever", "SIZES", "Task", "W2VVBackbone", "W2VVPreprocessor", "W2VVRetriever",
           "build_loss", "build_model", "build_nrccr_model", "build_optimizer", "build_text_encoder",
           "build_visual_encoder", "config_names", "get_config", "model_sizes", "predict_batches",
           "size_overrides", "sized_config", "split_word_vectors"]
