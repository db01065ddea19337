"""The denoising UNet of DDPM (Ho et al., 2020, Appendix B; its PixelCNN++-style backbone),
sized by image size and width.

    x_t, t [, attributes]  ->  the network's prediction (noise or v), same shape as x_t

- Sinusoidal embedding of the step t (Transformer positions), then Dense-swish-Dense: the
  time embedding. Attribute conditioning (optional) adds a Dense projection of the attribute
  signs (+1/-1, 0 where classifier-free guidance drops them) to it.
- A 3x3 convolution to `width` channels, then levels from the image size down to 4x4 or 8x8:
  `blocks` residual blocks per level (GroupNorm, swish, conv3x3, + Dense(time embedding),
  GroupNorm, swish, dropout, conv3x3; 1x1 shortcut where channels change), self-attention
  after each block at the resolutions in `attention`, a stride-2 3x3 convolution between
  levels. The middle: residual block, attention, residual block. Going up, each level has
  `blocks + 1` residual blocks, each fed the concatenated output of its mirror on the way
  down; nearest-neighbour up-sampling then a 3x3 convolution between levels.
- GroupNorm, swish, a 3x3 convolution to 3 channels, initialised to zero (the untrained
  network predicts 0).

Channels per level: `width * multipliers[i]`; DDPM's CIFAR-10 network is
`unet(32, width=128, multipliers=(1, 2, 2, 2), attention=(16,))`.
"""

import math

import keras
from keras import layers
from keras import ops

from kerasgen.nets.conv import Conv2D
from kerasgen.nets.conv import GroupNormalization
from kerasgen.nets.network import Network


def default_multipliers(image_size):
    """Channel multipliers per level: down to 4x4 (16 px and 32 px) or 8x8 (64 px and up)."""
    levels = {16: 2, 32: 3, 64: 4, 128: 5, 256: 6}[image_size]
    return (1, 2, 2, 2, 4, 4)[:levels]


def default_attention(image_size):
    """Resolutions with self-attention: 16x16 and below, never the image's own (DDPM: 16)."""
    return tuple(r for r in (16, 8, 4) if r < image_size)


def groups(channels):
    """GroupNorm groups: 32 where the channels allow (DDPM), else the largest divisor <= 32."""
    return math.gcd(32, channels)


@keras.saving.register_keras_serializable(package="kerasgen")
class TimeEmbedding(layers.Layer):
    """`(batch, 1)` step numbers -> `(batch, dim)` sinusoids: `sin(t f_k), cos(t f_k)` with
    frequencies `f_k = 10000^(-k / (dim/2 - 1))`, as DDPM's `get_timestep_embedding`."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        if dim % 2:
            raise ValueError(f"the time embedding's dim must be even; received {dim}.")
        self.dim = dim

    def call(self, t):
        half = self.dim // 2
        exponent = ops.arange(half, dtype="float32") / max(1, half - 1)
        angles = ops.cast(t, "float32") * ops.power(10000.0, -exponent)[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@keras.saving.register_keras_serializable(package="kerasgen")
class SelfAttention2D(layers.Layer):
    """DDPM's `attn_block`: GroupNorm, one head of attention over the h*w positions (1x1
    query, key, value and output projections), added to the input. The output projection
    starts at zero, so the block starts as the identity."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.norm = GroupNormalization(groups(channels), epsilon=1e-6, name="norm")
        self.norm.build(input_shape)
        self.qkv = layers.Dense(3 * channels, name="qkv")
        self.qkv.build(input_shape)
        self.out = layers.Dense(channels, kernel_initializer="zeros", name="out")
        self.out.build(input_shape)

    def call(self, x):
        shape = ops.shape(x)
        channels = x.shape[-1]
        q, k, v = ops.split(self.qkv(self.norm(x)), 3, axis=-1)
        q, k, v = (ops.reshape(a, (shape[0], -1, channels)) for a in (q, k, v))
        weights = ops.softmax(ops.einsum("bic,bjc->bij", q, k) / math.sqrt(channels), axis=-1)
        h = ops.reshape(ops.einsum("bij,bjc->bic", weights, v), shape)
        return x + self.out(h)


def residual_block(x, embedding, channels, dropout, name):
    h = GroupNormalization(groups(x.shape[-1]), epsilon=1e-6, name=f"{name}_norm1")(x)
    h = layers.Activation("swish", name=f"{name}_act1")(h)
    h = Conv2D(channels, 3, padding="same", name=f"{name}_conv1")(h)
    step = layers.Dense(channels, name=f"{name}_time")(embedding)
    h = layers.Add(name=f"{name}_add_time")([h, layers.Reshape((1, 1, channels))(step)])
    h = GroupNormalization(groups(channels), epsilon=1e-6, name=f"{name}_norm2")(h)
    h = layers.Activation("swish", name=f"{name}_act2")(h)
    if dropout:
        h = layers.Dropout(dropout, name=f"{name}_dropout")(h)
    h = Conv2D(channels, 3, padding="same", kernel_initializer="zeros", name=f"{name}_conv2")(h)
    if x.shape[-1] != channels:
        x = Conv2D(channels, 1, name=f"{name}_shortcut")(x)
    return layers.Add(name=name)([x, h])


def unet(image_size=32, width=64, multipliers=None, attention=None, blocks=2, dropout=0.1,
         num_attributes=0, name="unet"):
    """The denoising network: `[x_t, t]` (and `attributes` when `num_attributes`) -> prediction.

    Args:
        image_size: 16, 32, 64, 128 or 256.
        width: channels of the first level.
        multipliers: channels of each level as multiples of `width` (default by image size).
        attention: resolutions with self-attention (default: 16 and below).
        blocks: residual blocks per level going down (one more going up).
        dropout: in every residual block (DDPM CIFAR-10: 0.1).
        num_attributes: size of the attribute vector it is conditioned on (0: none).
    """
    multipliers = tuple(multipliers or default_multipliers(image_size))
    attention = tuple(default_attention(image_size) if attention is None else attention)
    images = keras.Input((image_size, image_size, 3), name="noisy_images")
    t = keras.Input((1,), name="steps")
    inputs = [images, t]
    embedding = TimeEmbedding(width, name="time_sinusoids")(t)
    embedding = layers.Dense(4 * width, activation="swish", name="time_dense1")(embedding)
    embedding = layers.Dense(4 * width, name="time_dense2")(embedding)
    if num_attributes:
        attributes = keras.Input((num_attributes,), name="attributes")
        inputs.append(attributes)
        label = layers.Dense(4 * width, name="attribute_embedding")(attributes)
        embedding = layers.Add(name="time_and_attributes")([embedding, label])
    embedding = layers.Activation("swish", name="time_act")(embedding)

    x = Conv2D(width, 3, padding="same", name="conv_in")(images)
    skips, resolution = [x], image_size
    for level, multiplier in enumerate(multipliers):
        for b in range(blocks):
            x = residual_block(x, embedding, width * multiplier, dropout, f"down{level}_{b}")
            if resolution in attention:
                x = SelfAttention2D(name=f"down{level}_{b}_attention")(x)
            skips.append(x)
        if level < len(multipliers) - 1:
            x = Conv2D(x.shape[-1], 3, strides=2, padding="same", name=f"down{level}_pool")(x)
            resolution //= 2
            skips.append(x)
    x = residual_block(x, embedding, x.shape[-1], dropout, "middle_1")
    x = SelfAttention2D(name="middle_attention")(x)
    x = residual_block(x, embedding, x.shape[-1], dropout, "middle_2")
    for level in reversed(range(len(multipliers))):
        for b in range(blocks + 1):
            x = layers.Concatenate(name=f"up{level}_{b}_skip")([x, skips.pop()])
            x = residual_block(x, embedding, width * multipliers[level], dropout, f"up{level}_{b}")
            if resolution in attention:
                x = SelfAttention2D(name=f"up{level}_{b}_attention")(x)
        if level > 0:
            x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{level}_upsample")(x)
            x = Conv2D(x.shape[-1], 3, padding="same", name=f"up{level}_conv")(x)
            resolution *= 2
    x = GroupNormalization(groups(x.shape[-1]), epsilon=1e-6, name="norm_out")(x)
    x = layers.Activation("swish", name="act_out")(x)
    outputs = Conv2D(3, 3, padding="same", kernel_initializer="zeros", dtype="float32",
                     name="prediction")(x)
    return Network(inputs, outputs, name=name)
