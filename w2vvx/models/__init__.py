"""W2VV-family models: named configs, the builder and the two-tower ``W2VVModel``."""
from w2vvx.models.builder import (build_model, build_optimizer, build_text_encoder,
                                  build_visual_encoder)
from w2vvx.models.configs import NAMED_CONFIGS, ModelConfig, config_names, get_config
from w2vvx.models.w2vv import W2VVModel
from w2vvx.models.nrccr import NRCCRModel, NRCCRWeights, build_nrccr_model

__all__ = ["ModelConfig", "NAMED_CONFIGS", "NRCCRModel", "NRCCRWeights", "W2VVModel", "build_nrccr_model", "build_model", "build_optimizer",
           "build_text_encoder", "build_visual_encoder", "config_names", "get_config"]
