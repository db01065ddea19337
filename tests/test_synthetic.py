"""Synthetic faces: shapes, determinism, visible attributes, variety, priors, the PyDataset."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasgen.data.synthetic as synthetic
from kerasgen.data.synthetic import ATTRIBUTES
from kerasgen.data.synthetic import SyntheticFaces
from kerasgen.data.synthetic import render_faces
from kerasgen.data.synthetic import sample_attributes
from kerasgen.data.synthetic import synthetic_faces
from kerasgen.errors import AttributeNameError
from kerasgen.errors import DataError

COL = {name: i for i, name in enumerate(ATTRIBUTES)}
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")


def _faces(n, size=32, seed=0, split="train", start=0):
    return render_faces(sample_attributes(n, seed, split, start), size, seed, split, start)


# -- shapes and values -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes_dtypes_and_value_range(size):
    images = _faces(8, size)
    assert images.shape == (8, size, size, 3)
    assert images.dtype == np.uint8
    for image in images:  # every image has real content, not a blank or flat frame
        assert image.astype(float).std() > 20
        assert image.max() - image.min() > 120


def test_odd_but_valid_sizes_and_empty_batch():
    assert _faces(2, 16).shape == (2, 16, 16, 3)
    assert _faces(1, 200).shape == (1, 200, 200, 3)
    assert render_faces(np.zeros((0, len(ATTRIBUTES))), 32).shape == (0, 32, 32, 3)


def test_at_least_twelve_celeba_attributes_including_required_ones():
    required = {"Male", "Smiling", "Eyeglasses", "Wearing_Hat", "Bangs", "Black_Hair", "Blond_Hair",
                "Pale_Skin", "Mustache", "Mouth_Slightly_Open"}
    assert len(ATTRIBUTES) >= 12 and len(set(ATTRIBUTES)) == len(ATTRIBUTES)
    assert required <= set(ATTRIBUTES)
    assert sample_attributes(3).shape == (3, len(ATTRIBUTES))


# -- determinism --------------------------------------------------------------------------------


def test_same_seed_same_bytes_different_seed_or_split_different_faces():
    a = _faces(16, seed=7)
    assert _faces(16, seed=7).tobytes() == a.tobytes()
    b = _faces(16, seed=8)
    c = _faces(16, seed=7, split="validation")
    # Each face differs from its counterpart in another stream by many grey levels on average.
    assert np.abs(a.astype(int) - b).mean(axis=(1, 2, 3)).min() > 5
    assert np.abs(a.astype(int) - c).mean(axis=(1, 2, 3)).min() > 5
    assert not np.array_equal(sample_attributes(64, 7, "train"), sample_attributes(64, 7, "test"))


def test_face_depends_only_on_seed_split_and_index():
    many = _faces(1000, 32, seed=3)  # 1000 faces at 32 px take a fraction of a second
    few = _faces(10, 32, seed=3)
    np.testing.assert_array_equal(many[:10], few)
    for i in (0, 5, 999):  # alone, from start=i
        np.testing.assert_array_equal(_faces(1, 32, seed=3, start=i)[0], many[i])
    # In any order and company, across a block boundary (blocks hold 1024 faces).
    idx = np.array([1500, 4, 999, 1023, 1024, 77])
    attrs = synthetic._gather(synthetic._block_attributes, 3, 0, idx)
    shuffled = render_faces(attrs, 32, seed=3, indices=idx)
    np.testing.assert_array_equal(shuffled[1:3], many[[4, 999]])
    np.testing.assert_array_equal(shuffled[4], _faces(1, 32, seed=3, start=1024)[0])
    np.testing.assert_array_equal(
        sample_attributes(3, 3, start=1023), sample_attributes(1026, 3)[1023:]
    )


def test_face_in_a_shuffled_dataset_batch_is_the_same_face():
    ds = SyntheticFaces(n=40, image_size=32, batch_size=8, seed=3)
    first = ds._order[:8]
    np.testing.assert_array_equal(ds[0], _faces(40, 32, seed=3)[first])


def test_same_face_at_every_resolution():
    small = _faces(8, 32, seed=2).astype(float)
    large = _faces(8, 128, seed=2).astype(float).reshape(8, 32, 4, 32, 4, 3).mean(axis=(2, 4))
    # Box-downsampled 128 px faces match the 32 px ones up to edge aliasing and the few
    # strokes kept at least a pixel wide, far better than neighbouring faces match each other.
    same = np.abs(small - large).mean(axis=(1, 2, 3))
    other = np.abs(small - np.roll(large, 1, axis=0)).mean(axis=(1, 2, 3))
    assert same.max() < 6 and other.min() > 4 * same.max()


def test_windowed_drawing_equals_full_frame_drawing():
    # Each layer is drawn only over a window holding its shape; outside it the mask is exactly
    # zero, so the images equal those drawn over the whole frame (any attributes, any size).
    attrs = np.random.default_rng(0).random((48, len(ATTRIBUTES))) < 0.5
    for size in (16, 24, 64, 128):
        n = 48 if size < 128 else 12
        fast = render_faces(attrs[:n], size, seed=4)
        slow = render_faces(attrs[:n], size, seed=4, _windows=False)
        np.testing.assert_array_equal(fast, slow)


# -- attributes change the image ----------------------------------------------------------------


def _held(name, attrs):
    """Attributes with `name` set on and off, everything else held (dependencies resolved so
    that the attribute can show: no hat over hair, no baldness under a colour or a fringe)."""
    attrs = attrs.copy()
    if name in HAIR_COLOURS:
        attrs[:, [COL[c] for c in HAIR_COLOURS]] = 0
        attrs[:, [COL["Bald"], COL["Wearing_Hat"]]] = 0
    if name in ("Bangs", "Bald"):
        attrs[:, COL["Wearing_Hat"]] = 0
    if name == "Bangs":
        attrs[:, COL["Bald"]] = 0
    on, off = attrs.copy(), attrs.copy()
    on[:, COL[name]] = 1
    off[:, COL[name]] = 0
    return on, off


# The smallest features (lips, nose, moustache) cover about 1% of a 32 px image (~10 pixels);
# changing them by ~30 grey levels gives a mean absolute difference of ~0.3 over the image.
# Identical attributes give exactly 0 (rendering is deterministic), so we ask:
# - averaged over 32 faces, each attribute changes the image by >= 0.15 levels (half of that);
# - every single face changes by >= 0.03 levels (~1 pixel's worth of a full-contrast change;
#   the worst cases are dark features on dark skin in dim light, at 32 px), with at least one
#   pixel channel changing by >= 12 levels (a change that can be seen, not rounding).
# Over 1,536 faces (3 seeds) the weakest attributes measured: group means >= 0.2 (Big_Nose,
# Wearing_Lipstick), single faces >= 0.05 and max-pixel changes >= 13 at 32 px.
MEAN_THRESHOLD = 0.15
FACE_THRESHOLD = 0.03
PIXEL_THRESHOLD = 12


@pytest.mark.parametrize("size", [32, 64])
def test_every_attribute_visibly_changes_the_same_face(size):
    attrs = sample_attributes(32, seed=11)
    report = {}
    for name in ATTRIBUTES:
        on, off = _held(name, attrs)
        a = render_faces(on, size, seed=11).astype(int)
        b = render_faces(off, size, seed=11).astype(int)
        diff = np.abs(a - b)
        per_face = diff.mean(axis=(1, 2, 3))
        report[name] = (per_face.mean(), per_face.min(), diff.max(axis=(1, 2, 3)).min())
    weak = {k: v for k, v in report.items()
            if v[0] < MEAN_THRESHOLD or v[1] < FACE_THRESHOLD or v[2] < PIXEL_THRESHOLD}
    assert not weak, f"attributes too faint at {size} px (mean, min face, min max-pixel): {weak}"
    same = render_faces(attrs, size, seed=11)
    assert np.array_equal(same, render_faces(attrs, size, seed=11))


def test_attributes_change_the_right_region():
    attrs = sample_attributes(16, seed=12)
    def changed_rows(name):
        on, off = _held(name, attrs)
        d = np.abs(render_faces(on, 64, seed=12).astype(int) - render_faces(off, 64, seed=12))
        rows = d.sum(axis=(0, 2, 3))
        return (rows * np.arange(64)).sum() / rows.sum()  # centre of mass of the change, in rows
    assert changed_rows("Wearing_Hat") < 22 < changed_rows("Eyeglasses") < changed_rows("Mustache")
    assert changed_rows("Smiling") > 36


# -- variety ------------------------------------------------------------------------------------


def test_faces_are_varied():
    images = _faces(64, 64, seed=0).astype(float)
    flat = images.reshape(64, -1)
    gaps = [np.abs(flat[i] - flat[i + 1:]).mean(axis=1).min() for i in range(63)]
    assert min(gaps) > 10  # every pair of the 64 faces differs by > 10 grey levels on average
    centre = images[:, 26:40, 24:40].mean(axis=(1, 2))  # cheeks and nose: skin and lighting
    corner = images[:, :8, :8].mean(axis=(1, 2))  # background
    assert centre.mean(axis=1).std() > 20  # skin tones and lighting vary widely
    assert corner.std(axis=0).mean() > 30  # background colours vary
    # Pose and size: where the face's dark features (eyes, brows, mouth) sit varies.
    dark = images.mean(axis=3) < images.mean(axis=(1, 2, 3))[:, None, None] * 0.5
    dark = dark[:, 16:52, 12:52]
    cols = (dark.sum(axis=1) * np.arange(40)).sum(axis=1) / np.maximum(dark.sum(axis=(1, 2)), 1)
    assert cols.std() > 1.0  # pixels


# -- priors -------------------------------------------------------------------------------------


def test_attribute_priors_and_dependencies():
    attrs = sample_attributes(5000, seed=1)
    assert attrs.dtype == np.float32 and set(np.unique(attrs)) <= {0.0, 1.0}
    freq = dict(zip(ATTRIBUTES, attrs.mean(axis=0)))
    assert all(0.1 <= f <= 0.7 for f in freq.values()), freq
    a = {name: attrs[:, i] > 0.5 for i, name in enumerate(ATTRIBUTES)}
    assert (sum(a[c].astype(int) for c in HAIR_COLOURS) <= 1).all()  # one colour at most
    assert (~np.any([a[c] for c in HAIR_COLOURS], axis=0)).mean() > 0.1  # some auburn
    assert not (a["Bald"] & a["Bangs"]).any()
    assert a["Male"][a["Mustache"]].mean() > 0.95 and a["Male"][a["Goatee"]].mean() > 0.95
    assert a["Male"][a["Wearing_Lipstick"]].mean() < 0.1
    opened, smiling = a["Mouth_Slightly_Open"], a["Smiling"]
    assert opened[smiling].mean() > opened[~smiling].mean()


# -- the PyDataset ------------------------------------------------------------------------------


def test_dataset_length_and_batches():
    ds = synthetic_faces(n=100, image_size=32, batch_size=16)
    assert len(ds) == 6 and ds.num_images == 100 and ds.image_size == 32
    batch = ds[5]
    assert batch.shape == (16, 32, 32, 3) and batch.dtype == np.uint8
    assert len(synthetic_faces(n=100, image_size=32, batch_size=16, drop_remainder=False)) == 7
    ordered = synthetic_faces(n=100, image_size=32, batch_size=16, drop_remainder=False,
                              shuffle=False)
    assert ordered[6].shape[0] == 4
    with pytest.raises(IndexError):
        ds[6]


def test_dataset_images_and_attributes_mode():
    ds = SyntheticFaces(n=32, image_size=32, batch_size=8, attributes="all", shuffle=False)
    images, attrs = ds[1]
    assert images.shape == (8, 32, 32, 3) and attrs.shape == (8, len(ATTRIBUTES))
    assert attrs.dtype == np.float32
    np.testing.assert_array_equal(attrs, sample_attributes(8, start=8))
    np.testing.assert_array_equal(images, _faces(8, 32, start=8))
    assert ds.attribute_names == ATTRIBUTES
    all_images, all_attrs = ds.as_numpy()
    assert all_images.shape == (32, 32, 32, 3) and all_attrs.shape == (32, len(ATTRIBUTES))
    np.testing.assert_array_equal(all_images[8:16], images)


def test_dataset_attribute_selection_keeps_the_given_order():
    names = ["Smiling", "Male", "Eyeglasses"]
    ds = SyntheticFaces(n=32, image_size=16, batch_size=8, attributes=names, shuffle=False)
    assert ds.attribute_names == tuple(names)
    _, attrs = ds[0]
    full = sample_attributes(32)
    np.testing.assert_array_equal(attrs, full[:8][:, [COL[n] for n in names]])
    np.testing.assert_array_equal(ds.attributes, full[:, [COL[n] for n in names]])
    assert SyntheticFaces(n=8, image_size=16, batch_size=8).attributes.shape == (8, len(ATTRIBUTES))


def test_shuffle_changes_order_between_epochs_but_not_the_images():
    ds = SyntheticFaces(n=48, image_size=16, batch_size=8, seed=5)
    def epoch():
        batches = [ds[i] for i in range(len(ds))]
        ds.on_epoch_end()
        return np.concatenate(batches)
    e1, e2 = epoch(), epoch()
    assert not np.array_equal(e1, e2)
    key = lambda imgs: sorted(im.tobytes() for im in imgs)  # noqa: E731
    assert key(e1) == key(e2) == key(ds.as_numpy()[0])
    again = SyntheticFaces(n=48, image_size=16, batch_size=8, seed=5)
    np.testing.assert_array_equal(again[0], e1[:8])  # the epoch order is deterministic too
    unshuffled = SyntheticFaces(n=48, image_size=16, batch_size=8, seed=5, shuffle=False)
    first = unshuffled[0]
    unshuffled.on_epoch_end()
    np.testing.assert_array_equal(unshuffled[0], first)


def test_cache_renders_each_face_once(monkeypatch):
    calls = []
    original = synthetic.render_faces
    def counting(attributes, *args, **kwargs):
        calls.append(len(attributes))
        return original(attributes, *args, **kwargs)
    monkeypatch.setattr(synthetic, "render_faces", counting)
    ds = SyntheticFaces(n=32, image_size=16, batch_size=8)
    for _ in range(2):
        for i in range(len(ds)):
            ds[i]
        ds.on_epoch_end()
    assert sum(calls) == 32
    nocache = SyntheticFaces(n=32, image_size=16, batch_size=8, cache=False)
    nocache[0], nocache[0]
    assert sum(calls) == 48


def test_errors_name_the_bad_value_and_what_was_expected():
    with pytest.raises(AttributeNameError, match="Not_An_Attribute.*Smiling"):
        SyntheticFaces(n=16, batch_size=8, attributes=["Smiling", "Not_An_Attribute"])
    for size in (20, 12, 264, 0, "64", 64.0):
        with pytest.raises(DataError, match="multiple of 8"):
            SyntheticFaces(n=16, batch_size=8, image_size=size)
    with pytest.raises(DataError, match="multiple of 8"):
        render_faces(sample_attributes(1), 33)
    with pytest.raises(DataError, match="split.*'dev'"):
        SyntheticFaces(n=16, batch_size=8, split="dev")
    with pytest.raises(DataError, match="n must be"):
        SyntheticFaces(n=0)
    with pytest.raises(DataError, match="batch_size must be"):
        SyntheticFaces(n=16, batch_size=-1)
    with pytest.raises(DataError, match="no full batch"):
        SyntheticFaces(n=10, batch_size=16)
    with pytest.raises(DataError, match=f"\\(n, {len(ATTRIBUTES)}\\)"):
        render_faces(np.zeros((2, 3)), 32)
    with pytest.raises(DataError, match="seed"):
        sample_attributes(2, seed=-1)
    with pytest.raises(DataError, match="indices"):
        render_faces(sample_attributes(2), 32, indices=[0, 1, 2])


def test_module_does_not_import_tensorflow():
    code = "import sys, kerasgen.data.synthetic; print('tensorflow' in sys.modules)"
    env = dict(os.environ, KERAS_BACKEND="jax")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=root, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


# -- training on it -----------------------------------------------------------------------------


@pytest.mark.backend
def test_model_fit_on_the_dataset():
    ds = SyntheticFaces(n=64, image_size=16, batch_size=16, attributes=["Male", "Smiling"])
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Rescaling(1.0 / 255),
        keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict(ds[0][0], verbose=0).shape == (16, 2)


def test_workers_fill_the_cache_from_several_threads_with_the_same_faces():
    import concurrent.futures

    from kerasgen.data.synthetic import default_workers

    assert 1 <= default_workers() <= 8
    # With the cache, batches are copies from memory on the training thread (1), except under
    # TensorFlow, where Keras needs 2 to read a PyDataset without tf.data's autotuning.
    least = 2 if keras.backend.backend() == "tensorflow" else 1
    assert synthetic_faces(n=64, image_size=16, batch_size=32).workers == least
    assert synthetic_faces(n=64, image_size=16, batch_size=32,
                           cache=False).workers == max(least, default_workers())
    assert synthetic_faces(n=64, image_size=16, batch_size=32, workers=3).workers == 3
    with pytest.raises(DataError, match="workers must be an integer >= 1"):
        synthetic_faces(n=64, image_size=16, batch_size=32, workers=0)
    drawn = synthetic_faces(n=512, image_size=16, batch_size=16, cache=False, shuffle=False)
    for attempt in range(3):
        cached = synthetic_faces(n=512, image_size=16, batch_size=16, shuffle=False)
        order = np.random.default_rng(attempt).permutation(2 * len(cached)) % len(cached)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            batches = dict(zip(order, pool.map(cached.__getitem__, order)))
        for i in range(len(cached)):
            np.testing.assert_array_equal(batches[i], drawn[i])
            np.testing.assert_array_equal(cached[i], drawn[i])


@pytest.mark.backend
def test_fill_cache_draws_every_face_once_in_threads_and_fit_fills_it_first():
    drawn = synthetic_faces(n=300, image_size=16, batch_size=32, cache=False, shuffle=False)
    expected = np.concatenate([drawn[i] for i in range(len(drawn))])
    cached = synthetic_faces(n=300, image_size=16, batch_size=32, shuffle=False)
    first = cached[2]  # drawn on demand, before the fill
    assert cached.fill_cache(threads=3) == 300 - 32  # the faces not drawn yet
    assert cached.fill_cache() == 0
    np.testing.assert_array_equal(cached._images[: len(expected)], expected)
    np.testing.assert_array_equal(cached[2], first)
    with pytest.raises(DataError, match="fill_cache needs a data set made with cache=True"):
        drawn.fill_cache()
    with pytest.raises(DataError, match="threads must be an integer >= 1"):
        synthetic_faces(n=64, image_size=16, batch_size=32).fill_cache(threads=0)

    class Seen(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                self.rendered = int(data._rendered.sum())

    data = synthetic_faces(n=256, image_size=16, batch_size=32, attributes=["Male"])
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen = Seen()
    model.fit(data, epochs=1, steps_per_epoch=1, verbose=0, callbacks=[seen])
    assert seen.rendered == 256  # all faces drawn before the first step


@pytest.mark.only_backend("tensorflow")
def test_keras_reads_the_faces_without_tf_data_autotuning_under_tensorflow():
    """Keras wraps a single-worker PyDataset in a tf.data pipeline with autotuning on, whose
    thread holds up the end of each epoch until its next wake (up to a minute); with 2 or more
    workers it reads the data set through its own threads with autotuning off."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    def autotuned(data):
        return PyDatasetAdapter(data, shuffle=False).get_tf_dataset().options().autotune.enabled

    for cache in (True, False):
        data = synthetic_faces(n=64, image_size=16, batch_size=32, cache=cache)
        assert autotuned(data) is False
    # What the default avoids: one worker, chosen explicitly, keeps Keras' autotuned pipeline.
    assert autotuned(synthetic_faces(n=64, image_size=16, batch_size=32, workers=1)) is not False
