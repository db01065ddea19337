"""Distances between sets of image features: FID, KID, precision/recall.

Pure NumPy (float64) formulas on feature vectors (e.g. Inception pool features), one row per
image. They do not depend on the Keras backend.
"""

import numpy as np

from kerasgen.files import atomic_path

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

    @property
    def m2(self):
        """The sum of outer products of the deviations from the mean `(d, d)`."""
        return self._m2

    @classmethod
    def from_arrays(cls, count, mean, m2):
        """Statistics from their saved arrays (they can be updated further)."""
        stats = cls()
        stats.count = int(count)
        stats._mean = np.asarray(mean, "float64")
        stats._m2 = np.asarray(m2, "float64")
        return stats

    @classmethod
    def load(cls, path):
        """Reads statistics written by `save` (they can be updated further)."""
        with np.load(path) as data:
            return cls.from_arrays(data["count"], data["mean"], data["m2"])


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


def density_coverage(real_features, fake_features, k=5, batch_size=1024):
    """Density and coverage (Naeem et al. 2020), as the authors' `prdc` package and StudioGAN
    compute them (StudioGAN reports k = 5).

    With each real point's radius the distance to its k-th nearest real neighbour (itself
    excluded): density is the mean over fake points of the number of real balls that hold them,
    divided by k (about 1 when fakes are distributed as the reals, above 1 where they crowd
    dense regions); coverage is the share of real points whose ball holds at least one fake.
    A point on a ball's boundary is outside, as in `prdc`.

    Returns:
        `(density, coverage)`, Python floats (coverage in [0, 1]).
    """
    real = _features(real_features, "real_features")
    fake = _features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"the feature dims differ: shapes {real.shape} and {fake.shape}.")
    if k < 1 or k >= len(real):
        raise ValueError(f"k must be at least 1 and below the real set's size; got k={k} for "
                         f"shape {real.shape}.")
    batch_size = max(1, int(batch_size))
    radii = _knn_radii(real, k, batch_size)
    held = 0  # sum over fakes of the real balls that hold them
    covered = np.zeros(len(real), bool)
    for start in range(0, len(fake), batch_size):
        inside = _squared_distances(real, fake[start:start + batch_size]) < radii[:, None]
        held += int(np.count_nonzero(inside))
        covered |= inside.any(axis=1)
    return held / (k * len(fake)), float(covered.mean())


def inception_score(logits, splits=10, shuffle=True, seed=2020):
    """Inception Score (Salimans et al. 2016) from classifier logits, as torch-fidelity
    defines it: the rows shuffled with `np.random.RandomState(seed)`, cut into `splits` equal
    parts, and exp(mean KL(p(y|x) || p(y))) of each part; the mean and standard deviation over
    the parts. With the FID Inception's 1008 logits (`FIDInception.logits`) it is the number
    papers report.

    Returns:
        `(mean, std)`, Python floats.
    """
    logits = _features(logits, "logits")
    if not 1 <= splits <= len(logits):
        raise ValueError(f"splits must be between 1 and the number of rows ({len(logits)}); "
                         f"received {splits}.")
    if shuffle:
        logits = logits[np.random.RandomState(seed).permutation(len(logits))]
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    scores = []
    n = len(logits)
    for i in range(splits):
        part = slice(i * n // splits, (i + 1) * n // splits)
        q = p[part].mean(axis=0, keepdims=True)
        kl = (p[part] * (log_p[part] - np.log(q))).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


def sample_quality(real_features, fake_features, which=("fid", "kid", "pr"), k=3, seed=0,
                   real_statistics=None, dc_k=5):
    """The scores `which` asks for, of generated against real features: `fid`; `kid` and
    `kid_std` (subsets of min(1000, both sizes), drawn from `seed`); `precision` and `recall`
    (k-NN manifolds with `k`); `dc`: `density` and `coverage` (with `dc_k` neighbours).
    `real_statistics` (a `FeatureStatistics` of the same real features) saves recomputing their
    covariance. Returns a dict of floats."""
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
    if "dc" in which:
        scores["density"], scores["coverage"] = density_coverage(real_features, fake_features, dc_k)
    return scores
