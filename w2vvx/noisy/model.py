"""Two-tower label-space model for cross-modal retrieval with noisy labels (MRL / ELRCMR lineage).

Per-modality MLP encoders map image and text features into a shared, L2-normalised space; a
classifier shared by both modalities, whose columns are L2-normalised class centres, turns an
embedding into class logits. Retrieval uses the embeddings (cosine), never the classifier.

Training objectives (``method``):

* ``"ce"``: ``sum_views CE(logits_v, y)``;
* ``"contrastive"``: the multimodal contrastive loss alone (labels unused);
* ``"ce_contrastive"``: ``beta * sum_views CE + (1 - beta) * contrastive``;
* ``"mrl"``: ``beta * sum_views MCE + (1 - beta) * contrastive`` (Hu et al., CVPR 2021);
* ``"elr"``: ``beta * sum_views ELR + (1 - beta) * contrastive`` (Liu et al.'s ELR, i.e. cross-entropy
  plus the early-learning regulariser, with per-sample running targets, one set per view);
* ``"elrcmr"``: ELRCMR (Xu et al., ACM MM 2022) as read in :mod:`w2vvx.noisy.balance`:
  ``beta(s) * sum_views [MCE + lambda(s) * ELR_reg] + alpha * (1 - beta(s)) * contrastive`` with the
  dynamic weight balance ``beta(s)``, ``lambda(s)`` over the optimiser step ``s``.

``"elr"`` and ``"elrcmr"`` need ``"index"`` (sample ids) in the inputs.

``fit`` takes ``x = {"image", "text"[, "index"]}`` and ``y`` = the noisy labels, either one array
(the same labels for both views) or ``{"image": ..., "text": ...}``.
"""
from __future__ import annotations

import keras
from keras import ops

from w2vvx.errors import ConfigError
from w2vvx.losses.elr import EarlyLearningTargets, elr_loss, mce_elr_loss
from w2vvx.losses.label_contrastive import multimodal_contrastive_loss
from w2vvx.losses.mce import mean_clustering_error
from w2vvx.noisy.balance import StepCounter, WeightBalance

METHODS = ("ce", "contrastive", "ce_contrastive", "mrl", "elr", "elrcmr")
ELR_METHODS = ("elr", "elrcmr")
VIEWS = ("image", "text")


@keras.saving.register_keras_serializable(package="w2vvx")
class NormalizedClassifier(keras.layers.Layer):
    """Linear classifier without bias whose weight columns (class centres) are L2-normalised.

    MRL renormalises its centre matrix ``C`` after every step; normalising in the forward pass
    gives the same logits (``features @ C / ||C||_col``) on every backend without a custom step.

    Args:
        num_classes: number of classes.
        seed: seed of the orthogonal initializer (MRL initialises ``C`` orthogonally).

    Example:
        >>> import numpy as np
        >>> tuple(NormalizedClassifier(3)(np.ones((2, 8), "float32")).shape)
        (2, 3)
    """

    def __init__(self, num_classes: int, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise ConfigError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        self.num_classes = num_classes
        self.seed = seed

    def build(self, input_shape):
        self.centres = self.add_weight(shape=(input_shape[-1], self.num_classes), name="centres",
                                       initializer=keras.initializers.Orthogonal(seed=self.seed))
        self.built = True

    def call(self, features):
        return ops.matmul(features, ops.normalize(self.centres, axis=0))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_classes,)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "seed": self.seed})
        return config


def build_mlp_encoder(input_dim: int, hidden_units=(1024, 1024), embedding_dim: int = 256, dropout: float = 0.0,
                      name: str = "encoder") -> keras.Model:
    """``input -> Dense+ReLU (hidden_units...) -> Dense(embedding_dim) -> L2 norm`` as a functional Model."""
    inputs = keras.Input(shape=(input_dim,), name=f"{name}_input")
    x = inputs
    for layer_no, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"{name}_dense_{layer_no}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout_{layer_no}")(x)
    x = keras.layers.Dense(embedding_dim, name=f"{name}_projection")(x)
    outputs = keras.layers.UnitNormalization(axis=-1, name=f"{name}_l2norm")(x)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="w2vvx")
class NoisyCrossModalModel(keras.Model):
    """Image/text towers + shared normalised classifier, trained with one of :data:`METHODS`.

    Args:
        image_dim, text_dim: input feature sizes.
        num_classes: number of classes.
        num_samples: training-set size (rows of the ELR running targets; needed for ``"elr"``).
        method: one of :data:`METHODS`.
        hidden_units: hidden layer sizes of each tower.
        embedding_dim: shared-space size.
        dropout: dropout after each hidden layer.
        beta: weight of the label loss against the contrastive loss (MRL: 0.7); for ``"elrcmr"`` its
            value at step 0 (``--beta``).
        mce_tau: MCE softmax temperature (MRL: 1).
        contrastive_tau: contrastive temperature (MRL uses the same ``tau``, default 1).
        elr_beta: ELR target momentum; elr_lambda: ELR regulariser weight (``"elrcmr"``: at step 0, ``--lama``).
        beta_steps, elr_steps, weight_floor, contrastive_weight: ``"elrcmr"`` only, ELRCMR's
            ``--betasetp``, ``--setp``, ``--zeta``, ``--alpha`` (see :class:`~w2vvx.noisy.balance.WeightBalance`).
        seed: seed of the classifier initializer.

    Example:
        >>> import numpy as np
        >>> model = NoisyCrossModalModel(4, 3, num_classes=2, num_samples=6, method="mrl",
        ...                              hidden_units=(8,), embedding_dim=4)
        >>> out = model({"image": np.ones((6, 4), "float32"), "text": np.ones((6, 3), "float32")})
        >>> tuple(out["image_logits"].shape)
        (6, 2)
    """

    def __init__(self, image_dim: int, text_dim: int, num_classes: int, num_samples: int | None = None,
                 method: str = "mrl", hidden_units=(1024, 1024), embedding_dim: int = 256, dropout: float = 0.0,
                 beta: float = 0.7, mce_tau: float = 1.0, contrastive_tau: float = 1.0, elr_beta: float = 0.7,
                 elr_lambda: float = 3.0, beta_steps=None, elr_steps=None, weight_floor: float = 0.0,
                 contrastive_weight: float = 1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if method in ELR_METHODS and not (isinstance(num_samples, int) and num_samples > 0):
            raise ConfigError(f"method {method!r} needs num_samples (the training-set size), got {num_samples!r}")
        if not isinstance(beta, (int, float)) or not 0.0 <= beta <= 1.0:
            raise ConfigError(f"beta must lie in [0, 1], got {beta!r}")
        self.image_dim, self.text_dim, self.num_classes = image_dim, text_dim, num_classes
        self.num_samples, self.method = num_samples, method
        self.hidden_units, self.embedding_dim, self.dropout = tuple(hidden_units), embedding_dim, dropout
        self.beta, self.mce_tau, self.contrastive_tau = float(beta), float(mce_tau), float(contrastive_tau)
        self.elr_beta, self.elr_lambda, self.seed = float(elr_beta), float(elr_lambda), seed
        self.balance = WeightBalance(beta=self.beta, elr_lambda=self.elr_lambda, beta_steps=beta_steps,
                                     elr_steps=elr_steps, floor=weight_floor, contrastive_weight=contrastive_weight)
        self.image_encoder = build_mlp_encoder(image_dim, self.hidden_units, embedding_dim, dropout,
                                               name="image_encoder")
        self.text_encoder = build_mlp_encoder(text_dim, self.hidden_units, embedding_dim, dropout, name="text_encoder")
        self.classifier = NormalizedClassifier(num_classes, seed=seed, name="classifier")
        if method in ELR_METHODS:
            self.image_targets = EarlyLearningTargets(num_samples, num_classes, beta=elr_beta, name="image_targets")
            self.text_targets = EarlyLearningTargets(num_samples, num_classes, beta=elr_beta, name="text_targets")
        if method == "elrcmr":
            self.step_counter = StepCounter(name="step_counter")

    def build(self, input_shape=None):
        # The towers are functional (already built) and the ELR state is created in __init__.
        if not self.classifier.built:
            self.classifier.build((None, self.embedding_dim))
        self.built = True

    def call(self, inputs, training=False):
        missing = [view for view in VIEWS if view not in inputs]
        if missing:
            raise ConfigError(f"inputs must be a dict with keys 'image' and 'text' (and 'index' for ELR); "
                              f"missing {missing}, got {sorted(inputs)}")
        outputs = {}
        for view in VIEWS:
            embedding = getattr(self, f"{view}_encoder")(inputs[view], training=training)
            logits = self.classifier(embedding)
            outputs[f"{view}_embedding"] = embedding
            outputs[f"{view}_logits"] = logits
            if self.method in ELR_METHODS and "index" in inputs:
                outputs[f"{view}_targets"] = getattr(self, f"{view}_targets")(logits, inputs["index"],
                                                                                 training=training)
        if self.method == "elrcmr":
            outputs["step"] = self.step_counter(inputs["image"], training=training)
        return outputs

    def _view_labels(self, y):
        if isinstance(y, dict):
            return [y[view] for view in VIEWS]
        return [y, y]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        views = [y_pred[f"{view}_embedding"] for view in VIEWS]
        if self.method == "contrastive":
            return multimodal_contrastive_loss(views, tau=self.contrastive_tau)
        labels = self._view_labels(y)
        if self.method == "elrcmr":
            step = y_pred["step"][0]
            beta, contrastive_weight = self.balance.beta_at(step), self.balance.contrastive_at(step)
            elr_lambda = self.balance.lambda_at(step)
        label_losses = []
        for view, view_labels in zip(VIEWS, labels):
            logits = y_pred[f"{view}_logits"]
            view_labels = ops.reshape(ops.cast(view_labels, "int32"), (-1,))
            if self.method in ("ce", "ce_contrastive"):
                per_sample = ops.sparse_categorical_crossentropy(view_labels, logits, from_logits=True)
            elif self.method == "mrl":
                per_sample = mean_clustering_error(view_labels, logits, tau=self.mce_tau)
            else:
                if f"{view}_targets" not in y_pred:
                    raise ConfigError(f"method {self.method!r} needs the sample indices: pass "
                                      "x={'image', 'text', 'index'}")
                if self.method == "elr":
                    per_sample = elr_loss(view_labels, logits, y_pred[f"{view}_targets"], elr_lambda=self.elr_lambda)
                else:
                    per_sample = mce_elr_loss(view_labels, logits, y_pred[f"{view}_targets"], elr_lambda=elr_lambda,
                                              tau=self.mce_tau)
            label_losses.append(ops.mean(per_sample))
        label_loss = ops.sum(ops.stack(label_losses))
        if self.method == "ce":
            return label_loss
        if self.method == "elrcmr":
            contrastive = multimodal_contrastive_loss(views, tau=self.contrastive_tau)
            return beta * label_loss + contrastive_weight * contrastive
        return self.beta * label_loss + (1.0 - self.beta) * multimodal_contrastive_loss(views, tau=self.contrastive_tau)

    def get_config(self):
        return {"image_dim": self.image_dim, "text_dim": self.text_dim, "num_classes": self.num_classes,
                "num_samples": self.num_samples, "method": self.method, "hidden_units": list(self.hidden_units),
                "embedding_dim": self.embedding_dim, "dropout": self.dropout, "beta": self.beta,
                "mce_tau": self.mce_tau, "contrastive_tau": self.contrastive_tau, "elr_beta": self.elr_beta,
                "elr_lambda": self.elr_lambda, "beta_steps": self.balance.beta_steps,
                "elr_steps": self.balance.elr_steps, "weight_floor": self.balance.floor,
                "contrastive_weight": self.balance.contrastive_weight, "seed": self.seed, "name": self.name}
