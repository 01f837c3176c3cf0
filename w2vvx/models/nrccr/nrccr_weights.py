"""The settings of an NRCCR model: loss weights and their hyperparameters, :class:`NRCCRWeights`."""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional

from w2vvx.errors import ConfigError

LOSS_TERMS = ("source", "target", "similarity", "feature", "backtranslation", "adversarial")
#: the sentence vectors of the cross pseudo target (see ``NRCCRWeights.teacher``)
TEACHERS = ("cross", "concat")


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
        teacher: the sentence vector of the "cross" pseudo target. ``"cross"`` (NRCCR): the
            cross-attention pooling alone, with zeros in place of the BoW and word2vec parts of the
            MT sentence vector; ``"concat"`` (ablation, w2vvx before 0.x): ``[cross ‖ BoW(MT) ‖ word2vec(MT)]``.
        adversarial: weight of the language-adversarial generator term (NRCCR ``scale`` 0.001; 0 turns
            the discriminator off). The discriminator's own loss is added at weight 1 on detached features.

    ``num_heads``, ``key_dim`` and ``shared_attention`` shape the backbone (:func:`build_nrccr_model`
    passes them to :class:`~w2vvx.models.NRCCRBackbone`); the others shape the loss.

    Example:
        >>> NRCCRWeights().replace(similarity=0.0).active_terms()
        ('source', 'target', 'feature', 'backtranslation', 'adversarial')
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
    teacher: str = "cross"
    adversarial: float = 0.001

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
        if self.teacher not in TEACHERS:
            raise ConfigError(f"teacher must be one of {TEACHERS}, got {self.teacher!r}")
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
        return self.target > 0 or self.needs_cross or self.adversarial > 0

    @property
    def architecture(self) -> dict:
        """The fields that shape the backbone (the arguments of :class:`~w2vvx.models.NRCCRBackbone`)."""
        return {"num_heads": self.num_heads, "key_dim": self.key_dim, "shared_attention": self.shared_attention}

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


#: The ablation rows of ``benchmarks/bench_nrccr_ablation.py`` as weight settings. The additive rows
#: (``mt_only`` ... ``src_mt_adv``) add one term at a time to the src+MT baseline, without the adversarial
#: term unless named; the leave-one-out rows (``nrccr_no_*``, ``src_mt_bt_*``) remove terms from the full model.
ABLATIONS: Dict[str, NRCCRWeights] = {
    "mt_only": NRCCRWeights(source=0.0, target=1.0, similarity=0.0, feature=0.0, backtranslation=0.0,
                            adversarial=0.0),
    "src_mt": NRCCRWeights(similarity=0.0, feature=0.0, backtranslation=0.0, adversarial=0.0),
    "src_mt_sim": NRCCRWeights(feature=0.0, backtranslation=0.0, adversarial=0.0),
    "src_mt_feat": NRCCRWeights(similarity=0.0, backtranslation=0.0, adversarial=0.0),
    "src_mt_bt": NRCCRWeights(similarity=0.0, feature=0.0, adversarial=0.0),
    "src_mt_adv": NRCCRWeights(similarity=0.0, feature=0.0, backtranslation=0.0),
    "src_mt_bt_sim": NRCCRWeights(feature=0.0),
    "src_mt_bt_feat": NRCCRWeights(similarity=0.0),
    "nrccr_no_bt": NRCCRWeights(backtranslation=0.0),
    "nrccr": NRCCRWeights(),
    "nrccr_concat_teacher": NRCCRWeights(teacher="concat"),
    "nrccr_no_adversarial": NRCCRWeights(adversarial=0.0),
}
