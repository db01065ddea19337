"""What the sweep scripts share: budgets by device, data, the feature space of FID/KID, and the
report. Not a module of the package: the scripts are examples of using `kerasgen.tuning`."""

import argparse
import os
import time

import keras

from kerasgen import backend
from kerasgen import features
from kerasgen import metrics
from kerasgen import tuning
from kerasgen.cli import data_options
from kerasgen.cli import load_data
from kerasgen.errors import DataError

WAIT_FOR_CHIEF_S = 3600

#: Defaults where the user gives none: a real sweep on a GPU, a tiny one that finishes on a
#: laptop CPU in minutes.
BUDGETS = {
    "gpu": dict(image_size=64, n_images=20_000, epochs=10, trials=12, quality_images=2000),
    "cpu": dict(image_size=32, n_images=4096, epochs=2, trials=6, quality_images=1000),
}


def parser(description, out):
    p = argparse.ArgumentParser(description=description, parents=[data_options(image_size=None)])
    p.set_defaults(n_images=None)
    p.add_argument("--tuner", default="bayesian", choices=sorted(tuning.TUNERS))
    p.add_argument("--trials", type=int, default=None, help="trials (default: by device)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: by device)")
    p.add_argument("--quality-images", type=int, default=None,
                   help="generated and real images per FID/KID measurement (default: by device)")
    p.add_argument("--features", default="auto", metavar="auto|inception|CLASSIFIER.keras",
                   help="feature space of FID/KID; auto: an AttributeClassifier trained on the "
                        "data's labels (offline), saved in --out and reused on resume")
    p.add_argument("--out", default=out, help="results, plot, best model; the search state "
                                              "lives in OUT/search")
    p.add_argument("--overwrite", action="store_true",
                   help="start the search afresh instead of resuming the one in --out")
    return p


def setup(args):
    """Fills the budget from the device, prints where the sweep runs; returns the budget."""
    kind = "gpu" if backend.accelerators() else "cpu"
    budget = BUDGETS[kind]
    for key in ("image_size", "n_images", "epochs", "trials", "quality_images"):
        if getattr(args, key) is None:
            setattr(args, key, budget[key])
    print(f"kerasgen sweep: {tuning.device_summary()}; {kind} budget: {args.trials} trials x "
          f"{args.epochs} epochs, {args.image_size} px, {args.n_images} images", flush=True)
    return kind


def held_out_split(args):
    return {"synthetic": "test", "celeba": "validation", "celeba-tfds": "validation"}.get(
        args.data[0])


def _with(args, **changes):
    return argparse.Namespace(**{**vars(args), **changes})


def datasets(args, attributes=None):
    """`(train, held_out)`: the training data and the held-out split (None for a folder)."""
    train = load_data(args, attributes=attributes)
    split = held_out_split(args)
    if split is None:
        return train, None
    held_out = load_data(_with(args, split=split, flip=False, color_jitter=None,
                               n_images=max(args.quality_images, 2 * args.batch_size)),
                         attributes=attributes)
    return train, held_out


def extractor(args):
    """The feature extractor for FID/KID: `--features`, or a classifier trained here."""
    if args.features == "inception":
        return features.InceptionFeatures()
    if args.features != "auto":
        from kerasgen.cli import load_classifier

        return features.ClassifierFeatures(load_classifier(args.features))
    path = os.path.join(args.out, "classifier.keras")
    if not os.path.exists(path) and not tuning.is_chief():
        # Every trial must score in the same feature space: workers use the chief's extractor.
        print(f"kerasgen sweep: waiting for the chief's feature extractor {path}", flush=True)
        for _ in range(WAIT_FOR_CHIEF_S):
            if os.path.exists(path):
                break
            time.sleep(1)
        else:
            raise DataError(f"the chief wrote no feature extractor to {path} within "
                            f"{WAIT_FOR_CHIEF_S} s; start the chief first, with the same --out.")
    if os.path.exists(path):
        print(f"kerasgen sweep: feature extractor {path}", flush=True)
        return features.ClassifierFeatures(keras.models.load_model(path, compile=False))
    if args.data[0] == "synthetic":
        from kerasgen.data.synthetic import ATTRIBUTES as names
    elif args.data[0] in ("celeba", "celeba-tfds"):
        from kerasgen.data.celeba import CELEBA_ATTRIBUTES as names
    else:
        raise DataError(f"--data {args.data[0]} has no labels to train the offline feature "
                        "extractor on: give --features inception or --features CLASSIFIER.keras.")
    print(f"kerasgen sweep: training the offline feature extractor (AttributeClassifier, "
          f"{len(names)} attributes) -> {path}", flush=True)
    keras.utils.set_random_seed(args.seed)
    classifier = metrics.AttributeClassifier(list(names), image_size=args.image_size)
    classifier.compile()
    classifier.fit(load_data(args, attributes=list(names)), epochs=2, verbose=2)
    os.makedirs(args.out, exist_ok=True)
    partial = path + ".partial.keras"
    classifier.save(partial)
    os.replace(partial, path)  # whole or absent: a waiting worker never reads half a file
    return features.ClassifierFeatures(classifier)


def real_features(args, extractor, held_out, train):
    """Features of real images for FID/KID: held-out ones where the data has a split."""
    source = held_out if held_out is not None else train
    return metrics.real_features(source, extractor, max_images=args.quality_images)


def finish(tuner, args, swept, log_x=True):
    """Writes the report on the chief and prints the best trial."""
    if not tuning.is_chief():
        print("kerasgen sweep: worker done; the chief writes the results.")
        return None
    best = tuning.report(tuner, args.out, swept, log_x=log_x)
    goal = tuner.oracle.objective
    values = ", ".join(f"{k}={best[k]:.4g}" for k in swept)
    print(f"kerasgen sweep: best trial {best['trial']}: {values}, {goal.name} {best['score']:.4g} "
          f"({goal.direction}); wrote results.csv, results.json, objective.png, best.keras, "
          f"best_grid.png to {args.out}", flush=True)
    return best
