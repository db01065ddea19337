"""Feature extractors and FID of a model: Keras' ImageNet Inception code path without weights, the
offline classifier features, streaming statistics, the callback. The FID papers' Inception is
tested against torch-fidelity in test_fid_inception.py."""

import numpy as np
import pytest

from kerasgen import DCGAN
from kerasgen import features
from kerasgen import metrics
from kerasgen.callbacks import FIDCallback
from kerasgen.callbacks import SampleQuality
from kerasgen.data import synthetic_faces
from kerasgen.errors import DataError


def test_keras_imagenet_inception_code_path_without_weights():
    extractor = features.KerasImageNetInception(weights=None, batch_size=4)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype="uint8")
    out = extractor(images)
    assert out.shape == (3, 2048) and np.isfinite(out).all()
    np.testing.assert_allclose(extractor(images / 255.0), out, rtol=1e-5, atol=1e-5)
    assert extractor.name == "keras-imagenet-inceptionv3-random-weights"  # never reported as FID


def test_missing_inception_weights_file_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="inception_v3_weights_tf_dim_ordering_tf_kernels_notop"):
        features.KerasImageNetInception(weights=str(tmp_path / "missing.h5"))
    # The old name is a deprecated alias (it was never the FID papers' network).
    with pytest.deprecated_call(match="FIDInception"), pytest.raises(DataError):
        features.InceptionFeatures(weights=str(tmp_path / "missing.h5"))
    assert issubclass(features.InceptionFeatures, features.KerasImageNetInception)


@pytest.mark.backend
def test_fid_with_classifier_features_and_the_callback(tmp_path):
    names = ["Male", "Eyeglasses"]
    data = synthetic_faces(n=256, image_size=16, batch_size=64, attributes=names, seed=0)
    classifier = metrics.AttributeClassifier(names, image_size=16, width=8)
    classifier.compile()
    classifier.fit(data, epochs=1, verbose=0)
    extractor = features.ClassifierFeatures(classifier)
    assert extractor.name == "classifier:Male,Eyeglasses"
    images = data[0][0]
    assert extractor(images).shape == (64, 16)  # two blocks at 16 px: 8, then 16 channels

    cache = tmp_path / "real.npz"
    real = metrics.real_statistics(data, extractor, max_images=192, cache=cache)
    assert real.count == 192 and cache.exists()
    everything = np.concatenate([extractor(data[i][0]) for i in range(3)])
    np.testing.assert_allclose(real.mean, everything.mean(axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(real.covariance, np.cov(everything, rowvar=False), rtol=1e-6,
                               atol=1e-9)
    assert metrics.real_statistics(None, extractor, cache=cache).count == 192  # from the cache

    model = DCGAN(latent_dim=8, image_size=16, width=8, seed=0)
    fake = metrics.generated_features(model, extractor, n=100, seed=3, batch_size=40)
    expected = metrics.frechet_distance(real.mean, real.covariance, fake.mean(axis=0),
                                        np.cov(fake, rowvar=False))
    score = metrics.fid(model, real, extractor, n=100, seed=3, batch_size=40)
    assert score == pytest.approx(expected, rel=1e-6) and score > 0
    # Real images against their own statistics score far lower than the untrained generator.
    own = metrics.frechet_distance(real.mean, real.covariance, real.mean, real.covariance)
    assert own < 1e-6 * score

    # The callbacks: every 2nd epoch and after the last (3), the same scores as the functions.
    real_feats = metrics.real_features(data, extractor, max_images=192)
    np.testing.assert_allclose(real_feats, everything, rtol=1e-6)
    quality = SampleQuality(real_feats, extractor, ("kid", "pr"), every=2, n=64, seed=1)
    model.compile()
    history = model.fit(data, epochs=3, verbose=0,
                        callbacks=[FIDCallback(real, extractor, every=1, n=64), quality])
    logs = history.history
    assert len(logs["fid"]) == 3 and len(logs["kid"]) == len(logs["recall"]) == 2
    after = metrics.generated_features(model, extractor, n=64, seed=1)
    mu, sigma = metrics.feature_statistics(after)
    assert logs["fid"][-1] == pytest.approx(
        metrics.fid(model, real, extractor, n=64, seed=0), rel=1e-6)
    kid, kid_std = metrics.kernel_inception_distance(real_feats, after, subset_size=64, seed=1)
    precision, recall = metrics.precision_recall(real_feats, after, k=3)
    everything_at_once = SampleQuality(real_feats, extractor, ("fid", "kid"), n=64, seed=1)
    everything_at_once.set_model(model)
    assert everything_at_once.measure()["fid"] == pytest.approx(
        metrics.frechet_distance(real.mean, real.covariance, mu, sigma), rel=1e-6)
    assert (logs["kid"][-1], logs["kid_std"][-1]) == pytest.approx((kid, kid_std), rel=1e-6)
    assert (logs["precision"][-1], logs["recall"][-1]) == pytest.approx((precision, recall))
    assert logs["fid"][-1] > 0 and 0 <= precision <= 1


def test_sample_quality_callback_rejects_what_it_cannot_measure():
    stats = metrics.FeatureStatistics()
    stats.update(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ValueError, match="features themselves"):
        SampleQuality(stats, None, ("fid", "kid"))
    with pytest.raises(ValueError, match="unknown metrics.*'ppl'"):
        SampleQuality(np.zeros((4, 3)), None, ("fid", "ppl"))
    with pytest.raises(ValueError, match="every"):
        FIDCallback(stats, None, every=0)


def test_feature_cache_is_keyed_by_data_extractor_weights_and_count(tmp_path):
    class Extractor:
        def __init__(self, name, fingerprint, scale):
            self.name, self.fingerprint, self.scale = name, fingerprint, scale

        def __call__(self, images):
            return images.reshape(len(images), -1)[:, :4].astype("float64") * self.scale

    images = np.random.default_rng(0).integers(0, 256, (20, 4, 4, 3), dtype="uint8")
    a, b = Extractor("toy", "w1", 1.0), Extractor("toy", "w2", 2.0)
    paths = {metrics.cache_path("synthetic split=test", a, 20, tmp_path),
             metrics.cache_path("synthetic split=train", a, 20, tmp_path),
             metrics.cache_path("synthetic split=test", b, 20, tmp_path),
             metrics.cache_path("synthetic split=test", a, 10, tmp_path)}
    assert len(paths) == 4 and all(p.startswith(str(tmp_path)) for p in paths)
    path_a = metrics.cache_path("synthetic split=test", a, 20, tmp_path)
    path_b = metrics.cache_path("synthetic split=test", b, 20, tmp_path)
    first = metrics.real_features(images, a, cache=path_a)
    np.testing.assert_array_equal(metrics.real_features(None, a, cache=path_a), first)
    np.testing.assert_array_equal(metrics.real_features(images, b, cache=path_b), 2 * first)
