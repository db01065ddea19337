"""Feature extractors for sample-quality metrics (FID, KID, precision/recall).

An extractor maps a batch of images (uint8 0..255 or float [0, 1], `(n, h, w, 3)`) to NumPy
features `(n, d)` and has a `name` under which its scores are reported, so that a score computed
with kerasgen's offline features is never mistaken for the standard Inception FID.

- `InceptionFeatures`: Keras' InceptionV3 pool features at 299 px with its own preprocessing,
  the standard for FID. Its ImageNet weights come the normal Keras way (downloaded once to
  `~/.keras/models`) or from a file the user gives.
- `ClassifierFeatures`: the penultimate features of a kerasgen `AttributeClassifier` trained on
  the data set: offline, no download, reported as `classifier:<attributes>`.
"""

import hashlib
import os

import keras
import numpy as np

from kerasgen.errors import DataError

INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def weights_fingerprint(network):
    """A short hash of a network's weights: the key under which features it computed are cached
    (`kerasgen.metrics.cache_path`), so retrained or other weights never reuse them."""
    digest = hashlib.sha1()
    for weight in network.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight.value)).tobytes())
    return digest.hexdigest()[:12]


def _as_float01(images):
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype("float32") / 255.0
    return images.astype("float32")


class InceptionFeatures:
    """InceptionV3 average-pool features (2048-d) at 299x299, as FID is defined.

    Args:
        weights: `"imagenet"` (Keras downloads them once, or finds them in its cache),
            a path to the no-top `.h5` weights file, or `None` (random weights: for tests only;
            its scores are not FID).
        batch_size: images per forward pass.
    """

    def __init__(self, weights="imagenet", batch_size=50):
        if isinstance(weights, (str, os.PathLike)) and weights != "imagenet":
            if not os.path.isfile(weights):
                raise DataError(
                    f"no InceptionV3 weights at {weights}. Download {INCEPTION_WEIGHTS_FILE} "
                    "(keras.applications.InceptionV3(weights='imagenet', include_top=False) "
                    "fetches it to ~/.keras/models) and pass its path."
                )
        try:
            self.network = keras.applications.InceptionV3(
                include_top=False, weights=weights, pooling="avg", input_shape=(299, 299, 3)
            )
        except Exception as e:  # a failed download: say how to get the file offline
            raise DataError(
                f"could not load InceptionV3 weights ({type(e).__name__}: {e}). Without internet, "
                f"copy {INCEPTION_WEIGHTS_FILE} to ~/.keras/models or pass weights=PATH; or use "
                "kerasgen's offline ClassifierFeatures."
            ) from None
        self.weights = weights
        self.batch_size = batch_size
        self.name = "inception" if weights is not None else "inception-random-weights"
        self._fingerprint = None

    @property
    def fingerprint(self):
        """A hash of the weights (computed once)."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.network)
        return self._fingerprint

    def __call__(self, images):
        x = keras.ops.image.resize(_as_float01(images), (299, 299), interpolation="bilinear")
        x = x * 2.0 - 1.0  # keras.applications.inception_v3.preprocess_input
        return np.asarray(self.network.predict(x, batch_size=self.batch_size, verbose=0),
                          dtype="float64")


class ClassifierFeatures:
    """The features a trained `kerasgen.metrics.AttributeClassifier` computes before its last
    layer (global-average-pooled convolution features): an offline extractor trained on the
    data set itself. Scores are reported as `classifier:<attributes>`."""

    def __init__(self, classifier, batch_size=256):
        network = classifier.network
        pooled = network.layers[-2].output  # the input of the logits layer
        self.network = keras.Model(network.inputs, pooled, name="classifier_features")
        self.batch_size = batch_size
        self.image_size = classifier.image_size
        self.name = "classifier:" + ",".join(classifier.attributes)
        self.fingerprint = weights_fingerprint(self.network)

    def __call__(self, images):
        x = _as_float01(images) * 2.0 - 1.0  # as AttributeClassifier.call
        return np.asarray(self.network.predict(x, batch_size=self.batch_size, verbose=0),
                          dtype="float64")
