"""Diffusion: the schedules and the forward process against closed forms, the loss by hand,
DDIM/DDPM steps, DDIM inversion on a linear toy model, guidance, training and reload."""

import math

import keras
import numpy as np
import pytest

from kerasgen import Diffusion
from kerasgen.data import synthetic_faces
from kerasgen.errors import AttributeNameError
from kerasgen.errors import DataError
from kerasgen.models.diffusion import ddim_step
from kerasgen.models.diffusion import ddpm_step
from kerasgen.models.diffusion import diffuse
from kerasgen.models.diffusion import noise_schedule
from kerasgen.models.diffusion import sampling_steps
from kerasgen.models.diffusion import velocity

from helpers.common import as_float
from helpers.common import images


def tiny(**kwargs):
    return Diffusion(**{"image_size": 16, "width": 8, "blocks": 1, "dropout": 0.0, "seed": 1,
                        "timesteps": 100, **kwargs})


def test_linear_schedule_is_ddpms():
    abar = noise_schedule("linear", 1000)
    betas = 1e-4 + (0.02 - 1e-4) * np.arange(1000) / 999
    assert abar[0] == pytest.approx(1 - 1e-4)
    assert abar[1] == pytest.approx((1 - 1e-4) * (1 - betas[1]))
    assert abar[-1] == pytest.approx(np.prod(1 - betas), rel=1e-9)
    assert abar[-1] == pytest.approx(4.04e-5, rel=0.01)  # DDPM: x_T is almost pure noise


def test_cosine_schedule_is_nichol_and_dhariwals():
    T, s = 1000, 0.008

    def f(t):
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2

    abar = noise_schedule("cosine", T)
    for t in (0, 1, 250, 500, 900):
        assert abar[t] == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert np.all(np.diff(abar) < 0) and 0 < abar[-1] < 1e-4
    betas = 1 - abar / np.concatenate([[1.0], abar[:-1]])
    assert betas.max() <= 0.999 + 1e-12  # the clip
    with pytest.raises(DataError, match="schedule"):
        noise_schedule("quadratic")


def test_forward_process_has_the_closed_form_mean_and_variance():
    rng = np.random.default_rng(0)
    x0 = np.array([0.5, -0.25, 1.0], "float32")
    abar = 0.3
    noise = rng.standard_normal((200_000, 3)).astype("float32")
    xt = np.asarray(keras.ops.convert_to_numpy(diffuse(x0, noise, abar)))
    np.testing.assert_allclose(xt.mean(0), math.sqrt(abar) * x0, atol=0.01)
    np.testing.assert_allclose(xt.var(0), 1 - abar, rtol=0.02)
    # v, and x_0 and eps recovered from (x_t, v): sqrt(a) x_t - sqrt(1-a) v = x_0
    v = np.asarray(keras.ops.convert_to_numpy(velocity(x0, noise[:5], abar)))
    np.testing.assert_allclose(v, math.sqrt(abar) * noise[:5] - math.sqrt(1 - abar) * x0,
                               rtol=1e-6)
    np.testing.assert_allclose(math.sqrt(abar) * xt[:5] - math.sqrt(1 - abar) * v,
                               np.broadcast_to(x0, (5, 3)), atol=1e-5)


@pytest.mark.backend
@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_loss_is_the_mean_squared_error_of_the_prediction(prediction):
    model = tiny(prediction=prediction)
    x0 = model.to_model_range(images(4))
    x0 = np.asarray(keras.ops.convert_to_numpy(x0), "float64")
    t = np.array([0, 10, 50, 99])
    noise = np.random.default_rng(3).standard_normal(x0.shape)
    loss, logs = model.denoising_loss(keras.ops.convert_to_tensor(x0, "float32"),
                                      t=keras.ops.convert_to_tensor(t, "int32"),
                                      noise=keras.ops.convert_to_tensor(noise, "float32"),
                                      training=False)
    a = noise_schedule("cosine", 100)[t].reshape(-1, 1, 1, 1)
    xt = np.sqrt(a) * x0 + np.sqrt(1 - a) * noise
    predicted = np.asarray(model.unet.predict_on_batch(
        [xt.astype("float32"), t.reshape(-1, 1).astype("float32")]), "float64")
    target = noise if prediction == "epsilon" else np.sqrt(a) * noise - np.sqrt(1 - a) * x0
    expected = np.mean((target - predicted) ** 2)
    assert as_float(loss) == pytest.approx(expected, rel=1e-4)
    assert as_float(logs["loss"]) == as_float(loss)
    # The untrained network predicts 0 (zero-initialised output): the loss is E[target^2].
    assert expected == pytest.approx(np.mean(target**2), rel=1e-6)


def test_ddpm_step_is_ddim_with_eta_1():
    rng = np.random.default_rng(0)
    x, x0, z = (rng.standard_normal(6) for _ in range(3))
    a, a_next = 0.2, 0.5
    eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
    np.testing.assert_allclose(ddpm_step(x, x0, a, a_next, z),
                               ddim_step(x, eps, x0, a, a_next, eta=1.0, noise=z), rtol=1e-12)
    # eta 0: no noise, the deterministic update of Song et al. eq. 12
    np.testing.assert_allclose(ddim_step(x, eps, x0, a, a_next),
                               math.sqrt(a_next) * x0 + math.sqrt(1 - a_next) * eps)
    assert list(sampling_steps(100, 5)) == [99, 74, 50, 25, 0]


class GaussianDenoiser:
    """The exact noise predictor for data ~ N(0, s^2 I) (linear in x_t):
    eps^ = sqrt(1 - a) x_t / (a s^2 + 1 - a); with attribute signs c, data ~ N(mu c, s^2 I)
    per pixel, mu = 0.3 times the sum of the signs."""

    def __init__(self, alpha_bar, s=0.5):
        self.alpha_bar, self.s = alpha_bar, s

    def predict_on_batch(self, inputs):
        x, t = np.asarray(inputs[0], "float64"), np.asarray(inputs[1])
        a = self.alpha_bar[t[:, 0].astype(int)].reshape(-1, 1, 1, 1)
        mu = 0.0
        if len(inputs) == 3:
            mu = 0.3 * np.asarray(inputs[2]).sum(axis=1).reshape(-1, 1, 1, 1)
        residual = x - np.sqrt(a) * mu
        return np.sqrt(1 - a) * residual / (a * self.s**2 + 1 - a)


def test_ddim_eta_0_is_deterministic_and_inverts_its_own_steps(monkeypatch):
    model = tiny(timesteps=1000)
    monkeypatch.setattr(model, "sampler", lambda use_ema=True: GaussianDenoiser(model.alpha_bar))
    noise = model.sample_latents(3, seed=5).reshape(3, 16, 16, 3)
    drawn = model.denoise(noise, steps=200, clip=False)
    np.testing.assert_array_equal(drawn, model.denoise(noise, steps=200, clip=False))
    assert np.std(drawn) == pytest.approx(0.5, rel=0.1)  # the toy data's spread
    recovered = model.encode((drawn + 1) / 2, steps=200).reshape(noise.shape)
    error = np.max(np.abs(recovered - noise))
    assert error < 0.06
    assert np.corrcoef(recovered.ravel(), noise.ravel())[0, 1] > 0.999
    # DDIM inversion reuses each step's noise estimate one step early: a first-order error,
    # which halves when the steps double.
    finer = model.encode((model.denoise(noise, steps=400, clip=False) + 1) / 2, steps=400)
    assert np.max(np.abs(finer.reshape(noise.shape) - noise)) < 0.6 * error
    # eta > 0 draws fresh noise (seeded): different images, the same for the same seed
    a = model.denoise(noise, steps=20, eta=1.0, seed=1, clip=False)
    np.testing.assert_array_equal(a, model.denoise(noise, steps=20, eta=1.0, seed=1, clip=False))
    assert not np.allclose(a, model.denoise(noise, steps=20, clip=False))


def test_guidance_extrapolates_from_the_unconditional_prediction(monkeypatch):
    model = tiny(attributes=["Male", "Smiling"], guidance=2.0)
    monkeypatch.setattr(model, "sampler", lambda use_ema=True: GaussianDenoiser(model.alpha_bar))
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 3)).astype("float32")
    signs = np.array([[1, 1], [1, -1]], "float32")
    net = GaussianDenoiser(model.alpha_bar)
    t = np.full((2, 1), 40, "float32")
    conditional = net.predict_on_batch([x, t, signs])
    free = net.predict_on_batch([x, t, np.zeros_like(signs)])
    for w in (0.0, 1.0, 2.0, 4.5):
        eps, _ = model.predict_noise_and_image(x, 40, signs, guidance=w)
        np.testing.assert_allclose(eps, free + w * (conditional - free), rtol=1e-6, atol=1e-9)
    eps, _ = model.predict_noise_and_image(x, 40, signs)  # the model's default, 2
    np.testing.assert_allclose(eps, free + 2.0 * (conditional - free), rtol=1e-6, atol=1e-9)


@pytest.mark.backend
def test_training_lowers_the_loss_and_reload_draws_the_same_images(tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny()
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    data = synthetic_faces(n=256, image_size=16, batch_size=32, seed=0)
    held_out = keras.ops.convert_to_tensor(
        model.to_model_range(synthetic_faces(n=64, image_size=16, batch_size=64, split="test")[0]))
    t = keras.ops.convert_to_tensor(np.arange(64) % 100, "int32")
    noise = keras.ops.convert_to_tensor(
        np.random.default_rng(1).standard_normal((64, 16, 16, 3)), "float32")

    def held_out_loss():
        return as_float(model.denoising_loss(held_out, t=t, noise=noise, training=False)[0])

    before = held_out_loss()
    model.fit(data, epochs=4, verbose=0)
    after = held_out_loss()
    assert after < 0.7 * before, (before, after)
    drawn = model.generate(3, seed=2, steps=4)
    assert drawn.shape == (3, 16, 16, 3) and 0 <= drawn.min() and drawn.max() <= 1
    path = tmp_path / "diffusion.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.generate(3, seed=2, steps=4), drawn, atol=1e-6)
    assert again.timesteps == 100 and again.schedule == "cosine" and again.ema == model.ema
    raw = again.generate(3, seed=2, steps=4, use_ema=False)
    assert not np.allclose(raw, drawn)  # the EMA weights are what sample by default


@pytest.mark.backend
def test_conditional_model_trains_on_attributes_and_refines():
    names = ["Male", "Smiling"]
    model = tiny(attributes=names)
    model.compile()
    data = synthetic_faces(n=64, image_size=16, batch_size=32, attributes=names)
    history = model.fit(data, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    faces = synthetic_faces(n=4, image_size=16, batch_size=4, split="test", attributes=names)
    x, a = faces[0]
    refined = model.refine(x, {"Smiling": 1}, current=a, steps=3)
    assert refined.shape == (4, 16, 16, 3)
    grid = model.sample_grid(8, seed=0)
    assert grid.shape == (8, 16, 16, 3)
    with pytest.raises(AttributeNameError, match="unknown attribute 'Wearing_Hat'"):
        model.generate(2, attributes={"Wearing_Hat": 1}, steps=2)
    with pytest.raises(DataError, match="trains on \\(images, attributes\\)"):
        model.fit(synthetic_faces(n=32, image_size=16, batch_size=32), epochs=1, verbose=0)


def test_bad_options_name_what_is_wrong():
    with pytest.raises(DataError, match="prediction"):
        tiny(prediction="x0")
    with pytest.raises(DataError, match="steps must be an integer >= 1 and <= 100"):
        tiny().generate(1, steps=500)
    with pytest.raises(DataError, match="latent_dim is image_size"):
        Diffusion(image_size=16, latent_dim=100)
    with pytest.raises(DataError, match="eta"):
        tiny().generate(1, steps=2, eta=-1)
    with pytest.raises(DataError, match="not conditioned on attributes"):
        tiny().generate(1, steps=2, attributes={"Male": 1})
