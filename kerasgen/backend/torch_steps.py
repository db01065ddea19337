"""Train steps for the PyTorch backend: `torch.autograd.grad` per phase.

`autograd.grad` with respect to the phase's own variables only (instead of `loss.backward()`
over every parameter) skips the backward pass through networks the phase does not train, e.g.
the generator while the discriminator learns, and needs no `zero_grad`.
"""

import inspect
import types
import weakref

import keras
import torch


def default_jit_compile():
    """Never by default: `torch.compile` of the whole step compiles for about a minute and ran
    slower than the eager step on CPU (docs/performance.md); `compile(jit_compile=True)` asks
    for it."""
    return False


def default_steps_per_execution():
    """One: Keras' torch trainer runs one step per call (and refuses more)."""
    return 1


def accelerators():
    """The CUDA devices PyTorch sees, as `"cuda:i (name)"`."""
    return [f"cuda:{i} ({torch.cuda.get_device_name(i)})"
            for i in range(torch.cuda.device_count())]


def num_replicas():
    """1: data parallelism here is one program over sharded arrays (JAX's
    `keras.distribution.DataParallel`) or none, so each step sees the global batch."""
    return 1


def replica_id():
    return 0


def fused_adam(optimizer):
    """Makes a Keras `Adam` update its variables with PyTorch's fused Adam kernel, computing
    Keras' numbers; returns whether it does. Everything around the update (filtering empty
    gradients, loss-scale unscaling, clipping, weight decay, gradient accumulation, EMA,
    constraints, the iteration count) stays Keras' `apply`; only the arithmetic of
    `_parallel_update_step` (for Keras' torch Adam about 12 foreach passes over the parameters;
    `benchmarks/adam_step.py` times both) becomes one kernel.

    Keras' step is `p -= alpha_t * m / (sqrt(v) + eps)` with `alpha_t = lr sqrt(1 - b2^t) /
    (1 - b1^t)`. The kernel takes its learning rate as a tensor and divides by its own bias
    corrections `1 - b^step`: given `alpha_t` (computed on the device from Keras' iteration
    count) and a step count so large that its corrections are 1, it computes Keras' update
    without reading anything back to the host, so a GPU step never waits for a sync here. The
    moment updates are the same. AMSGrad and optimizers other than `keras.optimizers.Adam`
    itself are left as they are.
    """
    if getattr(optimizer, "_kerasgen_fused_adam", False):
        return True
    if (type(optimizer).__module__ != "keras.src.backend.torch.optimizers.torch_adam"
            or optimizer.amsgrad or not hasattr(torch, "_fused_adam_")):
        return False

    def update(self, grads, variables, learning_rate):  # bound: a deep copy rebinds
        params = [v.value for v in variables]
        index = self._get_variable_index
        m = [self._momentums[index(v)].value for v in variables]
        v = [self._velocities[index(v)].value for v in variables]
        # Keras makes them contiguous; else, and under `torch.compile` (`jit_compile=True`: the
        # kernel has no implementation for its tracer, and the compiler fuses Keras' update
        # itself), Keras' own update.
        if (_is_compiling()
                or not all(t.is_contiguous() for t in params + m + v)):
            return type(self)._parallel_update_step(self, grads, variables, learning_rate)
        device = params[0].device
        t = self.iterations.value.to(device=device, dtype=torch.float32) + 1.0  # local_step
        lr = torch.as_tensor(keras.ops.convert_to_tensor(learning_rate), dtype=torch.float32,
                             device=device)
        alpha = lr * torch.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        torch._fused_adam_(
            # The kernel walks raw memory: gradients of permuted kernels (channels-last
            # convolutions) must be laid out as their parameters are.
            params, [g.to(p.dtype).contiguous() for g, p in zip(grads, params)], m, v, [],
            _unit_bias_steps(self, len(params), device), lr=alpha, beta1=self.beta_1,
            beta2=self.beta_2, weight_decay=0.0, eps=self.epsilon, amsgrad=False,
            maximize=False,
        )

    optimizer._parallel_update_step = types.MethodType(update, optimizer)
    optimizer._kerasgen_fused_adam = True
    return True


#: Whether `torch.compile` is tracing (`torch.compiler.is_compiling` is torch >= 2.3).
_is_compiling = (getattr(torch.compiler, "is_compiling", None)
                 or (lambda: torch._dynamo.is_compiling()))


def _unit_bias_steps(optimizer, n, device):
    """`n` step counts (one per parameter, as the kernel takes them) at which `1 - b^step` is 1
    in float32 for any beta < 1, made once per optimizer and device; the kernel only reads
    them."""
    cache = optimizer.__dict__.setdefault("_kerasgen_unit_steps", {})
    if (n, device) not in cache:
        cache[(n, device)] = [torch.full((), 2.0**40, device=device) for _ in range(n)]
    return cache[(n, device)]


def prepare_optimizer(optimizer):
    """Called once per optimizer by `compile()`: swaps in the fused Adam update (above)."""
    fused_adam(optimizer)


def train_step(model, data):
    batch = model.prepare_batch(data)
    logs = {}
    for phase in model.train_phases():
        variables = phase.variables
        optimizer = model.optimizer[phase.optimizer]
        loss, phase_logs = phase.loss(batch)
        scaled_loss = optimizer.scale_loss(loss)
        grads = torch.autograd.grad(
            scaled_loss, [v.value for v in variables], allow_unused=True
        )
        with torch.no_grad():
            optimizer.apply(list(grads), variables)
        logs.update({k: v.detach() for k, v in phase_logs.items()})
    with torch.no_grad():
        return model.finish_step(logs)


def test_step(model, data):  # Keras runs it under torch.no_grad()
    return model.update_trackers(model.evaluation_logs(model.prepare_batch(data)))


def input_gradients(fn, x):
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    y = fn(x).sum()
    (grad,) = torch.autograd.grad(y, x, create_graph=True)
    return grad


def fused_batch_norm(x, gamma, beta, axis, epsilon):
    """Batch normalisation of `x` over every axis but `axis` with batch statistics, in one
    fused ATen kernel forward and backward (`torch.native_batch_norm`), instead of Keras'
    separate moments, subtract, multiply and add (and their autograd graph).

    Returns `(outputs, mean, variance)`: the biased batch variance, as Keras' moments give it,
    recovered from the kernel's saved 1/sqrt(variance + epsilon), without gradient (for the
    moving averages only). `gamma`/`beta` may be None.
    """
    axis = axis % x.ndim
    channels_first = x.movedim(axis, 1)  # a view: NHWC activations are NCHW-strided here
    outputs, mean, inv_std = torch.native_batch_norm(
        channels_first, gamma, beta, None, None, True, 0.0, epsilon
    )
    with torch.no_grad():
        variance = inv_std.pow(-2).sub_(epsilon).clamp_(min=0.0)
    return outputs.movedim(1, axis), mean.detach(), variance


def fused_group_norm(x, gamma, beta, groups, epsilon):
    """Group normalisation of channels-last `x` (`(batch, ..., channels)`) in PyTorch's fused
    kernel forward and backward (`F.group_norm` on the NCHW view of the same memory), instead of
    Keras' reshape, moments, subtract, divide, multiply and add (and their autograd graph): one
    kernel each way instead of a dozen (docs/performance.md has the measured gain)."""
    moved = x.movedim(-1, 1)  # a view: channels-last memory, which the CPU kernel takes as is
    return torch.nn.functional.group_norm(moved, groups, gamma, beta, epsilon).movedim(1, -1)


# ---- eager calls of kerasgen's functional networks, without Keras' per-layer call machinery ----

#: False sends every layer through Keras' `Layer.__call__` (the tests compare the two paths).
DIRECT_LAYER_CALLS = True
_graph_plans = weakref.WeakKeyDictionary()


def run_graph(network, inputs, training):
    """`network(inputs, training=training)` for a functional `kerasgen.nets.Network`, walking
    its graph in Keras' order but calling each plain layer's `call` directly (see
    `_graph_plan`) and dropping each intermediate tensor after its last use (`_schedule`);
    None where the network or the inputs are not eligible, and the caller then uses Keras'
    call."""
    if not DIRECT_LAYER_CALLS:
        return None
    plan = _graph_plans.get(network)
    if plan is None:
        plan = _graph_plans[network] = _graph_plan(network)
    if not plan:
        return None
    direct, takes_training, input_specs, schedule = plan
    flat = [inputs] if isinstance(inputs, torch.Tensor) else inputs
    if not isinstance(flat, (list, tuple)) or len(flat) != len(input_specs):
        return None
    for x, (dtype, ndim) in zip(flat, input_specs):
        if not isinstance(x, torch.Tensor) or x.dtype != dtype or x.ndim != ndim:
            return None

    def operation_fn(op):
        key = id(op)
        if key in direct:
            call = op.call
            if training is None or key not in takes_training:
                return call

            def direct_call(*args, **kwargs):  # overrides a `training` the node recorded
                kwargs["training"] = training
                return call(*args, **kwargs)

            return direct_call

        def keras_call(*args, **kwargs):  # as Keras' functional `operation_fn`
            if training is not None and "training" in getattr(op, "_call_context_args", ()):
                kwargs["training"] = training
            return op(*args, **kwargs)

        return keras_call

    values = {id(x): y for x, y in zip(network.inputs, flat)}
    for node, done in schedule:
        args, kwargs = node.arguments.fill_in(values)
        outputs = operation_fn(node.operation)(*args, **kwargs)
        values.update(zip((id(x) for x in node.outputs), keras.tree.flatten(outputs)))
        for key in done:
            del values[key]
    outputs = [values[id(x)] for x in network.outputs]
    if len(outputs) == 1:
        return outputs[0]
    return keras.tree.pack_sequence_as(network._outputs_struct, outputs)


def _schedule(network):
    """The nodes of `network` in the order Keras' `_run_through_graph` computes them, each with
    the tensors (ids) whose last use it is. Keras keeps every intermediate tensor until the call
    ends; eagerly on PyTorch that holds each one (a convolution's output before the bias or time
    embedding is added, a concatenation, ...) in memory through the whole forward pass, where
    `torch.nn` frees it once used: for the 64 px diffusion UNet at batch 64, gigabytes more at
    the peak, and slower (page-faulting) forward kernels as the memory grows."""
    available = {id(x) for x in network.inputs}
    order = []
    for depth in sorted(network._nodes_by_depth, reverse=True):
        for node in network._nodes_by_depth[depth]:
            if not node.operation or node.is_input:
                continue
            if any(id(x) not in available for x in node.input_tensors):
                continue  # as Keras: a node of another graph sharing these layers
            order.append(node)
            available.update(id(x) for x in node.outputs)
    if any(id(x) not in available for x in network.outputs):
        return None
    last_use = {}
    for i, node in enumerate(order):
        for x in node.input_tensors:
            last_use[id(x)] = i
    keep = {id(x) for x in network.outputs}
    done = [[] for _ in order]
    for key, i in last_use.items():
        if key not in keep:
            done[i].append(key)
    return [(node, tuple(keys)) for node, keys in zip(order, done)]


def _graph_plan(network):
    """`(ids of layers called directly, ids of those taking training=, (dtype, rank) of each
    input)`, or False where the whole network takes Keras' path.

    A layer is called directly when `Layer.__call__` would add nothing to its `call` in a
    float32 eager training step: it is built, has no sub-layers (whose calls need Keras' call
    context for `training`), no activity regulariser, no `__call__` of its own, and the network
    computes in float32 throughout (no autocasting of inputs or variables). Masks are never
    passed (`Network.call` takes Keras' path when one is)."""
    if not (network.built and hasattr(network, "_run_through_graph")):
        return False
    operations = network.operations
    layers = [op for op in operations if isinstance(op, keras.layers.Layer)]
    if any(layer.dtype_policy.compute_dtype != "float32"
           or layer.dtype_policy.variable_dtype != "float32" for layer in layers):
        return False
    direct, takes_training = set(), set()
    for layer in layers:
        if (isinstance(layer, keras.layers.InputLayer) or not layer.built
                or getattr(layer, "activity_regularizer", None) is not None
                or type(layer).__call__ is not keras.layers.Layer.__call__
                or any(True for _ in layer._flatten_layers(include_self=False,
                                                          recursive=False))):
            continue
        direct.add(id(layer))
        if "training" in inspect.signature(layer.call).parameters:
            takes_training.add(id(layer))
    specs = []
    for x in network.inputs:
        dtype = getattr(torch, keras.backend.standardize_dtype(x.dtype), None)
        if not isinstance(dtype, torch.dtype):
            return False
        specs.append((dtype, len(x.shape)))
    schedule = _schedule(network)
    if schedule is None:
        return False
    return direct, takes_training, tuple(specs), schedule
