"""ImageGrid (grids, GIF, loss curves) and the image utilities."""

import copy
import csv

import keras
import numpy as np
import pytest
from PIL import Image

from kerasgen import DCGAN
from kerasgen.callbacks import ImageGrid
from kerasgen.callbacks import NaNGuard
from kerasgen.images import make_grid
from kerasgen.images import save_image_grid

from helpers.common import images
from helpers.common import tiny


@pytest.mark.backend
def test_image_grid_writes_grids_gif_and_loss_curves(tmp_path):
    model = tiny(DCGAN)
    # Half-white, half-black images and a fast learning rate: within 36 steps the generator
    # leaves the flat grey of its initialisation (and batch norm's moving statistics settle).
    model.compile(generator_optimizer=keras.optimizers.Adam(5e-3, beta_1=0.5),
                  discriminator_optimizer=keras.optimizers.Adam(5e-3, beta_1=0.5))
    out = tmp_path / "grids"
    data = np.zeros((192, 16, 16, 3), "uint8")
    data[:, :, :8] = 255
    model.fit(data, batch_size=16, epochs=3, verbose=0, callbacks=[ImageGrid(out, n=16, seed=3)])
    files = sorted(p.name for p in out.iterdir())
    assert files == ["epoch_0001.png", "epoch_0002.png", "epoch_0003.png", "losses.csv", "losses.png",
                     "progress.gif"]
    grid = np.asarray(Image.open(out / "epoch_0003.png"))
    # 4x4 images of 16 px with 2 px padding
    assert grid.shape == (4 * 18 + 2, 4 * 18 + 2, 3)
    # not blank: the pixels of the first image vary (the untrained generator gives std < 1)
    inner = grid[2:18, 2:18]
    assert inner.std() > 10.0
    # each grid is the generator's output for the same fixed latents
    expected = make_grid(model.generate(16, seed=3))
    np.testing.assert_array_equal(grid, expected)
    gif = Image.open(out / "progress.gif")
    assert gif.n_frames == 3
    with open(out / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 37))
    assert [int(r["epoch"]) for r in rows] == [0] * 12 + [1] * 12 + [2] * 12
    assert set(rows[0]) == {"epoch", "step", "d_loss", "g_loss", "d_real", "d_fake"}
    # the epoch's mean of the per-step values is what Keras logged for the epoch
    logged = model.history.history["d_loss"][-1]
    assert np.mean([float(r["d_loss"]) for r in rows[-12:]]) == pytest.approx(logged, rel=1e-4)


@pytest.mark.backend
def test_image_grid_layouts_show_std_rows_and_interpolations(tmp_path):
    from kerasgen import latent

    model = tiny(DCGAN)
    model.compile()
    grids = {}
    for layout in ("stds", "interpolation"):
        callback = ImageGrid(tmp_path / layout, n=16, seed=5, layout=layout, gif=False, plot=False)
        model.fit(images(16), batch_size=16, epochs=1, verbose=0, callbacks=[callback])
        grids[layout] = np.asarray(Image.open(tmp_path / layout / "epoch_0001.png"))
    # 8 rows (std 0.25 ... 2.0) of 2 faces each; 4 rows of 4 interpolation steps
    assert grids["stds"].shape == (8 * 18 + 2, 2 * 18 + 2, 3)
    assert grids["interpolation"].shape == (4 * 18 + 2, 4 * 18 + 2, 3)
    # The grids' images, as floats (the untrained generator's greys sit on PNG rounding edges).
    callback = ImageGrid(tmp_path, n=16, seed=5, layout="stds")
    callback.set_model(model)
    shown, nrow = callback.grid_images()
    assert nrow == 2
    np.testing.assert_allclose(shown, latent.std_grid(model, per_row=2, seed=5), atol=1e-6)
    assert np.abs(shown[0] - shown[-2]).max() > 1e-4  # std 0.25 and 2.0 of one direction differ
    callback.layout = "interpolation"
    shown, nrow = callback.grid_images()
    assert nrow == 4
    np.testing.assert_allclose(shown[12:], latent.interpolate(model, 11, 12, steps=4), atol=1e-6)
    np.testing.assert_allclose(shown[0], model.generate(1, seed=5)[0], atol=1e-6)
    with pytest.raises(ValueError, match="layout must be one of"):
        ImageGrid(tmp_path, layout="mosaic")


def test_per_step_values_are_recovered_from_running_means(tmp_path):
    grid = ImageGrid(tmp_path, gif=False)
    values = [3.0, 1.0, 8.0, -2.0]
    grid.on_epoch_begin(0)
    # Keras may run the batch hooks in worker threads (`async_safe`): in any order.
    for k in (2, 0, 3, 1):
        grid.on_train_batch_end(k, {"loss": np.mean(values[: k + 1])})
    assert grid._rows == []  # kept until the epoch ends: nothing read per step
    grid._add_epoch_rows()  # what on_epoch_end does first
    assert [row[2]["loss"] for row in grid._rows] == pytest.approx(values)
    assert [row[1] for row in grid._rows] == [1, 2, 3, 4]
    # steps_per_execution=2: logs every second step, value = mean of the two steps
    grid.on_epoch_begin(1)
    for k in (1, 3):
        grid.on_train_batch_end(k, {"loss": np.mean(values[: k + 1])})
    grid._add_epoch_rows()
    assert [row[2]["loss"] for row in grid._rows[4:]] == pytest.approx([2.0, 3.0])
    assert [row[1] for row in grid._rows[4:]] == [6, 8]


def test_resumed_epoch_replaces_its_rows(tmp_path):
    grid = ImageGrid(tmp_path, gif=False)
    grid._rows = [(0, 1, {"loss": 1.0}), (0, 2, {"loss": 1.0}), (1, 3, {"loss": 5.0})]
    grid.on_epoch_begin(1)  # BackupAndRestore restarts epoch 1
    assert grid._rows == [(0, 1, {"loss": 1.0}), (0, 2, {"loss": 1.0})]
    grid.on_train_batch_end(0, {"loss": 2.0})
    grid._add_epoch_rows()
    assert grid._rows[-1] == (1, 3, {"loss": 2.0})


def test_callbacks_survive_deepcopy(tmp_path):
    # KerasTuner deep-copies callbacks for every trial.
    for cb in (ImageGrid(tmp_path, n=4), NaNGuard()):
        clone = copy.deepcopy(cb)
        assert type(clone) is type(cb) and clone is not cb


def test_make_grid_layout_and_padding():
    ims = np.zeros((5, 4, 4, 3), "float32")
    ims[1] = 1.0
    grid = make_grid(ims, nrow=3, padding=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
    assert grid[0].min() == 255  # padding row
    assert grid[1:5, 1:5].max() == 0  # first image: black
    assert grid[1:5, 6:10].min() == 255  # second image: white
    assert grid[6:10, 11:15].min() == 255  # sixth slot is empty: padding colour


def test_save_image_grid_scales_and_clips(tmp_path):
    ims = np.linspace(-0.5, 1.5, 4 * 2 * 2 * 3).reshape(4, 2, 2, 3)
    path = save_image_grid(ims, tmp_path / "sub" / "g.png", padding=0, scale=3)
    out = np.asarray(Image.open(path))
    assert out.shape == (2 * 2 * 3, 2 * 2 * 3, 3)
    assert out.min() == 0 and out.max() == 255


@pytest.mark.backend
def test_image_grid_writes_grids_and_sampling_state_to_tensorboard(tmp_path):
    import tensorflow as tf

    from kerasgen import DCGAN
    from kerasgen.models.base import ema_beta

    model = tiny(DCGAN, ema=0.9, ema_rampup=0.5)
    model.compile()
    board = tmp_path / "board"
    model.fit(images(16), batch_size=8, epochs=2, verbose=0,
              callbacks=[ImageGrid(tmp_path / "grids", n=4, tensorboard=board)])
    found = {}
    for path in sorted(board.iterdir()):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found[(value.tag, event.step)] = tf.make_ndarray(value.tensor)
    assert {key for key in found} == {("samples", 1), ("samples", 2), ("ema_beta", 1),
                                      ("ema_beta", 2)}
    # The image is the grid PNG of that epoch; the scalar the decay after 2 and 4 steps.
    encoded = found[("samples", 2)][2]  # [width, height, PNG bytes]
    shown = tf.io.decode_png(encoded).numpy()
    np.testing.assert_array_equal(shown, np.asarray(Image.open(tmp_path / "grids" / "epoch_0002.png")))
    for epoch, steps in ((1, 2), (2, 4)):
        expected = float(keras.ops.convert_to_numpy(ema_beta(steps, 0.9, 0.5)))
        assert float(found[("ema_beta", epoch)]) == pytest.approx(expected, rel=1e-6)


@pytest.mark.backend
def test_kerasgen_callbacks_let_keras_dispatch_batch_hooks_asynchronously(tmp_path):
    """A callback with its own `on_train_batch_end` makes Keras bring every step's logs to the
    host before the next step starts, unless it is `async_safe` (JAX, PyTorch: TensorFlow always
    does). The CLI's callbacks must not."""
    from keras.src.callbacks.callback_list import CallbackList

    from kerasgen.callbacks import BackupAndRestore

    ours = [NaNGuard(), ImageGrid(tmp_path / "grids"), BackupAndRestore(tmp_path / "backup")]
    thread_safe = keras.backend.backend() != "tensorflow"
    assert CallbackList(ours)._async_train is thread_safe
    per_batch = BackupAndRestore(tmp_path / "b2", save_freq=10)  # saves from the batch hook
    assert CallbackList(ours + [per_batch])._async_train is False
