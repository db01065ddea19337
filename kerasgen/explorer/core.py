"""The latent explorer's model side: directions to steer along, and images from slider values.

A face on the page is `seed` (its latent `z0 = model.sample_latents(1, seed)`, as
`kerasgen sample` draws it), slider values `c` (one per direction) and, for conditional models,
attributes. The sliders are coordinates along `k` orthonormal directions `d_i`, in units of
the prior's standard deviation (1 along any unit direction of N(0, I)):

    coords(z)   = z . d_i                              (where a face sits on each slider)
    latent(c)   = z0 + sum_i (c_i - coords(z0)_i) d_i   (move z0 to those coordinates)

so a seed's own coordinates give back exactly `z0` ("reset"), the parts of `z0` outside the
`k` directions are kept, and a prior sample's coordinates are N(0, 1): within the sliders'
+-3 for 99.7% of seeds (the page shows the others at the end of the slider, and draws the
seed's own face until a slider moves).

Where the directions come from:

- **Models with an encoder** (VAE, autoencoder, VAE-GAN) and data: the principal components
  of the encoded images (`kerasgen.latent.latent_pca`, seed 001's section 8), ordered by the
  share of the codes' variance each explains.
- **Diffusion models**: the initial noise's lowest spatial frequencies
  (`Diffusion.noise_directions`: 2-D DCT patterns, in brightness and two colour-opponent
  channels), which move what a deterministic DDIM sampler draws from it; the page also sets the
  number of sampling steps.
- **GANs** (and encoder models without data): PCA of *sampled* latents would find nothing
  (the prior N(0, I) is isotropic), so the directions are the top eigenvectors of the
  generator's averaged Jacobian Gram matrix `E_z[J(z)^T J(z)]`, i.e. the latent directions
  that change the image most, with `J` by finite differences (one batch of `latent_dim + 1`
  images per prior sample, any backend, no autodiff), ordered by the share of the image
  change each explains.
"""

import io
import numbers

import numpy as np

from kerasgen.errors import DataError

#: Sliders run over [-SLIDER_RANGE, SLIDER_RANGE] (standard deviations).
SLIDER_RANGE = 3.0
MODES = ("regenerate", "refine")
#: Sampling steps of a diffusion model's face unless the page asks for others.
DEFAULT_STEPS = 20


def jacobian_directions(generate, latent_dim, n_components=8, samples=4, seed=0, step=1e-2):
    """The top `n_components` eigenvectors of `mean_z J(z)^T J(z)` for `generate` (latents
    `(n, latent_dim)` -> images), `z` from N(0, I), J by forward differences of `step`.

    Returns:
        `(directions (k, latent_dim) unit rows, eigenvalues (k,), shares (k,))` by decreasing
        eigenvalue: the mean squared change of the image (summed over pixels) per unit step
        along each direction, and its share of the sum over *all* `latent_dim` directions (as
        a PCA's explained-variance ratio). Each direction's sign makes its largest entry
        positive (deterministic).
    """
    rng = np.random.default_rng(seed)
    gram = np.zeros((latent_dim, latent_dim))
    offsets = np.vstack([np.zeros(latent_dim), np.eye(latent_dim)]) * step
    for _ in range(samples):
        z = rng.standard_normal(latent_dim)
        images = np.asarray(generate((z + offsets).astype("float32")), "float64")
        flat = images.reshape(latent_dim + 1, -1)
        jacobian_t = (flat[1:] - flat[0]) / step  # (latent_dim, pixels): row i = dG/dz_i
        gram += jacobian_t @ jacobian_t.T
    eigenvalues, eigenvectors = np.linalg.eigh(gram / samples)
    order = np.argsort(eigenvalues)[::-1][:n_components]
    directions = eigenvectors[:, order].T
    signs = np.sign(directions[np.arange(len(directions)),
                               np.argmax(np.abs(directions), axis=1)])
    shares = eigenvalues[order] / max(eigenvalues.sum(), 1e-12)
    return (directions * signs[:, None]).astype("float32"), eigenvalues[order], shares


class Explorer:
    """A model, its steering directions and the images the page asks for.

    Args:
        model: a kerasgen model with a latent space (not the autoencoder-free classifiers).
        data: images for the PCA of encoder models (array or iterable of batches); None uses
            the generator's Jacobian for every model.
        n_components: sliders (at most `latent_dim`).
        max_images: images encoded for the PCA.
        jacobian_samples: prior samples the Jacobian Gram matrix is averaged over.
    """

    def __init__(self, model, data=None, n_components=8, max_images=2000, jacobian_samples=4):
        from kerasgen.latent import latent_pca

        if not hasattr(model, "latent_dim") or not hasattr(model, "sample_latents"):
            raise DataError(f"{type(model).__name__} has no latent space to explore.")
        self.model = model
        self.latent_dim = int(model.latent_dim)
        self.attributes = list(getattr(model, "attributes", None) or [])
        self.can_refine = bool(self.attributes) and hasattr(model, "refine")
        n_components = max(1, min(int(n_components), self.latent_dim))
        self.has_steps = hasattr(model, "noise_directions")
        if self.has_steps:
            self.directions = model.noise_directions(n_components)
            self.shares = np.full(n_components, 1.0 / self.latent_dim, "float32")
            self.prefix = "N"
            self.method = ("the initial noise's lowest spatial frequencies (2-D DCT patterns; "
                           "each holds 1/latent_dim of the noise's variance)")
        elif data is not None and hasattr(model, "encode") and not self.attributes:
            pca = latent_pca(model, data, n_components, max_images)
            self.directions, self.shares = pca.components, pca.explained_variance_ratio
            self.prefix = "PC"
            count = (f"{min(len(data), max_images)}" if hasattr(data, "shape")
                     else f"up to {max_images}")
            self.method = f"principal components of the encoder's codes of {count} images"
        else:
            # Conditional models: directions with every attribute off (they are the latent's).
            off = np.zeros(len(self.attributes), "float32") if self.attributes else None
            generate = lambda z: self._draw(z, None if off is None else np.tile(off, (len(z), 1)))
            self.directions, _, shares = jacobian_directions(
                generate, self.latent_dim, n_components, jacobian_samples
            )
            self.shares = shares.astype("float32")
            self.prefix = "J"
            self.method = ("generator Jacobian: top eigenvectors of E[J^T J] over "
                           f"{jacobian_samples} prior samples (finite differences)")

    # ---- the state of a face ----------------------------------------------------------------

    @property
    def n_components(self):
        return len(self.directions)

    def base_latent(self, seed):
        return np.asarray(self.model.sample_latents(1, check_seed(seed))[0], "float32")

    def coords(self, latent):
        """Where `latent` sits on each slider (prior standard deviations)."""
        return np.asarray(latent, "float32") @ self.directions.T

    def latent(self, seed, coords=None):
        """`z0` of `seed` moved to slider values `coords` (None: `z0` itself)."""
        z0 = self.base_latent(seed)
        if coords is None:
            return z0
        coords = self.check_coords(coords)
        return (z0 + (coords - self.coords(z0)) @ self.directions).astype("float32")

    def default_attributes(self, seed):
        """The seed's own attributes, as `generate(seed=seed)` draws them (conditional models)."""
        if not self.attributes:
            return None
        return self.model.attribute_matrix(None, n=1, seed=check_seed(seed))[0]

    def state(self, seed):
        """What the page shows for a new seed: slider values (clipped to the range) and
        attributes."""
        coords = np.clip(self.coords(self.base_latent(seed)), -SLIDER_RANGE, SLIDER_RANGE)
        attributes = self.default_attributes(seed)
        return {
            "seed": int(seed),
            "coords": [round(float(c), 3) for c in coords],
            "attributes": ({} if attributes is None else
                           {n: int(v) for n, v in zip(self.attributes, attributes)}),
        }

    def info(self):
        return {
            "model": type(self.model).__name__,
            "image_size": int(getattr(self.model, "image_size", 0)),
            "latent_dim": self.latent_dim,
            "method": self.method,
            # Principal components "PC1, ..."; Jacobian directions "J1, ...".
            "components": [{"name": f"{self.prefix}{i + 1}", "share": round(float(s), 4)}
                           for i, s in enumerate(self.shares)],
            "range": SLIDER_RANGE,
            "attributes": self.attributes,
            "modes": list(MODES) if self.can_refine else ["regenerate"],
            # Diffusion models: the sampler's steps, [1, timesteps], and the default.
            "steps": ({"default": DEFAULT_STEPS, "max": int(self.model.timesteps)}
                      if self.has_steps else None),
        }

    # ---- images ----------------------------------------------------------------------------

    def image(self, seed, coords=None, attributes=None, mode="regenerate", steps=None):
        """The face for this state, float32 `(size, size, 3)` in [0, 1].

        Args:
            attributes: conditional models: dict name -> 0/1 overriding the seed's own.
            mode: conditional models: "regenerate" (the same latent with the new attributes)
                or "refine" (the face with its own attributes, encoded and redrawn with the
                new ones: `model.refine`).
            steps: diffusion models: sampling steps (default `DEFAULT_STEPS`).
        """
        steps = self._check_steps(steps)
        z = self.latent(seed, coords)[None]
        if not self.attributes:
            if attributes:
                raise DataError(f"{type(self.model).__name__} is not conditioned on attributes; "
                                f"received {sorted(attributes)}.")
            return self._draw(z, steps=steps)[0]
        if mode not in MODES or (mode == "refine" and not self.can_refine):
            raise DataError(f"mode must be one of {self.info()['modes']}; received {mode!r}.")
        own = self.default_attributes(seed)
        wanted = self.model.attribute_vector(attributes or {}, base=own)
        if mode == "refine":
            face = self._draw(z, own[None], steps)
            refined = (self.model.refine(face, wanted[None], current=own[None], steps=steps)
                       if self.has_steps else self.model.refine(face, wanted[None]))
            return np.asarray(refined, "float32")[0]
        return self._draw(z, wanted[None], steps)[0]

    def png(self, *args, **kwargs):
        """`image(...)` as PNG bytes."""
        from PIL import Image

        pixels = np.round(np.clip(self.image(*args, **kwargs), 0, 1) * 255).astype("uint8")
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        return buffer.getvalue()

    def _draw(self, latents, attributes01=None, steps=None):
        extra = {} if steps is None else {"steps": steps}
        if attributes01 is None:
            return self.model.generate(latents=latents, **extra)
        return self.model.generate(latents=latents, attributes=attributes01, **extra)

    def _check_steps(self, steps):
        if steps is None:
            return DEFAULT_STEPS if self.has_steps else None
        if not self.has_steps:
            raise DataError(f"steps apply to diffusion models; this is a "
                            f"{type(self.model).__name__}.")
        maximum = int(self.model.timesteps)
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) \
                or not 1 <= steps <= maximum:
            raise DataError(f"steps must be an integer in [1, {maximum}]; received {steps!r}.")
        return int(steps)

    # ---- checks ----------------------------------------------------------------------------

    def check_coords(self, coords):
        coords = np.asarray(coords, "float64").reshape(-1)
        if coords.shape != (self.n_components,):
            raise DataError(f"expected {self.n_components} slider values; received "
                            f"{coords.size}.")
        if not np.all(np.isfinite(coords)) or np.any(np.abs(coords) > SLIDER_RANGE + 1e-9):
            raise DataError(f"slider values must be finite numbers in [-{SLIDER_RANGE:g}, "
                            f"{SLIDER_RANGE:g}]; received {coords.tolist()}.")
        return coords.astype("float32")


def check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
            or not 0 <= int(seed) < 2**31:
        raise DataError(f"seed must be an integer in [0, 2^31); received {seed!r}.")
    return int(seed)

