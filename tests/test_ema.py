"""The moving average of the sampling network's weights (`ema=`): the formula after N steps on
every backend, what `generate` draws with, saving, reloading and `BackupAndRestore`."""

import math

import keras
import numpy as np
import pytest

import kerasgen
from kerasgen.callbacks import BackupAndRestore
from kerasgen.models.base import ema_beta

from helpers.common import images
from helpers.common import tiny

pytestmark = pytest.mark.backend

#: A family of each kind of sampling network (a generator, a decoder, a conditional generator):
#: the average is the base class's, the same code for every model.
FAMILIES = {
    "DCGAN": (kerasgen.DCGAN, {}),
    "VAE": (kerasgen.VAE, {}),
    "ConditionalGAN": (kerasgen.ConditionalGAN, {"attributes": ["Male", "Smiling"]}),
}


def data(name, n=24):
    x = images(n)
    if name == "ConditionalGAN":
        return x, (np.random.default_rng(1).random((n, 2)) < 0.5).astype("float32")
    return x, None


def numpy_beta(step, ema, rampup):
    if rampup is None:
        return ema
    half_life = math.log(0.5) / math.log(ema)
    return 0.5 ** (1.0 / max(min(half_life, step * rampup), 1e-8))


def test_ema_beta_ramps_the_half_life():
    # ema 0.99: half-life ln 0.5 / ln 0.99 = 68.97 steps; rampup 0.05 reaches it at step 1379.
    for step in (1, 10, 100, 1379, 5000):
        assert float(keras.ops.convert_to_numpy(ema_beta(step, 0.99, 0.05))) == pytest.approx(
            numpy_beta(step, 0.99, 0.05), rel=1e-6)
    assert numpy_beta(1, 0.99, 0.05) < 1e-6  # the first step all but copies the weights
    assert numpy_beta(5000, 0.99, 0.05) == pytest.approx(0.99)
    assert float(keras.ops.convert_to_numpy(ema_beta(7, 0.9, None))) == pytest.approx(0.9)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_average_equals_the_formula_after_n_steps(name):
    cls, extra = FAMILIES[name]
    model = tiny(cls, ema=0.8, ema_rampup=0.5, **extra)
    model.compile()
    network, average = model.sampling_network, model.ema_network
    start = [w.numpy().copy() for w in average.weights]
    for a, b in zip(start, network.get_weights()):
        np.testing.assert_array_equal(a, b)  # the average starts at the initial weights
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            # JAX's trainer holds the state outside the variables during fit; Keras' own
            # callbacks write it back first the same way.
            getattr(self.model, "jax_state_sync", lambda: None)()
            seen.append([w.numpy().copy() for w in network.weights])

    x, y = data(name)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[Record()])
    assert len(seen) == 3
    expected = start
    for step, live in enumerate(seen, start=1):
        beta = numpy_beta(step, 0.8, 0.5)
        expected = [beta * e + (1 - beta) * w if v.trainable else w
                    for e, w, v in zip(expected, live, network.weights)]
    for e, v in zip(expected, average.weights):
        np.testing.assert_allclose(v.numpy(), e, rtol=1e-5, atol=1e-6)
    # The average lags the trained weights: it is neither them nor where they started.
    lags = [not np.allclose(a.numpy(), w.numpy(), atol=1e-7)
            for a, w in zip(average.weights, network.weights) if w.trainable]
    assert lags and any(lags)
    assert any(not np.allclose(a.numpy(), s, atol=1e-7) for a, s in zip(average.weights, start))


def test_generate_draws_with_the_average_and_reloads_identical(tmp_path):
    model = tiny(kerasgen.DCGAN, ema=0.5, ema_rampup=None)
    # Large steps, so that the trained weights move well away from their average.
    model.compile(generator_optimizer=keras.optimizers.Adam(0.05, beta_1=0.5),
                  discriminator_optimizer=keras.optimizers.Adam(0.05, beta_1=0.5))
    model.fit(images(16), batch_size=8, epochs=1, verbose=0)
    latents = model.sample_latents(4, seed=2)
    averaged = (np.asarray(model.ema_network.predict(latents, verbose=0)) + 1) / 2
    trained = (np.asarray(model.generator.predict(latents, verbose=0)) + 1) / 2
    assert np.abs(averaged - trained).max() > 1e-3
    np.testing.assert_allclose(model.generate(latents=latents), np.clip(averaged, 0, 1), atol=1e-6)
    np.testing.assert_allclose(model.generate(latents=latents, use_ema=False),
                               np.clip(trained, 0, 1), atol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert (loaded.ema, loaded.ema_rampup) == (0.5, None)
    np.testing.assert_array_equal(loaded.generate(4, seed=2), model.generate(4, seed=2))
    np.testing.assert_array_equal(loaded.generate(4, seed=2, use_ema=False),
                                  model.generate(4, seed=2, use_ema=False))
    # The metrics draw with the average unless asked for the trained weights.
    from kerasgen import metrics

    class Pixels:
        name = "pixels"

        def __call__(self, images):
            return np.asarray(images, "float64").reshape(len(images), -1)

    for use_ema in (True, False):
        drawn = metrics.generated_features(model, Pixels(), n=4, seed=2, batch_size=4,
                                           use_ema=use_ema)
        np.testing.assert_allclose(drawn, Pixels()(model.generate(4, seed=2, use_ema=use_ema)),
                                   atol=1e-6)


def test_backup_and_restore_restores_the_average(tmp_path):
    model = tiny(kerasgen.DCGAN, ema=0.5)
    model.compile()
    model.fit(images(16), batch_size=8, epochs=1, verbose=0,
              callbacks=[BackupAndRestore(str(tmp_path / "backup"))])
    saved = [w.numpy().copy() for w in model.ema_network.weights]
    restored = tiny(kerasgen.DCGAN, ema=0.5)
    restored.compile()
    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen["average"] = [w.numpy().copy() for w in self.model.ema_network.weights]
            self.model.stop_training = True

    restored.fit(images(16), batch_size=8, epochs=2, verbose=0,
                 callbacks=[BackupAndRestore(str(tmp_path / "backup")), Probe()])
    for a, b in zip(saved, seen["average"]):
        np.testing.assert_array_equal(a, b)


def test_bad_ema_values_are_refused():
    with pytest.raises(ValueError, match="ema must be a finite number > 0"):
        tiny(kerasgen.DCGAN, ema=0.0)
    with pytest.raises(ValueError, match="ema must be below 1"):
        tiny(kerasgen.DCGAN, ema=1.0)
    with pytest.raises(ValueError, match="ema_rampup"):
        tiny(kerasgen.DCGAN, ema=0.9, ema_rampup=-1)
