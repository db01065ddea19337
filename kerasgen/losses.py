"""Loss functions as pure functions of tensors (any Keras backend).

Adversarial losses take discriminator *logits* (no sigmoid in the networks): binary
cross-entropy is computed in the stable form max(x, 0) - x*t + log(1 + exp(-|x|)).
"""

from keras import ops


def binary_crossentropy_from_logits(targets, logits):
    """Mean binary cross-entropy between `targets` (any real value, usually in [0, 1]) and
    `sigmoid(logits)`, computed without forming the sigmoid."""
    logits = ops.cast(logits, "float32")
    targets = ops.cast(targets, "float32")
    per_element = (
        ops.relu(logits) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))
    )
    return ops.mean(per_element)


def discriminator_loss(real_logits, fake_logits, real_targets=1.0):
    """GAN discriminator loss (Goodfellow et al., 2014): BCE(D(x), real_targets) +
    BCE(D(G(z)), 0), each averaged over its batch.

    `real_targets` below 1 (a number or one value per sample) is one-sided label smoothing.
    """
    real_targets = ops.broadcast_to(
        ops.cast(real_targets, "float32"), ops.shape(real_logits)
    )
    return binary_crossentropy_from_logits(
        real_targets, real_logits
    ) + binary_crossentropy_from_logits(ops.zeros_like(fake_logits), fake_logits)


def generator_loss(fake_logits):
    """Non-saturating generator loss: BCE(D(G(z)), 1) = -mean(log sigmoid(D(G(z))))."""
    return binary_crossentropy_from_logits(ops.ones_like(fake_logits), fake_logits)
