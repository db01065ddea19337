"""Sample-quality formulas (FID, KID, precision/recall) against closed forms, independent
reference implementations and hand computations. Pure NumPy: no Keras backend involved."""

import numpy as np
import pytest
import scipy.linalg

from kerasgen import metrics
from kerasgen.metrics import (
    FeatureStatistics,
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    precision_recall,
)


def random_spd(rng, d, samples=None):
    a = rng.normal(size=(d, samples or 2 * d))
    return a @ a.T / a.shape[1]


def scipy_frechet_distance(mu1, sigma1, mu2, sigma2):
    """The pytorch-fid / TTUR formula, as an independent reference."""
    root, _ = scipy.linalg.sqrtm(sigma1 @ sigma2, disp=False)
    root = root.real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2)
                 - 2.0 * np.trace(root))


# ---- FID ----------------------------------------------------------------------------------------


def test_fid_of_identical_statistics_is_zero():
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=16), random_spd(rng, 16)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)
    mu, sigma = feature_statistics(rng.normal(size=(500, 32)) * 3.0 + 1.0)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)


def test_fid_closed_form_for_commuting_covariances():
    rng = np.random.default_rng(1)
    d = 12
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    var1, var2 = rng.uniform(0.1, 4.0, d), rng.uniform(0.1, 4.0, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    got = frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(expected, rel=1e-6)
    # the same covariances in a rotated basis commute, and the distance does not change
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    got = frechet_distance(q @ mu1, q @ np.diag(var1) @ q.T, q @ mu2, q @ np.diag(var2) @ q.T)
    assert got == pytest.approx(expected, rel=1e-6)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0, rel=1e-12)


@pytest.mark.parametrize("d", [2, 20, 64])
def test_fid_matches_scipy_sqrtm_reference(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d) * 0.5
    sigma1, sigma2 = random_spd(rng, d), random_spd(rng, d) * 2.0
    expected = scipy_frechet_distance(mu1, sigma1, mu2, sigma2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-6)


def test_fid_with_singular_covariance_is_finite_and_non_negative():
    rng = np.random.default_rng(2)
    d = 32
    few1, few2 = rng.normal(size=(10, d)), rng.normal(size=(7, d)) + 0.3  # rank 9 and 6
    (mu1, sigma1), (mu2, sigma2) = feature_statistics(few1), feature_statistics(few2)
    assert np.linalg.matrix_rank(sigma1) == 9
    for args in [(mu1, sigma1, mu2, sigma2), (mu1, sigma1, mu1, sigma1),
                 (mu1, sigma1, np.zeros(d), np.zeros((d, d))),
                 (mu1, sigma1, mu2, random_spd(rng, d))]:
        value = frechet_distance(*args)
        assert np.isfinite(value) and value >= 0.0
    # identical rank-deficient statistics: 0 up to round-off of the clipped null space
    assert frechet_distance(mu1, sigma1, mu1, sigma1) < 1e-6 * np.trace(sigma1)


def test_fid_shape_errors_name_the_shapes():
    mu, sigma = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match=r"\(3,\) and \(4,\)"):
        frechet_distance(mu, sigma, np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match=r"sigma2 must have shape \(3, 3\).*got \(3, 2\)"):
        frechet_distance(mu, sigma, mu, np.ones((3, 2)))
    with pytest.raises(ValueError, match="finite"):
        frechet_distance(mu, sigma, mu, np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match=r"2-D.*\(5,\)"):
        feature_statistics(np.zeros(5))
    with pytest.raises(ValueError, match="at least 2 samples"):
        feature_statistics(np.zeros((1, 5)))


# ---- streaming statistics -----------------------------------------------------------------------


def test_streaming_statistics_equal_one_shot(tmp_path):
    rng = np.random.default_rng(3)
    features = (rng.normal(size=(200, 6)) * [1, 2, 3, 0.1, 10, 1] + 50.0).astype("float32")
    stats = FeatureStatistics()
    sizes = [1, 7, 0, 33, 2, 57, 100]
    bounds = np.cumsum([0] + sizes)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        stats.update(features[start:stop])
    assert stats.count == 200
    exact = features.astype("float64")
    np.testing.assert_allclose(stats.mean, np.mean(exact, axis=0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(stats.covariance, np.cov(exact, rowvar=False),
                               rtol=1e-10, atol=1e-10)
    mu, sigma = feature_statistics(features)
    np.testing.assert_allclose(stats.covariance, sigma, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(stats.mean, mu, rtol=1e-10, atol=1e-10)

    # save / load round trip, and a loaded accumulator goes on accumulating
    path = tmp_path / "stats.npz"
    half = FeatureStatistics().update(features[:120])
    half.save(path)
    loaded = FeatureStatistics.load(path)
    assert loaded.count == 120
    np.testing.assert_array_equal(loaded.mean, half.mean)
    np.testing.assert_array_equal(loaded.covariance, half.covariance)
    loaded.update(features[120:])
    np.testing.assert_allclose(loaded.covariance, stats.covariance, rtol=1e-10, atol=1e-10)


def test_streaming_statistics_errors():
    stats = FeatureStatistics()
    with pytest.raises(ValueError, match="no features"):
        stats.mean
    stats.update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        stats.covariance
    with pytest.raises(ValueError, match=r"\(2, 4\).*3 dims"):
        stats.update(np.ones((2, 4)))


# ---- KID ----------------------------------------------------------------------------------------


def direct_mmd2(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written out from the formula."""
    d = x.shape[1]
    kernel = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    off = lambda k: (k.sum() - np.trace(k)) / (len(k) * (len(k) - 1))  # noqa: E731
    return off(kernel(x, x)) + off(kernel(y, y)) - 2.0 * kernel(x, y).mean()


def test_kid_against_direct_formula_on_whole_sets():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(60, 8)), rng.normal(size=(60, 8)) * 1.2 + 0.3
    mean, std = kernel_inception_distance(x, y, num_subsets=1, subset_size=1000)
    assert mean == pytest.approx(direct_mmd2(x, y), rel=1e-6)
    assert std == 0.0
    # subset_size is capped at the smaller set: one subset of 40 rows from each
    mean, _ = kernel_inception_distance(x, y[:40], num_subsets=1, subset_size=1000)
    assert np.isfinite(mean)


def test_kid_of_a_set_with_itself_is_zero_within_its_std():
    rng = np.random.default_rng(5)
    # a set much larger than the subsets: the two subsets drawn from one set share few rows
    # (each shared row puts a large k(x, x) into the cross term and pulls the estimate down)
    x = rng.normal(size=(3000, 16))
    mean, std = kernel_inception_distance(x, x, num_subsets=30, subset_size=100, seed=1)
    assert std > 0 and abs(mean) < std
    # reproducible from the seed
    assert kernel_inception_distance(x, x, num_subsets=30, subset_size=100, seed=1) == (mean, std)
    # two samples of one distribution: also 0 within the std
    mean, std = kernel_inception_distance(x, rng.normal(size=(500, 16)), num_subsets=30,
                                          subset_size=100)
    assert abs(mean) < std


def test_kid_grows_with_a_shift():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    values = [kernel_inception_distance(x, y + shift, num_subsets=10, subset_size=100)[0]
              for shift in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[-1] > 10 * abs(values[0])


def test_kid_errors():
    with pytest.raises(ValueError, match=r"dims differ.*\(5, 3\).*\(5, 4\)"):
        kernel_inception_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        kernel_inception_distance(np.zeros((1, 3)), np.zeros((5, 3)))


# ---- precision / recall -------------------------------------------------------------------------


def test_precision_recall_of_identical_sets_is_one():
    x = np.random.default_rng(7).normal(size=(150, 5))
    assert precision_recall(x, x.copy(), k=3, batch_size=32) == (1.0, 1.0)


def test_precision_recall_of_a_far_set_is_zero():
    rng = np.random.default_rng(8)
    real, fake = rng.normal(size=(100, 5)), rng.normal(size=(80, 5)) + 100.0
    assert precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_precision_recall_by_hand_in_1d():
    real = np.array([[0.0], [1.0], [3.0], [7.0]])
    fake = np.array([[0.5], [1.5], [11.0], [12.0], [13.0]])
    # k=1. Real radii (nearest other point): 0->1, 1->1, 3->2, 7->4, so the real manifold is
    # [-1, 1] u [0, 2] u [1, 5] u [3, 11] = [-1, 11]: fakes 0.5, 1.5 and 11 (on the boundary) are
    # inside, 12 and 13 not -> precision 3/5. Fake radii: all 1, so the fake manifold is
    # [-0.5, 2.5] u [10, 14]: reals 0 and 1 are inside, 3 and 7 not -> recall 2/4.
    for batch_size in (1, 2, 1024):
        assert precision_recall(real, fake, k=1, batch_size=batch_size) == (0.6, 0.5)
    # k=2. Real radii: 0->3, 1->2, 3->3, 7->6: manifold [-3, 13] holds every fake. Fake radii:
    # 0.5->10.5, 1.5->9.5, 11->2, 12->1, 13->2: [-10, 11] already holds every real.
    assert precision_recall(real, fake, k=2, batch_size=2) == (1.0, 1.0)
    # swapping the roles swaps precision and recall
    assert precision_recall(fake, real, k=1) == (0.5, 0.6)


def test_precision_recall_errors():
    with pytest.raises(ValueError, match=r"k=4.*\(4, 1\)"):
        precision_recall(np.zeros((4, 1)), np.zeros((9, 1)), k=4)
    with pytest.raises(ValueError, match="dims differ"):
        precision_recall(np.zeros((4, 1)), np.zeros((4, 2)))


def test_sample_quality_gathers_the_three_scores():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(300, 6)), rng.normal(0.3, 1.2, size=(200, 6))
    scores = metrics.sample_quality(real, fake, k=3, seed=2)
    mu, sigma = metrics.feature_statistics(real)
    assert scores["fid"] == pytest.approx(
        metrics.frechet_distance(mu, sigma, *metrics.feature_statistics(fake)), rel=1e-9)
    kid = metrics.kernel_inception_distance(real, fake, subset_size=200, seed=2)
    assert (scores["kid"], scores["kid_std"]) == pytest.approx(kid, rel=1e-12)
    assert (scores["precision"], scores["recall"]) == metrics.precision_recall(real, fake, 3)
    assert set(metrics.sample_quality(real, fake, ["kid"])) == {"kid", "kid_std"}
