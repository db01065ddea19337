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
