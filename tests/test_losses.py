"""Loss functions against hand computations, under every backend."""

import math

import numpy as np
import pytest

from kerasgen import losses

from helpers.common import as_float as _np
from helpers.common import bce as _reference_bce

pytestmark = pytest.mark.backend


def test_bce_of_zero_logits_is_log_two_for_any_target():
    for t in (0.0, 0.3, 1.0):
        assert _np(losses.binary_crossentropy_from_logits(np.full(4, t), np.zeros(4))) == pytest.approx(
            math.log(2), rel=1e-6
        )


def test_bce_matches_textbook_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(32, 1)).astype("float32")
    targets = rng.uniform(0, 1, size=(32, 1)).astype("float32")
    got = _np(losses.binary_crossentropy_from_logits(targets, logits))
    assert got == pytest.approx(_reference_bce(targets, logits), rel=1e-5)


def test_bce_is_finite_for_extreme_logits():
    # sigmoid(100) rounds to 1 in float32, so the textbook form would give log(0) = -inf.
    assert _np(losses.binary_crossentropy_from_logits(np.ones(1), np.array([100.0]))) == pytest.approx(
        0.0, abs=1e-6
    )
    assert _np(losses.binary_crossentropy_from_logits(np.ones(1), np.array([-100.0]))) == pytest.approx(
        100.0, rel=1e-6
    )


def test_discriminator_loss_is_sum_of_real_and_fake_terms():
    real = np.array([[2.0], [-1.0]], "float32")
    fake = np.array([[0.5], [-3.0]], "float32")
    expected = _reference_bce(np.ones((2, 1)), real) + _reference_bce(np.zeros((2, 1)), fake)
    assert _np(losses.discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-5)
    # by hand for logits 0: log 2 + log 2
    z = np.zeros((3, 1), "float32")
    assert _np(losses.discriminator_loss(z, z)) == pytest.approx(2 * math.log(2), rel=1e-6)


def test_discriminator_loss_with_smoothed_real_targets():
    real = np.array([[1.0], [2.0], [-0.5]], "float32")
    fake = np.array([[0.0], [1.0], [-2.0]], "float32")
    targets = np.array([[0.7], [1.2], [0.9]], "float32")
    expected = _reference_bce(targets, real) + _reference_bce(np.zeros((3, 1)), fake)
    assert _np(losses.discriminator_loss(real, fake, targets)) == pytest.approx(expected, rel=1e-5)
    # a scalar target broadcasts
    expected = _reference_bce(np.full((3, 1), 0.9), real) + _reference_bce(np.zeros((3, 1)), fake)
    assert _np(losses.discriminator_loss(real, fake, 0.9)) == pytest.approx(expected, rel=1e-5)


def test_generator_loss_is_minus_mean_log_sigmoid():
    fake = np.array([[0.0], [2.0], [-1.0]], "float32")
    expected = float(np.mean(np.log1p(np.exp(-fake.astype("float64")))))
    assert _np(losses.generator_loss(fake)) == pytest.approx(expected, rel=1e-6)


# ---- R1 penalty and lazy regularisation ----

from keras import ops  # noqa: E402

from kerasgen import backend  # noqa: E402


def _r1_images(n=4, size=(5, 5, 3), seed=0):
    return np.random.default_rng(seed).normal(size=(n, *size)).astype("float32")


def test_r1_of_a_linear_discriminator_is_the_squared_norm_of_its_weights():
    # D(x) = sum(w * x) + b has input gradient w for every image: r1 = ||w||^2 exactly.
    w = np.random.default_rng(1).normal(size=(1, 5, 5, 3)).astype("float32")
    d = lambda x: ops.sum(x * ops.convert_to_tensor(w), axis=(1, 2, 3)) + 0.7  # noqa: E731
    assert _np(losses.r1_penalty(d, _r1_images())) == pytest.approx(float(np.sum(w**2)), rel=1e-5)


def test_r1_of_a_quadratic_discriminator_is_mean_four_squared_norms():
    # D(x) = sum(x^2) has input gradient 2x: r1 = mean_i 4 ||x_i||^2.
    x = _r1_images()
    d = lambda x: ops.sum(ops.square(x), axis=(1, 2, 3))  # noqa: E731
    expected = float(np.mean(4 * np.sum(x.astype("float64") ** 2, axis=(1, 2, 3))))
    assert _np(losses.r1_penalty(d, x)) == pytest.approx(expected, rel=1e-5)


def test_r1_trains_the_discriminator():
    # d r1 / d w = d ||w||^2 / d w = 2 w: a second-order gradient through the input gradient.
    x = _r1_images(n=3, size=(2, 2, 1))
    w0 = np.random.default_rng(2).normal(size=(1, 2, 2, 1)).astype("float32")

    def r1(w):
        return losses.r1_penalty(lambda x: ops.sum(x * w, axis=(1, 2, 3)), x)

    got = ops.convert_to_numpy(backend.input_gradients(r1, ops.convert_to_tensor(w0)))
    np.testing.assert_allclose(got, 2 * w0, rtol=1e-5)


def test_r1_of_a_keras_dense_discriminator():
    # Flatten + Dense(1): logits (batch, 1), input gradient the kernel: r1 = ||kernel||^2.
    import keras

    d = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(), keras.layers.Dense(1)])
    kernel = ops.convert_to_numpy(d.layers[-1].kernel)
    got = _np(losses.r1_penalty(d, _r1_images(size=(4, 4, 2))))
    assert got == pytest.approx(float(np.sum(kernel**2)), rel=1e-5)


def test_lazy_weight_is_every_on_every_kth_step():
    import keras

    got = [_np(losses.lazy_weight(step, 4)) for step in range(9)]
    assert got == [4.0, 0, 0, 0, 4.0, 0, 0, 0, 4.0]
    assert [_np(losses.lazy_weight(s, 1)) for s in range(3)] == [1.0, 1.0, 1.0]
    iterations = keras.optimizers.SGD().iterations  # an int64 variable (int32 under JAX)
    iterations.assign(16)
    assert _np(losses.lazy_weight(iterations, 16)) == 16.0
    iterations.assign(17)
    assert _np(losses.lazy_weight(iterations, 16)) == 0.0
    with pytest.raises(ValueError, match="every"):
        losses.lazy_weight(3, 0)


def test_hinge_discriminator_loss_by_hand():
    real = np.array([[2.0], [0.5], [-1.0], [1.0]], "float32")
    fake = np.array([[-3.0], [0.25], [-1.0]], "float32")
    # relu(1 - real): 0, 0.5, 2, 0 -> mean 0.625; relu(1 + fake): 0, 1.25, 0 -> mean 5/12
    assert _np(losses.hinge_discriminator_loss(real, fake)) == pytest.approx(0.625 + 1.25 / 3, rel=1e-6)
    rng = np.random.default_rng(1)
    real, fake = rng.normal(0, 2, (2, 16, 1)).astype("float32")
    expected = np.maximum(0, 1 - real.astype("float64")).mean() + np.maximum(0, 1 + fake.astype("float64")).mean()
    assert _np(losses.hinge_discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-5)
    # zero once the margins are met
    assert _np(losses.hinge_discriminator_loss(np.full((3, 1), 1.5), np.full((3, 1), -2.0))) == 0.0


def test_hinge_generator_loss_is_minus_mean_logit():
    fake = np.array([[0.5], [-2.0], [4.0]], "float32")
    assert _np(losses.hinge_generator_loss(fake)) == pytest.approx(-2.5 / 3, rel=1e-6)
