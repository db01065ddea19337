"""`kerasgen.backend.torch_conv`: Keras' NHWC convolutions as single channels-last torch calls;
forward and gradients equal `keras.ops.conv`/`conv_transpose`, unsupported arguments fall back."""

import numpy as np
import pytest
import keras

# torch_conv is the PyTorch backend's convolution: these run in the torch pass of the suite and
# are deselected (not skipped) in the others, see conftest.py.
pytestmark = [pytest.mark.backend, pytest.mark.only_backend("torch")]

if keras.backend.backend() == "torch":
    import torch

    from kerasgen import backend
    from kerasgen.backend import torch_conv


def _pair(batch, size, in_channels, out_channels, kernel, layout, seed=0):
    size = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.standard_normal((batch, *size, in_channels)), dtype=torch.float32)
    shape = (*kernel, in_channels, out_channels) if layout == "conv" else (
        *kernel, out_channels, in_channels)
    w = torch.tensor(rng.standard_normal(shape) * 0.1, dtype=torch.float32)
    return x.requires_grad_(True), w.requires_grad_(True)


def _check(ours, ref, x, w):
    y, y_ref = ours(x, w), ref(x, w)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y.detach().numpy(), y_ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    dy = torch.tensor(np.random.default_rng(1).standard_normal(tuple(y.shape)),
                      dtype=torch.float32)
    grads = torch.autograd.grad(y, [x, w], dy)
    grads_ref = torch.autograd.grad(y_ref, [x, w], dy)
    for a, b in zip(grads, grads_ref):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)


CASES = [
    (16, (4, 4), 2, "same"),     # every DCGAN layer
    ((6, 8), (4, 4), 2, "same"),
    (7, (3, 3), 1, "same"),
    (8, (2, 2), 2, "valid"),
    (7, (3, 3), 2, "valid"),
    (5, (1, 1), 1, "valid"),
]


@pytest.mark.parametrize("size, kernel, strides, padding", CASES)
def test_conv_matches_keras(size, kernel, strides, padding):
    x, w = _pair(2, size, 5, 4, kernel, "conv")
    assert torch_conv.is_conv_supported(x.shape, w.shape, strides, padding)
    _check(lambda x, w: torch_conv.conv(x, w, strides, padding),
           lambda x, w: keras.ops.conv(x, w, strides, padding), x, w)


@pytest.mark.parametrize("size, kernel, strides, padding", CASES + [
    (4, (4, 4), 2, "valid"), (5, (4, 4), 3, "valid"), ((3, 4), (3, 5), 1, "same"),
])
def test_conv_transpose_matches_keras(size, kernel, strides, padding):
    x, w = _pair(2, size, 5, 4, kernel, "transpose")
    assert torch_conv.is_supported(x.shape, w.shape, strides, padding)
    _check(lambda x, w: torch_conv.conv_transpose(x, w, strides, padding),
           lambda x, w: keras.ops.conv_transpose(x, w, strides, padding), x, w)


def test_outputs_are_contiguous_nhwc_on_the_dcgan_path():
    # No copies: the NHWC result of a channels-last convolution is a contiguous tensor.
    x, w = _pair(4, 16, 8, 16, (4, 4), "conv")
    assert torch_conv.conv(x, w, 2, "same").is_contiguous()
    x, w = _pair(4, 8, 16, 8, (4, 4), "transpose")
    assert torch_conv.conv_transpose(x, w, 2, "same").is_contiguous()


@pytest.mark.parametrize("size, kernel, strides, padding, reason", [
    (8, (4, 4), 1, "same", "symmetric"),     # Keras pads (1, 2)
    (8, (2, 2), 2, "same", None),            # no padding: supported
])
def test_conv_asymmetric_padding_falls_back_to_keras(size, kernel, strides, padding, reason):
    x, w = _pair(1, size, 3, 2, kernel, "conv")
    supported = torch_conv.is_conv_supported(x.shape, w.shape, strides, padding)
    assert supported == (reason is None)
    if reason:
        with pytest.raises(torch_conv.UnsupportedConvTranspose, match=reason):
            torch_conv.conv(x, w, strides, padding)
    # kerasgen.backend.conv computes Keras' numbers either way.
    _check(lambda x, w: backend.conv(x, w, strides, padding),
           lambda x, w: keras.ops.conv(x, w, strides, padding), x, w)


@pytest.mark.parametrize("size, kernel, strides", [(5, (3, 3), 2), (5, (5, 5), 2),
                                                   ((3, 4), (3, 5), (1, 2))])
def test_conv_transpose_odd_kernel_stride_falls_back_to_keras(size, kernel, strides):
    # Keras crops one more row at the end than at the start: torch's output_padding can't say it.
    x, w = _pair(2, size, 5, 4, kernel, "transpose")
    assert not torch_conv.is_supported(x.shape, w.shape, strides, "same")
    with pytest.raises(torch_conv.UnsupportedConvTranspose, match="output_padding"):
        torch_conv.conv_transpose(x, w, strides, "same")
    _check(lambda x, w: backend.conv_transpose(x, w, strides, "same"),
           lambda x, w: keras.ops.conv_transpose(x, w, strides, "same"), x, w)


def test_conv_transpose_other_arguments_fall_back_to_keras():
    x, w = _pair(1, 5, 3, 2, (3, 3), "transpose")
    for kwargs in ({"dilation_rate": 2}, {"output_padding": 1}, {"data_format": "channels_first"}):
        assert not torch_conv.is_supported(x.shape, w.shape, 2, "same", **kwargs)
    _check(lambda x, w: backend.conv_transpose(x, w, 2, "same", dilation_rate=2),
           lambda x, w: keras.ops.conv_transpose(x, w, 2, "same", dilation_rate=2), x, w)


@pytest.mark.parametrize("op, layout, size, kernel, strides, padding", [
    ("conv", "conv", 16, (4, 4), 2, "same"), ("conv", "conv", 7, (3, 3), 1, "same"),
    ("conv", "conv", (6, 7), (4, 4), 1, "same"),              # asymmetric pads: Keras' op
    ("conv_transpose", "transpose", 8, (4, 4), 2, "same"),
    ("conv_transpose", "transpose", 5, (3, 3), 2, "same"),    # odd kernel: Keras' op
])
def test_bias_goes_into_the_convolution(op, layout, size, kernel, strides, padding, monkeypatch):
    """`backend.conv(..., bias=b)` is `keras.ops.conv(...) + b` (outputs and the gradients of
    x, kernel and b); where torch_conv runs it, the bias is handed to torch's kernel (no
    separate add); elsewhere Keras' op and an add."""
    x, w = _pair(2, size, 5, 4, kernel, layout)
    b = torch.tensor(np.random.default_rng(3).standard_normal(4), dtype=torch.float32,
                     requires_grad=True)
    ours = lambda x, w: getattr(backend, op)(x, w, strides, padding, bias=b)
    ref = lambda x, w: getattr(keras.ops, op)(x, w, strides, padding) + b
    y, y_ref = ours(x, w), ref(x, w)
    np.testing.assert_allclose(y.detach().numpy(), y_ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    dy = torch.tensor(np.random.default_rng(1).standard_normal(tuple(y.shape)),
                      dtype=torch.float32)
    for a, c in zip(torch.autograd.grad(y, [x, w, b], dy),
                    torch.autograd.grad(y_ref, [x, w, b], dy)):
        np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=1e-4, atol=1e-4)

    torch_name = {"conv": "conv2d", "conv_transpose": "conv_transpose2d"}[op]
    calls = []
    real = getattr(torch.nn.functional, torch_name)
    def record(*args, **kwargs):
        calls.append(args[2] if len(args) > 2 else kwargs.get("bias"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch_conv.F, torch_name, record)
    getattr(backend, op)(x, w, strides, padding, bias=b)
    supported = (torch_conv.is_conv_supported if op == "conv" else torch_conv.is_supported)(
        x.shape, w.shape, strides, padding)
    if supported:
        assert len(calls) == 1 and calls[0] is b
    else:
        assert calls == [None]  # Keras' op, then an add
