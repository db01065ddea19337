"""The options every GAN shares (`kerasgen.models.gan.Adversarial`): DiffAugment in front of the
discriminator, ADA's adaptive probability, the lazy R1 penalty, against hand computations and
in training on every backend."""

import keras
import numpy as np
import pytest
from keras import ops

import kerasgen
from kerasgen import losses
from kerasgen.models.gan import ADA_SPEED_IMAGES

from helpers.common import images
from helpers.common import tiny

pytestmark = pytest.mark.backend

ATTRIBUTES = ["Male", "Smiling"]


def labels(n):
    return (np.random.default_rng(2).random((n, 2)) < 0.5).astype("float32")


def test_augmentation_at_p_0_is_no_augmentation_and_at_p_1_changes_the_loss():
    real = tiny(kerasgen.DCGAN).to_model_range(images(8))
    losses_seen, weights = [], None
    for options in ({}, {"augment": "color,translation,cutout", "augment_p": 0.0},
                    {"augment": "color,translation,cutout", "augment_p": 1.0}):
        model = tiny(kerasgen.DCGAN, **options)
        model.compile()
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)  # the same networks and seed state: only the option differs
        losses_seen.append(float(ops.convert_to_numpy(model.discriminator_loss(real)[0])))
    assert losses_seen[1] == pytest.approx(losses_seen[0], abs=1e-6)
    assert abs(losses_seen[2] - losses_seen[0]) > 1e-4


def test_r1_adds_gamma_over_2_times_the_penalty_on_lazy_steps():
    real = tiny(kerasgen.DCGAN).to_model_range(images(8))
    plain = tiny(kerasgen.DCGAN)
    penalised = tiny(kerasgen.DCGAN, r1_gamma=10.0, r1_every=4)
    for model in (plain, penalised):
        model.compile()
    penalised.set_weights(plain.get_weights())  # the same networks and seed state
    base = float(ops.convert_to_numpy(plain.discriminator_loss(real)[0]))
    with_r1 = float(ops.convert_to_numpy(penalised.discriminator_loss(real)[0]))
    # Step 0 is a lazy step: weight r1_every * gamma / 2 = 4 * 5 = 20 times the penalty of the
    # same discriminator (same seed, so same weights and the same latent noise).
    d = lambda x: penalised.discriminator(x, training=True)  # noqa: E731
    r1 = float(ops.convert_to_numpy(losses.r1_penalty(d, real)))
    assert r1 > 0
    assert with_r1 - base == pytest.approx(20.0 * r1, rel=1e-3)
    penalised.optimizer["discriminator"].iterations.assign(1)  # not a lazy step
    again = float(ops.convert_to_numpy(penalised.discriminator_loss(real)[0]))
    plain_again = float(ops.convert_to_numpy(plain.discriminator_loss(real)[0]))
    assert again == pytest.approx(plain_again, rel=1e-5)


@pytest.mark.parametrize("sign, expected_steps", [(1.0, 2), (-1.0, 0)])
def test_ada_probability_moves_the_right_way_by_the_hand_step(tmp_path, sign, expected_steps):
    model = tiny(kerasgen.DCGAN, augment="translation", augment_p="ada")
    model.compile(discriminator_optimizer=keras.optimizers.SGD(0.0),
                  generator_optimizer=keras.optimizers.SGD(0.0))
    bias = model.discriminator.get_layer("logit").bias
    bias.assign(np.full(bias.shape, 100.0 * sign, "float32"))  # sign(D(real)) = sign: r_t = sign
    history = model.fit(images(16), batch_size=8, epochs=1, verbose=0)
    p = float(ops.convert_to_numpy(model.ada_p))
    # r_t = 1 > 0.6: up by batch / 500k each discriminator step; r_t = -1: down, clipped at 0.
    assert p == pytest.approx(expected_steps * 8 / ADA_SPEED_IMAGES, abs=1e-9)
    assert "ada_p" in history.history
    model.save(tmp_path / "ada.keras")
    loaded = keras.models.load_model(tmp_path / "ada.keras")
    assert float(ops.convert_to_numpy(loaded.ada_p)) == pytest.approx(p)
    assert loaded.augment == "translation" and loaded.augment_p == "ada"


@pytest.mark.parametrize("name", ["DCGAN", "ConditionalGAN", "WGANGP", "SNGAN"])
def test_every_gan_trains_with_augmentation(name):
    options = {"augment": "color,translation,cutout", "augment_p": "ada"}
    if name != "WGANGP":
        options["r1_gamma"] = 1.0
        options["r1_every"] = 2
    if name == "ConditionalGAN":
        options["attributes"] = ATTRIBUTES
    if name in ("WGANGP", "SNGAN"):
        options["n_critic" if name == "WGANGP" else "n_dis"] = 1
    model = tiny(getattr(kerasgen, name), **options)
    model.compile()
    before = [v.numpy().copy() for v in model.generator.trainable_variables]
    x = images(16)
    y = labels(16) if name == "ConditionalGAN" else None
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert all(np.isfinite(v[0]) for v in history.history.values()), history.history
    assert "ada_p" in history.history
    assert any(not np.allclose(a, v.numpy())
               for a, v in zip(before, model.generator.trainable_variables))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="augment_p='ada'"):
        tiny(kerasgen.DCGAN, augment_p="ada")
    with pytest.raises(ValueError, match="rotation"):
        tiny(kerasgen.DCGAN, augment="color,rotation")
    with pytest.raises(ValueError, match="r1_gamma"):
        tiny(kerasgen.DCGAN, r1_gamma=-1.0)
    with pytest.raises(ValueError, match="augment_p"):
        tiny(kerasgen.DCGAN, augment="color", augment_p=1.5)
