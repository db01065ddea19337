"""Denoising diffusion (DDPM, Ho et al. 2020) trained to predict the noise, sampled with DDIM
(Song et al. 2021) or DDPM's ancestral steps; classifier-free guidance (Ho & Salimans 2022) for
attribute-conditional models.

The forward process adds Gaussian noise to an image x_0 in [-1, 1] over T steps; with
abar_t = prod_{s <= t} (1 - beta_s) (the `schedule`):

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),   x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps

One training step (Algorithm 1), one optimizer:

    t ~ Uniform{0, ..., T-1},  eps ~ N(0, I),  x_t as above
    minimise  || target - unet(x_t, t [, attributes]) ||^2,   target = eps  (prediction="epsilon")
                                            or v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0  ("v")

With `attributes`, the attribute signs (+1/-1) are replaced by 0 ("no condition") for a share
`condition_dropout` of the batch, so that one network learns both the conditional and the
unconditional prediction; sampling then uses eps_u + guidance * (eps_c - eps_u).

Sampling (`generate`) starts from the latent, x_T ~ N(0, I) (the model's `latent_dim` is
image_size^2 * 3: the latent *is* the initial noise, drawn by `sample_latents` as for every
kerasgen model), and walks `steps` evenly spaced steps down to 0:

    DDIM:  x_0^ = (x_t - sqrt(1 - abar_t) eps^) / sqrt(abar_t)
           x_s  = sqrt(abar_s) x_0^ + sqrt(1 - abar_s - sigma^2) eps^ + sigma z,
           sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)
    DDPM:  x_s  = posterior mean of q(x_s | x_t, x_0^) + sqrt(posterior variance) z

eta = 0 is deterministic (and invertible: `encode` runs the same steps backwards, which is
how `refine` edits a given face's attributes); DDPM's ancestral sampler equals DDIM with
eta = 1. Random numbers of sampling come from NumPy and the seed, so a seed gives the same
images on every backend.
"""

import math

import keras
import numpy as np
from keras import ops

from kerasgen import losses
from kerasgen import nets
from kerasgen.checks import check_choice
from kerasgen.checks import check_int
from kerasgen.checks import check_number
from kerasgen.errors import OptionError
from kerasgen.models.base import GenerativeModel
from kerasgen.models.base import Phase
from kerasgen.models.conditional import AttributeConditioned

SCHEDULES = ("cosine", "linear")
PREDICTIONS = ("epsilon", "v")
SAMPLERS = ("ddim", "ddpm")


def noise_schedule(kind="cosine", timesteps=1000):
    """abar_t for t = 0..T-1 (float64 NumPy), the share of the image left at step t.

    - `"linear"` (DDPM): beta_t linear from 1e-4 to 0.02 (for T = 1000; scaled by 1000 / T
      otherwise, as improved-diffusion does), abar_t = prod_{s <= t} (1 - beta_s).
    - `"cosine"` (Nichol & Dhariwal 2021): abar_t = f(t + 1) / f(0), f(t) = cos^2((t / T + s)
      / (1 + s) * pi / 2), s = 0.008, each beta_t = 1 - abar_t / abar_{t-1} clipped to 0.999.
    """
    kind = check_choice(kind, "schedule", SCHEDULES)
    timesteps = check_int(timesteps, "timesteps", minimum=2)
    if kind == "linear":
        scale = 1000.0 / timesteps
        betas = np.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype="float64")
    else:
        s = 0.008
        f = np.cos((np.arange(timesteps + 1, dtype="float64") / timesteps + s) / (1 + s)
                   * math.pi / 2) ** 2
        betas = np.minimum(1.0 - f[1:] / f[:-1], 0.999)
    return np.cumprod(1.0 - betas)


def diffuse(images, noise, alpha_bar):
    """x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps; `alpha_bar` broadcasts per image."""
    return ops.sqrt(alpha_bar) * images + ops.sqrt(1.0 - alpha_bar) * noise


def velocity(images, noise, alpha_bar):
    """v = sqrt(abar) eps - sqrt(1 - abar) x_0 (Salimans & Ho 2022)."""
    return ops.sqrt(alpha_bar) * noise - ops.sqrt(1.0 - alpha_bar) * images


def ddim_step(x, eps, x0, alpha_bar, alpha_bar_next, eta=0.0, noise=None):
    """One DDIM step (NumPy) from x_t to x_s given the predicted noise and image.

    `alpha_bar_next` is abar_s (1 at the end of sampling). With eta = 0 the step is
    deterministic and `noise` is not used."""
    sigma = eta * np.sqrt((1.0 - alpha_bar_next) / (1.0 - alpha_bar)
                          * (1.0 - alpha_bar / alpha_bar_next))
    direction = np.sqrt(np.maximum(1.0 - alpha_bar_next - sigma**2, 0.0)) * eps
    out = np.sqrt(alpha_bar_next) * x0 + direction
    return out + sigma * noise if eta > 0 else out


def ddpm_step(x, x0, alpha_bar, alpha_bar_next, noise):
    """One ancestral step (NumPy): a draw from q(x_s | x_t, x_0^), whose mean and variance are
    DDPM's eq. 7 with beta = 1 - abar_t / abar_s (the strided step's beta)."""
    beta = 1.0 - alpha_bar / alpha_bar_next
    mean = (np.sqrt(alpha_bar_next) * beta / (1.0 - alpha_bar) * x0
            + np.sqrt(1.0 - beta) * (1.0 - alpha_bar_next) / (1.0 - alpha_bar) * x)
    variance = (1.0 - alpha_bar_next) / (1.0 - alpha_bar) * beta
    return mean + np.sqrt(variance) * noise


def sampling_steps(timesteps, steps):
    """The steps t a sampler visits, from T-1 down to 0, `steps` of them evenly spaced."""
    steps = check_int(steps, "steps", minimum=1, maximum=timesteps)
    return np.unique(np.round(np.linspace(0, timesteps - 1, steps)).astype("int64"))[::-1]


@keras.saving.register_keras_serializable(package="kerasgen")
class Diffusion(AttributeConditioned, GenerativeModel):
    """A denoising diffusion model: DDPM training, DDIM (or ancestral) sampling.

    Train it on images (or `(images, attributes)` with `attributes=`), then
    `generate(n, seed=, steps=50)`.

    Args:
        image_size: 16, 32, 64, 128 or 256.
        width: channels of the UNet's first level (default: 64 up to 32 px, 128 above).
        multipliers, attention, blocks, dropout: the UNet's levels (`kerasgen.nets.unet`).
        timesteps: T, the steps of the forward process (1000).
        schedule: `"cosine"` (default) or `"linear"` (DDPM's).
        prediction: `"epsilon"` (DDPM: the noise) or `"v"`.
        attributes: CelebA attribute names to condition on (None: unconditional).
        condition_dropout: share of training samples whose attributes are dropped, for
            classifier-free guidance.
        guidance: default guidance scale of `generate` for a conditional model (1: the
            conditional prediction alone; 0: the unconditional one).
        ema: decay of the weights' moving average used to sample (`GenerativeModel`).
        seed: seed of the model's random numbers inside `train_step`.

    One optimizer, `"unet"`: Adam(2e-4), gradients clipped to global norm 1 (DDPM).
    """

    log_names = ("loss",)

    def __init__(self, image_size=64, width=None, multipliers=None, attention=None, blocks=2,
                 dropout=0.1, timesteps=1000, schedule="cosine", prediction="epsilon",
                 attributes=None, condition_dropout=0.1, guidance=3.0, ema=0.999, seed=None,
                 **kwargs):
        size = kwargs.pop("latent_dim", None)
        super().__init__(image_size=image_size, latent_dim=3 * image_size**2, seed=seed,
                         ema=ema, **kwargs)
        if size is not None and size != self.latent_dim:
            raise OptionError(f"a Diffusion model's latent_dim is image_size^2 * 3 = "
                              f"{self.latent_dim} (its initial noise); received {size}.")
        if width is None:
            width = 64 if self.image_size <= 32 else 128
        self.width = check_int(width, "width", minimum=1)
        self.multipliers = None if multipliers is None else tuple(multipliers)
        self.attention = None if attention is None else tuple(attention)
        self.blocks = check_int(blocks, "blocks", minimum=1)
        self.dropout = check_number(dropout, "dropout", minimum=0, maximum=0.99)
        self.timesteps = check_int(timesteps, "timesteps", minimum=2)
        self.schedule = check_choice(schedule, "schedule", SCHEDULES)
        self.prediction = check_choice(prediction, "prediction", PREDICTIONS)
        self.attributes = None
        if attributes is not None:
            self.init_attributes(attributes)
        self.condition_dropout = check_number(condition_dropout, "condition_dropout",
                                              minimum=0, maximum=1)
        self.guidance = check_number(guidance, "guidance", minimum=0)
        self.alpha_bar = noise_schedule(self.schedule, self.timesteps)
        self.unet = nets.unet(self.image_size, self.width, self.multipliers, self.attention,
                              self.blocks, self.dropout,
                              num_attributes=self.num_attributes if self.attributes else 0)
        self._mark_built()

    def default_optimizers(self):
        return {"unet": keras.optimizers.Adam(2e-4, global_clipnorm=1.0)}

    @property
    def sampling_network(self):
        """The UNet: `[x_t, t (n, 1)` [, attribute signs]`]` -> predicted noise (or v)."""
        return self.unet

    def train_phases(self):
        return [Phase(self.denoising_loss, self.unet.trainable_variables, "unet")]

    def prepare_batch(self, data):
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.attributes is None:
            return self.to_model_range(images)
        if labels is None:
            raise OptionError("a conditional Diffusion model trains on (images, attributes) "
                              f"batches, attributes in the order {list(self.attributes)}.")
        return self.to_model_range(images), 2.0 * ops.cast(labels, "float32") - 1.0

    # ---- the algorithm ----------------------------------------------------------------------

    def denoising_loss(self, batch, t=None, noise=None, keep=None, training=True):
        """Algorithm 1 on one batch: `(loss, logs)`. `t`, `noise` and `keep` (which samples keep
        their attributes) are drawn from the model's seed generator unless given."""
        images, signs = batch if self.attributes is not None else (batch, None)
        n = ops.shape(images)[0]
        if t is None:
            t = keras.random.randint((n,), 0, self.timesteps, seed=self.seed_generator)
        if noise is None:
            noise = keras.random.normal(ops.shape(images), seed=self.seed_generator)
        alpha_bar = ops.reshape(
            ops.take(ops.convert_to_tensor(self.alpha_bar, "float32"), t), (-1, 1, 1, 1))
        inputs = [diffuse(images, noise, alpha_bar), ops.reshape(ops.cast(t, "float32"), (-1, 1))]
        if signs is not None:
            if keep is None:
                keep = keras.random.uniform((n, 1), seed=self.seed_generator) >= \
                    self.condition_dropout
            inputs.append(signs * ops.cast(keep, "float32"))
        target = noise if self.prediction == "epsilon" else velocity(images, noise, alpha_bar)
        loss = losses.denoising_loss(target, self.unet(inputs, training=training))
        return loss, {"loss": loss}

    def evaluation_logs(self, batch):
        return self.denoising_loss(batch, training=False)[1]

    # ---- sampling ---------------------------------------------------------------------------

    def predict_noise_and_image(self, x, t, signs=None, guidance=None, use_ema=True,
                                batch_size=128):
        """(eps^, x_0^) (NumPy) of noisy images `x` at step `t` (an int), with classifier-free
        guidance for a conditional model."""
        network = self.sampler(use_ema)
        w = self.guidance if guidance is None else guidance
        inputs = [x, np.full((len(x), 1), t, "float32")]
        if signs is not None and w == 1.0:
            inputs.append(np.asarray(signs, "float32"))
        elif signs is not None:  # guided: the conditional and the unconditional pass in one batch
            inputs = [np.concatenate([x, x]), np.concatenate([inputs[1], inputs[1]]),
                      np.concatenate([signs, np.zeros_like(signs)]).astype("float32")]
        out = np.concatenate([
            np.asarray(network.predict_on_batch([a[i:i + batch_size] for a in inputs]))
            for i in range(0, len(inputs[0]), batch_size)])
        if signs is not None and w != 1.0:
            conditional, free = out[: len(x)], out[len(x):]
            out = free + w * (conditional - free)
        out = np.asarray(out, "float64")
        a = self.alpha_bar[t]
        if self.prediction == "epsilon":
            eps = out
            x0 = (x - np.sqrt(1.0 - a) * eps) / np.sqrt(a)
        else:
            x0 = np.sqrt(a) * x - np.sqrt(1.0 - a) * out
            eps = np.sqrt(a) * out + np.sqrt(1.0 - a) * x
        return eps, x0

    def denoise(self, noise, steps=50, eta=0.0, sampler="ddim", signs=None, guidance=None,
                seed=None, clip=True, use_ema=True, batch_size=128):
        """Runs the sampler from x_T = `noise` (`(n, H, W, 3)`) to images in [-1, 1] (NumPy).

        `clip` clips each predicted x_0^ to [-1, 1] (and recomputes eps^ from it), as DDPM's
        and diffusers' samplers do; the exact ODE (for `encode`) needs `clip=False`."""
        sampler = check_choice(sampler, "sampler", SAMPLERS)
        eta = check_number(eta, "eta", minimum=0)
        rng = np.random.default_rng(None if seed is None else [int(seed), _SAMPLING_STREAM])
        x = np.asarray(noise, "float64")
        visited = sampling_steps(self.timesteps, steps)
        for i, t in enumerate(visited):
            eps, x0 = self.predict_noise_and_image(x.astype("float32"), int(t), signs, guidance,
                                                   use_ema, batch_size)
            a = self.alpha_bar[t]
            if clip:
                x0 = np.clip(x0, -1.0, 1.0)
                eps = (x - np.sqrt(a) * x0) / np.sqrt(1.0 - a)
            a_next = self.alpha_bar[visited[i + 1]] if i + 1 < len(visited) else 1.0
            last = i + 1 == len(visited)
            z = None if last else rng.standard_normal(x.shape)
            if sampler == "ddpm" and not last:
                x = ddpm_step(x, x0, a, a_next, z)
            else:
                x = ddim_step(x, eps, x0, a, a_next, 0.0 if last else eta, z)
        return x.astype("float32")

    def encode(self, images, steps=50, attributes=None, guidance=1.0, use_ema=True,
               batch_size=128):
        """DDIM inversion: images (uint8 or [0, 1]) -> the latents (initial noise, `(n,
        latent_dim)`) from which deterministic DDIM sampling with `steps` redraws them."""
        if not hasattr(images, "shape"):
            images = np.asarray(images)
        x = np.asarray(ops.convert_to_numpy(self.to_model_range(images)), "float64")
        signs = None
        if self.attributes is not None:
            if attributes is None:
                raise OptionError("encode() of a conditional Diffusion model needs the images' "
                                  "attributes.")
            signs = 2.0 * self.attribute_matrix(attributes, n=len(x)) - 1.0
        visited = sampling_steps(self.timesteps, steps)[::-1]  # 0 up to T-1
        a = 1.0
        for i, t in enumerate(visited):
            # The DDIM step from s (abar = a) to t, with eps^ predicted at the earlier step.
            s = visited[i - 1] if i else None
            eps, _ = self.predict_noise_and_image(
                x.astype("float32"), int(s if s is not None else t), signs, guidance, use_ema,
                batch_size)
            x0 = (x - np.sqrt(1.0 - a) * eps) / np.sqrt(a)
            a_next = self.alpha_bar[t]
            x = np.sqrt(a_next) * x0 + np.sqrt(1.0 - a_next) * eps
            a = a_next
        return x.reshape(len(x), -1).astype("float32")

    def generate(self, n=None, *, seed=None, latents=None, steps=50, eta=0.0, sampler="ddim",
                 attributes=None, guidance=None, batch_size=128, use_ema=True):
        """Images in [0, 1] (NumPy `(n, H, W, 3)`), drawn from `latents` (the initial noise) or
        from `n` latents drawn with `seed`, in `steps` DDIM steps (eta 0: deterministic) or
        `sampler="ddpm"` ancestral steps. A conditional model takes `attributes` (as
        `ConditionalGAN.generate`) and `guidance` (default: the model's)."""
        if latents is None:
            if n is None:
                raise ValueError("generate() needs `n` (with an optional `seed`) or `latents`.")
            latents = self.sample_latents(check_int(n, "n", minimum=1), seed)
        latents = np.asarray(latents, "float32")
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ValueError(
                f"latents must have shape (n, {self.latent_dim}); received {latents.shape}.")
        signs = None
        if self.attributes is not None:
            signs = 2.0 * self.attribute_matrix(attributes, n=len(latents), seed=seed) - 1.0
        elif attributes is not None or guidance is not None:
            raise OptionError("this Diffusion model is not conditioned on attributes; build it "
                              "with attributes=[...] to generate with attributes or guidance.")
        x = self.denoise(latents.reshape(-1, self.image_size, self.image_size, 3), steps, eta,
                         sampler, signs, guidance, seed, use_ema=use_ema, batch_size=batch_size)
        return np.clip((x + 1.0) / 2.0, 0.0, 1.0)

    def refine(self, images, attributes, *, current, steps=50, batch_size=128):
        """Redraws given faces with new attributes: DDIM-inverts them under their `current`
        attributes, then samples from that noise under the new ones (as `ConditionalGAN.refine`
        with the encoder replaced by the inversion)."""
        if self.attributes is None:
            raise OptionError("refine() needs a conditional Diffusion model (attributes=...).")
        latents = self.encode(images, steps, attributes=current, batch_size=batch_size)
        new = self.attribute_matrix(attributes, n=len(latents), current=current)
        return self.generate(latents=latents, steps=steps, attributes=new, guidance=1.0,
                             batch_size=batch_size)

    def noise_directions(self, n):
        """`n` orthonormal directions of the initial noise (rows of `(n, latent_dim)`), for the
        explorer's sliders: 2-D DCT patterns from the lowest spatial frequency up, each as
        brightness (the same on R, G, B), then as two colour-opponent patterns. Moving x_T
        along them moves the layout and colours of the face a deterministic sampler draws."""
        size = self.image_size
        k = np.arange(size)

        def dct(u):  # the orthonormal DCT-II basis vector of frequency u
            v = np.cos(math.pi * (k + 0.5) * u / size)
            return v / np.linalg.norm(v)

        colours = np.array([[1, 1, 1], [1, -1, 0], [1, 1, -2]], "float64")
        colours /= np.linalg.norm(colours, axis=1, keepdims=True)
        frequencies = sorted(((u, v) for u in range(size) for v in range(size)),
                             key=lambda f: (f[0] + f[1], f[0]))
        rows = []
        for u, v in frequencies:
            pattern = np.outer(dct(u), dct(v))
            for colour in colours:
                rows.append((pattern[:, :, None] * colour).reshape(-1))
                if len(rows) == n:
                    return np.asarray(rows, "float32")
        return np.asarray(rows, "float32")

    def _draw(self, latents, attributes01, batch_size, use_ema=True):
        return self.generate(latents=latents, attributes=attributes01, batch_size=batch_size,
                             use_ema=use_ema)

    def sample_grid(self, n=64, seed=0):
        if self.attributes is not None:
            return AttributeConditioned.sample_grid(self, n, seed)
        return self.generate(n, seed=seed)

    def call(self, latents, training=False):
        """Latents (initial noise) -> images in [0, 1], by 50 DDIM steps (not differentiable:
        for `predict`; training uses `denoising_loss`)."""
        return self.generate(latents=ops.convert_to_numpy(latents))

    def get_config(self):
        config = super().get_config()
        config.pop("latent_dim")
        return {
            **config,
            "width": self.width,
            "multipliers": self.multipliers,
            "attention": self.attention,
            "blocks": self.blocks,
            "dropout": self.dropout,
            "timesteps": self.timesteps,
            "schedule": self.schedule,
            "prediction": self.prediction,
            "attributes": None if self.attributes is None else list(self.attributes),
            "condition_dropout": self.condition_dropout,
            "guidance": self.guidance,
        }


#: Stream id that keeps the sampler's noise independent of the latents drawn from the same seed.
_SAMPLING_STREAM = 2021
