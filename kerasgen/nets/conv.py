"""DCGAN-style convolutional stacks, sized by image resolution.

Every kerasgen network is built from the two stacks here (Radford et al., 2016): a strided
4x4 convolution stack that halves the resolution down to 4x4, and its mirror, a strided 4x4
transposed-convolution stack that doubles it up from 4x4. Width doubles per block going down
and halves going up, so a 64 px network has 64-128-256-512 channels as in the paper.
"""

import math

import keras
from keras import layers

from kerasgen import backend
from kerasgen.nets.network import Network

NORMS = ("batch", "layer", "none", "conditional_batch")


@keras.saving.register_keras_serializable(package="kerasgen")
class Conv2DTranspose(layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` computing `kerasgen.backend.conv_transpose`: the same
    numbers, with a backward pass that XLA:CPU runs much faster under JAX (see
    `kerasgen.backend.jax_conv`); on PyTorch without layout copies and with the bias added
    inside the convolution's kernel (`torch_conv`)."""

    def call(self, inputs):
        outputs = backend.conv_transpose(
            inputs, self.kernel, strides=list(self.strides), padding=self.padding,
            output_padding=self.output_padding, dilation_rate=self.dilation_rate,
            data_format=self.data_format, bias=self.bias if self.use_bias else None,
        )
        if self.activation is not None:
            return self.activation(outputs)
        return outputs


@keras.saving.register_keras_serializable(package="kerasgen")
class Conv2D(layers.Conv2D):
    """`keras.layers.Conv2D` computing `kerasgen.backend.conv`: the same numbers; under JAX its
    input gradient is the fast transposed convolution above, which makes the gradient
    penalty's second-order gradient (WGAN-GP) several times faster on XLA:CPU; on PyTorch the
    bias is added inside the convolution's kernel (no separate pass over the output)."""

    def convolution_op(self, inputs, kernel):
        return self._convolve(inputs, kernel, bias=None)

    def call(self, inputs):
        return self.apply_kernel(inputs, self.kernel)

    def apply_kernel(self, inputs, kernel):
        """The layer's output computed with `kernel`: the convolution and the bias in one
        backend call (on PyTorch the bias is added inside the convolution's kernel), then the
        activation."""
        outputs = self._convolve(inputs, kernel, self.bias if self.use_bias else None)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs

    def _convolve(self, inputs, kernel, bias):
        if self.groups != 1:
            return backend.add_bias(super().convolution_op(inputs, kernel), bias,
                                    self.data_format)
        return backend.conv(
            inputs, kernel, strides=list(self.strides), padding=self.padding,
            dilation_rate=self.dilation_rate, data_format=self.data_format, bias=bias,
        )


@keras.saving.register_keras_serializable(package="kerasgen")
class BatchNormalization(layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training-mode call uses the backend's fused
    kernel where it has one (`kerasgen.backend.fused_batch_norm`: PyTorch's), with the same
    moving-average updates; everywhere else (inference, masks, renorm, TF and JAX) it is the
    Keras layer."""

    def call(self, inputs, training=None, mask=None):
        fused = backend.fused_batch_norm
        if fused is None or not (training and self.trainable) or mask is not None or self.renorm:
            return super().call(inputs, training=training, mask=mask)
        compute_dtype = keras.backend.result_type(inputs.dtype, "float32")  # as Keras: no fp16
        cast = lambda v: None if v is None else keras.ops.cast(v, compute_dtype)
        outputs, mean, variance = fused(cast(inputs), cast(self.gamma), cast(self.beta),
                                        self.axis, self.epsilon)
        self.moving_mean.assign(cast(self.moving_mean) * self.momentum
                                + mean * (1.0 - self.momentum))
        self.moving_variance.assign(cast(self.moving_variance) * self.momentum
                                    + variance * (1.0 - self.momentum))
        return keras.ops.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package="kerasgen")
class GroupNormalization(layers.GroupNormalization):
    """`keras.layers.GroupNormalization` computed by the backend's fused kernel where it has one
    (`kerasgen.backend.fused_group_norm`: PyTorch's) for float32 channels-last inputs with both
    affine terms; everywhere else it is the Keras layer."""

    def call(self, inputs):
        fused = backend.fused_group_norm
        if (fused is None or self.axis not in (-1, len(inputs.shape) - 1)
                or not (self.center and self.scale)
                or keras.backend.standardize_dtype(inputs.dtype) != "float32"
                or self.compute_dtype != "float32"):
            return super().call(inputs)
        return fused(inputs, keras.ops.convert_to_tensor(self.gamma),
                     keras.ops.convert_to_tensor(self.beta), self.groups, self.epsilon)


@keras.saving.register_keras_serializable(package="kerasgen")
class ConditionalBatchNormalization(layers.Layer):
    """Conditional batch normalisation (de Vries et al. 2017; Miyato & Koyama 2018's
    generator): batch norm without its own affine terms, then a per-sample scale and shift
    computed from the condition: `x_hat * (1 + gamma(c)) + beta(c)`, with `gamma` and `beta`
    dense maps of the condition vector `c` initialised at zero (so training starts from plain
    batch norm). Called on `[x, c]`, `x` of shape `(batch, ..., channels)`."""

    def __init__(self, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon
        self.norm = layers.BatchNormalization(momentum=momentum, epsilon=epsilon, center=False,
                                              scale=False, name="norm")
        self.gamma = self.beta = None

    def build(self, input_shape):
        x_shape, c_shape = input_shape
        channels = x_shape[-1]
        self.norm.build(x_shape)
        self.gamma = layers.Dense(channels, kernel_initializer="zeros", name="gamma")
        self.beta = layers.Dense(channels, kernel_initializer="zeros", name="beta")
        self.gamma.build(c_shape)
        self.beta.build(c_shape)

    def call(self, inputs, training=None):
        x, c = inputs
        shape = (-1,) + (1,) * (len(x.shape) - 2) + (x.shape[-1],)
        scale = keras.ops.reshape(1.0 + self.gamma(c), shape)
        shift = keras.ops.reshape(self.beta(c), shape)
        return self.norm(x, training=training) * scale + shift

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


ACTIVATIONS = ("relu", "leaky_relu")


def num_blocks(image_size):
    """Resampling blocks between `image_size` and 4x4 (16 px: 2, 32: 3, 64: 4, 128: 5)."""
    blocks = math.log2(image_size) - 2
    if image_size < 16 or blocks != int(blocks):
        raise ValueError(
            f"image_size must be a power of two >= 16; received {image_size!r}."
        )
    return int(blocks)


def weight_init(seed=None):
    """N(0, 0.02), the DCGAN paper's initialisation of every convolution and dense kernel."""
    return keras.initializers.RandomNormal(0.0, 0.02, seed=seed)


def normalization(norm, name):
    if norm == "batch":  # PyTorch's defaults (momentum 0.1 there is 0.9 here), as the seeds used.
        return BatchNormalization(
            momentum=0.9, epsilon=1e-5,
            gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02), name=name,
        )
    if norm == "layer":  # over (height, width, channels) per sample, as WGAN-GP's critic.
        return layers.LayerNormalization(axis=(-3, -2, -1), epsilon=1e-5, name=name)
    if norm == "conditional_batch":  # the affine terms from the condition (generators only)
        return ConditionalBatchNormalization(momentum=0.9, epsilon=1e-5, name=name)
    if norm == "none":
        return None
    raise ValueError(f"norm must be one of {NORMS}; received {norm!r}.")


def normalize(x, norm_layer, condition=None):
    """`x` through `norm_layer` (None: unchanged); a conditional one also takes `condition`."""
    if norm_layer is None:
        return x
    if isinstance(norm_layer, ConditionalBatchNormalization):
        return norm_layer([x, condition])
    return norm_layer(x)


def activation(name, layer_name):
    if name == "relu":
        return layers.ReLU(name=layer_name)
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.2, name=layer_name)
    raise ValueError(f"activation must be one of {ACTIVATIONS}; received {name!r}.")


def down_stack(x, image_size, width=64, norm="batch", dropout=0.0, prefix="down"):
    """Conv(4, stride 2) blocks from `image_size` down to 4x4: LeakyReLU(0.2), no
    normalisation on the first block (as in DCGAN), optional dropout after each block."""
    channels = width
    for i in range(num_blocks(image_size)):
        block_norm = normalization(norm, f"{prefix}{i}_norm") if i > 0 else None
        x = Conv2D(
            channels, 4, strides=2, padding="same", use_bias=block_norm is None,
            kernel_initializer=weight_init(), name=f"{prefix}{i}_conv",
        )(x)
        if block_norm is not None:
            x = block_norm(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"{prefix}{i}_act")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{prefix}{i}_dropout")(x)
        channels *= 2
    return x


def up_stack(x, image_size, width=64, norm="batch", act="relu", channels=3, prefix="up",
             condition=None):
    """Dense projection to 4x4, then ConvTranspose(4, stride 2) blocks up to `image_size`
    with normalisation and `act`; the last block outputs `channels` with no activation.
    `norm="conditional_batch"` takes its scale and shift from `condition`."""
    blocks = num_blocks(image_size)
    filters = width * 2 ** (blocks - 1)
    project_norm = normalization(norm, f"{prefix}_project_norm")
    x = layers.Dense(
        4 * 4 * filters, use_bias=project_norm is None,
        kernel_initializer=weight_init(), name=f"{prefix}_project",
    )(x)
    x = layers.Reshape((4, 4, filters), name=f"{prefix}_reshape")(x)
    x = normalize(x, project_norm, condition)
    x = activation(act, f"{prefix}_project_act")(x)
    for i in range(blocks - 1):
        filters //= 2
        block_norm = normalization(norm, f"{prefix}{i}_norm")
        x = Conv2DTranspose(
            filters, 4, strides=2, padding="same", use_bias=block_norm is None,
            kernel_initializer=weight_init(), name=f"{prefix}{i}_deconv",
        )(x)
        x = normalize(x, block_norm, condition)
        x = activation(act, f"{prefix}{i}_act")(x)
    return Conv2DTranspose(
        channels, 4, strides=2, padding="same",
        kernel_initializer=weight_init(), name=f"{prefix}_out",
    )(x)


def generator(latent_dim=100, image_size=64, width=64, norm="batch", activation="relu",
              output_activation="tanh", condition_dim=0, name="generator"):
    """DCGAN generator: z (and an optional condition vector, concatenated) -> image. With
    `norm="conditional_batch"` the condition also sets every batch norm's scale and shift."""
    z = keras.Input((latent_dim,), name="latents")
    inputs = [z]
    x, c = z, None
    if condition_dim:
        c = keras.Input((condition_dim,), name="condition")
        inputs.append(c)
        x = layers.Concatenate(name="latents_and_condition")([z, c])
    elif norm == "conditional_batch":
        raise ValueError("norm='conditional_batch' needs a condition (condition_dim > 0).")
    x = up_stack(x, image_size, width, norm, activation, condition=c)
    images = layers.Activation(output_activation, dtype="float32", name="images")(x)
    return Network(inputs if condition_dim else z, images, name=name)


CONDITION_AT = ("dense", "input", "projection")


def discriminator(image_size=64, width=64, norm="batch", dropout=0.0, condition_dim=0,
                  condition_at="dense", name="discriminator"):
    """DCGAN discriminator: image (and an optional condition vector) -> one logit per image.
    No sigmoid: losses take logits, which is stabler.

    The condition joins either before the last layer (`condition_at="dense"`, seed 003's
    DCGAN 1), as `condition_dim` constant maps stacked on the image channels
    (`condition_at="input"`), where the convolutions can relate it to the pixels, or through a
    projection (`condition_at="projection"`, Miyato & Koyama 2018): `logit = psi(h) + (V c) . h`
    with `h` the image's features, so each attribute's sign turns a learned direction of the
    features up or down and the condition's effect depends on the image.
    """
    if condition_at not in CONDITION_AT:
        raise ValueError(f"condition_at must be one of {CONDITION_AT}; received "
                         f"{condition_at!r}.")
    images = keras.Input((image_size, image_size, 3), name="images")
    inputs = [images]
    x = images
    if condition_dim:
        c = keras.Input((condition_dim,), name="condition")
        inputs.append(c)
        if condition_at == "input":
            maps = layers.Reshape((1, 1, condition_dim), name="condition_pixel")(c)
            maps = layers.UpSampling2D(image_size, name="condition_maps")(maps)
            x = layers.Concatenate(name="images_and_condition")([images, maps])
    x = down_stack(x, image_size, width, norm, dropout)
    x = layers.Flatten(name="features")(x)
    if condition_dim and condition_at == "dense":
        x = layers.Concatenate(name="features_and_condition")([x, inputs[1]])
    logits = layers.Dense(1, kernel_initializer=weight_init(), dtype="float32", name="logit")(x)
    if condition_dim and condition_at == "projection":
        embedded = layers.Dense(x.shape[-1], use_bias=False, kernel_initializer=weight_init(),
                                name="projection")(inputs[1])
        projected = layers.Dot(axes=1, dtype="float32", name="projected")([embedded, x])
        logits = layers.Add(dtype="float32", name="logit_and_projection")([logits, projected])
    return Network(inputs if condition_dim else images, logits, name=name)


def encoder(image_size=64, latent_dim=128, width=64, norm="batch", outputs=2, name="encoder"):
    """Convolutional encoder: image -> `outputs` vectors of size `latent_dim`.

    `down_stack` (4 conv blocks at 64 px: conv, batch norm, LeakyReLU(0.2); no normalisation
    on the first block, as in DCGAN) -> Flatten -> Dense(latent_dim * outputs), split into
    `outputs` tensors: `(mean, log_var)` of a VAE's Gaussian posterior with `outputs=2`, an
    autoencoder's code with `outputs=1` (a single tensor, not a list).
    """
    if not (isinstance(outputs, int) and outputs >= 1):
        raise ValueError(f"outputs must be a positive int; received {outputs!r}.")
    images = keras.Input((image_size, image_size, 3), name="images")
    x = down_stack(images, image_size, width, norm, prefix="down")
    x = layers.Flatten(name="features")(x)
    x = layers.Dense(
        latent_dim * outputs, kernel_initializer=weight_init(), dtype="float32", name="latent"
    )(x)
    if outputs == 1:
        return Network(images, x, name=name)
    return Network(images, keras.ops.split(x, outputs, axis=-1), name=name)


def decoder(latent_dim=128, image_size=64, width=64, norm="batch", activation="leaky_relu",
            name="decoder"):
    """A VAE's decoder: `generator` with LeakyReLU blocks (as seed 001's VAE) and a sigmoid
    output, so it maps latent vectors to images in [0, 1]."""
    return generator(latent_dim, image_size, width, norm=norm, activation=activation,
                     output_activation="sigmoid", name=name)
