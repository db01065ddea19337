"""VAE-GAN: each network's loss against a hand computation, one training step on every backend,
and a `.keras` file reloaded in a fresh process."""

import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from kerasgen import VAEGAN

from helpers.common import as_float as _np
from helpers.common import bce as _bce
from helpers.common import faces
from helpers.common import tiny_for

pytestmark = pytest.mark.backend

tiny = tiny_for(VAEGAN)


def test_each_networks_loss_matches_a_hand_computation(monkeypatch):
    model = tiny(kld_weight=0.3, reconstruction_weight=0.7, gan_weight=2.0)
    x = faces(4).astype("float32") / 255.0
    rng = np.random.default_rng(0)
    eps = ops.convert_to_tensor(rng.standard_normal((4, 8)).astype("float32"))
    z_prior = rng.standard_normal((4, 8)).astype("float32")
    monkeypatch.setattr(model, "sample_code", lambda m, lv: m + ops.exp(0.5 * lv) * eps)
    monkeypatch.setattr(model, "latent_noise", lambda n: ops.convert_to_tensor(z_prior))
    d_loss, d_logs = model.discriminator_loss(ops.convert_to_tensor(x))
    e_loss, e_logs = model.encoder_loss(ops.convert_to_tensor(x))
    g_loss, g_logs = model.decoder_loss(ops.convert_to_tensor(x))

    # The same forward passes by hand (every network in training mode, each batch on its own).
    def run(network, inputs):
        out = network(inputs, training=True)
        if isinstance(out, (list, tuple)):
            return [ops.convert_to_numpy(o).astype("float64") for o in out]
        return ops.convert_to_numpy(out).astype("float64")

    mean, log_var = run(model.encoder, x)
    z = mean + np.exp(0.5 * log_var) * ops.convert_to_numpy(eps)
    recon = run(model.decoder, z.astype("float32"))
    prior = run(model.decoder, z_prior)
    real_logits = run(model.discriminator, x)
    recon_logits = run(model.discriminator, recon.astype("float32"))
    prior_logits = run(model.discriminator, prior.astype("float32"))
    kl = np.mean(np.sum(0.5 * (mean**2 + np.exp(log_var) - 1 - log_var), axis=1))
    pixel_error = np.mean(np.sum((recon - x) ** 2, axis=(1, 2, 3)))
    gan = _bce(1, recon_logits) + _bce(1, prior_logits)

    expected_d = _bce(1, real_logits) + _bce(0, recon_logits) + _bce(0, prior_logits)
    assert _np(d_loss) == pytest.approx(expected_d, rel=1e-4)
    assert _np(d_logs["d_prior"]) == pytest.approx(np.mean(1 / (1 + np.exp(-prior_logits))), rel=1e-4)
    assert _np(e_loss) == pytest.approx(0.3 * kl + pixel_error, rel=1e-4)
    assert _np(e_logs["kl_loss"]) == pytest.approx(kl, rel=1e-4, abs=1e-6)
    assert _np(e_logs["recon_loss"]) == pytest.approx(pixel_error, rel=1e-4)
    assert _np(e_logs["mse"]) == pytest.approx(np.mean((recon - x) ** 2), rel=1e-4)
    assert _np(g_logs["g_loss"]) == pytest.approx(gan, rel=1e-4)
    assert _np(g_loss) == pytest.approx(0.7 * pixel_error + 2.0 * gan, rel=1e-4)


def test_feature_reconstruction_compares_discriminator_features():
    model = tiny(reconstruction="feature")
    x = ops.convert_to_tensor(faces(4).astype("float32") / 255.0)
    y = ops.convert_to_tensor(faces(4, split="validation").astype("float32") / 255.0)
    assert _np(model.reconstruction_error(x, x)) == 0.0
    # By hand: the flattened output of the discriminator's last conv block, x and y in one batch.
    features = keras.Model(model.discriminator.input, model.discriminator.get_layer("down1_act").output)
    f = ops.convert_to_numpy(features(ops.concatenate([x, y], axis=0), training=True)).astype("float64")
    expected = np.mean(np.sum((f[:4] - f[4:]) ** 2, axis=(1, 2, 3)))
    assert expected > 0
    assert _np(model.reconstruction_error(x, y)) == pytest.approx(expected, rel=1e-4)


def test_phases_train_disjoint_networks_with_their_own_optimizers():
    model = tiny()
    model.compile()
    phases = model.train_phases()
    assert [p.optimizer for p in phases] == ["discriminator", "encoder", "decoder"]
    networks = [model.discriminator, model.encoder, model.decoder]
    for phase, network in zip(phases, networks):
        assert [id(v) for v in phase.variables] == [id(v) for v in network.trainable_variables]
    for name in ("encoder", "decoder", "discriminator"):
        opt = model.optimizer[name]
        assert isinstance(opt, keras.optimizers.Adam)
        assert _np(opt.learning_rate) == pytest.approx(2e-4) and opt.beta_1 == pytest.approx(0.5)


def test_one_train_step_updates_all_three_networks():
    model = tiny(reconstruction="feature")
    model.compile()
    networks = {"encoder": model.encoder, "decoder": model.decoder, "discriminator": model.discriminator}
    before = {k: [v.numpy().copy() for v in n.trainable_variables] for k, n in networks.items()}
    history = model.fit(faces(16, split="train"), batch_size=16, epochs=1, verbose=0).history
    assert set(history) == set(model.log_names)
    assert all(np.isfinite(v[0]) for v in history.values())
    assert 0.0 < history["d_real"][0] < 1.0
    for name, network in networks.items():
        after = [v.numpy() for v in network.trainable_variables]
        unchanged = [v.path for v, a, b in zip(network.trainable_variables, before[name], after)
                     if np.array_equal(a, b)]
        assert not unchanged, (name, unchanged)
        assert int(model.optimizer[name].iterations.numpy()) == 1


def test_saved_model_reconstructs_and_generates_the_same_in_a_fresh_process(tmp_path, fresh_python):
    model = tiny(reconstruction="feature", kld_weight=0.5, gan_weight=0.25)
    model.compile(decoder_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    model.fit(faces(16, split="train"), batch_size=16, epochs=1, verbose=0)
    test = faces(8)
    np.save(tmp_path / "test.npy", test)
    model.save(tmp_path / "model.keras")
    expected = (model.generate(6, seed=42), model.reconstruct(test))
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import kerasgen
        model = keras.models.load_model({str(tmp_path / "model.keras")!r})
        test = np.load({str(tmp_path / "test.npy")!r})
        np.save({str(tmp_path / "generated.npy")!r}, model.generate(6, seed=42))
        np.save({str(tmp_path / "reconstructed.npy")!r}, model.reconstruct(test))
        steps = [int(model.optimizer[k].iterations.numpy()) for k in ("encoder", "decoder", "discriminator")]
        lr = float(keras.ops.convert_to_numpy(model.optimizer["decoder"].learning_rate))
        print(type(model).__name__, model.reconstruction, model.kld_weight, model.gan_weight, *steps, lr)
        """
    )
    result = fresh_python(script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-8:] == [
        "VAEGAN", "feature", "0.5", "0.25", "1", "1", "1", "0.0010000000474974513"
    ]
    np.testing.assert_array_equal(np.load(tmp_path / "generated.npy"), expected[0])
    np.testing.assert_array_equal(np.load(tmp_path / "reconstructed.npy"), expected[1])


def test_invalid_arguments_are_rejected_at_construction():
    for name in ("kld_weight", "reconstruction_weight", "gan_weight"):
        with pytest.raises(ValueError, match=name):
            tiny(**{name: -1.0})
    with pytest.raises(ValueError, match="reconstruction"):
        tiny(reconstruction="mse")  # the VAE's pixel loss names are not VAE-GAN spaces
