"""How long `fit` waits for data: one epoch on the on-the-fly input pipeline against the same
epoch on the same batches already in memory, and the pipeline alone.

    python benchmarks/data_wait.py                               # DCGAN, 64 px, synthetic faces
    python benchmarks/data_wait.py --model vae --workers 4 --steps 50

The input is `kerasgen.data.synthetic_faces` with `workers="auto"` as users get it (`--workers N`
prepares batches in N threads, `--multiprocessing` in processes), timed three ways: drawn while
training (`cache=False`), the first epoch of the default `cache=True` (which begins by drawing
every face on all cores, `fill_cache`), and its later epochs (copies from memory). Data wait =
(pipeline epoch - in-memory epoch) per step; a share near 0 means the input pipeline is not the
bottleneck. `--rounds N` alternates the later cached epochs with in-memory epochs N times and
reports the median round. (Step callbacks cannot measure it
on every backend: TensorFlow's `fit` fetches the batch inside the step.)
"""

import argparse
import time

import keras
import numpy as np

import kerasgen
from kerasgen.data import synthetic_faces
from kerasgen.files import write_json

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
    parser.add_argument("--workers", default="auto",
                        help="drawing threads (default auto: what synthetic_faces uses)")
    parser.add_argument("--multiprocessing", action="store_true")
    parser.add_argument("--rounds", type=int, default=1,
                        help="in-memory and later cached epochs, alternated this many times; "
                             "their wait is the median of the rounds' (the machine drifts)")
    parser.add_argument("--json", help="also write the result as JSON to this path")
    args = parser.parse_args()
    workers = args.workers if args.workers == "auto" else int(args.workers)

    def faces(cache):
        return synthetic_faces(n=args.batch_size * args.steps, image_size=args.image_size,
                               batch_size=args.batch_size, workers=workers, cache=cache,
                               use_multiprocessing=args.multiprocessing, shuffle=False)

    data = faces(cache=False)
    start = time.perf_counter()
    batches = [data[i] for i in range(len(data))]
    produce = (time.perf_counter() - start) / len(batches)
    in_memory = np.concatenate(batches)
    model = BUILD[args.model](image_size=args.image_size, seed=0)
    model.compile()
    model.fit(in_memory[: 2 * args.batch_size], batch_size=args.batch_size, verbose=0)  # compile

    class EpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # logs read back: the step has finished
            self.time = time.perf_counter()

    teardowns = []

    def epoch(*inputs, **kwargs):
        """Seconds per step from calling `fit` to the end of its epoch. What `fit` spends after
        that (TensorFlow: releasing the epoch's tf.data iterator) is kept apart in `teardowns`:
        it is not data wait, and it can be seconds (docs/performance.md)."""
        end = EpochEnd()
        start = time.perf_counter()
        model.fit(*inputs, epochs=1, verbose=0, callbacks=[end], **kwargs)
        teardowns.append(time.perf_counter() - end.time)
        return (end.time - start) / len(batches)

    memory_step = epoch(in_memory, batch_size=args.batch_size, shuffle=False)
    drawn_step = epoch(faces(cache=False))  # every batch drawn while training (the 1st epoch)
    cached = faces(cache=True)
    first_step = epoch(cached)  # begins by drawing every face (fill_cache)
    # Later epochs (batches from memory), each round beside an in-memory epoch of its own.
    rounds = []
    for _ in range(max(args.rounds, 1)):
        cached_step = epoch(cached)
        round_memory = epoch(in_memory, batch_size=args.batch_size, shuffle=False)
        rounds.append((max(cached_step - round_memory, 0.0) / cached_step, cached_step,
                       round_memory))
    cached_share, cached_step, _ = sorted(rounds)[len(rounds) // 2]
    fill = faces(cache=True)
    start = time.perf_counter()
    fill.fill_cache()
    fill_seconds = time.perf_counter() - start
    result = {"backend": keras.backend.backend(), "model": args.model,
              "image_size": args.image_size, "batch_size": args.batch_size,
              "steps": len(batches), "workers": data.workers,
              "cached_workers": cached.workers, "multiprocessing": args.multiprocessing,
              "produce_ms": 1000 * produce, "fill_seconds": fill_seconds,
              "memory_step_ms": 1000 * memory_step,
              "cached_rounds": [{"wait_share": w, "cached_step_ms": 1000 * c,
                                 "memory_step_ms": 1000 * m} for w, c, m in rounds],
              "fit_teardown_s": teardowns}
    print(f"{args.model} {args.image_size} px, batch {args.batch_size}, backend "
          f"{result['backend']}, {data.workers} worker(s): drawing a batch {1000 * produce:.1f} "
          f"ms, all {len(batches) * args.batch_size} faces at once {fill_seconds:.2f} s; a step "
          f"from NumPy arrays in memory {1000 * memory_step:.1f} ms")
    for name, step in (("drawn", drawn_step), ("first_cached", first_step),
                       ("cached", cached_step)):
        wait = max(step - memory_step, 0.0)
        if name == "cached":  # the median round, against its own in-memory epoch
            wait = cached_share * step
        result[f"{name}_step_ms"] = 1000 * step
        result[f"{name}_wait_share"] = wait / step
        label = {"drawn": f"cache=False, {data.workers} worker(s)",
                 "first_cached": f"cache=True, {cached.workers} worker(s), 1st epoch",
                 "cached": f"cache=True, {cached.workers} worker(s), later epochs"}[name]
        print(f"  synthetic_faces({label}): {1000 * step:.1f} ms a step, data wait "
              f"{1000 * wait:.1f} ms ({100 * wait / step:.1f}%)")
    print(f"  after each epoch, fit returned {min(teardowns):.3f}-{max(teardowns):.3f} s later "
          "(not counted above)")
    if len(rounds) > 1:
        print("  later epochs, each round's wait: "
              + ", ".join(f"{100 * w:.1f}%" for w, _, _ in rounds))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
