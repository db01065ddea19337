"""The Inception network of the FID papers, in Keras layers (NHWC, every backend).

FID (Heusel et al. 2017), the Inception Score and KID were defined with one network: the 2015
TensorFlow graph `inception-2015-12-05`, not the ImageNet InceptionV3 of `keras.applications` or
torchvision. pytorch-fid (`FIDInceptionA/C/E_1/E_2`) and torch-fidelity
(`feature_extractor_inceptionv3.py`) port it as torchvision's InceptionV3 with the graph's
differences, which this port keeps:

- the average pools inside the A, C and first E blocks exclude the zero padding from the mean
  (TensorFlow's "same" pooling; `count_include_pad=False` in PyTorch);
- the last E block (`Mixed_7c`) pools its fourth branch with a max pool, not an average pool;
- 1008 classes (1000 ImageNet classes and 8 unused), no auxiliary head.

Layers are named after the PyTorch modules, with "-" for "." (which Keras' torch backend does
not allow in names): `Mixed_6b-branch7x7_2-conv` holds `Mixed_6b.branch7x7_2.conv.weight`. So the
state dicts of both ports (`weights-inception-2015-12-05-6726825d.pth` and
`pt_inception-2015-12-05-6726825d.pth`: both keep torchvision's module names, so their keys are
the same) load by name with `set_torch_weights`. Kernels are initialised to zeros: the network is
always given weights after it is built, and random initialisers cost JAX a compilation per shape.
"""

import numpy as np
from keras import Model
from keras import layers
from keras import ops

from kerasgen.errors import DataError

IMAGE_SIZE = 299
NUM_CLASSES = 1008  # the graph's softmax: 1000 ImageNet classes and 8 unused


def _conv(x, filters, kernel, name, strides=1, padding="valid"):
    """torchvision's BasicConv2d: convolution without bias, batch norm (eps 1e-3), ReLU. Its
    paddings are all "valid" or, for stride 1 and odd kernels, "same"."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                      kernel_initializer="zeros", name=f"{name}-conv")(x)
    x = layers.BatchNormalization(epsilon=1e-3, name=f"{name}-bn")(x)
    return layers.ReLU(name=f"{name}-relu")(x)


def _pool_3x3(x, name, kind="avg"):
    """3x3, stride 1, "same": the padding is left out of the average (count_include_pad=False)
    and never wins the max (PyTorch pads max pools with -inf)."""
    pool = layers.AveragePooling2D if kind == "avg" else layers.MaxPooling2D
    return pool(3, strides=1, padding="same", name=f"{name}-{kind}_pool")(x)


def _block_a(x, pool_features, name):
    branch1x1 = _conv(x, 64, 1, f"{name}-branch1x1")
    branch5x5 = _conv(x, 48, 1, f"{name}-branch5x5_1")
    branch5x5 = _conv(branch5x5, 64, 5, f"{name}-branch5x5_2", padding="same")
    branch3x3dbl = _conv(x, 64, 1, f"{name}-branch3x3dbl_1")
    branch3x3dbl = _conv(branch3x3dbl, 96, 3, f"{name}-branch3x3dbl_2", padding="same")
    branch3x3dbl = _conv(branch3x3dbl, 96, 3, f"{name}-branch3x3dbl_3", padding="same")
    branch_pool = _conv(_pool_3x3(x, name), pool_features, 1, f"{name}-branch_pool")
    return layers.Concatenate(name=name)([branch1x1, branch5x5, branch3x3dbl, branch_pool])


def _block_b(x, name):
    branch3x3 = _conv(x, 384, 3, f"{name}-branch3x3", strides=2)
    branch3x3dbl = _conv(x, 64, 1, f"{name}-branch3x3dbl_1")
    branch3x3dbl = _conv(branch3x3dbl, 96, 3, f"{name}-branch3x3dbl_2", padding="same")
    branch3x3dbl = _conv(branch3x3dbl, 96, 3, f"{name}-branch3x3dbl_3", strides=2)
    branch_pool = layers.MaxPooling2D(3, strides=2, name=f"{name}-max_pool")(x)
    return layers.Concatenate(name=name)([branch3x3, branch3x3dbl, branch_pool])


def _block_c(x, channels_7x7, name):
    c7 = channels_7x7
    branch1x1 = _conv(x, 192, 1, f"{name}-branch1x1")
    branch7x7 = _conv(x, c7, 1, f"{name}-branch7x7_1")
    branch7x7 = _conv(branch7x7, c7, (1, 7), f"{name}-branch7x7_2", padding="same")
    branch7x7 = _conv(branch7x7, 192, (7, 1), f"{name}-branch7x7_3", padding="same")
    branch7x7dbl = _conv(x, c7, 1, f"{name}-branch7x7dbl_1")
    branch7x7dbl = _conv(branch7x7dbl, c7, (7, 1), f"{name}-branch7x7dbl_2", padding="same")
    branch7x7dbl = _conv(branch7x7dbl, c7, (1, 7), f"{name}-branch7x7dbl_3", padding="same")
    branch7x7dbl = _conv(branch7x7dbl, c7, (7, 1), f"{name}-branch7x7dbl_4", padding="same")
    branch7x7dbl = _conv(branch7x7dbl, 192, (1, 7), f"{name}-branch7x7dbl_5", padding="same")
    branch_pool = _conv(_pool_3x3(x, name), 192, 1, f"{name}-branch_pool")
    return layers.Concatenate(name=name)([branch1x1, branch7x7, branch7x7dbl, branch_pool])


def _block_d(x, name):
    branch3x3 = _conv(x, 192, 1, f"{name}-branch3x3_1")
    branch3x3 = _conv(branch3x3, 320, 3, f"{name}-branch3x3_2", strides=2)
    branch7x7x3 = _conv(x, 192, 1, f"{name}-branch7x7x3_1")
    branch7x7x3 = _conv(branch7x7x3, 192, (1, 7), f"{name}-branch7x7x3_2", padding="same")
    branch7x7x3 = _conv(branch7x7x3, 192, (7, 1), f"{name}-branch7x7x3_3", padding="same")
    branch7x7x3 = _conv(branch7x7x3, 192, 3, f"{name}-branch7x7x3_4", strides=2)
    branch_pool = layers.MaxPooling2D(3, strides=2, name=f"{name}-max_pool")(x)
    return layers.Concatenate(name=name)([branch3x3, branch7x7x3, branch_pool])


def _block_e(x, name, pool):
    """`pool="avg"` in Mixed_7b (FIDInceptionE_1), `"max"` in Mixed_7c (FIDInceptionE_2)."""
    branch1x1 = _conv(x, 320, 1, f"{name}-branch1x1")
    branch3x3 = _conv(x, 384, 1, f"{name}-branch3x3_1")
    branch3x3_a = _conv(branch3x3, 384, (1, 3), f"{name}-branch3x3_2a", padding="same")
    branch3x3_b = _conv(branch3x3, 384, (3, 1), f"{name}-branch3x3_2b", padding="same")
    branch3x3dbl = _conv(x, 448, 1, f"{name}-branch3x3dbl_1")
    branch3x3dbl = _conv(branch3x3dbl, 384, 3, f"{name}-branch3x3dbl_2", padding="same")
    branch3x3dbl_a = _conv(branch3x3dbl, 384, (1, 3), f"{name}-branch3x3dbl_3a", padding="same")
    branch3x3dbl_b = _conv(branch3x3dbl, 384, (3, 1), f"{name}-branch3x3dbl_3b", padding="same")
    branch_pool = _conv(_pool_3x3(x, name, pool), 192, 1, f"{name}-branch_pool")
    return layers.Concatenate(name=name)([branch1x1, branch3x3_a, branch3x3_b, branch3x3dbl_a,
                                          branch3x3dbl_b, branch_pool])


def fid_inception_v3(name="fid_inception_v3"):
    """The FID Inception as a Keras functional model.

    Input: `(n, 299, 299, 3)` float32, already resized and scaled to [-1, 1) as the graph does:
    `(x - 128) / 128` for pixel values x in [0, 255].
    Outputs: a dict, `"pool"` the 2048-d average-pool features (pool3, FID's features) and
    `"logits"` the 1008 logits without the classifier's bias (torch-fidelity's
    `logits_unbiased`, which its Inception Score uses).
    """
    inputs = layers.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="images")
    x = _conv(inputs, 32, 3, "Conv2d_1a_3x3", strides=2)
    x = _conv(x, 32, 3, "Conv2d_2a_3x3")
    x = _conv(x, 64, 3, "Conv2d_2b_3x3", padding="same")
    x = layers.MaxPooling2D(3, strides=2, name="MaxPool_1")(x)
    x = _conv(x, 80, 1, "Conv2d_3b_1x1")
    x = _conv(x, 192, 3, "Conv2d_4a_3x3")
    x = layers.MaxPooling2D(3, strides=2, name="MaxPool_2")(x)
    x = _block_a(x, 32, "Mixed_5b")
    x = _block_a(x, 64, "Mixed_5c")
    x = _block_a(x, 64, "Mixed_5d")
    x = _block_b(x, "Mixed_6a")
    x = _block_c(x, 128, "Mixed_6b")
    x = _block_c(x, 160, "Mixed_6c")
    x = _block_c(x, 160, "Mixed_6d")
    x = _block_c(x, 192, "Mixed_6e")
    x = _block_d(x, "Mixed_7a")
    x = _block_e(x, "Mixed_7b", pool="avg")
    x = _block_e(x, "Mixed_7c", pool="max")
    pool = layers.GlobalAveragePooling2D(name="AvgPool")(x)
    logits = layers.Dense(NUM_CLASSES, use_bias=False, kernel_initializer="zeros", name="fc")(pool)
    return Model(inputs, {"pool": pool, "logits": logits}, name=name)


# ---- PyTorch state dicts ----------------------------------------------------------------------

# Keras variable -> (PyTorch key suffix, how a PyTorch array becomes the Keras one).
_CONV_KERNEL = (2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)
_FROM_TORCH = {
    "Conv2D": {"kernel": ("weight", _CONV_KERNEL)},
    "BatchNormalization": {"gamma": ("weight", None), "beta": ("bias", None),
                           "moving_mean": ("running_mean", None),
                           "moving_variance": ("running_var", None)},
    "Dense": {"kernel": ("weight", (1, 0))},
}
# In the state dicts but not used: BatchNorm's step counters, and the classifier's bias (the
# Inception Score takes the logits without it, as torch-fidelity's `logits_unbiased`).
_UNUSED = (".num_batches_tracked", "fc.bias")


def _torch_entries(model):
    """(PyTorch key, Keras variable, axes to transpose) for every weight of `model`."""
    for layer in model.layers:
        for variable in layer.weights:
            suffix, axes = _FROM_TORCH[type(layer).__name__][variable.name]
            yield f"{layer.name}.{suffix}".replace("-", "."), variable, axes


def torch_weight_shapes(model):
    """`{PyTorch key: shape in PyTorch's layout}` of the state dict `set_torch_weights` takes
    (without the unused `fc.bias` and `num_batches_tracked`)."""
    shapes = {}
    for key, variable, axes in _torch_entries(model):
        shape = tuple(variable.shape)
        shapes[key] = shape if axes is None else tuple(shape[a] for a in np.argsort(axes))
    return shapes


def get_torch_weights(model):
    """The weights of `model` as a PyTorch state dict of NumPy arrays (PyTorch's layout and keys,
    without `fc.bias` and `num_batches_tracked`): `set_torch_weights`' inverse."""
    state = {}
    for key, variable, axes in _torch_entries(model):
        value = ops.convert_to_numpy(variable.value)
        state[key] = value if axes is None else value.transpose(np.argsort(axes))
    return state


def set_torch_weights(model, state_dict, source="the state dict"):
    """Loads a PyTorch state dict of the FID Inception (torch-fidelity's or pytorch-fid's; NumPy
    arrays or anything `np.asarray` reads) into `model` from `fid_inception_v3`, transposing
    kernels from NCHW to NHWC. Raises `DataError` naming `source` and the first missing,
    unexpected or misshapen key."""
    state = {k: v for k, v in state_dict.items() if not k.endswith(_UNUSED)}
    entries = list(_torch_entries(model))
    expected = {key for key, _, _ in entries}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise DataError(
            f"{source} is not a state dict of the FID Inception (inception-2015-12-05): "
            f"{len(missing)} weights missing (first: {missing[:1]}), {len(unexpected)} unexpected "
            f"(first: {unexpected[:1]})."
        )
    for key, variable, axes in entries:
        value = np.asarray(state[key], dtype="float32")
        if axes is not None:
            value = value.transpose(axes)
        if value.shape != tuple(variable.shape):
            raise DataError(
                f"{source}: {key} has shape {np.asarray(state[key]).shape}; the FID Inception "
                f"needs {torch_weight_shapes(model)[key]}."
            )
        variable.assign(value)
