"""Seconds per generated image of `kerasgen.Diffusion` for DDIM sampling with 50 and 250 steps,
under each backend (each in its own process).

    python benchmarks/diffusion_sampling.py                       # 32 px, the default UNet
    python benchmarks/diffusion_sampling.py --image-size 64 --n 8 --steps 50 --json out.json

An untrained model samples at the speed of a trained one (the same UNet passes). Each row: one
warm-up call (2 steps: compilation, the first pass), then `generate(n, steps=S)` timed once.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import machine, run_worker, versions  # noqa: E402


def worker(args):
    import json

    import numpy as np

    import kerasgen

    model = kerasgen.Diffusion(image_size=args.image_size, seed=0)
    np.asarray(model.generate(args.n, seed=0, steps=2))
    start = time.perf_counter()
    images = np.asarray(model.generate(args.n, seed=1, steps=args.sampling_steps))
    seconds = time.perf_counter() - start
    assert images.shape[0] == args.n
    print("RESULT " + json.dumps({"seconds_per_image": seconds / args.n}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--n", type=int, default=16, help="images per timed call")
    parser.add_argument("--steps", default="50,250", help="sampling steps to time")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sampling-steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    info = machine()
    print(f"Machine: {info['cpu']}, {info['cores']} cores; {args.image_size} px, "
          f"{args.n} images per call, DDIM (eta 0)")
    rows = []
    for backend in args.backends.split(","):
        for steps in map(int, args.steps.split(",")):
            result = run_worker(__file__, ["--worker", "--image-size", args.image_size, "--n",
                                           args.n, "--sampling-steps", steps], backend,
                                args.timeout)
            result.update(backend=backend, steps=steps)
            rows.append(result)
            shown = (f"{result['seconds_per_image']:.3f} s per image"
                     if "seconds_per_image" in result else result["error"])
            print(f"  {backend:<11} {steps:>4} steps: {shown}", flush=True)
    if args.json:
        from kerasgen.files import write_json

        write_json(args.json, {"machine": info, "versions": versions(), "setup": vars(args),
                               "rows": rows})


if __name__ == "__main__":
    main()
