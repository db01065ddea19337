"""WGAN-GP: the gradient penalty against closed forms, the losses, training, saving."""

import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from kerasgen import WGANGP
from kerasgen import backend
from kerasgen import losses
from kerasgen.data import synthetic_faces

from helpers.common import tiny_for

pytestmark = pytest.mark.backend


def _np(x):
    return ops.convert_to_numpy(x)


def _images(n=4, size=(5, 5, 3), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, *size)).astype("float32") for _ in range(2)]


def test_penalty_of_a_linear_critic_is_norm_minus_one_squared():
    # D(x) = <w, x>: its input gradient is w everywhere, so the penalty is (||w|| - 1)^2
    # whatever the interpolates are.
    real, fake = _images()
    w = np.random.default_rng(1).normal(size=(1, 5, 5, 3)).astype("float32")
    critic = lambda x: ops.sum(x * ops.convert_to_tensor(w), axis=(1, 2, 3))  # noqa: E731
    expected = (np.linalg.norm(w) - 1.0) ** 2
    got = _np(losses.gradient_penalty(critic, real, fake, seed=keras.random.SeedGenerator(0)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_penalty_uses_one_alpha_per_sample_broadcast_over_the_image():
    # D(x) = ||x||^2 / 2 has input gradient x, so the penalty is
    # mean_i (||alpha_i x_i + (1 - alpha_i) y_i|| - 1)^2, by hand.
    real, fake = _images(n=3)
    alpha = np.array([0.0, 0.25, 1.0], "float32")
    critic = lambda x: 0.5 * ops.sum(ops.square(x), axis=(1, 2, 3))  # noqa: E731
    mixed = alpha[:, None, None, None] * real + (1 - alpha[:, None, None, None]) * fake
    expected = np.mean((np.linalg.norm(mixed.reshape(3, -1), axis=1) - 1.0) ** 2)
    got = _np(losses.gradient_penalty(critic, real, fake, alpha=alpha))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # Random alphas are in [0, 1] and differ per sample: the penalty lies between the
    # penalties of the two endpoints' norms only if alpha is per sample; check it is not
    # the penalty of one shared alpha for the whole batch by comparing with alpha = 0 and 1.
    shared = [_np(losses.gradient_penalty(critic, real, fake, alpha=np.full(3, a, "float32")))
              for a in (0.0, 1.0)]
    assert not np.isclose(got, shared[0]) and not np.isclose(got, shared[1])


def test_penalty_is_differentiable_with_respect_to_the_critic():
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||: a second-order gradient through the
    # penalty's input gradient, as the critic's training step takes it.
    real, fake = _images(n=2, size=(2, 2, 1))
    w0 = np.random.default_rng(2).normal(size=(1, 2, 2, 1)).astype("float32")

    def penalty(w):
        critic = lambda x: ops.sum(x * w, axis=(1, 2, 3))  # noqa: E731
        return losses.gradient_penalty(critic, real, fake, alpha=np.full(2, 0.5, "float32"))

    got = _np(backend.input_gradients(penalty, ops.convert_to_tensor(w0)))
    norm = np.linalg.norm(w0)
    np.testing.assert_allclose(got, 2 * (norm - 1) * w0 / norm, rtol=1e-4, atol=1e-6)


def test_wasserstein_losses_by_hand():
    real = np.array([[1.0], [3.0]], "float32")
    fake = np.array([[-2.0], [0.5]], "float32")
    assert float(_np(losses.critic_loss(real, fake))) == pytest.approx(-0.75 - 2.0)
    assert float(_np(losses.wasserstein_generator_loss(fake))) == pytest.approx(0.75)


tiny = tiny_for(WGANGP, seed=3)


def test_critic_loss_is_minus_estimate_plus_weighted_penalty():
    model = tiny(gp_weight=7.0)
    real = model.to_model_range(synthetic_faces(n=8, image_size=16, batch_size=8)[0])
    loss, logs = model.critic_loss(real)
    expected = -_np(logs["wasserstein"]) + 7.0 * _np(logs["gradient_penalty"])
    np.testing.assert_allclose(_np(loss), expected, rtol=1e-5, atol=1e-6)


def test_training_runs_n_critic_steps_and_the_critic_learns():
    data = synthetic_faces(n=256, image_size=16, batch_size=32, seed=0)
    model = tiny(n_critic=3)
    model.compile(critic_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.9),
                  generator_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.9))
    nets = {"critic": model.critic, "generator": model.generator}
    before = {name: {w.path: np.array(w) for w in net.trainable_weights} for name, net in nets.items()}
    start = model.critic_loss(model.to_model_range(data[0][:32]))[1]["wasserstein"]
    history = model.fit(data, epochs=2, verbose=0)
    iterations = {k: int(_np(o.iterations)) for k, o in model.optimizer.items()}
    assert iterations == {"generator": 16, "critic": 48}  # 8 steps an epoch, 3 critic steps each
    for name, net in nets.items():
        unchanged = [w.path for w in net.trainable_weights if np.array_equal(before[name][w.path], w)]
        # The critic's output bias adds the same constant to D(x) and D(G(z)): the Wasserstein
        # loss cancels it and the penalty does not see it, so its gradient is exactly zero.
        assert unchanged == (["logit/bias"] if name == "critic" else []), unchanged
    logs = history.history
    assert all(np.isfinite(v).all() for v in logs.values())
    # At initialisation the critic scores real and fake alike; after training it separates them.
    assert abs(float(_np(start))) < 0.5
    assert logs["wasserstein"][-1] > 1.0, logs["wasserstein"]


def test_saved_model_reloads_in_a_fresh_process(tmp_path, fresh_python):
    model = tiny(n_critic=2, gp_weight=5.0, critic_norm="none")
    model.compile()
    model.fit(synthetic_faces(n=32, image_size=16, batch_size=16), epochs=1, verbose=0)
    path = tmp_path / "wgan.keras"
    model.save(path)
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import kerasgen
        model = keras.models.load_model({str(path)!r})
        np.save({str(tmp_path / "out.npy")!r}, model.generate(5, seed=7))
        it = {{k: int(o.iterations.numpy()) for k, o in model.optimizer.items()}}
        print(type(model).__name__, model.n_critic, model.gp_weight, model.critic_norm,
              it["critic"], it["generator"])
        """
    )
    result = fresh_python(script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-6:] == ["WGANGP", "2", "5.0", "none", "4", "2"]
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), model.generate(5, seed=7))


@pytest.mark.parametrize("kwargs,message", [
    ({"n_critic": 0}, "n_critic"),
    ({"gp_weight": -1.0}, "gp_weight"),
    ({"critic_norm": "batch"}, "batch norm would break"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny(**kwargs)
