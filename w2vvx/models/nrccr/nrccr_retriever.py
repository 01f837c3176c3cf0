"""The NRCCR task: loss terms on aligned (source, MT, back-translation) views, :class:`NRCCRRetriever`.

For a batch of aligned ``(source caption, its MT, its back-translation, visual)`` quadruples, with
every embedding L2-normalised in the common space::

    L = w_src·Tri(src, v) + α·Tri(tgt, v) + β·SimDistill(v; tgt ← cross) + γ·SmoothL1(tgt, cross)
        + w_bt·Tri(src, back-translation) + w_adv·BCE(D*(MT tokens), real) + L_D

``Tri`` is the VSE++ max-violation hinge (margin 0.2, both directions, summed over the batch);
``SimDistill`` the similarity-view distillation (τ = 0.07, teacher stop-gradient, v→t and t→v averaged);
``SmoothL1`` (β = 4, mean) the feature view, with the gradient reaching the cross branch as in NRCCR.
``cross`` is the teacher of :meth:`~w2vvx.models.NRCCRBackbone.cross_embedding` (``NRCCRWeights.teacher``).
The last two terms are NRCCR's language-adversarial game (``model.py`` 406-413, 465-474, ``adv.py``):
a :class:`~w2vvx.layers.LanguageDiscriminator` on the GRU token states learns source = real, MT =
fake from DETACHED states (``L_D``, weight 1: it reaches the discriminator only), and the generator
term (weight ``adversarial`` = 0.001) pushes the MT states to look real through the discriminator
with its weights under ``ops.stop_gradient`` (it reaches the text encoder only). Defaults α = 0.6,
β = 0.4, γ = 0.1, w_bt = 0.5 (NRCCR ``do_all_*.sh``). A weight of 0 removes its term and the
computation it needs, so each ablation is one setting.

Differences from NRCCR, on purpose: the discriminator is updated by the task's optimizer in the same
step (NRCCR: its own Adam, lr 1e-3), so the global gradient clipping sees its gradients too; the
cross-attention and the discriminator read the GRU states (NRCCR: the mBERT token features).
"""
from __future__ import annotations

from typing import Dict

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.layers.device_math import filled_like
from w2vvx.layers.language_discriminator import LanguageDiscriminator
from w2vvx.losses.adversarial import discriminator_loss, generator_loss
from w2vvx.losses.distillation import feature_distillation_loss, similarity_distillation_loss
from w2vvx.losses.triplet import TripletRankingLoss
from w2vvx.models.nrccr.nrccr_backbone import NRCCRBackbone
from w2vvx.models.nrccr.nrccr_weights import NRCCRWeights
from w2vvx.models.w2vv.w2vv_retriever import W2VVRetriever

#: The training inputs: source, MT and back-translation token ids (``(B, L)`` int32 each) and ``visual``.
VIEWS = ("src", "mt", "bt")
#: the discriminator logits among the outputs of ``call`` (source real, MT fake, MT through the frozen one)
LANGUAGE_OUTPUTS = ("language_real", "language_fake", "language_generator")


def _view(inputs, view: str):
    return {"tokens": inputs[f"{view}_tokens"], "bow_tokens": inputs[f"{view}_bow_tokens"]}


@keras.saving.register_keras_serializable(package="w2vvx")
class NRCCRRetriever(W2VVRetriever):
    """The cross-lingual NRCCR task: an :class:`~w2vvx.models.NRCCRBackbone`, its loss terms and discriminator.

    Retrieval works as with any :class:`~w2vvx.models.retriever.Retriever` (``encode_text`` in any
    language of the joint vocabulary, ``encode_items``, ``search``); plain W2VV inputs
    (``tokens``, ``bow_tokens``, ``visual``) train with the triplet loss alone.

    Training inputs (``fit`` x, no y): ``src_tokens``, ``src_bow_tokens`` (source captions),
    ``mt_tokens``, ``mt_bow_tokens`` (their machine translations), ``bt_tokens``, ``bt_bow_tokens``
    (their back-translations; only needed when ``weights.backtranslation > 0``) and ``visual``.
    ``call`` returns the embeddings ``source``, ``target``, ``backtranslation``, ``cross`` and
    ``visual`` (and the discriminator logits of :data:`LANGUAGE_OUTPUTS`) that the active terms need;
    :meth:`loss_terms` gives each weighted term. ``fit`` logs ``loss_<term>`` for each active term
    (``loss_adversarial``, ``loss_discriminator`` included) and the view agreements ``cos_*``.

    Args:
        backbone: the :class:`~w2vvx.models.NRCCRBackbone`.
        preprocessor: optional :class:`~w2vvx.models.W2VVPreprocessor` of the joint vocabularies.
        weights: :class:`~w2vvx.models.NRCCRWeights` or a dict of its fields (its architecture fields
            must match the backbone).

    Example:
        >>> import numpy as np
        >>> from w2vvx.models import NRCCRBackbone, get_config
        >>> config = get_config("nrccr", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> task = NRCCRRetriever(NRCCRBackbone(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12,
        ...                                     num_heads=2), weights={"num_heads": 2})
        >>> ids = np.array([[3, 4, 0], [5, 0, 0]], "int32")
        >>> batch = {f"{view}_{key}": ids for view in ("src", "mt", "bt") for key in ("tokens", "bow_tokens")}
        >>> sorted(task.loss_terms(task({**batch, "visual": np.ones((2, 12), "float32")})))
        ['adversarial', 'backtranslation', 'discriminator', 'feature', 'similarity', 'source', 'target']
    """

    serialized_parts = ("backbone", "preprocessor")

    def __init__(self, backbone: NRCCRBackbone, preprocessor=None, weights=None, **kwargs):
        if not isinstance(backbone, NRCCRBackbone):
            raise ConfigError(f"backbone must be an NRCCRBackbone (see w2vvx.models.build_nrccr_model), got "
                              f"{type(backbone).__name__}")
        weights = NRCCRWeights.from_dict(weights)
        built = {"num_heads": backbone.num_heads, "key_dim": backbone.key_dim,
                 "shared_attention": backbone.shared_attention}
        if weights.architecture != built:
            raise ConfigError(f"the NRCCR weights ask for {weights.architecture} but the backbone was built with "
                              f"{built}; build both with build_nrccr_model, or pass matching weights")
        triplet = TripletRankingLoss(margin=weights.margin, max_violation=True, direction="both", reduction="sum")
        super().__init__(backbone, preprocessor, loss_fn=triplet, **kwargs)
        self.nrccr_weights = weights
        self.discriminator = None
        if weights.adversarial:
            self.discriminator = LanguageDiscriminator(name="language_discriminator")
            self.discriminator.build((None, None, backbone.model_config.gru_units))
        terms = weights.active_terms() + (("discriminator",) if weights.adversarial else ())
        self.term_trackers = [keras.metrics.Mean(name=f"loss_{term}") for term in terms]
        self.view_trackers = []
        if weights.needs_cross:
            self.view_trackers.append(keras.metrics.Mean(name="cos_target_cross"))
        if weights.backtranslation:
            self.view_trackers.append(keras.metrics.Mean(name="cos_source_backtranslation"))

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict):
            raise ConfigError(f"NRCCRRetriever expects a dict of inputs, got {type(inputs).__name__}")
        if "src_tokens" not in inputs:
            return super().call(inputs, training=training)
        weights = self.nrccr_weights
        needed = ["src"] + (["mt"] if weights.needs_translation else []) + (["bt"] if weights.backtranslation else [])
        missing = [f"{view}_{key}" for view in needed for key in ("tokens", "bow_tokens")
                   if f"{view}_{key}" not in inputs]
        if missing:
            raise ConfigError(f"NRCCR training inputs lack {missing} (active terms {weights.active_terms()}); "
                              f"got {sorted(inputs)}")
        backbone = self.backbone
        encoded = dict(zip(needed, backbone.encode_views([_view(inputs, view) for view in needed], training=training)))
        source = encoded["src"]
        outputs = {"source": source["embedding"]}
        if weights.needs_translation:
            target = encoded["mt"]
            outputs["target"] = target["embedding"]
            if weights.needs_cross:
                outputs["cross"] = backbone.cross_embedding(source, target, concat_context=weights.teacher == "concat",
                                                            training=training)
            if self.discriminator is not None:
                outputs.update(self._language_logits(source, target))
        if weights.backtranslation:
            outputs["backtranslation"] = encoded["bt"]["embedding"]
        if "visual" in inputs:
            self.check_visual_shape(tuple(inputs["visual"].shape), "visual")
            outputs["visual"] = backbone.visual_encoder(inputs["visual"], training=training)
        return outputs

    def _language_logits(self, source, target) -> dict:
        """The discriminator on detached states (its own loss) and, frozen, on the live MT states (generator)."""
        real = ops.stop_gradient(source["token_states"])
        fake = ops.stop_gradient(target["token_states"])
        return {"language_real": self.discriminator(real, source["token_mask"]),
                "language_fake": self.discriminator(fake, target["token_mask"]),
                "language_generator": self.discriminator(target["token_states"], target["token_mask"], frozen=True)}

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
        if weights.adversarial:
            terms["adversarial"] = weights.adversarial * generator_loss(outputs["language_generator"])
            terms["discriminator"] = discriminator_loss(outputs["language_real"], outputs["language_fake"])
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
        return self.total_loss(list(named.values()))

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
        return {**super().get_config(), "weights": self.nrccr_weights.to_dict()}


def build_nrccr_model(config, gru_vocab_size=None, bow_vocab_size=None, visual_dim: int = 2048,
                      word_vectors=None, frames: bool = False, weights=None, compile: bool = True,
                      name=None, preprocessor=None) -> NRCCRRetriever:
    """Build (and by default compile) an :class:`NRCCRRetriever` from a common-space ``ModelConfig``.

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
        >>> import numpy as np
        >>> from w2vvx.models import get_config
        >>> config = get_config("nrccr", gru_units=8, embed_dim=8, w2v_dim=8, common_space_dim=16)
        >>> model = build_nrccr_model(config, gru_vocab_size=30, bow_vocab_size=20, visual_dim=12,
        ...                           weights={"num_heads": 2})
        >>> model.encode_visual(np.zeros((3, 12), "float32")).shape
        (3, 16)
    """
    from w2vvx.models.builder import build_optimizer
    from w2vvx.models.configs import ModelConfig

    if not isinstance(config, ModelConfig):
        raise ConfigError(f"config must be a ModelConfig (see w2vvx.models.get_config), got {type(config).__name__}")
    weights = NRCCRWeights.from_dict(weights)
    backbone = NRCCRBackbone(config, gru_vocab_size=gru_vocab_size, bow_vocab_size=bow_vocab_size,
                             visual_dim=visual_dim, frames=frames, word_vectors=word_vectors, **weights.architecture)
    model = NRCCRRetriever(backbone, preprocessor=preprocessor, weights=weights, name=name or config.name)
    if compile:
        model.compile(optimizer=build_optimizer(config))
    return model
