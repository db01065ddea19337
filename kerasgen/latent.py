"""Looking into a model's latent space: the seeds' latent pictures as functions.

- `std_grid`: rows of decoded latents `std * z` for growing `std` (seed 001, Figures 12-13:
  0.25, 0.5, ..., 2.0), the same directions `z` in every row, so a column shows one face from
  "prototypical" to "unusual".
- `interpolate`: faces along the line (or great circle) between two latents, given as seeds or,
  for models with an encoder, as images.
- `latent_pca` / `pca_sheet`: principal components of the encoded training set (seed 001,
  section 8) and faces generated along each of them.

Every function takes any kerasgen model (`generate(latents=...)`); the ones that start from
images need `model.encode` (autoencoders, VAEs, VAE-GAN). Images come back as float32 NumPy
arrays in [0, 1]; `kerasgen.images.save_image_grid(images, path, nrow=...)` writes them.
"""

from typing import NamedTuple

import numpy as np

from kerasgen.data.batches import iter_images
from kerasgen.errors import DataError

SEED_001_STDS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


def std_grid(model, stds=SEED_001_STDS, per_row=8, seed=0):
    """Decoded `std * z` for each `std` (one row each) and `per_row` fixed directions `z`.

    Returns:
        `(len(stds) * per_row, size, size, 3)` images, row by row; lay out with
        `nrow=per_row`.
    """
    z = model.sample_latents(per_row, seed)
    latents = np.concatenate([float(std) * z for std in stds]).astype("float32")
    return model.generate(latents=latents)


def _latent_of(model, endpoint):
    """A seed (int) -> its latent vector; an image `(size, size, 3)` -> `model.encode` of it."""
    if isinstance(endpoint, (int, np.integer)):
        return model.sample_latents(1, int(endpoint))[0]
    image = np.asarray(endpoint)
    if image.ndim != 3:
        raise DataError(
            "interpolation endpoints are seeds (ints) or single images (size, size, 3); "
            f"received an array of shape {image.shape}."
        )
    if not hasattr(model, "encode"):
        raise DataError(
            f"{type(model).__name__} has no encoder, so it cannot interpolate between images; "
            "give two seeds, or use an Autoencoder, VAE or VAEGAN."
        )
    return np.asarray(model.encode(image[None]))[0]


def interpolation_latents(start, end, steps=8, spherical=False):
    """`steps` latents from `start` to `end` (both included): linear, or along the great
    circle (slerp, which keeps Gaussian latents at a typical norm)."""
    start, end = np.asarray(start, "float64"), np.asarray(end, "float64")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if spherical:
        cos = np.dot(start, end) / (np.linalg.norm(start) * np.linalg.norm(end))
        omega = np.arccos(np.clip(cos, -1.0, 1.0))
        if omega > 1e-6:
            out = (np.sin((1 - t) * omega) * start + np.sin(t * omega) * end) / np.sin(omega)
            return out.astype("float32")
    return ((1 - t) * start + t * end).astype("float32")


def interpolate(model, start, end, steps=8, spherical=False):
    """Images along the path between two endpoints, each a seed or an image.

    Returns:
        `(steps, size, size, 3)` images, `start` first and `end` last.
    """
    latents = interpolation_latents(
        _latent_of(model, start), _latent_of(model, end), steps, spherical
    )
    return model.generate(latents=latents)


class LatentPCA(NamedTuple):
    """Principal components of encoded images."""

    mean: np.ndarray  # (latent_dim,)
    components: np.ndarray  # (k, latent_dim), unit rows, by decreasing variance
    explained_variance: np.ndarray  # (k,) variance of the codes along each component
    explained_variance_ratio: np.ndarray  # (k,) share of the total variance


def encode_all(model, data, max_images=None):
    """`model.encode` of the images of `data` (an array or an iterable of batches, each
    `images` or `(images, labels)`), up to `max_images`."""
    if not hasattr(model, "encode"):
        raise DataError(
            f"{type(model).__name__} has no encoder; latent PCA needs an Autoencoder, VAE or "
            "VAEGAN."
        )
    codes = [np.asarray(model.encode(images)) for images in iter_images(data, max_images)]
    if not codes:
        raise DataError("no images to encode: the data set is empty.")
    return np.concatenate(codes)


def latent_pca(model, data, n_components=None, max_images=10_000):
    """PCA of `model.encode` over `data` (up to `max_images` images).

    As in seed 001, keep every component by default (`n_components=None`): the point is the
    ordering of latent directions by variance, not a reduction.
    """
    codes = encode_all(model, data, max_images).astype("float64")
    if len(codes) < 2:
        raise DataError(f"latent PCA needs at least 2 images; received {len(codes)}.")
    mean = codes.mean(axis=0)
    _, singular, vt = np.linalg.svd(codes - mean, full_matrices=False)
    variance = singular**2 / (len(codes) - 1)
    k = n_components or len(variance)
    return LatentPCA(
        mean=mean.astype("float32"),
        components=vt[:k].astype("float32"),
        explained_variance=variance[:k].astype("float32"),
        explained_variance_ratio=(variance[:k] / variance.sum()).astype("float32"),
    )


def pca_sheet(model, pca, n_components=8, steps=7, extent=2.0):
    """Faces generated along each of the top `n_components` principal components: row `i`
    decodes `mean + t * sqrt(variance_i) * component_i` for `t` in `[-extent, extent]`.

    Returns:
        `(n_components * steps, size, size, 3)` images; lay out with `nrow=steps`.
    """
    n_components = min(n_components, len(pca.components))
    t = np.linspace(-extent, extent, steps)
    latents = [
        pca.mean + s * np.sqrt(pca.explained_variance[i]) * pca.components[i]
        for i in range(n_components)
        for s in t
    ]
    return model.generate(latents=np.asarray(latents, "float32"))
