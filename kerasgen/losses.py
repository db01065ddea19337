"""Loss functions as pure functions of tensors (any Keras backend).

Adversarial losses take discriminator *logits* (no sigmoid in the networks): binary
cross-entropy is computed in the stable form max(x, 0) - x*t + log(1 + exp(-|x|)).
"""

import keras
from keras import ops

from kerasgen import backend


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


def conditional_discriminator_loss(real_logits, fake_logits, mismatch_logits, real_targets=1.0,
                                   mismatch_weight=1.0):
    """Seed 003's discriminator loss from logits: `D_real + D_fake + mismatch_weight * D_mismatch`.

    `D_real = BCE(real_logits, real_targets)`, `D_fake = BCE(fake_logits, 0)` and
    `D_mismatch = BCE(mismatch_logits, 0)` (a real image with wrong attributes is fake), each
    averaged over its batch. `real_targets` below 1 is one-sided label smoothing.
    """
    return discriminator_loss(real_logits, fake_logits, real_targets) + \
        mismatch_weight * binary_crossentropy_from_logits(ops.zeros_like(mismatch_logits),
                                                          mismatch_logits)


def generator_loss(fake_logits):
    """Non-saturating generator loss: BCE(D(G(z)), 1) = -mean(log sigmoid(D(G(z))))."""
    return binary_crossentropy_from_logits(ops.ones_like(fake_logits), fake_logits)


# ---- Wasserstein GAN with gradient penalty (Gulrajani et al., 2017) ----


def critic_loss(real_scores, fake_scores):
    """WGAN critic loss: mean(D(G(z))) - mean(D(x)), the negative Wasserstein estimate."""
    return ops.mean(ops.cast(fake_scores, "float32")) - ops.mean(ops.cast(real_scores, "float32"))


def wasserstein_generator_loss(fake_scores):
    """WGAN generator loss: -mean(D(G(z)))."""
    return -ops.mean(ops.cast(fake_scores, "float32"))


def gradient_penalty(critic, real, fake, alpha=None, seed=None):
    """WGAN-GP's penalty: mean over the batch of (||grad_x critic(x_hat)||_2 - 1)^2.

    `x_hat = alpha * real + (1 - alpha) * fake` with one `alpha ~ U[0, 1]` per sample,
    broadcast over height, width and channels (Algorithm 1 of the paper). The gradient is
    differentiable again, so the penalty trains the critic.

    Args:
        critic: callable, images `(batch, ...)` -> one score per image.
        real, fake: images of the same shape.
        alpha: optional `(batch,)` or `(batch, 1, ..., 1)` mixing weights; drawn uniformly
            when `None`.
        seed: a `keras.random.SeedGenerator` (or int) for `alpha`.
    """
    real = ops.cast(real, "float32")
    fake = ops.cast(fake, "float32")
    shape = (ops.shape(real)[0],) + (1,) * (len(real.shape) - 1)
    if alpha is None:
        alpha = keras.random.uniform(shape, seed=seed)
    alpha = ops.reshape(ops.cast(alpha, "float32"), shape)
    interpolates = alpha * real + (1.0 - alpha) * fake
    grads = backend.input_gradients(critic, interpolates)
    squared = ops.sum(ops.square(grads), axis=tuple(range(1, len(real.shape))))
    # The small constant keeps the gradient of sqrt finite where the critic is flat.
    norms = ops.sqrt(squared + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


# ---- hinge loss (Lim & Ye, 2017; Miyato et al., 2018, SNGAN) ----


def hinge_discriminator_loss(real_logits, fake_logits):
    """Hinge discriminator loss: mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))), each averaged
    over its batch. Zero once real logits are >= 1 and fake logits <= -1."""
    real_logits = ops.cast(real_logits, "float32")
    fake_logits = ops.cast(fake_logits, "float32")
    return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))


def hinge_generator_loss(fake_logits):
    """Hinge generator loss: -mean(D(G(z))) (the discriminator's logits, unbounded)."""
    return -ops.mean(ops.cast(fake_logits, "float32"))


# ---- autoencoders ----

#: Pixel losses `reconstruction_loss` computes, and how it reduces them.
RECONSTRUCTION_KINDS = ("mse", "bce")
REDUCTIONS = ("sum", "mean")
#: Probabilities are clipped to [BCE_EPSILON, 1 - BCE_EPSILON] before the logarithms (as Keras'
#: own `binary_crossentropy` on probabilities does).
BCE_EPSILON = 1e-7


def kl_divergence(mean, log_var):
    """KL(N(mean, diag(exp(log_var))) || N(0, I)) in closed form (Kingma & Welling, 2014,
    appendix B): `0.5 * sum_j (mean_j^2 + exp(log_var_j) - 1 - log_var_j)`, summed over the
    latent dimensions and averaged over the batch (nats per image).

    Args:
        mean, log_var: `(batch, latent_dim)` parameters of the encoder's Gaussian posterior;
            `log_var` is the log of the variance (not of the standard deviation).
    """
    mean = ops.cast(mean, "float32")
    log_var = ops.cast(log_var, "float32")
    per_dim = 0.5 * (ops.square(mean) + ops.exp(log_var) - 1.0 - log_var)
    return ops.mean(ops.sum(per_dim, axis=-1))


def reconstruction_loss(target, reconstruction, kind="mse", reduction="sum"):
    """Pixel reconstruction loss between images `target` and `reconstruction` (same shape,
    `(batch, ...)`, pixels in [0, 1]).

    Args:
        kind: `"mse"`, the squared error `(r - t)^2`; or `"bce"`, the binary cross-entropy
            `-t log r - (1 - t) log(1 - r)` with `r` a probability (a sigmoid decoder's output).
            BCE is computed on `r` clipped to `[BCE_EPSILON, 1 - BCE_EPSILON]`, so it is finite
            when a pixel is exactly 0 or 1 (its gradient vanishes only where the clip acts).
            For targets strictly between 0 and 1 its minimum is the targets' entropy, not 0.
        reduction: `"sum"` (default): summed over every pixel and channel of an image, then
            averaged over the batch: the Gaussian (MSE) or Bernoulli (BCE) negative
            log-likelihood of the textbook VAE ELBO, up to constants. `"mean"`: averaged over
            every pixel, channel and image: for MSE on [0, 1] pixels, the number in seed 001's
            Table 1.

    "sum" is the default because it keeps the reconstruction term on the same per-image scale
    as `kl_divergence` (nats per image), so a VAE's `kld_weight` is the beta of a beta-VAE:
    1 is the ELBO, 10 favours the prior, 0.01 is nearly a plain autoencoder, and the weights the
    seeds sweep (0.01 to 10) span that range. With "mean" the reconstruction term is divided
    by the number of pixels (12,288 at 64 px) and the same weights would put 100x to 100,000x
    more weight on KL: every swept value would collapse the posterior.
    """
    if kind not in RECONSTRUCTION_KINDS:
        raise ValueError(f"kind must be one of {RECONSTRUCTION_KINDS}; received {kind!r}.")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}; received {reduction!r}.")
    target = ops.cast(target, "float32")
    reconstruction = ops.cast(reconstruction, "float32")
    if kind == "mse":
        per_element = ops.square(reconstruction - target)
    else:
        r = ops.clip(reconstruction, BCE_EPSILON, 1.0 - BCE_EPSILON)
        per_element = -(target * ops.log(r) + (1.0 - target) * ops.log(1.0 - r))
    if reduction == "mean":
        return ops.mean(per_element)
    per_image = ops.sum(per_element, axis=tuple(range(1, len(per_element.shape))))
    return ops.mean(per_image)


# ---- R1 regularisation (Mescheder et al., 2018) ----


def r1_penalty(discriminator, real_images):
    """R1: mean over the batch of `||grad_x D(x)||^2` at real images ("Which Training Methods
    for GANs do actually Converge?", eq. 9); the discriminator's loss adds `gamma / 2 * r1`
    (the caller's `gamma`: StyleGAN2 uses 10 at 1024 px, less at small sizes).

    The gradient is differentiable again, so the penalty trains D. `discriminator` maps images
    `(batch, ...)` to one logit per image; each logit must depend on its own image only (no
    batch statistics), as the penalty differentiates the sum of the logits. To penalise through
    an augmentation, as StyleGAN2-ADA does, pass `lambda x: D(augment(x, draws))` with the
    draws fixed outside (`kerasgen.augment.random_draws`).

    Lazy regularisation (StyleGAN2, section 3.1): add `lazy_weight(step, k) * gamma / 2 * r1`,
    i.e. the penalty times k every k-th step (StyleGAN2 takes k = 16 and also scales Adam's
    learning rate and betas by k / (k + 1); that is the caller's choice).
    """
    real = ops.cast(real_images, "float32")
    grads = backend.input_gradients(discriminator, real)
    return ops.mean(ops.sum(ops.square(grads), axis=tuple(range(1, len(real.shape)))))


def lazy_weight(step, every):
    """`every` on steps where `step % every == 0`, else 0, as a float32 tensor: the weight of a
    regulariser applied every `every` steps (StyleGAN2's lazy regularisation), without Python
    branching on a tensor, so it works inside a compiled step. `step`: an integer (tensor or
    variable, e.g. the optimizer's `iterations`); `every`: a positive Python int."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"lazy_weight: every must be a positive int; received {every!r}.")
    step = ops.convert_to_tensor(step)
    on = ops.equal(ops.mod(step, ops.cast(every, step.dtype)), 0)
    return ops.cast(on, "float32") * float(every)


def denoising_loss(target, prediction):
    """DDPM's simple loss (Ho et al. 2020, eq. 14): the mean over the batch and every pixel of
    `(target - prediction)^2`, the target being the noise (or v) that was added."""
    diff = ops.cast(target, "float32") - ops.cast(prediction, "float32")
    return ops.mean(ops.square(diff))
