"""Metrics against hand computations."""

import numpy as np
import pytest

from kerasgen.data import iter_images
from kerasgen.errors import DataError
from kerasgen.metrics import reconstruction_mse

from helpers.reference import torch_fidelity


class Darken:
    """reconstruct = every pixel at 0.25 (in [0, 1]), whatever the input."""

    def reconstruct(self, images):
        return np.full(np.shape(images), 0.25, "float32")


def test_reconstruction_mse_by_hand():
    images = np.zeros((3, 2, 2, 3), "uint8")
    images[0] = 255  # error 0.75 per channel; the others 0.25
    expected = (12 * 0.75**2 + 24 * 0.25**2) / 36
    batches = [(images[:2], np.ones((2, 5))), (images[2:], np.ones((1, 5)))]
    mse, count = reconstruction_mse(Darken(), batches)
    assert count == 3 and mse == pytest.approx(expected, rel=1e-6)
    # float images in [0, 1] are taken as they are
    mse, _ = reconstruction_mse(Darken(), images.astype("float32") / 255.0)
    assert mse == pytest.approx(expected, rel=1e-6)
    mse, count = reconstruction_mse(Darken(), batches, max_images=1)
    assert count == 1 and mse == pytest.approx(0.75**2, rel=1e-6)
    with pytest.raises(DataError, match="empty"):
        reconstruction_mse(Darken(), [])


def test_iter_images_cuts_at_max_images():
    data = [np.zeros((4, 2, 2, 3)), np.ones((4, 2, 2, 3))]
    assert [len(b) for b in iter_images(data, max_images=6)] == [4, 2]
    assert [len(b) for b in iter_images(np.zeros((5, 2, 2, 3)))] == [5]


class Stamp:
    """A conditional model stand-in: image pixel (0, 0, i) holds asked attribute i."""

    attributes = ["A", "B"]

    def generate(self, n, seed=None, attributes=None):
        images = np.zeros((n, 4, 4, 3), "float32")
        images[:, 0, 0, :2] = attributes
        return images


class ReadStamp:
    """Reads attribute A right and B inverted; knows a third attribute the model lacks."""

    attributes = ["C", "B", "A"]

    def predict_attributes(self, images):
        a, b = images[:, 0, 0, 0], images[:, 0, 0, 1]
        return np.stack([np.zeros_like(a), 1 - b, a], axis=1)


def test_attribute_accuracy_by_hand():
    from kerasgen.metrics import attribute_accuracy

    result = attribute_accuracy(ReadStamp(), Stamp(), n=300, batch_size=128)
    assert result == {"A": 1.0, "B": 0.0, "mean": 0.5}
    reader = ReadStamp()
    reader.attributes = ["A"]
    with pytest.raises(DataError, match=r"does not read \['B'\]"):
        attribute_accuracy(reader, Stamp())


@pytest.mark.backend
def test_attribute_classifier_learns_the_synthetic_attributes(tmp_path):
    import keras

    from kerasgen.data import synthetic_faces
    from kerasgen.metrics import AttributeClassifier

    names = ["Male", "Eyeglasses", "Wearing_Hat", "Blond_Hair"]
    train = synthetic_faces(n=2048, image_size=16, batch_size=64, attributes=names, seed=0)
    test = synthetic_faces(n=512, image_size=16, batch_size=256, attributes=names, split="test",
                           shuffle=False)
    classifier = AttributeClassifier(names, image_size=16, width=16)
    classifier.compile()
    classifier.fit(train, epochs=3, verbose=0)
    accuracy = classifier.accuracy(test)
    labels = np.concatenate([test[i][1] for i in range(len(test))])
    majority = np.maximum(labels.mean(axis=0), 1 - labels.mean(axis=0))
    # Better than always answering the commoner value, for every attribute and clearly on average.
    assert all(accuracy[n] > m for n, m in zip(names, majority)), (accuracy, majority)
    assert accuracy["mean"] > majority.mean() + 0.05, (accuracy, majority)
    path = tmp_path / "classifier.keras"
    classifier.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_array_equal(reloaded.predict_attributes(test[0][0]),
                                  classifier.predict_attributes(test[0][0]))
    assert reloaded.attributes == names


def test_attribute_accuracy_callback_adds_to_the_epoch_logs():
    import copy

    from kerasgen.callbacks import AttributeAccuracy

    callback = AttributeAccuracy(ReadStamp(), every=2, n=64)
    callback.set_model(Stamp())
    logs = {"g_loss": 1.0}
    callback.on_epoch_end(0, logs)  # not a measuring epoch
    assert logs == {"g_loss": 1.0}
    callback.on_epoch_end(1, logs)
    assert logs == {"g_loss": 1.0, "attr_acc": 0.5, "attr_acc_A": 1.0, "attr_acc_B": 0.0}
    copy.deepcopy(AttributeAccuracy("classifier.keras"))  # KerasTuner copies callbacks


@pytest.mark.backend
def test_conditional_gan_beats_chance_on_attribute_accuracy():
    """Issue 5's bar: a ConditionalGAN trained within the test budget draws the attributes it
    is asked for more often than chance (0.5), as read by a classifier trained on real faces."""
    from kerasgen import ConditionalGAN
    from kerasgen.data import synthetic_faces
    from kerasgen.metrics import AttributeClassifier
    from kerasgen.metrics import attribute_accuracy

    names = ["Wearing_Hat", "Blond_Hair"]
    train = synthetic_faces(n=2048, image_size=16, batch_size=64, attributes=names, seed=0)
    classifier = AttributeClassifier(names, image_size=16, width=16)
    classifier.compile()
    classifier.fit(train, epochs=3, verbose=0)
    model = ConditionalGAN(attributes=names, image_size=16, latent_dim=16, width=16, seed=2)
    model.compile()
    model.fit(train, epochs=8, verbose=0)
    accuracy = attribute_accuracy(classifier, model, n=1024, seed=1)
    # At chance the mean of 2 x 1024 reads has a standard deviation of about 0.011.
    assert accuracy["mean"] > 0.6, accuracy


def test_iter_batches_keeps_labels_aligned_when_cut():
    from kerasgen.data import iter_batches

    data = [(np.zeros((4, 2, 2, 3)), np.arange(4)), (np.ones((4, 2, 2, 3)), np.arange(4, 8))]
    batches = list(iter_batches(data, max_images=6))
    assert [len(images) for images, _ in batches] == [4, 2]
    np.testing.assert_array_equal(np.concatenate([labels for _, labels in batches]), np.arange(6))
    assert list(iter_batches(np.zeros((3, 2, 2, 3))))[0][1] is None


# ---- Inception Score and density/coverage against their reference implementations ----------


def test_inception_score_matches_torch_fidelity():
    import torch

    from kerasgen.metrics import inception_score

    isc = torch_fidelity("metric_isc")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((250, 1008)) * 3.0 + rng.standard_normal(1008)
    for splits, shuffle in [(10, True), (3, False), (1, True)]:
        reference = isc.isc_features_to_metric(torch.from_numpy(logits), splits=splits,
                                               shuffle=shuffle, rng_seed=2020)
        mean, std = inception_score(logits, splits=splits, shuffle=shuffle)
        assert mean == pytest.approx(reference["inception_score_mean"], rel=1e-10)
        assert std == pytest.approx(reference["inception_score_std"], rel=1e-8, abs=1e-12)
    assert 1.0 < mean < 1008.0


def test_inception_score_by_hand():
    from kerasgen.metrics import inception_score

    # Two images, each sure of its own class out of 2: p(y|x) one-hot, p(y) uniform, so
    # KL = log 2 for each and IS = 2. Identical certain predictions give IS = 1.
    sure = np.array([[50.0, -50.0], [-50.0, 50.0]])
    assert inception_score(sure, splits=1) == pytest.approx((2.0, 0.0), abs=1e-9)
    same = np.array([[50.0, -50.0], [50.0, -50.0]])
    assert inception_score(same, splits=1) == pytest.approx((1.0, 0.0), abs=1e-9)
    with pytest.raises(ValueError, match="splits"):
        inception_score(sure, splits=3)


def test_density_coverage_match_prdc():
    import prdc

    from kerasgen.metrics import density_coverage

    rng = np.random.default_rng(1)
    real = rng.standard_normal((300, 16))
    for fake in (rng.standard_normal((200, 16)) * 1.3 + 0.4, real[:150] + 0.05):
        for k in (3, 5):
            reference = prdc.compute_prdc(real, fake, nearest_k=k)
            density, coverage = density_coverage(real, fake, k=k, batch_size=64)
            assert density == pytest.approx(reference["density"], rel=1e-12)
            assert coverage == pytest.approx(reference["coverage"], rel=1e-12)


def test_density_coverage_by_hand():
    from kerasgen.metrics import density_coverage

    # Reals on a line at 0, 1, 2, 10; k = 1: radii 1, 1, 1, 8 (the nearest other real).
    real = np.array([[0.0], [1.0], [2.0], [10.0]])
    fake = np.array([[0.5], [9.0]])
    # 0.5 lies in the balls of 0 and 1 (not 2: |2 - 0.5| = 1.5); 9.0 lies in the ball of 10.
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx((2 + 1) / (1 * 2))
    assert coverage == pytest.approx(3 / 4)  # 0, 1 and 10 have a fake in their ball; 2 has none
