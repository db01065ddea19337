"""Metrics against hand computations."""

import numpy as np
import pytest

from kerasgen.data import iter_images
from kerasgen.errors import DataError
from kerasgen.metrics import reconstruction_mse


class Darken:
    """reconstruct = every pixel at 0.25 (in [0, 1]), whatever the input."""

    def reconstruct(self, images):
        return np.full(np.shape(images), 0.25, "float32")


def test_reconstruction_mse_by_hand():
    images = np.zeros((3, 2, 2, 3), "uint8")
    images[0] = 255  # error 0.75 per channel; the others 0.25
    expected = (12 * 0.75**2 + 24 * 0.25**2) / 36
    batches = [(images[:2], np.ones((2, 5))), (images[2:], np.ones((1, 5)))]
    mse, count = reconstruction_mse(Darken(), batches)
    assert count == 3 and mse == pytest.approx(expected, rel=1e-6)
    # float images in [0, 1] are taken as they are
    mse, _ = reconstruction_mse(Darken(), images.astype("float32") / 255.0)
    assert mse == pytest.approx(expected, rel=1e-6)
    mse, count = reconstruction_mse(Darken(), batches, max_images=1)
    assert count == 1 and mse == pytest.approx(0.75**2, rel=1e-6)
    with pytest.raises(DataError, match="empty"):
        reconstruction_mse(Darken(), [])


def test_iter_images_cuts_at_max_images():
    data = [np.zeros((4, 2, 2, 3)), np.ones((4, 2, 2, 3))]
    assert [len(b) for b in iter_images(data, max_images=6)] == [4, 2]
    assert [len(b) for b in iter_images(np.zeros((5, 2, 2, 3)))] == [5]
