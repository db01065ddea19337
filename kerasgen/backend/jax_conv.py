"""Convolutions for JAX whose gradients XLA:CPU computes quickly.

`keras.ops.conv_transpose` on JAX is `lax.conv_transpose`: a convolution of the *input dilated*
by the stride. Autodiff then computes the kernel gradient as another input-dilated
convolution, which XLA:CPU runs far slower than the same numbers computed another way
(upstream jax-ml/jax#23783, jax-ml/jax#31662; timings in docs/performance.md).

A transposed convolution is the adjoint (transpose) of a strided convolution with the same
kernel: for `y = conv_transpose(x, w)` there is a strided convolution `conv(., w)` with

    <conv_transpose(x, w), dy> = <x, conv(dy, w)>    for every x, dy.

So its VJP is exact and fast in terms of that strided convolution:

    dx = conv(dy, w)                          (a plain strided convolution)
    dw = d<x, conv(dy, w)>/dw                 (that convolution's filter gradient)

`conv_transpose` below uses that backward pass. Its forward pass is Keras' own `lax` call,
except on XLA:CPU for strided layers with 8 or more output channels, where the input-dilated
convolution itself is the slow part: there it is computed as one plain convolution per output
phase (`_phase_conv_transpose`), the same sums without the multiplications by the dilation's
zeros. `conv`'s input gradient, a transposed convolution, takes the same path.

With `lax.conv_transpose` padding `(lo, hi)` along an axis of kernel size `k`, the adjoint
convolution's padding is `(k - 1 - lo, k - 1 - hi)`, and it maps the output size back to the
input size exactly for every stride; it is used only where both pads are >= 0 (Keras' "same"
with stride <= kernel size, "valid" with stride <= kernel size, which covers every DCGAN
layer). Other arguments raise `UnsupportedConvTranspose`; check `is_supported` first to fall
back to `keras.ops.conv_transpose`.

Reverse-over-reverse differentiation (a gradient penalty through a transposed convolution)
works: the backward pass is plain `lax` and differentiable. Forward-mode (`jax.jvp`,
`jax.jacfwd`) does not, as for any `jax.custom_vjp` function.

The same trouble hits a *strided convolution* differentiated twice, as a gradient penalty does
(WGAN-GP): its input gradient is a transposed convolution, and the penalty's gradient with
respect to the critic's kernels is then that transposed convolution's kernel gradient, the slow
input-dilated one. `conv` below is `keras.ops.conv` with the input gradient computed by the fast
`conv_transpose` above (the exact adjoint), so second-order gradients stay on the fast path.
"""

import functools

import jax
import jax.numpy as jnp
import keras
from jax import lax

from kerasgen.backend.conv_args import UnsupportedConvTranspose
from kerasgen.backend.conv_args import check_conv as _check_conv
from kerasgen.backend.conv_args import check_conv_transpose as _check
from kerasgen.backend.conv_args import supported

__all__ = ["UnsupportedConvTranspose", "conv", "conv_transpose", "is_conv_supported",
           "is_supported"]

# NHWC images, kernels as Keras stores a Conv2DTranspose kernel: (kh, kw, out, in). Read as
# HWIO, that is exactly the kernel of the adjoint convolution (out channels -> in channels).
_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def is_supported(x_shape, kernel_shape, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1):
    """True if `conv_transpose` accepts these arguments (else call `keras.ops.conv_transpose`)."""
    return supported(_check, x_shape, kernel_shape, strides, padding, output_padding,
                     data_format, dilation_rate)


def conv_transpose(x, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    """`keras.ops.conv_transpose(x, kernel, strides, padding)` on JAX, with a fast exact VJP.

    Args:
        x: `(batch, height, width, in_channels)`.
        kernel: `(kh, kw, out_channels, in_channels)`, the layout of a Keras
            `Conv2DTranspose` kernel.
        strides: int or pair.
        padding: `"same"` or `"valid"` (Keras' meaning: output size `input * stride`, or
            `(input - 1) * stride + max(kernel, stride)`).
        output_padding, data_format, dilation_rate: accepted for signature compatibility with
            `keras.ops.conv_transpose`; only `None`, `None`/`"channels_last"` and `1`.

    Returns:
        `(batch, out_height, out_width, out_channels)`, equal to `keras.ops.conv_transpose`.

    Raises:
        UnsupportedConvTranspose: (a `ValueError`) for arguments outside the above.
    """
    # Keras layers pass their kernel as a `keras.Variable`; take its value, as Keras does.
    x = keras.ops.convert_to_tensor(x)
    kernel = keras.ops.convert_to_tensor(kernel)
    strides, lax_padding, adjoint_padding = _check(
        tuple(x.shape), tuple(kernel.shape), strides, padding, output_padding, data_format,
        dilation_rate,
    )
    return _conv_transpose(x, kernel, strides, lax_padding, adjoint_padding)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_transpose(x, kernel, strides, lax_padding, adjoint_padding):
    if not _phases_are_faster(strides, kernel.shape[2]):  # the very call Keras makes
        return lax.conv_transpose(
            x, kernel, strides, padding=lax_padding, dimension_numbers=_DIMENSION_NUMBERS,
            transpose_kernel=True,
        )
    return _phase_conv_transpose(x, kernel, strides, lax_padding)


def _phases_are_faster(strides, out_channels):
    """Where `_phase_conv_transpose` beats `lax.conv_transpose`: strided, on XLA:CPU (GPUs run
    input-dilated convolutions natively), with 8 or more output channels (with 3, an RGB output
    layer, the phases' narrow convolutions cost more than the dilation saves)."""
    return (any(s > 1 for s in strides) and out_channels >= 8
            and jax.default_backend() == "cpu")


def _phase_conv_transpose(x, kernel, strides, lax_padding):
    """`lax.conv_transpose(x, kernel, strides, lax_padding, transpose_kernel=True)` without
    dilating the input.

    `lax.conv_transpose` correlates the input *dilated* by the stride (s - 1 zeros between
    pixels) with the flipped kernel, and XLA:CPU runs that input-dilated convolution several
    times slower than a plain one (docs/performance.md, benchmarks/conv_ops.py). Of the
    dilated input, an output pixel at position o = s * m + p (phase p) sees only the kernel taps
    t = t0 + s * r with t0 = (lo - p) mod s, at input pixels m + r + c with
    c = (p + t0 - lo) / s. So each of the s * s output phases is a plain stride-1 convolution of
    the undilated input with that phase's taps of the kernel, and the phases interleave into
    the output: the same sums (in another order) with none of the multiplications by zero.
    """
    flipped = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)  # (kh, kw, in, out): taps as correlated
    n, *spatial, _ = x.shape
    out_channels = kernel.shape[2]
    axes = []  # per spatial axis: output size, and per phase (t0, taps, pad lo, pad hi, length)
    for size, k, s, (lo, hi) in zip(spatial, kernel.shape[:2], strides, lax_padding):
        out = (size - 1) * s + 1 + lo + hi - k + 1
        longest = -(-out // s)
        phases = []
        for p in range(s):
            t0 = (lo - p) % s
            taps = max(0, -(-(k - t0) // s))
            length = max(0, -(-(out - p) // s))
            c = (p + t0 - lo) // s
            # Input pixels m + c .. m + c + taps - 1 for m < length, zeros outside the image.
            phases.append((t0, taps, -c, length + taps - 1 - (size - c), length))
        axes.append((out, longest, phases))
    (out_h, long_h, phases_h), (out_w, long_w, phases_w) = axes
    rows = []
    for t0_h, taps_h, lo_h, hi_h, len_h in phases_h:
        row = []
        for t0_w, taps_w, lo_w, hi_w, len_w in phases_w:
            if taps_h and taps_w and len_h and len_w:
                padded = lax.pad(x, jnp.zeros((), x.dtype),
                                 ((0, 0, 0), (lo_h, hi_h, 0), (lo_w, hi_w, 0), (0, 0, 0)))
                taps = flipped[t0_h::strides[0], t0_w::strides[1]]
                phase = lax.conv_general_dilated(padded, taps, (1, 1), "VALID",
                                                 dimension_numbers=_DIMENSION_NUMBERS)
            else:  # no tap of the kernel reaches this phase
                phase = jnp.zeros((n, len_h, len_w, out_channels), x.dtype)
            row.append(jnp.pad(phase, ((0, 0), (0, long_h - len_h), (0, long_w - len_w),
                                       (0, 0))))
        rows.append(jnp.stack(row, axis=3).reshape(n, long_h, long_w * strides[1], -1))
    y = jnp.stack(rows, axis=2).reshape(n, long_h * strides[0], long_w * strides[1], -1)
    return y[:, :out_h, :out_w]


def _adjoint_conv(dy, kernel, strides, adjoint_padding):
    """The strided convolution whose transpose is `_conv_transpose`: output size -> input size."""
    return lax.conv_general_dilated(
        dy, kernel, strides, adjoint_padding, dimension_numbers=_DIMENSION_NUMBERS
    )


def _forward(x, kernel, strides, lax_padding, adjoint_padding):
    return _conv_transpose(x, kernel, strides, lax_padding, adjoint_padding), (x, kernel)


def _backward(strides, lax_padding, adjoint_padding, residuals, dy):
    x, kernel = residuals
    # dx = adjoint(dy); dkernel = the adjoint convolution's filter gradient with cotangent x,
    # since <conv_transpose(x, w), dy> = <x, adjoint(dy, w)>.
    dx, pullback = jax.vjp(
        lambda w: _adjoint_conv(dy, w, strides, adjoint_padding), kernel
    )
    (dkernel,) = pullback(x.astype(dx.dtype))
    return dx.astype(x.dtype), dkernel.astype(kernel.dtype)


_conv_transpose.defvjp(_forward, _backward)


def is_conv_supported(x_shape, kernel_shape, strides=1, padding="valid", data_format=None,
                      dilation_rate=1):
    """True if `conv` accepts these arguments (else call `keras.ops.conv`)."""
    return supported(_check_conv, x_shape, kernel_shape, strides, padding, data_format,
                     dilation_rate)


def conv(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """`keras.ops.conv(x, kernel, strides, padding)` on JAX (NHWC, kernel (kh, kw, in, out)),
    whose input gradient is `conv_transpose`, so that its own gradients are fast too.

    Raises:
        UnsupportedConvTranspose: (a `ValueError`) for arguments `is_conv_supported` rejects.
    """
    x = keras.ops.convert_to_tensor(x)
    kernel = keras.ops.convert_to_tensor(kernel)
    strides, pads, transpose_pads = _check_conv(
        tuple(x.shape), tuple(kernel.shape), strides, padding, data_format, dilation_rate
    )
    return _conv(x, kernel, strides, pads, transpose_pads)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv(x, kernel, strides, pads, transpose_pads):
    return _adjoint_conv(x, kernel, strides, pads)


def _conv_forward(x, kernel, strides, pads, transpose_pads):
    return _conv(x, kernel, strides, pads, transpose_pads), (x, kernel)


def _conv_backward(strides, pads, transpose_pads, residuals, dy):
    x, kernel = residuals
    # dx: the transpose of this convolution, i.e. `_conv_transpose` of dy with the same kernel
    # (its adjoint convolution is this one); differentiable again on the fast path.
    dx = _conv_transpose(dy, kernel.astype(dy.dtype), strides, transpose_pads, pads)
    # dkernel: the usual filter gradient (a window-dilated convolution, fast on XLA:CPU).
    _, pullback = jax.vjp(lambda w: _adjoint_conv(x.astype(dy.dtype), w, strides, pads),
                          kernel.astype(dy.dtype))
    (dkernel,) = pullback(dy)
    return dx.astype(x.dtype), dkernel.astype(kernel.dtype)


_conv.defvjp(_conv_forward, _conv_backward)
