"""Real-data loaders (`celeba`, `celeba_tfds`, `image_folder`) on tiny fake data sets.

The fake CelebA has 12 aligned 178x218 JPEGs: a black border round the centre 160x160
square, whose colour encodes the image's index (red = 10 + 20 i), so that a batch tells
which image each row is and what the crop kept. Attribute j of image i is +1 when
(i + j) % 3 == 0, else -1. Images 1-8 are train, 9-10 validation, 11-12 test.
"""

import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from kerasgen.data.celeba import CELEBA_ATTRIBUTES
from kerasgen.data.celeba import celeba
from kerasgen.data.celeba import celeba_tfds
from kerasgen.data.folder import image_folder
from kerasgen.errors import AttributeNameError
from kerasgen.errors import DataError

N_IMAGES = 12
SPLIT_SIZES = {"train": 8, "validation": 2, "test": 2, "all": 12}
TOLERANCE = 12  # JPEG and resize error on flat colours, in 0..255 levels


def centre_colour(i):
    return np.array([10 + 20 * i, 200 - 10 * i, 128])


def index_of(image):
    """The fake image's index, from the red level of the middle of a batch row."""
    h, w = image.shape[:2]
    return int(round((float(image[h // 2, w // 2, 0]) - 10) / 20))


def expected_attribute(i, name):
    return 1.0 if (i + CELEBA_ATTRIBUTES.index(name)) % 3 == 0 else 0.0


def write_jpeg(path, array):
    Image.fromarray(np.asarray(array, np.uint8)).save(path, quality=95, subsampling=0)


@pytest.fixture
def celeba_dir(tmp_path):
    root = tmp_path / "celeba_root"
    images = root / "img_align_celeba"
    images.mkdir(parents=True)
    for i in range(N_IMAGES):
        array = np.zeros((218, 178, 3), np.uint8)
        array[29:189, 9:169] = centre_colour(i)
        write_jpeg(images / f"{i + 1:06d}.jpg", array)
    lines = [str(N_IMAGES), " ".join(CELEBA_ATTRIBUTES)]
    for i in range(N_IMAGES):  # the official spacing: "000001.jpg -1  1  1 -1 ..."
        values = "".join(f"{1 if (i + j) % 3 == 0 else -1:3d}" for j in range(40))
        lines.append(f"{i + 1:06d}.jpg{values}")
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    parts = [0] * 8 + [1] * 2 + [2] * 2
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate(parts))
    )
    return root


def collect(dataset):
    """All batches of one epoch, concatenated: images, or (images, attributes)."""
    batches = list(dataset.as_numpy_iterator())
    if isinstance(batches[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*batches))
    return np.concatenate(batches)


# ---------------------------------------------------------------------------------------------
# celeba(path)


@pytest.mark.parametrize("split", ["train", "validation", "test", "all"])
def test_celeba_splits_shapes_and_order(celeba_dir, split):
    dataset = celeba(celeba_dir, split=split, batch_size=2, shuffle=False)
    assert dataset.element_spec.shape == (2, 64, 64, 3)
    images = collect(dataset)
    assert images.dtype == np.uint8 and images.shape == (SPLIT_SIZES[split], 64, 64, 3)
    first = {"train": 0, "validation": 8, "test": 10, "all": 0}[split]
    indices = list(range(first, first + SPLIT_SIZES[split]))
    assert [index_of(x) for x in images] == indices
    centres = images[:, 32, 32].astype(int)  # 0..255 levels, never scaled to [-1, 1]
    assert np.abs(centres - [centre_colour(i) for i in indices]).max() <= TOLERANCE


def test_celeba_shuffles_every_epoch_reproducibly(celeba_dir):
    def orders(seed):
        dataset = celeba(celeba_dir, split="all", batch_size=4, seed=seed)
        return [[index_of(x) for x in collect(dataset)] for _ in range(2)]

    first, second = orders(seed=3)
    assert sorted(first) == list(range(N_IMAGES)) and first != second
    assert orders(seed=3) == [first, second]


def test_celeba_torchvision_layout_and_home(celeba_dir, tmp_path, monkeypatch):
    # torchvision keeps the files in <root>/celeba/; "~" is expanded.
    os.rename(celeba_dir, tmp_path / "celeba")
    monkeypatch.setenv("HOME", str(tmp_path))
    images = collect(celeba("~", split="test", batch_size=1, shuffle=False))
    assert [index_of(x) for x in images] == [10, 11]


def test_celeba_attributes_in_asked_order_matched_to_images(celeba_dir):
    names = ["Young", "Male", "5_o_Clock_Shadow", "Smiling"]
    dataset = celeba(celeba_dir, split="train", attributes=names, batch_size=4, seed=1)
    assert dataset.element_spec[1].shape == (4, 4)
    images, attributes = collect(dataset)
    assert attributes.dtype == np.float32
    for image, row in zip(images, attributes):
        i = index_of(image)
        np.testing.assert_array_equal(row, [expected_attribute(i, n) for n in names])


def test_celeba_all_attributes(celeba_dir):
    images, attributes = collect(
        celeba(celeba_dir, split="all", attributes="all", batch_size=6, shuffle=False)
    )
    expected = [[expected_attribute(i, n) for n in CELEBA_ATTRIBUTES] for i in range(N_IMAGES)]
    np.testing.assert_array_equal(attributes, expected)
    assert set(np.unique(attributes)) == {0.0, 1.0}


def test_celeba_crop(celeba_dir):
    def first_image(**kwargs):
        return collect(celeba(celeba_dir, split="all", batch_size=1, shuffle=False, **kwargs))[0]

    centre = centre_colour(0)
    cropped = first_image().astype(int)  # crop=160: the centre square only
    assert np.abs(cropped - centre).max() <= TOLERANCE
    whole = first_image(crop=None).astype(int)  # whole 178x218 image: black border included
    assert whole[0, 0].max() <= TOLERANCE and whole[0, 32].max() <= TOLERANCE
    assert np.abs(whole[32, 32] - centre).max() <= TOLERANCE
    box = first_image(crop=(200, 160), image_size=32).astype(int)  # (height, width)
    assert box[0, 16].max() <= TOLERANCE  # rows 9..209 reach into the black top and bottom
    assert np.abs(box[16, 0] - centre).max() <= TOLERANCE  # columns 9..169: centre only


def test_celeba_cache_gives_same_images_reshuffled(celeba_dir):
    dataset = celeba(celeba_dir, split="all", batch_size=3, cache=True, seed=5)
    epochs = [collect(dataset) for _ in range(2)]
    orders = [[index_of(x) for x in images] for images in epochs]
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(N_IMAGES))
    assert orders[0] != orders[1]


# ---------------------------------------------------------------------------------------------
# Augmentation


@pytest.fixture
def asymmetric_dir(tmp_path):
    """16 PNGs, red on the left half and blue on the right (so a flip shows)."""
    folder = tmp_path / "asymmetric"
    folder.mkdir()
    for i in range(16):
        array = np.zeros((32, 32, 3), np.uint8)
        array[:, :16] = (200, 40 + 8 * i, 60)
        array[:, 16:] = (30, 40 + 8 * i, 220)
        Image.fromarray(array).save(folder / f"{i:02d}.png")
    return folder


def test_flip_is_random_per_epoch_and_seeded(asymmetric_dir):
    def flipped(seed):
        dataset = image_folder(asymmetric_dir, image_size=32, batch_size=8, flip=True, seed=seed)
        return [collect(dataset)[:, 0, 0, 0] < 128 for _ in range(2)]  # left pixel blue

    first, second = flipped(seed=0)
    assert 0 < first.sum() < 16 and (first != second).any()
    again = flipped(seed=0)
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])
    plain = collect(image_folder(asymmetric_dir, image_size=32, batch_size=8))
    assert (plain[:, 0, 0, 0] > 128).all()


def test_color_jitter_changes_pixels_reproducibly(asymmetric_dir):
    def epoch(**kwargs):
        return collect(image_folder(asymmetric_dir, image_size=16, batch_size=16, shuffle=False,
                                    **kwargs)).astype(int)

    plain = epoch()
    jittered = epoch(color_jitter=0.5, seed=7)
    assert jittered.dtype == plain.dtype and np.abs(jittered - plain).mean() > 5
    np.testing.assert_array_equal(jittered, epoch(color_jitter=0.5, seed=7))
    assert not np.array_equal(jittered, epoch(color_jitter=0.5, seed=8))
    brightness_only = epoch(color_jitter={"brightness": 0.5}, seed=7)
    # Brightness scales every channel alike. Compare green (<= 160) with blue (60): neither can
    # saturate at a factor <= 1.5, unlike red (200), which clips at 255.
    ratio = brightness_only[:, 0, 0, 1] / plain[:, 0, 0, 1]
    np.testing.assert_allclose(brightness_only[:, 0, 0, 2] / plain[:, 0, 0, 2], ratio, atol=0.02)
    assert ratio.min() < 0.95 and ratio.max() > 1.05


# ---------------------------------------------------------------------------------------------
# celeba_tfds()


def test_celeba_tfds_with_mock_data():
    import tensorflow_datasets as tfds

    names = ["Smiling", "Bald", "Young"]
    with tfds.testing.mock_data(num_examples=6):
        raw = list(tfds.load("celeb_a", split="validation").as_numpy_iterator())
        dataset = celeba_tfds(split="validation", attributes=names, batch_size=3,
                              image_size=32, shuffle=False)
        images, attributes = collect(dataset)
        flipped = collect(celeba_tfds(split="validation", batch_size=3, image_size=32,
                                      shuffle=False, flip=True, seed=1))
    assert images.dtype == np.uint8 and images.shape == (6, 32, 32, 3)
    assert attributes.dtype == np.float32 and attributes.shape == (6, 3)
    expected = [[float(example["attributes"][n]) for n in names] for example in raw]
    np.testing.assert_array_equal(attributes, expected)
    assert flipped.shape == images.shape and not np.array_equal(flipped, images)


def test_pipelines_run_without_tf_data_autotuning(celeba_dir, asymmetric_dir):
    """Releasing an autotuned data set's iterator (every epoch of `fit`) waits for tf.data's
    autotuning thread to wake, up to a minute later; kerasgen's data sets set their own
    parallelism and turn autotuning off."""
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        tfds_data = celeba_tfds(split="validation", batch_size=3, image_size=32)
    for dataset in (celeba(celeba_dir, image_size=16, batch_size=4), tfds_data,
                    image_folder(asymmetric_dir, image_size=16, batch_size=4, flip=True)):
        assert dataset.options().autotune.enabled is False


def test_celeba_tfds_not_prepared_says_where(tmp_path):
    with pytest.raises(DataError, match="not prepared|no prepared") as error:
        celeba_tfds(data_dir=tmp_path)
    assert str(tmp_path) in str(error.value) and "download=True" in str(error.value)


# ---------------------------------------------------------------------------------------------
# image_folder()


def test_image_folder_mixed_formats_nested(tmp_path):
    root = tmp_path / "lfw"
    (root / "Ann_Lee").mkdir(parents=True)
    (root / "Bob" / "deeper").mkdir(parents=True)
    colour = np.array([200, 100, 50], np.uint8)
    solid = Image.fromarray(np.full((40, 40, 3), colour))
    write_jpeg(root / "Ann_Lee" / "a.jpg", np.full((40, 40, 3), colour))
    solid.save(root / "Ann_Lee" / "b.PNG")
    solid.save(root / "Bob" / "c.ppm")
    solid.save(root / "Bob" / "deeper" / "d.bmp")
    solid.save(root / "Bob" / "deeper" / "e.gif")
    Image.new("L", (64, 64), 90).save(root / "Bob" / "f.pgm")
    Image.new("L", (30, 30), 90).save(root / "g.png")  # grayscale PNG
    Image.new("RGBA", (30, 30), (200, 100, 50, 0)).save(root / "h.png")  # alpha is dropped
    (root / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0\1junk")

    images = collect(image_folder(root, image_size=16, batch_size=8, shuffle=False))
    assert images.shape == (8, 16, 16, 3) and images.dtype == np.uint8
    # Sorted relative paths: Ann_Lee/a.jpg, Ann_Lee/b.PNG, Bob/c.ppm, Bob/deeper/d.bmp,
    # Bob/deeper/e.gif, Bob/f.pgm, g.png, h.png.
    for k in (0, 1, 2, 3, 4, 7):
        assert np.abs(images[k].astype(int) - colour).max() <= 8, k
    for k in (5, 6):  # grayscale -> three equal channels
        assert (images[k] == 90).all(), k
    top_only = collect(image_folder(root, recursive=False, batch_size=2, shuffle=False))
    assert top_only.shape[0] == 2


def test_image_folder_non_square_is_centre_cropped_not_stretched(tmp_path):
    array = np.zeros((80, 40, 3), np.uint8)  # 40 wide, 80 tall: blue bands above and below
    array[:, :] = (0, 0, 255)
    array[20:60] = (255, 0, 0)
    Image.fromarray(array).save(tmp_path / "tall.png")
    image = collect(image_folder(tmp_path, image_size=20, batch_size=1))[0]
    assert (image == (255, 0, 0)).all()
    stretched = collect(image_folder(tmp_path, image_size=20, batch_size=1, crop=(80, 40)))[0]
    assert (stretched[0] == (0, 0, 255)).all()


def test_lfwcrop_pgm_folder_loads_in_memory(tmp_path):
    for i in range(5):
        Image.new("L", (64, 64), 40 * i).save(tmp_path / f"face_{i}.pgm")
    images = collect(image_folder(tmp_path, batch_size=5, shuffle=False))
    assert images.shape == (5, 64, 64, 3)
    np.testing.assert_array_equal(images[:, 10, 10], [[40 * i] * 3 for i in range(5)])


# ---------------------------------------------------------------------------------------------
# Errors


def test_missing_folders(tmp_path, celeba_dir):
    with pytest.raises(DataError, match="does not exist") as error:
        celeba(tmp_path / "nowhere")
    assert "nowhere" in str(error.value)
    with pytest.raises(DataError, match="img_align_celeba"):
        celeba(tmp_path)
    with pytest.raises(DataError, match="nowhere.*does not exist"):
        image_folder(tmp_path / "nowhere")


def test_missing_attribute_and_partition_files(celeba_dir):
    os.remove(celeba_dir / "list_attr_celeba.txt")
    assert collect(celeba(celeba_dir, batch_size=8)).shape[0] == 8  # images only: not needed
    with pytest.raises(DataError, match="list_attr_celeba.txt is missing"):
        celeba(celeba_dir, attributes=["Male"])
    os.remove(celeba_dir / "list_eval_partition.txt")
    with pytest.raises(DataError, match="list_eval_partition.txt is missing.*split='test'"):
        celeba(celeba_dir, split="test")
    assert collect(celeba(celeba_dir, split="all", batch_size=12)).shape[0] == 12


def test_malformed_attribute_file_names_the_line(celeba_dir):
    path = celeba_dir / "list_attr_celeba.txt"
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace("-1", "0", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"list_attr_celeba.txt, line 6.*000004.jpg"):
        celeba(celeba_dir, attributes=["Male"])


def test_listed_image_missing_on_disk(celeba_dir):
    os.remove(celeba_dir / "img_align_celeba" / "000003.jpg")
    with pytest.raises(DataError, match=r"000003.jpg: missing \(listed in list_eval_partition"):
        celeba(celeba_dir)
    assert collect(celeba(celeba_dir, split="test", batch_size=2)).shape[0] == 2  # not listed


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda data: data[: len(data) // 2], "corrupt or truncated"),
        (lambda data: os.urandom(len(data)), "not a JPEG"),
        (lambda data: b"", "empty file"),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_corrupt_image_raises_when_built(celeba_dir, damage, reason):
    path = celeba_dir / "img_align_celeba" / "000005.jpg"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=f"000005.jpg: {reason}") as error:
        celeba(celeba_dir, attributes=["Male"])
    assert "on_error='skip'" in str(error.value)


def test_skip_leaves_bad_images_out_and_warns(celeba_dir):
    folder = celeba_dir / "img_align_celeba"
    (folder / "000002.jpg").write_bytes(b"garbage" * 10)
    data = (folder / "000004.jpg").read_bytes()
    (folder / "000004.jpg").write_bytes(data[:-300])
    os.remove(folder / "000006.jpg")
    with pytest.warns(UserWarning, match=r"Skipping 3 of 8 images.*000002.jpg.*000004.jpg"):
        dataset = celeba(celeba_dir, attributes=["Male"], batch_size=1, shuffle=False,
                         on_error="skip")
    images, attributes = collect(dataset)
    assert [index_of(x) for x in images] == [0, 2, 4, 6, 7]
    np.testing.assert_array_equal(attributes[:, 0], [expected_attribute(i, "Male")
                                                     for i in (0, 2, 4, 6, 7)])


def test_damage_that_passes_the_quick_check(asymmetric_dir, tmp_path):
    """A JPEG with intact ends but garbage inside: skipped while reading in "skip" mode,
    caught up front by validate="full"."""
    array = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    write_jpeg(tmp_path / "x.jpg", array)
    data = bytearray((tmp_path / "x.jpg").read_bytes())
    data[20 : len(data) - 2] = b"\xff" * (len(data) - 22)
    (asymmetric_dir / "bad.jpg").write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the quick check finds nothing wrong
        dataset = image_folder(asymmetric_dir, batch_size=1, on_error="skip")
    assert collect(dataset).shape[0] == 16
    with pytest.raises(DataError, match="bad.jpg: corrupt"):
        image_folder(asymmetric_dir, validate="full")


def test_unknown_attribute_lists_valid_names(celeba_dir):
    with pytest.raises(AttributeNameError, match="'Smile'.*did you mean 'Smiling'") as error:
        celeba(celeba_dir, attributes=["Male", "Smile"])
    assert isinstance(error.value, KeyError)
    assert all(name in str(error.value) for name in CELEBA_ATTRIBUTES)
    with pytest.raises(AttributeNameError, match="Beard"):
        celeba_tfds(attributes=["Beard"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"on_error": "ignore"}, "on_error must be one of 'raise', 'skip'"),
        ({"split": "valid"}, "split must be one of"),
        ({"crop": (160,)}, "crop must be None, a positive integer"),
        ({"crop": 0}, "crop must be"),
        ({"image_size": 0}, "image_size must be an integer >= 1"),
        ({"color_jitter": -0.1}, "color_jitter must be"),
        ({"color_jitter": {"hue": 0.1}}, "unknown keys"),
        ({"validate": "none"}, "validate must be one of"),
        ({"attributes": []}, "non-empty list"),
        ({"batch_size": 9}, "8 usable images, fewer than batch_size=9"),
    ],
)
def test_bad_arguments(celeba_dir, kwargs, message):
    with pytest.raises(DataError, match=message):
        celeba(celeba_dir, **kwargs)


def test_empty_folder_and_folder_without_images(tmp_path):
    with pytest.raises(DataError, match=r"has no image files; looked for \.jpg") as error:
        image_folder(tmp_path)
    assert str(tmp_path) in str(error.value)
    (tmp_path / "readme.txt").write_text("hi")
    (tmp_path / "sub").mkdir()
    with pytest.raises(DataError, match="found 1 other files such as readme.txt.*recursive=True"):
        image_folder(tmp_path, recursive=False)


def test_import_does_not_import_tensorflow():
    code = (
        "import sys, kerasgen.data.celeba, kerasgen.data.folder, kerasgen.data.pipeline; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'"
    )
    env = dict(os.environ, KERAS_BACKEND="jax")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# Training under the current Keras backend


class _ReconstructionLoss(keras.layers.Layer):
    def call(self, images, reconstruction):
        self.add_loss(keras.ops.mean(keras.ops.square(images - reconstruction)))
        return reconstruction


@pytest.mark.backend
def test_fit_on_image_folder(asymmetric_dir):
    dataset = image_folder(asymmetric_dir, image_size=16, batch_size=4, flip=True,
                           color_jitter=0.2)
    inputs = keras.Input((16, 16, 3), dtype="uint8")
    images = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(images)
    reconstruction = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(hidden)
    model = keras.Model(inputs, _ReconstructionLoss()(images, reconstruction))
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(dataset, epochs=2, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2 and all(np.isfinite(losses))
