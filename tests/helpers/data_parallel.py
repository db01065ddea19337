"""Trains one small model data-parallel and prints its loss curve as JSON (run by
tests/test_distributed.py in a fresh process: device counts are fixed when a backend starts).

    python tests/helpers/data_parallel.py MODEL[:sgd],MODEL... REPLICAS

Each model is trained for 3 epochs from seed 0 on the same 256 faces, batch 64 (global), with its
default optimizers or, with `:sgd`, plain SGD(1e-3) (unlike Adam, SGD shows a gradient scaled
wrongly by the number of replicas).

TensorFlow: REPLICAS logical CPU devices under `tf.distribute.MirroredStrategy` (1: no
strategy), or, with TF_CONFIG set, `MultiWorkerMirroredStrategy` across the worker processes.
JAX: REPLICAS host devices under `keras.distribution.DataParallel`.
"""

import json
import os
import sys

specs, replicas = sys.argv[1].split(","), int(sys.argv[2])
backend = os.environ.get("KERAS_BACKEND", "tensorflow")
if backend == "jax":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasgen  # noqa: E402
from kerasgen.data import synthetic_faces  # noqa: E402

faces = synthetic_faces(n=256, image_size=16, batch_size=64, shuffle=False)
images = np.concatenate([faces[i] for i in range(len(faces))])
if "TF_CONFIG" in os.environ:
    # Keras' fit all-reduces a first batch under MultiWorkerMirroredStrategy, and TensorFlow's
    # collectives take no uint8: multi-worker input must be float (the model takes [0, 1] too).
    images = images.astype("float32") / 255.0


def build(spec):
    name, _, optimizer = spec.partition(":")
    keras.utils.set_random_seed(0)
    model = getattr(kerasgen, name)(image_size=16, latent_dim=8, width=8, seed=0)
    if optimizer == "sgd":
        model.compile(optimizers={k: keras.optimizers.SGD(1e-3) for k in model.default_optimizers()})
    else:
        model.compile()
    return model


if backend == "tensorflow":
    import tensorflow as tf

    if "TF_CONFIG" in os.environ:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = (tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
                    if replicas > 1 else tf.distribute.get_strategy())
    with strategy.scope():
        models = [build(spec) for spec in specs]
    data = tf.data.Dataset.from_tensor_slices(images).batch(64)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = data.with_options(options)
    in_sync = strategy.num_replicas_in_sync
else:
    import jax

    if replicas > 1:
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=jax.devices()[:replicas]))
    models = [build(spec) for spec in specs]
    data = images
    in_sync = len(models[0].trainable_variables[0].value.devices())

histories = {}
for spec, model in zip(specs, models):
    history = model.fit(data, batch_size=None if backend == "tensorflow" else 64, epochs=3,
                        verbose=0, shuffle=False).history
    histories[spec] = {k: [float(v) for v in vals] for k, vals in history.items()}
print("HISTORY " + json.dumps({"replicas": in_sync, "histories": histories}))
