"""Measures of trained models."""

import hashlib
import os
import re

import keras
import numpy as np
from keras import ops

from kerasgen import nets
from kerasgen.data.batches import iter_batches
from kerasgen.data.batches import iter_images
from kerasgen.errors import DataError
from kerasgen.files import atomic_path


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


# ---- attributes ---------------------------------------------------------------------------------


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


def attribute_accuracy(classifier, model, n=1000, seed=0, batch_size=250):
    """How often `classifier` reads back the attributes a conditional `model` was asked for.

    Draws `n` attribute vectors (each attribute on with probability 1/2, from `seed`), generates
    one image for each, classifies the images and compares. Chance is 0.5 for every attribute.

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
        images = model.generate(m, seed=int(rng.integers(2**31)), attributes=asked)
        read = classifier.predict_attributes(images)[:, columns]
        hits += np.sum(read == asked, axis=0)
        done += m
    return _per_attribute(names, hits / n)


# ---- sample quality: FID, KID, precision/recall ----
#
# Pure NumPy (float64) formulas on feature vectors (e.g. Inception pool features), one row per
# image. They do not depend on the Keras backend.


def _features(features, name):
    features = np.asarray(features, "float64")
    if features.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (samples, dims); got shape {features.shape}."
        )
    if not np.all(np.isfinite(features)):
        raise ValueError(f"{name} holds NaN or infinite values.")
    return features


def _psd_sqrt(matrix):
    """Symmetric square root of a symmetric PSD matrix: eigenvalues clipped at 0 (round-off can
    make those of a singular matrix slightly negative), so the result is always real."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _trace_sqrt_product(sigma1, sigma2):
    root1 = _psd_sqrt(sigma1)
    inner = root1 @ sigma2 @ root1
    inner = (inner + inner.T) / 2.0  # exactly symmetric, for eigvalsh
    return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(inner), 0.0, None))))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2) (FID on
    Inception features): ||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2)).

    Numerics: `scipy.linalg.sqrtm(sigma1 @ sigma2)` (pytorch-fid, the TTUR code) takes the root of
    a non-symmetric product; round-off gives it complex entries (then discarded) and, for
    near-singular covariances, non-finite ones, which pytorch-fid answers by adding eps*I to both
    covariances. Here the trace comes from the symmetric PSD form
    tr((sigma1^(1/2) sigma2 sigma1^(1/2))^(1/2)), which has the same eigenvalues as
    sigma1 sigma2, with symmetric eigendecompositions (`eigh`) in float64: both roots are real by
    construction, and the small negative eigenvalues that round-off gives a singular covariance
    (fewer samples than dims) are clipped to 0, so a rank-deficient covariance needs no offset.
    Only if an eigendecomposition fails to converge is `eps * I` added to both covariances and the
    trace computed again. The result is clipped at 0 (round-off only; the distance is >= 0).

    Args:
        mu1, mu2: means, shape `(d,)`.
        sigma1, sigma2: covariances, shape `(d, d)` (symmetric PSD).
        eps: the diagonal offset of the fallback above.

    Returns:
        The distance, a Python float.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, "float64")), np.atleast_1d(np.asarray(mu2, "float64"))
    sigma1 = np.atleast_2d(np.asarray(sigma1, "float64"))
    sigma2 = np.atleast_2d(np.asarray(sigma2, "float64"))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(
            f"the means must be vectors of the same length; got shapes {mu1.shape} and {mu2.shape}."
        )
    d = mu1.shape[0]
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if sigma.shape != (d, d):
            raise ValueError(
                f"{name} must have shape {(d, d)} to match the means of shape {mu1.shape}; "
                f"got {sigma.shape}."
            )
    for value in (mu1, mu2, sigma1, sigma2):
        if not np.all(np.isfinite(value)):
            raise ValueError("the means and covariances must be finite (no NaN or inf).")
    sigma1, sigma2 = (sigma1 + sigma1.T) / 2.0, (sigma2 + sigma2.T) / 2.0
    try:
        trace_root = _trace_sqrt_product(sigma1, sigma2)
    except np.linalg.LinAlgError:
        offset = eps * np.eye(d)
        trace_root = _trace_sqrt_product(sigma1 + offset, sigma2 + offset)
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_root
    return max(float(distance), 0.0)


def feature_statistics(features):
    """Features `(n, d)` -> `(mu, sigma)`: mean `(d,)` and unbiased covariance `(d, d)`
    (ddof=1), in float64, for `frechet_distance`."""
    features = _features(features, "features")
    if len(features) < 2:
        raise ValueError(f"a covariance needs at least 2 samples; got shape {features.shape}.")
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


class FeatureStatistics:
    """Mean and covariance of features that arrive in batches, without holding them all.

    Batches are merged with the parallel algorithm of Chan, Golub & LeVeque (count, mean and the
    sum of squared deviations, all float64), which avoids the cancellation of
    sum(x x^T) - n mu mu^T, so the result equals `feature_statistics` on all the rows at once (to
    round-off) whatever the batch sizes.

        stats = FeatureStatistics()
        for batch in batches:
            stats.update(extractor(batch))
        fid = frechet_distance(stats.mean, stats.covariance, *reference)
    """

    def __init__(self):
        self.count = 0
        self._mean = None
        self._m2 = None  # sum of outer products of deviations from the mean

    def update(self, batch_features):
        """Adds a batch `(m, d)` of features (m may be 0 or 1); returns self."""
        batch = _features(batch_features, "batch_features")
        if self._mean is not None and batch.shape[1] != self._mean.shape[0]:
            raise ValueError(
                f"batch_features of shape {batch.shape} do not match the {self._mean.shape[0]} "
                "dims seen so far."
            )
        m = len(batch)
        if m == 0:
            return self
        batch_mean = batch.mean(axis=0)
        centred = batch - batch_mean
        batch_m2 = centred.T @ centred
        if self._mean is None:
            self.count, self._mean, self._m2 = m, batch_mean, batch_m2
            return self
        n = self.count + m
        delta = batch_mean - self._mean
        self._mean = self._mean + delta * (m / n)
        self._m2 = self._m2 + batch_m2 + np.outer(delta, delta) * (self.count * m / n)
        self.count = n
        return self

    @property
    def mean(self):
        """Mean `(d,)` of the features so far."""
        if self._mean is None:
            raise ValueError("no features yet: call update() first.")
        return self._mean.copy()

    @property
    def covariance(self):
        """Unbiased covariance `(d, d)` (ddof=1) of the features so far."""
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 samples; {self.count} seen so far.")
        return self._m2 / (self.count - 1)

    def save(self, path):
        """Writes count, mean and the sum of squared deviations to an `.npz` file."""
        if self._mean is None:
            raise ValueError("no features yet: nothing to save.")
        with atomic_path(path) as temporary, open(temporary, "wb") as f:
            np.savez(f, count=np.int64(self.count), mean=self._mean, m2=self._m2)

    @classmethod
    def load(cls, path):
        """Reads statistics written by `save` (they can be updated further)."""
        with np.load(path) as data:
            stats = cls()
            stats.count = int(data["count"])
            stats._mean = np.asarray(data["mean"], "float64")
            stats._m2 = np.asarray(data["m2"], "float64")
        return stats


def _polynomial_mmd2(x, y):
    """Unbiased MMD^2 of equal-sized x, y with k(a, b) = (a.b / d + 1)^3."""
    m, d = x.shape
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    off_diagonal = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return off_diagonal - 2.0 * kxy.sum() / (m * m)


def kernel_inception_distance(features1, features2, num_subsets=100, subset_size=1000, seed=0):
    """Kernel Inception Distance (Binkowski et al. 2018): the unbiased estimate of MMD^2 with the
    cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over `num_subsets` random subsets
    of `subset_size` rows drawn without replacement from each set (as in torch-fidelity and
    clean-fid; `subset_size` is capped at the smaller set's size).

    Returns:
        `(mean, std)` over the subsets (std with ddof=0, as torch-fidelity), Python floats. The
        estimate is unbiased, so it can be slightly negative for matching distributions. It is
        unbiased for independent sets: subsets drawn from the same (or overlapping) features
        share rows, whose large k(x, x) enter the cross term and pull the estimate below 0 by
        about 2 * overlap * (k(x, x) - k(x, y)) / subset_size^2.
    """
    x, y = _features(features1, "features1"), _features(features2, "features2")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"the feature dims differ: shapes {x.shape} and {y.shape}.")
    m = min(int(subset_size), len(x), len(y))
    if m < 2:
        raise ValueError(
            f"KID needs subsets of at least 2 rows; got shapes {x.shape} and {y.shape} and "
            f"subset_size={subset_size}."
        )
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be at least 1; got {num_subsets}.")
    rng = np.random.default_rng(seed)
    mmds = np.empty(num_subsets)
    for i in range(num_subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        mmds[i] = _polynomial_mmd2(a, b)
    return float(mmds.mean()), float(mmds.std())


def _squared_distances(a, b):
    d2 = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0)


def _knn_radii(features, k, batch_size):
    """Squared distance from each row to its k-th nearest neighbour in `features`, itself
    excluded (it is its own 0th neighbour)."""
    radii = np.empty(len(features))
    for start in range(0, len(features), batch_size):
        block = _squared_distances(features[start:start + batch_size], features)
        rows = np.arange(len(block))
        block[rows, start + rows] = 0.0  # the point itself, exactly
        radii[start:start + batch_size] = np.partition(block, k, axis=1)[:, k]
    return radii


def _share_inside(points, manifold, radii, batch_size):
    """Share of `points` within the radius of at least one row of `manifold`."""
    inside = 0
    for start in range(0, len(points), batch_size):
        block = _squared_distances(points[start:start + batch_size], manifold)
        inside += int(np.count_nonzero(np.any(block <= radii[None, :], axis=1)))
    return inside / len(points)


def precision_recall(real_features, fake_features, k=3, batch_size=1024):
    """Improved precision and recall (Kynkäänniemi et al. 2019) from k-NN manifolds.

    Each point's radius is the distance to its k-th nearest neighbour within its own set (itself
    excluded); a set's manifold is the union of the balls around its points. Precision is the
    share of fake points inside the real manifold (sample quality), recall the share of real
    points inside the fake manifold (coverage). A point on a ball's boundary counts as inside.
    Distances are computed `batch_size` rows at a time, so memory is
    O(batch_size * max(n_real, n_fake)).

    Returns:
        `(precision, recall)`, Python floats in [0, 1].
    """
    real = _features(real_features, "real_features")
    fake = _features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"the feature dims differ: shapes {real.shape} and {fake.shape}.")
    if k < 1 or k >= min(len(real), len(fake)):
        raise ValueError(
            f"k must be at least 1 and below each set's size; got k={k} for shapes {real.shape} "
            f"and {fake.shape}."
        )
    batch_size = max(1, int(batch_size))
    real_radii = _knn_radii(real, k, batch_size)
    fake_radii = _knn_radii(fake, k, batch_size)
    precision = _share_inside(fake, real, real_radii, batch_size)
    recall = _share_inside(real, fake, fake_radii, batch_size)
    return precision, recall


def sample_quality(real_features, fake_features, which=("fid", "kid", "pr"), k=3, seed=0,
                   real_statistics=None):
    """The scores `which` asks for, of generated against real features: `fid`; `kid` and
    `kid_std` (subsets of min(1000, both sizes), drawn from `seed`); `precision` and `recall`
    (k-NN manifolds with `k`). `real_statistics` (a `FeatureStatistics` of the same real
    features) saves recomputing their covariance. Returns a dict of floats."""
    scores = {}
    if "fid" in which:
        real = real_statistics
        if real is None:
            real = FeatureStatistics()
            real.update(real_features)
        mu, sigma = feature_statistics(fake_features)
        scores["fid"] = frechet_distance(real.mean, real.covariance, mu, sigma)
    if "kid" in which:
        subset = min(1000, len(real_features), len(fake_features))
        scores["kid"], scores["kid_std"] = kernel_inception_distance(
            real_features, fake_features, subset_size=subset, seed=seed)
    if "pr" in which:
        scores["precision"], scores["recall"] = precision_recall(real_features, fake_features, k)
    return scores


# ---- sample quality of a model ------------------------------------------------------------------


def default_cache_dir():
    """Where real-data features are cached: `$KERASGEN_CACHE`, else `~/.cache/kerasgen`, plus
    `/features`."""
    root = os.environ.get("KERASGEN_CACHE") or os.path.join("~", ".cache", "kerasgen")
    return os.path.join(os.path.expanduser(root), "features")


def cache_path(data_key, extractor, max_images=None, directory=None):
    """The `.npz` file that holds the features of the data set described by `data_key` (a
    string naming the source, path, split, size, ... that `extractor` sees) under `extractor`:
    keyed by both, by the extractor's weights (`extractor.fingerprint`) and by `max_images`, so
    that a different data set, extractor or count never reuses another's features."""
    readable = re.sub(r"[^A-Za-z0-9.=_-]+", "_", f"{data_key}-{extractor.name}").strip("_")[:100]
    digest = hashlib.sha1(
        f"{data_key}|{extractor.name}|{getattr(extractor, 'fingerprint', '')}|{max_images}".encode()
    ).hexdigest()[:12]
    return os.path.join(directory or default_cache_dir(), f"{readable}-{digest}.npz")


def _progress(total, verbose, what):
    if not verbose:
        return None
    print(f"kerasgen: {what}", flush=True)
    return keras.utils.Progbar(total, unit_name="image")


def real_features(data, extractor, max_images=None, cache=None, verbose=0):
    """Features `(n, d)` of the images of `data` under `extractor` (for KID and
    precision/recall, which need the features themselves).

    Args:
        data: images, a PyDataset, a tf.data.Dataset or an iterable of batches.
        extractor: a feature extractor from `kerasgen.features`.
        max_images: stop after this many images.
        cache: an `.npz` path (e.g. from `cache_path`): features saved there before are loaded
            instead; new ones are saved there.
        verbose: 1 shows a progress bar.
    """
    if cache is not None and os.path.exists(cache):
        with np.load(cache) as saved:
            return saved["features"]
    progress, features = _progress(max_images, verbose, f"{extractor.name} features of real images"), []
    for images in iter_images(data, max_images):
        features.append(extractor(images))
        if progress:
            progress.add(len(images))
    if not features:
        raise DataError("no real images to measure: the data set is empty.")
    features = np.concatenate(features)
    if cache is not None:
        with atomic_path(cache) as temporary, open(temporary, "wb") as f:
            np.savez(f, features=features)
    return features


def real_statistics(data, extractor, max_images=None, cache=None, verbose=0):
    """Streaming `FeatureStatistics` of the images of `data` under `extractor` (never holding
    all the features), for FID. `cache` and `verbose` as in `real_features` (the file holds the
    statistics)."""
    if cache is not None and os.path.exists(cache):
        return FeatureStatistics.load(cache)
    progress = _progress(max_images, verbose, f"{extractor.name} statistics of real images")
    stats = FeatureStatistics()
    for images in iter_images(data, max_images):
        stats.update(extractor(images))
        if progress:
            progress.add(len(images))
    if stats.count < 2:
        raise DataError(f"need at least 2 real images for statistics; received {stats.count}.")
    if cache is not None:
        stats.save(cache)
    return stats


def generated_features(model, extractor, n=10_000, seed=0, batch_size=250, statistics=False,
                       verbose=0):
    """Features of `n` images generated with latents drawn from `seed`, batch by batch: a
    `FeatureStatistics` with `statistics=True` (never holding all features), else `(n, d)`.
    `verbose=1` shows a progress bar."""
    stats, features = FeatureStatistics(), []
    progress = _progress(n, verbose, f"{extractor.name} features of {n} generated images")
    latents = model.sample_latents(n, seed)
    for start in range(0, n, batch_size):
        # `seed` also draws what else a model samples (a conditional model's attributes).
        batch_seed = None if seed is None else seed + start
        batch = extractor(model.generate(latents=latents[start : start + batch_size],
                                         seed=batch_seed))
        if statistics:
            stats.update(batch)
        else:
            features.append(batch)
        if progress:
            progress.add(len(batch))
    return stats if statistics else np.concatenate(features)


def fid(model, real, extractor, n=10_000, seed=0, batch_size=250, verbose=0):
    """Fréchet distance between the features of `n` generated images and `real` (a
    `FeatureStatistics`, e.g. from `real_statistics`). Report it with `extractor.name`: only
    `InceptionFeatures` with ImageNet weights gives the standard FID."""
    fake = generated_features(model, extractor, n, seed, batch_size, statistics=True,
                              verbose=verbose)
    return frechet_distance(real.mean, real.covariance, fake.mean, fake.covariance)
