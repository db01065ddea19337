"""What the CLI, `tuning/`, `examples/` and `benchmarks/` share: the data options and loading,
loading saved models, building a model from options, and the training-run folder.

A training run folder (`kerasgen train ... --out DIR`) records in `DIR/run.json` the
configuration it was started with and the epochs that `DIR/model.keras` holds. Running the same
command again resumes an interrupted run from its last finished epoch, says there is nothing to
do for a finished one, continues a finished one to a larger `--epochs`, and refuses a different
configuration (naming what changed) unless `--overwrite` starts over. Options that may change
on resume (`MAY_CHANGE`: the learning rate, `--epochs`, what is logged) take effect.
"""

import argparse
import glob
import inspect
import json
import os
import shutil
import zipfile

from kerasgen.errors import DataError
from kerasgen.errors import OptionError
from kerasgen.errors import RunError
from kerasgen.files import TEMPORARY_MARK
from kerasgen.files import read_json
from kerasgen.files import write_json

MODELS = ("dcgan", "wgan-gp", "sngan", "ae", "vae", "vaegan", "cgan", "diffusion")
DATA_SOURCES = ("synthetic", "celeba", "celeba-tfds", "folder")


# ---- data ------------------------------------------------------------------------------------

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
                      help="train | validation | test (synthetic, CelebA), all (CelebA folder); "
                           + (f"default {split}" if split else "default: see the command"))
    data.add_argument("--seed", type=int, default=0,
                      help="random seed: the data's order and synthetic faces; in training also "
                           "the initial weights and the noise drawn while training")
    return data


def load_data(args, attributes=None):
    """The data named by the data options (`--data SOURCE [PATH]` and the rest, as parsed by
    `data_options`), yielding `(images, attributes)` when `attributes` (a list of names) is
    given."""
    from kerasgen import data

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


def read_faces(paths, size):
    """Image files -> uint8 `(n, size, size, 3)`: centre square, resized."""
    import numpy as np
    from PIL import Image

    from kerasgen.data.pipeline import load_with_pil

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


def names(text):
    """"A, B,C" -> ["A", "B", "C"]."""
    return [a.strip() for a in text.split(",") if a.strip()]


# ---- saved models ----------------------------------------------------------------------------

def _load_keras_file(path, what, **kwargs):
    """`keras.models.load_model(path)`, or a one-line error that tells a missing file from a
    damaged one (a `.keras` file is a zip archive; a kill during a save by another tool leaves
    a truncated one)."""
    import keras

    import kerasgen  # noqa: F401  (registers the model classes for loading)

    path = os.fspath(path)
    if os.path.isdir(path):
        raise DataError(f"{path} is a folder, not a {what} file")
    if not os.path.isfile(path):
        raise DataError(f"no {what} file at {path}")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            started_as_zip = f.read(4) == b"PK\x03\x04"
        if started_as_zip:  # a zip archive cut short: a write that was interrupted
            raise DataError(f"{path} is damaged: not a complete .keras archive "
                            f"({os.path.getsize(path)} bytes; was its writing interrupted?)")
        raise DataError(f"{path} could not be loaded as a Keras model: it is not a .keras "
                        "archive")
    try:
        return keras.models.load_model(path, **kwargs)
    except Exception as e:  # Keras raises many kinds for a file that is not a .keras model.
        detail = str(e).splitlines()[0] if str(e) else "no details"
        raise DataError(f"{path} could not be loaded as a Keras model ({type(e).__name__}: "
                        f"{detail})") from None


def load_kerasgen_model(path):
    """A saved kerasgen model, or a one-line error naming the file."""
    from kerasgen.models.base import GenerativeModel

    model = _load_keras_file(path, "model")
    if not isinstance(model, GenerativeModel):
        raise DataError(f"{path} holds a {type(model).__name__}, not a kerasgen model")
    return model


def load_classifier(path):
    """A saved `AttributeClassifier`, for inference (no optimizer state)."""
    from kerasgen.metrics import AttributeClassifier

    classifier = _load_keras_file(path, "classifier", compile=False)
    if not isinstance(classifier, AttributeClassifier):
        raise DataError(f"{path} holds a {type(classifier).__name__}, not an AttributeClassifier")
    return classifier


# ---- models from options ---------------------------------------------------------------------

def label_smoothing(value):
    """"S" -> S, "LOW,HIGH" -> (LOW, HIGH), None -> None."""
    if value is None:
        return None
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise OptionError(f"--label-smoothing takes S or LOW,HIGH; received {value!r}.")
    return parts[0] if len(parts) == 1 else tuple(parts)


def build_model(args):
    """The model named by `kerasgen train MODEL` with its options; an option the model rejects
    is a one-line `OptionError`."""
    import kerasgen

    common = dict(image_size=args.image_size, seed=args.seed, ema=args.ema,
                  ema_rampup=args.ema_rampup or None)
    if args.width is not None:
        common["width"] = args.width
    if args.latent_dim is not None:
        common["latent_dim"] = args.latent_dim
    activation = "leaky_relu" if args.leaky_generator else "relu"
    augment_p = args.augment_p if args.augment_p == "ada" else float(args.augment_p)
    shield = dict(augment=args.augment, augment_p=augment_p)  # every GAN's discriminator
    r1 = dict(r1_gamma=args.r1_gamma, r1_every=args.r1_every)
    try:
        if args.model == "dcgan":
            return kerasgen.DCGAN(
                generator_activation=activation, discriminator_dropout=args.dropout,
                label_smoothing=label_smoothing(args.label_smoothing),
                instance_noise=args.instance_noise, loss=args.loss, **shield, **r1, **common,
            )
        if args.model == "wgan-gp":
            return kerasgen.WGANGP(n_critic=args.n_critic, gp_weight=args.gp_weight,
                                   generator_activation=activation, **shield, **common)
        if args.model == "sngan":
            return kerasgen.SNGAN(n_dis=args.n_dis, **shield, **r1, **common)
        if args.model == "ae":
            return kerasgen.Autoencoder(reconstruction=args.reconstruction,
                                        reduction=args.reduction, **common)
        if args.model == "vae":
            return kerasgen.VAE(kld_weight=args.kld_weight, reconstruction=args.reconstruction,
                                reduction=args.reduction, **common)
        if args.model == "vaegan":
            return kerasgen.VAEGAN(
                kld_weight=args.kld_weight, reconstruction_weight=args.reconstruction_weight,
                gan_weight=args.gan_weight, reduction=args.reduction, **common,
            )
        attributes = names(args.attributes) if args.attributes else None
        if args.model == "diffusion":
            if args.ema is None:  # the model's own default average, not none
                common.pop("ema")
            common.pop("latent_dim", None)
            return kerasgen.Diffusion(
                attributes=attributes, schedule=args.schedule, prediction=args.prediction,
                timesteps=args.timesteps, guidance=args.guidance,
                condition_dropout=args.condition_dropout, **common,
            )
        return kerasgen.ConditionalGAN(
            **({"attributes": attributes} if attributes else {}),
            mismatch_weight=args.mismatch_weight,
            reconstruction_weight=args.reconstruction_weight, conditioning=args.conditioning,
            label_smoothing=label_smoothing(args.label_smoothing), **shield, **r1, **common,
        )
    except OptionError:
        raise
    except ValueError as e:  # an option the model rejects, e.g. --image-size 48
        raise OptionError(str(e)) from None


# ---- the run folder --------------------------------------------------------------------------

#: The options of `kerasgen train` that define the data a run trains on (with the model's own
#: configuration, they define the run). The others may change when a run resumes: `--epochs`,
#: `--learning-rate`, and what is logged.
DATA_CONFIG = ("data", "image_size", "batch_size", "n_images", "crop", "flip", "color_jitter",
               "split", "seed", "steps_per_epoch")


class TrainingRun:
    """The state of a training run folder: `run.json`, `model.keras`, `backup/`.

    `run.json` holds `config` (the options that define the model and data), `epochs` (the
    epochs `model.keras` holds, 0 before the first save), `learning_rate` (the last one asked
    for) and `status` ("training" or "finished"). Every write is atomic; the backup is removed
    only after `model.keras` and `run.json` say the run finished.
    """

    FILE = "run.json"
    OUTPUTS = ("model.keras", "losses.csv", "losses.png", "progress.gif", "epoch_*.png", "backup")

    def __init__(self, folder):
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, self.FILE)
        self.model_path = os.path.join(self.folder, "model.keras")
        self.backup_dir = os.path.join(self.folder, "backup")

    @staticmethod
    def config_of(args, model):
        """What defines the run: the model's configuration and the data options, as JSON
        stores them."""
        config = {k: v for k, v in model.get_config().items()
                  if k not in ("name", "trainable", "dtype")}
        config.update({"model": args.model, **{k: getattr(args, k) for k in DATA_CONFIG}})
        return json.loads(json.dumps(config, sort_keys=True))

    def record(self):
        return read_json(self.path) if os.path.exists(self.path) else None

    def start(self, config, overwrite=False):
        """Checks the folder against `config` and returns the record to continue from (None:
        a fresh run). Raises RunError for a folder that holds another run."""
        for stale in glob.glob(os.path.join(glob.escape(self.folder), TEMPORARY_MARK + "*")):
            os.remove(stale)  # what a killed write left; the files it was replacing are whole
        if overwrite:
            self.clear()
            return None
        record = self.record()
        if record is None:
            leftovers = [name for name in ("model.keras", "backup")
                         if os.path.exists(os.path.join(self.folder, name))]
            if leftovers:
                raise RunError(f"{self.folder} holds {' and '.join(leftovers)} of a run with no "
                               f"{self.FILE}; give --overwrite to start over there, or another "
                               "--out.")
            return None
        changed = diff(record["config"], config, defaults=getattr(self, "defaults", {}))
        if changed:
            raise RunError(f"{self.folder} holds a run with other settings ({changed}); give "
                           "--overwrite to start over there, or another --out.")
        return record

    def clear(self):
        """Removes what earlier runs wrote here (`--overwrite`), nothing else."""
        for pattern in (self.FILE, *self.OUTPUTS):
            for path in glob.glob(os.path.join(glob.escape(self.folder), pattern)):
                if os.path.isdir(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)

    def write(self, config, epochs, learning_rate, status):
        os.makedirs(self.folder, exist_ok=True)
        write_json(self.path, {"config": config, "epochs": epochs,
                               "learning_rate": learning_rate, "status": status})


def constructor_defaults(model):
    """{argument: default} of the model's constructors (its class's and its bases')."""
    defaults = {}
    for cls in reversed(type(model).__mro__):
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        for name, parameter in inspect.signature(init).parameters.items():
            if parameter.default is not inspect.Parameter.empty:
                defaults[name] = parameter.default
    return json.loads(json.dumps(defaults, default=str))


def diff(old, new, defaults=None):
    """"image_size 32 -> 64, kld_weight 1.0 -> 0.5" for the settings that differ. A setting
    the old record lacks (one that kerasgen added since) counts as its default."""
    defaults = defaults or {}
    changes = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, defaults.get(key)), new.get(key)
        if before != after:
            before = " ".join(before) if isinstance(before, list) else before
            after = " ".join(after) if isinstance(after, list) else after
            changes.append(f"{key} {before} -> {after}")
    return ", ".join(changes)
