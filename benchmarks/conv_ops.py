"""Where a DCGAN training step spends its time, op by op, on the running Keras backend: every
convolution's forward pass, input gradient and kernel gradient, and every batch norm's forward
and backward pass, at the model's own shapes and batch, each compiled alone as the backend
compiles a step (`jax.jit`; `tf.function`, XLA off as in kerasgen's CPU default; PyTorch eager).

    KERAS_BACKEND=jax python benchmarks/conv_ops.py                 # DCGAN 64 px, batch 64
    KERAS_BACKEND=tensorflow python benchmarks/conv_ops.py --json tf.json
    KERAS_BACKEND=jax python benchmarks/conv_ops.py --plain         # also lax's own gradients

The convolutions are kerasgen's (`kerasgen.backend.conv` / `conv_transpose`: on JAX the
`jax_conv` formulation); `--plain` adds rows for `keras.ops.conv` / `conv_transpose` (on JAX,
`lax`'s convolutions differentiated by JAX). A DCGAN step runs each generator convolution's
three ops twice (the discriminator's phase differentiates only through D, the generator's
phase through D and G), which the summary accounts for. Compare the per-op GFLOP/s of two
backends' JSON files with `--compare a.json b.json`.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import machine  # noqa: E402
from throughput import versions  # noqa: E402


def backend_ops():
    """(compile(fn), vjp(fn, wrt), sync(out)) for the running backend."""
    import keras

    name = keras.backend.backend()
    if name == "jax":
        import jax

        def vjp(fn, wrt):
            def grad(*args):
                cotangent, inputs = args[-1], args[:-1]

                def of(*chosen):
                    full = list(inputs)
                    for i, value in zip(wrt, chosen):
                        full[i] = value
                    return fn(*full)

                return jax.vjp(of, *[inputs[i] for i in wrt])[1](cotangent)
            return grad

        return jax.jit, vjp, jax.block_until_ready
    if name == "tensorflow":
        import tensorflow as tf

        def vjp(fn, wrt):
            def grad(*args):
                cotangent, inputs = args[-1], list(args[:-1])
                with tf.GradientTape() as tape:
                    for i in wrt:
                        tape.watch(inputs[i])
                    out = fn(*inputs)
                return tape.gradient(out, [inputs[i] for i in wrt], output_gradients=cotangent)
            return grad

        return (lambda f: tf.function(f, jit_compile=False)), vjp, (
            lambda out: [o.numpy() for o in tf.nest.flatten(out)])
    import torch

    def vjp(fn, wrt):
        def grad(*args):
            cotangent, inputs = args[-1], [a.detach() for a in args[:-1]]
            for i in wrt:
                inputs[i].requires_grad_(True)
            out = fn(*inputs)
            return torch.autograd.grad(out, [inputs[i] for i in wrt], cotangent)
        return grad

    return (lambda f: f), vjp, (lambda out: out)


def op_rows(image_size, batch, plain):
    """[(layer, kind, network, fn, arrays, wrt lists by op name, GFLOP per op)]."""
    import keras
    import numpy as np

    import kerasgen
    from kerasgen import backend

    model = kerasgen.DCGAN(image_size=image_size, seed=0)
    rng = np.random.default_rng(0)
    rows = []
    for role, network in (("generator", model.generator),
                          ("discriminator", model.discriminator)):
        for layer in network.layers:
            if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose,
                                      keras.layers.BatchNormalization)):
                continue
            shape = (batch,) + tuple(layer.input.shape[1:])
            x = keras.ops.convert_to_tensor(rng.standard_normal(shape, dtype="float32"))
            if isinstance(layer, keras.layers.BatchNormalization):
                gamma = keras.ops.convert_to_tensor(np.ones(shape[-1], "float32"))

                def norm(x, gamma):  # Keras' BatchNormalization in training mode
                    mean, variance = keras.ops.moments(x, axes=(0, 1, 2))
                    return keras.ops.batch_normalization(x, mean, variance, axis=-1,
                                                         scale=gamma, epsilon=1e-3)

                rows.append((layer.name, "batch norm", role, norm, [x, gamma],
                             {"forward": None, "backward (x, gamma)": [0, 1]}, 0.0))
                continue
            kernel = keras.ops.convert_to_tensor(
                0.02 * rng.standard_normal(tuple(layer.kernel.shape), dtype="float32"))
            kh, kw = layer.kernel.shape[:2]
            transpose = isinstance(layer, keras.layers.Conv2DTranspose)
            small = shape if transpose else (batch,) + tuple(layer.output.shape[1:])
            cin, cout = (layer.kernel.shape[3], layer.kernel.shape[2]) if transpose else \
                layer.kernel.shape[2:]
            gflop = 2 * small[0] * small[1] * small[2] * kh * kw * cin * cout / 1e9
            ops = [("kerasgen", backend.conv_transpose if transpose else backend.conv)]
            if plain:
                ops.append(("plain", keras.ops.conv_transpose if transpose else keras.ops.conv))
            for label, op in ops:
                def fn(x, kernel, op=op, strides=layer.strides, padding=layer.padding):
                    return op(x, kernel, strides=strides, padding=padding)

                kind = ("transposed conv" if transpose else "conv") + (
                    "" if label == "kerasgen" else f" ({label})")
                rows.append((layer.name, kind, role, fn, [x, kernel],
                             {"forward": None, "input gradient": [0],
                              "kernel gradient": [1]}, gflop))
    return rows


def measure(rows, repeats):
    import keras
    import numpy as np

    compile_fn, vjp, sync = backend_ops()
    results = []
    for layer, kind, network, fn, arrays, ops, gflop in rows:
        out_shape = keras.ops.shape(fn(*arrays))
        cotangent = keras.ops.convert_to_tensor(
            np.random.default_rng(1).standard_normal(tuple(out_shape), dtype="float32"))
        for op, wrt in ops.items():
            call = compile_fn(fn) if wrt is None else compile_fn(vjp(fn, wrt))
            args = arrays if wrt is None else arrays + [cotangent]
            sync(call(*args))  # compile
            sync(call(*args))
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                sync(call(*args))
                times.append(time.perf_counter() - start)
            ms = 1000 * statistics.median(times)
            results.append({"layer": layer, "network": network, "kind": kind, "op": op,
                            "input_shape": list(keras.ops.shape(arrays[0])), "gflop": gflop,
                            "ms": ms, "gflop_per_s": gflop / ms * 1000 if gflop else None})
            rate = f"{gflop / ms * 1000:7.1f} GFLOP/s" if gflop else ""
            print(f"{network:13s} {layer:24s} {kind:24s} {op:20s} {ms:8.2f} ms  {rate}",
                  flush=True)
    return results


def step_estimate(results):
    """ms of one DCGAN step's convolutions and batch norms, from the per-op times: D's ops run
    in both phases (forward and input gradient twice, kernel gradient once), G's in the
    generator's phase and, forward only, in the discriminator's."""
    total = {}
    for r in results:
        if "(" in r["kind"]:
            continue  # --plain rows are alternatives, not part of the step
        if r["network"] == "generator":
            count = 2 if r["op"] == "forward" else 1
        else:
            count = 1 if r["op"] == "kernel gradient" else 2
        key = f"{r['kind']} {r['op']}"
        total[key] = total.get(key, 0.0) + count * r["ms"]
    return total


def compare(paths):
    runs = []
    for path in paths:
        with open(path) as f:
            runs.append(json.load(f))
    names = [r["backend"] for r in runs]
    print(f"{'layer':24s} {'kind':24s} {'op':20s} " + " ".join(f"{n:>12s}" for n in names)
          + "   ms ratio " + "/".join(names[1:]) + " over " + names[0])
    first = {(r["layer"], r["kind"], r["op"]): r for r in runs[0]["ops"]}
    for r in runs[0]["ops"]:
        key = (r["layer"], r["kind"], r["op"])
        others = [{(o["layer"], o["kind"], o["op"]): o for o in run["ops"]}.get(key)
                  for run in runs[1:]]
        if any(o is None for o in others):
            continue
        cells = [f"{first[key]['ms']:10.2f}ms"] + [f"{o['ms']:10.2f}ms" for o in others]
        ratios = "/".join(f"{o['ms'] / first[key]['ms']:.2f}" for o in others)
        print(f"{key[0]:24s} {key[1]:24s} {key[2]:20s} " + " ".join(cells) + f"   {ratios}")
    for run in runs:
        print(run["backend"], {k: round(v, 1) for k, v in run["step_ms"].items()},
              f"sum {sum(run['step_ms'].values()):.0f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per op (median)")
    parser.add_argument("--plain", action="store_true",
                        help="also time keras.ops.conv / conv_transpose with their own gradients")
    parser.add_argument("--json", help="write the results as JSON to this path")
    parser.add_argument("--compare", nargs="+", metavar="JSON",
                        help="print two or more runs' JSON side by side instead of measuring")
    args = parser.parse_args()
    if args.compare:
        return compare(args.compare)
    import keras

    results = measure(op_rows(args.image_size, args.batch_size, args.plain), args.repeats)
    step = step_estimate(results)
    print("one step's convolutions and batch norms (ms):",
          {k: round(v, 1) for k, v in step.items()}, f"sum {sum(step.values()):.0f} ms")
    if args.json:
        from kerasgen.files import write_json

        write_json(args.json, {"backend": keras.backend.backend(), "machine": machine(),
                               "versions": versions(), "setup": vars(args), "ops": results,
                               "step_ms": step})


if __name__ == "__main__":
    main()
