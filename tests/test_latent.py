"""Latent-space pictures: std rows, interpolation, PCA of the codes."""

import numpy as np
import pytest

from kerasgen import DCGAN
from kerasgen import latent
from kerasgen.errors import DataError


class LinearCodec:
    """A stand-in model whose codes and images are plain arrays: encode = flatten, generate
    returns the latents it was given, so the latent arithmetic can be checked exactly."""

    latent_dim = 3

    def encode(self, images):
        return np.asarray(images, "float32").reshape(len(images), -1)[:, :3]

    def sample_latents(self, n, seed=None):
        return np.random.default_rng(seed).standard_normal((n, 3)).astype("float32")

    def generate(self, n=None, *, seed=None, latents=None):
        return np.asarray(latents)


@pytest.fixture(scope="module")
def dcgan():
    return DCGAN(latent_dim=6, image_size=16, width=8, seed=0)


@pytest.mark.backend
def test_std_grid_rows_are_scaled_copies_of_the_same_directions(dcgan):
    images = latent.std_grid(dcgan, stds=(0.5, 2.0), per_row=3, seed=4)
    assert images.shape == (6, 16, 16, 3)
    z = dcgan.sample_latents(3, 4)
    np.testing.assert_allclose(images[:3], dcgan.generate(latents=0.5 * z), atol=1e-6)
    np.testing.assert_allclose(images[3:], dcgan.generate(latents=2.0 * z), atol=1e-6)


@pytest.mark.backend
def test_interpolation_between_seeds_starts_and_ends_at_them(dcgan):
    images = latent.interpolate(dcgan, 1, 2, steps=5)
    assert images.shape == (5, 16, 16, 3)
    np.testing.assert_allclose(images[0], dcgan.generate(1, seed=1)[0], atol=1e-6)
    np.testing.assert_allclose(images[-1], dcgan.generate(1, seed=2)[0], atol=1e-6)
    assert not np.allclose(images[2], images[0])


def test_interpolation_latents_linear_and_spherical():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    linear = latent.interpolation_latents(a, b, steps=3)
    np.testing.assert_allclose(linear, [[1, 0], [0.5, 0.5], [0, 1]], atol=1e-7)
    sphere = latent.interpolation_latents(a, b, steps=3, spherical=True)
    np.testing.assert_allclose(sphere[1], [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)  # norm kept
    np.testing.assert_allclose(np.linalg.norm(sphere, axis=1), 1.0, atol=1e-6)
    # Parallel endpoints have no great circle: slerp falls back to the straight line.
    same = latent.interpolation_latents(a, 2 * a, steps=3, spherical=True)
    np.testing.assert_allclose(same[1], [1.5, 0.0], atol=1e-6)


def test_interpolation_between_images_needs_an_encoder(dcgan):
    image = np.zeros((16, 16, 3), "uint8")
    with pytest.raises(DataError, match="DCGAN has no encoder"):
        latent.interpolate(dcgan, image, image)
    codec = LinearCodec()
    start, end = np.full((2, 2, 3), 1.0), np.full((2, 2, 3), 3.0)
    path = latent.interpolate(codec, start, end, steps=3)
    np.testing.assert_allclose(path, [[1, 1, 1], [2, 2, 2], [3, 3, 3]], atol=1e-6)
    with pytest.raises(DataError, match=r"shape \(2, 2\)"):
        latent.interpolate(codec, np.zeros((2, 2)), end)


def test_pca_finds_the_directions_and_variances_of_the_codes():
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    stds = np.array([3.0, 1.0, 0.2])
    codes = (rng.normal(size=(4000, 3)) * stds) @ rotation.T + np.array([1.0, -2.0, 0.5])
    images = np.concatenate([codes, np.zeros((4000, 9))], axis=1).reshape(4000, 2, 2, 3)
    batches = [(images[i : i + 500], None) for i in range(0, 4000, 500)]  # (images, labels)
    pca = latent.latent_pca(LinearCodec(), batches)
    np.testing.assert_allclose(pca.mean, [1.0, -2.0, 0.5], atol=0.1)
    np.testing.assert_allclose(np.sqrt(pca.explained_variance), stds, rtol=0.05)
    np.testing.assert_allclose(pca.explained_variance_ratio.sum(), 1.0, rtol=1e-6)
    for k in range(3):  # the same axes up to sign
        assert abs(np.dot(pca.components[k], rotation[:, k])) > 0.99

    sheet = latent.pca_sheet(LinearCodec(), pca, n_components=2, steps=3, extent=2.0)
    assert sheet.shape == (6, 3)
    for k in range(2):
        step = 2.0 * np.sqrt(pca.explained_variance[k]) * pca.components[k]
        np.testing.assert_allclose(sheet[3 * k : 3 * k + 3], [pca.mean - step, pca.mean, pca.mean + step],
                                   atol=1e-5)
    first = latent.latent_pca(LinearCodec(), images, max_images=100, n_components=1)
    assert first.components.shape == (1, 3)


def test_pca_errors(dcgan):
    with pytest.raises(DataError, match="DCGAN has no encoder"):
        latent.latent_pca(dcgan, np.zeros((4, 16, 16, 3), "uint8"))
    with pytest.raises(DataError, match="at least 2 images"):
        latent.latent_pca(LinearCodec(), np.zeros((1, 2, 2, 3)))
    with pytest.raises(DataError, match="empty"):
        latent.latent_pca(LinearCodec(), [])


@pytest.mark.backend
def test_pca_of_a_vae_and_image_interpolation():
    from kerasgen import VAE
    from kerasgen.data import synthetic_faces

    model = VAE(image_size=16, latent_dim=4, width=8, seed=0)
    data = synthetic_faces(n=64, image_size=16, batch_size=32, seed=0)
    pca = latent.latent_pca(model, data)
    codes = model.encode(np.concatenate([data[0], data[1]]))
    np.testing.assert_allclose(pca.mean, codes.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pca.explained_variance.sum(), codes.var(axis=0, ddof=1).sum(),
                               rtol=1e-3)
    assert latent.pca_sheet(model, pca, n_components=2, steps=3).shape == (6, 16, 16, 3)
    faces = data[0][:2]
    path = latent.interpolate(model, faces[0], faces[1], steps=3)
    np.testing.assert_allclose(path[0], model.decode(model.encode(faces[:1]))[0], atol=1e-5)
    np.testing.assert_allclose(path[-1], model.reconstruct(faces[1:2])[0], atol=1e-5)
