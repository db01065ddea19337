"""Train steps for the TensorFlow backend: one `tf.GradientTape` per phase."""

import tensorflow as tf



def default_jit_compile():
    """XLA where a GPU is visible (Keras' own default there). On CPU, XLA made the DCGAN step
    about 30% *slower* than graph mode (benchmarks/throughput.py, 64 px, batch 64, 2 cores:
    95 against 137 images/s), for kerasgen and the textbook loop alike."""
    return bool(tf.config.list_physical_devices("GPU"))


def accelerators():
    """The GPUs TensorFlow sees, as `"gpu:i (name)"`."""
    found = []
    for i, device in enumerate(tf.config.list_physical_devices("GPU")):
        name = tf.config.experimental.get_device_details(device).get("device_name", "GPU")
        found.append(f"gpu:{i} ({name})")
    return found


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


def test_step(model, data):
    return model.update_trackers(model.evaluation_logs(model.prepare_batch(data)))


def input_gradients(fn, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(fn(x))
    return tape.gradient(y, x)
