"""The W2VV backbone: text and visual towers from hyperparameters, :class:`W2VVBackbone`.

One text tower for the whole family: :func:`build_text_encoder` (multi-scale sentence vector, then
:func:`build_text_head`, the mapping and projection). A model that pools the token states its own
way (NRCCR) passes a ``token_pooling`` layer; it then gets the token states, their mask and the
other sentence-vector parts as outputs of the same functional model, and runs other sentence vectors
through the same head.
"""
from __future__ import annotations

import logging

import keras
import numpy as np

from w2vvx.errors import ConfigError
from w2vvx.layers import CommonSpaceProjection, MultiScaleTextEncoder, TextToVisualMapping, VisualEncoder
from w2vvx.layers.token_states import MultiScaleTokenEncoder
from w2vvx.models.backbone import Backbone
from w2vvx.models.configs import ModelConfig

TEXT_INPUTS = ("tokens", "bow_tokens")
#: the preprocessor's ids of the word-vector vocabulary (``ModelConfig.w2v_words`` "pretrained*")
W2V_TOKENS = "w2v_tokens"

logger = logging.getLogger(__name__)


def w2v_input(config: ModelConfig, w2v_vocab_size=None) -> str:
    """The input the word2vec branch averages: ``"w2v_tokens"`` when ``config.w2v_words`` asks for the
    word-vector vocabulary and it is given (``w2v_vocab_size``), else ``config.w2v_source``.

    A model built by hand without that vocabulary (no preprocessor, no ``w2v_vocab_size``) keeps the
    BoW words, with a logged warning; runs of the trainer always carry it (``prepare_text``).

    Example:
        >>> from w2vvx.models import get_config
        >>> w2v_input(get_config("base_w2vv"), w2v_vocab_size=40), w2v_input(get_config("nrccr"), 40)
        ('w2v_tokens', 'bow_tokens')
    """
    if config.w2v_words == "bow" or "w2v" not in config.text_branches:
        return config.w2v_source
    if w2v_vocab_size is None:
        logger.warning("w2v_words=%r but no word-vector vocabulary (w2v_vocab_size) was given: the word2vec branch "
                       "averages the BoW words instead; build the model with the run's preprocessor "
                       "(prepare_text builds that vocabulary)", config.w2v_words)
        return config.w2v_source
    return W2V_TOKENS


def text_input_names(config: ModelConfig, w2v_vocab_size=None) -> tuple:
    """The token inputs of the text tower: ``("tokens", "bow_tokens")`` plus ``"w2v_tokens"`` when read."""
    return TEXT_INPUTS + ((W2V_TOKENS,) if w2v_input(config, w2v_vocab_size) == W2V_TOKENS else ())


def split_word_vectors(word_vectors, config: ModelConfig, w2v_source=None):
    """Return ``(GRU embedding init, mean-word2vec init)`` from ``word_vectors``.

    Args:
        word_vectors: ``None``, one ``(gru_vocab_size, embed_dim)`` matrix (GRU embedding) or a dict
            ``{"tokens": ..., "bow_tokens": ...[, "w2v_tokens": ...]}`` with one matrix per vocabulary.
        config: the :class:`ModelConfig` whose branches use them.
        w2v_source: the input the word2vec branch reads (default: :func:`w2v_input` of ``config``).

    Example:
        >>> from w2vvx.models import get_config
        >>> gru, w2v = split_word_vectors(np.zeros((5, 8)), get_config("w2vvpp", embed_dim=8, text_branches=("gru",)))
        >>> gru.shape, w2v
        ((5, 8), None)
    """
    if word_vectors is None:
        return None, None
    if not isinstance(word_vectors, dict):
        word_vectors = {"tokens": word_vectors}
    unknown = set(word_vectors) - set(TEXT_INPUTS + (W2V_TOKENS,))
    if unknown:
        raise ConfigError(f"word_vectors keys must be 'tokens' (GRU vocabulary rows), 'bow_tokens' (BoW vocabulary "
                          f"rows) and/or 'w2v_tokens' (word-vector vocabulary rows), got {sorted(unknown)}")
    source = w2v_source or config.w2v_source
    gru_init = word_vectors.get("tokens") if "gru" in config.text_branches else None
    w2v_init = None
    if "w2v" in config.text_branches:
        w2v_init = word_vectors.get(source)
        if w2v_init is None:
            raise ConfigError(
                f"the word2vec branch averages {source!r} ids, so word_vectors needs a matrix "
                f"for that vocabulary: pass word_vectors={{'tokens': ..., {source!r}: ...}} "
                "(w2vvx.text.embedding_matrix builds one per vocabulary)")
    if gru_init is not None and np.shape(gru_init)[1] != config.embed_dim:
        raise ConfigError(f"word_vectors['tokens'] has {np.shape(gru_init)[1]} columns but embed_dim is "
                          f"{config.embed_dim}; set embed_dim to the word-vector dimension")
    return gru_init, w2v_init


def build_text_head(config: ModelConfig, input_dim: int, output_dim: int, name: str = "text_head",
                    bow_vocab_size=None, bow_offset: int = 0) -> keras.Model:
    """Functional model sentence vector → ``(B, E)`` text embedding.

    W2VV: the MLP into the visual space (``output_dim``); W2VV++: optional hidden layers, then the
    common-space projection (``config.common_space_dim``; ``output_dim`` ignored).

    Without ``bow_vocab_size`` the input is the ``(B, input_dim)`` sentence vector. With it, the
    sentence vector's bag-of-words block (``bow_vocab_size`` columns after ``bow_offset`` dense
    ones) comes as its ids: the input is ``{"sentence": (B, input_dim) dense columns, "bow_tokens":
    (B, L) ids}`` (``"sentence"`` absent when ``input_dim`` is 0), and the head's first Dense is a
    :class:`~w2vvx.layers.BagOfWordsDense`, which sums the words' kernel rows instead of multiplying
    the mostly-zero counts.

    Example:
        >>> from w2vvx.models import get_config
        >>> build_text_head(get_config("w2vvpp", common_space_dim=16), 10, output_dim=12).output.shape
        (None, 16)
        >>> sorted(build_text_head(get_config("w2vvpp", common_space_dim=16), 10, 12, bow_vocab_size=30).input)
        ['bow_tokens', 'sentence']
    """
    bow = {} if bow_vocab_size is None else {"bow_vocab_size": bow_vocab_size, "bow_offset": bow_offset}
    inputs = head_inputs(
        keras.Input(shape=(input_dim,), dtype="float32", name="sentence") if input_dim or not bow else None,
        keras.Input(shape=(None,), dtype="int32", name="bow_tokens") if bow else None)
    if config.common_space_dim is None:
        embedding = TextToVisualMapping(
            hidden_units=config.text_mlp, output_dim=output_dim, activation=config.activation,
            output_activation=config.output_activation, dropout=config.dropout, name="mapping", **bow)(inputs)
    else:
        hidden = inputs
        if config.text_mlp:
            hidden = TextToVisualMapping(
                hidden_units=config.text_mlp[:-1], output_dim=config.text_mlp[-1],
                activation=config.activation, output_activation=config.activation,
                dropout=config.dropout, name="mapping", **bow)(inputs)
            bow = {}
        embedding = CommonSpaceProjection(
            config.common_space_dim, activation=config.space_activation, dropout=config.dropout,
            batch_norm=config.batch_norm, name="projection", **bow)(hidden)
    return keras.Model(inputs, embedding, name=name)


def head_inputs(sentence, bow_tokens):
    """The input of :func:`build_text_head`'s model: the sentence vector's dense columns (``None`` when
    there are none), with the BoW ids (``None`` when the head takes no BoW block).

    Example:
        >>> sorted(head_inputs("dense columns", "ids")), head_inputs("sentence vector", None)
        (['bow_tokens', 'sentence'], 'sentence vector')
    """
    if bow_tokens is None:
        return sentence
    return {"bow_tokens": bow_tokens} if sentence is None else {"sentence": sentence, "bow_tokens": bow_tokens}


def build_text_encoder(config: ModelConfig, gru_vocab_size, bow_vocab_size, output_dim: int,
                       word_vectors=None, token_pooling=None, name: str = "text_encoder",
                       w2v_vocab_size=None) -> keras.Model:
    """Functional text model ``{"tokens", "bow_tokens"[, "w2v_tokens"]} → (B, E)``.

    ``w2v_vocab_size``: rows of the word-vector vocabulary (the ``w2v_tokens`` input, read when
    ``config.w2v_words`` is ``"pretrained"`` or ``"pretrained_unique"``; see :func:`w2v_input`).

    ``output_dim`` is the visual dimension (W2VV) or ignored in favour of
    ``config.common_space_dim`` (W2VV++).

    With ``token_pooling`` (a layer ``(token_states, token_mask) → (B, H)``, e.g.
    :class:`~w2vvx.layers.AttentionMeanPooling`) the GRU part of the sentence vector is that pooling
    of the token states, and the model outputs a dict: ``"embedding"``, ``"token_states"``
    ``(B, L, H)``, ``"token_mask"`` ``(B, L)``, ``"context"`` (the word2vec part, when present);
    its layer ``"text_head"`` maps any sentence vector of that width (with the BoW ids, when the
    config has that branch: see :func:`build_text_head`) to the embedding.

    Example:
        >>> from w2vvx.models import get_config
        >>> config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> build_text_encoder(config, 30, 20, output_dim=12).output.shape
        (None, 16)
    """
    source = w2v_input(config, w2v_vocab_size)
    gru_init, w2v_init = split_word_vectors(word_vectors, config, source)
    w2v_dim = config.w2v_dim if w2v_init is None else int(np.shape(w2v_init)[1])
    inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key)
              for key in text_input_names(config, w2v_vocab_size)}
    settings = dict(
        branches=config.text_branches, gru_vocab_size=gru_vocab_size, bow_vocab_size=bow_vocab_size,
        embed_dim=config.embed_dim, units=config.gru_units, bidirectional=config.bidirectional,
        pooling=config.pooling, dropout=config.dropout, embedding_trainable=config.we_trainable,
        attention_mask_padding=config.attention_mask_padding, gru_padding=config.gru_padding, w2v_dim=w2v_dim,
        w2v_source=source, w2v_trainable=config.w2v_trainable, w2v_vocab_size=w2v_vocab_size,
        w2v_unique=source == W2V_TOKENS and config.w2v_words == "pretrained_unique",
        gru_embeddings=gru_init, w2v_embeddings=w2v_init, name="multiscale")
    # the BoW block reaches the head as its ids (BagOfWordsDense); the other branches as dense columns
    settings["branches"] = tuple(branch for branch in config.text_branches if branch != "bow")
    bow = {"bow_vocab_size": bow_vocab_size} if "bow" in config.text_branches else {}
    bow_tokens = inputs["bow_tokens"] if bow else None
    if token_pooling is None:
        if not settings["branches"]:
            head = build_text_head(config, 0, output_dim, **bow)
            return keras.Model(inputs, head(head_inputs(None, bow_tokens)), name=name)
        multiscale = MultiScaleTextEncoder(**settings)
        if bow:
            bow["bow_offset"] = multiscale.gru.output_dim if multiscale.gru is not None else 0
        head = build_text_head(config, multiscale.output_dim, output_dim, **bow)
        return keras.Model(inputs, head(head_inputs(multiscale(inputs), bow_tokens)), name=name)
    multiscale = MultiScaleTokenEncoder(**settings)
    parts = multiscale(inputs)
    sentence = token_pooling(parts["token_states"], parts["token_mask"])
    if "context" in parts:
        sentence = keras.layers.Concatenate(name="sentence_vector")([sentence, parts["context"]])
    if bow:
        bow["bow_offset"] = multiscale.state_dim
    head = build_text_head(config, multiscale.output_dim, output_dim, **bow)
    return keras.Model(inputs, {"embedding": head(head_inputs(sentence, bow_tokens)), **parts}, name=name)


def build_visual_encoder(config: ModelConfig, visual_dim: int, frames: bool = False,
                         name: str = "visual_encoder") -> keras.Model:
    """Functional visual model ``(B, D)`` (or ``(B, T, D)`` when ``frames``) → ``(B, E)``.

    Example:
        >>> from w2vvx.models import get_config
        >>> build_visual_encoder(get_config("w2vvpp", common_space_dim=16), visual_dim=12).output.shape
        (None, 16)
    """
    features = keras.Input(shape=(None, visual_dim) if frames else (visual_dim,), dtype="float32", name="visual")
    encoded = _nrccr_visual_layer(config, frames)(features) if config.visual_encoder != "mean" else features
    embedding = VisualEncoder(common_space_dim=config.common_space_dim, activation=config.space_activation,
                              dropout=config.dropout, batch_norm=config.batch_norm, name="visual_projection")(encoded)
    return keras.Model(features, embedding, name=name)


def _nrccr_visual_layer(config: ModelConfig, frames: bool):
    """NRCCR's visual layer before the projection (``config.visual_encoder``; nrccr ``model.py`` 82-129)."""
    from w2vvx.layers.frame_transformer import FrameTransformerEncoder
    from w2vvx.layers.image_projection import ReLUImageProjection

    if config.common_space_dim is None:
        raise ConfigError(f"visual_encoder={config.visual_encoder!r} changes the visual size, so it needs a common "
                          "space (common_space_dim); W2VV's regression into the visual space takes 'mean'")
    if config.visual_encoder == "nrccr_frames":
        if not frames:
            raise ConfigError("visual_encoder='nrccr_frames' encodes (N, T, D) frame features; give frame-level "
                              "features (w2vvx.datasets.batching_frames.FrameSequenceFeatures over video2frames.txt "
                              "and the frame BigFile) or use visual_encoder='mean'")
        return FrameTransformerEncoder(hidden_dim=config.visual_hidden_dim, num_heads=config.visual_heads,
                                       max_frames=config.max_frames, max_positions=max(80, config.max_frames),
                                       name="frame_transformer")
    if frames:
        raise ConfigError("visual_encoder='nrccr_image' encodes (N, D) image features, not frame sequences; use "
                          "'nrccr_frames' or 'mean' for frames")
    return ReLUImageProjection(name="image_projection")


@keras.saving.register_keras_serializable(package="w2vvx")
class W2VVBackbone(Backbone):
    """The text and visual towers of a W2VV-family model, built from hyperparameters (functional).

    Inputs ``{"tokens", "bow_tokens"}`` (``(B, L)`` int32, post-padded, 0 = padding) and ``"visual"``
    (``(B, D)`` features, or ``(B, T, D)`` frames); outputs ``{"text": (B, E), "visual": (B, E)}``.
    The sub-models ``text_encoder`` and ``visual_encoder`` encode one side alone (what
    ``encode_text`` / ``encode_items`` run). The backbone knows no loss and no tokenizer:
    :class:`~w2vvx.models.W2VVRetriever` adds them.

    Args:
        model_config: a :class:`ModelConfig` (or its dict) giving the architecture.
        gru_vocab_size: rows of the GRU vocabulary (padding included); needed with the "gru" branch.
        bow_vocab_size: rows of the BoW vocabulary; needed with "bow" (and "w2v" on ``bow_tokens``).
        visual_dim: visual feature dimension D.
        frames: visual inputs are ``(B, T, D)`` frame features; also set by ``model_config.frames``.
        word_vectors: optional initial word vectors (see :func:`split_word_vectors`); not part of
            the config (the trained weights are saved instead).
        w2v_vocab_size: rows of the word-vector vocabulary (``w2v_tokens``, read when
            ``model_config.w2v_words`` is ``"pretrained"``/``"pretrained_unique"``).

    Example:
        >>> from w2vvx.models import get_config
        >>> config = get_config("w2vvpp", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> backbone = W2VVBackbone(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12)
        >>> out = backbone({"tokens": np.ones((2, 4), "int32"), "bow_tokens": np.ones((2, 4), "int32"),
        ...                 "visual": np.zeros((2, 12), "float32")})
        >>> tuple(out["text"].shape), tuple(out["visual"].shape)
        ((2, 16), (2, 16))
    """

    def __init__(self, model_config, gru_vocab_size=None, bow_vocab_size=None, visual_dim: int = 2048,
                 frames: bool = False, word_vectors=None, w2v_vocab_size=None, **kwargs):
        model_config, visual_dim, frames = check_settings(model_config, visual_dim, frames)
        text_encoder = build_text_encoder(model_config, gru_vocab_size, bow_vocab_size, visual_dim, word_vectors,
                                          w2v_vocab_size=w2v_vocab_size)
        self._init_towers(model_config, gru_vocab_size, bow_vocab_size, visual_dim, frames, text_encoder,
                          text_encoder, **kwargs)
        self.w2v_vocab_size = None if w2v_vocab_size is None else int(w2v_vocab_size)

    def _init_towers(self, model_config, gru_vocab_size, bow_vocab_size, visual_dim, frames, text_encoder,
                     text_model, **kwargs):
        """Wire the functional backbone (``text_encoder``: tokens → embedding) and set the attributes.

        ``text_model`` is the text sub-model the subclass keeps (the same as ``text_encoder`` here).
        """
        visual_encoder = build_visual_encoder(model_config, visual_dim, frames)
        names = tuple(text_encoder.input) if isinstance(text_encoder.input, dict) else TEXT_INPUTS
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key) for key in names}
        inputs["visual"] = keras.Input(shape=tuple(visual_encoder.inputs[0].shape[1:]), dtype="float32",
                                       name="visual")
        outputs = {"text": text_encoder({key: inputs[key] for key in names}),
                   "visual": visual_encoder(inputs["visual"])}
        kwargs.setdefault("name", "backbone")
        Backbone.__init__(self, inputs=inputs, outputs=outputs, **kwargs)
        self.text_input_names = names
        self.model_config = model_config
        self.gru_vocab_size = None if gru_vocab_size is None else int(gru_vocab_size)
        self.bow_vocab_size = None if bow_vocab_size is None else int(bow_vocab_size)
        self.visual_dim = visual_dim
        self.frames = frames
        self.text_encoder = text_encoder
        self.visual_encoder = visual_encoder
        self.w2v_vocab_size = None  # W2VVBackbone sets it when the word2vec branch reads w2v_tokens

    @property
    def embedding_dim(self) -> int:
        """E: the size of both towers' outputs."""
        return int(self.visual_encoder.output.shape[-1])

    def get_config(self):
        return {**super().get_config(), "model_config": self.model_config.to_dict(),
                "gru_vocab_size": self.gru_vocab_size, "bow_vocab_size": self.bow_vocab_size,
                "visual_dim": self.visual_dim, "frames": self.frames,
                **({"w2v_vocab_size": self.w2v_vocab_size} if self.w2v_vocab_size is not None else {})}


def check_settings(model_config, visual_dim, frames):
    """``(ModelConfig, visual_dim, frames)`` checked: a config (or its dict) and a positive visual size."""
    if isinstance(model_config, dict):
        model_config = ModelConfig.from_dict(model_config)
    if not isinstance(model_config, ModelConfig):
        raise ConfigError(f"model_config must be a ModelConfig (see w2vvx.models.get_config), got "
                          f"{type(model_config).__name__}")
    if isinstance(visual_dim, bool) or not isinstance(visual_dim, (int, np.integer)) or visual_dim <= 0:
        raise ConfigError(f"visual_dim must be a positive integer, got {visual_dim!r}")
    return model_config, int(visual_dim), bool(frames or model_config.frames)
