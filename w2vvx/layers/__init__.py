"""Keras layers of w2vvx (serializable, ``keras.ops`` only, token id 0 = padding)."""
from w2vvx.layers.attention_pooling import AttentionPooling
from w2vvx.layers.bow import BagOfWords
from w2vvx.layers.bow_dense import BagOfWordsDense
from w2vvx.layers.gru_encoder import GRUTextEncoder
from w2vvx.layers.mapping import CommonSpaceProjection, TextToVisualMapping
from w2vvx.layers.mean_word2vec import MeanWordEmbedding
from w2vvx.layers.multiscale import MultiScaleTextEncoder
from w2vvx.layers.normalize import L2Normalize, l2_normalize
from w2vvx.layers.temperature import LearnableTemperature
from w2vvx.layers.visual import VisualEncoder
from w2vvx.layers.cross_attention import AttentionMeanPooling, CrossAttention, CrossAttentionPseudoTarget
from w2vvx.layers.language_discriminator import LanguageDiscriminator
from w2vvx.layers.token_states import MultiScaleTokenEncoder
from w2vvx.layers.recurrent import MaskedGRU

__all__ = [
    "AttentionMeanPooling", "AttentionPooling", "BagOfWords", "BagOfWordsDense", "CommonSpaceProjection", "CrossAttention", "CrossAttentionPseudoTarget",
    "GRUTextEncoder", "L2Normalize", "LanguageDiscriminator", "MaskedGRU",
    "LearnableTemperature", "MeanWordEmbedding", "MultiScaleTextEncoder", "MultiScaleTokenEncoder", "TextToVisualMapping",
    "VisualEncoder", "l2_normalize",
]
