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

from kerasgen.runs import MODELS
from kerasgen.runs import build_model
from kerasgen.runs import data_options
from kerasgen.runs import load_classifier
from kerasgen.runs import load_data
from kerasgen.runs import load_kerasgen_model
from kerasgen.runs import names
from kerasgen.runs import read_faces

class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as one-line `OptionError`s (printed by `main` as
    `kerasgen: error: ...`, exit status 2) instead of a usage block."""

    def error(self, message):
        from kerasgen.errors import OptionError

        raise OptionError(message)


def _parser():
    parser = _Parser(
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
    train.add_argument("--width", type=int, default=None,
                       help="channels of the first/last block (default: the model's, 64; "
                            "sngan 128 up to 32 px)")
    train.add_argument("--learning-rate", type=float, default=None,
                       help="learning rate of every optimizer (default: the paper's)")
    train.add_argument("--generator-learning-rate", type=float, default=None, metavar="LR",
                       help="the generator's (or decoder's) alone: with the next, two time-scale "
                            "learning rates (TTUR, Heusel et al. 2017)")
    train.add_argument("--discriminator-learning-rate", type=float, default=None, metavar="LR",
                       help="the discriminator's (or critic's) alone")
    train.add_argument("--ema", type=float, default=None, metavar="DECAY",
                       help="keep a moving average of the generator's (decoder's) weights, e.g. "
                            "0.999, and sample with it")
    train.add_argument("--ema-rampup", type=float, default=0.05,
                       help="the average's half-life ramps up as this share of the steps done "
                            "(stylegan2-ada); 0 turns the ramp off")
    train.add_argument("--tensorboard", default=None, metavar="DIR",
                       help="also log the losses and each epoch's grid to TensorBoard in DIR")
    train.add_argument("--steps-per-execution", default="auto", metavar="N",
                       help="training steps per compiled call (default auto: 16 on a GPU under "
                            "TensorFlow and JAX, else 1; PyTorch runs 1)")
    train.add_argument("--leaky-generator", action="store_true", help="LeakyReLU in the generator")
    shared = train.add_argument_group("every GAN (dcgan, wgan-gp, sngan, cgan)")
    shared.add_argument("--augment", default=None, metavar="POLICY",
                        help="DiffAugment in front of the discriminator: color,translation,cutout "
                             "or a part of it")
    shared.add_argument("--augment-p", default="1", metavar="P|ada",
                        help="probability each image is augmented, or ada: adapted to keep "
                             "E[sign D(real)] at 0.6 (Karras et al. 2020)")
    shared.add_argument("--r1-gamma", type=float, default=0.0,
                        help="R1 penalty weight gamma on real images (dcgan, sngan, cgan)")
    shared.add_argument("--r1-every", type=int, default=16, help="lazy R1: every N steps")
    gan = train.add_argument_group("dcgan")
    gan.add_argument("--loss", choices=("bce", "hinge"), default="bce",
                     help="adversarial loss of dcgan (sngan: hinge)")
    gan.add_argument("--label-smoothing", default=None, help="S, or LOW,HIGH (e.g. 0.7,1.2)")
    gan.add_argument("--instance-noise", type=float, default=0.0)
    gan.add_argument("--dropout", type=float, default=0.0, help="discriminator dropout")
    wgan = train.add_argument_group("wgan-gp")
    wgan.add_argument("--n-critic", type=int, default=5, help="critic steps per generator step")
    wgan.add_argument("--gp-weight", type=float, default=10.0, help="gradient penalty weight")
    sngan = train.add_argument_group("sngan")
    sngan.add_argument("--n-dis", type=int, default=5, help="discriminator steps per generator "
                       "step")
    vae = train.add_argument_group("ae, vae, vaegan")
    vae.add_argument("--kld-weight", type=float, default=1.0, help="weight of the KL term")
    vae.add_argument("--reconstruction", choices=("mse", "bce"), default="mse",
                     help="pixel loss of ae and vae")
    vae.add_argument("--reduction", choices=("sum", "mean"), default="sum",
                     help="pixel loss summed per image (the ELBO's scale) or averaged per pixel")
    vae.add_argument("--reconstruction-weight", type=float, default=1.0, help="vaegan, cgan")
    vae.add_argument("--gan-weight", type=float, default=1.0, help="vaegan")
    cgan = train.add_argument_group("cgan (and a conditional diffusion model)")
    cgan.add_argument("--attributes", default=None, metavar="A,B,...",
                      help="CelebA attribute names (default: Male,Smiling,Eyeglasses,Blond_Hair,Bangs)")
    cgan.add_argument("--conditioning", choices=("input", "dense", "projection"),
                      default="input",
                      help="where D sees the attributes: input channels (default), before its "
                           "last layer (the seed's), or a projection discriminator with "
                           "conditional batch norm in G (Miyato & Koyama 2018)")
    cgan.add_argument("--mismatch-weight", type=float, default=1.0,
                      help="weight of the real-image/wrong-attributes term of D's loss")
    cgan.add_argument("--classifier", default=None, metavar="CLASSIFIER.keras",
                      help="log attribute accuracy with this classifier (kerasgen classifier)")
    cgan.add_argument("--classifier-every", type=int, default=1, metavar="N",
                      help="measure attribute accuracy every N epochs")
    diffusion = train.add_argument_group("diffusion (with --attributes: conditional, guided)")
    diffusion.add_argument("--schedule", choices=("cosine", "linear"), default="cosine",
                           help="noise schedule")
    diffusion.add_argument("--prediction", choices=("epsilon", "v"), default="epsilon",
                           help="what the UNet predicts: the noise (DDPM) or v")
    diffusion.add_argument("--timesteps", type=int, default=1000, help="steps of the forward "
                           "process")
    diffusion.add_argument("--guidance", type=float, default=3.0,
                           help="classifier-free guidance scale of the samples")
    diffusion.add_argument("--condition-dropout", type=float, default=0.1,
                           help="share of training samples seen without their attributes")
    train.add_argument("--out", default=None, help="output folder (default runs/MODEL)")
    train.add_argument("--overwrite", action="store_true",
                       help="start over in --out, removing what an earlier run wrote there "
                            "(without it, a rerun resumes, continues or does nothing)")
    train.add_argument("--grid-size", type=int, default=64, help="images per grid")
    train.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")

    evaluate = commands.add_parser(
        "eval", parents=[data_options(image_size=None, split=None)],
        help="measure a saved model: reconstruction, FID, KID, IS, precision/recall, "
             "density/coverage",
        description="recon: reconstruction MSE per pixel and channel on [0, 1] pixels (seed "
                    "001's Table 1) of an Autoencoder, VAE or VAEGAN. fid, kid, is, pr, dc: --n "
                    "generated images against up to --max-images real ones (the --split, "
                    "default train with --features inception-2015, else test), in the feature "
                    "space of --features. inception-2015 is the FID papers' network "
                    "(torch-fidelity's weights; defaults: 50,000 generated and 50,000 real "
                    "images, the CelebA-64 protocol of mimicry and StudioGAN). The real "
                    "statistics are cached under $KERASGEN_CACHE (default ~/.cache/kerasgen), "
                    "keyed by data set, extractor and count. --image-size defaults to the "
                    "model's.",
    )
    evaluate.add_argument("model_path", metavar="MODEL.keras")
    evaluate.add_argument("--metrics", default=None, metavar="recon,fid,kid,is,pr,dc",
                          help="comma-separated (default: recon for models that reconstruct; "
                               "with --features, fid,kid,pr and, for inception-2015, is)")
    evaluate.add_argument("--max-images", type=int, default=None,
                          help="real images (default: recon all; inception-2015 50000; else "
                               "10000)")
    evaluate.add_argument("--features", default=None,
                          metavar="inception-2015|keras-imagenet|CLASSIFIER.keras",
                          help="feature space: inception-2015 (the FID papers' Inception, "
                               "comparable with published numbers; needs its weights file), "
                               "keras-imagenet (Keras' ImageNet InceptionV3: not comparable "
                               "with papers) or an AttributeClassifier (offline)")
    evaluate.add_argument("--fid-weights", default=None, metavar="FILE",
                          help="inception-2015 weights: torch-fidelity's or pytorch-fid's .pth, "
                               "or its conversion (kerasgen features convert); default: searched")
    evaluate.add_argument("--resize", choices=("tf1", "clean"), default="tf1",
                          help="inception-2015's resize to 299 px: tf1 (torch-fidelity, the "
                               "papers' TensorFlow 1 bilinear) or clean (clean-fid's PIL bicubic)")
    evaluate.add_argument("--reference-stats", default=None, metavar="FILE.npz",
                          help="FID against published statistics (an .npz with mu and sigma, "
                               "as TTUR and clean-fid publish them) instead of --data")
    evaluate.add_argument("--n", type=int, default=None,
                          help="generated images (default: inception-2015 50000, else 10000)")
    evaluate.add_argument("--subset", type=int, default=10_000,
                          help="real and generated images for kid, pr and dc (the first N)")
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
    sample.add_argument("--steps", type=int, default=None,
                        help="diffusion models: sampling steps (default 50)")
    sample.add_argument("--eta", type=float, default=None,
                        help="diffusion models: DDIM's eta (0: deterministic, 1: DDPM-like)")

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
    classify.add_argument("--overwrite", action="store_true", help="replace an existing --out")

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

    feature_tools = commands.add_parser(
        "features", help="the FID papers' Inception weights: convert them once for kerasgen",
        description="convert PTH [OUT]: reads torch-fidelity's "
                    "weights-inception-2015-12-05-6726825d.pth (or pytorch-fid's "
                    "pt_inception-2015-12-05-6726825d.pth; reading needs PyTorch) and writes "
                    "Keras weights that --features inception-2015 then loads on any backend "
                    "without PyTorch. OUT defaults to where kerasgen looks first "
                    "($KERASGEN_CACHE or ~/.cache/kerasgen/fid_inception_2015.weights.h5).",
    )
    feature_actions = feature_tools.add_subparsers(dest="action", required=True)
    convert = feature_actions.add_parser("convert", help="convert the .pth weights once")
    convert.add_argument("source", metavar="PTH")
    convert.add_argument("out", nargs="?", default=None, metavar="OUT")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing OUT")

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


EXIT_INTERRUPTED = 130


def _fail(message):
    print(f"kerasgen: error: {message}", file=sys.stderr)
    return 2


def _option_checks():
    """{option dest: (check, bounds)}, applied to every parsed option that has a value."""
    from kerasgen.checks import check_int
    from kerasgen.checks import check_number

    count, weight = (check_int, {"minimum": 1}), (check_number, {"minimum": 0})
    return {
        "image_size": (check_int, {"minimum": 8}), "batch_size": count, "n_images": count,
        "crop": count, "color_jitter": (check_number, {"minimum": 0, "maximum": 1}),
        "seed": (check_int, {"minimum": 0, "maximum": 2**32 - 1}),
        "epochs": count, "steps_per_epoch": count, "latent_dim": count, "width": count,
        "learning_rate": (check_number, {"above": 0}), "instance_noise": weight,
        "generator_learning_rate": (check_number, {"above": 0}),
        "discriminator_learning_rate": (check_number, {"above": 0}),
        "ema": (check_number, {"above": 0, "maximum": 0.999999}),
        "ema_rampup": (check_number, {"minimum": 0}),
        "r1_gamma": weight, "r1_every": count, "n_dis": count,
        "dropout": (check_number, {"minimum": 0, "maximum": 0.99}), "n_critic": count,
        "gp_weight": weight, "kld_weight": weight, "reconstruction_weight": weight,
        "gan_weight": weight, "mismatch_weight": weight, "classifier_every": count,
        "grid_size": count, "max_images": count, "n": count,
        "scale": (check_int, {"minimum": 1, "maximum": 64}),
        "port": (check_int, {"minimum": 0, "maximum": 65535}), "components": count,
        "rows": count, "eval_images": count, "subset": (check_int, {"minimum": 2}),
        "timesteps": (check_int, {"minimum": 2}), "guidance": weight, "steps": count,
        "eta": weight,
        "condition_dropout": (check_number, {"minimum": 0, "maximum": 1}),
    }


#: What each command writes: (option dest, the kind of path).
OUTPUTS = {
    "train": ("out", "folder"), "sample": ("out", "image"), "refine": ("out", "image"),
    "latent": ("out", "image"), "preview": ("out", "image"), "classifier": ("out", ".keras"),
    "eval": ("json", ".json"), "features": ("out", "fid-weights"),
}


def _number_or_keyword(text, convert, option, takes):
    """`convert(text)` for an option that also takes a keyword (handled by the caller), else a
    one-line `OptionError` saying what `option` takes."""
    from kerasgen.errors import OptionError

    try:
        return convert(text)
    except ValueError:
        raise OptionError(f"{option} takes {takes}; received {text!r}.") from None


def check_options(args):
    """Checks every option of a parsed command line before any work starts: numbers in range,
    output paths that can be written. Raises `OptionError` naming the option."""
    from kerasgen.checks import IMAGE_SUFFIXES
    from kerasgen.checks import check_int
    from kerasgen.checks import check_number
    from kerasgen.checks import check_output_file
    from kerasgen.checks import check_output_folder

    if args.command == "train" and args.augment_p != "ada":
        value = _number_or_keyword(args.augment_p, float, "--augment-p", "a probability or ada")
        check_number(value, "--augment-p", minimum=0, maximum=1)
    if args.command == "train" and args.steps_per_execution != "auto":
        from kerasgen.models.base import resolve_steps_per_execution

        value = _number_or_keyword(args.steps_per_execution, int, "--steps-per-execution",
                                   "an integer >= 1 or auto")
        args.steps_per_execution = resolve_steps_per_execution(value, "--steps-per-execution")
    if args.command == "eval" and args.n is not None:
        check_int(args.n, "--n", minimum=2)  # FID's covariance needs two images
    if args.command == "latent" and args.kind == "interpolate":
        check_int(args.n, "--n", minimum=2)
    for dest, (check, bounds) in _option_checks().items():
        value = getattr(args, dest, None)
        if value is not None:
            check(value, "--" + dest.replace("_", "-"), **bounds)
    dest, kind = OUTPUTS.get(args.command, (None, None))
    path = getattr(args, dest, None) if dest else None
    if path is not None:
        if kind == "folder":
            check_output_folder(path, "--" + dest)
        elif kind == "fid-weights":
            check_output_file(path, "OUT", (".h5", ".npz"))
        else:
            check_output_file(path, "--" + dest, IMAGE_SUFFIXES if kind == "image" else (kind,))
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    from kerasgen.errors import KerasgenError

    try:
        args = check_options(_parser().parse_args(argv))
    except KerasgenError as e:
        return _fail(str(e))
    if args.backend:
        import keras  # already imported with the kerasgen package, so its backend is fixed

        if keras.backend.backend() != args.backend:
            # Keras picks its backend once, at import: start again with KERAS_BACKEND set.
            os.environ["KERAS_BACKEND"] = args.backend
            sys.stdout.flush()
            os.execv(sys.executable, [sys.executable, "-m", "kerasgen", *argv])

    try:
        if args.command == "train":
            return _train(args)
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
        if args.command == "features":
            return _convert_features(args)
        return _sample(args)
    except KerasgenError as e:
        return _fail(str(e))
    except OSError as e:  # a file that cannot be read or written (disk full, permissions)
        return _fail(f"{e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}")
    except KeyboardInterrupt:  # exit status 130 (128 + SIGINT), as a shell reports it
        if args.command == "train":
            _fail("interrupted; run the same command again to resume from the last finished "
                  "epoch.")
        else:
            _fail("interrupted.")
        return EXIT_INTERRUPTED


ADVICE = {
    "dcgan": "lower --learning-rate or add --label-smoothing 0.7,1.2",
    "cgan": "lower --learning-rate or add --label-smoothing 0.7,1.2",
    "wgan-gp": "lower --learning-rate or raise --gp-weight",
    "sngan": "lower --learning-rate, or add --r1-gamma 1",
    "ae": "lower --learning-rate, or average the pixel loss with --reduction mean",
    "vae": "lower --learning-rate, or average the pixel loss with --reduction mean",
    "vaegan": "lower --learning-rate or --gan-weight",
}


GENERATORS = ("generator", "decoder", "unet")
DISCRIMINATORS = ("discriminator", "critic")


def learning_rates(args, defaults):
    """{optimizer name: learning rate}: the paper's (`defaults`), or `--learning-rate` for all,
    then `--generator-learning-rate` / `--discriminator-learning-rate` for those networks."""
    import keras

    from kerasgen.errors import OptionError

    rates = {name: float(keras.ops.convert_to_numpy(opt.learning_rate))
             for name, opt in defaults.items()}
    for name in rates:
        if args.learning_rate is not None:
            rates[name] = args.learning_rate
        if name in GENERATORS and args.generator_learning_rate is not None:
            rates[name] = args.generator_learning_rate
        if name in DISCRIMINATORS and args.discriminator_learning_rate is not None:
            rates[name] = args.discriminator_learning_rate
    if args.discriminator_learning_rate is not None and not set(rates) & set(DISCRIMINATORS):
        raise OptionError(f"--discriminator-learning-rate: {args.model} has no discriminator "
                          f"(its optimizers: {', '.join(rates)}).")
    return rates


def _train(args):
    import keras

    from kerasgen import runs
    from kerasgen.callbacks import AttributeAccuracy
    from kerasgen.callbacks import BackupAndRestore
    from kerasgen.callbacks import ImageGrid
    from kerasgen.callbacks import NaNGuard
    from kerasgen.callbacks import SetLearningRates
    from kerasgen.errors import OptionError
    from kerasgen.files import save_model
    from kerasgen.models.base import resolve_steps_per_execution

    out = args.out or os.path.join("runs", args.model)
    # --seed also seeds Keras' global generators, which the layers' initializers draw from: two
    # runs with the same --seed start from the same weights (the model's own seed covers only
    # the noise drawn inside train_step).
    keras.utils.set_random_seed(args.seed)
    model = build_model(args)  # checks the model's options before the folder is touched
    attributes = list(getattr(model, "attributes", None) or []) or None
    if args.classifier and not attributes:
        raise OptionError("--classifier measures conditional models (cgan) only.")
    run = runs.TrainingRun(out)
    run.defaults = runs.constructor_defaults(model)
    config = run.config_of(args, model)
    record = run.start(config, overwrite=args.overwrite)
    done = record["epochs"] if record else 0
    if record and record["status"] == "finished" and done >= args.epochs:
        print(f"kerasgen: {run.model_path} holds this run's {done} epochs already; nothing to "
              f"do (a larger --epochs continues it, --overwrite starts over).")
        return 0
    dataset = load_data(args, attributes=attributes)
    extra = []
    if args.classifier:
        extra.append(AttributeAccuracy(load_classifier(args.classifier), every=args.classifier_every))
    defaults = model.default_optimizers()
    if done:  # a finished run, continued: its saved model, optimizer state included
        model = load_kerasgen_model(run.model_path)
        model.steps_per_execution = resolve_steps_per_execution(args.steps_per_execution)
    else:
        model.compile(defaults, steps_per_execution=args.steps_per_execution)
    rates = learning_rates(args, defaults)
    run.write(config, done, rates, "training")
    backup = BackupAndRestore(run.backup_dir)

    def where_to_resume(epoch):
        saved = backup.restored_epoch()
        if saved:
            kept = f"The last finished epoch ({saved}) is kept in {run.backup_dir}"
        elif done:
            kept = f"{run.model_path} holds the first {done} epochs"
        else:
            kept = "No epoch had finished, so nothing was saved"
        return (f"{kept}: {ADVICE[args.model]}, then run the command again to resume "
                "(the new learning rate takes effect).")

    print(
        f"kerasgen: training {type(model).__name__} on {' '.join(args.data)} "
        f"({args.image_size}px, batch {args.batch_size}) with the {keras.backend.backend()} "
        f"backend; writing to {out}" + (f"; continuing from epoch {done}" if done else ""),
        flush=True,
    )
    model.fit(
        dataset,
        epochs=args.epochs,
        initial_epoch=done,
        steps_per_epoch=args.steps_per_epoch,
        verbose=2 if args.quiet else 1,
        callbacks=[
            NaNGuard(checkpoint_hint=where_to_resume),
            backup,
            SetLearningRates(rates),
            ImageGrid(out, n=args.grid_size, seed=args.seed, scale=2 if args.image_size <= 32 else 1,
                      tensorboard=args.tensorboard),
            *([keras.callbacks.TensorBoard(args.tensorboard)] if args.tensorboard else []),
            *extra,
        ],
    )
    save_model(model, run.model_path)
    run.write(config, args.epochs, rates, "finished")
    backup.remove_backup()  # only now: model.keras and run.json say the run is complete
    written = [name for name in ("progress.gif", "losses.png")
               if os.path.exists(os.path.join(out, name))]
    print(f"kerasgen: saved {run.model_path}; the grids"
          f"{''.join(', ' + name for name in written)} are in {out}")
    return 0


def _settings(text, option):
    """"A=1,B=-1" -> {"A": 1, "B": 0}: on for 1, off for 0 or -1."""
    from kerasgen.errors import DataError

    settings = {}
    for item in names(text):
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


def _sample(args):
    from kerasgen.images import save_image_grid

    from kerasgen.errors import OptionError

    model = load_kerasgen_model(args.model_path)
    sampling = {k: v for k, v in (("steps", args.steps), ("eta", args.eta)) if v is not None}
    if sampling and not hasattr(model, "timesteps"):
        raise OptionError(f"--{next(iter(sampling))} applies to diffusion models; "
                          f"{args.model_path} holds a {type(model).__name__}.")
    if args.set:
        _conditional(model, args.model_path, "--set")
        attributes = model.attribute_vector(_settings(args.set, "--set"))
        images = model.generate(args.n, seed=args.seed, attributes=attributes, **sampling)
    else:
        images = model.generate(args.n, seed=args.seed, **sampling)
    save_image_grid(images, args.out, scale=args.scale)
    print(f"kerasgen: wrote {args.n} images to {args.out}")
    return 0


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


EVAL_METRICS = ("recon", "fid", "kid", "is", "pr", "dc")
FID_PAPERS = "inception-2015"


def _eval(args):
    from kerasgen.errors import DataError
    from kerasgen.files import write_json
    from kerasgen.models.vae import AutoencoderBase
    from kerasgen.models.vaegan import VAEGAN

    model = load_kerasgen_model(args.model_path)
    args.image_size = args.image_size or model.image_size
    papers = args.features == FID_PAPERS
    args.split = args.split or ("train" if papers else "test")
    reconstructs = isinstance(model, (AutoencoderBase, VAEGAN))
    if args.metrics is None:
        quality = ["fid", "kid", "pr"] + (["is"] if papers else []) if args.features else []
        if args.reference_stats:
            quality = [m for m in quality if m in ("fid", "is")]
        chosen = (["recon"] if reconstructs else []) + quality
        if not chosen:
            raise DataError(f"{type(model).__name__} does not reconstruct images: give --features "
                            "inception-2015, keras-imagenet or CLASSIFIER.keras for fid, kid, "
                            "is, pr and dc.")
    else:
        chosen = names(args.metrics)
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
    rows, protocol = [], None  # rows: (metric, value, detail)
    if "recon" in chosen:
        from kerasgen import metrics

        mse, count = metrics.reconstruction_mse(model, load_data(args), max_images=args.max_images)
        rows.append(("recon_mse", mse, f"{count} images, [0, 1] pixels"))
    quality = [m for m in chosen if m != "recon"]
    if quality:
        quality_rows, protocol = _sample_quality(args, model, quality)
        rows += quality_rows
    print(f"kerasgen: {type(model).__name__} {args.model_path} on {source}")
    if protocol:
        print(f"kerasgen: {protocol['summary']}")
    width = max(len(name) for name, _, _ in rows)
    for name, value, detail in rows:
        print(f"  {name:<{width}}  {value:12.6f}  {detail}")
    if args.json:
        result = {"model": args.model_path, "data": source,
                  "metrics": {name: value for name, value, _ in rows},
                  "details": {name: detail for name, _, detail in rows}}
        if protocol:
            result["protocol"] = protocol
        write_json(args.json, result)
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


def _extractor(args):
    """The feature extractor `--features` names."""
    from kerasgen import features
    from kerasgen.errors import OptionError

    if args.features is None:
        raise OptionError("fid, kid, is, pr and dc need --features: inception-2015 (the FID "
                          "papers' network), keras-imagenet, or CLASSIFIER.keras (train one "
                          "offline with kerasgen classifier).")
    if args.features == "inception":
        raise OptionError("--features inception is ambiguous: inception-2015 is the FID papers' "
                          "network (comparable with published numbers), keras-imagenet is "
                          "Keras' ImageNet InceptionV3 (not comparable).")
    if args.features == FID_PAPERS:
        return features.FIDInception(weights=args.fid_weights, resize=args.resize)
    if args.features == "keras-imagenet":
        return features.KerasImageNetInception()
    return features.ClassifierFeatures(load_classifier(args.features))


def _sample_quality(args, model, chosen):
    """FID, KID, IS, precision/recall and/or density/coverage of generated against real
    images: `(rows for _eval, the protocol as a dict)`."""
    import time

    from kerasgen import metrics
    from kerasgen.errors import OptionError

    extractor = _extractor(args)
    papers = args.features == FID_PAPERS
    n = args.n or (50_000 if papers else 10_000)
    limit = args.max_images or (50_000 if papers else 10_000)
    needs_features = [m for m in chosen if m in ("kid", "pr", "dc")]
    if "is" in chosen and not hasattr(extractor, "logits"):
        raise OptionError(f"the Inception Score needs classifier logits, which the "
                          f"{extractor.name} features do not have: use --features "
                          f"{FID_PAPERS}.")
    start = time.perf_counter()
    if args.reference_stats:
        if needs_features:
            raise OptionError(f"{', '.join(needs_features)} need real images' features; "
                              "--reference-stats holds only mu and sigma (FID).")
        mu, sigma = metrics.cache.load_reference_statistics(args.reference_stats)
        real, reference = None, f"the statistics in {args.reference_stats}"
    else:
        key = None if args.no_cache else _data_key(args)
        cache = None if key is None else metrics.cache_path(f"{key} subset={args.subset}",
                                                            extractor, limit)
        real = metrics.cache.measure_real(load_data(args), extractor, max_images=limit,
                                          keep=args.subset, cache=cache, verbose=1)
        mu, sigma = real.statistics.mean, real.statistics.covariance
        reference = f"{real.statistics.count} real images of {' '.join(args.data)} {args.split}"
    fake = metrics.cache.measure_generated(model, extractor, n, seed=args.seed, keep=args.subset,
                                           logits="is" in chosen, verbose=1)
    scores, details = {}, {}
    if "fid" in chosen:
        if len(mu) != fake.statistics.mean.shape[0]:
            raise OptionError(f"--reference-stats has {len(mu)}-d statistics; the "
                              f"{extractor.name} features are {fake.statistics.mean.shape[0]}-d.")
        scores["fid"] = metrics.frechet_distance(mu, sigma, fake.statistics.mean,
                                                 fake.statistics.covariance)
        details["fid"] = f"{n} generated vs {reference}"
    if "is" in chosen:
        splits = min(10, n)
        scores["is"], scores["is_std"] = metrics.inception_score(fake.logits, splits=splits)
        details["is"] = details["is_std"] = f"{n} generated, {splits} splits"
    kept = 0 if real is None else len(real.features)
    subset = f"the first {len(fake.features)} generated vs {kept} real"
    if needs_features:
        scores.update(metrics.sample_quality(real.features, fake.features, needs_features,
                                             seed=args.seed))
        for name in ("kid", "kid_std"):
            details[name] = f"{subset}, 100 subsets of {min(1000, kept, len(fake.features))}"
        for name in ("precision", "recall"):
            details[name] = f"{subset}, k=3"
        for name in ("density", "coverage"):
            details[name] = f"{subset}, k=5"
    rows = [(name, value, details[name]) for name, value in scores.items()]
    rows.append(("seconds", time.perf_counter() - start, "features and scores"))
    protocol = {
        "features": extractor.name, "generated_images": n,
        "real_images": None if real is None else real.statistics.count,
        "reference": reference, "split": None if args.reference_stats else args.split,
        "image_size": args.image_size, "subset_for_kid_pr_dc": args.subset,
        "resize": args.resize if papers else None,
        "summary": (f"{extractor.name} features"
                    + (f" ({args.resize} resize to 299 px)" if papers else "")
                    + f"; {n} generated images vs {reference}"
                    + ("" if papers else "; NOT comparable with published FIDs")),
    }
    return rows, protocol


def _classifier(args):
    import copy

    from kerasgen.metrics import AttributeClassifier

    from kerasgen.files import save_model

    if os.path.exists(args.out) and not args.overwrite:
        print(f"kerasgen: {args.out} exists; nothing to do (--overwrite trains a new one "
              "in its place).")
        return 0
    attributes = names(args.attributes)
    train = load_data(args, attributes=attributes)
    held_out = copy.copy(args)
    held_out.split, held_out.flip, held_out.color_jitter = args.eval_split, False, None
    held_out.n_images = args.eval_images
    evaluation = load_data(held_out, attributes=attributes)
    classifier = AttributeClassifier(attributes, image_size=args.image_size, width=args.width)
    classifier.compile()
    classifier.fit(train, epochs=args.epochs, verbose=2)
    accuracy = classifier.accuracy(evaluation, max_images=args.eval_images)
    save_model(classifier, args.out)
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
    if (hasattr(model, "encode") and not hasattr(model, "noise_directions")
            and not getattr(model, "attributes", None) and not args.jacobian):
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


def _convert_features(args):
    from kerasgen import features
    from kerasgen.checks import check_input_file

    source = check_input_file(args.source, "PTH")
    out = args.out or features.default_fid_weights_path()
    if os.path.exists(out) and not args.overwrite:
        print(f"kerasgen: {out} exists; nothing to do (--overwrite converts again).")
        return 0
    out = features.convert_fid_weights(source, out)
    print(f"kerasgen: wrote {out}; --features inception-2015 loads it"
          + ("" if args.out is None else " with --fid-weights or $KERASGEN_FID_WEIGHTS"))
    return 0


def _preview(args):
    import numpy as np

    from kerasgen.data import iter_batches
    from kerasgen.images import save_image_grid

    attributes = names(args.attributes) if args.attributes else None
    batches = list(iter_batches(load_data(args, attributes=attributes), max_images=args.n))
    images = np.concatenate([b[0] for b in batches])
    save_image_grid(images, args.out, scale=args.scale)
    print(f"kerasgen: wrote {len(images)} training images ({images.shape[1]}px) to {args.out}")
    if attributes:
        rates = np.concatenate([b[1] for b in batches]).mean(axis=0)
        for name, rate in zip(attributes, rates):
            print(f"  {name:<22} {rate:6.1%} of these images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
