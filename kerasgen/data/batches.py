"""Reading images back out of whatever `fit` takes, for evaluation and latent analysis."""

import keras
import numpy as np


def iter_images(data, max_images=None):
    """Yields NumPy image batches from `data`: an array of images, a `keras.utils.PyDataset`,
    a `tf.data.Dataset` or any iterable of batches, each `images` or `(images, labels)`. Stops
    after `max_images` images (the last batch cut to fit)."""
    if isinstance(data, np.ndarray):
        batches = [data]
    elif isinstance(data, keras.utils.PyDataset):
        batches = (data[i] for i in range(len(data)))
    else:
        batches = data
    count = 0
    for batch in batches:
        images = np.asarray(batch[0] if isinstance(batch, tuple) else batch)
        if max_images is not None:
            images = images[: max_images - count]
        if len(images):
            yield images
        count += len(images)
        if max_images is not None and count >= max_images:
            return
