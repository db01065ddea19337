"""Images per second of every kerasgen model's `fit` against a textbook loop of the same networks.

    python benchmarks/models.py                                  # every model, 64 px, batch 64
    python benchmarks/models.py --models wgan-gp --image-size 32 --steps 10 --json out.json

For each model, rows (each in its own subprocess, on the same fixed random uint8 batches):

- kerasgen `fit` with `compile()`'s defaults, under each backend in `--backends` (fed NumPy
  arrays; under TensorFlow a tf.data pipeline of them with autotuning off, as kerasgen's data
  sources deliver batches there);
- a textbook TensorFlow loop: the *same networks* (taken from the kerasgen model, so the layers
  and sizes are identical) trained by a plain `tf.GradientTape` step in `tf.function`, written
  as the Keras examples write it (DCGAN and WGAN-GP "overriding train_step", the VAE example;
  the VAE-GAN with one tape per network), with the same losses, optimizers and number of
  updates per step;
- a textbook PyTorch loop: the same architectures in `torch.nn` + `torch.optim`
  (`benchmarks/torch_textbook.py`);
- a textbook JAX step: the model's own networks in one `jax.jit` step with `stateless_call`,
  `jax.value_and_grad` per phase and the optimizers' `stateless_apply`
  (`benchmarks/jax_textbook.py`).

Ratio = kerasgen img/s / textbook img/s on the same backend (> 1: kerasgen is faster). Timing as in
`throughput.py`: warm-up steps first (compilation), then `--steps` timed steps ending in a sync.
`throughput.py` has DCGAN's JAX and PyTorch textbook loops as well.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import machine  # noqa: E402
from throughput import LATENT_DIM, MATMUL_SIZE, WIDTH  # noqa: E402
from throughput import run_worker  # noqa: E402
from throughput import train_flops_per_image  # noqa: E402
from throughput import versions  # noqa: E402

NUM_BATCHES = 8
WARMUP_STEPS = 2


def usage():
    """The process's minor page faults and user and system CPU seconds so far (every thread)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return np.array([r.ru_minflt, r.ru_utime, r.ru_stime])


# ---- the models, as the benchmark builds them ---------------------------------------------------


def build(name, image_size):
    import kerasgen

    if name == "dcgan":
        return kerasgen.DCGAN(latent_dim=100, image_size=image_size, seed=0)
    if name == "wgan-gp":
        return kerasgen.WGANGP(latent_dim=128, image_size=image_size, seed=0)
    if name == "ae":
        return kerasgen.Autoencoder(latent_dim=128, image_size=image_size, seed=0)
    if name == "vae":
        return kerasgen.VAE(latent_dim=128, image_size=image_size, kld_weight=1.0, seed=0)
    if name == "vaegan":
        return kerasgen.VAEGAN(latent_dim=128, image_size=image_size, kld_weight=1.0, seed=0)
    if name == "cgan":
        return kerasgen.ConditionalGAN(attributes=CGAN_ATTRIBUTES, image_size=image_size, seed=0)
    if name == "sngan":
        return kerasgen.SNGAN(latent_dim=128, image_size=image_size, seed=0)
    if name == "diffusion":
        return kerasgen.Diffusion(image_size=image_size, seed=0)
    raise ValueError(f"unknown model {name!r}")


MODELS = ("dcgan", "wgan-gp", "ae", "vae", "vaegan", "cgan", "sngan", "diffusion")
CGAN_ATTRIBUTES = ["Male", "Smiling", "Eyeglasses", "Blond_Hair", "Bangs"]


# ---- textbook TensorFlow steps over the model's own networks ------------------------------------


def tf_textbook_step(name, model, batch_size):
    """A `tf.function` train step written as the Keras examples write it."""
    import keras
    import tensorflow as tf

    def adam(**kwargs):
        return keras.optimizers.Adam(**kwargs)

    def to_range(images):
        return tf.cast(images, tf.float32) / 127.5 - 1.0

    if name == "dcgan":
        g, d = model.generator, model.discriminator
        g_opt, d_opt = adam(learning_rate=2e-4, beta_1=0.5), adam(learning_rate=2e-4, beta_1=0.5)
        bce = keras.losses.BinaryCrossentropy(from_logits=True)

        @tf.function
        def step(images):
            real = to_range(images)
            fake = g(tf.random.normal([batch_size, model.latent_dim]), training=True)
            with tf.GradientTape() as tape:
                real_logits = d(real, training=True)
                fake_logits = d(tf.stop_gradient(fake), training=True)
                d_loss = (bce(tf.ones_like(real_logits), real_logits)
                          + bce(tf.zeros_like(fake_logits), fake_logits))
            d_opt.apply_gradients(zip(tape.gradient(d_loss, d.trainable_variables),
                                      d.trainable_variables))
            with tf.GradientTape() as tape:
                logits = d(g(tf.random.normal([batch_size, model.latent_dim]), training=True),
                           training=True)
                g_loss = bce(tf.ones_like(logits), logits)
            g_opt.apply_gradients(zip(tape.gradient(g_loss, g.trainable_variables),
                                      g.trainable_variables))
            return d_loss, g_loss

        return step

    if name == "wgan-gp":  # keras.io/examples/generative/wgan_gp, with the paper's settings
        g, c = model.generator, model.critic
        g_opt = adam(learning_rate=1e-4, beta_1=0.0, beta_2=0.9)
        c_opt = adam(learning_rate=1e-4, beta_1=0.0, beta_2=0.9)

        @tf.function
        def step(images):
            real = to_range(images)
            for _ in range(model.n_critic):
                fake = g(tf.random.normal([batch_size, model.latent_dim]), training=True)
                with tf.GradientTape() as tape:
                    fake_scores = c(fake, training=True)
                    real_scores = c(real, training=True)
                    alpha = tf.random.uniform([batch_size, 1, 1, 1])
                    interpolated = real + alpha * (fake - real)
                    with tf.GradientTape() as gp_tape:
                        gp_tape.watch(interpolated)
                        scores = c(interpolated, training=True)
                    grads = gp_tape.gradient(scores, interpolated)
                    norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
                    gp = tf.reduce_mean((norm - 1.0) ** 2)
                    c_loss = (tf.reduce_mean(fake_scores) - tf.reduce_mean(real_scores)
                              + model.gp_weight * gp)
                c_opt.apply_gradients(zip(tape.gradient(c_loss, c.trainable_variables),
                                          c.trainable_variables))
            with tf.GradientTape() as tape:
                g_loss = -tf.reduce_mean(
                    c(g(tf.random.normal([batch_size, model.latent_dim]), training=True),
                      training=True))
            g_opt.apply_gradients(zip(tape.gradient(g_loss, g.trainable_variables),
                                      g.trainable_variables))
            return c_loss, g_loss

        return step

    if name in ("ae", "vae"):  # keras.io/examples/generative/vae, on [0, 1] pixels
        encoder, decoder = model.encoder, model.decoder
        variables = encoder.trainable_variables + decoder.trainable_variables
        opt = adam(learning_rate=1e-3)
        variational = name == "vae"

        @tf.function
        def step(images):
            data = tf.cast(images, tf.float32) / 255.0
            with tf.GradientTape() as tape:
                if variational:
                    z_mean, z_log_var = encoder(data, training=True)
                    eps = tf.random.normal(tf.shape(z_mean))
                    z = z_mean + tf.exp(0.5 * z_log_var) * eps
                else:
                    z = encoder(data, training=True)
                reconstruction = decoder(z, training=True)
                loss = tf.reduce_mean(
                    tf.reduce_sum(tf.square(data - reconstruction), axis=(1, 2, 3)))
                if variational:
                    kl = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
                    loss += model.kld_weight * tf.reduce_mean(tf.reduce_sum(kl, axis=1))
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return (loss,)

        return step

    if name == "vaegan":  # Larsen et al.'s three losses, one tape per network, as kerasgen
        enc, dec, d = model.encoder, model.decoder, model.discriminator
        e_opt, dec_opt, d_opt = (adam(learning_rate=2e-4, beta_1=0.5) for _ in range(3))
        bce = keras.losses.BinaryCrossentropy(from_logits=True)

        def vae_pass(data):
            z_mean, z_log_var = enc(data, training=True)
            z = z_mean + tf.exp(0.5 * z_log_var) * tf.random.normal(tf.shape(z_mean))
            reconstruction = dec(z, training=True)
            error = tf.reduce_mean(tf.reduce_sum(tf.square(data - reconstruction), axis=(1, 2, 3)))
            kl = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
            return reconstruction, error, tf.reduce_mean(tf.reduce_sum(kl, axis=1))

        def prior(batch):
            return dec(tf.random.normal([batch, model.latent_dim]), training=True)

        @tf.function
        def step(images):
            data = tf.cast(images, tf.float32) / 255.0
            with tf.GradientTape() as tape:
                reconstruction, _, _ = vae_pass(data)
                logits = [d(data, training=True),
                          d(tf.stop_gradient(reconstruction), training=True),
                          d(tf.stop_gradient(prior(batch_size)), training=True)]
                d_loss = (bce(tf.ones_like(logits[0]), logits[0])
                          + bce(tf.zeros_like(logits[1]), logits[1])
                          + bce(tf.zeros_like(logits[2]), logits[2]))
            d_opt.apply_gradients(zip(tape.gradient(d_loss, d.trainable_variables),
                                      d.trainable_variables))
            with tf.GradientTape() as tape:
                _, error, kl = vae_pass(data)
                e_loss = model.kld_weight * kl + error
            e_opt.apply_gradients(zip(tape.gradient(e_loss, enc.trainable_variables),
                                      enc.trainable_variables))
            with tf.GradientTape() as tape:
                reconstruction, error, _ = vae_pass(data)
                fooled = [d(reconstruction, training=True), d(prior(batch_size), training=True)]
                dec_loss = (model.reconstruction_weight * error + model.gan_weight
                            * (bce(tf.ones_like(fooled[0]), fooled[0])
                               + bce(tf.ones_like(fooled[1]), fooled[1])))
            dec_opt.apply_gradients(zip(tape.gradient(dec_loss, dec.trainable_variables),
                                        dec.trainable_variables))
            return d_loss, e_loss, dec_loss

        return step

    if name == "cgan":  # seed 003's conditional GAN as kerasgen trains it, one tape per network
        g, d, enc = model.generator, model.discriminator, model.encoder
        g_opt, d_opt, e_opt = (adam(learning_rate=2e-4, beta_1=0.5) for _ in range(3))
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        k = model.num_attributes

        @tf.function
        def step(batch):
            images, labels = batch
            real, signs = to_range(images), tf.cast(labels, tf.float32) * 2.0 - 1.0
            fake = g([tf.random.normal([batch_size, model.latent_dim]), signs], training=True)
            flip = tf.one_hot(tf.random.uniform([batch_size], 0, k, tf.int32), k)
            wrong = signs * (1.0 - 2.0 * flip)  # one attribute flipped per sample
            with tf.GradientTape() as tape:
                logits = [d([real, signs], training=True),
                          d([tf.stop_gradient(fake), signs], training=True),
                          d([real, wrong], training=True)]
                d_loss = (bce(tf.ones_like(logits[0]), logits[0])
                          + bce(tf.zeros_like(logits[1]), logits[1])
                          + model.mismatch_weight * bce(tf.zeros_like(logits[2]), logits[2]))
            d_opt.apply_gradients(zip(tape.gradient(d_loss, d.trainable_variables),
                                      d.trainable_variables))
            with tf.GradientTape() as tape:
                logits = d([g([tf.random.normal([batch_size, model.latent_dim]), signs],
                              training=True), signs], training=True)
                redrawn = g([tf.stop_gradient(enc(real, training=True)), signs], training=True)
                g_loss = (bce(tf.ones_like(logits), logits) + model.reconstruction_weight
                          * tf.reduce_mean(tf.square((redrawn - real) / 2.0)))
            g_opt.apply_gradients(zip(tape.gradient(g_loss, g.trainable_variables),
                                      g.trainable_variables))
            with tf.GradientTape() as tape:
                redrawn = g([enc(real, training=True), signs], training=False)
                e_loss = tf.reduce_mean(tf.square((redrawn - real) / 2.0))
            e_opt.apply_gradients(zip(tape.gradient(e_loss, enc.trainable_variables),
                                      enc.trainable_variables))
            return d_loss, g_loss, e_loss

        return step

    if name == "sngan":  # Miyato et al.'s Algorithm 1 with the hinge loss, n_dis critic steps
        g, d = model.generator, model.discriminator
        g_opt = adam(learning_rate=2e-4, beta_1=0.0, beta_2=0.9)
        d_opt = adam(learning_rate=2e-4, beta_1=0.0, beta_2=0.9)

        @tf.function
        def step(images):
            real = to_range(images)
            for _ in range(model.n_dis):
                fake = g(tf.random.normal([batch_size, model.latent_dim]), training=True)
                with tf.GradientTape() as tape:
                    d_loss = (tf.reduce_mean(tf.nn.relu(1.0 - d(real, training=True)))
                              + tf.reduce_mean(tf.nn.relu(1.0 + d(tf.stop_gradient(fake),
                                                                  training=True))))
                d_opt.apply_gradients(zip(tape.gradient(d_loss, d.trainable_variables),
                                          d.trainable_variables))
            with tf.GradientTape() as tape:
                g_loss = -tf.reduce_mean(
                    d(g(tf.random.normal([batch_size, model.latent_dim]), training=True),
                      training=True))
            g_opt.apply_gradients(zip(tape.gradient(g_loss, g.trainable_variables),
                                      g.trainable_variables))
            return d_loss, g_loss

        return step

    if name == "diffusion":  # DDPM's Algorithm 1, as keras.io's DDPM example trains it
        unet, opt = model.unet, adam(learning_rate=2e-4, global_clipnorm=1.0)
        alpha_bar = tf.constant(model.alpha_bar, tf.float32)

        @tf.function
        def step(images):
            x0 = to_range(images)
            t = tf.random.uniform([batch_size], 0, model.timesteps, dtype=tf.int32)
            noise = tf.random.normal(tf.shape(x0))
            a = tf.reshape(tf.gather(alpha_bar, t), [-1, 1, 1, 1])
            xt = tf.sqrt(a) * x0 + tf.sqrt(1.0 - a) * noise
            with tf.GradientTape() as tape:
                predicted = unet([xt, tf.cast(t[:, None], tf.float32)], training=True)
                loss = tf.reduce_mean(tf.square(noise - predicted))
            opt.apply_gradients(zip(tape.gradient(loss, unet.trainable_variables),
                                    unet.trainable_variables))
            return (loss,)

        return step

    raise ValueError(f"no textbook loop for {name!r}")


# ---- one row, in a worker process ---------------------------------------------------------------


def run_kerasgen(args, batches):
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.usage = usage()
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # logs are read back: the device is synced.
            self.seconds = time.perf_counter() - self.start
            self.usage = usage() - self.usage

    keras.mixed_precision.set_global_policy(args.policy)
    model = build(args.model, args.image_size)
    model.compile()
    fit = dict(batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)

    def inputs(chosen):
        if isinstance(batches[0], tuple):  # (images, labels) for the conditional GAN
            arrays = tuple(np.concatenate([b[j] for b in chosen]) for j in range(2))
        else:
            arrays = (np.concatenate(chosen),)
        if keras.backend.backend() != "tensorflow":
            return arrays, fit
        # As kerasgen's data sources deliver batches on TensorFlow: a tf.data pipeline with
        # autotuning off. Keras' own pipeline for NumPy arrays autotunes, and releasing its
        # iterator waits for the autotuning thread's next wake (docs/performance.md): a wait
        # that can fall inside the timed epoch when the warm-up call's iterator is freed.
        import tensorflow as tf

        from kerasgen.data.pipeline import without_autotuning

        data = tf.data.Dataset.from_tensor_slices(arrays if len(arrays) > 1 else arrays[0])
        return (without_autotuning(data.batch(args.batch_size).prefetch(2)),), dict(epochs=1,
                                                                                   verbose=0)

    start = time.perf_counter()
    x, kwargs = inputs(batches[:WARMUP_STEPS])
    model.fit(*x, **kwargs)
    warmup = time.perf_counter() - start
    timer = EpochTimer()
    x, kwargs = inputs([batches[i % len(batches)] for i in range(args.steps)])
    model.fit(*x, callbacks=[timer], **kwargs)
    return warmup, timer.seconds, timer.usage


def run_textbook(args, batches):
    import tensorflow as tf

    model = build(args.model, args.image_size)
    step = tf_textbook_step(args.model, model, args.batch_size)
    tensors = [tuple(tf.constant(x) for x in b) if isinstance(b, tuple) else tf.constant(b)
               for b in batches]
    return time_steps(step, tensors, args.steps)


def run_torch_textbook(args, batches):
    """The same model in plain `torch.nn` + `torch.optim` (benchmarks/torch_textbook.py), on the
    GPU where there is one; batches go to the device once, as kerasgen's are in memory."""
    import torch
    from torch_textbook import make_step

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    step = make_step(args.model, build(args.model, args.image_size), args.batch_size, device)
    tensors = [tuple(torch.as_tensor(x, device=device) for x in b) if isinstance(b, tuple)
               else torch.as_tensor(b, device=device) for b in batches]
    return time_steps(step, tensors, args.steps)


def run_jax_textbook(args, batches):
    """The same networks in a plain `jax.jit` step (benchmarks/jax_textbook.py)."""
    import jax.numpy as jnp
    from jax_textbook import make_step

    step = make_step(args.model, build(args.model, args.image_size), args.batch_size)
    arrays = [tuple(jnp.asarray(x) for x in b) if isinstance(b, tuple) else jnp.asarray(b)
              for b in batches]
    return time_steps(step, arrays, args.steps)


def time_steps(step, batches, timed):
    """`(warm-up seconds, seconds of `timed` steps, their `usage()`)` of a textbook step;
    reading its losses back as Python floats ends each measurement with a sync."""

    def steps(n, offset):
        out = None
        for i in range(n):
            out = step(batches[(offset + i) % len(batches)])
        return [float(o) for o in out]

    start = time.perf_counter()
    steps(WARMUP_STEPS, 0)
    warmup = time.perf_counter() - start
    before = usage()
    start = time.perf_counter()
    steps(timed, WARMUP_STEPS)
    seconds = time.perf_counter() - start
    return warmup, seconds, usage() - before


#: Per backend, the textbook row: (worker key, label).
TEXTBOOKS = {"tensorflow": ("textbook", "textbook tf.GradientTape loop"),
             "torch": ("textbook_torch", "textbook torch.nn loop"),
             "jax": ("textbook_jax", "textbook jax.jit step")}
RUNS = {"kerasgen": run_kerasgen, "textbook": run_textbook, "textbook_torch": run_torch_textbook,
        "textbook_jax": run_jax_textbook}


def fixed_batches(model, batch_size, image_size):
    """The `NUM_BATCHES` random uint8 batches every row trains on (with 0/1 float32 attributes
    for the conditional GAN), the same in every process."""
    rng = np.random.default_rng(0)
    shape = (NUM_BATCHES, batch_size, image_size, image_size, 3)
    batches = list(rng.integers(0, 256, shape, dtype="uint8"))
    if model == "cgan":
        labels = rng.integers(0, 2, (NUM_BATCHES, batch_size, len(CGAN_ATTRIBUTES)))
        batches = [(images, y.astype("float32")) for images, y in zip(batches, labels)]
    return batches


def worker(args):
    import resource

    batches = fixed_batches(args.model, args.batch_size, args.image_size)
    run = RUNS[args.worker]
    warmup, seconds, (faults, user, system) = run(args, batches)
    print("RESULT " + json.dumps({
        "img_per_s": args.batch_size * args.steps / seconds,
        "warmup_seconds": warmup,
        # Per timed step. Faults: pages the step's memory touched afresh (XLA:CPU's buffers are
        # mapped and unmapped every step, docs/performance.md); system: the kernel's share.
        "minor_faults_per_step": faults / args.steps,
        "user_seconds_per_step": user / args.steps,
        "system_seconds_per_step": system / args.steps,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }), flush=True)


def run_row(args, model, backend, key):
    return run_worker(__file__, [
        "--worker", key, "--model", model, "--image-size", args.image_size,
        "--batch-size", args.batch_size, "--steps", args.steps, "--policy", args.policy,
    ], backend, args.timeout)


def save(args, info, rows, matmul=None):
    """Writes the rows measured so far to `--json` (atomically: a stopped run keeps them)."""
    from kerasgen.files import write_json

    write_json(args.json, {
        "machine": info, "versions": versions(),
        "config": {"image_size": args.image_size, "batch_size": args.batch_size,
                   "timed_steps": args.steps, "warmup_steps": WARMUP_STEPS,
                   "policy": args.policy,
                   "repeats": args.repeats},
        "matmul_gflop_per_s": {b: m.get("gflop_per_s") for b, m in (matmul or {}).items()},
        "rows": rows})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--backends", default="tensorflow,jax,torch",
                        help="backends to time: kerasgen fit and that backend's textbook loop")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row")
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds of every row of a model, interleaved (the order rotates "
                             "each round); a row's img/s is the median of its rounds and a "
                             "ratio the median of the ratios of rounds run side by side")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per row")
    parser.add_argument("--policy", default="float32",
                        help="Keras dtype policy of the kerasgen rows (float32, mixed_bfloat16, "
                             "mixed_float16); the textbook loops are float32, so with another "
                             "policy only the kerasgen rows run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - set(MODELS)
    if unknown:
        parser.error(f"--models takes {', '.join(MODELS)}; received {sorted(unknown)}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    info = machine()
    print(f"Machine: {info['cpu']}, {info['cores']} cores; versions {versions()}")
    print(f"{args.image_size} px, batch {args.batch_size}, {args.policy}; {WARMUP_STEPS} warm-up "
          f"steps, then {args.steps} timed steps per row, each row in its own process.\n")
    rows = []
    for model in models:
        plan = [(b, "kerasgen", "kerasgen fit") for b in backends]
        if args.policy == "float32":  # the textbook loops are float32 only
            plan += [(b, *TEXTBOOKS[b]) for b in TEXTBOOKS if b in backends]
        samples = {key_: [] for key_ in plan}
        for round_ in range(args.repeats):
            shift = round_ % len(plan)
            for entry in plan[shift:] + plan[:shift]:
                backend, key, label = entry
                result = run_row(args, model, backend, key)
                samples[entry].append(result)
                status = (f"{result['img_per_s']:.1f} img/s" if "img_per_s" in result
                          else result["error"])
                print(f"  {model:<9} {backend:<11} {label}: {status}"
                      + (f" (round {round_ + 1})" if args.repeats > 1 else ""), flush=True)
        for (backend, key, label), results in samples.items():
            ok = [r for r in results if "img_per_s" in r]
            result = dict(ok[0] if ok else results[0])
            if ok:
                result["img_per_s"] = float(np.median([r["img_per_s"] for r in ok]))
                result["img_per_s_rounds"] = [r["img_per_s"] for r in ok]
                for k in ("minor_faults_per_step", "user_seconds_per_step",
                          "system_seconds_per_step"):
                    result[k] = float(np.median([r[k] for r in ok]))
            # Per round, None where it failed: ratios pair rows of the same round.
            result["img_per_s_by_round"] = [r.get("img_per_s") for r in results]
            result.update(model=model, backend=backend, implementation=key, label=label)
            rows.append(result)
        for backend, (key, _) in TEXTBOOKS.items():
            mine = next((r for r in rows if r["model"] == model and r["backend"] == backend
                         and r["implementation"] == "kerasgen" and "img_per_s" in r), None)
            book = next((r for r in rows if r["model"] == model
                         and r["implementation"] == key and "img_per_s" in r), None)
            if mine and book:
                pairs = [(a, b) for a, b in zip(mine["img_per_s_by_round"],
                                                book["img_per_s_by_round"]) if a and b]
                if pairs:
                    mine["ratio_rounds"] = [a / b for a, b in pairs]
                    mine["ratio"] = float(np.median(mine["ratio_rounds"]))
        if args.json:
            save(args, info, rows)

    print(f"\n{'model':<10}{'backend':<12}{'implementation':<32}{'img/s':>8}{'ratio':>7}"
          f"{'peak RSS MB':>13}{'faults/step':>13}{'sys s/step':>12}")
    for row in rows:
        if "img_per_s" not in row:
            print(f"{row['model']:<10}{row['backend']:<12}{row['label']:<32}  failed: "
                  f"{row['error']}")
            continue
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else "-"
        print(f"{row['model']:<10}{row['backend']:<12}{row['label']:<32}{row['img_per_s']:>8.1f}"
              f"{ratio:>7}{row['peak_rss_mb']:>13.0f}{row['minor_faults_per_step']:>13.3g}"
              f"{row['system_seconds_per_step']:>12.3f}")
    print("ratio = kerasgen fit img/s / textbook loop img/s on the same backend (TensorFlow: "
          "tf.GradientTape loop; PyTorch: torch.nn loop; JAX: jax.jit step).")

    # DCGAN's FLOP rate against the machine's fp32 matmul through the same backend.
    matmul = {}
    if "dcgan" in models:
        flops = train_flops_per_image(args.image_size)
        assert (LATENT_DIM, WIDTH) == (100, 64)  # the DCGAN built above
        print(f"\nDCGAN {args.image_size} px: {flops / 1e9:.3f} GFLOP per image per training "
              f"step (throughput.py's count); fp32 {MATMUL_SIZE}^2 matmul on each backend:")
        for backend in backends:
            matmul[backend] = run_worker(
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "throughput.py"),
                ["--worker", "matmul", "--backend", backend], backend, args.timeout)
            mine = next((r for r in rows if r["model"] == "dcgan" and r["backend"] == backend
                         and r["implementation"] == "kerasgen" and "img_per_s" in r), None)
            peak = matmul[backend].get("gflop_per_s")
            if mine is None or peak is None:
                print(f"  {backend:<11} n/a ({matmul[backend].get('error', 'no DCGAN row')})")
                continue
            mine["gflop_per_s"] = mine["img_per_s"] * flops / 1e9
            mine["fraction_of_matmul"] = mine["gflop_per_s"] / peak
            print(f"  {backend:<11} matmul {peak:8.1f} GFLOP/s; DCGAN fit "
                  f"{mine['gflop_per_s']:7.1f} GFLOP/s = {100 * mine['fraction_of_matmul']:.0f}% "
                  "(target >= 50%)")
    if args.json:
        save(args, info, rows, matmul)
        print(f"Wrote {args.json}")


if __name__ == "__main__":
    main()
