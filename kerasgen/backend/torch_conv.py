"""Convolutions for PyTorch that keep Keras' channels-last activations without copying them.

Keras' torch `conv` makes every NHWC input contiguous in NCHW (a copy) and then channels-last
again (a second copy), and converts the kernel each call; its `conv_transpose` computes the
full, unpadded output and crops it (extra work, and a strided result the next op copies). The
profile that found these copies is in docs/performance.md.

Here an NHWC tensor is handed to `torch.nn.functional.conv2d` / `conv_transpose2d` as the
NCHW view `x.permute(0, 3, 1, 2)`, which *is* a channels-last tensor in PyTorch's terms, so
oneDNN (and cuDNN) run their channels-last kernels on it and return a channels-last result,
whose NHWC view is contiguous again. A layer's bias is passed to that call too, so the kernel
adds it as it writes the output (Keras' layers add it afterwards: one more pass over the
output, and a reduction over it for the bias's gradient). Keras' padding is passed to torch
directly:

- `conv`: the "same"/"valid" pads when they are symmetric (every stride-2 "same" 4x4 layer
  on even sizes);
- `conv_transpose`: torch's `padding = k - 1 - lo` and `output_padding = hi_crop - lo_crop`
  from Keras' lax padding `(lo, hi)`, where `0 <= output_padding < stride`.

The numbers are Keras' (the same convolution, summed in the kernel's order); arguments outside
that set raise `UnsupportedConvTranspose` and `kerasgen.backend` calls Keras' op.
"""

import keras
from torch.nn import functional as F

from kerasgen.backend.conv_args import UnsupportedConvTranspose, check_conv, check_conv_transpose
from kerasgen.backend.conv_args import supported


def _torch_conv_padding(x_shape, kernel_shape, strides, padding, data_format, dilation_rate):
    strides, pads, _ = check_conv(x_shape, kernel_shape, strides, padding, data_format,
                                  dilation_rate)
    if any(lo != hi for lo, hi in pads):
        raise UnsupportedConvTranspose(
            f"conv passes symmetric padding to torch only; Keras pads {pads} here."
        )
    return strides, [lo for lo, _ in pads]


def _torch_conv_transpose_padding(x_shape, kernel_shape, strides, padding, output_padding,
                                  data_format, dilation_rate):
    strides, lax_padding, _ = check_conv_transpose(
        x_shape, kernel_shape, strides, padding, output_padding, data_format, dilation_rate
    )
    torch_padding, torch_output_padding = [], []
    for k, s, (lo, hi) in zip(kernel_shape[:2], strides, lax_padding):
        crop_lo, crop_hi = k - 1 - lo, k - 1 - hi  # >= 0, checked above
        extra = crop_lo - crop_hi
        if not 0 <= extra < s:
            raise UnsupportedConvTranspose(
                f"conv_transpose maps Keras' padding {lax_padding} to torch's padding and "
                f"output_padding only when 0 <= output_padding < stride; here {extra}."
            )
        torch_padding.append(crop_lo)
        torch_output_padding.append(extra)
    return strides, torch_padding, torch_output_padding


def is_conv_supported(x_shape, kernel_shape, strides=1, padding="valid", data_format=None,
                      dilation_rate=1):
    return supported(_torch_conv_padding, x_shape, kernel_shape, strides, padding, data_format,
                     dilation_rate)


def is_supported(x_shape, kernel_shape, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1):
    return supported(_torch_conv_transpose_padding, x_shape, kernel_shape, strides, padding,
                     output_padding, data_format, dilation_rate)


def conv(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1, bias=None):
    """`keras.ops.conv` for NHWC `x` and an HWIO kernel (plus `bias` per output channel), as
    one channels-last torch call."""
    x, kernel = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(kernel)
    bias = None if bias is None else keras.ops.convert_to_tensor(bias)
    strides, torch_padding = _torch_conv_padding(
        tuple(x.shape), tuple(kernel.shape), strides, padding, data_format, dilation_rate
    )
    y = F.conv2d(x.permute(0, 3, 1, 2), kernel.permute(3, 2, 0, 1), bias, strides,
                 torch_padding)
    return y.permute(0, 2, 3, 1)


def conv_transpose(x, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1, bias=None):
    """`keras.ops.conv_transpose` for NHWC `x` and a (kh, kw, out, in) kernel (plus `bias`),
    as one channels-last torch call."""
    x, kernel = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(kernel)
    bias = None if bias is None else keras.ops.convert_to_tensor(bias)
    strides, torch_padding, torch_output_padding = _torch_conv_transpose_padding(
        tuple(x.shape), tuple(kernel.shape), strides, padding, output_padding, data_format,
        dilation_rate,
    )
    # torch's transposed-convolution weight is (in, out, kh, kw).
    y = F.conv_transpose2d(x.permute(0, 3, 1, 2), kernel.permute(3, 2, 0, 1), bias, strides,
                           torch_padding, torch_output_padding)
    return y.permute(0, 2, 3, 1)
