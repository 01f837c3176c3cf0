"""The W2VV family (W2VV, W2VV++, COCO-CN's models): backbone, preprocessor and retriever task."""
from w2vvx.models.w2vv.w2vv_backbone import (TEXT_INPUTS, W2VVBackbone, build_text_encoder, build_text_head,
                                             build_visual_encoder, split_word_vectors)
from w2vvx.models.w2vv.w2vv_preprocessor import W2VVPreprocessor
from w2vvx.models.w2vv.w2vv_retriever import W2VVRetriever, build_loss

__all__ = ["TEXT_INPUTS", "W2VVBackbone", "W2VVPreprocessor", "W2VVRetriever", "build_loss", "build_text_encoder",
           "build_text_head", "build_visual_encoder", "split_word_vectors"]
