"""The `kerasgen` command: train a model, sample from a saved one.

    kerasgen train dcgan --epochs 5 --out runs/dcgan
    kerasgen train dcgan --data celeba ~/data/celeba --image-size 64
    kerasgen train dcgan --data folder ~/data/lfw --epochs 20
    kerasgen sample runs/dcgan/model.keras --n 64 --out grid.png
    kerasgen preview --data celeba ~/data/celeba --attributes Male,Smiling --out data.png

Bad input (a missing folder or file, a corrupt image, an unknown attribute) ends the command
with one line on stderr that names the problem, and exit status 2; nothing already written is
removed. A run that is interrupted or diverges resumes from its last finished epoch when the
same command is run again.
"""

import argparse
import os
import sys

MODELS = ("dcgan",)
DATA_SOURCES = ("synthetic", "celeba", "celeba-tfds", "folder")


def _parser():
    parser = argparse.ArgumentParser(
        prog="kerasgen", description="Train generative image models with Keras 3."
    )
    parser.add_argument(
        "--backend", choices=("tensorflow", "jax", "torch"),
        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data", nargs="+", default=["synthetic"], metavar="SOURCE [PATH]",
        help="synthetic (default, no download) | celeba PATH | celeba-tfds [DATA_DIR] | folder PATH",
    )
    data.add_argument("--image-size", type=int, default=64)
    data.add_argument("--batch-size", type=int, default=64)
    data.add_argument("--n-images", type=int, default=20_000, help="size of the synthetic data set")
    data.add_argument("--crop", type=int, default=None, help="centre crop before resizing (CelebA default 160)")
    data.add_argument("--flip", action="store_true", help="random horizontal flips")
    data.add_argument("--color-jitter", type=float, default=None, metavar="S",
                      help="random brightness, contrast and saturation, each by a factor in [1-S, 1+S]")
    data.add_argument("--seed", type=int, default=0)

    train = commands.add_parser("train", parents=[data],
                                help="train a model, writing grids, a GIF, a loss plot and the model")
    train.add_argument("model", choices=MODELS)
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--steps-per-epoch", type=int, default=None)
    train.add_argument("--latent-dim", type=int, default=100)
    train.add_argument("--width", type=int, default=64, help="channels of the first/last block")
    train.add_argument("--label-smoothing", default=None, help="S, or LOW,HIGH (e.g. 0.7,1.2)")
    train.add_argument("--instance-noise", type=float, default=0.0)
    train.add_argument("--dropout", type=float, default=0.0, help="discriminator dropout")
    train.add_argument("--leaky-generator", action="store_true", help="LeakyReLU in the generator")
    train.add_argument("--out", default=None, help="output folder (default runs/MODEL)")
    train.add_argument("--grid-size", type=int, default=64, help="images per grid")
    train.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")

    sample = commands.add_parser("sample", help="write a grid of images from a saved model")
    sample.add_argument("model_path", metavar="MODEL.keras")
    sample.add_argument("--n", type=int, default=64)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", default="samples.png")
    sample.add_argument("--scale", type=int, default=1, help="enlarge the grid by this factor")

    preview = commands.add_parser(
        "preview", parents=[data],
        help="write a grid of training images as a model would see them; print attribute rates",
    )
    preview.add_argument("--attributes", default=None, metavar="A,B,...",
                         help="attribute names (CelebA's) whose rates in the first batches to print")
    preview.add_argument("--n", type=int, default=64)
    preview.add_argument("--out", default="data.png")
    preview.add_argument("--scale", type=int, default=1, help="enlarge the grid by this factor")
    return parser


def _fail(message):
    print(f"kerasgen: error: {message}", file=sys.stderr)
    return 2


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.backend:
        import keras  # already imported with the kerasgen package, so its backend is fixed

        if keras.backend.backend() != args.backend:
            # Keras picks its backend once, at import: start again with KERAS_BACKEND set.
            os.environ["KERAS_BACKEND"] = args.backend
            sys.stdout.flush()
            os.execv(sys.executable, [sys.executable, "-m", "kerasgen", *argv])

    from kerasgen.errors import KerasgenError

    try:
        if args.command == "train":
            return _train(args, parser)
        if args.command == "preview":
            return _preview(args)
        return _sample(args)
    except KerasgenError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("interrupted; run the same command again to resume from the last finished epoch.")


def _label_smoothing(value, parser):
    if value is None:
        return None
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError:
        parser.error(f"--label-smoothing takes S or LOW,HIGH; received {value!r}")
    if len(parts) not in (1, 2):
        parser.error(f"--label-smoothing takes S or LOW,HIGH; received {value!r}")
    return parts[0] if len(parts) == 1 else tuple(parts)


def load_data(args, attributes=None):
    """The data named on the command line (`--data SOURCE [PATH]` and the other data options),
    yielding `(images, attributes)` when `attributes` (a list of names) is given."""
    from kerasgen import data
    from kerasgen.errors import DataError

    kind, rest = args.data[0], args.data[1:]
    if kind not in DATA_SOURCES:
        raise DataError(f"unknown data source {kind!r}; expected one of {', '.join(DATA_SOURCES)}.")
    common = dict(image_size=args.image_size, batch_size=args.batch_size, seed=args.seed)
    augment = dict(flip=args.flip, color_jitter=args.color_jitter)
    crop = {"crop": args.crop} if args.crop else {}
    if kind == "synthetic":
        if rest:
            raise DataError("--data synthetic takes no path.")
        if args.flip or args.color_jitter or args.crop:
            raise DataError("--flip, --color-jitter and --crop apply to real data, not to "
                            "--data synthetic (whose faces already vary in pose and colour).")
        return data.synthetic_faces(n=args.n_images, attributes=attributes, **common)
    if kind == "celeba-tfds":
        return data.celeba_tfds(data_dir=rest[0] if rest else None, attributes=attributes,
                                **common, **augment, **crop)
    if len(rest) != 1:
        raise DataError(f"--data {kind} needs exactly one PATH; received {len(rest)}.")
    if kind == "celeba":
        return data.celeba(rest[0], attributes=attributes, **common, **augment, **crop)
    if attributes:
        raise DataError(f"--data folder reads images only; {rest[0]} has no attribute labels.")
    return data.image_folder(rest[0], crop=args.crop, **common, **augment)


def _train(args, parser):
    import keras

    import kerasgen
    from kerasgen.callbacks import ImageGrid
    from kerasgen.callbacks import NaNGuard

    out = args.out or os.path.join("runs", args.model)
    os.makedirs(out, exist_ok=True)
    dataset = load_data(args)
    model = kerasgen.DCGAN(
        latent_dim=args.latent_dim,
        image_size=args.image_size,
        width=args.width,
        generator_activation="leaky_relu" if args.leaky_generator else "relu",
        discriminator_dropout=args.dropout,
        label_smoothing=_label_smoothing(args.label_smoothing, parser),
        instance_noise=args.instance_noise,
        seed=args.seed,
    )
    model.compile()
    backup = os.path.join(out, "backup")
    print(
        f"kerasgen: training {type(model).__name__} on {' '.join(args.data)} "
        f"({args.image_size}px, batch {args.batch_size}) with the {keras.backend.backend()} "
        f"backend; writing to {out}",
        flush=True,
    )
    model.fit(
        dataset,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        verbose=2 if args.quiet else 1,
        callbacks=[
            NaNGuard(checkpoint_hint=f"The last finished epoch is kept in {backup}; lower the "
                     "learning rates or add label smoothing, then run the command again."),
            keras.callbacks.BackupAndRestore(backup),
            ImageGrid(out, n=args.grid_size, seed=args.seed, scale=2 if args.image_size <= 32 else 1),
        ],
    )
    model_path = os.path.join(out, "model.keras")
    model.save(model_path)
    print(f"kerasgen: saved {model_path}; grids, progress.gif and losses.png are in {out}")
    return 0


def _sample(args):
    import keras

    import kerasgen  # noqa: F401  (registers the model classes for loading)
    from kerasgen.errors import DataError
    from kerasgen.images import save_image_grid
    from kerasgen.models.base import GenerativeModel

    if not os.path.isfile(args.model_path):
        raise DataError(f"no model file at {args.model_path}")
    try:
        model = keras.models.load_model(args.model_path)
    except Exception as e:  # Keras raises many kinds for a file that is not a .keras model.
        raise DataError(
            f"{args.model_path} could not be loaded as a Keras model ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no details'})"
        ) from None
    if not isinstance(model, GenerativeModel):
        raise DataError(f"{args.model_path} holds a {type(model).__name__}, not a kerasgen model")
    images = model.generate(args.n, seed=args.seed)
    save_image_grid(images, args.out, scale=args.scale)
    print(f"kerasgen: wrote {args.n} images to {args.out}")
    return 0


def _preview(args):
    import numpy as np

    from kerasgen.images import save_image_grid

    names = [a.strip() for a in args.attributes.split(",")] if args.attributes else None
    dataset = load_data(args, attributes=names)
    images, labels = [], []
    for batch in dataset:
        if names:
            batch, batch_labels = batch
            labels.append(np.asarray(batch_labels))
        images.append(np.asarray(batch))
        if sum(len(b) for b in images) >= args.n:
            break
    images = np.concatenate(images)[: args.n]
    save_image_grid(images, args.out, scale=args.scale)
    print(f"kerasgen: wrote {len(images)} training images ({images.shape[1]}px) to {args.out}")
    if names:
        rates = np.concatenate(labels)[: len(images)].mean(axis=0)
        for name, rate in zip(names, rates):
            print(f"  {name:<22} {rate:6.1%} of these images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
