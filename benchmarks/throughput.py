"""Images per second of `DCGAN.fit` against textbook loops of the same networks, one run.

    python benchmarks/throughput.py                      # all backends, 64 px, batch 64
    python benchmarks/throughput.py --backends torch --steps 20 --json out.json

Every row runs in its own subprocess (its own Keras backend, a clean peak RSS), on the same fixed
random uint8 images (8 batches, cycled), and is timed in steady state: a few warm-up steps
(compilation) first, then `--steps` timed steps ending in a device sync. Rows:

- kerasgen:  `DCGAN(...).compile()` (default `jit_compile="auto"`) and `fit(..., verbose=0)`;
             the timed steps are a second `fit` call, timed from its first epoch's start to its
             end (which reads back the logs). TensorFlow also with `jit_compile=True` (XLA; the
             default turns it on only where a GPU is visible), PyTorch too (`torch.compile`;
             last, as it compiles for about a minute).
- tensorflow textbook: the same Keras networks (`kerasgen.nets`) trained by a plain
             `tf.GradientTape` loop in `tf.function`, as the TensorFlow DCGAN tutorial / the
             Keras DCGAN example, with and without `jit_compile=True`.
- torch textbook: the PyTorch DCGAN tutorial's `torch.nn` Generator/Discriminator and loop,
             with our architecture; also in `channels_last` memory format.
- jax textbook: a plain `jax.jit` step over the same networks built from plain Keras layers,
             via `stateless_call`, `jax.value_and_grad` per network, Keras Adam's
             `stateless_apply`; and the same step over kerasgen's layers (whose transposed
             convolution has `kerasgen.backend.jax_conv`'s backward pass), to show what that
             fix is worth apart from the rest of kerasgen.

Each training step, in every row: D phase = G(z) without gradient, D(real) and D(fake) as two
separate calls (batch norm never mixes them), BCE from logits; G phase = fresh z, G then D,
non-saturating BCE. Adam(2e-4, beta_1=0.5) per network.

FLOPs are counted analytically (2 x multiply-adds of every convolution, transposed convolution
and dense layer; batch norm and activations are left out) and converted to a nominal training
cost per image that is the same for every row, so GFLOP/s compares like img/s does:
    G forward (D phase) 1x  +  D(real) 3x  +  D(fake) 3x  +  G 3x  +  D 3x (G phase)
i.e. 4 G_fwd + 9 D_fwd, with "3x" = forward + input gradient + weight gradient. (kerasgen and
the JAX/TF loops skip D's weight gradient in the G phase, ~8 D_fwd; the PyTorch tutorial's
`errG.backward()` computes it; the nominal count does not chase that.)

The yardstick for that rate is the machine's own: an fp32 2048 x 2048 matmul through each
backend, in its own process (best of 10, synced); the DCGAN's GFLOP/s is printed as a fraction
of it (the issue's target: >= 50% at 64 px).
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LATENT_DIM = 100
WIDTH = 64
NUM_BATCHES = 8  # distinct random batches, cycled
WARMUP_STEPS = 2

# (backend, implementation key, label)
MATMUL_SIZE = 2048

ROWS = [
    ("tensorflow", "kerasgen", "kerasgen fit, compile() default (XLA on GPU only)"),
    ("tensorflow", "kerasgen_xla", "kerasgen fit, compile(jit_compile=True)"),
    ("tensorflow", "tf_function", "textbook GradientTape, tf.function"),
    ("tensorflow", "tf_function_xla", "textbook GradientTape, tf.function(jit_compile=True)"),
    ("jax", "kerasgen", "kerasgen fit, compile() default (jax.jit)"),
    ("jax", "jax_jit", "textbook jax.jit + stateless_call, keras layers"),
    ("jax", "jax_jit_jaxconv", "textbook jax.jit + stateless_call, kerasgen layers"),
    ("torch", "kerasgen", "kerasgen fit, compile() default (eager)"),
    ("torch", "torch_nn", "textbook torch.nn (DCGAN tutorial)"),
    ("torch", "torch_nn_cl", "textbook torch.nn, channels_last"),
    ("torch", "kerasgen_xla", "kerasgen fit, compile(jit_compile=True): torch.compile"),
]


# ---- FLOPs ------------------------------------------------------------------------------------


def forward_flops(image_size, latent_dim=LATENT_DIM, width=WIDTH):
    """(generator, discriminator) forward FLOPs per image: 2 x multiply-adds of the conv,
    transposed-conv and dense layers of `kerasgen.nets` (bias, BN, activations left out)."""
    blocks = 0
    size = image_size
    while size > 4:
        size //= 2
        blocks += 1
    top = width * 2 ** (blocks - 1)  # channels at 4x4
    # Generator: dense to 4x4xtop, then transposed convs; each input pixel scatters a 4x4xCout
    # patch, so multiply-adds = H_in * W_in * 16 * C_in * C_out.
    g = latent_dim * 16 * top
    channels, size = top, 4
    for i in range(blocks):
        out_channels = 3 if i == blocks - 1 else channels // 2
        g += size * size * 16 * channels * out_channels
        channels, size = out_channels, size * 2
    # Discriminator: strided convs, multiply-adds = H_out * W_out * 16 * C_in * C_out.
    d = 0
    channels, size = 3, image_size
    for i in range(blocks):
        out_channels = width * 2**i
        size //= 2
        d += size * size * 16 * channels * out_channels
        channels = out_channels
    d += 16 * channels  # the logit
    return 2 * g, 2 * d


def train_flops_per_image(image_size):
    g, d = forward_flops(image_size)
    return 4 * g + 9 * d


# ---- shared data ------------------------------------------------------------------------------


def make_batches(batch_size, image_size):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (NUM_BATCHES, batch_size, image_size, image_size, 3), dtype="uint8")


def cycled(batches, steps, offset=0):
    return np.concatenate([batches[(offset + i) % len(batches)] for i in range(steps)])


# ---- the implementations (run inside the worker subprocess) ---------------------------------


def run_kerasgen(args, batches, jit_compile="auto"):
    import keras

    from kerasgen import DCGAN

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # logs are read back: the device is synced.
            self.seconds = time.perf_counter() - self.start

    model = DCGAN(latent_dim=LATENT_DIM, image_size=args.image_size, width=WIDTH, seed=0)
    if jit_compile == "auto":
        model.compile()
    else:
        model.compile(jit_compile=jit_compile)
    fit = dict(batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
    start = time.perf_counter()
    model.fit(cycled(batches, WARMUP_STEPS), **fit)
    warmup = time.perf_counter() - start
    timer = EpochTimer()
    model.fit(cycled(batches, args.steps, WARMUP_STEPS), callbacks=[timer], **fit)
    return warmup, timer.seconds


def textbook_networks(image_size, plain_keras_layers=True):
    """kerasgen's generator and discriminator. With `plain_keras_layers`, built from
    `keras.layers.Conv2DTranspose` instead of kerasgen's subclass (whose JAX backward pass is
    `kerasgen.backend.jax_conv`), as a textbook Keras model would be; the same numbers."""
    import keras

    from kerasgen import nets
    from kerasgen.nets import conv

    kerasgen_layer = conv.Conv2DTranspose
    if plain_keras_layers:
        conv.Conv2DTranspose = keras.layers.Conv2DTranspose
    try:
        return (nets.generator(LATENT_DIM, image_size, WIDTH),
                nets.discriminator(image_size, WIDTH))
    finally:
        conv.Conv2DTranspose = kerasgen_layer


def run_tf_textbook(args, batches, jit_compile):
    import keras
    import tensorflow as tf


    keras.utils.set_random_seed(0)
    generator, discriminator = textbook_networks(args.image_size)
    g_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
    d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    batch = args.batch_size

    @tf.function(jit_compile=jit_compile)
    def train_step(images):
        real = tf.cast(images, tf.float32) / 127.5 - 1.0
        fake = tf.stop_gradient(generator(tf.random.normal([batch, LATENT_DIM]), training=True))
        with tf.GradientTape() as tape:
            real_logits = discriminator(real, training=True)
            fake_logits = discriminator(fake, training=True)
            d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(
                tf.zeros_like(fake_logits), fake_logits
            )
        grads = tape.gradient(d_loss, discriminator.trainable_variables)
        d_opt.apply_gradients(zip(grads, discriminator.trainable_variables))
        with tf.GradientTape() as tape:  # fresh noise for the generator, as kerasgen
            fake_logits = discriminator(
                generator(tf.random.normal([batch, LATENT_DIM]), training=True), training=True
            )
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
        grads = tape.gradient(g_loss, generator.trainable_variables)
        g_opt.apply_gradients(zip(grads, generator.trainable_variables))
        return d_loss, g_loss

    tensors = [tf.constant(b) for b in batches]

    def steps(n, offset):
        out = None
        for i in range(n):
            out = train_step(tensors[(offset + i) % len(tensors)])
        return [float(o) for o in out]  # sync

    return _time(steps, args.steps)


def run_jax_textbook(args, batches, kerasgen_layers=False):
    import jax
    import jax.numpy as jnp
    import keras


    keras.utils.set_random_seed(0)
    generator, discriminator = textbook_networks(args.image_size, plain_keras_layers=not kerasgen_layers)
    g_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
    d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
    g_opt.build(generator.trainable_variables)
    d_opt.build(discriminator.trainable_variables)
    batch = args.batch_size

    def bce_ones(logits):  # BCE(sigmoid(logits), 1), from logits
        return jnp.mean(jax.nn.softplus(-logits))

    def bce_zeros(logits):
        return jnp.mean(jax.nn.softplus(logits))

    def d_loss_fn(d_tv, d_ntv, g_tv, g_ntv, real, key):
        z = jax.random.normal(key, (batch, LATENT_DIM))
        fake, g_ntv = generator.stateless_call(g_tv, g_ntv, z, training=True)
        fake = jax.lax.stop_gradient(fake)
        real_logits, d_ntv = discriminator.stateless_call(d_tv, d_ntv, real, training=True)
        fake_logits, d_ntv = discriminator.stateless_call(d_tv, d_ntv, fake, training=True)
        return bce_ones(real_logits) + bce_zeros(fake_logits), (d_ntv, g_ntv)

    def g_loss_fn(g_tv, g_ntv, d_tv, d_ntv, key):
        z = jax.random.normal(key, (batch, LATENT_DIM))
        fake, g_ntv = generator.stateless_call(g_tv, g_ntv, z, training=True)
        logits, d_ntv = discriminator.stateless_call(d_tv, d_ntv, fake, training=True)
        return bce_ones(logits), (g_ntv, d_ntv)

    @jax.jit
    def train_step(state, images, key):
        g_tv, g_ntv, g_ov, d_tv, d_ntv, d_ov = state
        d_key, g_key = jax.random.split(key)
        real = images.astype("float32") / 127.5 - 1.0
        (d_loss, (d_ntv, g_ntv)), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            d_tv, d_ntv, g_tv, g_ntv, real, d_key
        )
        d_tv, d_ov = d_opt.stateless_apply(d_ov, grads, d_tv)
        (g_loss, (g_ntv, d_ntv)), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
            g_tv, g_ntv, d_tv, d_ntv, g_key  # fresh noise, as kerasgen
        )
        g_tv, g_ov = g_opt.stateless_apply(g_ov, grads, g_tv)
        return (g_tv, g_ntv, g_ov, d_tv, d_ntv, d_ov), (d_loss, g_loss)

    values = lambda variables: [v.value for v in variables]
    state = (
        values(generator.trainable_variables), values(generator.non_trainable_variables),
        values(g_opt.variables),
        values(discriminator.trainable_variables), values(discriminator.non_trainable_variables),
        values(d_opt.variables),
    )
    arrays = [jnp.asarray(b) for b in batches]
    key = jax.random.PRNGKey(0)

    def steps(n, offset):
        nonlocal state, key
        for i in range(n):
            key, step_key = jax.random.split(key)
            state, losses = train_step(state, arrays[(offset + i) % len(arrays)], step_key)
        return [float(l) for l in losses]  # sync

    return _time(steps, args.steps)


def run_torch_textbook(args, batches, channels_last=False):
    import torch
    from torch import nn

    torch.manual_seed(0)
    blocks = 0
    size = args.image_size
    while size > 4:
        size //= 2
        blocks += 1
    top = WIDTH * 2 ** (blocks - 1)

    class Generator(nn.Module):
        """The tutorial's generator with our architecture: a Linear projection to 4x4 (the
        tutorial's first ConvTranspose2d on a 1x1 input, equivalently), ConvTranspose2d(4, 2, 1)
        blocks with BatchNorm2d + ReLU, Tanh."""

        def __init__(self):
            super().__init__()
            self.project = nn.Linear(LATENT_DIM, 16 * top, bias=False)
            layers = [nn.BatchNorm2d(top), nn.ReLU(True)]
            channels = top
            for _ in range(blocks - 1):
                layers += [
                    nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(channels // 2),
                    nn.ReLU(True),
                ]
                channels //= 2
            layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1), nn.Tanh()]
            self.main = nn.Sequential(*layers)

        def forward(self, z):
            x = self.project(z).view(-1, top, 4, 4)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return self.main(x)

    class Discriminator(nn.Module):
        """Conv2d(4, 2, 1) + LeakyReLU(0.2), BatchNorm2d on all but the first, Linear logit."""

        def __init__(self):
            super().__init__()
            layers = [nn.Conv2d(3, WIDTH, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            channels = WIDTH
            for _ in range(blocks - 1):
                layers += [
                    nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(channels * 2),
                    nn.LeakyReLU(0.2, inplace=True),
                ]
                channels *= 2
            self.main = nn.Sequential(*layers)
            self.logit = nn.Linear(16 * channels, 1)

        def forward(self, x):
            return self.logit(torch.flatten(self.main(x), 1))

    def weights_init(m):  # the tutorial's initialisation
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    device = "cuda" if torch.cuda.is_available() else "cpu"  # where Keras' torch backend runs
    net_g, net_d = Generator().to(device), Discriminator().to(device)
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    if channels_last:
        net_g.to(memory_format=torch.channels_last)
        net_d.to(memory_format=torch.channels_last)
    criterion = nn.BCEWithLogitsLoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batch = args.batch_size
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)
    format_ = torch.channels_last if channels_last else torch.contiguous_format
    tensors = [torch.from_numpy(b).to(device) for b in batches]

    def train_step(images):
        real = (images.permute(0, 3, 1, 2).float() / 127.5 - 1.0).contiguous(memory_format=format_)
        # (1) D: maximize log D(x) + log(1 - D(G(z))), real and fake in separate calls.
        net_d.zero_grad()
        err_d_real = criterion(net_d(real), ones)
        err_d_real.backward()
        fake = net_g(torch.randn(batch, LATENT_DIM, device=device))
        err_d_fake = criterion(net_d(fake.detach()), zeros)
        err_d_fake.backward()
        opt_d.step()
        # (2) G: maximize log D(G(z)). The tutorial reuses the D phase's `fake`; to do the same
        # work as kerasgen we draw fresh noise and run G again. As in the tutorial,
        # errG.backward() also fills D's gradients (zeroed at the next D phase).
        net_g.zero_grad()
        fake = net_g(torch.randn(batch, LATENT_DIM, device=device))
        err_g = criterion(net_d(fake), ones)
        err_g.backward()
        opt_g.step()
        return err_d_real + err_d_fake, err_g

    def steps(n, offset):
        for i in range(n):
            out = train_step(tensors[(offset + i) % len(tensors)])
        return [float(o) for o in out]

    return _time(steps, args.steps)


def _time(steps, n):
    start = time.perf_counter()
    steps(WARMUP_STEPS, 0)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    steps(n, WARMUP_STEPS)
    return warmup, time.perf_counter() - start


IMPLEMENTATIONS = {
    "kerasgen": lambda args, b: run_kerasgen(args, b),
    "kerasgen_xla": lambda args, b: run_kerasgen(args, b, jit_compile=True),
    "tf_function": lambda args, b: run_tf_textbook(args, b, jit_compile=False),
    "tf_function_xla": lambda args, b: run_tf_textbook(args, b, jit_compile=True),
    "jax_jit": lambda args, b: run_jax_textbook(args, b),
    "jax_jit_jaxconv": lambda args, b: run_jax_textbook(args, b, kerasgen_layers=True),
    "torch_nn": lambda args, b: run_torch_textbook(args, b),
    "torch_nn_cl": lambda args, b: run_torch_textbook(args, b, channels_last=True),
}


def generator_deconv_shapes(image_size, width=WIDTH):
    """(input side, in channels, out channels) of each transposed convolution of the generator."""
    blocks = int(np.log2(image_size)) - 2
    channels = width * 2 ** (blocks - 1)
    shapes = []
    for i in range(blocks):
        out_channels = 3 if i == blocks - 1 else channels // 2
        shapes.append((4 * 2**i, channels, out_channels))
        channels = out_channels
    return shapes


def conv_layer_times(args):
    """JAX: forward and backward (VJP w.r.t. input and kernel) of each generator transposed
    convolution, `keras.ops.conv_transpose` autodiff against `jax_conv.conv_transpose`."""
    import jax
    import keras

    from kerasgen.backend import jax_conv

    def best_ms(fn, *inputs, repeats=5):
        jax.block_until_ready(fn(*inputs))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(fn(*inputs))
            times.append(time.perf_counter() - start)
        return 1000 * min(times)

    rows = []
    rng = np.random.default_rng(0)
    for side, cin, cout in generator_deconv_shapes(args.image_size):
        x = jax.numpy.asarray(rng.standard_normal((args.batch_size, side, side, cin)), "float32")
        w = jax.numpy.asarray(rng.standard_normal((4, 4, cout, cin)) * 0.02, "float32")
        dy = jax.numpy.asarray(
            rng.standard_normal((args.batch_size, 2 * side, 2 * side, cout)), "float32"
        )
        row = {"layer": f"{side}x{side}x{cin} -> {2 * side}x{2 * side}x{cout}"}
        for name, conv in (
            ("keras", lambda x, w: keras.ops.conv_transpose(x, w, 2, "same")),
            ("jax_conv", lambda x, w: jax_conv.conv_transpose(x, w, 2, "same")),
        ):
            vjp = lambda x, w, dy, conv=conv: jax.vjp(conv, x, w)[1](dy)
            row[f"{name}_forward_ms"] = best_ms(jax.jit(conv), x, w)
            row[f"{name}_backward_ms"] = best_ms(jax.jit(vjp), x, w, dy)
        rows.append(row)
    return rows


def matmul_gflops(backend, n=MATMUL_SIZE, repeats=10):
    """The machine's fp32 matmul rate through this backend (an n x n by n x n product, its
    2 n^3 FLOPs over the best of `repeats` timed calls, each ended by a device sync): the
    yardstick for the DCGAN's GFLOP/s."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype("float32") for _ in range(2))
    if backend == "tensorflow":
        import tensorflow as tf

        a, b = tf.constant(a), tf.constant(b)
        product = tf.function(tf.linalg.matmul)
        run = lambda: product(a, b).numpy()
    elif backend == "jax":
        import jax

        a, b = jax.device_put(a), jax.device_put(b)
        product = jax.jit(jax.numpy.matmul)
        run = lambda: product(a, b).block_until_ready()
    else:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        a, b = torch.as_tensor(a, device=device), torch.as_tensor(b, device=device)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        run = lambda: (torch.mm(a, b), sync())
    run()  # compile / warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def worker(args):
    """Runs one row in this process and prints its result as the last line of stdout."""
    import keras

    assert keras.backend.backend() == args.backend, (keras.backend.backend(), args.backend)
    if args.worker == "jax_conv_layers":
        print("RESULT " + json.dumps({"layers": conv_layer_times(args)}), flush=True)
        return
    if args.worker == "matmul":
        print("RESULT " + json.dumps({"gflop_per_s": matmul_gflops(args.backend)}), flush=True)
        return
    batches = make_batches(args.batch_size, args.image_size)
    warmup, seconds = IMPLEMENTATIONS[args.worker](args, batches)
    images = args.batch_size * args.steps
    result = {
        "img_per_s": images / seconds,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print("RESULT " + json.dumps(result), flush=True)


# ---- the driver -------------------------------------------------------------------------------


def machine():
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions():
    out = {}
    for name in ("keras", "tensorflow", "jax", "torch", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # a missing backend is reported, not fatal
            out[name] = None
    return out


def run_worker(script, worker_args, backend, timeout):
    """Runs `script --worker ...` under `backend` in a fresh process; returns the dict it
    printed on its `RESULT` line, or `{"error": ...}`."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, os.path.abspath(script), *map(str, worker_args)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s (--timeout)"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


def run_row(args, backend, key):
    return run_worker(__file__, [
        "--worker", key, "--backend", backend, "--image-size", args.image_size,
        "--batch-size", args.batch_size, "--steps", args.steps,
    ], backend, args.timeout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row (default 20)")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per row")
    parser.add_argument("--jax-conv-layers", action="store_true",
                        help="also time each generator transposed convolution's forward and "
                             "backward under JAX: Keras autodiff vs kerasgen.backend.jax_conv")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"tensorflow", "jax", "torch"}
    if unknown:
        parser.error(f"--backends takes tensorflow, jax, torch; received {sorted(unknown)}")
    g_fwd, d_fwd = forward_flops(args.image_size)
    flops = train_flops_per_image(args.image_size)
    info = machine()
    print(f"Machine: {info['cpu']}, {info['cores']} cores "
          f"({info['usable_cores']} usable), {info['platform']}")
    print(f"Versions: {versions()}")
    print(f"DCGAN {args.image_size} px, batch {args.batch_size}, width {WIDTH}, latent "
          f"{LATENT_DIM}, fp32; {WARMUP_STEPS} warm-up steps, then {args.steps} timed steps "
          f"per row ({args.batch_size * args.steps} images); each row in its own process.")
    print(f"FLOPs/image: G forward {g_fwd / 1e6:.1f} M, D forward {d_fwd / 1e6:.1f} M; "
          f"training step (4 G_fwd + 9 D_fwd) {flops / 1e9:.3f} G.")
    print()

    rows = []
    for backend, key, label in ROWS:
        if backend not in backends:
            continue
        start = time.perf_counter()
        result = run_row(args, backend, key)
        result.update(backend=backend, implementation=key, label=label,
                      wall_seconds=time.perf_counter() - start)
        if "img_per_s" in result:
            result["gflop_per_s"] = result["img_per_s"] * flops / 1e9
        rows.append(result)
        status = (f"{result['img_per_s']:.1f} img/s" if "img_per_s" in result
                  else result["error"])
        print(f"  [{result['wall_seconds']:5.0f} s] {backend:<10} {label}: {status}", flush=True)

    # The DCGAN's FLOP rate against the machine's: fp32 matmul through the same backend.
    matmul = {b: run_row(args, b, "matmul") for b in backends}
    print(f"\nDCGAN kerasgen fit against fp32 matmul ({MATMUL_SIZE} x {MATMUL_SIZE}, best of 10) "
          "on the same backend:")
    for backend in backends:
        mine = next((r for r in rows if r["backend"] == backend
                     and r["implementation"] == "kerasgen" and "img_per_s" in r), None)
        peak = matmul[backend].get("gflop_per_s")
        if mine is None or peak is None:
            print(f"  {backend:<11} n/a ({matmul[backend].get('error', 'no kerasgen row')})")
            continue
        mine["matmul_gflop_per_s"] = peak
        mine["fraction_of_matmul"] = mine["gflop_per_s"] / peak
        print(f"  {backend:<11} matmul {peak:8.1f} GFLOP/s; DCGAN {mine['gflop_per_s']:8.1f} "
              f"GFLOP/s = {100 * mine['fraction_of_matmul']:.0f}% (target >= 50%)")

    layers = None
    if args.jax_conv_layers:
        layers = run_row(args, "jax", "jax_conv_layers")

    for row in rows:
        base = next((r for r in rows if r["backend"] == row["backend"]
                     and r["implementation"] == "kerasgen" and "img_per_s" in r), None)
        if base and "img_per_s" in row:
            row["ratio"] = base["img_per_s"] / row["img_per_s"]

    print()
    print("ratio = kerasgen img/s / this row's img/s, with the kerasgen default row of the same "
          "backend (> 1: kerasgen is faster).")
    header = (f"{'backend':<11}{'implementation':<54}{'img/s':>8}{'GFLOP/s':>9}{'ratio':>7}"
              f"{'peak RSS MB':>13}{'warm-up s':>11}")
    print(header)
    print("-" * len(header))
    for row in rows:
        if "img_per_s" not in row:
            print(f"{row['backend']:<11}{row['label']:<54}  failed: {row['error']}")
            continue
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else "-"
        print(f"{row['backend']:<11}{row['label']:<54}{row['img_per_s']:>8.1f}"
              f"{row['gflop_per_s']:>9.1f}{ratio:>7}{row['peak_rss_mb']:>13.0f}"
              f"{row['warmup_seconds']:>11.1f}")
    print(f"img/s = batch x {args.steps} timed steps / their seconds, after {WARMUP_STEPS} warm-up "
          "steps (warm-up s includes compilation). GFLOP/s = img/s x the nominal step FLOPs above.")
    print("PyTorch textbook: fresh noise for the G step (the tutorial reuses the D step's fake), "
          "and the tutorial's errG.backward() also computes D's weight gradients.")

    if layers is not None:
        print(f"\nJAX transposed convolutions of the generator, batch {args.batch_size} (ms, best "
              "of 5, jitted; backward = VJP w.r.t. input and kernel):")
        if "layers" not in layers:
            print(f"  failed: {layers['error']}")
        else:
            print(f"  {'layer':<28}{'fwd keras':>10}{'fwd ours':>10}{'bwd keras':>11}"
                  f"{'bwd ours':>10}{'bwd speedup':>13}")
            for row in layers["layers"]:
                print(f"  {row['layer']:<28}{row['keras_forward_ms']:>10.1f}"
                      f"{row['jax_conv_forward_ms']:>10.1f}{row['keras_backward_ms']:>11.1f}"
                      f"{row['jax_conv_backward_ms']:>10.1f}"
                      f"{row['keras_backward_ms'] / row['jax_conv_backward_ms']:>12.1f}x")

    if args.json:
        report = {
            "machine": info,
            "versions": versions(),
            "config": {
                "image_size": args.image_size, "batch_size": args.batch_size,
                "timed_steps": args.steps, "warmup_steps": WARMUP_STEPS,
                "latent_dim": LATENT_DIM, "width": WIDTH,
            },
            "flops_per_image": {"generator_forward": g_fwd, "discriminator_forward": d_fwd,
                                "train_step": flops, "count": "4 G_fwd + 9 D_fwd"},
            "ratio": "kerasgen img/s / row img/s (kerasgen default row of the same backend)",
            "rows": rows,
        }
        if layers is not None:
            report["jax_conv_layers"] = layers.get("layers", layers)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"\nWrote {args.json}")


if __name__ == "__main__":
    main()
