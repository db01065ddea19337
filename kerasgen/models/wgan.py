"""WGAN-GP (Gulrajani et al., 2017): a Wasserstein GAN whose critic is kept 1-Lipschitz by a
gradient penalty instead of weight clipping (seed report 004).

One training step, as the paper's Algorithm 1:

    repeat n_critic times (the same real batch, fresh z and alpha each time):
        x_hat = alpha * x + (1 - alpha) * G(z),  alpha ~ U[0, 1] per sample
        critic:    minimise D(G(z)) - D(x) + gp_weight * (||grad D(x_hat)||_2 - 1)^2
    generator:     minimise -D(G(z'))                                  (fresh z')

The critic has no sigmoid and no batch norm (the penalty is per sample, which batch norm would
break): layer norm, as the paper suggests, or none. The generator is DCGAN's.
"""

import keras
from keras import ops

from kerasgen import losses
from kerasgen import nets
from kerasgen.models.base import GenerativeModel
from kerasgen.models.base import Phase
from kerasgen.models.gan import Adversarial

CRITIC_NORMS = ("layer", "none")


@keras.saving.register_keras_serializable(package="kerasgen")
class WGANGP(Adversarial, GenerativeModel):
    """Wasserstein GAN with gradient penalty.

    `compile()` with no arguments gives the paper's Adam(1e-4, beta_1=0, beta_2=0.9) for both
    networks. Seed 004 trained with a learning rate of 2e-3; reach it (or anything else) with
    `compile(generator_optimizer=..., critic_optimizer=...)`.

    Logs per step: `critic_loss` (with the penalty), `g_loss`, `wasserstein` (the critic's
    estimate of the Wasserstein distance, mean D(x) - mean D(G(z)), which falls as the generator
    improves) and `gradient_penalty` (before weighting), all from the last critic step.

    Args:
        latent_dim: size of z.
        image_size: 16 to 256, a power of two.
        width: channels of the critic's first / generator's last block.
        n_critic: critic steps per generator step (5 in the paper).
        gp_weight: lambda, the penalty's weight (10 in the paper).
        critic_norm: `"layer"` (the paper's suggestion) or `"none"`.
        generator_activation: `"relu"` or `"leaky_relu"`.
        augment, augment_p: DiffAugment (fixed or ADA probability) in front of every critic
            call (`kerasgen.models.gan.Adversarial`); the gradient penalty is taken on the
            images as they are, between real and fake.
        seed: seed of the model's random numbers inside `train_step` (z, alpha).
    """

    discriminator_optimizer = "critic"

    log_names = ("critic_loss", "g_loss", "wasserstein", "gradient_penalty")

    def __init__(
        self,
        latent_dim=128,
        image_size=64,
        width=64,
        n_critic=5,
        gp_weight=10.0,
        critic_norm="layer",
        generator_activation="relu",
        augment=None,
        augment_p=1.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(image_size=image_size, latent_dim=latent_dim, seed=seed, **kwargs)
        self.init_adversarial(augment=augment, augment_p=augment_p)
        if not (isinstance(n_critic, int) and n_critic >= 1):
            raise ValueError(f"n_critic must be an int >= 1; received {n_critic!r}.")
        if not gp_weight >= 0:
            raise ValueError(f"gp_weight must be >= 0; received {gp_weight!r}.")
        if critic_norm not in CRITIC_NORMS:
            raise ValueError(
                f"critic_norm must be one of {CRITIC_NORMS} (batch norm would break the "
                f"per-sample gradient penalty); received {critic_norm!r}."
            )
        self.width = width
        self.n_critic = n_critic
        self.gp_weight = float(gp_weight)
        self.critic_norm = critic_norm
        self.generator_activation = generator_activation
        self.generator = nets.generator(
            latent_dim, self.image_size, width, activation=generator_activation
        )
        self.critic = nets.discriminator(self.image_size, width, norm=critic_norm, name="critic")
        self._mark_built()

    def default_optimizers(self):
        return {
            "generator": keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
            "critic": keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
        }

    @property
    def sampling_network(self):
        return self.generator

    def train_phases(self):
        critic = Phase(self.critic_loss, self.critic.trainable_variables, "critic")
        generator = Phase(self.generator_loss, self.generator.trainable_variables, "generator")
        return [critic] * self.n_critic + [generator]

    # ---- the algorithm ----------------------------------------------------------------------

    def critic_loss(self, real):
        fake = ops.stop_gradient(
            self.generator(self.latent_noise(ops.shape(real)[0]), training=True)
        )
        real_scores = self.critic(self.seen(real), training=True)
        fake_scores = self.critic(self.seen(fake), training=True)
        penalty = losses.gradient_penalty(
            lambda x: self.critic(x, training=True), real, fake, seed=self.seed_generator
        )
        loss = losses.critic_loss(real_scores, fake_scores) + self.gp_weight * penalty
        return loss, {
            "critic_loss": loss,
            "wasserstein": ops.mean(real_scores) - ops.mean(fake_scores),
            "gradient_penalty": penalty,
            **self.adapt(real_scores, ops.shape(real)[0]),
        }

    def generator_loss(self, real):
        fake = self.generator(self.latent_noise(ops.shape(real)[0]), training=True)
        loss = losses.wasserstein_generator_loss(self.critic(self.seen(fake), training=True))
        return loss, {"g_loss": loss}

    def get_config(self):
        return {
            **super().get_config(),
            "width": self.width,
            "n_critic": self.n_critic,
            "gp_weight": self.gp_weight,
            "critic_norm": self.critic_norm,
            "generator_activation": self.generator_activation,
            "augment": self.augment,
            "augment_p": self.augment_p,
        }
