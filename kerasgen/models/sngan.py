"""SNGAN (Miyato et al., 2018, "Spectral Normalization for Generative Adversarial Networks"),
as mimicry trains it (`torch_mimicry/nets/sngan`): ResNet networks, a spectrally normalised
discriminator and the hinge loss.

One training step, as WGAN-GP's (the paper's Algorithm 1 with the hinge loss):

    repeat n_dis times (the same real batch, fresh z each time):
        discriminator: minimise mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))
    generator:         minimise -mean(D(G(z')))                       (fresh z')

Every call of the discriminator in training mode (real and fake batches, and the generator's
step) moves each layer's power-iteration vector one step on, as in mimicry. Mimicry draws a new
real batch for each discriminator step; here the `n_dis` steps share the step's batch, as
`WGANGP`'s critic steps do, so one `fit` step is one generator step.
"""

import keras
from keras import ops

from kerasgen import losses
from kerasgen import nets
from kerasgen.checks import check_int
from kerasgen.models.base import GenerativeModel
from kerasgen.models.base import Phase
from kerasgen.models.gan import Adversarial


def default_width(image_size):
    """128 at 16 and 32 px (the paper's CIFAR-10 discriminator; its generator has 256), 64 from
    64 px on (mimicry's CelebA/ImageNet `ngf = ndf = 1024 = 16 * 64`)."""
    return 128 if image_size <= 32 else 64


@keras.saving.register_keras_serializable(package="kerasgen")
class SNGAN(Adversarial, GenerativeModel):
    """GAN with a spectrally normalised ResNet discriminator and the hinge loss.

    `compile()` with no arguments gives the paper's and mimicry's Adam(2e-4, beta_1=0,
    beta_2=0.9) for both networks (mimicry also decays both rates linearly to 0 over training,
    which a `keras.optimizers.schedules` learning rate gives).

    Logs per step: `d_loss` and `g_loss`, and `d_real`, `d_fake`: the mean discriminator
    *logits* of the real and fake batches (hinge targets: >= 1 and <= -1), from the last
    discriminator step.

    Args:
        latent_dim: size of z (128, mimicry's `nz`).
        image_size: 16, 32 (the paper's CIFAR-10 networks), 64 (mimicry's CelebA), 128 or 256
            (see `kerasgen.nets.resnet` for the layouts).
        width: channels of the discriminator's first block. `None`: 128 up to 32 px (the
            paper's, whose generator then has 256 in every block), 64 from 64 px on (mimicry's
            `ngf = ndf = 1024` at the 4x4 end).
        n_dis: discriminator steps per generator step (5, the paper's and mimicry's).
        power_iterations: power-iteration steps per training call of each spectrally
            normalised layer (1 in the paper).
        augment, augment_p, r1_gamma, r1_every: DiffAugment (fixed or ADA probability) in
            front of every discriminator call and the lazy R1 penalty
            (`kerasgen.models.gan.Adversarial`).
        seed: seed of the model's random numbers inside `train_step` (z).
    """

    log_names = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(
        self,
        latent_dim=128,
        image_size=64,
        width=None,
        n_dis=5,
        power_iterations=1,
        augment=None,
        augment_p=1.0,
        r1_gamma=0.0,
        r1_every=16,
        seed=None,
        **kwargs,
    ):
        super().__init__(image_size=image_size, latent_dim=latent_dim, seed=seed, **kwargs)
        self.init_adversarial(None, augment, augment_p, r1_gamma, r1_every)
        if width is None:
            width = default_width(self.image_size)
        self.width = check_int(width, "width", minimum=1)
        self.n_dis = check_int(n_dis, "n_dis", minimum=1)
        self.power_iterations = check_int(power_iterations, "power_iterations", minimum=1)
        self.generator = nets.resnet_generator(latent_dim, self.image_size, self.width)
        self.discriminator = nets.resnet_discriminator(
            self.image_size, self.width, power_iterations=self.power_iterations
        )
        self._mark_built()

    def default_optimizers(self):
        return {
            "generator": keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.9),
            "discriminator": keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.9),
        }

    @property
    def sampling_network(self):
        return self.generator

    def train_phases(self):
        discriminator = Phase(
            self.discriminator_loss, self.discriminator.trainable_variables, "discriminator"
        )
        generator = Phase(self.generator_loss, self.generator.trainable_variables, "generator")
        return [discriminator] * self.n_dis + [generator]

    # ---- the algorithm ----------------------------------------------------------------------

    def discriminator_loss(self, real):
        fake = ops.stop_gradient(
            self.generator(self.latent_noise(ops.shape(real)[0]), training=True)
        )
        real_logits = self.discriminator(self.seen(real), training=True)
        fake_logits = self.discriminator(self.seen(fake), training=True)
        loss = losses.hinge_discriminator_loss(real_logits, fake_logits)
        loss = loss + self.r1(lambda x: self.discriminator(x, training=True), real)
        return loss, {
            "d_loss": loss,
            "d_real": ops.mean(ops.cast(real_logits, "float32")),
            "d_fake": ops.mean(ops.cast(fake_logits, "float32")),
            **self.adapt(real_logits, ops.shape(real)[0]),
        }

    def generator_loss(self, real):
        fake = self.generator(self.latent_noise(ops.shape(real)[0]), training=True)
        loss = losses.hinge_generator_loss(self.discriminator(self.seen(fake), training=True))
        return loss, {"g_loss": loss}

    def get_config(self):
        return {
            **super().get_config(),
            "width": self.width,
            "n_dis": self.n_dis,
            "power_iterations": self.power_iterations,
            **{k: v for k, v in self.adversarial_config().items() if k != "label_smoothing"},
        }
