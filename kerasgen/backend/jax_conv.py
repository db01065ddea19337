"""A transposed convolution for JAX whose kernel gradient XLA:CPU computes quickly.

`keras.ops.conv_transpose` on JAX is `lax.conv_transpose`: a convolution of the *input dilated*
by the stride. Autodiff then computes the kernel gradient as another input-dilated
convolution, which XLA:CPU runs 25-50x slower than the same numbers computed another way
(about 0.7-0.8 s per DCGAN layer at batch 64 against 15-30 ms; upstream jax-ml/jax#23783,
jax-ml/jax#31662).

A transposed convolution is the adjoint (transpose) of a strided convolution with the same
kernel: for `y = conv_transpose(x, w)` there is a strided convolution `conv(., w)` with

    <conv_transpose(x, w), dy> = <x, conv(dy, w)>    for every x, dy.

So its VJP is exact and fast in terms of that strided convolution:

    dx = conv(dy, w)                          (a plain strided convolution)
    dw = d<x, conv(dy, w)>/dw                 (that convolution's filter gradient)

`conv_transpose` below computes the forward pass exactly as Keras does (the same `lax` call)
and uses that backward pass. With `lax.conv_transpose` padding `(lo, hi)` along an axis of
kernel size `k`, the adjoint convolution's padding is `(k - 1 - lo, k - 1 - hi)`, and it maps the
output size back to the input size exactly for every stride; it is used only where both pads are
>= 0 (Keras' "same" with stride <= kernel size, "valid" with stride <= kernel size, which covers
every DCGAN layer). Other arguments raise `UnsupportedConvTranspose`; check `is_supported` first
to fall back to `keras.ops.conv_transpose`.

Reverse-over-reverse differentiation (a gradient penalty through a transposed convolution)
works: the backward pass is plain `lax` and differentiable. Forward-mode (`jax.jvp`,
`jax.jacfwd`) does not, as for any `jax.custom_vjp` function.
"""

import functools

import jax
import keras
from jax import lax

# NHWC images, kernels as Keras stores a Conv2DTranspose kernel: (kh, kw, out, in). Read as
# HWIO, that is exactly the kernel of the adjoint convolution (out channels -> in channels).
_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


class UnsupportedConvTranspose(ValueError):
    """The arguments are outside what `conv_transpose` computes exactly; use
    `keras.ops.conv_transpose` instead."""


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise UnsupportedConvTranspose(
            f"{name} must be an int or a pair of ints for a 2D transposed convolution; "
            f"received {name}={value!r}."
        )
    return value


def keras_padding(kernel_size, stride, padding):
    """The `lax.conv_transpose` padding `(lo, hi)` that Keras uses along one axis (dilation 1,
    no output_padding), as `keras.src.backend.common.backend_utils` computes it."""
    if padding == "valid":
        # Output size (input - 1) * stride + max(kernel_size, stride).
        return (kernel_size - 1, kernel_size - 1 + max(kernel_size, stride) - kernel_size)
    # "same": output size input * stride.
    pad_len = stride + kernel_size - 2
    lo = min(pad_len // 2 + pad_len % 2, kernel_size - 1)
    return (lo, pad_len - lo)


def _check(x_shape, kernel_shape, strides, padding, output_padding, data_format, dilation_rate):
    """Validates the arguments; returns (strides, lax padding, adjoint padding)."""
    if len(x_shape) != 4 or len(kernel_shape) != 4:
        raise UnsupportedConvTranspose(
            "conv_transpose supports 2D inputs (batch, height, width, channels) and kernels "
            f"(kh, kw, out_channels, in_channels); received input shape {tuple(x_shape)} and "
            f"kernel shape {tuple(kernel_shape)}."
        )
    if data_format not in (None, "channels_last"):
        raise UnsupportedConvTranspose(
            f"conv_transpose supports data_format='channels_last' only; received {data_format!r}."
        )
    if output_padding is not None:
        raise UnsupportedConvTranspose(
            f"conv_transpose supports output_padding=None only; received {output_padding!r}."
        )
    if _pair(dilation_rate, "dilation_rate") != (1, 1):
        raise UnsupportedConvTranspose(
            f"conv_transpose supports dilation_rate=1 only; received {dilation_rate!r}."
        )
    if x_shape[-1] != kernel_shape[-1]:
        raise ValueError(
            f"The input has {x_shape[-1]} channels but the kernel (kh, kw, out, in) expects "
            f"{kernel_shape[-1]}; input shape {tuple(x_shape)}, kernel shape {tuple(kernel_shape)}."
        )
    strides = _pair(strides, "strides")
    if not isinstance(padding, str) or padding.lower() not in ("same", "valid"):
        raise UnsupportedConvTranspose(
            f"padding must be 'same' or 'valid'; received {padding!r}."
        )
    padding = padding.lower()
    lax_padding, adjoint_padding = [], []
    for k, s in zip(kernel_shape[:2], strides):
        if s < 1:
            raise UnsupportedConvTranspose(f"strides must be >= 1; received {strides!r}.")
        lo, hi = keras_padding(k, s, padding)
        if k - 1 - lo < 0 or k - 1 - hi < 0:
            raise UnsupportedConvTranspose(
                f"conv_transpose computes kernel size {k} with stride {s} and padding "
                f"{padding!r} only through autodiff (its adjoint convolution would need negative "
                "padding); use keras.ops.conv_transpose."
            )
        lax_padding.append((lo, hi))
        adjoint_padding.append((k - 1 - lo, k - 1 - hi))
    return strides, tuple(lax_padding), tuple(adjoint_padding)


def is_supported(x_shape, kernel_shape, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1):
    """True if `conv_transpose` accepts these arguments (else call `keras.ops.conv_transpose`)."""
    try:
        _check(tuple(x_shape), tuple(kernel_shape), strides, padding, output_padding,
               data_format, dilation_rate)
    except UnsupportedConvTranspose:
        return False
    return True


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
    # The very call keras.src.backend.jax.nn.conv_transpose makes.
    return lax.conv_transpose(
        x, kernel, strides, padding=lax_padding, dimension_numbers=_DIMENSION_NUMBERS,
        transpose_kernel=True,
    )


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
