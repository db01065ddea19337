"""Speed of the synthetic face renderer on one CPU core, in images per second.

    python benchmarks/synthetic_speed.py [--repeats 3]

Pins the process to one core and limits BLAS/OpenMP to one thread before NumPy loads, then
times `sample_attributes` + `render_faces` (what `SyntheticFaces` does per batch, uncached) at
32, 64 and 128 pixels. The target is at least 2,000 images/s at 64 px.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

from kerasgen.data.synthetic import render_faces  # noqa: E402
from kerasgen.data.synthetic import sample_attributes  # noqa: E402

IMAGES = {32: 8192, 64: 4096, 128: 1024}


def images_per_second(size, n, repeats):
    render_faces(sample_attributes(64), size)  # warm up (block caches, NumPy dispatch)
    best = float("inf")
    for r in range(repeats):
        start = time.perf_counter()
        render_faces(sample_attributes(n, seed=r + 1), size, seed=r + 1)
        best = min(best, time.perf_counter() - start)
    return n / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per size (best is kept)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"synthetic faces, {cores} core(s), best of {args.repeats}:")
    for size, n in IMAGES.items():
        speed = images_per_second(size, n, args.repeats)
        print(f"  {size:4d} px: {speed:8.0f} images/s  ({n} images)")


if __name__ == "__main__":
    main()
