"""Autoencoder and VAE: their losses against NumPy, training on every backend, the public API,
bad input and `.keras` files reloaded in a fresh process."""

import math
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from kerasgen import VAE
from kerasgen import Autoencoder
from kerasgen import losses
from kerasgen.data import synthetic_faces
from kerasgen.errors import DataError

from helpers.common import as_float as _np
from helpers.common import faces
from helpers.common import tiny_for

pytestmark = pytest.mark.backend

tiny = tiny_for(VAE)


def mse(reconstructions, images):
    return float(np.mean((reconstructions - images / 255.0) ** 2))


# ---- the loss functions ----------------------------------------------------------------------


def test_kl_divergence_by_hand():
    assert _np(losses.kl_divergence(np.zeros((3, 5)), np.zeros((3, 5)))) == 0.0
    # 1-D, mean 1, variance 2: 0.5 * (1 + 2 - 1 - ln 2)
    got = _np(losses.kl_divergence(np.array([[1.0]]), np.array([[math.log(2.0)]])))
    assert got == pytest.approx(0.5 * (2.0 - math.log(2.0)), rel=1e-6)
    # summed over latent dimensions, averaged over the batch: images with KL 0.5 + 2 and 0
    mean = np.array([[1.0, 2.0], [0.0, 0.0]], "float32")
    assert _np(losses.kl_divergence(mean, np.zeros((2, 2)))) == pytest.approx((0.5 + 2.0) / 2, rel=1e-6)


def test_kl_divergence_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    mean = rng.normal(0.0, 1.0, (3, 4))
    log_var = rng.normal(0.0, 0.7, (3, 4))
    std = np.exp(0.5 * log_var)
    z = mean + std * rng.standard_normal((200_000, 3, 4))
    # E_q[log q(z) - log p(z)], the 2 pi terms cancel
    log_q = -0.5 * (np.log(std**2) + ((z - mean) / std) ** 2)
    log_p = -0.5 * z**2
    estimate = float(np.mean(np.sum(log_q - log_p, axis=-1)))
    got = _np(losses.kl_divergence(mean.astype("float32"), log_var.astype("float32")))
    assert estimate > 0.5  # a KL far from 0, so the relative tolerance means something
    assert got == pytest.approx(estimate, rel=0.02)


@pytest.mark.parametrize("kind", ["mse", "bce"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_reconstruction_loss_matches_numpy(kind, reduction):
    rng = np.random.default_rng(1)
    target = rng.uniform(0, 1, (4, 5, 5, 3))
    recon = rng.uniform(0.01, 0.99, (4, 5, 5, 3))
    if kind == "mse":
        per_pixel = (recon - target) ** 2
    else:
        per_pixel = -(target * np.log(recon) + (1 - target) * np.log(1 - recon))
    expected = per_pixel.mean() if reduction == "mean" else per_pixel.sum(axis=(1, 2, 3)).mean()
    got = _np(losses.reconstruction_loss(target.astype("float32"), recon.astype("float32"),
                                         kind, reduction))
    assert got == pytest.approx(expected, rel=1e-5)
    if reduction == "sum":  # one image's sum is 75 pixel values' worth of the mean
        assert expected == pytest.approx(75 * per_pixel.mean(), rel=1e-9)


def test_bce_is_finite_for_saturated_pixels():
    target = np.array([[1.0, 0.0, 1.0, 0.0]], "float32")
    recon = np.array([[1.0, 0.0, 0.0, 1.0]], "float32")  # two right, two wrong, all saturated
    got = _np(losses.reconstruction_loss(target, recon, "bce", "sum"))
    # the wrong pixels cost -log(1e-7) and -log(1 - (1 - 1e-7)) (1 - 1e-7 rounded to float32),
    # the right ones -log(1 - 1e-7) ~ 1e-7
    upper = float(np.float32(1.0 - 1e-7))
    assert got == pytest.approx(-math.log(1e-7) - math.log(1.0 - upper), rel=1e-4)
    assert np.isfinite(got)


def test_reconstruction_loss_rejects_unknown_kind_and_reduction():
    x = np.zeros((1, 2, 2, 3), "float32")
    with pytest.raises(ValueError, match="kind"):
        losses.reconstruction_loss(x, x, "l1")
    with pytest.raises(ValueError, match="reduction"):
        losses.reconstruction_loss(x, x, "mse", "median")


# ---- the networks ----------------------------------------------------------------------------


def test_encoder_and_decoder_follow_the_seed_architecture():
    model = VAE(image_size=64, latent_dim=16, width=4)
    convs = [l for l in model.encoder.layers if isinstance(l, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [4, 8, 16, 32]  # 4 conv blocks at 64 px
    norms = [l for l in model.encoder.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(norms) == 3  # every block but the first, as DCGAN's discriminator
    assert [tuple(s) for s in model.encoder.output_shape] == [(None, 16), (None, 16)]
    assert tiny(Autoencoder).encoder.output_shape == (None, 8)
    assert model.decoder.output_shape == (None, 64, 64, 3)
    assert model.decoder.get_layer("images").activation is keras.activations.sigmoid
    assert any(isinstance(l, keras.layers.LeakyReLU) for l in model.decoder.layers)
    assert not any(isinstance(l, keras.layers.ReLU) for l in model.decoder.layers)


# ---- the models' losses, by hand -------------------------------------------------------------


@pytest.mark.parametrize("reconstruction,reduction", [("mse", "sum"), ("bce", "mean")])
def test_vae_objective_is_reconstruction_plus_weighted_kl(monkeypatch, reconstruction, reduction):
    model = tiny(kld_weight=0.3, reconstruction=reconstruction, reduction=reduction)
    x = faces(4).astype("float32") / 255.0
    eps = np.random.default_rng(2).standard_normal((4, 8)).astype("float32")
    eps_tensor = ops.convert_to_tensor(eps)
    monkeypatch.setattr(
        model, "sample_code", lambda mean, log_var: mean + ops.exp(0.5 * log_var) * eps_tensor
    )
    loss, logs = model.objective(ops.convert_to_tensor(x))
    # The same forward pass by hand (batch norm in training mode), the losses in NumPy.
    mean, log_var = (ops.convert_to_numpy(t).astype("float64") for t in model.encoder(x, training=True))
    z = mean + np.exp(0.5 * log_var) * eps
    r = ops.convert_to_numpy(model.decoder(z.astype("float32"), training=True)).astype("float64")
    if reconstruction == "mse":
        per_pixel = (r - x) ** 2
    else:
        per_pixel = -(x * np.log(r) + (1 - x) * np.log(1 - r))
    recon = per_pixel.mean() if reduction == "mean" else per_pixel.sum(axis=(1, 2, 3)).mean()
    kl = np.mean(np.sum(0.5 * (mean**2 + np.exp(log_var) - 1 - log_var), axis=1))
    assert set(logs) == {"loss", "recon_loss", "kl_loss", "mse", "neg_elbo"}
    # The negative ELBO sums over pixels and takes the full KL whatever the weight and reduction.
    neg_elbo = per_pixel.sum(axis=(1, 2, 3)).mean() + kl
    assert _np(logs["neg_elbo"]) == pytest.approx(neg_elbo, rel=1e-4)
    assert _np(logs["recon_loss"]) == pytest.approx(recon, rel=1e-4)
    assert _np(logs["kl_loss"]) == pytest.approx(kl, rel=1e-4, abs=1e-6)
    assert _np(logs["mse"]) == pytest.approx(np.mean((r - x) ** 2), rel=1e-4)
    assert _np(loss) == pytest.approx(recon + 0.3 * kl, rel=1e-4)
    assert _np(logs["loss"]) == _np(loss)


def test_autoencoder_objective_is_the_reconstruction_of_its_code():
    model = tiny(Autoencoder)
    x = faces(4).astype("float32") / 255.0
    loss, logs = model.objective(ops.convert_to_tensor(x))
    code = model.encoder(x, training=True)
    r = ops.convert_to_numpy(model.decoder(code, training=True)).astype("float64")
    assert set(logs) == {"loss", "recon_loss", "mse"}
    assert _np(loss) == pytest.approx(((r - x) ** 2).sum(axis=(1, 2, 3)).mean(), rel=1e-4)
    assert _np(logs["mse"]) == pytest.approx(((r - x) ** 2).mean(), rel=1e-4)


def test_sample_code_reparameterises():
    model = tiny()
    mean = ops.ones((4096, 8))
    log_var = ops.full((4096, 8), math.log(4.0))
    z = ops.convert_to_numpy(model.sample_code(mean, log_var))
    assert z.mean() == pytest.approx(1.0, abs=0.05)
    assert z.std() == pytest.approx(2.0, rel=0.03)
    assert not np.array_equal(z, ops.convert_to_numpy(model.sample_code(mean, log_var)))
    code = ops.ones((2, 8))
    assert tiny(Autoencoder).sample_code(code, None) is code


# ---- training on every backend ---------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """An autoencoder and VAEs with KLD weight 0.01 and 10, 48 steps each on synthetic faces,
    with the reconstruction MSE of fixed test faces before training."""
    keras.utils.set_random_seed(0)
    data = synthetic_faces(n=1024, image_size=16, batch_size=64)
    test = faces(32)
    runs = {}
    for key, cls, kwargs in (("autoencoder", Autoencoder, {}),
                             ("vae", VAE, {"kld_weight": 0.01}),
                             ("vae_kld_10", VAE, {"kld_weight": 10.0})):
        model = tiny(cls, **kwargs)
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        before = mse(model.reconstruct(test), test)
        history = model.fit(data, epochs=3, verbose=0).history
        runs[key] = {"model": model, "before": before, "history": history}
    return test, runs


@pytest.mark.parametrize("key", ["autoencoder", "vae"])
def test_fit_lowers_the_reconstruction_error_of_held_out_faces(trained, key):
    test, runs = trained
    run = runs[key]
    after = mse(run["model"].reconstruct(test), test)
    assert after < 0.75 * run["before"], (run["before"], after)
    history = run["history"]
    assert history["mse"][-1] < history["mse"][0]
    assert set(history) == set(run["model"].log_names)
    assert all(np.isfinite(v).all() for v in history.values())


def test_kld_weight_sets_the_share_of_the_kl_term(trained):
    _, runs = trained
    kl_low = runs["vae"]["history"]["kl_loss"][-1]
    kl_high = runs["vae_kld_10"]["history"]["kl_loss"][-1]
    # With weight 0.01 the code carries information (KL of nats); with 10 it stays near the prior.
    assert kl_low > 1.0
    assert kl_high < 0.1 * kl_low, (kl_low, kl_high)


def test_validation_logs_the_held_out_losses_without_training(trained):
    _, runs = trained
    model = runs["vae"]["model"]
    held_out = synthetic_faces(n=128, image_size=16, batch_size=64, split="test", shuffle=False)
    before = [ops.convert_to_numpy(v).copy() for v in model.weights]
    logs = model.evaluate(held_out, verbose=0, return_dict=True)
    after = [ops.convert_to_numpy(v) for v in model.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))  # nothing trained or updated
    assert set(logs) == set(model.log_names)
    assert logs["loss"] == pytest.approx(logs["recon_loss"] + 0.01 * logs["kl_loss"], rel=1e-4)
    assert logs["neg_elbo"] == pytest.approx(logs["recon_loss"] + logs["kl_loss"], rel=1e-4)
    # The held-out MSE is that of reconstructions from sampled codes (the training pass in
    # inference mode): close to, and not below, the deterministic reconstruct() of the means.
    images = np.concatenate([held_out[i] for i in range(len(held_out))])
    deterministic = mse(model.reconstruct(images), images)
    assert 0.8 * deterministic < logs["mse"] < 2.0 * deterministic, (logs["mse"], deterministic)

    fresh = tiny(VAE, kld_weight=0.5)
    fresh.compile()
    history = fresh.fit(synthetic_faces(n=128, image_size=16, batch_size=64), epochs=2,
                        validation_data=held_out, verbose=0).history
    assert {"val_neg_elbo", "val_mse", "neg_elbo"} <= set(history)
    assert len(history["val_neg_elbo"]) == 2 and np.isfinite(history["val_neg_elbo"]).all()


def test_gans_say_they_have_no_held_out_loss():
    from kerasgen import DCGAN

    model = DCGAN(image_size=16, latent_dim=8, width=8)
    model.compile()
    with pytest.raises(NotImplementedError, match="DCGAN has no held-out loss.*SampleQuality"):
        model.evaluate(faces(8), verbose=0)


def test_saved_models_reconstruct_and_generate_the_same_in_a_fresh_process(trained, tmp_path,
                                                                          fresh_python):
    test, runs = trained
    np.save(tmp_path / "test.npy", test)
    expected = {}
    for key in ("autoencoder", "vae"):
        model = runs[key]["model"]
        model.save(tmp_path / f"{key}.keras")
        expected[key] = (model.generate(6, seed=42), model.reconstruct(test))
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import kerasgen
        test = np.load({str(tmp_path / "test.npy")!r})
        for key in ("autoencoder", "vae"):
            model = keras.models.load_model({str(tmp_path)!r} + f"/{{key}}.keras")
            np.save({str(tmp_path)!r} + f"/{{key}}_generated.npy", model.generate(6, seed=42))
            np.save({str(tmp_path)!r} + f"/{{key}}_reconstructed.npy", model.reconstruct(test))
            steps = int(model.optimizer[model.optimizer_name].iterations.numpy())
            print(type(model).__name__, getattr(model, "kld_weight", None), model.reduction, steps)
        """
    )
    result = fresh_python(script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-8:] == ["Autoencoder", "None", "sum", "48", "VAE", "0.01", "sum", "48"]
    for key, (generated, reconstructed) in expected.items():
        np.testing.assert_array_equal(np.load(tmp_path / f"{key}_generated.npy"), generated)
        np.testing.assert_array_equal(np.load(tmp_path / f"{key}_reconstructed.npy"), reconstructed)


# ---- the public API --------------------------------------------------------------------------


def test_compile_defaults_to_one_adam_named_after_the_model():
    for cls, name in ((VAE, "vae"), (Autoencoder, "autoencoder")):
        model = tiny(cls)
        model.compile()
        assert list(model.optimizer) == [name]
        assert isinstance(model.optimizer[name], keras.optimizers.Adam)
        assert _np(model.optimizer[name].learning_rate) == pytest.approx(1e-3)
        model.compile(optimizer=keras.optimizers.Adam(5e-4))
        assert _np(model.optimizer[name].learning_rate) == pytest.approx(5e-4)


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
def test_encode_decode_reconstruct_and_call(cls):
    model = tiny(cls)
    u8 = faces(5)
    codes = model.encode(u8)
    assert codes.shape == (5, 8) and codes.dtype == np.float32
    out = model.encoder(u8.astype("float32") / 255.0, training=False)
    np.testing.assert_allclose(codes, ops.convert_to_numpy(out[0] if cls is VAE else out),
                               rtol=1e-5, atol=1e-6)  # the posterior mean (VAE), the code (AE)
    np.testing.assert_allclose(model.encode(u8.astype("float32") / 255.0, batch_size=2), codes,
                               rtol=1e-5, atol=1e-6)
    images = model.decode(codes)
    assert images.shape == (5, 16, 16, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    np.testing.assert_array_equal(model.reconstruct(u8), model.decode(model.encode(u8)))
    np.testing.assert_allclose(ops.convert_to_numpy(model(u8)), model.reconstruct(u8),
                               rtol=1e-5, atol=1e-6)
    assert model.sampling_network is model.decoder
    assert model.generate(3, seed=0).shape == (3, 16, 16, 3)


def test_wrong_image_shape_is_a_data_error_naming_both_shapes():
    model = tiny()
    model.compile()
    images = np.zeros((8, 32, 32, 3), "uint8")
    with pytest.raises(DataError, match=r"16, 16, 3.*\(8, 32, 32, 3\)"):
        model.fit(images, batch_size=8, epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"16, 16, 3.*\(8, 32, 32, 3\)"):
        model.encode(images)


def test_invalid_arguments_are_rejected_at_construction():
    for bad in (-0.1, float("nan"), "1", None):
        with pytest.raises(ValueError, match="kld_weight"):
            tiny(kld_weight=bad)
    with pytest.raises(ValueError, match="reconstruction"):
        tiny(reconstruction="l1")
    with pytest.raises(ValueError, match="reduction"):
        tiny(Autoencoder, reduction="median")
    with pytest.raises(ValueError, match="width"):
        tiny(width=0)
    with pytest.raises(ValueError, match="image_size"):
        VAE(image_size=48)
    assert tiny(kld_weight=0).kld_weight == 0.0  # 0 is allowed: a VAE without the prior term
