"""The one place in kerasgen that knows which Keras backend is running.

A kerasgen model describes one training step as a sequence of phases (a loss, the variables it
trains, the optimizer that updates them; see `kerasgen.models.base.Phase`). This package turns
those phases into the backend's `train_step`:

- TensorFlow: one `tf.GradientTape` per phase.
- JAX: the step is a pure function of the variables' values; each phase differentiates its loss
  with `jax.value_and_grad` inside a `keras.StatelessScope` and applies `stateless_apply`.
- PyTorch: `torch.autograd.grad` of each phase's loss with respect to that phase's variables only.

Model files never branch on the backend; only the modules in this package import TensorFlow,
JAX or PyTorch, and only the one for the running backend is imported.
"""

import keras

BACKEND = keras.backend.backend()

if BACKEND == "tensorflow":
    from kerasgen.backend import tensorflow_steps as _steps
elif BACKEND == "jax":
    from kerasgen.backend import jax_steps as _steps
elif BACKEND == "torch":
    from kerasgen.backend import torch_steps as _steps
else:  # pragma: no cover - numpy/openvino backends cannot train.
    raise ImportError(
        f"kerasgen trains with the tensorflow, jax or torch Keras backend; "
        f"KERAS_BACKEND is {BACKEND!r}."
    )

#: `train_step(model, data)` (or `train_step(model, state, data)` under JAX).
train_step = _steps.train_step
#: `test_step(model, data)` (or `test_step(model, state, data)` under JAX): the model's
#: `evaluation_logs` of one batch, without updates, for `evaluate` and `fit(validation_data=...)`.
test_step = _steps.test_step
#: `input_gradients(fn, x)`: d(sum fn(x))/dx, differentiable again (for gradient penalties).
input_gradients = _steps.input_gradients
#: `num_replicas()`, `replica_id()`: the `tf.distribute` replicas a step runs on, and which one
#: this is (1 and 0 on JAX, whose data parallelism is one program over sharded arrays, and torch).
num_replicas = _steps.num_replicas
replica_id = _steps.replica_id
#: `accelerators()`: the GPUs (or other accelerators) this backend trains on, one string each.
accelerators = _steps.accelerators
#: `fused_batch_norm(x, gamma, beta, axis, epsilon)` -> `(outputs, mean, variance)` with batch
#: statistics in one kernel, or None where Keras' own batch normalisation is as fast (TF, JAX).
fused_batch_norm = _steps.fused_batch_norm
#: `fused_group_norm(x, gamma, beta, groups, epsilon)` -> group-normalised channels-last `x` in
#: one kernel, or None where Keras' own group normalisation is as fast (TF, JAX: traced).
fused_group_norm = _steps.fused_group_norm
#: `make_train_function(model, force)`: sets `model.train_function` and returns True where this
#: backend builds it differently from Keras (JAX on a CPU), else returns False.
make_train_function = getattr(_steps, "make_train_function", lambda model, force: False)
#: `default_jit_compile()`: what `compile(jit_compile="auto")` resolves to on this backend.
default_jit_compile = _steps.default_jit_compile
#: `default_steps_per_execution()`: what `compile(steps_per_execution="auto")` resolves to.
default_steps_per_execution = _steps.default_steps_per_execution
#: `prepare_optimizer(optimizer)`: what `compile()` does once to each optimizer on this backend
#: (PyTorch: Adam's update through the fused kernel; nothing elsewhere).
prepare_optimizer = getattr(_steps, "prepare_optimizer", lambda optimizer: None)
#: `run_graph(network, inputs, training)`: the outputs of an eager call of a functional
#: `kerasgen.nets.Network` computed with less per-layer overhead than Keras' own call, or None
#: where Keras' call is to be used (PyTorch runs eagerly and has one; TF and JAX trace).
run_graph = getattr(_steps, "run_graph", lambda network, inputs, training: None)

_FUSES_BIAS = BACKEND == "torch"  # torch_conv's kernels add the bias themselves
if BACKEND == "jax":
    from kerasgen.backend import jax_conv as _conv
elif BACKEND == "torch":
    from kerasgen.backend import torch_conv as _conv
else:  # TensorFlow's own kernels take NHWC as they are.
    _conv = None


def conv(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1, bias=None):
    """`keras.ops.conv` (plus `bias`, if given, per output channel), computed by kerasgen's own
    convolution where the backend has one for these arguments: JAX (`jax_conv`: an input
    gradient XLA:CPU runs fast, so a gradient penalty's second-order gradient stays fast) and
    PyTorch (`torch_conv`: no layout copies, the bias added inside the convolution's kernel
    instead of by a separate pass over the output and a reduction for its gradient)."""
    if _conv is not None and _conv.is_conv_supported(x.shape, kernel.shape, strides, padding,
                                                     data_format, dilation_rate):
        if _FUSES_BIAS:
            return _conv.conv(x, kernel, strides, padding, data_format, dilation_rate, bias)
        y = _conv.conv(x, kernel, strides, padding, data_format, dilation_rate)
    else:
        y = keras.ops.conv(x, kernel, strides, padding, data_format, dilation_rate)
    return add_bias(y, bias, data_format)


def conv_transpose(x, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1, bias=None):
    """`keras.ops.conv_transpose` (plus `bias`), likewise: JAX's with a backward pass XLA:CPU
    runs fast, PyTorch's without layout copies or cropping and with the bias in its kernel."""
    args = (strides, padding, output_padding, data_format, dilation_rate)
    if _conv is not None and _conv.is_supported(x.shape, kernel.shape, *args):
        if _FUSES_BIAS:
            return _conv.conv_transpose(x, kernel, *args, bias)
        y = _conv.conv_transpose(x, kernel, *args)
    else:
        y = keras.ops.conv_transpose(x, kernel, *args)
    return add_bias(y, bias, data_format)


def add_bias(y, bias, data_format=None):
    """`y` plus `bias` per channel (`y` itself where `bias` is None)."""
    if bias is None:
        return y
    channels_first = (data_format or keras.config.image_data_format()) == "channels_first"
    ones = (1,) * (len(y.shape) - 2)
    shape = (1, -1) + ones if channels_first else (1,) + ones + (-1,)
    return keras.ops.add(y, keras.ops.reshape(bias, shape))
