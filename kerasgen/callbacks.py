"""Callbacks: pictures of progress every epoch, and a guard against diverged runs.

All of them hold only plain Python state until `fit` starts, so KerasTuner can `deepcopy` them
for every trial.
"""

import copy
import csv
import json
import math
import os
import shutil

import keras
import numpy as np

from kerasgen import images as image_io
from kerasgen import latent
from kerasgen.checks import check_int
from kerasgen.errors import TrainingDivergedError
from kerasgen.files import atomic_path
from kerasgen.files import write_json


class ImageGrid(keras.callbacks.Callback):
    """Saves a grid of generated images every epoch, then a GIF of them and a loss plot.

    The grid always shows the same samples (`model.sample_grid(n, seed)`: for unconditional
    models, the images of a fixed batch of latent vectors), so consecutive grids show training
    progress. Files in `directory`:

    - `epoch_0001.png`, `epoch_0002.png`, ...: the grids.
    - `progress.gif`: every grid in order, written when training ends.
    - `losses.csv` and `losses.png`: the loss of every training step, updated every epoch.
      A run resumed with `BackupAndRestore` continues both the grids and the curves.

    Args:
        directory: where to write.
        n: number of images in the grid.
        seed: seed of the fixed samples.
        every: write a grid every this many epochs.
        nrow: images per row (default: a square grid).
        scale: enlarge the PNGs by this factor (nearest neighbour), for small images.
        gif: write `progress.gif` at the end of training.
        plot: write `losses.csv` / `losses.png`.
        layout: what each grid shows, always from the same latents:
            `"samples"`: `model.sample_grid(n, seed)` (random faces, seed 000's grid);
            `"stds"`: eight rows of `std * z` for std 0.25, 0.5, ..., 2.0 (seed 001);
            `"interpolation"`: rows that interpolate between two seeds each.
        tensorboard: a log folder: each grid also goes to TensorBoard (image "samples", step =
            epoch), with the sampling-side state as scalars (`ema_beta`, the moving average's
            decay now; `ada_p`, the augmentation probability, for models that adapt it). Put
            `keras.callbacks.TensorBoard(log_dir=...)` beside it for the losses.
    """

    LAYOUTS = ("samples", "stds", "interpolation")
    #: Keras may run `on_train_batch_end` in a worker thread (JAX, PyTorch), so that a step
    #: does not wait for its logs to reach the host.
    async_safe = True

    def __init__(self, directory, n=64, seed=0, every=1, nrow=None, scale=1, gif=True, plot=True,
                 layout="samples", tensorboard=None):
        super().__init__()
        every = check_int(every, "every", minimum=1)
        n = check_int(n, "n", minimum=1)
        scale = check_int(scale, "scale", minimum=1, maximum=64)
        if layout not in self.LAYOUTS:
            raise ValueError(f"layout must be one of {self.LAYOUTS}; received {layout!r}.")
        self.layout = layout
        self.tensorboard = None if tensorboard is None else str(tensorboard)
        self.directory = str(directory)
        self.n = n
        self.seed = seed
        self.every = every
        self.nrow = nrow
        self.scale = scale
        self.gif = gif
        self.plot = plot
        self._rows = []  # (epoch, step, {name: value}) per training step
        self._step_offset = 0
        self._epoch = 0
        self._batch_logs = {}  # batch -> logs, of the epoch under way

    def grid_path(self, epoch):
        return os.path.join(self.directory, f"epoch_{epoch + 1:04d}.png")

    def grid_images(self):
        """The images of one grid and its images per row."""
        if self.layout == "stds":
            per_row = max(1, self.n // len(latent.SEED_001_STDS))
            return latent.std_grid(self.model, per_row=per_row, seed=self.seed), per_row
        if self.layout == "interpolation":
            steps = max(2, math.isqrt(self.n))
            rows = [latent.interpolate(self.model, self.seed + 2 * r, self.seed + 2 * r + 1, steps)
                    for r in range(max(1, self.n // steps))]
            return np.concatenate(rows), steps
        nrow = self.nrow
        if nrow is None and hasattr(self.model, "grid_nrow"):  # conditional models' layout
            nrow = self.model.grid_nrow(self.n)
        return self.model.sample_grid(self.n, seed=self.seed), nrow

    def on_train_begin(self, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        self._rows = self._read_csv() if self.plot else []

    def on_epoch_begin(self, epoch, logs=None):
        # A run resumed by BackupAndRestore redoes `epoch`: forget what was logged from it on.
        self._epoch = epoch
        self._rows = [row for row in self._rows if row[0] < epoch]
        self._step_offset = self._rows[-1][1] if self._rows else 0
        self._batch_logs = {}

    def on_train_batch_end(self, batch, logs=None):
        # Only kept here; read at the epoch's end. Keras may call this from worker threads
        # (`async_safe`), in any order, so that no step waits for its logs.
        if self.plot and logs:
            self._batch_logs[batch] = dict(logs)

    def _add_epoch_rows(self):
        """Keras logs the running mean over the epoch; each step's own value follows from two
        consecutive means: sum_k = mean_k * k, value = (sum_k - sum_j) / (k - j)."""
        last_batch, last_sums = -1, {}
        for batch in sorted(self._batch_logs):
            count, steps = batch + 1, batch - last_batch
            values = {}
            for name, mean in self._batch_logs[batch].items():
                total = float(mean) * count
                values[name] = (total - last_sums.get(name, 0.0)) / steps
                last_sums[name] = total
            last_batch = batch
            self._rows.append((self._epoch, self._step_offset + count, values))
        self._batch_logs = {}

    def on_epoch_end(self, epoch, logs=None):
        self._add_epoch_rows()
        if (epoch + 1) % self.every == 0:
            images, nrow = self.grid_images()
            image_io.save_image_grid(images, self.grid_path(epoch), nrow=nrow, scale=self.scale)
            if self.tensorboard:
                self._to_tensorboard(image_io.make_grid(images, nrow=nrow), epoch)
        if self.plot and self._rows:
            self._write_csv()
            names = list(self._rows[-1][2])
            image_io.save_loss_plot(
                [row[1] for row in self._rows],
                {k: [row[2].get(k, math.nan) for row in self._rows] for k in names},
                os.path.join(self.directory, "losses.png"),
                title=type(self.model).__name__,
            )

    def on_train_end(self, logs=None):
        if self.gif:
            # This run's epochs (and, when resumed, the earlier ones it continues), not stale
            # grids of a longer run that used the same directory before.
            last = (self.params or {}).get("epochs") or self._epoch + 1
            frames = [self.grid_path(e) for e in range(last)]
            frames = [f for f in frames if os.path.exists(f)]
            if frames:
                image_io.save_gif(frames, os.path.join(self.directory, "progress.gif"))

    def sampling_state(self):
        """The model's sampling-side state now: `ema_beta` and `ada_p` where it has them."""
        from kerasgen.models.base import ema_beta

        state = {}
        if getattr(self.model, "ema", None) is not None:
            step = float(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            state["ema_beta"] = float(keras.ops.convert_to_numpy(
                ema_beta(step, self.model.ema, self.model.ema_rampup)))
        if getattr(self.model, "ada_p", None) is not None:
            state["ada_p"] = float(keras.ops.convert_to_numpy(self.model.ada_p))
        return state

    def _to_tensorboard(self, grid, epoch):
        import tensorflow as tf  # TensorBoard's event files; imported only when asked for

        writer = tf.summary.create_file_writer(self.tensorboard)
        with writer.as_default():
            tf.summary.image("samples", grid[None], step=epoch + 1)
            for name, value in self.sampling_state().items():
                tf.summary.scalar(name, value, step=epoch + 1)
        writer.close()

    # ---- losses.csv: epoch, step, one column per log ------------------------------------------

    def _csv_path(self):
        return os.path.join(self.directory, "losses.csv")

    def _read_csv(self):
        if not os.path.exists(self._csv_path()):
            return []
        with open(self._csv_path(), newline="") as f:
            return [
                (
                    int(r.pop("epoch")),
                    int(r.pop("step")),
                    {k: float(v) if v else math.nan for k, v in r.items()},
                )
                for r in csv.DictReader(f)
            ]

    def _write_csv(self):
        names = list(dict.fromkeys(k for row in self._rows for k in row[2]))
        with atomic_path(self._csv_path()) as temporary, open(temporary, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["epoch", "step", *names])
            for epoch, step, values in self._rows:
                writer.writerow([epoch, step, *(f"{values.get(k, math.nan):.6g}" for k in names)])


class NaNGuard(keras.callbacks.Callback):
    """Stops training with a clear error as soon as a logged loss is NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN`, which lets the epoch end (so `BackupAndRestore`
    and `ModelCheckpoint` then save the broken weights over the last good ones), this raises
    `kerasgen.errors.TrainingDivergedError` from the batch that diverged: nothing after it is
    saved, and the last good checkpoint stays on disk. Put it first in the callback list.

    It reads the logs Keras has already brought to the host, so it adds no wait to a step; and
    it is `async_safe`: where Keras runs batch hooks in a worker thread (JAX, PyTorch), the
    error surfaces at the next batch or at the epoch's end, still before anything is saved
    (Keras finishes the batch hooks before `on_epoch_end`). Keras' logs are running means over
    the epoch, so a non-finite loss at one step shows in every later log of the epoch.

    Args:
        monitor: names of the logs to check (default: every log whose name contains "loss").
        checkpoint_hint: a sentence added to the error, e.g. where the last checkpoint is; or
            a function of the diverged epoch (0-based) that returns it, to describe what is on
            disk at that moment.
    """

    async_safe = True

    def __init__(self, monitor=None, checkpoint_hint=None):
        super().__init__()
        self.monitor = tuple(monitor) if monitor else None
        self.checkpoint_hint = checkpoint_hint
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if self.monitor is not None and name not in self.monitor:
                continue
            if self.monitor is None and "loss" not in name:
                continue
            value = float(np.asarray(value))
            if not math.isfinite(value):
                message = (
                    f"{name} became {value} at epoch {self._epoch + 1}, batch {batch + 1}; "
                    "training stopped before anything else was saved."
                )
                hint = self.checkpoint_hint
                hint = hint(self._epoch) if callable(hint) else hint
                if hint:
                    message += " " + hint
                raise TrainingDivergedError(message)


class SetLearningRates(keras.callbacks.Callback):
    """Sets each optimizer's learning rate when training starts: put it after
    `BackupAndRestore`, which restores the saved optimizers, so that a resumed run trains at
    the rates asked for now, not the saved ones. Changes are printed.

    Args:
        rates: {optimizer name: learning rate} (names as in `model.optimizer`).
    """

    def __init__(self, rates, verbose=True):
        super().__init__()
        self.rates = dict(rates)
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        for name, rate in self.rates.items():
            optimizer = self.model.optimizer[name]
            before = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            if not math.isclose(before, rate, rel_tol=1e-6):
                optimizer.learning_rate = rate
                if self.verbose:
                    print(f"kerasgen: {name} learning rate {before:.6g} -> {rate:.6g}", flush=True)


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose backup a kill cannot break.

    Keras' writes `latest.weights.h5` in place, then `training_metadata.json`: a kill in between
    leaves a truncated weights file, or weights of one epoch labelled with another. Here each
    epoch's weights go to their own file (`epoch_0003.weights.h5`, written under a temporary
    name and renamed), and only then does the metadata, itself replaced atomically, point at
    them; older weights are removed after that. Whatever the moment of a kill, the metadata
    names a whole weights file of the epoch it states.

    `delete_checkpoint` defaults to False here: the owner of the run removes the backup once
    the final model is safely on disk (`remove_backup`), not before.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=False):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=delete_checkpoint)

    @property
    def async_safe(self):
        """Saving once an epoch, the batch hook does nothing: Keras may run it in a worker
        thread, and a step need not wait for its logs."""
        return self.save_freq == "epoch"

    def restored_epoch(self):
        """The number of finished epochs the backup holds (0: no backup)."""
        metadata = self._metadata()
        return metadata["epoch"] if metadata else 0

    def _metadata(self):
        if not os.path.exists(self._training_metadata_path):
            return None
        with open(self._training_metadata_path) as f:
            return json.load(f)

    def _load_model(self):
        metadata = self._metadata()
        if metadata is None:
            return
        if not self.model.built:
            raise ValueError("BackupAndRestore needs a built model.")
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(self.backup_dir, metadata["weights"]))
        self.model._initial_epoch = metadata["epoch"]

    def _save_model(self):
        name = f"epoch_{self._current_epoch:04d}_batch_{self._last_batch_seen:06d}.weights.h5"
        with atomic_path(os.path.join(self.backup_dir, name)) as temporary:
            self.model.save_weights(temporary, overwrite=True)
        write_json(self._training_metadata_path, {
            "epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name})
        for old in os.listdir(self.backup_dir):
            if old.endswith(".weights.h5") and old != name:
                os.remove(os.path.join(self.backup_dir, old))

    def remove_backup(self):
        if os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            self.remove_backup()


def _due(callback, epoch):
    """Whether a callback that measures every `callback.every` epochs measures after `epoch`:
    on every `every`-th epoch and after the last one."""
    last = callback.params.get("epochs") if callback.params else None
    return (epoch + 1) % callback.every == 0 or epoch + 1 == last


def _shallow_copy(callback):
    clone = copy.copy(callback)
    clone._model = None  # set_model() gives each copy its own model
    return clone


def _check_every(every):
    return check_int(every, "every", minimum=1)


class AttributeAccuracy(keras.callbacks.Callback):
    """Every `every` epochs (and after the last), measures how often `classifier` reads back the
    attributes a conditional model was asked for (`kerasgen.metrics.attribute_accuracy`) and adds
    it to the epoch's logs, so `History`, the progress bar and `ImageGrid`'s curves show it:
    `attr_acc` (the mean over attributes) and `attr_acc_<name>` per attribute.

    Args:
        classifier: a trained `kerasgen.metrics.AttributeClassifier` (or its `.keras` path).
        every: measure every this many epochs (and after the last).
        n: images generated per measurement.
        seed: seed of the asked attributes and the noise.
    """

    def __init__(self, classifier, every=1, n=500, seed=0):
        super().__init__()
        self.classifier = classifier
        self.every = _check_every(every)
        self.n = n
        self.seed = seed

    def __deepcopy__(self, memo):  # as SampleQuality's: the copy shares the classifier
        return _shallow_copy(self)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not _due(self, epoch):
            return
        from kerasgen.metrics import attribute_accuracy

        if isinstance(self.classifier, str):  # loaded on first use: deepcopy-safe until then
            self.classifier = keras.models.load_model(self.classifier, compile=False)
        accuracy = attribute_accuracy(self.classifier, self.model, n=self.n, seed=self.seed)
        logs["attr_acc"] = accuracy.pop("mean")
        logs.update({f"attr_acc_{name}": value for name, value in accuracy.items()})


class SampleQuality(keras.callbacks.Callback):
    """Every `every` epochs (and after the last), compares `n` generated images with real ones
    in the feature space of `extractor` and adds the scores to the epoch's logs, so `History`,
    `ModelCheckpoint(monitor=..., mode="min")`, `EarlyStopping` and KerasTuner objectives
    (`kt.Objective("fid", "min")`) can use them. The same latents (from `seed`) are used each
    time, so the scores follow the model and not the draw. `extractor.name` says which features:
    only `kerasgen.features.FIDInception` ("inception-2015") gives the FID, KID and IS of the
    papers; the offline `ClassifierFeatures` rank models but compare with nothing published.

    Args:
        real: the real images' features `(m, d)` (`kerasgen.metrics.real_features`); FID alone
            also takes a `FeatureStatistics` (`kerasgen.metrics.real_statistics`).
        extractor: a feature extractor from `kerasgen.features`.
        metrics: any of `"fid"` (logs `fid`), `"kid"` (`kid`, `kid_std`), `"pr"` (`precision`,
            `recall`, k-NN manifolds with `k`), `"dc"` (`density`, `coverage`, 5 neighbours),
            `"is"` (`is`, `is_std`: the Inception Score of the generated images, 10 splits;
            needs an extractor with logits, `FIDInception`).
        every: measure every this many epochs (and after the last).
        n: images generated per measurement.
        seed: seed of the latents.
        k: neighbours of precision/recall.
    """

    METRICS = ("fid", "kid", "pr", "dc", "is")

    def __init__(self, real, extractor, metrics=("fid",), every=1, n=2000, seed=0, k=3):
        super().__init__()
        from kerasgen.metrics import FeatureStatistics

        metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
        unknown = [m for m in metrics if m not in self.METRICS]
        if unknown or not metrics:
            raise ValueError(f"unknown metrics {unknown or metrics}; choose from {self.METRICS}.")
        if isinstance(real, FeatureStatistics):
            if set(metrics) != {"fid"}:
                raise ValueError("KID and precision/recall need the real features themselves "
                                 "(kerasgen.metrics.real_features), not FeatureStatistics.")
        else:
            real = np.asarray(real, "float64")
            if real.ndim != 2 or len(real) < 2:
                raise ValueError(f"real must be features of shape (images >= 2, dims); "
                                 f"received shape {real.shape}.")
        self.real, self.extractor, self.metrics = real, extractor, metrics
        self.every, self.n, self.seed, self.k = _check_every(every), n, seed, k
        self._real_stats = real if isinstance(real, FeatureStatistics) else None

    def __deepcopy__(self, memo):
        """KerasTuner deep-copies the callbacks of each trial: the copy shares the read-only
        real features and extractor instead of copying a network."""
        return _shallow_copy(self)

    def measure(self):
        """The scores of the model now, as a dict of log names to floats."""
        from kerasgen import metrics

        if self._real_stats is None and "fid" in self.metrics:
            self._real_stats = metrics.FeatureStatistics()
            self._real_stats.update(self.real)
        if self.metrics == ("fid",):  # streamed: never all the generated features at once
            return {"fid": metrics.fid(self.model, self._real_stats, self.extractor, n=self.n,
                                       seed=self.seed)}
        logits = "is" in self.metrics
        fake = metrics.generated_features(self.model, self.extractor, n=self.n, seed=self.seed,
                                          logits=logits)
        scores = {}
        if logits:
            fake, head = fake
            scores["is"], scores["is_std"] = metrics.inception_score(head, min(10, len(head)))
        scores.update(metrics.sample_quality(self.real, fake, self.metrics, k=self.k,
                                             seed=self.seed, real_statistics=self._real_stats))
        return scores

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and _due(self, epoch):
            logs.update(self.measure())


class FIDCallback(SampleQuality):
    """`SampleQuality` with FID alone, logged as `fid`: `FIDCallback(real, extractor, every=1,
    n=2000)` with `real` a `FeatureStatistics` or features."""

    def __init__(self, real, extractor, every=1, n=2000, seed=0):
        super().__init__(real, extractor, ("fid",), every=every, n=n, seed=seed)


class KIDCallback(SampleQuality):
    """`SampleQuality` with KID alone, logged as `kid` and `kid_std`: `KIDCallback(real_features,
    extractor, every=1, n=2000)`."""

    def __init__(self, real, extractor, every=1, n=2000, seed=0):
        super().__init__(real, extractor, ("kid",), every=every, n=n, seed=seed)
