"""VAE-GAN (Larsen et al., 2016, "Autoencoding beyond pixels using a learned similarity
metric"), as seed 001 (section 5.3) trains it: the VAE of `kerasgen.models.vae` plus a DCGAN
discriminator that sees real images x, their reconstructions x~ = Dec(z), z ~ q(z|x), and decoded
prior samples x_p = Dec(z_p), z_p ~ N(0, I).

One training step, three phases with three optimizers, each network minimising its own loss as in
the paper's Algorithm 1 (non-saturating GAN loss for the decoder, as in every kerasgen GAN):

    1. discriminator:  BCE(D(x), 1) + BCE(D(x~), 0) + BCE(D(x_p), 0)
    2. encoder:        kld_weight * KL(q(z|x) || N(0, I)) + R(x, x~)
    3. decoder:        reconstruction_weight * R(x, x~)
                       + gan_weight * (BCE(D(x~), 1) + BCE(D(x_p), 1))

R is the reconstruction error, `reconstruction=`:

- `"pixel"` (default): the pixel MSE of seed 001's VAE-GAN, summed per image (`reduction`, as
  the VAE).
- `"feature"`: Larsen et al.'s learned similarity: the squared error between the
  discriminator's features of x and x~ (its last convolutional block, flattened), reduced the
  same way. x and x~ go through the discriminator in one batch, so batch norm normalises both
  with the same statistics and the error compares like with like.

As in the paper, the encoder gets no GAN gradient and the discriminator no reconstruction
gradient (each phase differentiates with respect to its own network only); seed 001 instead
back-propagated the GAN loss into the encoder too. Unlike Algorithm 1, whose three gradients
come from one forward pass, the phases run in turn, each seeing the updates of the ones before
(discriminator first, as seed 001 and kerasgen's DCGAN). The discriminator sees real images,
reconstructions and prior samples as three separate batches, so batch norm never mixes them.
"""

import keras
from keras import ops

from kerasgen import losses
from kerasgen import nets
from kerasgen.models.base import Phase
from kerasgen.checks import check_choice
from kerasgen.checks import check_weight
from kerasgen.models.vae import VAE

RECONSTRUCTION_SPACES = ("pixel", "feature")


@keras.saving.register_keras_serializable(package="kerasgen")
class VAEGAN(VAE):
    """VAE whose decoder is also a GAN generator, judged on reconstructions and prior samples.

    Args:
        image_size, latent_dim, width, reduction, seed: as `VAE` (the discriminator has the
            same `width`).
        kld_weight: weight of the KL term in the encoder's loss (1: Larsen et al.'s L_prior;
            seed 001's table reports 0.01 with its own per-pixel scaling).
        reconstruction_weight: weight of R in the decoder's loss (Larsen et al.'s gamma, which
            trades reconstruction against fooling the discriminator).
        gan_weight: weight of the decoder's GAN loss.
        reconstruction: `"pixel"` (MSE on pixels) or `"feature"` (MSE on the discriminator's
            features, Larsen et al.); see the module docstring.

    Optimizers `"encoder"`, `"decoder"` and `"discriminator"`: Adam(2e-4, beta_1=0.5) each,
    the DCGAN settings of kerasgen's GANs (Larsen et al. used RMSProp).
    """

    log_names = (
        "d_loss", "g_loss", "encoder_loss", "decoder_loss", "kl_loss", "recon_loss", "mse",
        "d_real", "d_recon", "d_prior",
    )
    optimizer_name = None  # three optimizers, named in default_optimizers

    def __init__(self, image_size=64, latent_dim=128, width=64, kld_weight=1.0,
                 reconstruction_weight=1.0, gan_weight=1.0, reconstruction="pixel",
                 reduction="sum", seed=None, **kwargs):
        reconstruction = check_choice(reconstruction, "reconstruction", RECONSTRUCTION_SPACES)
        reconstruction_weight = check_weight(reconstruction_weight, "reconstruction_weight")
        gan_weight = check_weight(gan_weight, "gan_weight")
        super().__init__(image_size=image_size, latent_dim=latent_dim, width=width,
                         kld_weight=kld_weight, reconstruction="mse", reduction=reduction,
                         seed=seed, **kwargs)
        self.reconstruction = reconstruction
        self.reconstruction_weight = reconstruction_weight
        self.gan_weight = gan_weight
        self.discriminator = nets.discriminator(self.image_size, width)
        # The same layers, also returning the features the "feature" reconstruction compares.
        self._discriminator_features = nets.Network(
            self.discriminator.input,
            self.discriminator.get_layer("features").output,
            name="discriminator_features",
        )
        self._mark_built()

    def default_optimizers(self):
        return {
            name: keras.optimizers.Adam(2e-4, beta_1=0.5)
            for name in ("encoder", "decoder", "discriminator")
        }

    def train_phases(self):
        return [
            Phase(self.discriminator_loss, self.discriminator.trainable_variables, "discriminator"),
            Phase(self.encoder_loss, self.encoder.trainable_variables, "encoder"),
            Phase(self.decoder_loss, self.decoder.trainable_variables, "decoder"),
        ]

    # ---- the algorithm ----------------------------------------------------------------------

    def discriminator_loss(self, images):
        reconstructions, _, _ = self.reconstruct_batch(images)
        reconstructions = ops.stop_gradient(reconstructions)
        prior_samples = ops.stop_gradient(self._prior_samples(ops.shape(images)[0]))
        real_logits = self.discriminator(images, training=True)
        recon_logits = self.discriminator(reconstructions, training=True)
        prior_logits = self.discriminator(prior_samples, training=True)
        loss = losses.discriminator_loss(real_logits, recon_logits) + _bce(prior_logits, 0.0)
        return loss, {
            "d_loss": loss,
            "d_real": ops.mean(ops.sigmoid(real_logits)),
            "d_recon": ops.mean(ops.sigmoid(recon_logits)),
            "d_prior": ops.mean(ops.sigmoid(prior_logits)),
        }

    def encoder_loss(self, images):
        reconstructions, mean, log_var = self.reconstruct_batch(images)
        kl = losses.kl_divergence(mean, log_var)
        recon = self.reconstruction_error(images, reconstructions)
        _, mse = self.pixel_losses(images, reconstructions)
        loss = self.kld_weight * kl + recon
        return loss, {"encoder_loss": loss, "kl_loss": kl, "recon_loss": recon, "mse": mse}

    def decoder_loss(self, images):
        reconstructions, _, _ = self.reconstruct_batch(images)
        prior_samples = self._prior_samples(ops.shape(images)[0])
        recon = self.reconstruction_error(images, reconstructions)
        gan = losses.generator_loss(
            self.discriminator(reconstructions, training=True)
        ) + losses.generator_loss(self.discriminator(prior_samples, training=True))
        loss = self.reconstruction_weight * recon + self.gan_weight * gan
        return loss, {"decoder_loss": loss, "g_loss": gan}

    def reconstruction_error(self, images, reconstructions):
        """R(x, x~): pixel MSE, or MSE between the discriminator's features of x and x~."""
        if self.reconstruction == "pixel":
            return self.pixel_losses(images, reconstructions)[0]
        n = ops.shape(images)[0]
        features = self._discriminator_features(
            ops.concatenate([images, reconstructions], axis=0), training=True
        )
        return losses.reconstruction_loss(features[:n], features[n:], "mse", self.reduction)

    def _prior_samples(self, batch_size):
        return self.decoder(self.latent_noise(batch_size), training=True)

    def get_config(self):
        return {
            **super().get_config(),
            "reconstruction_weight": self.reconstruction_weight,
            "gan_weight": self.gan_weight,
        }


def _bce(logits, target):
    return losses.binary_crossentropy_from_logits(ops.full_like(logits, target), logits)
