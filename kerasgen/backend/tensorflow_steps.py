"""Train steps for the TensorFlow backend: one `tf.GradientTape` per phase."""

import tensorflow as tf

# XLA made the two-optimizer GAN step ~1.6x faster than graph mode on CPU (measured in
# benchmarks/throughput.py), and Keras' own "auto" turns XLA off on CPU-only machines.
DEFAULT_JIT_COMPILE = True


def train_step(model, data):
    batch = model.prepare_batch(data)
    logs = {}
    for phase in model.train_phases():
        variables = phase.variables
        optimizer = model.optimizer[phase.optimizer]
        with tf.GradientTape() as tape:
            loss, phase_logs = phase.loss(batch)
            scaled_loss = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply(grads, variables)
        logs.update(phase_logs)
    return model.update_trackers(logs)


def input_gradients(fn, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(fn(x))
    return tape.gradient(y, x)
