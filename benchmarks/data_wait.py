"""How long `fit` waits for data: one epoch on the on-the-fly input pipeline against the same
epoch on the same batches already in memory, and the pipeline alone.

    python benchmarks/data_wait.py                               # DCGAN, 64 px, synthetic faces
    python benchmarks/data_wait.py --model vae --workers 4 --steps 50

The input is `kerasgen.data.synthetic_faces`, drawn on the fly (`--workers N` draws batches in N
threads, `--multiprocessing` in processes). Data wait = (pipeline epoch - in-memory epoch); a
share near 0 means the input pipeline is not the bottleneck. (Step callbacks cannot measure it
on every backend: TensorFlow's `fit` fetches the batch inside the step.)
"""

import argparse
import time

import keras
import numpy as np

import kerasgen
from kerasgen.data import synthetic_faces

BUILD = {
    "dcgan": kerasgen.DCGAN, "wgan-gp": kerasgen.WGANGP, "ae": kerasgen.Autoencoder,
    "vae": kerasgen.VAE, "vaegan": kerasgen.VAEGAN,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="dcgan", choices=sorted(BUILD))
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--multiprocessing", action="store_true")
    args = parser.parse_args()
    data = synthetic_faces(n=args.batch_size * (args.steps + 2), image_size=args.image_size,
                           batch_size=args.batch_size, workers=args.workers,
                           use_multiprocessing=args.multiprocessing, shuffle=False)
    start = time.perf_counter()
    batches = [data[i] for i in range(len(data))]
    produce = (time.perf_counter() - start) / len(batches)
    in_memory = np.concatenate(batches)
    model = BUILD[args.model](image_size=args.image_size, seed=0)
    model.compile()
    model.fit(in_memory[: 2 * args.batch_size], batch_size=args.batch_size, verbose=0)  # compile
    start = time.perf_counter()
    model.fit(in_memory, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=False)
    memory_step = (time.perf_counter() - start) / len(batches)
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    pipeline_step = (time.perf_counter() - start) / len(batches)
    wait = max(pipeline_step - memory_step, 0.0)
    print(f"{args.model} {args.image_size} px, batch {args.batch_size}, backend "
          f"{keras.backend.backend()}, workers {args.workers}: producing a batch "
          f"{1000 * produce:.1f} ms; step from memory {1000 * memory_step:.1f} ms, from the "
          f"pipeline {1000 * pipeline_step:.1f} ms; data wait {1000 * wait:.1f} ms per step "
          f"({100 * wait / pipeline_step:.1f}%)")

if __name__ == "__main__":
    main()
