"""Images per second of each data source with 1 and more workers, as `fit` draws them.

    python benchmarks/data_speed.py                          # 64 px, workers 1 and 2
    python benchmarks/data_speed.py --image-size 32 --workers 1,2,4 --json out.json

Sources (all offline; the files are written to a temporary folder first):

- `synthetic`: `kerasgen.data.synthetic_faces(cache=False)`, every face drawn, through the
  iterator Keras' `fit` uses for a `PyDataset` (`workers` threads drawing ahead);
- `synthetic-fill`: `fill_cache(threads=workers)` of `synthetic_faces(cache=True)`: every face
  drawn at once, as `fit`'s first epoch begins (chunks of up to 2,048 faces, so that NumPy's
  work, which runs without the GIL, dominates);
- `synthetic-cached`: batches of a filled cache (the later epochs);
- `celeba`: `kerasgen.data.celeba` on a folder in CelebA's layout (178 x 218 JPEGs of synthetic
  faces), `num_parallel_calls=workers` decodes in tf.data;
- `folder`: `kerasgen.data.image_folder` on 128 px PNGs, likewise.

Each row: the best of `--repeats` passes over `--batches` batches (the first pass also warms up
tf.data and the thread pools). Speed-up = images/s with N workers / with 1.
"""

import argparse
import os
import sys
import tempfile
import time

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import machine  # noqa: E402

from kerasgen.data import celeba  # noqa: E402
from kerasgen.data import image_folder  # noqa: E402
from kerasgen.data import synthetic_faces  # noqa: E402
from kerasgen.data.celeba import CELEBA_ATTRIBUTES  # noqa: E402
from kerasgen.files import write_json  # noqa: E402


def write_files(root, n):
    """n synthetic faces as CelebA's layout (JPEG, 178 x 218) and as a folder of 128 px PNGs."""
    faces = synthetic_faces(n=n, image_size=128, batch_size=n, cache=False, workers=1)[0]
    aligned = os.path.join(root, "celeba", "img_align_celeba")
    folder = os.path.join(root, "folder")
    os.makedirs(aligned)
    os.makedirs(folder)
    for i, face in enumerate(faces):
        image = Image.fromarray(face)
        image.resize((178, 218), Image.BICUBIC).save(os.path.join(aligned, f"{i + 1:06d}.jpg"),
                                                     quality=95)
        image.save(os.path.join(folder, f"{i:06d}.png"))
    lines = [str(n), " ".join(CELEBA_ATTRIBUTES)]
    lines += [f"{i + 1:06d}.jpg" + " -1" * len(CELEBA_ATTRIBUTES) for i in range(n)]
    with open(os.path.join(root, "celeba", "list_attr_celeba.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(root, "celeba", "list_eval_partition.txt"), "w") as f:
        f.writelines(f"{i + 1:06d}.jpg 0\n" for i in range(n))
    return os.path.join(root, "celeba"), folder


def pydataset_batches(dataset):
    """The batches of one epoch as `fit` gets them from a `PyDataset` (its worker threads)."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(dataset, shuffle=False)
    try:
        yield from adapter.get_numpy_iterator()
    finally:
        adapter.on_epoch_end()


def time_source(make, batches, repeats):
    """Best images/s over `repeats` passes of `batches` batches of `make()`'s iterator."""
    best = 0.0
    for _ in range(repeats + 1):  # the first pass warms up
        start, count = time.perf_counter(), 0
        for k, batch in enumerate(make()):
            count += len(batch[0] if isinstance(batch, tuple) else batch)
            if k + 1 == batches:
                break
        best = max(best, count / (time.perf_counter() - start))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=24, help="batches timed per pass")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--sources",
                        default="synthetic,synthetic-fill,synthetic-cached,celeba,folder")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    n = args.batches * args.batch_size
    size, batch = args.image_size, args.batch_size
    rows = []
    with tempfile.TemporaryDirectory() as root:
        files = {"celeba", "folder"} & set(args.sources.split(","))
        celeba_path, folder_path = write_files(root, n) if files else (None, None)

        def sources(workers):
            def cached():
                data = synthetic_faces(n=n, image_size=size, batch_size=batch, workers=workers)
                for _ in pydataset_batches(data):  # fill the cache, then time
                    pass
                return lambda: pydataset_batches(data)

            def fill():
                data = synthetic_faces(n=n, image_size=size, batch_size=batch)
                data.fill_cache(threads=workers)
                yield data.as_numpy()[0]

            return {
                "synthetic-fill": fill,
                "synthetic": lambda: pydataset_batches(synthetic_faces(
                    n=n, image_size=size, batch_size=batch, cache=False, workers=workers)),
                "synthetic-cached": cached,
                "celeba": lambda: iter(celeba(celeba_path, image_size=size, batch_size=batch,
                                              num_parallel_calls=workers).as_numpy_iterator()),
                "folder": lambda: iter(image_folder(folder_path, image_size=size,
                                                    batch_size=batch, num_parallel_calls=workers)
                                       .as_numpy_iterator()),
            }

        for name in args.sources.split(","):
            speeds = {}
            for workers in (int(w) for w in args.workers.split(",")):
                make = sources(workers)[name]
                if name == "synthetic-cached":
                    make = make()
                speeds[workers] = time_source(make, args.batches, args.repeats)
            one = speeds[min(speeds)]
            for workers, speed in speeds.items():
                rows.append({"source": name, "workers": workers, "images_per_s": speed,
                             "speedup": speed / one})
                print(f"{name:17s} workers={workers}: {speed:9.0f} images/s  "
                      f"({speed / one:.2f}x)", flush=True)
    if args.json:
        write_json(args.json, {"machine": machine(), "setup": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
