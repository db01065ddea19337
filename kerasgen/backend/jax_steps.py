"""Train steps for the JAX backend: a pure function of the model's state.

Keras' JAX trainer passes `(trainable, non_trainable, optimizer, metrics)` variable values into
`train_step` and writes back what it returns. Each phase is differentiated with
`jax.value_and_grad` over the values of its own variables while every other variable is read
from the same value table inside a `keras.StatelessScope`; assignments made during the forward
pass (batch-norm statistics, the model's `SeedGenerator`) are collected from the scope, so a
later phase sees exactly what it would see on the stateful backends.
"""

import jax
import keras



def default_jit_compile():
    """Always: a JAX train step outside `jax.jit` runs op by op."""
    return True


class _ValueTable:
    """The current value of every variable in the model's state, keyed by variable."""

    def __init__(self, groups, state):
        self.refs = {}
        self.values = {}
        for group, group_values in zip(groups, state):
            for variable, value in zip(group, group_values):
                self.refs[id(variable)] = variable
                self.values[id(variable)] = value

    def get(self, variables):
        return [self.values[id(v)] for v in variables]

    def set(self, variables, new_values):
        self.values.update((id(v), x) for v, x in zip(variables, new_values))

    def run(self, fn, overrides=()):
        """Runs `fn()` with every variable bound to its value (or to `overrides`, a list of
        `(variable, value)`); returns fn's result and `{variable id: value}` for each
        variable that fn assigned."""
        mapping = {**self.values, **{id(v): x for v, x in overrides}}
        with keras.StatelessScope(
            state_mapping=[(self.refs[k], x) for k, x in mapping.items()]
        ) as scope:
            bound = dict(scope.state_mapping)
            out = fn()
        assigned = {
            k: x for k, x in scope.state_mapping.items() if bound.get(k) is not x
        }
        return out, assigned


def default_steps_per_execution():
    """Several steps per jitted call on an accelerator, so that the device does not wait for
    Python between steps of a few milliseconds; one on CPU, where a step is long beside it."""
    return 16 if accelerators() else 1


def make_train_function(model, force=False):
    """On a CPU, `model.train_function` as Keras builds it but without donating the state's
    buffers to the jitted step (Keras passes `donate_argnums=0`): XLA:CPU runs a donated DCGAN
    step slower (docs/performance.md), and a CPU's memory does not need the saving. Returns
    False, leaving it to Keras, on accelerators (where donation saves device memory), with a
    distribution (Keras' sharded outputs), eagerly, or without `jit_compile`."""
    from keras.src.backend.config import is_nnx_enabled
    from keras.src.distribution import distribution_lib

    if (accelerators() or model.run_eagerly or not model.jit_compile or is_nnx_enabled()
            or distribution_lib.distribution() is not None):
        return False
    if model.train_function is None or force:
        model.train_function = model._make_function(jax.jit(model.train_step))
    return True


def accelerators():
    """The non-CPU devices JAX sees, as `"gpu:i (kind)"`."""
    return [f"{d.platform}:{d.id} ({d.device_kind})" for d in jax.devices()
            if d.platform != "cpu"]


def num_replicas():
    """1: data parallelism here is one program over sharded arrays (JAX's
    `keras.distribution.DataParallel`) or none, so each step sees the global batch."""
    return 1


def replica_id():
    return 0


def train_step(model, state, data):
    groups = (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )
    table = _ValueTable(groups, state)
    batch = model.prepare_batch(data)
    logs = {}
    for phase in model.train_phases():
        variables = phase.variables
        optimizer = model.optimizer[phase.optimizer]

        def scaled_loss(params, phase=phase, variables=variables, optimizer=optimizer):
            def forward():
                loss, phase_logs = phase.loss(batch)
                return optimizer.scale_loss(loss), phase_logs

            (loss, phase_logs), assigned = table.run(forward, zip(variables, params))
            own = {id(v) for v in variables}
            assigned = {k: x for k, x in assigned.items() if k not in own}
            return loss, (phase_logs, assigned)

        params = table.get(variables)
        (_, (phase_logs, assigned)), grads = jax.value_and_grad(
            scaled_loss, has_aux=True
        )(params)
        table.values.update(assigned)
        new_params, new_optimizer_values = optimizer.stateless_apply(
            table.get(optimizer.variables), grads, params
        )
        table.set(variables, new_params)
        table.set(optimizer.variables, new_optimizer_values)
        logs.update(phase_logs)

    results, assigned = table.run(lambda: model.finish_step(logs))
    table.values.update(assigned)
    return results, tuple(table.get(group) for group in groups)


def test_step(model, state, data):
    groups = (model.trainable_variables, model.non_trainable_variables, model.metrics_variables)
    table = _ValueTable(groups, state)
    batch = model.prepare_batch(data)
    logs, assigned = table.run(lambda: model.evaluation_logs(batch))
    table.values.update(assigned)
    results, assigned = table.run(lambda: model.update_trackers(logs))
    table.values.update(assigned)
    return results, tuple(table.get(group) for group in groups)


def input_gradients(fn, x):
    """`jax.grad` of `sum(fn(x))`. Assignments `fn` makes while it is differentiated (batch
    norm's moving statistics in a discriminator called in training mode) would put JAX tracers
    into the step's `StatelessScope` and leak out of the transformation: they are dropped, so a
    penalty's extra forward pass leaves the statistics as they were."""
    scope = keras.src.backend.common.stateless_scope.get_stateless_scope()
    if scope is None:  # called eagerly: assignments go to a scope of their own, then away
        with keras.StatelessScope():
            return jax.grad(lambda x: fn(x).sum())(x)
    saved = dict(scope.state_mapping)
    grads = jax.grad(lambda x: fn(x).sum())(x)
    scope.state_mapping.clear()
    scope.state_mapping.update(saved)
    return grads


#: No fused kernel here: kerasgen's BatchNormalization computes Keras' own (the graph compiler
#: fuses the moments and the normalisation already).
fused_batch_norm = None
fused_group_norm = None
