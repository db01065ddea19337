"""SNGAN: spectral normalisation against the SVD, its `u` in `.keras` files, the ResNet layouts,
the hinge loss and n_dis in the training step on every backend."""

import inspect
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from kerasgen import SNGAN
from kerasgen.nets import SNConv2D
from kerasgen.nets import SNDense
from kerasgen.nets.resnet import discriminator_layout
from kerasgen.nets.resnet import generator_channels

from helpers.common import as_float
from helpers.common import images
from helpers.common import tiny_for

tiny = tiny_for(SNGAN, n_dis=2)


def top_singular_value(kernel):
    """Largest singular value of a kernel reshaped to (kh * kw * in, out), by NumPy's SVD."""
    kernel = np.asarray(kernel, "float64")
    return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]


def numpy_normalized_kernel(kernel, u):
    """One power-iteration step from `u`, then kernel / (v W u^T), in float64."""
    w = np.asarray(kernel, "float64").reshape(-1, kernel.shape[-1])
    v = u @ w.T
    v /= np.linalg.norm(v)
    u = v @ w
    u /= np.linalg.norm(u)
    return np.asarray(kernel, "float64") / (v @ w @ u.T).item(), u


def sn_layers(network):
    return [l for l in network.layers if isinstance(l, (SNConv2D, SNDense))]


# ---- the spectrally normalised layers -----------------------------------------------------


@pytest.mark.backend
@pytest.mark.parametrize("make,shape", [
    (lambda: SNConv2D(6, 3, padding="same", name="c"), (2, 5, 5, 4)),
    (lambda: SNDense(7, name="d"), (2, 12)),
])
def test_normalized_kernel_has_spectral_norm_one_after_power_iterations(make, shape):
    layer = make()
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    layer(x)  # builds
    # A random kernel with singular values 4, 2, then below 1.5: a gap that 60 steps close.
    rng = np.random.default_rng(0)
    fan_in, out = int(np.prod(layer.kernel.shape[:-1])), layer.kernel.shape[-1]
    left, _ = np.linalg.qr(rng.standard_normal((fan_in, out)))
    right, _ = np.linalg.qr(rng.standard_normal((out, out)))
    spectrum = np.sort(np.concatenate([[4.0, 2.0], rng.uniform(0.1, 1.5, out - 2)]))[::-1]
    layer.kernel.assign(((left * spectrum) @ right.T).reshape(layer.kernel.shape).astype("float32"))
    kernel = layer.kernel.numpy()
    u0 = layer.sn_u.numpy().copy()
    assert top_singular_value(kernel) == pytest.approx(4.0, rel=1e-5)
    for _ in range(60):  # one power-iteration step per training call
        layer(x, training=True)
    assert not np.allclose(layer.sn_u.numpy(), u0)
    normalized = ops.convert_to_numpy(layer.normalized_kernel(training=False))
    assert top_singular_value(normalized) == pytest.approx(1.0, abs=1e-4)
    # u converged to the top right-singular vector (up to sign) of the (fan_in, out) kernel.
    _, _, vt = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]))
    assert abs(float(layer.sn_u.numpy()[0] @ vt[0])) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel)  # the variable is untouched


@pytest.mark.backend
def test_inference_uses_the_stored_u_and_does_not_update_it():
    layer = SNConv2D(5, 3, padding="same")
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 3)).astype("float32")
    layer(x)
    u = layer.sn_u.numpy().copy()
    out = ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_array_equal(layer.sn_u.numpy(), u)
    expected_kernel, _ = numpy_normalized_kernel(layer.kernel.numpy(), u.astype("float64"))
    plain = keras.layers.Conv2D(5, 3, padding="same")
    plain.build(x.shape)
    plain.set_weights([expected_kernel.astype("float32"), layer.bias.numpy()])
    np.testing.assert_allclose(out, ops.convert_to_numpy(plain(x)), atol=1e-5)
    # A training call stores the iterated u (the one it used).
    layer(x, training=True)
    _, expected_u = numpy_normalized_kernel(layer.kernel.numpy(), u.astype("float64"))
    np.testing.assert_allclose(layer.sn_u.numpy(), expected_u, atol=1e-6)


@pytest.mark.backend
def test_u_is_saved_and_restored_by_keras_files(tmp_path):
    inputs = keras.Input((6, 6, 3))
    h = SNConv2D(4, 3, padding="same", name="conv")(inputs)
    outputs = SNDense(2, name="dense")(keras.layers.Flatten()(h))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(2).standard_normal((3, 6, 6, 3)).astype("float32")
    for _ in range(3):
        model(x, training=True)
    model.save(tmp_path / "sn.keras")
    loaded = keras.models.load_model(tmp_path / "sn.keras")
    for name in ("conv", "dense"):
        layer, other = model.get_layer(name), loaded.get_layer(name)
        assert [w.name for w in other.weights] == ["kernel", "bias", "sn_u"]
        assert [w.name for w in other.non_trainable_weights] == ["sn_u"]
        np.testing.assert_array_equal(other.sn_u.numpy(), layer.sn_u.numpy())
        assert other.get_config()["power_iterations"] == 1
    np.testing.assert_array_equal(
        ops.convert_to_numpy(loaded(x, training=False)),
        ops.convert_to_numpy(model(x, training=False)),
    )


def test_bad_power_iterations():
    with pytest.raises(ValueError, match="power_iterations"):
        SNDense(3, power_iterations=0)
    with pytest.raises(ValueError, match="n_dis"):
        tiny(n_dis=0)
    with pytest.raises(ValueError, match="width"):
        tiny(width=0)


# ---- the networks ---------------------------------------------------------------------------


def test_layouts_are_the_papers_and_mimicrys():
    # The paper's CIFAR-10 networks (Table 4, mimicry's sngan_32): G 256 channels in 3
    # up-sampling blocks, D 128 channels: optimized (down), down, plain, plain.
    defaults = {k: p.default for k, p in inspect.signature(SNGAN).parameters.items()}
    assert (defaults["latent_dim"], defaults["image_size"], defaults["width"]) == (128, 64, None)
    assert generator_channels(32, 128) == [256] * 4
    assert discriminator_layout(32, 128) == [(128, True), (128, True), (128, False), (128, False)]
    # mimicry's sngan_64 (ngf = ndf = 1024) and sngan_128.
    assert generator_channels(64, 64) == [1024, 512, 256, 128, 64]
    assert discriminator_layout(64, 64) == [(64, True), (128, True), (256, True), (512, True),
                                            (1024, True)]
    assert generator_channels(128, 64) == [1024, 1024, 512, 256, 128, 64]
    assert discriminator_layout(128, 64) == discriminator_layout(64, 64) + [(1024, False)]
    assert generator_channels(16, 8) == [16] * 3
    assert discriminator_layout(16, 8) == [(8, True), (8, False), (8, False)]


@pytest.mark.parametrize("size,width,d_end", [(16, 8, 8), (32, 8, 8), (64, 2, 2)])
def test_networks_are_sized_by_image_size(size, width, d_end):
    model = SNGAN(latent_dim=8, image_size=size, width=width)
    assert model.width == width
    assert model.generator.output_shape == (None, size, size, 3)
    assert model.discriminator.output_shape == (None, 1)
    last_block = [l for l in model.discriminator.layers if isinstance(l, keras.layers.Add)][-1]
    assert last_block.output.shape[1:3] == (d_end, d_end)
    # Every convolution and the dense layer of D are spectrally normalised; G has none.
    d_layers = [l for l in model.discriminator.layers if l.weights]
    assert d_layers and all(isinstance(l, (SNConv2D, SNDense)) for l in d_layers)
    assert not sn_layers(model.generator)
    assert SNGAN(latent_dim=8, image_size=size).width == (128 if size <= 32 else 64)


def test_compile_defaults_are_the_papers():
    model = tiny()
    model.compile()
    assert model.n_dis == 2 and SNGAN(latent_dim=8, image_size=16, width=8).n_dis == 5
    for name in ("generator", "discriminator"):
        opt = model.optimizer[name]
        assert isinstance(opt, keras.optimizers.Adam)
        assert as_float(opt.learning_rate) == pytest.approx(2e-4)
        assert (opt.beta_1, opt.beta_2) == (0.0, 0.9)


# ---- the training step ------------------------------------------------------------------------


@pytest.mark.backend
def test_discriminator_loss_is_the_hinge_of_its_logits(monkeypatch):
    model = tiny()
    z = np.random.default_rng(3).standard_normal((4, 8)).astype("float32")
    monkeypatch.setattr(model, "latent_noise", lambda n: ops.convert_to_tensor(z))
    real = model.to_model_range(images(4))
    us = [l.sn_u.numpy().copy() for l in sn_layers(model.discriminator)]
    loss, logs = model.discriminator_loss(real)
    # The same passes by hand, from the same u (each training call moves u one step).
    for layer, u in zip(sn_layers(model.discriminator), us):
        layer.sn_u.assign(u)
    fake = model.generator(z, training=True)
    real_logits = ops.convert_to_numpy(model.discriminator(real, training=True)).astype("float64")
    fake_logits = ops.convert_to_numpy(model.discriminator(fake, training=True)).astype("float64")
    expected = np.maximum(0, 1 - real_logits).mean() + np.maximum(0, 1 + fake_logits).mean()
    assert as_float(loss) == pytest.approx(expected, rel=1e-4)
    assert as_float(logs["d_real"]) == pytest.approx(real_logits.mean(), rel=1e-4, abs=1e-6)
    assert as_float(logs["d_fake"]) == pytest.approx(fake_logits.mean(), rel=1e-4, abs=1e-6)
    for layer, u in zip(sn_layers(model.discriminator), us):
        layer.sn_u.assign(u)
    g_loss, _ = model.generator_loss(real)
    for layer, u in zip(sn_layers(model.discriminator), us):
        layer.sn_u.assign(u)
    fake_logits = ops.convert_to_numpy(model.discriminator(fake, training=True)).astype("float64")
    assert as_float(g_loss) == pytest.approx(-fake_logits.mean(), rel=1e-4, abs=1e-6)


@pytest.mark.backend
def test_train_step_runs_n_dis_discriminator_steps_and_updates_u():
    model = tiny()
    model.compile()
    d_sn = sn_layers(model.discriminator)
    before_u = [l.sn_u.numpy().copy() for l in d_sn]
    before_g = [v.numpy().copy() for v in model.generator.trainable_variables]
    history = model.fit(images(32), batch_size=16, epochs=2, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v).all() for v in history.history.values())
    d_loss = history.history["d_loss"]
    assert d_loss[0] != pytest.approx(d_loss[1], abs=1e-4)
    # 2 fit steps an epoch: n_dis = 2 discriminator steps for each generator step.
    assert int(model.optimizer["generator"].iterations.numpy()) == 4
    assert int(model.optimizer["discriminator"].iterations.numpy()) == 2 * 4
    assert all(not np.allclose(a, v.numpy())
               for a, v in zip(before_g, model.generator.trainable_variables))
    # Every u moved (inside the compiled step: on JAX through the stateless scope).
    assert all(not np.allclose(u, l.sn_u.numpy()) for u, l in zip(before_u, d_sn))


@pytest.mark.backend
def test_discriminator_learns_to_separate_real_from_fake(monkeypatch):
    """With the generator frozen (learning rate 0), ten discriminator steps must lower the
    hinge loss on a fixed batch: a sign error in the loss or the step would raise it. The real
    images are near-grey (near 0 in the model's range), where D is near 0 at initialisation
    (D(0) = 0: zero biases), so the real term starts near 1 whatever the initial weights
    (passed for 12 different initialisations across the three backends)."""
    keras.utils.set_random_seed(0)
    model = tiny(n_dis=1)
    model.compile(generator_optimizer=keras.optimizers.Adam(0.0, beta_1=0.0, beta_2=0.9),
                  discriminator_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.9))
    rng = np.random.default_rng(5)
    data = np.clip(128 + 2 * rng.standard_normal((160, 16, 16, 3)), 0, 255).astype("uint8")
    z = np.random.default_rng(6).standard_normal((16, 8)).astype("float32")

    def fixed_batch_logs():
        with monkeypatch.context() as m:
            m.setattr(model, "latent_noise", lambda n: ops.convert_to_tensor(z))
            loss, logs = model.discriminator_loss(model.to_model_range(data[:16]))
            return as_float(loss), as_float(logs["d_real"])

    loss_before, real_before = fixed_batch_logs()
    model.fit(data, batch_size=16, epochs=1, verbose=0)
    loss_after, _ = fixed_batch_logs()
    assert int(model.optimizer["discriminator"].iterations.numpy()) == 10
    assert abs(real_before) < 0.5 and loss_before > 0.5
    assert loss_after < loss_before - 0.3, (loss_before, loss_after)


@pytest.mark.backend
def test_saved_model_reloads_with_its_u_and_generates_the_same_images(tmp_path, fresh_python):
    model = tiny()
    model.compile()
    model.fit(images(16), batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "sngan.keras"
    model.save(path)
    x = ops.convert_to_numpy(model.to_model_range(images(4, seed=9)))
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import kerasgen
        from kerasgen.nets import SNConv2D, SNDense
        model = keras.models.load_model({str(path)!r})
        np.save({str(tmp_path / "images.npy")!r}, model.generate(5, seed=7))
        x = np.load({str(tmp_path / "x.npy")!r})
        np.save({str(tmp_path / "logits.npy")!r}, model.discriminator.predict(x, verbose=0))
        us = [l.sn_u.numpy() for l in model.discriminator.layers
              if isinstance(l, (SNConv2D, SNDense))]
        np.save({str(tmp_path / "u.npy")!r}, np.concatenate([u.ravel() for u in us]))
        it = {{k: int(o.iterations.numpy()) for k, o in model.optimizer.items()}}
        print(type(model).__name__, model.width, model.n_dis, it["discriminator"], it["generator"])
        """
    )
    result = fresh_python(script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-5:] == ["SNGAN", "8", "2", "2", "1"]
    np.testing.assert_array_equal(np.load(tmp_path / "images.npy"), model.generate(5, seed=7))
    us = np.concatenate([l.sn_u.numpy().ravel() for l in sn_layers(model.discriminator)])
    np.testing.assert_array_equal(np.load(tmp_path / "u.npy"), us)
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"),
                               model.discriminator.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_config_round_trip():
    model = tiny(power_iterations=2)
    config = model.get_config()
    assert {k: config[k] for k in ("width", "n_dis", "power_iterations", "latent_dim")} == {
        "width": 8, "n_dis": 2, "power_iterations": 2, "latent_dim": 8}
    clone = SNGAN.from_config(config)
    assert all(l.power_iterations == 2 for l in sn_layers(clone.discriminator))
    assert SNGAN(latent_dim=8, image_size=32).get_config()["width"] == 128
