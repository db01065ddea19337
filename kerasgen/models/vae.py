"""Autoencoder and variational autoencoder (Kingma & Welling, 2014), as seed 001 compares them.

Both share one encoder/decoder pair (seed 001, section 5.1): a convolutional encoder with batch
norm and LeakyReLU, and a transposed-convolution decoder with LeakyReLU and a sigmoid output, so
the model works on [0, 1] pixels. One training step, one optimizer:

    Autoencoder:  z = Enc(x)                               minimise  R(x, Dec(z))
    VAE:          mean, log_var = Enc(x)
                  z = mean + exp(log_var / 2) * eps,  eps ~ N(0, I)   (reparameterisation)
                  minimise  R(x, Dec(z)) + kld_weight * KL(N(mean, exp(log_var)) || N(0, I))

R is `losses.reconstruction_loss` (MSE or BCE, summed over each image's pixels by default, so
that `kld_weight` is a beta-VAE's beta; see there). Decoding N(0, I) noise (`generate`) makes new
faces with a VAE; with the autoencoder, whose codes are unconstrained, it does not (seed 001,
section 6), which is why the autoencoder is the baseline.
"""

import keras
import numpy as np
from keras import ops

from kerasgen import losses
from kerasgen import nets
from kerasgen.models.base import GenerativeModel
from kerasgen.models.base import Phase
from kerasgen.checks import check_choice
from kerasgen.checks import check_weight


class AutoencoderBase(GenerativeModel):
    """What the autoencoder, the VAE and the VAE-GAN share: the encoder/decoder pair, the
    reconstruction loss, and the public `encode` / `decode` / `reconstruct` API.

    Subclasses set `variational` (whether the encoder outputs a Gaussian posterior) and
    implement `objective(images) -> (loss, logs)` for `train_phases`, or `train_phases` itself.

    Args:
        image_size: side of the square RGB images, one of 16, 32, 64, 128, 256.
        latent_dim: size of the code z.
        width: channels of the encoder's first / decoder's last block (64: 64-128-256-512).
        reconstruction: `"mse"` (seed 001) or `"bce"` (seed 004): the pixel loss.
        reduction: `"sum"` (per image, the ELBO's scale) or `"mean"` (per pixel); see
            `kerasgen.losses.reconstruction_loss`.
        seed: seed of the model's random numbers inside `train_step`.
    """

    pixel_range = (0.0, 1.0)
    variational = False
    #: Name of the one optimizer (`compile(<name>_optimizer=...)` or `optimizer=...`).
    optimizer_name = None

    def __init__(self, image_size=64, latent_dim=128, width=64, reconstruction="mse",
                 reduction="sum", seed=None, **kwargs):
        super().__init__(image_size=image_size, latent_dim=latent_dim, seed=seed, **kwargs)
        if not (isinstance(width, int) and width > 0):
            raise ValueError(f"width must be a positive int; received {width!r}.")
        self.width = width
        self.reconstruction = check_choice(reconstruction, "reconstruction",
                                           losses.RECONSTRUCTION_KINDS)
        self._pixel_loss = self.reconstruction  # the kind of R; the VAE-GAN fixes it to "mse"
        self.reduction = check_choice(reduction, "reduction", losses.REDUCTIONS)
        self.encoder = nets.encoder(
            self.image_size, latent_dim, width, outputs=2 if self.variational else 1
        )
        self.decoder = nets.decoder(latent_dim, self.image_size, width)
        self._mark_built()

    def default_optimizers(self):
        # Adam(1e-3): seed 004's VAE (learning rate .001, batch 128). Seed 001 gives no
        # optimizer settings for its autoencoders.
        return {self.optimizer_name: keras.optimizers.Adam(1e-3)}

    @property
    def sampling_network(self):
        return self.decoder

    def train_phases(self):
        variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        return [Phase(self.objective, variables, self.optimizer_name)]

    def objective(self, images, training=True):
        """The training loss of one batch of images in `pixel_range`: `(loss, logs)`."""
        raise NotImplementedError

    def evaluation_logs(self, batch):
        """The same losses on held-out images, batch norm in inference mode: `evaluate()` and
        `fit(validation_data=...)` log them as `val_loss`, `val_mse`, ..."""
        return self.objective(batch, training=False)[1]

    # ---- the pieces the objectives are made of ----------------------------------------------

    def posterior(self, images, training=False):
        """Images in [0, 1] -> `(mean, log_var)` of q(z | x); an autoencoder's code has no
        variance: `(code, None)`."""
        out = self.encoder(images, training=training)
        return (out[0], out[1]) if self.variational else (out, None)

    def sample_code(self, mean, log_var):
        """z ~ N(mean, exp(log_var)) by reparameterisation; the code itself without variance."""
        if log_var is None:
            return mean
        eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps

    def reconstruct_batch(self, images, training=True):
        """One pass through the autoencoder as in training: `(reconstructions, mean, log_var)`
        with the reconstructions decoded from a sampled code."""
        mean, log_var = self.posterior(images, training=training)
        reconstructions = self.decoder(self.sample_code(mean, log_var), training=training)
        return reconstructions, mean, log_var

    def pixel_losses(self, images, reconstructions):
        """`(R, mse)`: the training reconstruction loss, and the per-pixel MSE on [0, 1] pixels
        that is logged whatever R is, so that runs compare with seed 001's Table 1."""
        recon = losses.reconstruction_loss(
            images, reconstructions, self._pixel_loss, self.reduction
        )
        mse = losses.reconstruction_loss(images, reconstructions, "mse", "mean")
        return recon, mse

    # ---- public API --------------------------------------------------------------------------

    def call(self, images, training=False):
        """Images (uint8 0..255 or float [0, 1]) -> reconstructions in [0, 1], decoded from the
        posterior mean (no sampling)."""
        mean, _ = self.posterior(self.to_model_range(images), training=training)
        return self.from_model_range(self.decoder(mean, training=training))

    def encode(self, images, batch_size=128):
        """Images (uint8 0..255 or float [0, 1]) -> NumPy `(n, latent_dim)`: the posterior
        means of a VAE, the codes of an autoencoder."""
        if not hasattr(images, "shape"):
            images = np.asarray(images)
        x = ops.convert_to_numpy(self.to_model_range(images))
        out = self.encoder.predict(x, batch_size=max(1, min(batch_size, len(x))), verbose=0)
        return np.asarray(out[0] if self.variational else out, dtype="float32")

    def decode(self, latents, batch_size=128):
        """Latent vectors `(n, latent_dim)` -> NumPy images in [0, 1]."""
        return self.generate(latents=latents, batch_size=batch_size)

    def reconstruct(self, images, batch_size=128):
        """Images -> NumPy reconstructions in [0, 1] (decoded posterior means: deterministic)."""
        return self.decode(self.encode(images, batch_size), batch_size)

    def get_config(self):
        return {
            **super().get_config(),
            "width": self.width,
            "reconstruction": self.reconstruction,
            "reduction": self.reduction,
        }


@keras.saving.register_keras_serializable(package="kerasgen")
class Autoencoder(AutoencoderBase):
    """Convolutional autoencoder, seed 001's baseline: a deterministic code, no prior on it.

    `generate` decodes N(0, I) codes like the VAE's, which shows the seed's point: the codes of
    the training images do not fill that distribution, so decoded noise is not a face.

    Args: as `AutoencoderBase` (`image_size`, `latent_dim`, `width`, `reconstruction`,
    `reduction`, `seed`). Its optimizer is named `"autoencoder"`: Adam(1e-3).
    """

    log_names = ("loss", "recon_loss", "mse")
    optimizer_name = "autoencoder"

    def objective(self, images, training=True):
        reconstructions, _, _ = self.reconstruct_batch(images, training)
        recon, mse = self.pixel_losses(images, reconstructions)
        return recon, {"loss": recon, "recon_loss": recon, "mse": mse}


@keras.saving.register_keras_serializable(package="kerasgen")
class VAE(AutoencoderBase):
    """Variational autoencoder with a weighted KL term (a beta-VAE), as seeds 000 and 001.

    Args:
        image_size, latent_dim, width, reconstruction, reduction, seed: as `AutoencoderBase`.
        kld_weight: weight of KL(q(z|x) || N(0, I)) against the reconstruction loss (the seeds'
            "KLD weight" / lambda; seed 000 found 1 best, seed 001 swept 0.01 to 0.2). With the
            default per-image `reduction="sum"`, 1 is the ELBO.

    Its optimizer is named `"vae"`: Adam(1e-3).
    """

    log_names = ("loss", "recon_loss", "kl_loss", "mse", "neg_elbo")
    optimizer_name = "vae"
    variational = True

    def __init__(self, image_size=64, latent_dim=128, width=64, kld_weight=1.0,
                 reconstruction="mse", reduction="sum", seed=None, **kwargs):
        kld_weight = check_weight(kld_weight, "kld_weight")
        super().__init__(image_size=image_size, latent_dim=latent_dim, width=width,
                         reconstruction=reconstruction, reduction=reduction, seed=seed, **kwargs)
        self.kld_weight = kld_weight

    def objective(self, images, training=True):
        reconstructions, mean, log_var = self.reconstruct_batch(images, training)
        recon, mse = self.pixel_losses(images, reconstructions)
        kl = losses.kl_divergence(mean, log_var)
        loss = recon + self.kld_weight * kl
        # The negative ELBO whatever the KLD weight and reduction: the summed reconstruction
        # loss plus the full KL, per image. A KLD-weight sweep can compare trials by it without
        # rewarding the smallest weight.
        if self.reduction == "sum":
            summed = recon
        else:
            summed = losses.reconstruction_loss(images, reconstructions, self._pixel_loss, "sum")
        neg_elbo = summed + kl
        return loss, {"loss": loss, "recon_loss": recon, "kl_loss": kl, "mse": mse,
                      "neg_elbo": neg_elbo}

    def get_config(self):
        return {**super().get_config(), "kld_weight": self.kld_weight}
