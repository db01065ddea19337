"""DiffAugment against a NumPy transcription of the authors' code, and ADA's adaptive p."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from kerasgen import augment
from kerasgen import backend

pytestmark = pytest.mark.backend

# Height 10 and width 12 (not square, so height and width cannot be swapped unnoticed):
# translation ranges 1 and 2 pixels; cutout sides 5 (odd) and 6 (even).
SHAPE = (10, 12, 3)


def _np(x):
    return ops.convert_to_numpy(x)


def _images(n, shape=SHAPE, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, *shape)).astype("float32")


# ---- the reference: mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py, line for line in
# NumPy on NCHW arrays, with the values torch.rand / torch.randint drew passed in ----


def ref_brightness(x, u):
    return x + (u.reshape(-1, 1, 1, 1) - 0.5)


def ref_saturation(x, u):
    x_mean = x.mean(axis=1, keepdims=True)
    return (x - x_mean) * (u.reshape(-1, 1, 1, 1) * 2) + x_mean


def ref_contrast(x, u):
    x_mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - x_mean) * (u.reshape(-1, 1, 1, 1) + 0.5) + x_mean


def ref_translation(x, translation_x, translation_y, ratio=0.125):
    shift_x, shift_y = int(x.shape[2] * ratio + 0.5), int(x.shape[3] * ratio + 0.5)
    assert np.all(np.abs(translation_x) <= shift_x) and np.all(np.abs(translation_y) <= shift_y)
    translation_x = translation_x.reshape(-1, 1, 1)
    translation_y = translation_y.reshape(-1, 1, 1)
    grid_batch, grid_x, grid_y = np.meshgrid(
        np.arange(x.shape[0]), np.arange(x.shape[2]), np.arange(x.shape[3]), indexing="ij")
    grid_x = np.clip(grid_x + translation_x + 1, 0, x.shape[2] + 1)
    grid_y = np.clip(grid_y + translation_y + 1, 0, x.shape[3] + 1)
    x_pad = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    return x_pad.transpose(0, 2, 3, 1)[grid_batch, grid_x, grid_y].transpose(0, 3, 1, 2)


def ref_cutout(x, offset_x, offset_y, ratio=0.5):
    cutout_size = int(x.shape[2] * ratio + 0.5), int(x.shape[3] * ratio + 0.5)
    assert np.all((0 <= offset_x) & (offset_x < x.shape[2] + (1 - cutout_size[0] % 2)))
    assert np.all((0 <= offset_y) & (offset_y < x.shape[3] + (1 - cutout_size[1] % 2)))
    offset_x = offset_x.reshape(-1, 1, 1)
    offset_y = offset_y.reshape(-1, 1, 1)
    grid_batch, grid_x, grid_y = np.meshgrid(
        np.arange(x.shape[0]), np.arange(cutout_size[0]), np.arange(cutout_size[1]), indexing="ij")
    grid_x = np.clip(grid_x + offset_x - cutout_size[0] // 2, 0, x.shape[2] - 1)
    grid_y = np.clip(grid_y + offset_y - cutout_size[1] // 2, 0, x.shape[3] - 1)
    mask = np.ones((x.shape[0], x.shape[2], x.shape[3]), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask[:, None]


def reference(images, draws, policy=augment.DEFAULT_POLICY):
    """DiffAugment(x, policy) of the reference on NHWC `images` with NumPy `draws`."""
    x = images.transpose(0, 3, 1, 2)
    fns = {"brightness": ref_brightness, "saturation": ref_saturation, "contrast": ref_contrast}
    for name in augment.parse_policy(policy):
        if name in fns:
            x = fns[name](x, draws[name])
        elif name == "translation":
            x = ref_translation(x, *draws["translation"])
        else:
            x = ref_cutout(x, *draws["cutout"])
    return x.transpose(0, 2, 3, 1)


def _numpy_draws(draws):
    return {k: tuple(_np(t) for t in v) if isinstance(v, tuple) else _np(v)
            for k, v in draws.items()}


# ---- each transform against the reference ----


def test_color_transforms_match_the_reference():
    x = _images(8)
    u = np.array([0.0, 0.999, 0.5, 0.25, 0.75, 0.1, 0.9, 0.4], "float32")
    for name in ("brightness", "saturation", "contrast"):
        got = _np(getattr(augment, name)(x, u))
        ref = {"brightness": ref_brightness, "saturation": ref_saturation,
               "contrast": ref_contrast}[name]
        expected = ref(x.transpose(0, 3, 1, 2), u).transpose(0, 2, 3, 1)
        np.testing.assert_allclose(got, expected, atol=2e-6, err_msg=name)
    draws = {name: np.roll(u, i) for i, name in enumerate(("brightness", "saturation", "contrast"))}
    np.testing.assert_allclose(_np(augment.augment(x, draws, "color")),
                               reference(x, draws, "color"), atol=5e-6)


def test_translation_matches_the_reference_for_every_shift():
    rx, ry = augment.translation_range(SHAPE[0]), augment.translation_range(SHAPE[1])
    assert (rx, ry) == (1, 2)
    shifts = np.array(list(itertools.product(range(-rx, rx + 1), range(-ry, ry + 1))), "int32")
    x = _images(len(shifts))
    got = _np(augment.translation(x, shifts[:, 0], shifts[:, 1]))
    expected = reference(x, {"translation": (shifts[:, 0], shifts[:, 1])}, "translation")
    np.testing.assert_array_equal(got, expected)
    # by hand for one image: content moves up by 1 and left by 2, zeros come in
    i = len(shifts) - 1  # shift (1, 2)
    np.testing.assert_array_equal(got[i, :-1, :-2], x[i, 1:, 2:])
    assert not got[i, -1:].any() and not got[i, :, -2:].any()


def test_cutout_matches_the_reference_for_every_offset():
    nx, ny = augment.cutout_offset_range(SHAPE[0]), augment.cutout_offset_range(SHAPE[1])
    # sides 5 (odd: centres 0..9) and 6 (even: centres 0..12), as the reference draws them
    assert (augment.cutout_size(SHAPE[0]), augment.cutout_size(SHAPE[1]), nx, ny) == (5, 6, 10, 13)
    offsets = np.array(list(itertools.product(range(nx), range(ny))), "int32")
    x = _images(len(offsets))
    got = _np(augment.cutout(x, offsets[:, 0], offsets[:, 1]))
    expected = reference(x, {"cutout": (offsets[:, 0], offsets[:, 1])}, "cutout")
    np.testing.assert_array_equal(got, expected)


def test_the_whole_policy_matches_the_reference_on_random_draws():
    x = _images(8)
    draws = augment.random_draws(x, seed=keras.random.SeedGenerator(1))
    assert set(draws) == {"brightness", "saturation", "contrast", "translation", "cutout"}
    np.testing.assert_allclose(_np(augment.augment(x, draws)), reference(x, _numpy_draws(draws)),
                               atol=1e-5)
    # diff_augment is random_draws then augment, with the same seed state
    np.testing.assert_array_equal(
        _np(augment.diff_augment(x, seed=keras.random.SeedGenerator(1))),
        _np(augment.augment(x, draws)))


def test_draws_cover_the_reference_ranges():
    x = np.zeros((512, *SHAPE), "float32")
    draws = _numpy_draws(augment.random_draws(x, seed=keras.random.SeedGenerator(2)))
    for name in ("brightness", "saturation", "contrast"):
        assert draws[name].shape == (512,) and 0 <= draws[name].min() and draws[name].max() < 1
        assert 0.4 < draws[name].mean() < 0.6
    assert set(draws["translation"][0]) == {-1, 0, 1}
    assert set(draws["translation"][1]) == {-2, -1, 0, 1, 2}
    assert set(draws["cutout"][0]) == set(range(10))
    assert set(draws["cutout"][1]) == set(range(13))
    # the paper's 64 px: shifts up to 8, a 32 px square centred anywhere in 0..64
    assert (augment.translation_range(64), augment.cutout_size(64),
            augment.cutout_offset_range(64)) == (8, 32, 65)


# ---- the probability p ----


def test_p_zero_is_exactly_the_identity():
    x = _images(8)
    for p in (0.0, 0, ops.convert_to_tensor(0.0), keras.Variable(0.0, trainable=False)):
        got = augment.diff_augment(x, seed=keras.random.SeedGenerator(3), p=p)
        np.testing.assert_array_equal(_np(got), x)


def test_p_chooses_whole_images():
    x = _images(8)
    draws = augment.random_draws(x, seed=keras.random.SeedGenerator(4))
    everything = _np(augment.augment(x, draws))
    chosen = np.array([True, False, True, True, False, False, True, False])
    got = _np(augment.augment(x, {**draws, "apply": ops.convert_to_tensor(chosen)}))
    np.testing.assert_array_equal(got[chosen], everything[chosen])
    np.testing.assert_array_equal(got[~chosen], x[~chosen])
    # p as a tensor 1: the same draws come first, then every image is chosen
    np.testing.assert_array_equal(
        _np(augment.diff_augment(x, seed=keras.random.SeedGenerator(4),
                                 p=ops.convert_to_tensor(1.0))),
        everything)
    # the fraction augmented is p (2000 draws: standard error 0.01)
    apply = _np(augment.random_draws(np.zeros((2000, 4, 4, 1), "float32"), policy="",
                                     seed=keras.random.SeedGenerator(5), p=0.3)["apply"])
    assert abs(apply.mean() - 0.3) < 0.04


# ---- differentiability, shapes, policies ----


def test_gradient_of_translation_is_the_inverse_shift():
    x = _images(8)
    w = _images(8, seed=1)
    sx = np.array([1, -1, 0, 1, 0, -1, 1, 0], "int32")
    sy = np.array([2, 0, -2, -1, 1, 2, -2, 0], "int32")
    got = _np(backend.input_gradients(
        lambda x: ops.convert_to_tensor(w) * augment.translation(x, sx, sy),
        ops.convert_to_tensor(x)))
    # d/dx sum_ij w[i, j] x[i + sx, j + sy] = w shifted back by (sx, sy), zero where unseen
    expected = np.zeros_like(w)
    h, wd = SHAPE[:2]
    for b in range(8):
        for i, j in itertools.product(range(h), range(wd)):
            if 0 <= i + sx[b] < h and 0 <= j + sy[b] < wd:
                expected[b, i + sx[b], j + sy[b]] = w[b, i, j]
    np.testing.assert_array_equal(got, expected)


def test_gradient_of_the_whole_policy_is_its_linear_map():
    # With its draws fixed, T(x) = A x + c is affine in x, so <grad sum(w T(x)), v> equals
    # sum(w (T(x + v) - T(x))) for any direction v.
    x, w, v = _images(8), _images(8, seed=1), _images(8, seed=2)
    draws = augment.random_draws(x, seed=keras.random.SeedGenerator(6), p=0.5)
    grad = _np(backend.input_gradients(
        lambda x: ops.convert_to_tensor(w) * augment.augment(x, draws), ops.convert_to_tensor(x)))
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0
    change = _np(augment.augment(x + v, draws)) - _np(augment.augment(x, draws))
    np.testing.assert_allclose(np.sum(grad * v), np.sum(w * change), rtol=1e-4)


def test_shapes_and_dtype_are_kept():
    shape = (3, 16, 12, 1)  # one channel, another size (the other tests take 10 x 12 x 3)
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
    y = augment.diff_augment(x, seed=keras.random.SeedGenerator(0), p=0.5)
    assert tuple(y.shape) == shape and keras.backend.standardize_dtype(y.dtype) == "float32"


def test_policies_are_checked():
    x = _images(8)
    np.testing.assert_array_equal(_np(augment.diff_augment(x, policy="", seed=0)), x)
    assert augment.parse_policy(" color , cutout") == (
        "brightness", "saturation", "contrast", "cutout")
    with pytest.raises(ValueError, match="'colour'"):
        augment.diff_augment(x, policy="colour,translation")
    with pytest.raises(ValueError, match="known height and width"):
        augment.diff_augment(np.zeros((2, 8, 3), "float32"))


# ---- inside compiled steps ----


class _Augmented(keras.layers.Layer):
    """DiffAugment in training only, with its own seed and a p variable (as a GAN holds them)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(0)

    def build(self, input_shape):
        self.p = self.add_weight(shape=(), initializer=keras.initializers.Constant(0.5),
                                 trainable=False, name="p")

    def call(self, x, training=False):
        return augment.diff_augment(x, seed=self.seed_generator, p=self.p) if training else x


def test_runs_inside_fit():
    model = keras.Sequential([keras.Input((8, 8, 3)), _Augmented(), keras.layers.Flatten(),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    state = _np(model.layers[0].seed_generator.state).copy()
    history = model.fit(_images(8, (8, 8, 3)), np.zeros((8, 1), "float32"), batch_size=4,
                        epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not np.array_equal(_np(model.layers[0].seed_generator.state), state)


@pytest.mark.only_backend("jax")
def test_runs_under_jax_jit_with_the_seed_state_passed_in_and_out():
    import jax

    x, w = _images(8), _images(8, seed=1)
    seed = keras.random.SeedGenerator(7)

    @jax.jit
    def step(x, state, p):
        with keras.StatelessScope(state_mapping=[(seed.state, state)]) as scope:
            draws = augment.random_draws(x, seed=seed, p=p)
            y = augment.augment(x, draws)
            grad = jax.grad(lambda x: (w * augment.augment(x, draws)).sum())(x)
        return y, grad, scope.get_current_value(seed.state)

    y, grad, state = step(x, seed.state.value, 0.5)
    eager = augment.diff_augment(x, seed=keras.random.SeedGenerator(7), p=0.5)
    np.testing.assert_allclose(np.asarray(y), _np(eager), atol=1e-6)
    assert np.isfinite(np.asarray(grad)).all()
    assert not np.array_equal(np.asarray(state), _np(seed.state))


@pytest.mark.only_backend("tensorflow")
def test_runs_in_a_tf_function_with_an_unknown_batch_size():
    import tensorflow as tf

    x = _images(4)
    spec = [tf.TensorSpec((None, *SHAPE), tf.float32)]
    for jit in (False, True):
        seed = keras.random.SeedGenerator(8)

        @tf.function(jit_compile=jit, input_signature=spec)
        def f(x):
            draws = augment.random_draws(x, seed=seed, p=0.5)
            return draws, augment.augment(x, draws)

        draws, y = f(x)
        np.testing.assert_allclose(y.numpy(), _np(augment.augment(x, draws)), atol=1e-6)
        if not jit:  # XLA's stateless random floats differ from TF's kernels, by design
            eager = augment.diff_augment(x, seed=keras.random.SeedGenerator(8), p=0.5)
            np.testing.assert_array_equal(y.numpy(), _np(eager))


# ---- ADA ----


def test_overfitting_heuristic_is_the_mean_sign():
    logits = np.array([[2.0], [-1.0], [0.5], [0.0]], "float32")
    assert float(_np(augment.overfitting_heuristic(logits))) == pytest.approx(0.25)


def test_ada_adjust_moves_p_by_one_step_towards_the_target():
    step = 64 * 4 / 500_000  # batch 64, every 4 steps, 500k images from 0 to 1
    p = keras.Variable(0.5, trainable=False)
    up = float(_np(augment.ada_adjust(p, 0.9, batch_size=64)))
    down = float(_np(augment.ada_adjust(p, ops.convert_to_tensor(0.2), batch_size=64)))
    same = float(_np(augment.ada_adjust(p, 0.6, batch_size=64)))
    assert up == pytest.approx(0.5 + step, abs=1e-7)
    assert down == pytest.approx(0.5 - step, abs=1e-7)
    assert same == 0.5
    assert float(_np(augment.ada_adjust(0.1, 1.0, batch_size=8, interval=2, speed_images=100))) \
        == pytest.approx(0.1 + 0.16)
    # p stays in [0, 1]
    assert float(_np(augment.ada_adjust(0.9999, 1.0, batch_size=64))) == 1.0
    assert float(_np(augment.ada_adjust(0.0001, -1.0, batch_size=64))) == 0.0
    p.assign(augment.ada_adjust(p, 0.9, batch_size=64))
    assert float(_np(p)) == pytest.approx(0.5 + step, abs=1e-7)
    with pytest.raises(ValueError, match="batch_size"):
        augment.ada_adjust(0.5, 0.7, batch_size=0)
