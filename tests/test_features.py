"""Feature extractors and FID of a model: the Inception code path without weights, the offline
classifier features, streaming statistics, the callback."""

import numpy as np
import pytest

from kerasgen import DCGAN
from kerasgen import features
from kerasgen import metrics
from kerasgen.callbacks import FIDCallback
from kerasgen.data import synthetic_faces
from kerasgen.errors import DataError


def test_inception_code_path_without_weights():
    extractor = features.InceptionFeatures(weights=None, batch_size=4)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype="uint8")
    out = extractor(images)
    assert out.shape == (3, 2048) and np.isfinite(out).all()
    np.testing.assert_allclose(extractor(images / 255.0), out, rtol=1e-5, atol=1e-5)
    assert extractor.name == "inception-random-weights"  # never reported as FID


def test_missing_inception_weights_file_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="inception_v3_weights_tf_dim_ordering_tf_kernels_notop"):
        features.InceptionFeatures(weights=str(tmp_path / "missing.h5"))


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

    model.compile()
    history = model.fit(data, epochs=1, verbose=0,
                        callbacks=[FIDCallback(real, extractor, every=1, n=64)])
    assert np.isfinite(history.history["fid"][0]) and history.history["fid"][0] > 0
