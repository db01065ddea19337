"""DCGAN (Radford et al., 2016), with the improvements of the DCGAN seed report as options.

One training step, as the paper's algorithm box (separate real and fake batches through the
discriminator, as in the reference implementation, so batch norm never mixes them):

    1. discriminator: minimise BCE(D(x), 1 or smoothed) + BCE(D(G(z)), 0)
    2. generator:     minimise BCE(D(G(z')), 1)            (non-saturating loss, fresh z')

With `loss="hinge"` (Lim & Ye, 2017; SNGAN's loss) the same step minimises
mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))) and -mean(D(G(z'))) instead.
"""

import keras
from keras import ops

from kerasgen import losses
from kerasgen import nets
from kerasgen.checks import check_choice
from kerasgen.models.base import GenerativeModel
from kerasgen.models.base import Phase
from kerasgen.models.gan import Adversarial

#: Adversarial losses `DCGAN(loss=...)` accepts.
LOSSES = ("bce", "hinge")


@keras.saving.register_keras_serializable(package="kerasgen")
class DCGAN(Adversarial, GenerativeModel):
    """Deep convolutional GAN.

    Args:
        latent_dim: size of z (100 in the paper).
        image_size: 16, 32, 64 (the paper's), 128 or 256; sets the number of blocks.
        width: channels of the discriminator's first / generator's last block (64).
        generator_activation: `"relu"` (paper) or `"leaky_relu"` (seed 002's improved model).
        discriminator_dropout: dropout rate after each discriminator block (seed 002: 0.3-0.5).
        label_smoothing: one-sided label smoothing of the real targets: `None` (targets 1), a
            float `s` (targets `1 - s`, Salimans et al.), or a `(low, high)` range from which
            each real target is drawn uniformly (seed 002 uses `(0.7, 1.2)`).
        instance_noise: standard deviation (in the [-1, 1] pixel range) of Gaussian noise added
            to every image the discriminator sees (Sonderby et al., 2017).
        instance_noise_decay_steps: if set, the noise decays linearly to 0 over this many
            generator steps.
        loss: `"bce"` (the paper's binary cross-entropy, non-saturating for the generator) or
            `"hinge"` (`kerasgen.losses.hinge_discriminator_loss` and
            `hinge_generator_loss`; no label smoothing). `d_real` and `d_fake` stay the mean
            `sigmoid(D(.))` with either loss.
        augment, augment_p, r1_gamma, r1_every: DiffAugment (with a fixed or ADA-adapted
            probability) in front of every discriminator call, and the lazy R1 penalty; see
            `kerasgen.models.gan.Adversarial`.
        seed: seed of the model's random numbers inside `train_step`.
    """

    log_names = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(
        self,
        latent_dim=100,
        image_size=64,
        width=64,
        generator_activation="relu",
        discriminator_dropout=0.0,
        label_smoothing=None,
        instance_noise=0.0,
        instance_noise_decay_steps=None,
        loss="bce",
        augment=None,
        augment_p=1.0,
        r1_gamma=0.0,
        r1_every=16,
        seed=None,
        **kwargs,
    ):
        super().__init__(image_size=image_size, latent_dim=latent_dim, seed=seed, **kwargs)
        self.width = width
        self.generator_activation = generator_activation
        self.discriminator_dropout = float(discriminator_dropout)
        self.init_adversarial(label_smoothing, augment, augment_p, r1_gamma, r1_every)
        # Not `self.loss`: Keras' compile() sets that attribute (to its own, unused, loss).
        self.adversarial_loss = check_choice(loss, "loss", LOSSES)
        if self.adversarial_loss == "hinge" and self.label_smoothing is not None:
            raise ValueError(
                "label_smoothing applies to the BCE loss only; received loss='hinge' with "
                f"label_smoothing={label_smoothing!r}."
            )
        if instance_noise < 0:
            raise ValueError(f"instance_noise must be >= 0; received {instance_noise!r}.")
        self.instance_noise = float(instance_noise)
        self.instance_noise_decay_steps = instance_noise_decay_steps
        self.generator = nets.generator(
            latent_dim, self.image_size, width, activation=generator_activation
        )
        self.discriminator = nets.discriminator(
            self.image_size, width, dropout=self.discriminator_dropout
        )
        self._mark_built()

    def default_optimizers(self):
        return {
            "generator": keras.optimizers.Adam(2e-4, beta_1=0.5),
            "discriminator": keras.optimizers.Adam(2e-4, beta_1=0.5),
        }

    @property
    def sampling_network(self):
        return self.generator

    def train_phases(self):
        return [
            Phase(self.discriminator_loss, self.discriminator.trainable_variables, "discriminator"),
            Phase(self.generator_loss, self.generator.trainable_variables, "generator"),
        ]

    # ---- the algorithm ----------------------------------------------------------------------

    def discriminator_loss(self, real):
        batch_size = ops.shape(real)[0]
        fake = ops.stop_gradient(self.generator(self.latent_noise(batch_size), training=True))
        real_logits = self.discriminator(self.seen(self._noisy(real)), training=True)
        fake_logits = self.discriminator(self.seen(self._noisy(fake)), training=True)
        if self.adversarial_loss == "hinge":
            loss = losses.hinge_discriminator_loss(real_logits, fake_logits)
        else:
            loss = losses.discriminator_loss(
                real_logits, fake_logits, self.real_targets(batch_size)
            )
        loss = loss + self.r1(lambda x: self.discriminator(x, training=True), real)
        return loss, {
            "d_loss": loss,
            **self.probability_logs(real=real_logits, fake=fake_logits),
            **self.adapt(real_logits, batch_size),
        }

    def generator_loss(self, real):
        fake = self.generator(self.latent_noise(ops.shape(real)[0]), training=True)
        fake_logits = self.discriminator(self.seen(self._noisy(fake)), training=True)
        if self.adversarial_loss == "hinge":
            loss = losses.hinge_generator_loss(fake_logits)
        else:
            loss = losses.generator_loss(fake_logits)
        return loss, {"g_loss": loss}

    def _noisy(self, images):
        if not self.instance_noise:
            return images
        std = self.instance_noise
        if self.instance_noise_decay_steps:
            step = ops.cast(self.optimizer["generator"].iterations, "float32")
            std = std * ops.maximum(0.0, 1.0 - step / float(self.instance_noise_decay_steps))
        noise = keras.random.normal(ops.shape(images), seed=self.seed_generator)
        return images + std * noise

    def get_config(self):
        return {
            **super().get_config(),
            "width": self.width,
            "generator_activation": self.generator_activation,
            "discriminator_dropout": self.discriminator_dropout,
            "instance_noise": self.instance_noise,
            "instance_noise_decay_steps": self.instance_noise_decay_steps,
            "loss": self.adversarial_loss,
            **self.adversarial_config(),
        }
