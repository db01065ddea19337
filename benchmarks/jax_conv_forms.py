"""Other formulations of DCGAN's strided convolution (4x4, stride 2, "same") on XLA:CPU, timed
against `lax.conv_general_dilated` at the discriminator's four layers (64 px, batch 64): the
forward pass and the kernel gradient, each jitted alone, median of 10 calls, with the largest
difference from lax's result.

- s2d: space-to-depth by 2, then a 2x2 stride-1 "valid" convolution over 4x the channels (the
  same multiplications, without a stride);
- im2col: the 16 shifted strided slices concatenated (`(n, h/2, w/2, 16 c)`), times the kernel
  as a matrix: one matmul (the kernel gradient: patches^T @ dy).

    KERAS_BACKEND=jax python benchmarks/jax_conv_forms.py
    XLA_FLAGS=--xla_cpu_use_xnnpack=true python benchmarks/jax_conv_forms.py   # flags alike
"""
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

DN = ("NHWC", "HWIO", "NHWC")
N = 64
LAYERS = [(64, 3, 64), (32, 64, 128), (16, 128, 256), (8, 256, 512)]


def lax_conv(x, w):
    return lax.conv_general_dilated(x, w, (2, 2), ((1, 1), (1, 1)), dimension_numbers=DN)


def s2d_conv(x, w):
    # pad 1, space-to-depth by 2, 2x2 valid conv with 4C channels
    n, h, wd, c = x.shape
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    hp, wp = h + 2, wd + 2
    xs = xp.reshape(n, hp // 2, 2, wp // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    xs = xs.reshape(n, hp // 2, wp // 2, 4 * c)
    kh, kw, ci, co = w.shape
    ws = w.reshape(2, 2, 2, 2, ci, co).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * ci, co)
    return lax.conv_general_dilated(xs, ws, (1, 1), "VALID", dimension_numbers=DN)


def patches(x):
    n, h, wd, c = x.shape
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ho, wo = h // 2, wd // 2
    cols = [xp[:, i:i + 2 * ho:2, j:j + 2 * wo:2, :] for i in range(4) for j in range(4)]
    return jnp.concatenate(cols, axis=-1)  # (n, ho, wo, 16c) order (i, j, c)


def im2col_conv(x, w):
    p = patches(x)
    return p @ w.reshape(-1, w.shape[-1])


def kgrad_lax(x, w, dy):
    return jax.vjp(lambda w: lax_conv(x, w), w)[1](dy)[0]


def kgrad_im2col(x, w, dy):
    p = patches(x)
    n, ho, wo, k = p.shape
    g = p.reshape(-1, k).T @ dy.reshape(-1, dy.shape[-1])
    return g.reshape(w.shape)


def kgrad_s2d(x, w, dy):
    return jax.vjp(lambda w: s2d_conv(x, w), w)[1](dy)[0]


def timeit(f, *a, reps=10):
    f = jax.jit(f)
    out = jax.block_until_ready(f(*a))
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(f(*a))
        ts.append(time.perf_counter() - t)
    return out, 1000 * np.median(ts)


def main():
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; ms per call, median of 10")
    rng = np.random.default_rng(0)
    tot = {}
    for size, ci, co in LAYERS:
        x = jnp.asarray(rng.standard_normal((N, size, size, ci)), jnp.float32)
        w = jnp.asarray(rng.standard_normal((4, 4, ci, co)) * 0.05, jnp.float32)
        dy = jnp.asarray(rng.standard_normal((N, size // 2, size // 2, co)), jnp.float32)
        ref, t0 = timeit(lax_conv, x, w)
        row = [f"{size}x{ci}->{co}", f"fwd lax {t0:.1f}"]
        for name, f in [("s2d", s2d_conv), ("im2col", im2col_conv)]:
            out, t = timeit(f, x, w)
            err = float(jnp.max(jnp.abs(out - ref)))
            row.append(f"{name} {t:.1f} (err {err:.1e})")
            tot[name] = tot.get(name, 0) + t
        tot["lax"] = tot.get("lax", 0) + t0
        gref, g0 = timeit(kgrad_lax, x, w, dy)
        row.append(f"| kgrad lax {g0:.1f}")
        tot["klax"] = tot.get("klax", 0) + g0
        for name, f in [("s2d", kgrad_s2d), ("im2col", kgrad_im2col)]:
            out, t = timeit(f, x, w, dy)
            err = float(jnp.max(jnp.abs(out - gref)) / jnp.max(jnp.abs(gref)))
            row.append(f"{name} {t:.1f} (rel {err:.1e})")
            tot["k" + name] = tot.get("k" + name, 0) + t
        print("  ".join(row), flush=True)
    print("sums over the 4 layers, ms: " + ", ".join(f"{k} {v:.1f}" for k, v in tot.items()))


if __name__ == "__main__":
    main()
