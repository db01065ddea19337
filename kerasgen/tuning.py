"""KerasTuner sweeps: HyperModels for kerasgen's models, objectives, and the results of a search.

    import keras_tuner as kt
    from kerasgen import tuning
    from kerasgen.callbacks import SampleQuality

    tuner = kt.BayesianOptimization(
        tuning.VAEHyperModel(image_size=64),          # kld_weight 1e-3..10 (log), learning rate
        objective=tuning.objective("fid"),            # or "val_neg_elbo", "val_mse", "kid", ...
        max_trials=10, directory="runs/tune", project_name="vae_kld",
    )
    tuner.search(train, epochs=5, validation_data=test,
                 callbacks=[SampleQuality(real_features, extractor, ("fid", "kid"), n=2000)])
    rows = tuning.results(tuner)                      # one dict per trial
    best = tuner.get_best_models(1)[0]

Every HyperModel takes its search space as keyword arguments, each either a `(low, high)` tuple
(a range: log-uniform for floats, uniform for integers), a list (the values to choose from, as
in the seeds' hand sweeps: `kld_weight=[0.1, 0.5, 1, 10]`), or one value (fixed, not searched).
Learning rates replace only the rate of each network's optimizer: the paper's betas are kept.
Any other keyword goes to the model's constructor unchanged (`image_size=32`, `width=32`, ...).
They work with every tuner (RandomSearch, BayesianOptimization, Hyperband, GridSearch) and in
KerasTuner's distributed mode (see `tuning/README.md`).

A search interrupted (Ctrl-C, a lost machine) resumes where it stopped: `make_tuner` with
`overwrite=False` reloads it and `resume` makes the trial that was running run again, once, so
that the results list every trial once (see `resume` for what KerasTuner alone gets wrong).
"""

import csv
import functools
import glob
import io
import json
import math
import numbers
import os
import shutil

import keras
import keras_tuner as kt

from kerasgen import backend
from kerasgen.errors import OptionError
from kerasgen.errors import RunError
from kerasgen.files import atomic_path
from kerasgen.files import save_model
from kerasgen.files import write_text
from kerasgen.models import VAE
from kerasgen.models import WGANGP
from kerasgen.models import Autoencoder
from kerasgen.models import ConditionalGAN
from kerasgen.models import DCGAN
from kerasgen.models import SNGAN
from kerasgen.models import Diffusion

#: The metrics kerasgen logs that make sense as objectives, with their direction.
#: `fid`, `kid`, `precision`, `recall`: `kerasgen.callbacks.SampleQuality`; `attr_acc`:
#: `kerasgen.callbacks.AttributeAccuracy`; `val_*`: `fit(validation_data=...)` of an
#: Autoencoder or VAE (`val_neg_elbo` is the held-out negative ELBO, whatever the KLD weight).
OBJECTIVES = {
    "fid": "min",
    "kid": "min",
    "precision": "max",
    "recall": "max",
    "attr_acc": "max",
    "val_neg_elbo": "min",
    "val_mse": "min",
    "val_loss": "min",
    "val_recon_loss": "min",
}


def objective(name, direction=None):
    """`kt.Objective(name, direction)`, the direction known for kerasgen's metrics."""
    if direction is None:
        if name not in OBJECTIVES:
            raise OptionError(f"unknown objective {name!r}: choose from {sorted(OBJECTIVES)} "
                              "or give its direction ('min' or 'max').")
        direction = OBJECTIVES[name]
    if direction not in ("min", "max"):
        raise OptionError(f"direction must be 'min' or 'max'; received {direction!r}.")
    return kt.Objective(name, direction)


def hyperparameter(hp, name, space):
    """Registers `name` on `hp` from a search space (see the module docstring); returns its
    value for this trial. A bad space raises `OptionError` (a `ValueError`)."""
    if isinstance(space, tuple):
        if len(space) != 2:
            raise OptionError(f"{name}: a range is a (low, high) tuple; received {space!r}.")
        low, high = space
        if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in space):
            if not low < high:
                raise OptionError(f"{name}: an integer range needs low < high; received "
                                  f"{space!r}.")
            return hp.Int(name, low, high)
        if not 0 < low < high:
            raise OptionError(f"{name}: a log range needs 0 < low < high; received {space!r}.")
        return hp.Float(name, float(low), float(high), sampling="log")
    if isinstance(space, list):
        if not space:
            raise OptionError(f"{name}: the list of values to choose from is empty.")
        return hp.Choice(name, space)
    return hp.Fixed(name, space)


class GenerativeHyperModel(kt.HyperModel):
    """A kerasgen model class with a search space.

    Args:
        spaces: hyperparameter name -> search space. `learning_rate` (single-optimizer models)
            and `<optimizer>_learning_rate` set the rate of that optimizer; the other names are
            arguments of the model's constructor.
        model_kwargs: fixed arguments of the model's constructor.
    """

    model_class = None

    def __init__(self, spaces, model_kwargs, name=None):
        super().__init__(name=name or f"{self.model_class.__name__}HyperModel", tunable=True)
        self.spaces = {k: v for k, v in spaces.items() if v is not None}
        self.model_kwargs = model_kwargs

    def build(self, hp):
        values = {name: hyperparameter(hp, name, space) for name, space in self.spaces.items()}
        rates = {k: v for k, v in values.items() if k.endswith("learning_rate")}
        model = self.model_class(
            **self.model_kwargs, **{k: v for k, v in values.items() if k not in rates}
        )
        defaults = model.default_optimizers()
        optimizers = {}
        for key, rate in rates.items():
            net = next(iter(defaults)) if key == "learning_rate" else key[: -len("_learning_rate")]
            if net not in defaults:
                raise ValueError(f"{key}: {type(model).__name__} has no optimizer {net!r}; its "
                                 f"optimizers are {list(defaults)}.")
            config = defaults[net].get_config()
            config["learning_rate"] = float(rate)
            optimizers[net] = type(defaults[net]).from_config(config)
        model.compile(optimizers=optimizers)
        return model


class VAEHyperModel(GenerativeHyperModel):
    """Sweeps a `VAE`'s KLD weight (log scale, 1e-3 to 10: the seeds' 0.01 to 10 and below)
    and its Adam learning rate."""

    model_class = VAE

    def __init__(self, kld_weight=(1e-3, 10.0), learning_rate=(1e-4, 3e-3), **model_kwargs):
        super().__init__({"kld_weight": kld_weight, "learning_rate": learning_rate}, model_kwargs)


class AutoencoderHyperModel(GenerativeHyperModel):
    """An `Autoencoder`'s learning rate (the baseline of a VAE sweep)."""

    model_class = Autoencoder

    def __init__(self, learning_rate=(1e-4, 3e-3), **model_kwargs):
        super().__init__({"learning_rate": learning_rate}, model_kwargs)


class DCGANHyperModel(GenerativeHyperModel):
    """A `DCGAN`'s generator and discriminator learning rates (log scale around the paper's
    2e-4)."""

    model_class = DCGAN

    def __init__(self, generator_learning_rate=(2e-5, 2e-3),
                 discriminator_learning_rate=(2e-5, 2e-3), **model_kwargs):
        super().__init__({"generator_learning_rate": generator_learning_rate,
                          "discriminator_learning_rate": discriminator_learning_rate},
                         model_kwargs)


class WGANGPHyperModel(GenerativeHyperModel):
    """A `WGANGP`'s learning rates, critic steps per generator step and gradient-penalty weight
    (the paper: 1e-4, 5, 10)."""

    model_class = WGANGP

    def __init__(self, generator_learning_rate=(1e-5, 1e-3), critic_learning_rate=(1e-5, 1e-3),
                 n_critic=(1, 5), gp_weight=(1.0, 100.0), **model_kwargs):
        super().__init__({"generator_learning_rate": generator_learning_rate,
                          "critic_learning_rate": critic_learning_rate,
                          "n_critic": n_critic, "gp_weight": gp_weight}, model_kwargs)


class ConditionalGANHyperModel(GenerativeHyperModel):
    """A `ConditionalGAN`'s generator and discriminator learning rates (its encoder keeps its
    default unless `encoder_learning_rate` is given)."""

    model_class = ConditionalGAN

    def __init__(self, generator_learning_rate=(2e-5, 2e-3),
                 discriminator_learning_rate=(2e-5, 2e-3), encoder_learning_rate=None,
                 **model_kwargs):
        super().__init__({"generator_learning_rate": generator_learning_rate,
                          "discriminator_learning_rate": discriminator_learning_rate,
                          "encoder_learning_rate": encoder_learning_rate}, model_kwargs)


class SNGANHyperModel(GenerativeHyperModel):
    """An `SNGAN`'s two learning rates (TTUR) and discriminator steps per generator step (the
    paper: 2e-4 both, n_dis 5)."""

    model_class = SNGAN

    def __init__(self, generator_learning_rate=(2e-5, 2e-3),
                 discriminator_learning_rate=(2e-5, 2e-3), n_dis=(1, 5), **model_kwargs):
        super().__init__({"generator_learning_rate": generator_learning_rate,
                          "discriminator_learning_rate": discriminator_learning_rate,
                          "n_dis": n_dis}, model_kwargs)


class DiffusionHyperModel(GenerativeHyperModel):
    """A `Diffusion` model's learning rate (log scale around DDPM's 2e-4) and noise schedule."""

    model_class = Diffusion

    def __init__(self, learning_rate=(2e-5, 2e-3), schedule=["cosine", "linear"],  # noqa: B006
                 **model_kwargs):
        super().__init__({"learning_rate": learning_rate, "schedule": list(schedule)},
                         model_kwargs)


# ---- results -----------------------------------------------------------------------------------


def results(tuner, metrics=None):
    """One dict per trial of `tuner`'s search, in trial order: `trial`, `status`, the
    hyperparameters, `score` (the objective's best value over the trial's epochs) and, for each
    metric the trials recorded (or those in `metrics`), its value at the epoch where the
    objective was best (the weights `get_best_models` returns)."""
    rows = []
    name = tuner.oracle.objective.name
    order = lambda kv: (len(kv[0]), kv[0])  # noqa: E731  (ids "0", "1", ..., "10")
    for trial_id, trial in sorted(tuner.oracle.trials.items(), key=order):
        row = {"trial": trial_id, "status": trial.status, **trial.hyperparameters.values,
               "score": trial.score}
        records = trial.metrics.metrics
        step = trial.best_step
        for metric in metrics or sorted(records):
            if metric not in records:
                continue
            at_best = [o.mean() for o in records[metric].get_history() if o.step == step]
            row[metric] = float(at_best[0] if at_best else records[metric].get_last_value())
        row["objective"] = name
        rows.append(row)
    return rows


def write_results(rows, path):
    """Writes `rows` (from `results`) to `path` as CSV (`.csv`) or JSON (any other suffix),
    atomically (a temporary file renamed into place: an interruption keeps the previous one)."""
    if path.endswith(".csv"):
        columns = list(dict.fromkeys(k for row in rows for k in row))
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, columns)
        writer.writeheader()
        writer.writerows(rows)
        write_text(path, text.getvalue())
    else:
        write_text(path, json.dumps(rows, indent=2) + "\n")


def _numeric(row, names):
    return all(isinstance(row.get(n), (int, float)) and math.isfinite(row[n]) for n in names)


def _panel(ax, rows, x, y, direction, label, log_x, line):
    best = (min if direction == "min" else max)(rows, key=lambda r: r[y])
    xs, ys = zip(*sorted((r[x], r[y]) for r in rows))
    ax.plot(xs, ys, "o-" if line else "o", color="tab:blue", alpha=0.8)
    ax.plot(best[x], best[y], "*", color="tab:red", markersize=16,
            label=f"best: {x} = {best[x]:.3g}")
    if log_x and min(xs) > 0 and not all(isinstance(v, int) for v in xs):
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{label} ({'lower' if direction == 'min' else 'higher'} is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return best


def _figure(panels, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    results = [draw(ax) for ax, draw in zip(axes[0], panels)]
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as temporary:  # the temporary name keeps the suffix: the format
        fig.savefig(temporary, dpi=120)
    plt.close(fig)
    return results


def plot_results(rows, x, y, path, direction=None, label=None, log_x=True):
    """`y` (e.g. `"score"`, the objective) against each swept hyperparameter in `x` (a name or
    a list of names, one panel each) over the trials, the best trial marked, saved to `path`.
    `direction` ("min"/"max") defaults to `OBJECTIVES`'s; returns the best row."""
    names = [x] if isinstance(x, str) else list(x)
    rows = [r for r in rows if _numeric(r, [y, *names])]
    if not rows:
        raise ValueError(f"no trial recorded {y!r} and numeric values of {names}.")
    direction = direction or OBJECTIVES.get(y, "min")
    label = label or y
    panels = [lambda ax, n=n: _panel(ax, rows, n, y, direction, label, log_x, len(names) == 1)
              for n in names]
    return _figure(panels, path, f"{label} over {len(rows)} trials")[0]


def plot_metrics(rows, x, metrics, path, log_x=True):
    """Each of `metrics` (names the trials recorded) against one swept hyperparameter `x`, a
    panel each, saved to `path`: what the objective chose against what the others would have."""
    metrics = [m for m in metrics if any(_numeric(r, [x, m]) for r in rows)]
    if not metrics:
        raise ValueError(f"no trial recorded any of the metrics against {x!r}.")
    panels = [lambda ax, m=m: _panel(ax, [r for r in rows if _numeric(r, [x, m])], x, m,
                                     OBJECTIVES.get(m, "min"), m, log_x, True)
              for m in metrics]
    _figure(panels, path, f"recorded metrics against {x}")


def parse_space(text, name=None):
    """A search space from the command line: `"1e-3:10"` -> the range `(0.001, 10.0)`
    (`"1:5"` -> the integer range `(1, 5)`), `"0.1,0.5,1"` -> the choices `[0.1, 0.5, 1.0]`,
    `"2e-4"` -> the fixed value. Text that is none of these raises `OptionError` (a
    `ValueError`) naming `name` (the option) when given."""
    where = f"{name} {text!r}" if name else f"search space {text!r}"

    def number(token):
        token = token.strip()
        try:
            return int(token)
        except ValueError:
            try:
                value = float(token)
            except ValueError:
                raise OptionError(f"{token!r} is not a number (in {where}).") from None
        if not math.isfinite(value):
            raise OptionError(f"{token!r} is not a finite number (in {where}).")
        return value

    if ":" in text:
        low, high = (number(t) for t in text.split(":", 1))
        if isinstance(low, int) and isinstance(high, int):
            if not low < high:
                raise OptionError(f"{where}: an integer range LOW:HIGH needs LOW < HIGH.")
            return low, high
        if not 0 < low < high:
            raise OptionError(f"{where}: a range LOW:HIGH is searched on a log scale and needs "
                              "0 < LOW < HIGH.")
        return float(low), float(high)
    if "," in text:
        values = [number(t) for t in text.split(",") if t.strip()]
        if not values:
            raise OptionError(f"{where}: no values to choose from.")
        return values if all(isinstance(v, int) for v in values) else [float(v) for v in values]
    return number(text)


TUNERS = {
    "random": kt.RandomSearch,
    "bayesian": kt.BayesianOptimization,
    "hyperband": kt.Hyperband,
    "grid": kt.GridSearch,
}


def make_tuner(kind, hypermodel, objective, directory, project_name, max_trials=10, epochs=5,
               seed=0, overwrite=False):
    """A KerasTuner tuner by name (`random`, `bayesian`, `hyperband`, `grid`). With
    `overwrite=False` (the default) a search already in `directory/project_name` resumes: its
    finished trials are kept, a trial that was running when the search was interrupted runs
    again (see `resume`) and then the rest. `hyperband` schedules epochs up to `epochs`
    itself; the others run `max_trials` trials (`grid`: at most). A search state that cannot
    be reloaded (a damaged file) raises `RunError`."""
    if kind not in TUNERS:
        raise OptionError(f"unknown tuner {kind!r}; choose from {sorted(TUNERS)}.")
    project = os.path.join(os.fspath(directory), project_name)
    if not overwrite:
        _check_state(project)
        _mark_reloadable(project)
    common = dict(objective=objective, seed=seed, directory=directory,
                  project_name=project_name, overwrite=overwrite)
    try:
        if kind == "hyperband":
            tuner = kt.Hyperband(hypermodel, max_epochs=epochs, factor=3, **common)
        else:
            tuner = TUNERS[kind](hypermodel, max_trials=max_trials, **common)
    except RuntimeError as e:
        if "reloading" not in str(e):
            raise
        raise RunError(f"the search state in {project} cannot be reloaded ({e.__cause__!r}); "
                       "start afresh with overwrite=True (--overwrite).") from e
    _write_state_atomically(tuner)
    resume(tuner)
    return tuner


def _write_state_atomically(tuner):
    """Makes `tuner` and its oracle write their state files (the tuner's and oracle's JSON and
    each trial's `trial.json`) under a temporary name renamed into place. KerasTuner writes them
    in place: Ctrl-C in the middle of one leaves it cut short, and the search cannot be
    reloaded. Left to KerasTuner on a remote file system (a `scheme://` directory)."""
    if "://" in str(tuner.directory):
        return

    def write(path, state):
        write_text(path, json.dumps(state))

    oracle = tuner.oracle
    if isinstance(oracle, kt.Oracle):  # not a worker's client of the chief's oracle
        oracle.save = lambda: write(oracle._get_oracle_fname(), oracle.get_state())
        oracle._save_trial = lambda trial: write(
            os.path.join(oracle._get_trial_dir(trial.trial_id), "trial.json"), trial.get_state())

    def save():  # BaseTuner.save
        if not tuner._is_worker():
            tuner.oracle.save()
        write(tuner._get_tuner_fname(), tuner.get_state())

    tuner.save = save


def _check_state(project):
    """The JSON files of a search state parse (KerasTuner writes them in place, so a kill in
    the middle of a write can leave one cut short)."""
    paths = glob.glob(os.path.join(glob.escape(project), "*.json"))
    paths += glob.glob(os.path.join(glob.escape(project), "trial_*", "trial.json"))
    for path in paths:
        try:
            with open(path) as f:
                json.load(f)
        except (ValueError, OSError) as e:
            raise RunError(f"the search state in {project} is damaged: {path} cannot be read "
                           f"({type(e).__name__}: {e}); start afresh with overwrite=True "
                           "(--overwrite).") from None


def _mark_reloadable(project):
    """KerasTuner reloads a search only where its tuner's file exists, which it writes after
    the oracle's at the end of each trial: Ctrl-C between the two would start the search afresh,
    its finished trials lost. The tuner's state is empty (`BaseTuner.get_state`)."""
    tuner_file = os.path.join(project, os.environ.get("KERASTUNER_TUNER_ID", "tuner0") + ".json")
    if os.path.exists(os.path.join(project, "oracle.json")) and not os.path.exists(tuner_file):
        write_text(tuner_file, "{}")


_FINISHED = ("COMPLETED", "FAILED")


def resume(tuner):
    """Prepares a reloaded search to resume exactly where it stopped; `make_tuner` calls it.
    Returns the ids of the trials that run again (those interrupted), in the order they run.

    KerasTuner 1.4 reloads a search's trials and its oracle's state and sends a trial that was
    running when the search stopped (`ongoing_trials`) to its retry queue, so that it runs
    again under its own id and hyperparameters. What it misses, mended here:

    - `GridSearchOracle` keeps the grid's walk in memory only: `_ordered_ids` (the trials
      sorted by their grid point) and `_populate_next` (the trials whose next grid point is
      still to try) are not in its saved state. Reloaded, both are empty, so the next new trial
      either fails with `KeyError` (a retried trial, once ended, is looked up in the empty
      list: "KeyError: '1'") or the search stops at once, its remaining grid points never run.
      Both are rebuilt from the trials, so the grid resumes at its next point.
    - A kill between two of KerasTuner's writes leaves the files disagreeing: a trial saved as
      created but absent from the oracle's state (it never began; it would stay RUNNING in the
      results and count against `max_trials`) is removed, to be created afresh; a trial saved
      as finished but still ongoing in the oracle's state is taken as finished, not run again;
      a started, unfinished trial that is not queued is queued. (`make_tuner` also has the
      state files written atomically, and reloads a search whose tuner's file is missing.)

    On a worker of KerasTuner's distributed mode (whose oracle is the chief's) it does nothing:
    the chief's `make_tuner` mends the state.
    """
    oracle = tuner.oracle
    if not isinstance(oracle, kt.Oracle) or not oracle.trials:
        return []
    started = set(oracle.start_order)
    for trial_id in [i for i in oracle.trials if i not in started]:
        del oracle.trials[trial_id]  # created, but the oracle's state never recorded it
        shutil.rmtree(os.path.join(oracle._project_dir, f"trial_{trial_id}"), ignore_errors=True)
    oracle.start_order = [i for i in oracle.start_order if i in oracle.trials]
    oracle.end_order = [i for i in oracle.end_order if i in oracle.trials]
    ended = set(oracle.end_order)
    queue = []
    for trial_id in [i for i in oracle._retry_queue if i in oracle.trials]:
        status = oracle.trials[trial_id].status
        if status in _FINISHED:
            if trial_id not in ended:  # killed after saving the trial, before the oracle
                oracle.end_order.append(trial_id)
                ended.add(trial_id)
            oracle._run_times[trial_id] = max(oracle._run_times[trial_id], 1)
        elif trial_id not in queue:
            queue.append(trial_id)
    for trial_id in oracle.start_order:
        if trial_id not in ended and trial_id not in queue \
                and oracle.trials[trial_id].status not in _FINISHED:
            queue.insert(0, trial_id)
    oracle._retry_queue = queue
    if isinstance(oracle, kt.oracles.GridSearchOracle):
        _rebuild_grid(oracle)
    oracle.save()
    return queue[::-1]  # create_trial pops the queue's end first


def _rebuild_grid(oracle):
    """`GridSearchOracle`'s walk over the grid, from its trials (see `resume`)."""
    from keras_tuner.src.tuners.gridsearch import LinkedList

    values = {i: oracle.trials[i].hyperparameters.values for i in oracle.start_order}
    order = sorted(values, key=functools.cmp_to_key(
        lambda a, b: oracle._compare(values[a], values[b])))
    oracle._ordered_ids = LinkedList()
    for trial_id in order:
        oracle._ordered_ids.insert(trial_id)
    # Every finished trial: `populate_space` skips one whose next point was tried already.
    oracle._populate_next = list(oracle.end_order)


def progress(tuner):
    """`(done, planned, rerun)` of `tuner`'s search: how many trials finished (completed or
    failed), how many it runs in all (`max_trials`; `grid`: at most the grid's size;
    `hyperband`: its schedule's), and the ids of the interrupted trials that run again first.
    `(None, None, [])` on a worker of the distributed mode, whose oracle is the chief's."""
    oracle = tuner.oracle
    if not isinstance(oracle, kt.Oracle):
        return None, None, []
    rerun = list(reversed(oracle._retry_queue))  # create_trial pops the queue's end first
    done = sum(t.status in _FINISHED for t in oracle.trials.values())
    planned = oracle.max_trials
    if isinstance(oracle, kt.oracles.GridSearchOracle):
        space = oracle.get_space().space
        if not any(hp.conditions for hp in space):
            size = math.prod(len(list(hp.values)) for hp in space)
            planned = min(planned, size) if planned else size
    elif isinstance(oracle, kt.oracles.HyperbandOracle) and not planned:
        try:
            brackets = oracle._get_num_brackets()
            planned = oracle.hyperband_iterations * sum(
                oracle._get_size(b, r) for b in range(brackets) for r in range(b + 1))
        except (AttributeError, TypeError, ValueError):  # another KerasTuner version
            planned = None
    return done, planned, rerun


def is_chief():
    """False on the worker processes of KerasTuner's distributed mode (which run trials and
    leave the results to the chief); True on the chief and when not distributed."""
    from keras_tuner.src.distribute import utils

    return not utils.has_chief_oracle() or utils.is_chief_oracle()


def report(tuner, out, swept, metrics=None, log_x=True):
    """After a search: `results.csv` and `results.json` (one row per trial), `objective.png`
    (the objective against `swept`), `best.keras` (the best trial's model at its best epoch)
    and `best_grid.png` (its samples) in `out`, each written atomically (an interruption keeps
    the previous file whole). Returns the best trial's row."""
    from kerasgen.images import save_image_grid

    os.makedirs(out, exist_ok=True)
    rows = results(tuner, metrics)
    finished = [r for r in rows if r["score"] is not None]
    if not finished:
        statuses = ", ".join(f"trial {r['trial']} {r['status']}" for r in rows) or "no trials"
        raise RuntimeError(
            f"no trial recorded the objective {tuner.oracle.objective.name!r} ({statuses}). A "
            "failed trial printed its error above; KerasTuner does not retry it when a search "
            "resumes, so start afresh (overwrite=True, or --overwrite) once it is fixed. An "
            "objective missing from the training logs needs its callback (SampleQuality for "
            "fid/kid) or validation_data (val_*)."
        )
    write_results(rows, os.path.join(out, "results.csv"))
    write_results(rows, os.path.join(out, "results.json"))
    goal = tuner.oracle.objective
    plot_results(finished, swept, "score", os.path.join(out, "objective.png"),
                 direction=goal.direction, label=goal.name, log_x=log_x)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    model = tuner.load_model(best_trial)
    save_model(model, os.path.join(out, "best.keras"))
    save_image_grid(model.sample_grid(64, seed=0), os.path.join(out, "best_grid.png"),
                    nrow=getattr(model, "grid_nrow", lambda n: 8)(64))
    return next(r for r in rows if r["trial"] == best_trial.trial_id)


def device_summary():
    """One line for the start of a sweep: the Keras backend and the devices it trains on."""
    accelerators = backend.accelerators()
    where = ", ".join(accelerators) if accelerators else "CPU only (no GPU visible)"
    return f"Keras {keras.__version__}, backend {keras.backend.backend()}: {where}"
