"""Reconstruction error of models that encode and decode (seed 001's Table 1)."""

import numpy as np

from kerasgen.data.batches import iter_images
from kerasgen.errors import DataError


def reconstruction_mse(model, data, max_images=None):
    """Mean squared error between images and `model.reconstruct(images)`, per pixel and channel,
    on [0, 1] pixels: the number in seed 001's Table 1.

    Args:
        model: a model with `reconstruct` (Autoencoder, VAE, VAEGAN).
        data: images (uint8 0..255 or float [0, 1]) as an array, a PyDataset, a tf.data.Dataset
            or any iterable of batches (labels, if any, are ignored).
        max_images: stop after this many images.

    Returns:
        `(mse, number of images)`.
    """
    total, count = 0.0, 0
    for images in iter_images(data, max_images):
        target = images.astype("float32") / (255.0 if images.dtype == np.uint8 else 1.0)
        reconstruction = np.asarray(model.reconstruct(images), "float32")
        total += float(np.sum((reconstruction - target) ** 2, dtype="float64"))
        count += len(images)
    if not count:
        raise DataError("no images to evaluate: the data set is empty.")
    return total / (count * np.prod(target.shape[1:])), count
