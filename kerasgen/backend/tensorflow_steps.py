"""Train steps for the TensorFlow backend: one `tf.GradientTape` per phase."""

import tensorflow as tf


def default_jit_compile():
    """XLA where a GPU is visible (Keras' own default there). On CPU, XLA made the DCGAN step
    slower than graph mode, for kerasgen and the textbook loop alike (`benchmarks/throughput.py`;
    figures in docs/performance.md)."""
    return bool(tf.config.list_physical_devices("GPU"))


def default_steps_per_execution():
    """Several steps per `tf.function` call where a GPU is visible, so that the device does not
    wait for Python and the logs between steps of a few milliseconds; one on CPU, where a step
    is long beside both."""
    return 16 if tf.config.list_physical_devices("GPU") else 1


def accelerators():
    """The GPUs TensorFlow sees, as `"gpu:i (name)"`."""
    found = []
    for i, device in enumerate(tf.config.list_physical_devices("GPU")):
        name = tf.config.experimental.get_device_details(device).get("device_name", "GPU")
        found.append(f"gpu:{i} ({name})")
    return found


def num_replicas():
    """Replicas of the current `tf.distribute` strategy (1 without one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def replica_id():
    """This replica's index inside a strategy's step (a scalar tensor; 0 without one)."""
    return tf.distribute.get_replica_context().replica_id_in_sync_group


def train_step(model, data):
    # Under a tf.distribute strategy each replica runs this on its share of the global batch and
    # the optimizers sum the replicas' gradients: dividing each replica's (batch-mean) loss by
    # the number of replicas makes that sum the gradient of the global batch's mean loss, as in
    # Keras' own train_step. Logs stay per-replica means, which the metrics average.
    replicas = num_replicas()
    batch = model.prepare_batch(data)
    logs = {}
    for phase in model.train_phases():
        variables = phase.variables
        optimizer = model.optimizer[phase.optimizer]
        with tf.GradientTape() as tape:
            loss, phase_logs = phase.loss(batch)
            scaled_loss = optimizer.scale_loss(loss / replicas if replicas > 1 else loss)
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply(grads, variables)
        logs.update(phase_logs)
    return _for_keras_reduction(model.finish_step(logs))


def _for_keras_reduction(logs):
    """Under `MultiWorkerMirroredStrategy`, Keras 3's `fit` reduces each replica's logs with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars ("Invalid reduction
    dimension 0 for input with 0 dimensions", tensorflow/tensorflow#72388); shape `(1,)` logs
    reduce to the same scalars."""
    strategy = tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) \
            and strategy.extended._in_multi_worker_mode():
        return {k: tf.reshape(v, (1,)) for k, v in logs.items()}
    return logs


def test_step(model, data):
    logs = model.update_trackers(model.evaluation_logs(model.prepare_batch(data)))
    return _for_keras_reduction(logs)


def input_gradients(fn, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(fn(x))
    return tape.gradient(y, x)


#: No fused kernel here: kerasgen's BatchNormalization computes Keras' own (the graph compiler
#: fuses the moments and the normalisation already).
fused_batch_norm = None
fused_group_norm = None
