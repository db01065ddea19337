"""PyTorch: what Keras' per-layer call machinery costs a training step, and what kerasgen's
`Network` fast path (`kerasgen.backend.run_graph`) saves, in one process.

    KERAS_BACKEND=torch python benchmarks/torch_layer_calls.py                 # DCGAN, 16 px
    KERAS_BACKEND=torch python benchmarks/torch_layer_calls.py --model cgan --image-size 32

Rounds of three epochs over the same uint8 batches, interleaved so the machine's drift hits
all three alike: kerasgen `fit` with the fast path, `fit` with every layer called through Keras'
`Layer.__call__` (`torch_steps.DIRECT_LAYER_CALLS = False`), and the `torch.nn` textbook loop of
`benchmarks/torch_textbook.py` (on the GPU where there is one, its batches already there).
Prints the median images/s of each and their ratios.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import CGAN_ATTRIBUTES, MODELS, build  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="dcgan", choices=MODELS)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100, help="steps per epoch")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    import keras
    import torch
    from torch_textbook import make_step

    from kerasgen.backend import torch_steps

    if keras.backend.backend() != "torch":
        parser.error("run it with KERAS_BACKEND=torch")
    n, b, s = args.steps * args.batch_size, args.batch_size, args.image_size
    rng = np.random.default_rng(0)
    inputs = (rng.integers(0, 256, (n, s, s, 3), dtype="uint8"),)
    if args.model == "cgan":
        inputs += (rng.integers(0, 2, (n, len(CGAN_ATTRIBUTES))).astype("float32"),)
    model = build(args.model, s)
    model.compile()
    model.fit(*(x[: 2 * b] for x in inputs), batch_size=b, verbose=0, shuffle=False)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    step = make_step(args.model, build(args.model, s), b, device)
    batches = [tuple(torch.as_tensor(x[i * b:(i + 1) * b], device=device) for x in inputs)
               for i in range(args.steps)]
    if len(inputs) == 1:
        batches = [batch[0] for batch in batches]
    for batch in batches[:2]:
        step(batch)

    def textbook():
        for batch in batches:
            out = step(batch)
        return [float(o) for o in out]

    def fit(direct):
        torch_steps.DIRECT_LAYER_CALLS = direct
        model.fit(*inputs, batch_size=b, verbose=0, shuffle=False)

    runs = {"fit, kerasgen's direct layer calls": lambda: fit(True),
            "fit, Keras' Layer.__call__ for every layer": lambda: fit(False),
            "textbook torch.nn loop": textbook}
    speeds = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            speeds[name].append(n / (time.perf_counter() - start))
    torch_steps.DIRECT_LAYER_CALLS = True
    median = {name: float(np.median(v)) for name, v in speeds.items()}
    book = median["textbook torch.nn loop"]
    print(f"{args.model}, {s} px, batch {b}, {args.steps} steps a run, median of "
          f"{args.rounds} interleaved rounds:")
    for name, value in median.items():
        print(f"  {name:<45} {value:8.1f} img/s  {value / book:5.2f} x textbook")


if __name__ == "__main__":
    main()
