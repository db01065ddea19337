"""DCGAN: the training step on every backend, its losses against hand computations, options."""

import numpy as np
import pytest
import keras
from keras import ops

from kerasgen import DCGAN
from kerasgen.errors import DataError

from helpers.common import bce as _reference_bce
from helpers.common import images
from helpers.common import sigmoid as sig
from helpers.common import tiny_for

pytestmark = pytest.mark.backend

tiny = tiny_for(DCGAN)


def test_networks_are_sized_by_image_size():
    for size, blocks in ((16, 2), (32, 3), (64, 4)):
        model = DCGAN(latent_dim=10, image_size=size, width=4)
        assert model.generator.output_shape == (None, size, size, 3)
        assert model.discriminator.output_shape == (None, 1)
        convs = [l for l in model.discriminator.layers if isinstance(l, keras.layers.Conv2D)]
        assert len(convs) == blocks
        # width doubles per block going down: 4, 8, 16, ...
        assert [c.filters for c in convs] == [4 * 2**i for i in range(blocks)]


def test_compile_defaults_are_the_papers():
    model = tiny()
    model.compile()
    for name in ("generator", "discriminator"):
        opt = model.optimizer[name]
        assert isinstance(opt, keras.optimizers.Adam)
        assert float(ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(2e-4)
        assert opt.beta_1 == pytest.approx(0.5)


def test_compile_overrides_one_optimizer_by_name():
    model = tiny()
    model.compile(generator_optimizer=keras.optimizers.Adam(1e-3))
    assert float(ops.convert_to_numpy(model.optimizer["generator"].learning_rate)) == pytest.approx(1e-3)
    assert float(ops.convert_to_numpy(model.optimizer["discriminator"].learning_rate)) == pytest.approx(2e-4)
    with pytest.raises(TypeError, match="generator_optimizer"):
        model.compile(gen_optimizer="adam")
    with pytest.raises(ValueError, match="own optimizer"):
        opt = keras.optimizers.Adam()
        model.compile(generator_optimizer=opt, discriminator_optimizer=opt)


def test_discriminator_loss_matches_hand_computation(monkeypatch):
    model = tiny()
    model.compile()
    z = np.random.default_rng(2).standard_normal((4, 8)).astype("float32")
    monkeypatch.setattr(model, "latent_noise", lambda n: ops.convert_to_tensor(z))
    real = model.to_model_range(images(4))
    loss, logs = model.discriminator_loss(real)
    # The same forward passes by hand: D in training mode on the real and on the fake batch.
    fake = model.generator(z, training=True)
    real_logits = ops.convert_to_numpy(model.discriminator(real, training=True))
    fake_logits = ops.convert_to_numpy(model.discriminator(fake, training=True))
    expected = _reference_bce(np.ones_like(real_logits), real_logits) + _reference_bce(
        np.zeros_like(fake_logits), fake_logits
    )
    assert float(ops.convert_to_numpy(loss)) == pytest.approx(expected, rel=1e-4)
    assert float(ops.convert_to_numpy(logs["d_real"])) == pytest.approx(sig(real_logits).mean(), rel=1e-4)
    assert float(ops.convert_to_numpy(logs["d_fake"])) == pytest.approx(sig(fake_logits).mean(), rel=1e-4)


def test_generator_loss_matches_hand_computation(monkeypatch):
    model = tiny()
    model.compile()
    z = np.random.default_rng(3).standard_normal((4, 8)).astype("float32")
    monkeypatch.setattr(model, "latent_noise", lambda n: ops.convert_to_tensor(z))
    loss, _ = model.generator_loss(model.to_model_range(images(4)))
    logits = ops.convert_to_numpy(model.discriminator(model.generator(z, training=True), training=True))
    assert float(ops.convert_to_numpy(loss)) == pytest.approx(
        _reference_bce(np.ones_like(logits), logits), rel=1e-4
    )


def test_hinge_losses_match_hand_computation(monkeypatch):
    model = tiny(loss="hinge")
    model.compile()
    z = np.random.default_rng(4).standard_normal((4, 8)).astype("float32")
    monkeypatch.setattr(model, "latent_noise", lambda n: ops.convert_to_tensor(z))
    real = model.to_model_range(images(4))
    d_loss, logs = model.discriminator_loss(real)
    g_loss, _ = model.generator_loss(real)
    fake = model.generator(z, training=True)
    real_logits = ops.convert_to_numpy(model.discriminator(real, training=True)).astype("float64")
    fake_logits = ops.convert_to_numpy(model.discriminator(fake, training=True)).astype("float64")
    expected = np.maximum(0, 1 - real_logits).mean() + np.maximum(0, 1 + fake_logits).mean()
    assert float(ops.convert_to_numpy(d_loss)) == pytest.approx(expected, rel=1e-4)
    assert float(ops.convert_to_numpy(g_loss)) == pytest.approx(-fake_logits.mean(), rel=1e-4, abs=1e-6)
    assert float(ops.convert_to_numpy(logs["d_real"])) == pytest.approx(sig(real_logits).mean(), rel=1e-4)


def test_hinge_loss_trains_and_is_saved_in_the_config():
    model = tiny(loss="hinge")
    model.compile()
    before = [v.numpy().copy() for v in model.generator.trainable_variables]
    history = model.fit(images(32), batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][0]) and np.isfinite(history.history["g_loss"][0])
    assert all(not np.allclose(a, v.numpy()) for a, v in zip(before, model.generator.trainable_variables))
    assert model.get_config()["loss"] == "hinge" and tiny().get_config()["loss"] == "bce"
    assert DCGAN.from_config(model.get_config()).adversarial_loss == "hinge"
    with pytest.raises(ValueError, match="loss"):
        tiny(loss="wasserstein")
    with pytest.raises(ValueError, match="label_smoothing"):
        tiny(loss="hinge", label_smoothing=0.1)


def test_train_step_updates_both_networks_and_both_optimizers():
    model = tiny()
    model.compile()
    before_g = [v.numpy().copy() for v in model.generator.trainable_variables]
    before_d = [v.numpy().copy() for v in model.discriminator.trainable_variables]
    history = model.fit(images(32), batch_size=16, epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    for name in ("d_loss", "g_loss"):
        assert np.isfinite(history.history[name][0])
    for d_mean in ("d_real", "d_fake"):
        assert 0.0 < history.history[d_mean][0] < 1.0
    assert all(not np.allclose(a, v.numpy()) for a, v in zip(before_g, model.generator.trainable_variables))
    assert all(not np.allclose(a, v.numpy()) for a, v in zip(before_d, model.discriminator.trainable_variables))
    assert int(model.optimizer["generator"].iterations.numpy()) == 2
    assert int(model.optimizer["discriminator"].iterations.numpy()) == 2


def test_generator_learns_the_colour_of_the_data():
    """On images of one colour, the generated images' mean colour must move to it."""
    target = np.array([0.85, 0.25, 0.35], "float32")
    rng = np.random.default_rng(0)
    data = np.clip(target + 0.03 * rng.standard_normal((512, 16, 16, 3)), 0, 1).astype("float32")
    model = tiny(seed=3)
    model.compile(
        generator_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5),
        discriminator_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5),
    )
    error = lambda: np.abs(model.generate(64, seed=0).mean(axis=(0, 1, 2)) - target).max()  # noqa: E731
    before = error()
    model.fit(data, batch_size=32, epochs=6, verbose=0)
    after = error()
    assert before > 0.3
    assert after < 0.1, (before, after)


def test_training_is_reproducible_for_a_seed():
    results = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        model = tiny(seed=5)
        model.compile()
        history = model.fit(images(32), batch_size=16, epochs=1, verbose=0, shuffle=False)
        results.append((history.history["d_loss"][0], model.generate(2, seed=0)))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], atol=1e-5)


def test_generate_is_deterministic_and_in_unit_range():
    model = tiny()
    a = model.generate(5, seed=11)
    assert a.shape == (5, 16, 16, 3) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, model.generate(5, seed=11))
    assert not np.array_equal(a, model.generate(5, seed=12))
    np.testing.assert_array_equal(a, model.generate(latents=model.sample_latents(5, seed=11)))
    with pytest.raises(ValueError, match=r"\(n, 8\)"):
        model.generate(latents=np.zeros((2, 3)))


def test_float_and_uint8_images_are_the_same_input():
    model = tiny()
    u8 = images(2)
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.to_model_range(u8)),
        ops.convert_to_numpy(model.to_model_range(u8.astype("float32") / 255.0)),
        atol=1e-6,
    )
    x = ops.convert_to_numpy(model.to_model_range(np.array([[[[0, 255, 0]]]], "uint8").repeat(16, 1).repeat(16, 2)))
    assert x.min() == -1.0 and x.max() == 1.0


def test_wrong_image_shape_names_the_expected_shape():
    model = tiny()
    model.compile()
    with pytest.raises(DataError, match=r"16, 16, 3.*\(8, 32, 32, 3\)"):
        model.fit(images(8, size=32), batch_size=8, epochs=1, verbose=0)


def test_label_smoothing_draws_real_targets_in_range():
    model = tiny(label_smoothing=(0.7, 1.2))
    t = ops.convert_to_numpy(model.real_targets(4096))
    assert t.shape == (4096, 1)
    assert 0.7 <= t.min() < 0.72 and 1.18 < t.max() <= 1.2
    assert tiny(label_smoothing=0.1).real_targets(4) == pytest.approx(0.9)
    assert tiny().real_targets(4) == 1.0
    for bad in (1.5, (1.2, 0.7), (0, 1), "x"):
        with pytest.raises(ValueError, match="label_smoothing"):
            tiny(label_smoothing=bad)


def test_instance_noise_has_its_std_and_decays_to_zero():
    model = tiny(instance_noise=0.5, instance_noise_decay_steps=10)
    model.compile()
    zeros = ops.zeros((64, 16, 16, 3))
    assert float(ops.convert_to_numpy(ops.std(model._noisy(zeros)))) == pytest.approx(0.5, rel=0.05)
    model.optimizer["generator"].iterations.assign(5)
    assert float(ops.convert_to_numpy(ops.std(model._noisy(zeros)))) == pytest.approx(0.25, rel=0.05)
    model.optimizer["generator"].iterations.assign(10)
    assert float(ops.convert_to_numpy(ops.std(model._noisy(zeros)))) == 0.0


def test_improved_options_build_the_described_networks():
    model = tiny(generator_activation="leaky_relu", discriminator_dropout=0.3)
    assert any(isinstance(l, keras.layers.LeakyReLU) for l in model.generator.layers)
    assert not any(isinstance(l, keras.layers.ReLU) for l in model.generator.layers)
    dropouts = [l for l in model.discriminator.layers if isinstance(l, keras.layers.Dropout)]
    assert len(dropouts) == 2 and all(d.rate == 0.3 for d in dropouts)
    with pytest.raises(ValueError, match="image_size"):
        DCGAN(image_size=48)
    with pytest.raises(ValueError, match="activation"):
        tiny(generator_activation="gelu")


def test_fit_on_a_dataset_with_options_on():
    model = tiny(label_smoothing=(0.7, 1.2), instance_noise=0.1, instance_noise_decay_steps=4,
                 discriminator_dropout=0.3, generator_activation="leaky_relu")
    model.compile()
    history = model.fit(images(32), batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][0]) and np.isfinite(history.history["g_loss"][0])


def test_steps_per_execution_runs_the_same_steps():
    """Several steps per compiled call train exactly as one per call (TensorFlow, JAX); the
    requested value ("auto" by default) is what a saved model keeps; PyTorch refuses > 1."""
    data = images(32)
    model = tiny()
    model.compile()
    assert model.get_compile_config()["steps_per_execution"] == "auto"
    assert model.steps_per_execution == 1  # no accelerator here
    if keras.backend.backend() == "torch":
        with pytest.raises(DataError, match="steps_per_execution must be 1 with the PyTorch"):
            tiny().compile(steps_per_execution=2)
        return
    weights = []
    for steps in (1, 2):
        keras.utils.set_random_seed(0)
        model = tiny()
        model.compile(steps_per_execution=steps)
        assert model.steps_per_execution == steps
        model.fit(data, batch_size=8, epochs=1, verbose=0)  # 4 steps
        weights.append([np.asarray(ops.convert_to_numpy(w)) for w in model.weights])
        assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 4
    for one, two in zip(*weights):
        np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-6)
    with pytest.raises(DataError, match="steps_per_execution must be an integer >= 1"):
        tiny().compile(steps_per_execution=0)


def test_jit_compile_trains_as_the_uncompiled_step():
    """`compile(jit_compile=True)` (XLA on TensorFlow and JAX, `torch.compile` on PyTorch, where
    kerasgen's fused Adam kernel gives way to Keras' update inside the compiled step) trains
    the weights to what the uncompiled step gives. The latents are fixed: TensorFlow's XLA
    draws other numbers than its graphs for the same seed."""
    latents = np.random.default_rng(1).normal(size=(8, tiny().latent_dim)).astype("float32")

    class FixedLatents(DCGAN):
        def latent_noise(self, batch_size):
            return ops.convert_to_tensor(latents)

    data = images(16)
    before, after = [], []
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = tiny(FixedLatents)
        model.compile(jit_compile=jit)
        assert model.get_compile_config()["jit_compile"] is jit
        assert model.jit_compile is jit  # Keras drops it silently where a layer cannot
        before.append([np.asarray(ops.convert_to_numpy(w)) for w in model.trainable_weights])
        model.fit(data, batch_size=8, epochs=1, verbose=0)  # 2 steps
        assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 2
        after.append([np.asarray(ops.convert_to_numpy(w)) for w in model.trainable_weights])
    for start_eager, start_compiled in zip(*before):
        np.testing.assert_array_equal(start_compiled, start_eager)
    # Both trained (Adam moves every weight by about 2 x lr = 4e-4), to the same weights.
    assert min(np.abs(a - b).max() for a, b in zip(after[0], before[0])) > 1e-4
    for eager, compiled in zip(*after):
        np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-5)
