"""The `kerasgen` command: train a model, sample from a saved one.

    kerasgen train dcgan --epochs 5 --out runs/dcgan
    kerasgen train dcgan --data celeba ~/data/celeba --image-size 64
    kerasgen train dcgan --data folder ~/data/lfw --epochs 20
    kerasgen sample runs/dcgan/model.keras --n 64 --out grid.png
    kerasgen preview --data celeba ~/data/celeba --attributes Male,Smiling --out data.png
    kerasgen latent stds runs/vae/model.keras --out stds.png
    kerasgen eval runs/vae/model.keras --metrics recon,fid,kid --features runs/classifier.keras
    kerasgen train cgan --attributes Male,Smiling,Eyeglasses --classifier runs/classifier.keras
    kerasgen sample runs/cgan/model.keras --set Eyeglasses=1,Smiling=-1 --out glasses.png
    kerasgen refine runs/cgan/model.keras face.jpg --set Eyeglasses=1 --current Male=1

Bad input (a missing folder or file, a corrupt image, an unknown attribute) ends the command
with one line on stderr that names the problem, and exit status 2; nothing already written is
removed. A run that is interrupted or diverges resumes from its last finished epoch when the
same command is run again.
"""

import argparse
import os
import sys

MODELS = ("dcgan", "wgan-gp", "ae", "vae", "vaegan", "cgan")
DATA_SOURCES = ("synthetic", "celeba", "celeba-tfds", "folder")


def data_options(image_size=64, split="train"):
    """The options that choose and shape the data, for a subcommand's `parents` (a fresh parser
    each time: argparse shares parent actions, so defaults must not be changed afterwards)."""
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data", nargs="+", default=["synthetic"], metavar="SOURCE [PATH]",
        help="synthetic (default, no download) | celeba PATH | celeba-tfds [DATA_DIR] | folder PATH",
    )
    data.add_argument("--image-size", type=int, default=image_size)
    data.add_argument("--batch-size", type=int, default=64)
    data.add_argument("--n-images", type=int, default=20_000, help="size of the synthetic data set")
    data.add_argument("--crop", type=int, default=None, help="centre crop before resizing (CelebA default 160)")
    data.add_argument("--flip", action="store_true", help="random horizontal flips")
    data.add_argument("--color-jitter", type=float, default=None, metavar="S",
                      help="random brightness, contrast and saturation, each by a factor in [1-S, 1+S]")
    data.add_argument("--split", default=split,
                      help=f"train | validation | test (synthetic, CelebA), all (CelebA folder); "
                           f"default {split}")
    data.add_argument("--seed", type=int, default=0)
    return data


def _parser():
    parser = argparse.ArgumentParser(
        prog="kerasgen", description="Train generative image models with Keras 3."
    )
    parser.add_argument(
        "--backend", choices=("tensorflow", "jax", "torch"),
        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", parents=[data_options()],
                                help="train a model, writing grids, a GIF, a loss plot and the model")
    train.add_argument("model", choices=MODELS)
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--steps-per-epoch", type=int, default=None)
    train.add_argument("--latent-dim", type=int, default=None, help="default: the model's")
    train.add_argument("--width", type=int, default=64, help="channels of the first/last block")
    train.add_argument("--learning-rate", type=float, default=None,
                       help="learning rate of every optimizer (default: the paper's)")
    train.add_argument("--leaky-generator", action="store_true", help="LeakyReLU in the generator")
    gan = train.add_argument_group("dcgan")
    gan.add_argument("--label-smoothing", default=None, help="S, or LOW,HIGH (e.g. 0.7,1.2)")
    gan.add_argument("--instance-noise", type=float, default=0.0)
    gan.add_argument("--dropout", type=float, default=0.0, help="discriminator dropout")
    wgan = train.add_argument_group("wgan-gp")
    wgan.add_argument("--n-critic", type=int, default=5, help="critic steps per generator step")
    wgan.add_argument("--gp-weight", type=float, default=10.0, help="gradient penalty weight")
    vae = train.add_argument_group("ae, vae, vaegan")
    vae.add_argument("--kld-weight", type=float, default=1.0, help="weight of the KL term")
    vae.add_argument("--reconstruction", choices=("mse", "bce"), default="mse",
                     help="pixel loss of ae and vae")
    vae.add_argument("--reduction", choices=("sum", "mean"), default="sum",
                     help="pixel loss summed per image (the ELBO's scale) or averaged per pixel")
    vae.add_argument("--reconstruction-weight", type=float, default=1.0, help="vaegan, cgan")
    vae.add_argument("--gan-weight", type=float, default=1.0, help="vaegan")
    cgan = train.add_argument_group("cgan")
    cgan.add_argument("--attributes", default=None, metavar="A,B,...",
                      help="CelebA attribute names (default: Male,Smiling,Eyeglasses,Blond_Hair,Bangs)")
    cgan.add_argument("--mismatch-weight", type=float, default=1.0,
                      help="weight of the real-image/wrong-attributes term of D's loss")
    cgan.add_argument("--classifier", default=None, metavar="CLASSIFIER.keras",
                      help="log attribute accuracy with this classifier (kerasgen classifier)")
    cgan.add_argument("--classifier-every", type=int, default=1, metavar="N",
                      help="measure attribute accuracy every N epochs")
    train.add_argument("--out", default=None, help="output folder (default runs/MODEL)")
    train.add_argument("--grid-size", type=int, default=64, help="images per grid")
    train.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")

    evaluate = commands.add_parser(
        "eval", parents=[data_options(image_size=None, split="test")],
        help="measure a saved model on a data split: reconstruction, FID, KID, precision/recall",
        description="recon: reconstruction MSE per pixel and channel on [0, 1] pixels (seed "
                    "001's Table 1) of an Autoencoder, VAE or VAEGAN. fid, kid, pr: --n "
                    "generated images against up to --max-images real ones, in the feature "
                    "space of --features; the real features are cached under $KERASGEN_CACHE "
                    "(default ~/.cache/kerasgen), keyed by data set, extractor and count. "
                    "--image-size defaults to the model's.",
    )
    evaluate.add_argument("model_path", metavar="MODEL.keras")
    evaluate.add_argument("--metrics", default=None, metavar="recon,fid,kid,pr",
                          help="comma-separated (default: recon for models that reconstruct, "
                               "and fid,kid,pr when --features is given)")
    evaluate.add_argument("--max-images", type=int, default=None,
                          help="real images to use (default: recon all, fid/kid/pr 10000)")
    evaluate.add_argument("--features", default=None, metavar="inception|CLASSIFIER.keras",
                          help="fid/kid/pr features: InceptionV3 (ImageNet weights, the standard "
                               "FID) or an AttributeClassifier's (offline, kerasgen classifier)")
    evaluate.add_argument("--n", type=int, default=10_000, help="generated images (fid/kid/pr)")
    evaluate.add_argument("--no-cache", action="store_true",
                          help="compute the real features again (and do not save them)")
    evaluate.add_argument("--json", default=None, help="also write the results to this JSON file")

    sample = commands.add_parser("sample", help="write a grid of images from a saved model")
    sample.add_argument("model_path", metavar="MODEL.keras")
    sample.add_argument("--n", type=int, default=64)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", default="samples.png")
    sample.add_argument("--scale", type=int, default=1, help="enlarge the grid by this factor")
    sample.add_argument("--set", default=None, metavar="A=1,B=-1",
                        help="conditional models: attributes on (1) or off (0 or -1); the rest off")

    refine = commands.add_parser(
        "refine", help="redraw face images with changed attributes (conditional models)",
        description="Encodes each IMAGE, then draws it again with the attributes of --set "
                    "changed. The faces' other attributes come from --current or, with "
                    "--classifier, are read from the images.",
    )
    refine.add_argument("model_path", metavar="MODEL.keras")
    refine.add_argument("images", nargs="+", metavar="IMAGE")
    refine.add_argument("--set", required=True, metavar="A=1,B=-1")
    refine.add_argument("--current", default=None, metavar="A=1,B=0",
                        help="the faces' own attributes (unnamed ones off)")
    refine.add_argument("--classifier", default=None, metavar="CLASSIFIER.keras",
                        help="read the faces' own attributes with this classifier")
    refine.add_argument("--out", default="refined.png")
    refine.add_argument("--scale", type=int, default=1, help="enlarge the grid by this factor")

    classify = commands.add_parser(
        "classifier", parents=[data_options()],
        help="train an attribute classifier (to measure conditional models)",
        description="Trains kerasgen.metrics.AttributeClassifier on the --data split, prints "
                    "its accuracy per attribute on --eval-split, saves it to --out.",
    )
    classify.add_argument("--attributes", required=True, metavar="A,B,...")
    classify.add_argument("--epochs", type=int, default=5)
    classify.add_argument("--width", type=int, default=32)
    classify.add_argument("--eval-split", default="validation")
    classify.add_argument("--eval-images", type=int, default=2000)
    classify.add_argument("--out", default="runs/classifier.keras")

    pictures = commands.add_parser(
        "latent", parents=[data_options(image_size=None)],
        help="write a picture of a saved model's latent space",
        description="stds: rows of decoded std * z, std 0.25 ... 2.0 (seed 001); interpolate: "
                    "rows between pairs of seeds; pca: faces along the principal components of "
                    "the encoded --data (models with an encoder).",
    )
    pictures.add_argument("kind", choices=("stds", "interpolate", "pca"))
    pictures.add_argument("model_path", metavar="MODEL.keras")
    pictures.add_argument("--n", type=int, default=8, help="images per row")
    pictures.add_argument("--rows", type=int, default=8, help="rows (interpolate, pca)")
    pictures.add_argument("--max-images", type=int, default=5000, help="images the PCA encodes")
    pictures.add_argument("--out", default="latent.png")
    pictures.add_argument("--scale", type=int, default=1, help="enlarge the grid by this factor")

    explore = commands.add_parser(
        "explore", parents=[data_options(image_size=None)],
        help="a local web page to steer a saved model: latent sliders, attribute toggles",
        description="Serves a page (on 127.0.0.1 by default) with the model's face for a seed, "
                    "sliders over its top latent directions (models with an encoder: principal "
                    "components of the encoded --data; GANs: the generator's Jacobian), "
                    "random/reset/save buttons and, for conditional models, a toggle per "
                    "attribute. Ctrl-C stops it.",
    )
    explore.add_argument("model_path", metavar="MODEL.keras")
    explore.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    explore.add_argument("--host", default="127.0.0.1",
                         help="address to listen on (the default serves this machine only)")
    explore.add_argument("--components", type=int, default=8, help="sliders")
    explore.add_argument("--max-images", type=int, default=2000,
                         help="images the PCA encodes (models with an encoder)")
    explore.add_argument("--jacobian", action="store_true",
                         help="use the generator's Jacobian directions for encoder models too")
    explore.add_argument("--verbose", action="store_true", help="log every request")

    preview = commands.add_parser(
        "preview", parents=[data_options()],
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
        if args.command == "eval":
            return _eval(args)
        if args.command == "latent":
            return _latent(args)
        if args.command == "classifier":
            return _classifier(args)
        if args.command == "refine":
            return _refine(args)
        if args.command == "explore":
            return _explore(args)
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
    split = {} if args.split == "train" else {"split": args.split}
    augment = dict(flip=args.flip, color_jitter=args.color_jitter)
    crop = {"crop": args.crop} if args.crop else {}
    if kind == "synthetic":
        if rest:
            raise DataError("--data synthetic takes no path.")
        if args.flip or args.color_jitter or args.crop:
            raise DataError("--flip, --color-jitter and --crop apply to real data, not to "
                            "--data synthetic (whose faces already vary in pose and colour).")
        return data.synthetic_faces(n=args.n_images, attributes=attributes, **common, **split)
    if kind == "celeba-tfds":
        return data.celeba_tfds(data_dir=rest[0] if rest else None, attributes=attributes,
                                **common, **augment, **crop, **split)
    if len(rest) != 1:
        raise DataError(f"--data {kind} needs exactly one PATH; received {len(rest)}.")
    if kind == "celeba":
        return data.celeba(rest[0], attributes=attributes, **common, **augment, **crop, **split)
    if attributes:
        raise DataError(f"--data folder reads images only; {rest[0]} has no attribute labels.")
    if split:
        raise DataError(f"--data folder has no splits; received --split {args.split}.")
    return data.image_folder(rest[0], crop=args.crop, **common, **augment)


def build_model(args, parser):
    """The model named by `kerasgen train MODEL` with its command-line options."""
    import kerasgen

    common = dict(image_size=args.image_size, width=args.width, seed=args.seed)
    if args.latent_dim is not None:
        common["latent_dim"] = args.latent_dim
    activation = "leaky_relu" if args.leaky_generator else "relu"
    if args.model == "dcgan":
        return kerasgen.DCGAN(
            generator_activation=activation,
            discriminator_dropout=args.dropout,
            label_smoothing=_label_smoothing(args.label_smoothing, parser),
            instance_noise=args.instance_noise,
            **common,
        )
    if args.model == "wgan-gp":
        return kerasgen.WGANGP(
            n_critic=args.n_critic, gp_weight=args.gp_weight, generator_activation=activation,
            **common,
        )
    if args.model == "ae":
        return kerasgen.Autoencoder(
            reconstruction=args.reconstruction, reduction=args.reduction, **common
        )
    if args.model == "vae":
        return kerasgen.VAE(
            kld_weight=args.kld_weight, reconstruction=args.reconstruction,
            reduction=args.reduction, **common,
        )
    if args.model == "vaegan":
        return kerasgen.VAEGAN(
            kld_weight=args.kld_weight, reconstruction_weight=args.reconstruction_weight,
            gan_weight=args.gan_weight, reduction=args.reduction, **common,
        )
    attributes = _attribute_names(args.attributes) if args.attributes else None
    return kerasgen.ConditionalGAN(
        **({"attributes": attributes} if attributes else {}),
        mismatch_weight=args.mismatch_weight, reconstruction_weight=args.reconstruction_weight,
        label_smoothing=_label_smoothing(args.label_smoothing, parser), **common,
    )


def _train(args, parser):
    import keras

    from kerasgen.callbacks import ImageGrid
    from kerasgen.callbacks import NaNGuard
    from kerasgen.errors import KerasgenError

    try:
        model = build_model(args, parser)
    except ValueError as e:  # an option the model rejects, e.g. --image-size 48
        raise KerasgenError(str(e)) from None
    attributes = list(getattr(model, "attributes", None) or []) or None
    if args.classifier and not attributes:
        raise KerasgenError("--classifier measures conditional models (cgan) only.")
    out = args.out or os.path.join("runs", args.model)
    os.makedirs(out, exist_ok=True)
    dataset = load_data(args, attributes=attributes)
    extra = []
    if args.classifier:
        from kerasgen.callbacks import AttributeAccuracy

        extra.append(AttributeAccuracy(load_classifier(args.classifier), every=args.classifier_every))
    optimizers = model.default_optimizers()
    if args.learning_rate is not None:
        optimizers = {
            name: type(opt).from_config({**opt.get_config(), "learning_rate": args.learning_rate})
            for name, opt in optimizers.items()
        }
    model.compile(optimizers)
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
            *extra,
        ],
    )
    model_path = os.path.join(out, "model.keras")
    model.save(model_path)
    print(f"kerasgen: saved {model_path}; grids, progress.gif and losses.png are in {out}")
    return 0


def load_kerasgen_model(path):
    """A saved kerasgen model, or a one-line error naming the file."""
    import keras

    import kerasgen  # noqa: F401  (registers the model classes for loading)
    from kerasgen.errors import DataError
    from kerasgen.models.base import GenerativeModel

    if not os.path.isfile(path):
        raise DataError(f"no model file at {path}")
    try:
        model = keras.models.load_model(path)
    except Exception as e:  # Keras raises many kinds for a file that is not a .keras model.
        raise DataError(
            f"{path} could not be loaded as a Keras model ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no details'})"
        ) from None
    if not isinstance(model, GenerativeModel):
        raise DataError(f"{path} holds a {type(model).__name__}, not a kerasgen model")
    return model


def _settings(text, option):
    """"A=1,B=-1" -> {"A": 1, "B": 0}: on for 1, off for 0 or -1."""
    from kerasgen.errors import DataError

    settings = {}
    for item in _attribute_names(text):
        name, _, value = item.partition("=")
        if value.strip() not in ("1", "0", "-1"):
            raise DataError(f"{option} takes NAME=1 (on) or NAME=0/-1 (off) items; received {item!r}.")
        settings[name.strip()] = 1 if value.strip() == "1" else 0
    return settings


def _conditional(model, path, option):
    from kerasgen.errors import DataError

    if not hasattr(model, "attribute_vector"):
        raise DataError(f"{option} needs a conditional model (cgan); {path} holds a "
                        f"{type(model).__name__}.")
    return model


def load_classifier(path):
    import keras

    from kerasgen.errors import DataError
    from kerasgen.metrics import AttributeClassifier

    if not os.path.isfile(path):
        raise DataError(f"no classifier file at {path}")
    try:
        classifier = keras.models.load_model(path, compile=False)  # inference only
    except Exception as e:  # as in load_kerasgen_model
        raise DataError(f"{path} could not be loaded as a Keras model ({type(e).__name__})") from None
    if not isinstance(classifier, AttributeClassifier):
        raise DataError(f"{path} holds a {type(classifier).__name__}, not an AttributeClassifier")
    return classifier


def _sample(args):
    from kerasgen.images import save_image_grid

    model = load_kerasgen_model(args.model_path)
    if args.set:
        _conditional(model, args.model_path, "--set")
        attributes = model.attribute_vector(_settings(args.set, "--set"))
        images = model.generate(args.n, seed=args.seed, attributes=attributes)
    else:
        images = model.generate(args.n, seed=args.seed)
    save_image_grid(images, args.out, scale=args.scale)
    print(f"kerasgen: wrote {args.n} images to {args.out}")
    return 0


def read_faces(paths, size):
    """Image files -> uint8 `(n, size, size, 3)`: centre square, resized."""
    import numpy as np
    from PIL import Image

    from kerasgen.data.pipeline import load_with_pil
    from kerasgen.errors import DataError

    faces = []
    for path in paths:
        array, reason = load_with_pil(path)
        if array is None:
            raise DataError(f"cannot read {path}: {reason}")
        h, w = array.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = Image.fromarray(array[top : top + side, left : left + side])
        faces.append(np.asarray(square.resize((size, size), Image.LANCZOS)))
    return np.stack(faces)


def _refine(args):
    import numpy as np

    from kerasgen.errors import DataError
    from kerasgen.images import save_image_grid

    model = _conditional(load_kerasgen_model(args.model_path), args.model_path, "refine")
    faces = read_faces(args.images, model.image_size)
    if args.classifier:
        classifier = load_classifier(args.classifier)
        missing = [a for a in model.attributes if a not in classifier.attributes]
        if missing:
            raise DataError(f"{args.classifier} does not read {missing}.")
        read = classifier.predict_attributes(faces)
        current = read[:, [classifier.attributes.index(a) for a in model.attributes]]
    elif args.current is not None:
        current = model.attribute_vector(_settings(args.current, "--current"))
    else:
        raise DataError("refine needs the faces' own attributes: --current A=1,B=0,... or "
                        "--classifier CLASSIFIER.keras to read them.")
    refined = model.refine(faces, _settings(args.set, "--set"), current=current)
    save_image_grid(np.concatenate([faces / 255.0, refined]), args.out, nrow=len(faces),
                    scale=args.scale)
    print(f"kerasgen: wrote {len(faces)} faces (top) and their refinements (bottom) to {args.out}")
    return 0


EVAL_METRICS = ("recon", "fid", "kid", "pr")


def _eval(args):
    import json

    from kerasgen.errors import DataError

    model = load_kerasgen_model(args.model_path)
    args.image_size = args.image_size or model.image_size
    from kerasgen.models.vae import AutoencoderBase
    from kerasgen.models.vaegan import VAEGAN

    reconstructs = isinstance(model, (AutoencoderBase, VAEGAN))
    if args.metrics is None:
        chosen = (["recon"] if reconstructs else []) + (["fid", "kid", "pr"] if args.features else [])
        if not chosen:
            raise DataError(f"{type(model).__name__} does not reconstruct images: give --features "
                            "inception or --features CLASSIFIER.keras for fid, kid and pr.")
    else:
        chosen = _attribute_names(args.metrics)
        unknown = [m for m in chosen if m not in EVAL_METRICS]
        if unknown or not chosen:
            raise DataError(f"unknown metric {', '.join(unknown) or args.metrics!r} in --metrics; "
                            f"expected some of {', '.join(EVAL_METRICS)}.")
    if "recon" in chosen and not reconstructs:
        raise DataError(
            f"{args.model_path} holds a {type(model).__name__}, which does not reconstruct "
            "images; recon takes an Autoencoder, VAE or VAEGAN."
        )
    source = f"{' '.join(args.data)} {args.split}"
    rows = []  # (metric, value, detail)
    if "recon" in chosen:
        from kerasgen import metrics

        mse, count = metrics.reconstruction_mse(model, load_data(args), max_images=args.max_images)
        rows.append(("recon_mse", mse, f"{count} images, [0, 1] pixels"))
    quality = [m for m in chosen if m != "recon"]
    if quality:
        rows += _sample_quality(args, model, quality)
    print(f"kerasgen: {type(model).__name__} {args.model_path} on {source}")
    width = max(len(name) for name, _, _ in rows)
    for name, value, detail in rows:
        print(f"  {name:<{width}}  {value:12.6f}  {detail}")
    if args.json:
        result = {"model": args.model_path, "data": source,
                  "metrics": {name: value for name, value, _ in rows},
                  "details": {name: detail for name, _, detail in rows}}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"kerasgen: wrote {args.json}")
    return 0


def _data_key(args):
    """What identifies the real images of an evaluation, for the feature cache (None: do not
    cache, e.g. random augmentation)."""
    if args.flip or args.color_jitter:
        return None
    kind, rest = args.data[0], [os.path.abspath(os.path.expanduser(p)) for p in args.data[1:]]
    key = [kind, *rest, f"split={args.split}", f"size={args.image_size}", f"seed={args.seed}"]
    if kind == "synthetic":
        key.append(f"n={args.n_images}")
    if args.crop:
        key.append(f"crop={args.crop}")
    return " ".join(key)


def _sample_quality(args, model, chosen):
    """FID, KID and/or precision/recall of generated against real images: rows for `_eval`."""
    import time

    from kerasgen import features
    from kerasgen import metrics
    from kerasgen.errors import DataError

    if args.features is None:
        raise DataError("fid, kid and pr need --features inception or --features "
                        "CLASSIFIER.keras (train one offline with kerasgen classifier).")
    if args.features == "inception":
        extractor = features.InceptionFeatures()
    else:
        extractor = features.ClassifierFeatures(load_classifier(args.features))
    limit = args.max_images or 10_000
    key = None if args.no_cache else _data_key(args)
    cache = None if key is None else metrics.cache_path(key, extractor, limit)
    start = time.perf_counter()
    real = metrics.real_features(load_data(args), extractor, max_images=limit, cache=cache,
                                 verbose=1)
    fake = metrics.generated_features(model, extractor, n=args.n, seed=args.seed, verbose=1)
    seconds = time.perf_counter() - start
    detail = f"{extractor.name} features, {args.n} generated vs {len(real)} real"
    scores = metrics.sample_quality(real, fake, chosen)
    details = {"kid_std": f"over 100 subsets of {min(1000, len(real), len(fake))}",
               "precision": detail + ", k=3", "recall": detail + ", k=3"}
    rows = [(name, value, details.get(name, detail)) for name, value in scores.items()]
    rows.append(("seconds", time.perf_counter() - start,
                 f"features {seconds:.1f} s" + (f", real features cached in {cache}" if cache else "")))
    return rows


def _attribute_names(text):
    return [a.strip() for a in text.split(",") if a.strip()]


def _classifier(args):
    import copy

    from kerasgen.metrics import AttributeClassifier

    names = _attribute_names(args.attributes)
    train = load_data(args, attributes=names)
    held_out = copy.copy(args)
    held_out.split, held_out.flip, held_out.color_jitter = args.eval_split, False, None
    held_out.n_images = args.eval_images
    evaluation = load_data(held_out, attributes=names)
    classifier = AttributeClassifier(names, image_size=args.image_size, width=args.width)
    classifier.compile()
    classifier.fit(train, epochs=args.epochs, verbose=2)
    accuracy = classifier.accuracy(evaluation, max_images=args.eval_images)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    classifier.save(args.out)
    print(f"kerasgen: saved {args.out}; accuracy on {args.eval_split}: "
          f"{accuracy.pop('mean'):.3f} mean")
    for name, value in accuracy.items():
        print(f"  {name:<22} {value:.3f}")
    return 0


def _latent(args):
    import numpy as np

    from kerasgen import latent
    from kerasgen.images import save_image_grid

    model = load_kerasgen_model(args.model_path)
    if args.kind == "stds":
        images = latent.std_grid(model, per_row=args.n, seed=args.seed)
    elif args.kind == "interpolate":
        images = np.concatenate([
            latent.interpolate(model, args.seed + 2 * r, args.seed + 2 * r + 1, steps=args.n)
            for r in range(args.rows)
        ])
    else:
        args.image_size = args.image_size or model.image_size
        pca = latent.latent_pca(model, load_data(args), max_images=args.max_images)
        images = latent.pca_sheet(model, pca, n_components=args.rows, steps=args.n)
        shares = ", ".join(f"{r:.1%}" for r in pca.explained_variance_ratio[: args.rows])
        print(f"kerasgen: variance of the top {args.rows} components: {shares}")
    save_image_grid(images, args.out, nrow=args.n, scale=args.scale)
    print(f"kerasgen: wrote {args.kind} ({len(images)} images) to {args.out}")
    return 0


def _explore(args):
    from kerasgen.explorer import Explorer, ExplorerServer

    model = load_kerasgen_model(args.model_path)
    data = None
    if hasattr(model, "encode") and not getattr(model, "attributes", None) and not args.jacobian:
        args.image_size = args.image_size or model.image_size
        data = load_data(args)
    print(f"kerasgen: fitting {args.components} latent directions of {args.model_path} ...",
          flush=True)
    explorer = Explorer(model, data=data, n_components=args.components,
                        max_images=args.max_images)
    server = ExplorerServer(explorer, host=args.host, port=args.port, verbose=args.verbose)
    print(f"kerasgen: sliders are the {explorer.method}")
    print(f"kerasgen: serving {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("kerasgen: stopped.")
    finally:
        server.server_close()
    return 0


def _preview(args):
    import numpy as np

    from kerasgen.data import iter_batches
    from kerasgen.images import save_image_grid

    names = _attribute_names(args.attributes) if args.attributes else None
    batches = list(iter_batches(load_data(args, attributes=names), max_images=args.n))
    images = np.concatenate([b[0] for b in batches])
    save_image_grid(images, args.out, scale=args.scale)
    print(f"kerasgen: wrote {len(images)} training images ({images.shape[1]}px) to {args.out}")
    if names:
        rates = np.concatenate([b[1] for b in batches]).mean(axis=0)
        for name, rate in zip(names, rates):
            print(f"  {name:<22} {rate:6.1%} of these images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
