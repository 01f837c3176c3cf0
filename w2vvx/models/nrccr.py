"""NRCCR on the W2VV encoders: noise-robust cross-lingual cross-modal retrieval.

Wang et al., "Cross-Lingual Cross-Modal Retrieval with Noise-Robust Learning" (ACM MM 2022),
repository HuiGuanLab/nrccr (``model.py``, ``loss.py``, ``transformer_cross.py``). NRCCR shares one
text encoder (mBERT, then one attention block, mean pooling) between the source language (English) and
the machine-translated (MT) target language; here the shared encoder is the multi-scale W2VV text
encoder over one joint vocabulary of both languages, with one attention block over the GRU states
(self-attention, residual) before the mean pooling. The same block, in cross mode (no residual), with
the source-token GRU states as queries and the MT-token GRU states as keys/values, provides a soft
pseudo target (the "cross" embedding) for the noisy MT sentence (NRCCR ``Text_share.forward``).

For a batch of aligned ``(source caption, its MT, its back-translation, visual)`` quadruples, with
every embedding L2-normalised in the common space::

    L = w_src·Tri(src, v) + α·Tri(tgt, v) + β·SimDistill(v; tgt ← cross) + γ·SmoothL1(tgt, cross)
        + w_bt·Tri(src, back-translation)

``Tri`` is the VSE++ max-violation hinge (margin 0.2, both directions, summed over the batch);
``SimDistill`` the similarity-view distillation (τ = 0.07, teacher stop-gradient, v→t and t→v averaged);
``SmoothL1`` (β = 4, mean) the feature view, with the gradient reaching the cross branch as in NRCCR.
Defaults α = 0.6, β = 0.4, γ = 0.1, w_bt = 0.5 (NRCCR ``do_all_*.sh``). A weight of 0 removes its term
and the computation it needs (no cross-attention without β and γ, no back-translation encoding without
w_bt), so each ablation is one setting.

Sharing the attention block matters: the similarity view's teacher is detached and the feature view is
about 1e-4 of the loss (SmoothL1 with β = 4 on unit vectors is ``‖tgt − cross‖² / (8·D)``), so a
separate cross-attention (``NRCCRWeights(shared_attention=False)``) stays close to its random
initialisation and the teacher it gives is a worse ranker than the student (docs/nrccr.md).

Differences from NRCCR, on purpose: the cross vector is projected into the common space by the text
projection itself, with the GRU part of the MT sentence vector replaced by the cross-attention pooling
(``[cross ‖ BoW(MT) ‖ word2vec(MT)]``; NRCCR's sentence vector is the mBERT pooling alone); the
cross-attention reads the GRU states (NRCCR: the projected mBERT token features); the
language-adversarial term of NRCCR's code is not implemented.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional

import keras
import numpy as np
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers import CommonSpaceProjection, MultiScaleTextEncoder, TextToVisualMapping
from w2vvx.layers.cross_attention import CrossAttention, CrossAttentionPseudoTarget
from w2vvx.layers.device_math import filled_like
from w2vvx.layers.masking import masked_mean
from w2vvx.losses.distillation import feature_distillation_loss, similarity_distillation_loss
from w2vvx.losses.triplet import TripletRankingLoss
from w2vvx.models.builder import build_optimizer
from w2vvx.models.w2vv_backbone import build_visual_encoder, split_word_vectors
from w2vvx.models.configs import ModelConfig
from w2vvx.models.w2vv import W2VVModel

#: The training inputs: source, MT and back-translation token ids (``(B, L)`` int32 each) and ``visual``.
VIEWS = ("src", "mt", "bt")
LOSS_TERMS = ("source", "target", "similarity", "feature", "backtranslation")


@dataclasses.dataclass(frozen=True)
class NRCCRWeights:
    """Weights of the NRCCR loss terms (0 switches a term off) and their hyperparameters.

    Args:
        source: weight of ``Tri(src, v)`` (1 in NRCCR).
        target: α, weight of ``Tri(tgt, v)`` on the machine-translated sentences (0.6).
        similarity: β, similarity-view distillation (0.4).
        feature: γ, feature-view distillation (0.1).
        backtranslation: w_bt, ``Tri(src, back-translation)`` (0.5).
        tau: temperature of the similarity view (0.07).
        smooth_l1_beta: SmoothL1 threshold of the feature view (4).
        margin: triplet margin (0.2).
        num_heads: cross-attention heads (8; must divide the GRU state size).
        key_dim: cross-attention query/key size; ``None`` = the GRU state size.
        shared_attention: the text encoder pools its GRU states through a self-attention block whose
            weights the cross-attention shares, as NRCCR's ``Text_share`` (True). False: plain mean
            pooling and a separate cross-attention, which then learns only from the feature view.

    Example:
        >>> NRCCRWeights().replace(similarity=0.0).active_terms()
        ('source', 'target', 'feature', 'backtranslation')
    """

    source: float = 1.0
    target: float = 0.6
    similarity: float = 0.4
    feature: float = 0.1
    backtranslation: float = 0.5
    tau: float = 0.07
    smooth_l1_beta: float = 4.0
    margin: float = 0.2
    num_heads: int = 8
    key_dim: Optional[int] = None
    shared_attention: bool = True

    def __post_init__(self):
        for name in LOSS_TERMS + ("margin",):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"NRCCR weight {name!r} must be a number >= 0, got {value!r}")
        for name in ("tau", "smooth_l1_beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"NRCCR {name} must be a number > 0, got {value!r}")
        if isinstance(self.num_heads, bool) or not isinstance(self.num_heads, int) or self.num_heads < 1:
            raise ConfigError(f"num_heads must be a positive integer, got {self.num_heads!r}")
        if self.key_dim is not None and (not isinstance(self.key_dim, int) or self.key_dim < 1):
            raise ConfigError(f"key_dim must be None or a positive integer, got {self.key_dim!r}")
        if not isinstance(self.shared_attention, bool):
            raise ConfigError(f"shared_attention must be True or False, got {self.shared_attention!r}")
        if not any(getattr(self, name) for name in ("source", "target", "backtranslation")):
            raise ConfigError("at least one of the source, target and backtranslation weights must be > 0: "
                              "the distillation terms alone do not train the visual side")

    def replace(self, **changes) -> "NRCCRWeights":
        """A copy with ``changes`` (unknown names raise ConfigError)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown NRCCR setting(s) {sorted(unknown)}; known: "
                              f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def active_terms(self) -> tuple:
        """Names of the loss terms with a positive weight, in LOSS_TERMS order."""
        return tuple(name for name in LOSS_TERMS if getattr(self, name) > 0)

    @property
    def needs_cross(self) -> bool:
        return self.similarity > 0 or self.feature > 0

    @property
    def needs_translation(self) -> bool:
        return self.target > 0 or self.needs_cross

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Optional[dict]) -> "NRCCRWeights":
        if data is None:
            return cls()
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise ConfigError(f"NRCCR weights must be a dict or NRCCRWeights, got {type(data).__name__}")
        return cls().replace(**data)


#: The ablation rows of ``benchmarks/bench_nrccr_ablation.py`` as weight settings.
ABLATIONS: Dict[str, NRCCRWeights] = {
    "mt_only": NRCCRWeights(source=0.0, target=1.0, similarity=0.0, feature=0.0, backtranslation=0.0),
    "src_mt": NRCCRWeights(similarity=0.0, feature=0.0, backtranslation=0.0),
    "src_mt_bt": NRCCRWeights(similarity=0.0, feature=0.0),
    "src_mt_bt_sim": NRCCRWeights(feature=0.0),
    "src_mt_bt_feat": NRCCRWeights(similarity=0.0),
    "nrccr_no_bt": NRCCRWeights(backtranslation=0.0),
    "nrccr": NRCCRWeights(),
}


@keras.saving.register_keras_serializable(package="w2vvx")
class NRCCRTextEncoder(keras.layers.Layer):
    """The shared multi-scale text encoder that can also return its per-token GRU states.

    ``call(inputs)`` maps ``{"tokens", "bow_tokens"}`` to the L2-normalised common-space embedding
    (as the W2VV++ text encoder). :meth:`encode` additionally returns the GRU states ``(B, L, H)``,
    the padding mask and the sentence-vector parts after the GRU (BoW, word2vec), which the
    cross-attention pseudo target needs; :meth:`project` maps a sentence vector to the common space.

    Args:
        multiscale: a :class:`MultiScaleTextEncoder` with the "gru" branch and ``pooling="mean"``.
        projection: the :class:`CommonSpaceProjection`.
        mapping: optional :class:`TextToVisualMapping` hidden layers before the projection.
        attention: optional :class:`~w2vvx.layers.cross_attention.CrossAttention` applied to the GRU
            states as self-attention (residual mode) before the mean pooling, as NRCCR's text encoder;
            the NRCCR model shares it with its cross-attention.

    Example:
        >>> import numpy as np
        >>> from w2vvx.layers import CommonSpaceProjection, MultiScaleTextEncoder
        >>> ms = MultiScaleTextEncoder(("gru",), gru_vocab_size=9, embed_dim=4, units=4, pooling="mean")
        >>> enc = NRCCRTextEncoder(ms, CommonSpaceProjection(6))
        >>> ids = np.array([[2, 3, 0]], "int32")
        >>> tuple(enc({"tokens": ids, "bow_tokens": ids}).shape)
        (1, 6)
    """

    def __init__(self, multiscale, projection, mapping=None, attention=None, **kwargs):
        super().__init__(**kwargs)
        multiscale, projection, mapping, attention = (
            keras.saving.deserialize_keras_object(part) if isinstance(part, dict) else part
            for part in (multiscale, projection, mapping, attention))
        if attention is not None and not isinstance(attention, CrossAttention):
            raise ConfigError(f"attention must be a CrossAttention layer or None, got {type(attention).__name__}")
        if not isinstance(multiscale, MultiScaleTextEncoder) or multiscale.gru is None:
            raise ConfigError("NRCCRTextEncoder needs a MultiScaleTextEncoder with the 'gru' branch "
                              "(the cross-attention reads its token states)")
        if multiscale.gru.pooling != "mean" or multiscale.gru.bidirectional:
            raise ConfigError(f"NRCCR reads the GRU token states, so it needs pooling='mean' and a "
                              f"unidirectional GRU; got pooling={multiscale.gru.pooling!r}, "
                              f"bidirectional={multiscale.gru.bidirectional}")
        self.multiscale = multiscale
        self.projection = projection
        self.mapping = mapping
        self.attention = attention

    @property
    def state_dim(self) -> int:
        return self.multiscale.gru.output_dim

    def build(self, input_shape):
        if not self.multiscale.built:
            self.multiscale.build(input_shape)
        if self.attention is not None and not self.attention.built:
            states = (input_shape["tokens"][0], None, self.state_dim)
            self.attention.build(states, states)
        width = (input_shape["tokens"][0], self.multiscale.output_dim)
        if self.mapping is not None:
            if not self.mapping.built:
                self.mapping.build(width)
            width = self.mapping.compute_output_shape(width)
        if not self.projection.built:
            self.projection.build(width)
        self.built = True

    def encode(self, inputs, training=None):
        """``(states (B, L, H), mask (B, L), other_parts)``: GRU states and the non-GRU sentence parts."""
        states, mask = self.multiscale.gru.token_states(inputs["tokens"], training=training)
        # zero the padded steps (the GRU repeats its last state there); this also drops the Keras mask
        # attached to the states, which the cross-attention takes as explicit masks instead
        states = states * ops.cast(mask, states.dtype)[:, :, None]
        others = []
        if self.multiscale.bow is not None:
            others.append(self.multiscale.bow(inputs["bow_tokens"]))
        if self.multiscale.w2v is not None:
            others.append(self.multiscale.w2v(inputs[self.multiscale.w2v_source]))
        return states, mask, others

    def pool(self, states, mask, training=None):
        """Sentence vector of the GRU states: masked mean, after the self-attention block when there is one."""
        if self.attention is not None:
            states = self.attention(states, states, query_mask=mask, value_mask=mask, training=training,
                                    residual=True)
        return masked_mean(states, mask)

    def project(self, gru_vector, others, training=None):
        """Common-space embedding of ``[gru_vector ‖ others]``."""
        sentence = ops.concatenate([gru_vector] + list(others), axis=-1) if others else gru_vector
        if self.mapping is not None:
            sentence = self.mapping(sentence, training=training)
        return self.projection(sentence, training=training)

    def call(self, inputs, training=None):
        states, mask, others = self.encode(inputs, training=training)
        return self.project(self.pool(states, mask, training=training), others, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape["tokens"][0], self.projection.units)

    def get_config(self):
        config = super().get_config()
        config.update({"multiscale": keras.saving.serialize_keras_object(self.multiscale),
                       "projection": keras.saving.serialize_keras_object(self.projection),
                       "mapping": None if self.mapping is None else keras.saving.serialize_keras_object(self.mapping),
                       "attention": None if self.attention is None
                       else keras.saving.serialize_keras_object(self.attention)})
        return config


def _view(inputs, view: str):
    return {"tokens": inputs[f"{view}_tokens"], "bow_tokens": inputs[f"{view}_bow_tokens"]}


@keras.saving.register_keras_serializable(package="w2vvx")
class NRCCRModel(W2VVModel):
    """The cross-lingual NRCCR model (one shared text encoder, visual encoder, cross-attention).

    Build it with :func:`build_nrccr_model`. Retrieval works as with :class:`W2VVModel`:
    ``text_encoder`` (any language of the joint vocabulary) and ``visual_encoder``,
    ``encode_text`` / ``encode_visual``.

    Training inputs (``fit`` x, no y): ``src_tokens``, ``src_bow_tokens`` (source captions),
    ``mt_tokens``, ``mt_bow_tokens`` (their machine translations), ``bt_tokens``, ``bt_bow_tokens``
    (their back-translations; only needed when ``weights.backtranslation > 0``) and ``visual``.
    ``call`` returns the embeddings ``source``, ``target``, ``backtranslation``, ``cross`` and
    ``visual`` that the active loss terms need; :meth:`loss_terms` gives each weighted term.

    Args:
        text_encoder: functional model ``{"tokens", "bow_tokens"} → (B, E)`` wrapping an
            :class:`NRCCRTextEncoder`.
        visual_encoder: functional model ``(B, D) → (B, E)``.
        cross: the :class:`CrossAttentionPseudoTarget` layer.
        weights: :class:`NRCCRWeights`.
        build_settings: the arguments of :func:`build_nrccr_model` (for ``get_config``).
    """

    def __init__(self, text_encoder, visual_encoder, cross, weights: NRCCRWeights, build_settings=None, **kwargs):
        triplet = TripletRankingLoss(margin=weights.margin, max_violation=True, direction="both", reduction="sum")
        super().__init__(text_encoder, visual_encoder, triplet, build_settings=build_settings, **kwargs)
        self.cross = cross
        self.nrccr_weights = weights
        self.shared_encoder = next(layer for layer in text_encoder.layers if isinstance(layer, NRCCRTextEncoder))
        # per-epoch means of each weighted loss term and of the view agreements (keys of fit's logs and of
        # the trainer's history.csv): loss_<term> for the active terms, cos_target_cross (mean cosine of
        # the MT embedding and its cross-attention pseudo target), cos_source_backtranslation
        self.term_trackers = [keras.metrics.Mean(name=f"loss_{term}") for term in weights.active_terms()]
        self.view_trackers = []
        if weights.needs_cross:
            self.view_trackers.append(keras.metrics.Mean(name="cos_target_cross"))
        if weights.backtranslation:
            self.view_trackers.append(keras.metrics.Mean(name="cos_source_backtranslation"))

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict):
            raise ConfigError(f"NRCCRModel expects a dict of inputs, got {type(inputs).__name__}")
        if "src_tokens" not in inputs:
            return super().call(inputs, training=training)
        weights = self.nrccr_weights
        needed = ["src"] + (["mt"] if weights.needs_translation else []) + (["bt"] if weights.backtranslation else [])
        missing = [f"{view}_{key}" for view in needed for key in ("tokens", "bow_tokens")
                   if f"{view}_{key}" not in inputs]
        if missing:
            raise ConfigError(f"NRCCR training inputs lack {missing} (active terms {weights.active_terms()}); "
                              f"got {sorted(inputs)}")
        encoder = self.shared_encoder
        outputs = {}
        src_states, src_mask, src_others = encoder.encode(_view(inputs, "src"), training=training)
        outputs["source"] = encoder.project(encoder.pool(src_states, src_mask, training=training), src_others,
                                            training=training)
        if weights.needs_translation:
            mt_states, mt_mask, mt_others = encoder.encode(_view(inputs, "mt"), training=training)
            outputs["target"] = encoder.project(encoder.pool(mt_states, mt_mask, training=training), mt_others,
                                                training=training)
            if weights.needs_cross:
                pooled = self.cross(src_states, mt_states, source_mask=src_mask, target_mask=mt_mask,
                                    training=training)
                outputs["cross"] = encoder.project(pooled, mt_others, training=training)
        if weights.backtranslation:
            outputs["backtranslation"] = self.text_encoder(_view(inputs, "bt"), training=training)
        if "visual" in inputs:
            outputs["visual"] = self.visual_encoder(inputs["visual"], training=training)
        return outputs

    def loss_terms(self, outputs) -> Dict[str, object]:
        """The weighted loss terms (only the active ones) from the outputs of :meth:`call`."""
        weights = self.nrccr_weights
        if "visual" not in outputs:
            raise ConfigError("NRCCR training needs the key 'visual' (visual features of the batch)")
        visual = outputs["visual"]
        terms = {}
        if weights.source:
            terms["source"] = weights.source * self.loss_fn(visual, outputs["source"])
        if weights.target:
            terms["target"] = weights.target * self.loss_fn(visual, outputs["target"])
        if weights.similarity:
            terms["similarity"] = weights.similarity * similarity_distillation_loss(
                visual, outputs["target"], outputs["cross"], tau=weights.tau)
        if weights.feature:
            terms["feature"] = weights.feature * feature_distillation_loss(
                outputs["target"], outputs["cross"], beta=weights.smooth_l1_beta)
        if weights.backtranslation:
            terms["backtranslation"] = weights.backtranslation * self.loss_fn(outputs["backtranslation"],
                                                                              outputs["source"])
        return terms

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Sum of the active weighted terms (``y`` and ``sample_weight`` are not used)."""
        if y_pred is None:
            y_pred = self(x, training=training)
        if "source" not in y_pred:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        y_pred = self.embedding_gather(y_pred) if training and self.embedding_gather is not None else y_pred
        named = self.loss_terms(y_pred)
        self._track(named, y_pred)
        terms = list(named.values())
        loss = terms[0]
        for term in terms[1:]:
            loss = loss + term
        for extra in self.losses:
            loss = loss + ops.cast(extra, loss.dtype)
        return loss

    def _track(self, terms, outputs) -> None:
        """Update the per-term and view-agreement trackers (reported by ``fit`` as ``loss_<term>``, ``cos_*``)."""
        def track(tracker, value):  # a device weight: Keras counts an unweighted scalar with a host 1
            value = ops.stop_gradient(value)
            tracker.update_state(value, sample_weight=filled_like(value, 1.0))

        for tracker in self.term_trackers:
            track(tracker, terms[tracker.name[len("loss_"):]])
        pairs = {"cos_target_cross": ("target", "cross"), "cos_source_backtranslation": ("source", "backtranslation")}
        for tracker in self.view_trackers:
            first, second = pairs[tracker.name]
            track(tracker, ops.mean(ops.sum(outputs[first] * outputs[second], axis=-1)))

    def get_config(self):
        config = super().get_config()
        if self.preprocessor is not None:
            config["preprocessor"] = keras.saving.serialize_keras_object(self.preprocessor)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        name = config.pop("name", None)
        config.pop("trainable", None)
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"],
                                                                           custom_objects=custom_objects)
        weights = config.get("weights")
        if isinstance(weights, dict) and "shared_attention" not in weights:
            # saved before the attention block was shared: a separate cross-attention, plain mean pooling
            config["weights"] = {**weights, "shared_attention": False}
        return build_nrccr_model(ModelConfig.from_dict(config.pop("model_config")), compile=False, name=name,
                                 **config)


def build_nrccr_model(config: ModelConfig, gru_vocab_size=None, bow_vocab_size=None, visual_dim: int = 2048,
                      word_vectors=None, frames: bool = False, weights=None, compile: bool = True,
                      name=None, preprocessor=None) -> NRCCRModel:
    """Build (and by default compile) an :class:`NRCCRModel` from a common-space ``ModelConfig``.

    Args:
        config: e.g. ``get_config("nrccr")``; needs ``common_space_dim``, the "gru" branch and
            ``pooling="mean"``.
        gru_vocab_size, bow_vocab_size: sizes of the joint (source + target language) vocabularies.
        visual_dim: visual feature dimension.
        word_vectors: optional initial word vectors (see :func:`w2vvx.models.build_model`).
        frames: ``(B, T, D)`` frame-level visual inputs.
        weights: :class:`NRCCRWeights` or a dict of its fields (default: NRCCR's).
        compile: compile with the config's optimizer.
        name: model name.
        preprocessor: optional :class:`~w2vvx.models.W2VVPreprocessor` of the joint vocabularies, saved
            with the model, so that ``encode_text`` and ``search`` take raw sentences.

    Example:
        >>> from w2vvx.models import get_config
        >>> config = get_config("nrccr", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> model = build_nrccr_model(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12,
        ...                           weights={"num_heads": 2})
        >>> model.encode_visual(np.zeros((3, 12), "float32")).shape
        (3, 16)
    """
    if not isinstance(config, ModelConfig):
        raise ConfigError(f"config must be a ModelConfig (see w2vvx.models.get_config), got {type(config).__name__}")
    if config.common_space_dim is None:
        raise ConfigError(f"NRCCR needs a common space: config {config.name!r} has common_space_dim=None")
    if "gru" not in config.text_branches or config.pooling != "mean" or config.bidirectional:
        raise ConfigError(f"NRCCR needs the 'gru' branch with pooling='mean' and a unidirectional GRU; config "
                          f"{config.name!r} has branches {config.text_branches}, pooling {config.pooling!r}, "
                          f"bidirectional={config.bidirectional}")
    if isinstance(visual_dim, bool) or not isinstance(visual_dim, (int, np.integer)) or visual_dim <= 0:
        raise ConfigError(f"visual_dim must be a positive integer, got {visual_dim!r}")
    weights = NRCCRWeights.from_dict(weights)
    if config.gru_units % weights.num_heads:
        raise ConfigError(f"gru_units ({config.gru_units}) must be a multiple of the cross-attention heads "
                          f"({weights.num_heads}); set weights num_heads")
    visual_dim, frames = int(visual_dim), bool(frames or config.frames)
    gru_init, w2v_init = split_word_vectors(word_vectors, config)
    w2v_dim = config.w2v_dim if w2v_init is None else int(np.shape(w2v_init)[1])
    multiscale = MultiScaleTextEncoder(
        branches=config.text_branches, gru_vocab_size=gru_vocab_size, bow_vocab_size=bow_vocab_size,
        embed_dim=config.embed_dim, units=config.gru_units, pooling="mean", dropout=config.dropout,
        embedding_trainable=config.we_trainable, w2v_dim=w2v_dim, w2v_source=config.w2v_source,
        w2v_trainable=config.w2v_trainable, gru_embeddings=gru_init, w2v_embeddings=w2v_init, name="multiscale")
    mapping = None
    if config.text_mlp:
        mapping = TextToVisualMapping(hidden_units=config.text_mlp[:-1], output_dim=config.text_mlp[-1],
                                      activation=config.activation, output_activation=config.activation,
                                      dropout=config.dropout, name="mapping")
    projection = CommonSpaceProjection(config.common_space_dim, activation=config.space_activation,
                                       dropout=config.dropout, batch_norm=config.batch_norm, name="projection")
    key_dim = weights.key_dim or config.gru_units
    attention = None
    if weights.shared_attention:  # NRCCR: one attention block, self-attention in the encoder and cross-attention
        attention = CrossAttention(num_heads=weights.num_heads, key_dim=key_dim, dropout=0.1, name="attention")
    shared = NRCCRTextEncoder(multiscale, projection, mapping, attention=attention, name="shared_text_encoder")
    inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key) for key in ("tokens", "bow_tokens")}
    text_encoder = keras.Model(inputs, shared(inputs), name="text_encoder")
    visual_encoder = build_visual_encoder(config, visual_dim, frames)
    cross = CrossAttentionPseudoTarget(num_heads=weights.num_heads, key_dim=key_dim, dropout=0.1, attention=attention,
                                       name="cross_attention")
    cross.build((None, None, config.gru_units), (None, None, config.gru_units))
    settings = {"model_config": config.to_dict(), "gru_vocab_size": gru_vocab_size,
                "bow_vocab_size": bow_vocab_size, "visual_dim": visual_dim, "frames": frames,
                "weights": weights.to_dict()}
    model = NRCCRModel(text_encoder, visual_encoder, cross, weights, build_settings=settings,
                       preprocessor=preprocessor, name=name or config.name)
    if compile:
        model.compile(optimizer=build_optimizer(config))
    return model
