"""Mixed precision in every custom train_step: `mixed_bfloat16` (CPU-friendly) for every model on
every backend, `mixed_float16` with loss scaling for the two-optimizer GAN and the gradient
penalty."""

import keras
import numpy as np
import pytest

import kerasgen
from kerasgen.data import synthetic_faces

from helpers.common import tiny

pytestmark = pytest.mark.backend

ATTRIBUTES = ["Male", "Smiling"]
MODELS = {
    "DCGAN": {},
    "WGANGP": {"n_critic": 2},
    "Autoencoder": {},
    "VAE": {},
    "VAEGAN": {},
    "ConditionalGAN": {"attributes": ATTRIBUTES},
}


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


def _values(model):
    # The critic's output bias cancels in the Wasserstein loss and the gradient penalty: it has
    # no gradient in any precision. Every other variable must move.
    frozen = {"logit/bias"} if isinstance(model, kerasgen.WGANGP) else set()
    return [np.array(keras.ops.convert_to_numpy(v), dtype="float32")
            for v in model.trainable_variables if v.path not in frozen]


def _train(name, policy):
    model = tiny(getattr(kerasgen, name), seed=0, **MODELS[name])
    model.compile()
    assert model.dtype_policy.name == policy
    convolutions = [layer for layer in model._flatten_layers()
                    if isinstance(layer, keras.layers.Conv2D)]
    assert convolutions and all(layer.compute_dtype == policy.split("_")[1]
                                for layer in convolutions)  # the convolutions run in half precision
    assert all(v.dtype == "float32" for v in model.trainable_variables)  # variables stay float32
    before = _values(model)
    data = synthetic_faces(n=64, image_size=16, batch_size=32, attributes=ATTRIBUTES, seed=0)
    history = model.fit(data, epochs=2, verbose=0).history
    after = _values(model)
    return model, history, before, after


@pytest.mark.parametrize("policy", ["mixed_bfloat16"], indirect=True)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_trains_in_mixed_bfloat16(name, policy):
    model, history, before, after = _train(name, policy)
    assert all(np.isfinite(curve).all() for curve in history.values()), history
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, after))
    assert changed == len(before)  # every variable of every network was trained
    images = model.generate(4, seed=0)
    assert images.dtype == np.float32 and np.isfinite(images).all()
    assert 0.0 <= images.min() and images.max() <= 1.0


@pytest.mark.parametrize("policy", ["mixed_float16"], indirect=True)
@pytest.mark.parametrize("name", ["DCGAN", "WGANGP"])
def test_float16_scales_each_optimizers_loss(name, policy):
    model, history, before, after = _train(name, policy)
    for _, optimizer in model.optimizer.items():
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        assert float(keras.ops.convert_to_numpy(optimizer.dynamic_scale)) > 1.0
    assert all(np.isfinite(curve).all() for curve in history.values()), history
    if name == "WGANGP":  # the gradient penalty survives float16
        assert all(0 < gp < 100 for gp in history["gradient_penalty"])
    assert sum(not np.array_equal(a, b) for a, b in zip(before, after)) == len(before)
