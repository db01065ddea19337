"""`kerasgen.nets.Network`: the eager fast path (`kerasgen.backend.run_graph`, PyTorch) computes
what Keras' own functional call computes, outputs and state updates alike, and is taken where
it should be."""

import gc
import weakref

import numpy as np
import pytest
import keras

import kerasgen
from kerasgen import backend
from kerasgen import nets

RNG = np.random.default_rng(0)


def _normal(*shape):
    return RNG.standard_normal(shape).astype("float32")


NETWORKS = {
    "generator": (lambda: nets.generator(latent_dim=8, image_size=16, width=8),
                  lambda: _normal(3, 8)),
    "conditional_generator": (
        lambda: nets.generator(latent_dim=8, image_size=16, width=8, condition_dim=3,
                               norm="conditional_batch"),
        lambda: [_normal(3, 8), np.sign(_normal(3, 3))]),
    "discriminator_dropout": (lambda: nets.discriminator(image_size=16, width=8, dropout=0.3),
                              lambda: _normal(3, 16, 16, 3)),
    "projection_discriminator": (
        lambda: nets.discriminator(image_size=16, width=8, condition_dim=3,
                                   condition_at="projection"),
        lambda: [_normal(3, 16, 16, 3), np.sign(_normal(3, 3))]),
    "encoder_two_heads": (lambda: nets.encoder(image_size=16, latent_dim=4, width=8, outputs=2),
                          lambda: _normal(3, 16, 16, 3)),
    "resnet_generator": (lambda: nets.resnet_generator(latent_dim=8, image_size=16, width=16),
                         lambda: _normal(3, 8)),
    "sn_discriminator": (lambda: nets.resnet_discriminator(image_size=16, width=16),
                         lambda: _normal(3, 16, 16, 3)),
    "unet": (lambda: nets.unet(image_size=16, width=8, num_attributes=2),
             lambda: [_normal(3, 16, 16, 3), RNG.uniform(0, 1, (3, 1)).astype("float32"),
                      np.sign(_normal(3, 2))]),
}


def _numpy(structure):
    return [keras.ops.convert_to_numpy(x) for x in keras.tree.flatten(structure)]


class _Spy:
    """Wraps `kerasgen.backend.run_graph`, counting the calls it answered (not None)."""

    def __init__(self, monkeypatch, disable=False):
        self.real, self.answered, self.asked = backend.run_graph, 0, 0
        self.disable = disable
        monkeypatch.setattr(backend, "run_graph", self)

    def __call__(self, network, inputs, training):
        self.asked += 1
        out = None if self.disable else self.real(network, inputs, training)
        self.answered += out is not None
        return out


@pytest.mark.backend
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_fast_path_computes_what_keras_computes(name, training, monkeypatch):
    build, inputs = NETWORKS[name]
    keras.utils.set_random_seed(1)
    network = build()
    assert isinstance(network, nets.Network)
    x = [keras.ops.convert_to_tensor(a) for a in keras.tree.flatten(inputs())]
    x = x[0] if len(x) == 1 else x
    before = [v.numpy() for v in network.variables]  # weights, moving stats, SN vectors, seeds

    spy = _Spy(monkeypatch)
    keras.utils.set_random_seed(2)  # dropout without a seed draws from the global generator
    fast = _numpy(network(x, training=training))
    fast_state = [v.numpy() for v in network.variables]
    for variable, value in zip(network.variables, before):
        variable.assign(value)
    spy.disable = True
    keras.utils.set_random_seed(2)
    slow = _numpy(network(x, training=training))
    slow_state = [v.numpy() for v in network.variables]

    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(fast_state, slow_state):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    if training and name != "unet":  # the state a training call moves (the UNet has none)
        assert any(not np.array_equal(a, b) for a, b in zip(before, slow_state))
    # PyTorch answers every call itself; TensorFlow and JAX trace the step and leave it to Keras.
    assert spy.answered == (1 if backend.BACKEND == "torch" else 0)


class _Tap(keras.layers.Layer):
    """Doubles its input and keeps a weak reference to it (an output nothing else needs)."""

    def call(self, x):
        self.seen = weakref.ref(x)
        return x * 2.0


class _Check(keras.layers.Layer):
    """Records whether the tapped tensor is still alive when the next layer but one runs."""

    def __init__(self, tap, **kwargs):
        super().__init__(**kwargs)
        self.tap, self.alive = tap, None

    def call(self, x):
        gc.collect()
        self.alive = self.tap.seen() is not None
        return x


@pytest.mark.backend
@pytest.mark.only_backend("torch")
def test_fast_path_frees_each_intermediate_after_its_last_use(monkeypatch):
    """Eagerly on PyTorch a tensor lives while something refers to it: the graph walk drops its
    reference after the tensor's last consumer (Keras' keeps all until the call ends), so a
    dense layer's output that nothing saves for backward is gone before the network ends."""
    inputs = keras.Input((4,))
    tap = _Tap()
    check = _Check(tap)
    h = keras.layers.Dense(6)(inputs)
    outputs = check(keras.layers.Dense(3)(tap(h)))
    network = nets.Network(inputs, outputs)
    x = keras.ops.convert_to_tensor(_normal(2, 4))
    spy = _Spy(monkeypatch)
    out = network(x, training=True)
    assert spy.answered == 1 and check.alive is False
    spy.disable = True
    expected = network(x, training=True)  # Keras' walk: the dense output is still referenced
    assert check.alive is True
    np.testing.assert_allclose(_numpy(out)[0], _numpy(expected)[0], rtol=1e-6)


@pytest.mark.backend
def test_keras_path_for_symbolic_and_numpy_inputs(monkeypatch):
    network = nets.generator(latent_dim=8, image_size=16, width=8)
    spy = _Spy(monkeypatch)
    symbolic = network(keras.Input((8,)))  # a KerasTensor: Keras builds the graph
    assert tuple(symbolic.shape) == (None, 16, 16, 3)
    network(_normal(2, 8), training=True)  # NumPy in: Keras converts it
    assert spy.answered == 0


@pytest.mark.backend
def test_mixed_precision_networks_take_keras_path(monkeypatch):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        network = nets.generator(latent_dim=8, image_size=16, width=8)
        spy = _Spy(monkeypatch)
        out = network(keras.ops.convert_to_tensor(_normal(2, 8)), training=True)
    finally:
        keras.config.set_dtype_policy(previous)
    assert spy.asked >= 1 and spy.answered == 0  # autocasting needs Keras' call
    assert keras.backend.standardize_dtype(out.dtype) == "float32"  # the float32 last layer


@pytest.mark.backend
def test_training_with_the_fast_path_matches_keras_calls(monkeypatch):
    """Two DCGANs from one seed, trained three steps on the same batches, one with Keras'
    calls only: the same weights, moving statistics and losses."""
    images = RNG.integers(0, 256, (3 * 8, 16, 16, 3), dtype="uint8")
    results = []
    for disable in (False, True):
        spy = _Spy(monkeypatch, disable=disable)
        keras.utils.set_random_seed(3)  # the initial weights
        model = kerasgen.DCGAN(latent_dim=8, image_size=16, width=8, seed=3)
        model.compile()
        history = model.fit(images, batch_size=8, epochs=1, shuffle=False, verbose=0)
        results.append(([v.numpy() for v in model.variables], history.history))
        monkeypatch.setattr(backend, "run_graph", spy.real)
        if backend.BACKEND == "torch" and not disable:
            assert spy.answered >= 3 * 5  # 2 generator + 3 discriminator calls a step
    (fast, fast_logs), (slow, slow_logs) = results
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for key in slow_logs:
        np.testing.assert_allclose(fast_logs[key], slow_logs[key], rtol=1e-4)


@pytest.mark.backend
def test_networks_save_and_reload_as_networks(tmp_path):
    network = nets.discriminator(image_size=16, width=8)
    network.save(tmp_path / "d.keras")
    reloaded = keras.models.load_model(tmp_path / "d.keras")
    assert type(reloaded) is nets.Network
    x = _normal(2, 16, 16, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(x, training=False)),
                               keras.ops.convert_to_numpy(network(x, training=False)),
                               rtol=1e-6, atol=1e-6)
