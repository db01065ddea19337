"""TensorFlow, in one process: kerasgen's `fit` against the same model's `train_step` in a bare
`tf.function` loop and against the textbook `tf.GradientTape` loop of `benchmarks/models.py`,
interleaved round by round (the order rotates), so that the machine's drift hits all three
alike. Tells the train step's graph (bare vs textbook) apart from what `fit` adds around it
(its loop, callbacks and tf.data input from NumPy arrays), and the epoch (`fit_epoch`, from
`on_epoch_begin` to `on_epoch_end`, as `benchmarks/models.py` times it) from the whole call
(which also releases the epoch's tf.data iterator).

    python benchmarks/tf_fit_parts.py --model cgan --image-size 16 --steps 150 --rounds 6
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

import models  # noqa: E402  (benchmarks/models.py: the same models and textbook loops)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cgan", choices=models.MODELS)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    import keras
    import tensorflow as tf

    bs, n = args.batch_size, models.NUM_BATCHES
    batches = models.fixed_batches(args.model, bs, args.image_size)  # what models.py trains on
    parts = [b if isinstance(b, tuple) else (b,) for b in batches]
    arrays = tuple(np.concatenate([parts[i % n][j] for i in range(args.steps)])
                   for j in range(len(parts[0])))
    tensors = [tf.nest.map_structure(tf.constant, b) for b in batches]

    def built():
        model = models.build(args.model, args.image_size)
        model.compile()
        model.fit(*(a[: 2 * bs] for a in arrays), batch_size=bs, verbose=0)  # traces the step
        return model

    fitted, bare_model = built(), built()
    bare = tf.function(bare_model.train_step)
    textbook = models.tf_textbook_step(args.model, models.build(args.model, args.image_size), bs)

    class Epoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.begin = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # logs read back: the step has finished
            self.end = time.perf_counter()

    epoch_seconds = []

    def fit():
        """Seconds of the whole `fit` call; the epoch alone goes to `epoch_seconds`."""
        epoch = Epoch()
        start = time.perf_counter()
        fitted.fit(*arrays, batch_size=bs, epochs=1, shuffle=False, verbose=0, callbacks=[epoch])
        epoch_seconds.append(epoch.end - epoch.begin)
        return time.perf_counter() - start

    def loop(step):
        def run():
            start = time.perf_counter()
            out = None
            for i in range(args.steps):
                out = step(tensors[i % n])
            tf.nest.map_structure(lambda o: o.numpy(), out)  # the last step has finished
            return time.perf_counter() - start
        return run

    runs = {"fit": fit, "train_step": loop(bare), "textbook": loop(textbook)}
    for run in runs.values():
        run()  # warm-up
    rates = {k: [] for k in (*runs, "fit_epoch")}  # fit_epoch: on_epoch_begin to on_epoch_end
    names = list(runs)
    for r in range(args.rounds):
        for name in names[r % 3:] + names[: r % 3]:
            rates[name].append(bs * args.steps / runs[name]())
        rates["fit_epoch"].append(bs * args.steps / epoch_seconds[-1])
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f} img/s" for k, v in rates.items()),
              flush=True)
    ratio = {k: [a / b for a, b in zip(rates[k], rates["textbook"])] for k in ("fit", "fit_epoch", "train_step")}
    print(f"{args.model} {args.image_size} px, median of {args.rounds} rounds: "
          + ", ".join(f"{k} {np.median(v):.0f} img/s" for k, v in rates.items()))
    for k, v in ratio.items():
        print(f"  {k} / textbook: {np.median(v):.2f} ({min(v):.2f}-{max(v):.2f})")


if __name__ == "__main__":
    main()
