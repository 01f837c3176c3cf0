"""The NRCCR family (noise-robust cross-lingual cross-modal retrieval): backbone, weights and task."""
from w2vvx.models.nrccr.nrccr_backbone import NRCCRBackbone
from w2vvx.models.nrccr.nrccr_diagnostics import (alignment_rate, attention_alignment, cross_attention_map,
                                                  shared_block_gradient_norms, shared_block_gradients,
                                                  translation_ids)
from w2vvx.models.nrccr.nrccr_retriever import LANGUAGE_OUTPUTS, VIEWS, NRCCRRetriever, build_nrccr_model
from w2vvx.models.nrccr.nrccr_weights import ABLATIONS, LOSS_TERMS, TEACHERS, NRCCRWeights

__all__ = ["ABLATIONS", "LANGUAGE_OUTPUTS", "LOSS_TERMS", "NRCCRBackbone", "NRCCRRetriever", "NRCCRWeights", "TEACHERS",
           "VIEWS", "alignment_rate", "attention_alignment", "build_nrccr_model", "cross_attention_map",
           "shared_block_gradient_norms", "shared_block_gradients", "translation_ids"]
