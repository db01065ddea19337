"""Attribute-conditional DCGAN with an encoder for refinement, as seed 003 ("Face Generation
with Attributes") describes it.

Generator and discriminator both see a binary attribute vector encoded +1 (present) / -1
(absent), the seed's encoding. The generator concatenates it to z. The discriminator, by
default (`conditioning="input"`), gets it as k constant feature maps stacked on the image's
channels, so its convolutions can relate each attribute to the pixels. The seed's DCGAN 1 joins
the vector to the features before the last dense layer (`conditioning="dense"`); there the
attributes only add `v . a` to the logit whatever the image is, so
`D(x, a) - D(x, a_wrong)` does not depend on x and D cannot tell a matching face from a
mismatched one (the seed noted the attributes carry little weight in that D). The data's labels
are 0/1 (CelebA's files and `synthetic_faces` alike) and so is the public API; the model
converts.

One training step, in order (real, fake and mismatched batches go through D as separate calls,
so batch norm never mixes them):

    1. discriminator: D_real + D_fake + mismatch_weight * D_mismatch, where
           D_real     = BCE(D(x, a), 1 or smoothed)        a real face with its attributes
           D_fake     = BCE(D(G(z, a), a), 0)              generated faces, the batch's attributes
           D_mismatch = BCE(D(x, a_wrong), 0)              a real face with wrong attributes
       a_wrong flips ONE attribute per sample, chosen uniformly at random: every sample is
       certainly mismatched (rolling the batch's attributes is not: two faces often share all
       five), and the discriminator must check each attribute, not only the whole vector.
    2. generator:     BCE(D(G(z', a), a), 1) + reconstruction_weight * Recon    (fresh z')
    3. encoder:       Recon
       Recon = mean squared error, on [0, 1] pixels, between x and G(E(x), a).

The reconstruction term is the seed's models 4-5 (G_loss = CE + Recon_loss): it trains the
generator (step 2, with the codes E(x) held fixed) so that it can redraw a given face, and the
encoder (step 3, with G fixed, in inference mode as `refine` runs it) to find that face's code.
`reconstruction_weight=0` is the seed's models 1-3 (the encoder still learns to invert G, so
`refine` works, but G is not pulled toward reconstructions). Fake attributes are the batch's own,
so generated attribute statistics follow the data's.
"""

import keras
import numpy as np
from keras import ops

from kerasgen import losses
from kerasgen import nets
from kerasgen.errors import DataError
from kerasgen.models.base import GenerativeModel
from kerasgen.models.base import Phase
from kerasgen.checks import check_weight
from kerasgen.models.conditional import DEFAULT_ATTRIBUTES  # noqa: F401  (its documented home)
from kerasgen.models.conditional import AttributeConditioned
from kerasgen.models.conditional import to_signs
from kerasgen.models.gan import Adversarial

CONDITIONINGS = ("input", "dense", "projection")


def flip_one_attribute(signs, index):
    """`signs` (+1/-1, `(batch, k)`) with attribute `index[i]` of sample `i` negated."""
    k = ops.shape(signs)[-1]
    return signs * (1.0 - 2.0 * ops.one_hot(index, k, dtype=signs.dtype))


@keras.saving.register_keras_serializable(package="kerasgen")
class ConditionalGAN(Adversarial, AttributeConditioned, GenerativeModel):
    """Attribute-conditional DCGAN (seed 003), with an encoder to refine given faces.

    Train it on batches `(images, attributes)`, attributes float 0/1 in the order of
    `attributes`, e.g. `synthetic_faces(..., attributes=model.attributes)` or CelebA with the
    same names. Then `generate(n, seed=, attributes={"Smiling": 1})`, and
    `refine(images, {"Eyeglasses": 1}, current=their_attributes)`.

    Args:
        attributes: CelebA attribute names to condition on (`DEFAULT_ATTRIBUTES`: 5).
        image_size: 16, 32, 64 or larger (power of two); the seed trained at 32 and 64.
        latent_dim: size of z (100, as the seed's generator input "100 + attributes").
        width: channels of the discriminator's first / generator's last block (64).
        mismatch_weight: weight of D_mismatch in the discriminator loss (1: the seed's sum).
        reconstruction_weight: weight of Recon in the generator loss (1: the seed's models 4-5;
            0: models 1-3).
        conditioning: where the discriminator sees the attributes: `"input"` (tiled as extra
            input channels; default), `"dense"` (before the last layer, the seed's DCGAN 1) or
            `"projection"` (Miyato & Koyama 2018: the projection discriminator, `psi(h) +
            (V a) . h` on its features `h`, with conditional batch norm in the generator, each
            norm's scale and shift a function of the attributes).
        label_smoothing: as `DCGAN`: `None`, a float `s` (real targets `1 - s`) or a
            `(low, high)` range.
        augment, augment_p, r1_gamma, r1_every: DiffAugment (fixed or ADA probability) in
            front of every discriminator call and the lazy R1 penalty, as `DCGAN`'s
            (`kerasgen.models.gan.Adversarial`).
        seed: seed of the model's random numbers inside `train_step`.

    Optimizers `"discriminator"`, `"generator"`, `"encoder"`: Adam(2e-4, beta_1=0.5) each.
    """

    log_names = ("d_loss", "g_loss", "recon_loss", "d_real", "d_fake", "d_mismatch")

    def __init__(
        self,
        attributes=DEFAULT_ATTRIBUTES,
        image_size=64,
        latent_dim=100,
        width=64,
        mismatch_weight=1.0,
        reconstruction_weight=1.0,
        label_smoothing=None,
        conditioning="input",
        augment=None,
        augment_p=1.0,
        r1_gamma=0.0,
        r1_every=16,
        seed=None,
        **kwargs,
    ):
        super().__init__(image_size=image_size, latent_dim=latent_dim, seed=seed, **kwargs)
        self.init_attributes(attributes)
        if not (isinstance(width, int) and width > 0):
            raise ValueError(f"width must be a positive int; received {width!r}.")
        self.width = width
        self.mismatch_weight = check_weight(mismatch_weight, "mismatch_weight")
        self.reconstruction_weight = check_weight(reconstruction_weight, "reconstruction_weight")
        self.init_adversarial(label_smoothing, augment, augment_p, r1_gamma, r1_every)
        k = len(self.attributes)
        if conditioning not in CONDITIONINGS:
            raise ValueError(
                f"conditioning must be one of {CONDITIONINGS}; received {conditioning!r}."
            )
        self.conditioning = conditioning
        norm = "conditional_batch" if conditioning == "projection" else "batch"
        self.generator = nets.generator(latent_dim, self.image_size, width, norm=norm,
                                        condition_dim=k)
        self.discriminator = nets.discriminator(
            self.image_size, width, condition_dim=k, condition_at=conditioning
        )
        self.encoder = nets.encoder(self.image_size, latent_dim, width, outputs=1)
        self._mark_built()

    def default_optimizers(self):
        return {
            "discriminator": keras.optimizers.Adam(2e-4, beta_1=0.5),
            "generator": keras.optimizers.Adam(2e-4, beta_1=0.5),
            "encoder": keras.optimizers.Adam(2e-4, beta_1=0.5),
        }

    @property
    def sampling_network(self):
        """The generator: `[latents, attribute signs (+1/-1)]` -> images in [-1, 1]."""
        return self.generator

    def train_phases(self):
        return [
            Phase(self.discriminator_loss, self.discriminator.trainable_variables, "discriminator"),
            Phase(self.generator_loss, self.generator.trainable_variables, "generator"),
            Phase(self.encoder_loss, self.encoder.trainable_variables, "encoder"),
        ]

    def prepare_batch(self, data):
        """`(images, 0/1 attributes)` -> `(images in [-1, 1], attribute signs +1/-1)`."""
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        k = self.num_attributes
        if labels is None:
            raise DataError(
                "ConditionalGAN trains on batches (images, attributes); received images only. "
                f"Use e.g. synthetic_faces(..., attributes={list(self.attributes)})."
            )
        if len(labels.shape) != 2 or labels.shape[1] != k:
            raise DataError(
                f"ConditionalGAN was built for {k} attributes {list(self.attributes)} but "
                f"received attribute batches of shape {tuple(labels.shape)}; expected (batch, {k})."
            )
        return self.to_model_range(images), to_signs(labels)

    # ---- the algorithm ----------------------------------------------------------------------

    def mismatched(self, signs):
        """Wrong attributes for each sample: one attribute, drawn uniformly, flipped."""
        index = keras.random.randint(
            (ops.shape(signs)[0],), 0, self.num_attributes, seed=self.seed_generator
        )
        return flip_one_attribute(signs, index)

    def discriminator_loss(self, batch):
        real, signs = batch
        batch_size = ops.shape(real)[0]
        fake = ops.stop_gradient(
            self.generator([self.latent_noise(batch_size), signs], training=True)
        )
        wrong = self.mismatched(signs)
        real_logits = self.discriminator([self.seen(real), signs], training=True)
        fake_logits = self.discriminator([self.seen(fake), signs], training=True)
        mismatch_logits = self.discriminator([self.seen(real), wrong], training=True)
        loss = losses.conditional_discriminator_loss(
            real_logits, fake_logits, mismatch_logits, self.real_targets(batch_size),
            self.mismatch_weight,
        )
        loss = loss + self.r1(lambda x: self.discriminator([x, signs], training=True), real)
        return loss, {
            "d_loss": loss,
            **self.probability_logs(real=real_logits, fake=fake_logits,
                                    mismatch=mismatch_logits),
            **self.adapt(real_logits, batch_size),
        }

    def generator_loss(self, batch):
        real, signs = batch
        fake = self.generator([self.latent_noise(ops.shape(real)[0]), signs], training=True)
        loss = losses.generator_loss(self.discriminator([self.seen(fake), signs], training=True))
        if self.reconstruction_weight:
            codes = ops.stop_gradient(self.encoder(real, training=True))
            redrawn = self.generator([codes, signs], training=True)
            loss = loss + self.reconstruction_weight * self.reconstruction_error(real, redrawn)
        return loss, {"g_loss": loss}

    def encoder_loss(self, batch):
        real, signs = batch
        redrawn = self.generator([self.encoder(real, training=True), signs], training=False)
        recon = self.reconstruction_error(real, redrawn)
        return recon, {"recon_loss": recon}

    def reconstruction_error(self, images, redrawn):
        """Mean squared error on [0, 1] pixels between two batches in the model's range."""
        scale = self.pixel_range[1] - self.pixel_range[0]
        return losses.reconstruction_loss(images / scale, redrawn / scale, "mse", "mean")

    # ---- public API --------------------------------------------------------------------------

    def call(self, inputs, training=False):
        """`[latents (n, latent_dim), attributes 0/1 (n, k)]` -> images in [0, 1]."""
        latents, attributes = inputs
        images = self.generator([latents, to_signs(attributes)], training=training)
        return self.from_model_range(images)

    def generate(self, n=None, *, seed=None, latents=None, attributes=None, batch_size=128,
                 use_ema=True):
        """Generates faces with the given attributes (with the averaged generator when the
        model keeps an EMA, unless `use_ema=False`).

        Args:
            n: number of images (or given by `latents` / an `(n, k)` `attributes`).
            seed: seed of the latents (NumPy, as `sample_latents`) and of random attributes.
            latents: `(n, latent_dim)` latent vectors instead of drawing them.
            attributes: `None` (random), a dict like `{"Smiling": 1, "Male": 0}` (the others
                off, the same for every image), a `(k,)` or `(n, k)` 0/1 array.

        Returns:
            float32 NumPy array `(n, image_size, image_size, 3)` in [0, 1].
        """
        if n is None:
            if latents is not None:
                n = len(latents)
            elif attributes is not None and not isinstance(attributes, dict) \
                    and np.ndim(attributes) == 2:
                n = len(attributes)
            else:
                raise ValueError("generate() needs `n` (with an optional `seed`) or `latents`.")
        if latents is None:
            latents = self.sample_latents(n, seed)
        latents = np.asarray(latents, dtype="float32")
        if latents.shape != (n, self.latent_dim):
            raise ValueError(
                f"latents must have shape ({n}, {self.latent_dim}); received {latents.shape}."
            )
        conditions = self.attribute_matrix(attributes, n=n, seed=seed)
        return self._draw(latents, conditions, batch_size, use_ema)

    def encode(self, images, batch_size=128):
        """Images (uint8 0..255 or float [0, 1]) -> NumPy `(n, latent_dim)` codes E(x)."""
        if not hasattr(images, "shape"):
            images = np.asarray(images)
        x = ops.convert_to_numpy(self.to_model_range(images))
        out = self.encoder.predict(x, batch_size=max(1, min(batch_size, len(x))), verbose=0)
        return np.asarray(out, dtype="float32")

    def refine(self, images, attributes, *, current=None, batch_size=128):
        """Redraws given faces with new attributes: `G(E(x), new attributes)` in [0, 1].

        Args:
            images: `(n, H, W, 3)` uint8 or float [0, 1].
            attributes: the new attributes, a `(k,)` or `(n, k)` 0/1 array; or a dict of
                overrides (e.g. `{"Eyeglasses": 1}`) applied to `current`.
            current: `(n, k)` or `(k,)` 0/1: the images' own attributes, which a dict of
                overrides changes (without it, a dict applies to all-off attributes).
        """
        codes = self.encode(images, batch_size)
        conditions = self.attribute_matrix(attributes, n=len(codes), current=current)
        return self._draw(codes, conditions, batch_size)

    def reconstruct(self, images, attributes, batch_size=128):
        """`G(E(x), a)` with `attributes` the images' own (`(n, k)` or `(k,)` 0/1)."""
        return self.refine(images, attributes, batch_size=batch_size)

    def _draw(self, latents, attributes01, batch_size, use_ema=True):
        out = self.sampler(use_ema).predict(
            [np.asarray(latents, "float32"), 2.0 * np.asarray(attributes01, "float32") - 1.0],
            batch_size=max(1, min(batch_size, len(latents))), verbose=0,
        )
        low, high = self.pixel_range
        return np.clip((np.asarray(out, dtype="float32") - low) / (high - low), 0.0, 1.0)

    def get_config(self):
        return {
            **super().get_config(),
            "attributes": list(self.attributes),
            "width": self.width,
            "mismatch_weight": self.mismatch_weight,
            "reconstruction_weight": self.reconstruction_weight,
            "conditioning": self.conditioning,
            **self.adversarial_config(),
        }
