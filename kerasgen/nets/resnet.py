"""The ResNet generator and discriminator of SNGAN (Miyato et al., 2018), as mimicry builds them
(`torch_mimicry/nets/sngan/sngan_{32,64,128}.py`, `modules/resblocks.py`), which follows the
authors' Chainer code.

Generator: dense to 4x4, up-sampling residual blocks (`GBlock`: BN, ReLU, 2x bilinear
up-sampling, conv3x3, BN, ReLU, conv3x3; shortcut: up-sampling, conv1x1), then BN, ReLU,
conv3x3 to RGB, tanh. Discriminator, every convolution and the dense layer spectrally
normalised: an "optimized" first block (conv3x3, ReLU, conv3x3, avg-pool; shortcut: avg-pool,
conv1x1), pre-activation residual blocks (ReLU, conv3x3, ReLU, conv3x3, [avg-pool]; shortcut:
conv1x1, [avg-pool], where channels change or the block down-samples, else identity), ReLU,
global *sum* pooling, dense to one logit. No normalisation in the discriminator besides the
spectral one, so real and fake batches never interact.

Two layouts, by image size (`width` is the channel count at the image end: the
discriminator's first block):

- 16 and 32 px, the paper's CIFAR-10 ResNets (its Table 4; mimicry's `sngan_32`): every
  generator block has `2 * width` channels and every discriminator block `width` (paper:
  256 and 128, so `width=128`). The discriminator down-samples to 8x8, then adds two blocks
  at 8x8 (32 px: optimized, down, plain, plain). 16 px is kerasgen's extension of it (one
  up-sampling and one down-sampling block fewer).
- 64 px and up, mimicry's CelebA/ImageNet ResNets (`sngan_64`, `sngan_128`,
  `ngf = ndf = 1024 = 16 * width` with `width=64`): the discriminator doubles its channels per
  block from `width` to `16 * width` in five down-sampling blocks (64 px: to 2x2), then
  `log2(image_size) - 6` plain blocks of `16 * width` (128 px: one, at 4x4); the generator
  starts at `16 * width` and halves per block over its last four blocks down to `width`
  (128 px: 1024, 1024, 512, 256, 128, 64). 256 px follows the same rule (kerasgen's
  extension).

Initialisation as mimicry: Xavier-uniform with gain sqrt(2) in the residual branches' 3x3
convolutions, gain 1 in the shortcuts and the dense and output layers; zero biases (PyTorch's
default bias initialisation is a small uniform).

One difference from mimicry, on purpose: its `DBlock` applies an in-place ReLU to its input,
so its shortcut sees `relu(x)`; here the shortcut sees `x`, as in the Chainer original.
"""

import math

import keras
from keras import layers
from keras import ops

from kerasgen.nets.conv import BatchNormalization
from kerasgen.nets.conv import Conv2D
from kerasgen.nets.conv import num_blocks
from kerasgen.nets.network import Network
from kerasgen.nets.spectral import SNConv2D
from kerasgen.nets.spectral import SNDense


def _xavier(gain=1.0):
    """PyTorch's `xavier_uniform_(w, gain)`: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    return keras.initializers.VarianceScaling(gain**2, mode="fan_avg", distribution="uniform")


@keras.saving.register_keras_serializable(package="kerasgen")
class GlobalSumPooling2D(layers.Layer):
    """Sum over height and width (SNGAN's discriminator; channels-last)."""

    def call(self, inputs):
        return ops.sum(inputs, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3])


def _batch_norm(name):
    # PyTorch's BatchNorm2d defaults (momentum 0.1 there is 0.9 here), gamma 1, beta 0.
    return BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def _conv(filters, kernel_size, gain, name, power_iterations=None):
    """A 3x3 or 1x1 "same" convolution; spectrally normalised when `power_iterations` is set."""
    kwargs = dict(padding="same", kernel_initializer=_xavier(gain), name=name)
    if power_iterations is None:
        return Conv2D(filters, kernel_size, **kwargs)
    return SNConv2D(filters, kernel_size, power_iterations=power_iterations, **kwargs)


def _upsample(name):
    # Bilinear, as mimicry (F.interpolate, align_corners=False); the Chainer original: nearest.
    return layers.UpSampling2D(2, interpolation="bilinear", name=name)


def _pool(name):
    return layers.AveragePooling2D(2, name=name)


def generator_block(x, filters, name):
    """Mimicry's `GBlock(upsample=True)`: BN-ReLU-up-conv3-BN-ReLU-conv3 + up-conv1 shortcut."""
    h = _batch_norm(f"{name}_bn1")(x)
    h = layers.ReLU(name=f"{name}_relu1")(h)
    h = _conv(filters, 3, math.sqrt(2), f"{name}_conv1")(_upsample(f"{name}_up")(h))
    h = _batch_norm(f"{name}_bn2")(h)
    h = layers.ReLU(name=f"{name}_relu2")(h)
    h = _conv(filters, 3, math.sqrt(2), f"{name}_conv2")(h)
    shortcut = _conv(filters, 1, 1.0, f"{name}_shortcut")(_upsample(f"{name}_shortcut_up")(x))
    return layers.Add(name=name)([h, shortcut])


def discriminator_block(x, filters, downsample, optimized=False, power_iterations=1,
                        name="block"):
    """Mimicry's `DBlockOptimized` (`optimized=True`, always down-sampling) or `DBlock`, every
    convolution spectrally normalised."""
    in_channels = x.shape[-1]
    pi = power_iterations
    if optimized:
        h = _conv(filters, 3, math.sqrt(2), f"{name}_conv1", pi)(x)
        h = layers.ReLU(name=f"{name}_relu1")(h)
        h = _conv(filters, 3, math.sqrt(2), f"{name}_conv2", pi)(h)
        h = _pool(f"{name}_pool")(h)
        shortcut = _pool(f"{name}_shortcut_pool")(x)
        shortcut = _conv(filters, 1, 1.0, f"{name}_shortcut", pi)(shortcut)
        return layers.Add(name=name)([h, shortcut])
    h = layers.ReLU(name=f"{name}_relu1")(x)
    h = _conv(in_channels, 3, math.sqrt(2), f"{name}_conv1", pi)(h)  # hidden = in, as mimicry
    h = layers.ReLU(name=f"{name}_relu2")(h)
    h = _conv(filters, 3, math.sqrt(2), f"{name}_conv2", pi)(h)
    if downsample:
        h = _pool(f"{name}_pool")(h)
    shortcut = x
    if downsample or in_channels != filters:
        shortcut = _conv(filters, 1, 1.0, f"{name}_shortcut", pi)(x)
        if downsample:
            shortcut = _pool(f"{name}_shortcut_pool")(shortcut)
    return layers.Add(name=name)([h, shortcut])


def generator_channels(image_size, width):
    """Channels of the 4x4 projection, then of each up-sampling block's output."""
    blocks = num_blocks(image_size)
    if image_size <= 32:
        return [2 * width] * (blocks + 1)
    top = 16 * width
    return [top] + [top >> max(0, i + 1 - (blocks - 4)) for i in range(blocks)]


def discriminator_layout(image_size, width):
    """`(filters, downsample)` of each block; the first is the optimized block."""
    levels = int(math.log2(image_size))
    num_blocks(image_size)  # validates the size
    if image_size <= 32:
        return [(width, True)] * (levels - 3) + [(width, False)] * 2
    return [(width << i, True) for i in range(5)] + [(16 * width, False)] * (levels - 6)


def resnet_generator(latent_dim=128, image_size=32, width=128, name="generator"):
    """SNGAN's ResNet generator: latent vectors -> images in [-1, 1] (tanh)."""
    channels = generator_channels(image_size, width)
    z = keras.Input((latent_dim,), name="latents")
    x = layers.Dense(4 * 4 * channels[0], kernel_initializer=_xavier(), name="project")(z)
    x = layers.Reshape((4, 4, channels[0]), name="reshape")(x)
    for i, filters in enumerate(channels[1:]):
        x = generator_block(x, filters, name=f"block{i + 1}")
    x = _batch_norm("out_bn")(x)
    x = layers.ReLU(name="out_relu")(x)
    x = _conv(3, 3, 1.0, "out_conv")(x)
    images = layers.Activation("tanh", dtype="float32", name="images")(x)
    return Network(z, images, name=name)


def resnet_discriminator(image_size=32, width=128, power_iterations=1, name="discriminator"):
    """SNGAN's ResNet discriminator: images -> one logit each (no sigmoid)."""
    images = keras.Input((image_size, image_size, 3), name="images")
    x = images
    for i, (filters, downsample) in enumerate(discriminator_layout(image_size, width)):
        x = discriminator_block(x, filters, downsample, optimized=i == 0,
                                power_iterations=power_iterations, name=f"block{i + 1}")
    x = layers.ReLU(name="out_relu")(x)
    x = GlobalSumPooling2D(name="sum_pool")(x)
    logits = SNDense(1, kernel_initializer=_xavier(), power_iterations=power_iterations,
                     dtype="float32", name="logit")(x)
    return Network(images, logits, name=name)
