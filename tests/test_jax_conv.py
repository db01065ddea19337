"""`kerasgen.backend.jax_conv.conv_transpose`: forward, both gradients and second-order
gradients equal plain JAX autodiff of `keras.ops.conv_transpose`; unsupported arguments raise."""

import numpy as np
import pytest
import keras

# jax_conv is the JAX backend's transposed convolution: these run in the jax pass of the suite
# and are deselected (not skipped) in the others, see conftest.py.
pytestmark = [pytest.mark.backend, pytest.mark.only_backend("jax")]

if keras.backend.backend() == "jax":
    import jax
    import jax.numpy as jnp

    from kerasgen.backend import jax_conv

RTOL = 1e-5


def _close(actual, expected, rtol=RTOL):
    """Max abs difference relative to the largest magnitude of the reference (float32 sums of
    hundreds of products reorder; elementwise rtol would flag values that cancel to ~0)."""
    actual, expected = np.asarray(actual, "float64"), np.asarray(expected, "float64")
    assert actual.shape == expected.shape
    scale = np.max(np.abs(expected))
    assert scale > 0
    err = np.max(np.abs(actual - expected)) / scale
    assert err < rtol, f"relative error {err:.2e} >= {rtol:.0e}"


def _inputs(batch, size, in_channels, out_channels, kernel=(4, 4), seed=0):
    if isinstance(size, int):
        size = (size, size)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *size, in_channels)).astype("float32")
    w = (rng.standard_normal((*kernel, out_channels, in_channels)) * 0.1).astype("float32")
    return jnp.asarray(x), jnp.asarray(w)


def _reference(x, w, strides, padding):
    return keras.ops.conv_transpose(x, w, strides=strides, padding=padding)


def _check_against_autodiff(x, w, strides, padding):
    ours = lambda x, w: jax_conv.conv_transpose(x, w, strides, padding)
    ref = lambda x, w: _reference(x, w, strides, padding)
    y = ours(x, w)
    y_ref = ref(x, w)
    assert y.shape == y_ref.shape
    # Strided with >= 8 output channels on CPU, the forward sums the same products per output
    # phase (`_phase_conv_transpose`), in another order; otherwise it is Keras' very lax call.
    if jax_conv._phases_are_faster(jax_conv._check(x.shape, w.shape, strides, padding, None,
                                                   None, 1)[0], w.shape[2]):
        _close(y, y_ref)
    else:
        np.testing.assert_array_equal(np.asarray(y), np.asarray(y_ref))

    dy = jnp.asarray(np.random.default_rng(1).standard_normal(y.shape).astype("float32"))
    _, pullback = jax.vjp(jax.jit(ours), x, w)
    _, pullback_ref = jax.vjp(ref, x, w)
    dx, dw = pullback(dy)
    dx_ref, dw_ref = pullback_ref(dy)
    _close(dx, dx_ref)
    _close(dw, dw_ref)


# Kernel 4, stride 2, "same": every transposed convolution of the DCGAN networks.
@pytest.mark.parametrize(
    "batch, size, in_channels, out_channels",
    [
        (2, 4, 32, 16),   # the generator's first block, scaled down
        (3, 8, 16, 8),
        (2, 16, 8, 3),    # the output layer: 3 channels
        (1, 5, 4, 6),     # odd size
        (2, (6, 3), 5, 7),  # non-square
        (4, 1, 8, 8),     # 1x1 -> 2x2
    ],
)
def test_kernel4_stride2_same_matches_autodiff(batch, size, in_channels, out_channels):
    x, w = _inputs(batch, size, in_channels, out_channels)
    _check_against_autodiff(x, w, 2, "same")


@pytest.mark.parametrize(
    "kernel, strides, padding",
    [
        ((4, 4), 2, "valid"),
        ((3, 3), 1, "same"),
        ((3, 3), 2, "same"),
        ((5, 5), 2, "same"),
        ((2, 2), 2, "same"),
        ((2, 2), 2, "valid"),
        ((3, 3), 3, "valid"),
        ((1, 1), 1, "valid"),
        ((3, 5), (1, 2), "same"),
        ((4, 3), (2, 3), "valid"),
        ((5, 5), 4, "same"),
    ],
)
def test_other_supported_combinations_match_autodiff(kernel, strides, padding):
    x, w = _inputs(2, (7, 6), 5, 4, kernel=kernel, seed=3)
    _check_against_autodiff(x, w, strides, padding)


@pytest.mark.parametrize(
    "kernel, strides, padding, size",
    [
        ((4, 4), 2, "same", (7, 6)), ((4, 4), 2, "valid", (7, 6)), ((3, 3), 2, "same", (7, 6)),
        ((5, 5), 2, "same", (5, 5)), ((2, 2), 2, "valid", (5, 5)), ((3, 3), 3, "valid", (4, 6)),
        ((3, 5), (1, 2), "same", (7, 6)), ((4, 3), (2, 3), "valid", (7, 6)),
        ((5, 5), 4, "same", (3, 4)), ((4, 4), 2, "same", (1, 1)), ((2, 2), 3, "valid", (3, 3)),
    ],
)
@pytest.mark.parametrize("out_channels", [3, 8])
def test_phase_decomposition_equals_the_dilated_convolution(kernel, strides, padding, size,
                                                            out_channels):
    # Every output phase, including phases no kernel tap reaches (kernel 2, stride 3) and
    # output sizes that are not a multiple of the stride ("valid").
    from kerasgen.backend.conv_args import keras_padding
    from kerasgen.backend.conv_args import pair

    x, w = _inputs(2, size, 5, out_channels, kernel=kernel, seed=4)
    strides_pair = pair(strides, "strides")
    lax_padding = tuple(keras_padding(k, s, padding) for k, s in zip(kernel, strides_pair))
    y = jax.jit(jax_conv._phase_conv_transpose, static_argnums=(2, 3))(
        x, w, strides_pair, lax_padding)
    _close(y, _reference(x, w, strides, padding))


def test_dcgan_layer_shape_matches_autodiff():
    # Batch 8 of the 64 px generator's third block (16x16x128 -> 32x32x64).
    x, w = _inputs(8, 16, 128, 64)
    _check_against_autodiff(x, w, 2, "same")


def test_conv2d_transpose_layer_call_matches():
    layer = keras.layers.Conv2DTranspose(6, 4, strides=2, padding="same", use_bias=False)
    x, _ = _inputs(2, 5, 3, 6)
    expected = layer(x)
    # The layer hands its kernel over as a keras.Variable, as ops.conv_transpose receives it.
    actual = jax_conv.conv_transpose(x, layer.kernel, layer.strides, layer.padding)
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected))


def test_second_order_gradients_match_autodiff():
    # A gradient penalty differentiates a gradient: reverse over reverse through the custom VJP.
    x, w = _inputs(2, 4, 3, 2)

    def penalty(conv):
        def f(x, w):
            g = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, w, 2, "same"))))(x)
            return jnp.sum(g**2)
        return jax.grad(f, argnums=(0, 1))(x, w)

    ours = penalty(jax_conv.conv_transpose)
    ref = penalty(lambda x, w, s, p: _reference(x, w, s, p))
    _close(ours[0], ref[0], 1e-4)
    _close(ours[1], ref[1], 1e-4)


def test_gradient_in_a_jitted_loss():
    x, w = _inputs(2, 4, 6, 5)
    loss = lambda conv: jax.jit(
        jax.grad(lambda w: jnp.mean(conv(x, w, 2, "same") ** 2))
    )(w)
    _close(loss(jax_conv.conv_transpose), loss(lambda x, w, s, p: _reference(x, w, s, p)))


def test_keras_padding_is_what_keras_computes():
    from kerasgen.backend import conv_args
    from keras.src.backend.common.backend_utils import (
        _convert_conv_transpose_padding_args_from_keras_to_jax as keras_pads,
    )

    for k in range(1, 7):
        for s in range(1, 5):
            for padding in ("same", "valid"):
                assert conv_args.keras_padding(k, s, padding) == tuple(
                    keras_pads(k, s, 1, padding, None)
                ), (k, s, padding)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"strides": 3, "padding": "same", "kernel": (2, 2)}, "negative"),
        ({"strides": 4, "padding": "valid", "kernel": (3, 3)}, "negative"),
        ({"strides": 2, "padding": "causal"}, "padding"),
        ({"strides": 2, "padding": "same", "output_padding": 1}, "output_padding"),
        ({"strides": 2, "padding": "same", "dilation_rate": 2}, "dilation_rate"),
        ({"strides": 2, "padding": "same", "data_format": "channels_first"}, "channels_last"),
        ({"strides": (2, 2, 2), "padding": "same"}, "strides"),
    ],
)
def test_unsupported_arguments_raise_clearly(kwargs, message):
    kernel = kwargs.pop("kernel", (4, 4))
    x, w = _inputs(1, 4, 3, 2, kernel=kernel)
    assert not jax_conv.is_supported(x.shape, w.shape, **kwargs)
    with pytest.raises(jax_conv.UnsupportedConvTranspose, match=message):
        jax_conv.conv_transpose(x, w, **kwargs)
    assert issubclass(jax_conv.UnsupportedConvTranspose, ValueError)


def test_supported_arguments_are_reported_supported():
    assert jax_conv.is_supported((64, 16, 16, 128), (4, 4, 64, 128), 2, "same")
    assert jax_conv.is_supported((1, 3, 3, 1), (3, 3, 1, 1), (1, 1), "VALID")


def test_channel_mismatch_raises():
    x, _ = _inputs(1, 4, 3, 2)
    _, w = _inputs(1, 4, 5, 2)
    with pytest.raises(ValueError, match="channels"):
        jax_conv.conv_transpose(x, w, 2, "same")


# ---- the strided convolution whose input gradient is the fast transposed convolution ---------


def _conv_inputs(batch, size, in_channels, out_channels, kernel=(4, 4), seed=0):
    x, w = _inputs(batch, size, in_channels, out_channels, kernel, seed)
    return x, jnp.transpose(w, (0, 1, 3, 2))  # Conv2D kernel: (kh, kw, in, out)


def _conv_reference(x, w, strides, padding):
    return keras.ops.conv(x, w, strides=strides, padding=padding)


@pytest.mark.parametrize(
    "size, kernel, strides, padding",
    [
        (16, (4, 4), 2, "same"),    # every convolution of the DCGAN/WGAN-GP critics
        ((6, 8), (4, 4), 2, "same"),
        (7, (3, 3), 2, "same"),
        (7, (3, 3), 2, "valid"),
        ((9, 7), (3, 5), (2, 1), "same"),
    ],
)
def test_conv_matches_autodiff_to_second_order(size, kernel, strides, padding):
    x, w = _conv_inputs(2, size, 5, 4, kernel=kernel, seed=4)
    assert jax_conv.is_conv_supported(x.shape, w.shape, strides, padding)
    ours = lambda x, w: jax_conv.conv(x, w, strides, padding)
    ref = lambda x, w: _conv_reference(x, w, strides, padding)
    # Forward: the very lax convolution Keras computes, with the pads spelled out.
    np.testing.assert_array_equal(np.asarray(ours(x, w)), np.asarray(ref(x, w)))

    dy = jnp.asarray(np.random.default_rng(5).standard_normal(ref(x, w).shape), "float32")
    (dx, dw), (dx_ref, dw_ref) = (jax.vjp(jax.jit(f), x, w)[1](dy) for f in (ours, ref))
    _close(dx, dx_ref)
    _close(dw, dw_ref)

    def penalty(conv):  # WGAN-GP's shape: the gradient of a gradient norm
        def f(x, w):
            g = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, w))))(x)
            return jnp.sum((jnp.sqrt(jnp.sum(g**2, axis=(1, 2, 3)) + 1e-12) - 1.0) ** 2)
        return jax.jit(jax.grad(f, argnums=(0, 1)))(x, w)

    for a, b in zip(penalty(ours), penalty(ref)):
        _close(a, b, 1e-4)


@pytest.mark.parametrize(
    "size, kernel, strides, padding, data_format, message",
    [
        (8, (3, 3), 2, "valid", None, "autodiff"),    # 8 -> 3 drops the last row
        (7, (2, 2), 3, "valid", None, "autodiff"),    # 7 -> 2 drops the last row
        (8, (4, 4), 2, "causal", None, "padding"),
        (8, (4, 4), 2, "same", "channels_first", "channels_last"),
    ],
)
def test_conv_unsupported_arguments_fall_back(size, kernel, strides, padding, data_format,
                                              message):
    x, w = _conv_inputs(1, size, 3, 2, kernel=kernel)
    assert not jax_conv.is_conv_supported(x.shape, w.shape, strides, padding, data_format)
    with pytest.raises(jax_conv.UnsupportedConvTranspose, match=message):
        jax_conv.conv(x, w, strides, padding, data_format)
    # kerasgen.backend.conv then computes keras.ops.conv itself.
    from kerasgen import backend

    if data_format is None and padding != "causal":
        np.testing.assert_array_equal(np.asarray(backend.conv(x, w, strides, padding)),
                                      np.asarray(_conv_reference(x, w, strides, padding)))


def test_conv_pads_are_what_lax_computes():
    from jax import lax

    from kerasgen.backend import conv_args

    for size in range(1, 12):
        for k in range(1, 7):
            for s in range(1, 5):
                for padding in ("same", "valid"):
                    if padding == "valid" and k > size:
                        continue
                    assert conv_args.conv_pads((1, size, size + 1, 1), (k, k, 1, 1), (s, s),
                                               padding) == tuple(
                        tuple(p) for p in lax.padtype_to_pads(
                            (size, size + 1), (k, k), (s, s), padding.upper())
                    ), (size, k, s, padding)


def test_conv_grouped_kernel_is_left_to_keras():
    x, _ = _conv_inputs(1, 8, 4, 2)
    w = jnp.zeros((3, 3, 2, 6))  # two groups of 2 input channels
    assert not jax_conv.is_conv_supported(x.shape, w.shape, 1, "same")
