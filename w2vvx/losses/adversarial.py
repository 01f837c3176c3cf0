"""NRCCR's language-adversarial losses (HuiGuanLab/nrccr ``adv.py`` ``Adversarial``, ``train_type='GAN'``).

The discriminator (:class:`w2vvx.layers.language_discriminator.LanguageDiscriminator`) learns to call
source-language token features real (label 1) and machine-translated ones fake (label 0) from
DETACHED features; the text encoder (the generator) is trained to make the MT features look real,
through the discriminator with its weights frozen. Each logit is trained with binary cross-entropy
towards the label (NRCCR fills both of its two logits with the label).
"""
from __future__ import annotations

from keras import ops


def _bce_with_logits(logits, label: float):
    """Mean binary cross-entropy of ``logits`` towards a constant ``label`` (numerically stable).

    ``relu`` rather than ``maximum(logits, 0)``: no host scalar becomes a device tensor inside the step.
    """
    return ops.mean(ops.relu(logits) - logits * label + ops.log1p(ops.exp(-ops.abs(logits))))


def discriminator_loss(real_logits, fake_logits):
    """``0.5·(BCE(real, 1) + BCE(fake, 0))``: the discriminator's loss (NRCCR ``Adversarial.update``).

    Example:
        >>> import numpy as np
        >>> round(float(discriminator_loss(np.zeros((2, 2), "float32"), np.zeros((2, 2), "float32"))), 4)
        0.6931
    """
    return 0.5 * (_bce_with_logits(real_logits, 1.0) + _bce_with_logits(fake_logits, 0.0))


def generator_loss(fake_logits):
    """``BCE(fake, 1)``: the MT features should look real (NRCCR ``Adversarial.gen_loss``, before its scale).

    Example:
        >>> import numpy as np
        >>> round(float(generator_loss(np.full((2, 2), 10.0, "float32"))), 4)
        0.0
    """
    return _bce_with_logits(fake_logits, 1.0)
