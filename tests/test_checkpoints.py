"""Saving, reloading in a fresh process, resuming a killed run, stopping a diverged one."""

import textwrap

import keras
import numpy as np
import pytest

from kerasgen import DCGAN
from kerasgen.callbacks import NaNGuard
from kerasgen.errors import TrainingDivergedError

from helpers.common import images
from helpers.common import tiny_for

pytestmark = pytest.mark.backend

tiny = tiny_for(DCGAN, label_smoothing=(0.7, 1.2))


def iterations(model):
    return {name: int(opt.iterations.numpy()) for name, opt in model.optimizer.items()}


def test_saved_model_generates_the_same_images_in_a_fresh_process(tmp_path, fresh_python):
    model = tiny()
    model.compile(generator_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    model.fit(images(), batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    expected = model.generate(6, seed=42)
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import kerasgen
        model = keras.models.load_model({str(path)!r})
        np.save({str(tmp_path / "out.npy")!r}, model.generate(6, seed=42))
        it = {{k: int(o.iterations.numpy()) for k, o in model.optimizer.items()}}
        lr = float(keras.ops.convert_to_numpy(model.optimizer["generator"].learning_rate))
        print(type(model).__name__, model.label_smoothing, it["generator"], it["discriminator"], lr)
        """
    )
    result = fresh_python(script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-6:] == ["DCGAN", "(0.7,", "1.2)", "2", "2", "0.0010000000474974513"]
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


def test_reloaded_model_continues_training_with_its_optimizer_state(tmp_path):
    model = tiny()
    model.compile()
    model.fit(images(), batch_size=16, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    moments = [v.numpy().copy() for v in model.optimizer["discriminator"].variables]
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert iterations(loaded) == {"generator": 2, "discriminator": 2}
    for a, v in zip(moments, loaded.optimizer["discriminator"].variables):
        np.testing.assert_array_equal(a, v.numpy())
    loaded.fit(images(), batch_size=16, epochs=1, verbose=0)
    assert iterations(loaded) == {"generator": 4, "discriminator": 4}


class _Kill(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt("simulated kill")


def test_backup_and_restore_resumes_both_optimizers(tmp_path):
    backup = str(tmp_path / "backup")
    model = tiny()
    model.compile()
    with pytest.raises(KeyboardInterrupt):
        model.fit(images(), batch_size=16, epochs=4, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(backup), _Kill(at_epoch=1)])
    assert iterations(model) == {"generator": 4, "discriminator": 4}
    weights = [v.numpy().copy() for v in model.generator.trainable_variables]
    moments = [v.numpy().copy() for v in model.optimizer["generator"].variables]

    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["iterations"] = iterations(self.model)
            seen["weights"] = [v.numpy().copy() for v in self.model.generator.trainable_variables]
            seen["moments"] = [v.numpy().copy() for v in self.model.optimizer["generator"].variables]

        def on_epoch_begin(self, epoch, logs=None):
            seen.setdefault("epochs", []).append(epoch)

    resumed = tiny()
    resumed.compile()
    resumed.fit(images(), batch_size=16, epochs=4, verbose=0,
                callbacks=[keras.callbacks.BackupAndRestore(backup), Probe()])
    assert seen["iterations"] == {"generator": 4, "discriminator": 4}  # continued, not restarted
    assert seen["epochs"] == [2, 3]
    for a, b in zip(weights, seen["weights"]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(moments, seen["moments"]):
        np.testing.assert_array_equal(a, b)
    assert iterations(resumed) == {"generator": 8, "discriminator": 8}


class _PoisonAt(keras.callbacks.Callback):
    """Makes the discriminator's first kernel NaN when epoch `epoch` begins, so its loss is
    NaN from that epoch's first batch on."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            kernel = self.model.discriminator.trainable_variables[0]
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_nan_guard_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    backup = tmp_path / "backup"
    model = tiny()
    model.compile()
    with pytest.raises(TrainingDivergedError, match=r"d_loss became nan at epoch 2, batch 1.*kept in"):
        model.fit(
            images(), batch_size=16, epochs=3, verbose=0,
            callbacks=[NaNGuard(checkpoint_hint=f"The last good epoch is kept in {backup}."),
                       keras.callbacks.BackupAndRestore(str(backup)), _PoisonAt(epoch=1)],
        )
    # The backup still holds the end of epoch 1, with finite weights: restore it into a new model.
    restored = tiny()
    restored.compile()
    first_epoch = {}

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            first_epoch["iterations"] = iterations(self.model)
            first_epoch["finite"] = all(
                np.isfinite(v.numpy()).all() for v in self.model.trainable_variables
            )

        def on_epoch_begin(self, epoch, logs=None):
            first_epoch["epoch"] = epoch
            self.model.stop_training = True

    restored.fit(images(), batch_size=16, epochs=3, verbose=0,
                 callbacks=[keras.callbacks.BackupAndRestore(str(backup)), Probe()])
    assert first_epoch == {"iterations": {"generator": 2, "discriminator": 2}, "finite": True, "epoch": 1}
