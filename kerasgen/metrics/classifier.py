"""The attribute classifier that scores conditional models (and gives offline features), and
attribute accuracy: how often it reads back the attributes a model was asked for."""

import keras
import numpy as np
from keras import ops

from kerasgen import nets
from kerasgen.data.batches import iter_batches
from kerasgen.errors import DataError



@keras.saving.register_keras_serializable(package="kerasgen")
class AttributeClassifier(keras.Model):
    """A small convolutional network that reads binary attributes from face images, to measure
    how well a conditional model obeys the attributes it is asked for.

    Train it like any Keras model on `(images, 0/1 labels)` batches, e.g.
    `kerasgen.data.synthetic_faces(attributes=names)` or `kerasgen.data.celeba(path,
    attributes=names)`; `compile()` with no arguments gives Adam(1e-3), binary cross-entropy on
    logits and `accuracy` (per attribute and image, threshold 0.5).

    Args:
        attributes: the names of the attributes, in the order of the labels.
        image_size: side of the square RGB images (16 to 256, a power of two).
        width: channels of the first convolution block.
    """

    def __init__(self, attributes, image_size=64, width=32, **kwargs):
        super().__init__(**kwargs)
        self.attributes = list(attributes)
        if not self.attributes:
            raise ValueError("AttributeClassifier needs at least one attribute name.")
        self.image_size = image_size
        self.width = width
        inputs = keras.Input((image_size, image_size, 3))
        x = nets.down_stack(inputs, image_size, width, norm="batch", prefix="classifier")
        x = keras.layers.GlobalAveragePooling2D()(x)
        logits = keras.layers.Dense(len(self.attributes), name="logits")(x)
        self.network = keras.Model(inputs, logits, name="attribute_network")

    def call(self, images, training=False):
        """Images (uint8 0..255 or float [0, 1]) -> one logit per attribute."""
        dtype = keras.backend.standardize_dtype(images.dtype)
        x = ops.cast(images, "float32")
        if "int" in dtype:
            x = x / 255.0
        return self.network(x * 2.0 - 1.0, training=training)

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        super().compile(
            optimizer=keras.optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer,
            loss=loss or keras.losses.BinaryCrossentropy(from_logits=True),
            metrics=metrics or [keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")],
            **kwargs,
        )

    def get_compile_config(self):
        # Reloaded classifiers are recompiled with the defaults (they are for measuring).
        return {"defaults": True} if self.compiled else {}

    def compile_from_config(self, config):
        self.compile()

    def predict_attributes(self, images, batch_size=256):
        """Images -> NumPy `(n, k)` 0/1 predictions."""
        logits = self.predict(np.asarray(images), batch_size=batch_size, verbose=0)
        return (np.asarray(logits) > 0).astype("float32")

    def accuracy(self, data, max_images=None):
        """Per-attribute accuracy on labelled `data` (`(images, labels)` batches, or a tuple
        `(images, labels)` of arrays): `{name: accuracy, ..., "mean": mean accuracy}`."""
        if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], np.ndarray):
            data = [data]
        hits, count = 0.0, 0
        for images, labels in iter_batches(data, max_images):
            if labels is None:
                raise DataError("accuracy needs labelled data: batches of (images, labels).")
            hits = hits + np.sum(self.predict_attributes(images) == labels, axis=0)
            count += len(images)
        if not count:
            raise DataError("no labelled images to evaluate: the data set is empty.")
        return _per_attribute(self.attributes, hits / count)

    def get_config(self):
        return {**super().get_config(), "attributes": self.attributes,
                "image_size": self.image_size, "width": self.width}


def _per_attribute(names, accuracies):
    result = {name: float(a) for name, a in zip(names, accuracies)}
    result["mean"] = float(np.mean(accuracies))
    return result


def attribute_accuracy(classifier, model, n=1000, seed=0, batch_size=250, use_ema=True):
    """How often `classifier` reads back the attributes a conditional `model` was asked for.

    Draws `n` attribute vectors (each attribute on with probability 1/2, from `seed`), generates
    one image for each, classifies the images and compares. Chance is 0.5 for every attribute.
    `use_ema=False` asks a model that keeps an EMA for its trained weights instead.

    Returns:
        `{attribute name: accuracy, ..., "mean": mean over attributes}`.
    """
    names = list(model.attributes)
    missing = [a for a in names if a not in classifier.attributes]
    if missing:
        raise DataError(
            f"the classifier does not read {missing}; it knows {classifier.attributes}."
        )
    columns = [classifier.attributes.index(a) for a in names]
    rng = np.random.default_rng(seed)
    hits, done = np.zeros(len(names)), 0
    while done < n:
        m = min(batch_size, n - done)
        asked = (rng.random((m, len(names))) < 0.5).astype("float32")
        images = model.generate(m, seed=int(rng.integers(2**31)), attributes=asked,
                                **({} if use_ema else {"use_ema": False}))
        read = classifier.predict_attributes(images)[:, columns]
        hits += np.sum(read == asked, axis=0)
        done += m
    return _per_attribute(names, hits / n)
