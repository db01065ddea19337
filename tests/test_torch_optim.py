"""`kerasgen.backend.torch_steps.fused_adam`: a Keras Adam updated by PyTorch's fused kernel
computes Keras' own Adam, step by step, with Keras' features around the update."""

import numpy as np
import pytest
import keras

pytestmark = [pytest.mark.backend, pytest.mark.only_backend("torch")]

if keras.backend.backend() == "torch":
    import torch

    from kerasgen.backend import torch_steps


def _run(fused, steps=6, **kwargs):
    rng = np.random.default_rng(0)
    shapes = [(4, 4, 3, 8), (8,), (16, 5)]
    variables = [keras.Variable(rng.standard_normal(s).astype("float32")) for s in shapes]
    optimizer = keras.optimizers.Adam(**kwargs)
    optimizer.build(variables)
    assert torch_steps.fused_adam(optimizer) if fused else True
    for _ in range(steps):
        grads = [torch.tensor(rng.standard_normal(s).astype("float32") * 0.1) for s in shapes]
        # As autograd returns it for a kernel used through a permuted view: not contiguous.
        grads[0] = grads[0].permute(3, 2, 0, 1).contiguous().permute(2, 3, 1, 0)
        assert not grads[0].is_contiguous()
        grads[1] = None if kwargs.get("with_none") else grads[1]
        with torch.no_grad():
            optimizer.apply(grads, variables)
    states = [np.asarray(v.value.detach()) for v in variables]
    states += [np.asarray(m.value) for m in optimizer._momentums + optimizer._velocities]
    return states, int(optimizer.iterations.value)


@pytest.mark.parametrize("kwargs", [
    {},
    {"learning_rate": 2e-4, "beta_1": 0.5},
    {"learning_rate": 1e-2, "beta_1": 0.0, "beta_2": 0.9, "epsilon": 1e-2},
    {"learning_rate": keras.optimizers.schedules.ExponentialDecay(1e-2, 2, 0.5)},
    {"weight_decay": 0.1, "clipnorm": 0.05},
])
def test_fused_adam_computes_keras_adam(kwargs):
    ours, our_steps = _run(True, **kwargs)
    theirs, their_steps = _run(False, **kwargs)
    assert our_steps == their_steps == 6
    for a, b in zip(ours, theirs):  # float32 round-off of O(1) values over 6 steps
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours[0], _run(False, steps=0, **kwargs)[0][0])  # they moved


def test_only_plain_keras_adam_is_fused():
    assert not torch_steps.fused_adam(keras.optimizers.Adam(amsgrad=True))
    assert not torch_steps.fused_adam(keras.optimizers.AdamW())
    assert not torch_steps.fused_adam(keras.optimizers.SGD())
    assert not torch_steps.fused_adam(keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam()))



def test_fused_adam_reads_nothing_back_to_the_host(monkeypatch):
    """On a GPU, a read of the step count or learning rate (`.item()`, `float()`, `.numpy()`)
    waits for every queued kernel: the update must not make one."""
    variables = [keras.Variable(np.ones((3, 2), "float32"))]
    optimizer = keras.optimizers.Adam(
        learning_rate=keras.optimizers.schedules.ExponentialDecay(1e-2, 2, 0.5))
    optimizer.build(variables)
    assert torch_steps.fused_adam(optimizer)
    grads = [torch.full((3, 2), 0.5)]
    with torch.no_grad():
        optimizer.apply(grads, variables)  # the first apply may build state

    def sync(*args, **kwargs):
        raise AssertionError("the update read a tensor back to the host")

    for name in ("item", "__float__", "numpy", "tolist", "__bool__"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    before = variables[0].value.clone()
    with torch.no_grad():
        optimizer.apply(grads, variables)
    monkeypatch.undo()
    assert not torch.equal(before, variables[0].value)


def test_compile_fuses_each_adam_once():
    import kerasgen

    model = kerasgen.DCGAN(image_size=16, latent_dim=4, width=4, seed=0)
    model.compile()
    assert all(getattr(model.optimizer[name], "_kerasgen_fused_adam", False)
               for name in ("generator", "discriminator"))
