"""Reading images back out of whatever `fit` takes, for evaluation and latent analysis."""

import keras
import numpy as np


def iter_batches(data, max_images=None):
    """Yields NumPy batches from `data` as `(images, labels)` (labels `None` where the data has
    none): `data` is an array of images, a `keras.utils.PyDataset`, a `tf.data.Dataset` or any
    iterable of batches, each `images` or `(images, labels)`. Stops after `max_images` images
    (the last batch cut to fit)."""
    if isinstance(data, np.ndarray):
        batches = [data]
    elif isinstance(data, keras.utils.PyDataset):
        batches = (data[i] for i in range(len(data)))
    else:
        batches = data
    count = 0
    for batch in batches:
        images, labels = batch if isinstance(batch, tuple) else (batch, None)
        images = np.asarray(images)
        labels = None if labels is None else np.asarray(labels)
        if max_images is not None:
            images = images[: max_images - count]
            labels = None if labels is None else labels[: len(images)]
        if len(images):
            yield images, labels
        count += len(images)
        if max_images is not None and count >= max_images:
            return


def iter_images(data, max_images=None):
    """The images of `iter_batches(data, max_images)`, without their labels."""
    for images, _ in iter_batches(data, max_images):
        yield images
