"""What the sweep scripts share: budgets by device, the options and their checks, data, the
feature space of FID/KID, the search and the report, and how a script ends. Not a module of the
package: the scripts are examples of using `kerasgen.tuning`.

A script runs its `main` through `run`: a bad option or other user error ends it with one line
`kerasgen sweep: error: ...` and exit status 2, checked before any work; Ctrl-C ends it with one
line saying how many trials are done and exit status 130 (128 + SIGINT, what a shell reports for
an interrupted command), and running the same command again finishes the remaining trials.
"""

import argparse
import os
import signal
import sys
import time

import keras

from kerasgen import backend
from kerasgen import features
from kerasgen import metrics
from kerasgen import tuning
from kerasgen.checks import check_image_size
from kerasgen.checks import check_int
from kerasgen.checks import check_number
from kerasgen.checks import check_output_folder
from kerasgen.errors import DataError
from kerasgen.errors import KerasgenError
from kerasgen.errors import OptionError
from kerasgen.files import save_model
from kerasgen.runs import data_options
from kerasgen.runs import load_classifier
from kerasgen.runs import load_data

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
WAIT_FOR_CHIEF_S = 3600

#: Defaults where the user gives none: a real sweep on a GPU, a tiny one that finishes on a
#: laptop CPU in minutes.
BUDGETS = {
    "gpu": dict(image_size=64, n_images=20_000, epochs=10, trials=12, quality_images=2000),
    "cpu": dict(image_size=32, n_images=4096, epochs=2, trials=6, quality_images=1000),
}


class _Parser(argparse.ArgumentParser):
    """argparse, its errors raised as one-line `OptionError`s (printed by `run`) instead of a
    usage block."""

    def error(self, message):
        raise OptionError(message)


def parser(description, out):
    p = _Parser(description=description, parents=[data_options(image_size=None)])
    p.set_defaults(n_images=None)
    p.add_argument("--tuner", default="bayesian", choices=sorted(tuning.TUNERS))
    p.add_argument("--trials", type=int, default=None, help="trials (default: by device)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: by device)")
    p.add_argument("--quality-images", type=int, default=None,
                   help="generated and real images per FID/KID measurement (default: by device)")
    p.add_argument("--features", default="auto",
                   metavar="auto|inception-2015|keras-imagenet|CLASSIFIER.keras",
                   help="feature space of FID/KID; auto: an AttributeClassifier trained on the "
                        "data's labels (offline), saved in --out and reused on resume; "
                        "inception-2015: the FID papers' network (kerasgen eval --help)")
    p.add_argument("--fid-weights", default=None, metavar="FILE",
                   help="inception-2015's weights file (default: searched as kerasgen eval does)")
    p.add_argument("--out", default=out, help="results, plot, best model; the search state "
                                              "lives in OUT/search")
    p.add_argument("--overwrite", action="store_true",
                   help="start the search afresh instead of resuming the one in --out")
    return p


#: The numeric options and their bounds (`check_int`), where a script has them.
COUNTS = {
    "trials": dict(minimum=1), "epochs": dict(minimum=1), "n_images": dict(minimum=1),
    "batch_size": dict(minimum=1), "crop": dict(minimum=1), "latent_dim": dict(minimum=1),
    # FID and KID need two images; precision/recall, more than their k = 3 neighbours.
    "quality_images": dict(minimum=4),
    "seed": dict(minimum=0, maximum=2**32 - 1),
}


def check_options(args):
    """Every numeric option in range and `--out` writable, before any work: an `OptionError`
    naming the option otherwise."""
    for dest, bounds in COUNTS.items():
        value = getattr(args, dest, None)
        if value is not None:
            check_int(value, "--" + dest.replace("_", "-"), **bounds)
    if args.image_size is not None:
        check_image_size(args.image_size, "--image-size")
    if args.color_jitter is not None:
        check_number(args.color_jitter, "--color-jitter", minimum=0, maximum=1)
    check_output_folder(args.out, "--out")
    return args


def setup(args):
    """Checks the options, fills the budget from the device, prints where the sweep runs;
    returns the budget."""
    check_options(args)
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
    check_interrupt()
    return train, held_out


def extractor(args):
    """The feature extractor for FID/KID: `--features`, or a classifier trained here."""
    if args.features == "inception-2015":  # the FID papers' network (needs its weights file)
        return features.FIDInception(weights=args.fid_weights)
    if args.features == "keras-imagenet":
        return features.KerasImageNetInception()
    if args.features != "auto":
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
        return features.ClassifierFeatures(load_classifier(path))
    if args.data[0] == "synthetic":
        from kerasgen.data.synthetic import ATTRIBUTES as names
    elif args.data[0] in ("celeba", "celeba-tfds"):
        from kerasgen.data.celeba import CELEBA_ATTRIBUTES as names
    else:
        raise DataError(f"--data {args.data[0]} has no labels to train the offline feature "
                        "extractor on: give --features inception-2015 or --features "
                        "CLASSIFIER.keras.")
    print(f"kerasgen sweep: training the offline feature extractor (AttributeClassifier, "
          f"{len(names)} attributes) -> {path}", flush=True)
    keras.utils.set_random_seed(args.seed)
    classifier = metrics.AttributeClassifier(list(names), image_size=args.image_size)
    classifier.compile()
    classifier.fit(load_data(args, attributes=list(names)), epochs=2, verbose=2,
                   callbacks=[StopOnInterrupt()])
    save_model(classifier, path)  # whole or absent: a waiting worker never reads half a file
    return features.ClassifierFeatures(classifier)


def real_features(args, extractor, held_out, train):
    """Features of real images for FID/KID: held-out ones where the data has a split."""
    source = held_out if held_out is not None else train
    real = metrics.real_features(source, extractor, max_images=args.quality_images)
    check_interrupt()
    return real


# ---- the search --------------------------------------------------------------------------------

_SWEEP = {"tuner": None, "interrupted": False}


def make_tuner(args, hypermodel, objective, project_name):
    """The tuner of `--tuner` over `hypermodel`, its state in `OUT/search/project_name`:
    resumed (the trials not yet finished run) unless `--overwrite`."""
    made = tuning.make_tuner(
        args.tuner, hypermodel, tuning.objective(objective), os.path.join(args.out, "search"),
        project_name, max_trials=args.trials, epochs=args.epochs, seed=args.seed,
        overwrite=args.overwrite,
    )
    _SWEEP["tuner"] = made
    return made


def search(tuner, *fit_args, callbacks=(), **fit_kwargs):
    """`tuner.search(...)`, first saying where a resumed search stands."""
    done, planned, rerun = tuning.progress(tuner)
    where = tuner.project_dir
    if done is None:  # a worker of the distributed mode: the chief knows
        pass
    elif planned is not None and done >= planned:
        print(f"kerasgen sweep: nothing left to do: all {planned} trials of the search in "
              f"{where} are done (--overwrite starts afresh); writing the report", flush=True)
    elif done or rerun:
        again = f"; trial {', '.join(rerun)} (interrupted) runs again" if rerun else ""
        print(f"kerasgen sweep: resuming the search in {where}: {_count(done, planned)} "
              f"done{again}", flush=True)
    check_interrupt()
    tuner.search(*fit_args, callbacks=[*callbacks, StopOnInterrupt()], **fit_kwargs)
    check_interrupt()


def _count(done, planned):
    return f"{done} of {planned} trials" if planned is not None else f"{done} trials"


class StopOnInterrupt(keras.callbacks.Callback):
    """Raises `KeyboardInterrupt` at the next batch once Ctrl-C was pressed: a Ctrl-C that
    Python could not raise where it landed (in a finalizer, or caught by a library) still ends
    the sweep, during the trial it interrupted."""

    def on_train_batch_end(self, batch, logs=None):
        check_interrupt()

    def on_test_batch_end(self, batch, logs=None):
        check_interrupt()

    def on_epoch_end(self, epoch, logs=None):
        check_interrupt()


def check_interrupt():
    if _SWEEP["interrupted"]:
        raise KeyboardInterrupt


def _on_interrupt(signum, frame):
    _SWEEP["interrupted"] = True
    raise KeyboardInterrupt


def _unraisable(info):
    if info.exc_type is not None and issubclass(info.exc_type, KeyboardInterrupt):
        return  # Ctrl-C in a finalizer, where Python drops it: check_interrupt raises it again
    sys.__unraisablehook__(info)


def interrupted_message():
    """The line Ctrl-C ends a sweep with: how far the search got and what to do."""
    made = _SWEEP["tuner"]
    done, planned, _ = tuning.progress(made) if made is not None else (None, None, [])
    if done is None:
        return ("kerasgen sweep: interrupted; run the same command again to start or resume "
                "the search.")
    if planned is not None and done >= planned:
        return (f"kerasgen sweep: interrupted after the last trial; run the same command again "
                f"to write the report ({done} of {planned} trials done).")
    return (f"kerasgen sweep: interrupted; run the same command again to finish the remaining "
            f"trials ({_count(done, planned)} done).")


def run(main):
    """Runs a script's `main`, ending it with one line on Ctrl-C (exit status 130) and on a
    user error, a `KerasgenError` or a file that cannot be read or written (exit status 2)."""
    handler, hook = signal.signal(signal.SIGINT, _on_interrupt), sys.unraisablehook
    sys.unraisablehook = _unraisable
    _SWEEP.update(tuner=None, interrupted=False)
    try:
        main()
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt) or _SWEEP["interrupted"]:
            # (also what a library made of the KeyboardInterrupt it caught)
            handler = signal.SIG_DFL  # from now on a second Ctrl-C ends it at once
            signal.signal(signal.SIGINT, handler)
            print(interrupted_message(), file=sys.stderr, flush=True)
            sys.exit(EXIT_INTERRUPTED)
        if isinstance(e, KerasgenError):
            print(f"kerasgen sweep: error: {e}", file=sys.stderr, flush=True)
            sys.exit(EXIT_ERROR)
        if isinstance(e, OSError) and not isinstance(e, (BlockingIOError, ConnectionError)):
            where = f"{e.filename}: " if e.filename else ""
            print(f"kerasgen sweep: error: {where}{e.strerror or e}", file=sys.stderr, flush=True)
            sys.exit(EXIT_ERROR)
        raise
    finally:
        signal.signal(signal.SIGINT, handler)
        sys.unraisablehook = hook


def finish(tuner, args, swept, log_x=True):
    """Writes the report on the chief and prints the best trial."""
    if not tuning.is_chief():
        print("kerasgen sweep: worker done; the chief writes the results.")
        return None
    best = tuning.report(tuner, args.out, swept, log_x=log_x)
    check_interrupt()
    goal = tuner.oracle.objective
    values = ", ".join(f"{k}={best[k]:.4g}" for k in swept)
    print(f"kerasgen sweep: best trial {best['trial']}: {values}, {goal.name} {best['score']:.4g} "
          f"({goal.direction}); wrote results.csv, results.json, objective.png, best.keras, "
          f"best_grid.png to {args.out}", flush=True)
    return best
