"""One Adam update under the PyTorch backend: Keras' `Adam.apply` (what kerasgen's train step
calls) against `torch.optim.Adam` (what the torch.nn textbook loops call), on the same
parameter shapes: those of a kerasgen model's networks.

    KERAS_BACKEND=torch python benchmarks/adam_step.py --model vae --image-size 64

The gap between the two is part of what kerasgen's `fit` pays per step on PyTorch that the
textbook loop does not (docs/performance.md, "Where the time goes").
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def best_ms(fn, repeats=30):
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 1000 * best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vae")
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args(argv)

    import keras
    import torch

    from models import build

    assert keras.backend.backend() == "torch", "run with KERAS_BACKEND=torch"
    model = build(args.model, args.image_size)
    variables = model.trainable_variables
    count = sum(int(torch.numel(v.value)) for v in variables)
    grads = [torch.randn_like(v.value) * 1e-3 for v in variables]

    keras_adam = keras.optimizers.Adam(1e-3)
    keras_adam.build(variables)
    with torch.no_grad():
        keras_ms = best_ms(lambda: keras_adam.apply(grads, variables))

    params = [torch.nn.Parameter(v.value.detach().clone()) for v in variables]
    for p, g in zip(params, grads):
        p.grad = g
    rows = {"keras Adam.apply": keras_ms}
    for label, kwargs in (("torch.optim.Adam (foreach, default)", {}),
                          ("torch.optim.Adam(fused=True)", {"fused": True})):
        optimizer = torch.optim.Adam(params, lr=1e-3, **kwargs)
        rows[label] = best_ms(optimizer.step)
    print(f"{args.model} {args.image_size} px: {len(variables)} variables, {count / 1e6:.2f} M "
          f"parameters; one Adam update, best of 30 (ms):")
    for label, ms in rows.items():
        print(f"  {label:<40} {ms:7.2f}")


if __name__ == "__main__":
    main()
