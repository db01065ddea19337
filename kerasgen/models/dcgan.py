"""DCGAN (Radford et al., 2016), with the improvements of the DCGAN seed report as options.

One training step, as the paper's algorithm box (separate real and fake batches through the
discriminator, as in the reference implementation, so batch norm never mixes them):

    1. discriminator: minimise BCE(D(x), 1 or smoothed) + BCE(D(G(z)), 0)
    2. generator:     minimise BCE(D(G(z')), 1)            (non-saturating loss, fresh z')
"""

import keras
from keras import ops

from kerasgen import losses
from kerasgen import nets
from kerasgen.models.base import GenerativeModel
from kerasgen.models.base import Phase


@keras.saving.register_keras_serializable(package="kerasgen")
class DCGAN(GenerativeModel):
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
        seed=None,
        **kwargs,
    ):
        super().__init__(image_size=image_size, latent_dim=latent_dim, seed=seed, **kwargs)
        self.width = width
        self.generator_activation = generator_activation
        self.discriminator_dropout = float(discriminator_dropout)
        self.label_smoothing = _check_label_smoothing(label_smoothing)
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
        real_logits = self.discriminator(self._noisy(real), training=True)
        fake_logits = self.discriminator(self._noisy(fake), training=True)
        loss = losses.discriminator_loss(real_logits, fake_logits, self._real_targets(batch_size))
        return loss, {
            "d_loss": loss,
            "d_real": ops.mean(ops.sigmoid(real_logits)),
            "d_fake": ops.mean(ops.sigmoid(fake_logits)),
        }

    def generator_loss(self, real):
        fake = self.generator(self.latent_noise(ops.shape(real)[0]), training=True)
        fake_logits = self.discriminator(self._noisy(fake), training=True)
        loss = losses.generator_loss(fake_logits)
        return loss, {"g_loss": loss}

    def _real_targets(self, batch_size):
        if self.label_smoothing is None:
            return 1.0
        low, high = self.label_smoothing
        if low == high:
            return low
        return keras.random.uniform(
            (batch_size, 1), minval=low, maxval=high, seed=self.seed_generator
        )

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
            "label_smoothing": self.label_smoothing,
            "instance_noise": self.instance_noise,
            "instance_noise_decay_steps": self.instance_noise_decay_steps,
        }


def _check_label_smoothing(value):
    """None, s in [0, 1) -> (1 - s, 1 - s), or a (low, high) range with 0 < low <= high."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        if not 0 <= value < 1:
            raise ValueError(f"label_smoothing as a number must be in [0, 1); received {value!r}.")
        return (1.0 - float(value), 1.0 - float(value))
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"label_smoothing must be None, a number or a (low, high) pair; received {value!r}."
        ) from None
    if not 0 < low <= high:
        raise ValueError(f"label_smoothing range needs 0 < low <= high; received {value!r}.")
    return (low, high)
