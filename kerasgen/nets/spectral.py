"""Spectral normalisation (Miyato et al., 2018): layers whose kernel is divided by an estimate
of its largest singular value, kept up to date by one power iteration per training call.

The kernel `W`, reshaped to `(fan_in, units)` (for a convolution `(kh * kw * in, out)`), is
replaced in the forward pass by `W / sigma` with (the paper's Algorithm 1, as mimicry's
`SpectralNorm` computes it):

    v = normalize(u W^T),  u = normalize(v W),  sigma = v W u^T

`u` (shape `(1, units)`) is a non-trainable variable: saved in `.keras` files, and updated in
training mode only (in inference the same iteration runs from the stored `u`, which stays as
it is, so inference is deterministic and changes no state). `u` and `v` carry no gradient;
`sigma` does, so the gradient of `W` includes the normalisation, as in the paper.

Why not `keras.layers.SpectralNormalization`: that wrapper *assigns* `W / sigma` to the kernel
variable during the forward pass and differentiates the layer with respect to the assigned
kernel, so the gradient does not pass through `sigma` (not the paper's reparametrisation); under
kerasgen's JAX step an assignment to a variable that the phase differentiates is discarded,
so the discriminator's phases would never normalise its kernel; and under PyTorch the second
call of the discriminator in one phase (real, then fake batch) overwrites in place a kernel
that autograd saved for the backward pass.
"""

import keras
from keras import layers
from keras import ops

from kerasgen.checks import check_int
from kerasgen.checks import check_number
from kerasgen.nets.conv import Conv2D


def l2_normalize(x, epsilon=1e-12):
    """`x / max(||x||, epsilon)` over the whole tensor (PyTorch's `F.normalize` of a row)."""
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), epsilon)


def power_iteration(matrix, u, iterations=1, epsilon=1e-12):
    """`iterations` power-iteration steps for the top singular pair of `matrix` `(m, n)`,
    starting from `u` `(1, n)`. Returns `(sigma, u, v)`: the new vectors (no gradient) and the
    estimate `sigma = v matrix u^T`, differentiable with respect to `matrix`."""
    fixed = ops.stop_gradient(matrix)
    v = None
    for _ in range(iterations):
        v = l2_normalize(ops.matmul(u, ops.transpose(fixed)), epsilon)
        u = l2_normalize(ops.matmul(v, fixed), epsilon)
    u = ops.stop_gradient(u)
    v = ops.stop_gradient(v)
    sigma = ops.sum(ops.matmul(v, matrix) * u)
    return sigma, u, v


class SpectralNormalizationMixin:
    """What `SNConv2D` and `SNDense` share: the `u` variable, the normalised kernel, and the
    saving of `u` beside the kernel and bias (Keras' `Dense` and `Conv2D` save only those)."""

    def __init__(self, *args, power_iterations=1, epsilon=1e-12, **kwargs):
        super().__init__(*args, **kwargs)
        self.power_iterations = check_int(power_iterations, "power_iterations", minimum=1)
        self.epsilon = check_number(epsilon, "epsilon", above=0.0)

    def build(self, input_shape):
        super().build(input_shape)
        self.sn_u = self.add_weight(
            shape=(1, self.kernel.shape[-1]),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),  # torch.randn, as mimicry
            trainable=False,
            autocast=False,
            name="sn_u",
        )

    def normalized_kernel(self, training=False):
        """`kernel / sigma`; in training mode `u` also moves one power iteration on."""
        kernel = ops.cast(self.kernel, "float32")
        matrix = ops.reshape(kernel, (-1, kernel.shape[-1]))
        sigma, u, _ = power_iteration(
            matrix, ops.cast(self.sn_u.value, "float32"), self.power_iterations, self.epsilon
        )
        if training:
            self.sn_u.assign(u)
        return ops.cast(kernel / sigma, self.compute_dtype)

    def save_own_variables(self, store):
        layers.Layer.save_own_variables(self, store)  # kernel, bias, then u

    def load_own_variables(self, store):
        layers.Layer.load_own_variables(self, store)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations,
                "epsilon": self.epsilon}

    def _check_not_quantized_or_lora(self):
        if getattr(self, "lora_enabled", False) or self.quantization_mode is not None:
            raise ValueError(f"{type(self).__name__} supports neither LoRA nor quantization.")


@keras.saving.register_keras_serializable(package="kerasgen")
class SNConv2D(SpectralNormalizationMixin, Conv2D):
    """`kerasgen.nets.Conv2D` with a spectrally normalised kernel.

    Args:
        power_iterations: power-iteration steps per call (1 in the paper).
        epsilon: floor of the norms in the iteration (1e-12, PyTorch's `F.normalize`).
        Others: as `keras.layers.Conv2D`.
    """

    def call(self, inputs, training=None):
        self._check_not_quantized_or_lora()
        return self.apply_kernel(inputs, self.normalized_kernel(training))


@keras.saving.register_keras_serializable(package="kerasgen")
class SNDense(SpectralNormalizationMixin, layers.Dense):
    """`keras.layers.Dense` with a spectrally normalised kernel (arguments as `SNConv2D`)."""

    def call(self, inputs, training=None):
        self._check_not_quantized_or_lora()
        outputs = ops.matmul(inputs, self.normalized_kernel(training))
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs
