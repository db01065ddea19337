"""The arguments of kerasgen's own convolutions (`jax_conv`, `torch_conv`): which Keras
`conv`/`conv_transpose` calls they compute exactly, and the explicit paddings those are.

Pure Python, no backend imports. Anything outside the supported set raises
`UnsupportedConvTranspose` (a `ValueError`), and `kerasgen.backend` then calls Keras' own op.
"""


class UnsupportedConvTranspose(ValueError):
    """The arguments are outside what `conv_transpose` computes exactly; use
    `keras.ops.conv_transpose` instead."""


def pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise UnsupportedConvTranspose(
            f"{name} must be an int or a pair of ints for a 2D transposed convolution; "
            f"received {name}={value!r}."
        )
    return value


def supported(check, x_shape, kernel_shape, *args):
    """True if `check(x_shape, kernel_shape, *args)` accepts the arguments (no
    `UnsupportedConvTranspose`): the `is_supported` of each backend's own convolution."""
    try:
        check(tuple(x_shape), tuple(kernel_shape), *args)
    except UnsupportedConvTranspose:
        return False
    return True


def _check_layout(op, x_shape, kernel_shape, kernel_layout, data_format, dilation_rate):
    """The checks `conv` and `conv_transpose` share: 2D NHWC, dilation 1."""
    if len(x_shape) != 4 or len(kernel_shape) != 4:
        raise UnsupportedConvTranspose(
            f"{op} supports 2D inputs (batch, height, width, channels) and kernels "
            f"{kernel_layout}; received input shape {tuple(x_shape)} and kernel shape "
            f"{tuple(kernel_shape)}."
        )
    if data_format not in (None, "channels_last"):
        raise UnsupportedConvTranspose(
            f"{op} supports data_format='channels_last' only; received {data_format!r}."
        )
    if pair(dilation_rate, "dilation_rate") != (1, 1):
        raise UnsupportedConvTranspose(
            f"{op} supports dilation_rate=1 only; received {dilation_rate!r}."
        )


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


def check_conv_transpose(x_shape, kernel_shape, strides, padding, output_padding, data_format,
                         dilation_rate):
    """Validates the arguments; returns (strides, lax padding, adjoint padding)."""
    _check_layout("conv_transpose", x_shape, kernel_shape, "(kh, kw, out_channels, in_channels)",
                  data_format, dilation_rate)
    if output_padding is not None:
        raise UnsupportedConvTranspose(
            f"conv_transpose supports output_padding=None only; received {output_padding!r}."
        )
    if x_shape[-1] != kernel_shape[-1]:
        raise ValueError(
            f"The input has {x_shape[-1]} channels but the kernel (kh, kw, out, in) expects "
            f"{kernel_shape[-1]}; input shape {tuple(x_shape)}, kernel shape {tuple(kernel_shape)}."
        )
    strides = pair(strides, "strides")
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


def conv_pads(x_shape, kernel_shape, strides, padding):
    """The explicit `(lo, hi)` pads per spatial axis of Keras' "same"/"valid" convolution
    (dilation 1): what `lax.padtype_to_pads` gives for JAX and Keras' torch `conv` computes."""
    pads = []
    for size, k, s in zip(x_shape[1:3], kernel_shape[:2], strides):
        if padding.lower() == "valid":
            pads.append((0, 0))
            continue
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def check_conv(x_shape, kernel_shape, strides, padding, data_format, dilation_rate):
    """Validates `conv`'s arguments; returns (strides, pads, the adjoint's lax padding)."""
    _check_layout("conv", x_shape, kernel_shape, "(kh, kw, in_channels, out_channels)",
                  data_format, dilation_rate)
    if x_shape[-1] != kernel_shape[-2]:  # grouped convolutions included
        raise UnsupportedConvTranspose(
            f"conv supports groups=1 only: the input has {x_shape[-1]} channels and the kernel "
            f"(kh, kw, in, out) {kernel_shape[-2]}; input shape {tuple(x_shape)}, kernel shape "
            f"{tuple(kernel_shape)}."
        )
    strides = pair(strides, "strides")
    if not isinstance(padding, str) or padding.lower() not in ("same", "valid"):
        raise UnsupportedConvTranspose(f"padding must be 'same' or 'valid'; received {padding!r}.")
    pads = conv_pads(x_shape, kernel_shape, strides, padding)
    transpose_pads = []
    for size, k, s, (lo, hi) in zip(x_shape[1:3], kernel_shape[:2], strides, pads):
        out = (size + lo + hi - k) // s + 1
        # The adjoint (a transposed convolution) must give back the input's size exactly, with
        # pads >= 0 ("same"/"valid" never pad more than k - 1); otherwise the strided
        # convolution drops trailing rows, which `_conv_transpose` does not restore.
        if k - 1 - lo < 0 or k - 1 - hi < 0 or (out - 1) * s + k - lo - hi != size:
            raise UnsupportedConvTranspose(
                f"conv computes kernel size {k}, stride {s}, padding {padding!r} on size {size} "
                "only through autodiff; use keras.ops.conv."
            )
        transpose_pads.append((k - 1 - lo, k - 1 - hi))
    return strides, pads, tuple(transpose_pads)


