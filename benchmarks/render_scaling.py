"""Why two workers draw synthetic faces 1.5x, not 2x, as fast as one: threads against processes,
and the machine's own ceiling for work of the renderer's memory footprint.

    python benchmarks/render_scaling.py                       # 32 and 64 px, 3 rounds
    python benchmarks/render_scaling.py --image-sizes 64 --rounds 5 --json out.json

Three ways of drawing the same 2 x `--faces` faces (`render_faces`, as `fill_cache` draws them):
one thread, two threads (`fill_cache`'s way) and two processes (a pool started and warmed up
before the clock runs, so no start-up or import is timed). If the GIL were what holds the threads
back, the processes would run ~2x; if they run no faster than the threads, the limit is shared by
the cores themselves (caches, memory bandwidth).

Then that ceiling alone: NumPy passes (multiply, add) over arrays of growing size in one process
twice, against two processes at once. Inside a core's L2 cache two processes run ~2x; arrays the
size of a chunk of faces' planes (megabytes) share the L3 cache and memory between the cores.
Rounds are interleaved; each row reports the median round.
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import machine  # noqa: E402

from kerasgen.data.synthetic import _chunk_size  # noqa: E402
from kerasgen.data.synthetic import render_faces  # noqa: E402
from kerasgen.data.synthetic import sample_attributes  # noqa: E402
from kerasgen.files import write_json  # noqa: E402

ARRAY_SIZES = (256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20)  # bytes per array
PASS_BYTES = 1e10  # bytes each process streams through per array-size row (~0.5 s)


def draw(job):
    size, start, n = job
    render_faces(sample_attributes(n, seed=0, start=start), size, start=start)
    return n


def passes(nbytes):
    a = np.full(nbytes // 4, 0.5, np.float32)
    b = np.empty_like(a)
    for _ in range(max(1, int(PASS_BYTES // nbytes))):
        np.multiply(a, np.float32(0.999), out=b)
        np.add(b, np.float32(0.0005), out=a)
    return float(a[0])


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-sizes", default="32,64")
    parser.add_argument("--faces", type=int, default=None,
                        help="faces per worker (default: 4 chunks of the size)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.image_sizes.split(",")]
    # Spawned workers import only what `draw` needs (no fork of a process with Keras' threads).
    context = multiprocessing.get_context("spawn")
    results = {"machine": machine(), "render": {}, "bandwidth": {}}
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as procs, \
            concurrent.futures.ThreadPoolExecutor(2) as threads:
        for size in sizes:
            n = args.faces or 4 * _chunk_size(size)
            jobs = [(size, 0, n), (size, n, n)]
            list(procs.map(draw, [(size, 0, 8)] * 2))  # warm up both workers
            draw((size, 0, 8))
            rows = {"1 thread": [], "2 threads": [], "2 processes": []}
            for _ in range(args.rounds):
                rows["1 thread"].append(2 * n / timed(lambda: [draw(j) for j in jobs]))
                rows["2 threads"].append(2 * n / timed(lambda: list(threads.map(draw, jobs))))
                rows["2 processes"].append(2 * n / timed(lambda: list(procs.map(draw, jobs))))
            one = float(np.median(rows["1 thread"]))
            results["render"][size] = {
                "faces_per_worker": n, "chunk": _chunk_size(size),
                **{k: {"faces_per_s": float(np.median(v)), "rounds": v,
                       "speedup": float(np.median(v)) / one} for k, v in rows.items()}}
            print(f"{size} px ({n} faces a worker, chunks of {_chunk_size(size)}): "
                  + ", ".join(f"{k} {np.median(v):,.0f} faces/s ({np.median(v) / one:.2f}x)"
                              for k, v in rows.items()), flush=True)
        for nbytes in ARRAY_SIZES:
            procs.submit(passes, 4096).result()
            one, two = [], []
            for _ in range(args.rounds):
                one.append(timed(lambda: (passes(nbytes), passes(nbytes))))
                two.append(timed(lambda: list(procs.map(passes, [nbytes, nbytes]))))
            speedup = float(np.median(one) / np.median(two))
            gbs = 2 * PASS_BYTES * 3 / float(np.median(one)) / 1e9
            results["bandwidth"][nbytes] = {"one_process_s": one, "two_processes_s": two,
                                            "speedup": speedup, "one_process_GB_per_s": gbs}
            print(f"arrays of {nbytes >> 10:,} KiB: 2 processes {speedup:.2f}x one "
                  f"(one process streams {gbs:.0f} GB/s)", flush=True)
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
