"""CelebA: 202,599 aligned celebrity faces (178x218) with 40 binary attributes.

Two readers with the same output: `celeba(path)` reads the official files from a folder, and
`celeba_tfds()` reads the TensorFlow Datasets `celeb_a` build where a user has prepared it.
Both crop, resize and augment through `kerasgen.data.pipeline`, and yield `uint8` images
`(batch, image_size, image_size, 3)`, or `(images, attributes)` with `float32` 0/1 attributes
`(batch, k)` in the order they were asked for.
"""

import difflib
import os
import warnings

import numpy as np

from kerasgen.data import pipeline as pl
from kerasgen.errors import AttributeNameError
from kerasgen.errors import DataError

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip
SPLITS = ("train", "validation", "test")
IMAGE_DIR = "img_align_celeba"
ATTRIBUTE_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")  # what `split="all"` lists without a file list


def _check_attributes(attributes):
    """`None`, `"all"`, a name or a list of names -> None or a tuple of CelebA names."""
    if attributes is None:
        return None
    if isinstance(attributes, str):
        attributes = CELEBA_ATTRIBUTES if attributes == "all" else [attributes]
    names = tuple(attributes)
    if not names:
        raise DataError('attributes must be None, "all" or a non-empty list of CelebA names.')
    for name in names:
        if name not in CELEBA_ATTRIBUTES:
            close = difflib.get_close_matches(str(name), CELEBA_ATTRIBUTES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise AttributeNameError(
                f"unknown CelebA attribute {name!r}{hint}; the 40 CelebA attributes are: "
                f"{', '.join(CELEBA_ATTRIBUTES)}."
            )
    if len(set(names)) != len(names):
        raise DataError(f"attributes must not repeat a name; received {list(names)}.")
    return names


def _find_root(path):
    """The folder holding `img_align_celeba/`: `path` itself or `path/celeba` (torchvision)."""
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isdir(path):
        what = "is not a folder" if os.path.exists(path) else "does not exist"
        raise DataError(f"CelebA folder {path} {what}.")
    for root in (path, os.path.join(path, "celeba")):
        if os.path.isdir(os.path.join(root, IMAGE_DIR)):
            return root
    raise DataError(
        f"CelebA folder {path} has no {IMAGE_DIR}/ (nor celeba/{IMAGE_DIR}/); expected the "
        f"official layout: {IMAGE_DIR}/000001.jpg ..., {ATTRIBUTE_FILE}, {PARTITION_FILE}."
    )


def _read_lines(root, filename, needed_for):
    path = os.path.join(root, filename)
    if not os.path.isfile(path):
        raise DataError(f"{path} is missing; it is needed for {needed_for}.")
    with open(path) as f:
        return path, f.read().splitlines()


def _first_bad_row(path, lines, first, width, allowed):
    """A DataError naming the first line of `lines[first:]` that is not `name v1 .. vwidth`."""
    for number, line in enumerate(lines[first:], start=first + 1):
        fields = line.split()
        if fields and (len(fields) != width + 1 or not set(fields[1:]) <= allowed):
            return DataError(
                f"{path}, line {number}: expected an image name and {width} values in "
                f"{{{', '.join(sorted(allowed))}}}; found {line.strip()!r}."
            )
    return DataError(f"{path} could not be parsed.")


def _read_attributes(root):
    """The attribute file -> (image names, column names, int8 values of -1/+1)."""
    path, lines = _read_lines(root, ATTRIBUTE_FILE, "attributes")
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DataError(
            f"{path} should start with the image count, then the attribute names; found "
            f"{lines[:2]!r}."
        )
    count, columns = int(lines[0]), lines[1].split()
    names, rows = [], []
    for line in lines[2:]:
        fields = line.split(None, 1)
        if fields:
            names.append(fields[0])
            rows.append(fields[1] if len(fields) == 2 else "")
    try:
        with warnings.catch_warnings():  # numpy 1.x warns and stops at a token that is no
            warnings.simplefilter("ignore")  # integer; numpy 2.x raises ValueError
            values = np.fromstring(" ".join(rows), dtype=np.int8, sep=" ")
    except ValueError:
        raise _first_bad_row(path, lines, 2, len(columns), {"-1", "1"}) from None
    if values.size != len(names) * len(columns) or not np.isin(values, (-1, 1)).all():
        raise _first_bad_row(path, lines, 2, len(columns), {"-1", "1"})
    if count != len(names):
        raise DataError(
            f"{path} says it lists {count} images but lists {len(names)}; is it truncated?"
        )
    return names, columns, values.reshape(len(names), len(columns))


def _read_partition(root, split):
    """The image names of `split` in the partition file, in file order."""
    path, lines = _read_lines(root, PARTITION_FILE, f"split={split!r} (use split='all' without it)")
    rows = [line.split() for line in lines if line.strip()]
    if any(len(row) != 2 or row[1] not in ("0", "1", "2") for row in rows):
        raise _first_bad_row(path, lines, 0, 1, {"0", "1", "2"})
    wanted = str(SPLITS.index(split))
    return [name for name, part in rows if part == wanted]


def _list_images(root, split, attributes):
    """(image names, float32 0/1 attributes or None, the file the names came from)."""
    if attributes is not None:
        names, columns, values = _read_attributes(root)
        absent = [a for a in attributes if a not in columns]
        if absent:
            raise DataError(
                f"{os.path.join(root, ATTRIBUTE_FILE)} has no column {absent[0]!r}; its "
                f"columns are: {', '.join(columns)}."
            )
        values = (values[:, [columns.index(a) for a in attributes]] > 0).astype(np.float32)
    if split != "all":
        wanted = _read_partition(root, split)
        if attributes is not None:
            row = {name: i for i, name in enumerate(names)}
            unlisted = [name for name in wanted if name not in row]
            if unlisted:
                raise DataError(
                    f"{len(unlisted)} images of {PARTITION_FILE} are not in {ATTRIBUTE_FILE} "
                    f"(in {root}), e.g. {unlisted[0]}; the two files do not match."
                )
            values = values[[row[name] for name in wanted]]
        return wanted, values if attributes is not None else None, PARTITION_FILE
    if attributes is not None:
        return names, values, ATTRIBUTE_FILE
    image_dir = os.path.join(root, IMAGE_DIR)
    names = sorted(
        name for name in os.listdir(image_dir)
        if name.lower().endswith(_IMAGE_EXTENSIONS) and not name.startswith(".")
    )
    return names, None, None


def celeba(
    path,
    *,
    split="train",
    image_size=64,
    crop=160,
    attributes=None,
    batch_size=64,
    shuffle=True,
    seed=0,
    flip=False,
    color_jitter=None,
    drop_remainder=True,
    on_error="raise",
    validate="quick",
    num_parallel_calls=None,
    cache=False,
):
    """CelebA from the official files in a folder, as a batched `tf.data.Dataset`.

    `path` is the folder with `img_align_celeba/` (000001.jpg ...), `list_attr_celeba.txt`
    and `list_eval_partition.txt`, or a folder with a `celeba/` subfolder laid out so (as
    torchvision stores it). `~` is expanded.

    Every listed image is checked before the data set is returned, so that a bad file stops
    the run now, not in the middle of an epoch: missing images, and corrupt or truncated ones
    (a structural check of each file; about 2 s per 10,000 files on a local disk).

    Args:
        path: the CelebA folder.
        split: `"train"`, `"validation"`, `"test"` (from `list_eval_partition.txt`) or
            `"all"` (every image of the attribute file if attributes are asked for, else of
            `img_align_celeba/`; no partition file needed).
        image_size: side of the square output images, in pixels.
        crop: what to keep of each 178x218 image before resizing. An int: the centre square
            of that side; the default 160 keeps the face, as the DCGAN reference does
            (CenterCrop(160), then Resize(64)). A `(height, width)` tuple: that centre box,
            resized to a square. `None`: the whole image, resized to a square, which distorts
            the aspect (faces look wider). A box larger than an image shrinks to fit, keeping
            its aspect ratio.
        attributes: `None` for images only; `"all"` or a list of names from
            `CELEBA_ATTRIBUTES` for `(images, attributes)` batches, columns in that order,
            `float32` 1 where the file says +1 and 0 where it says -1.
        batch_size: images per batch.
        shuffle: shuffle the file list, afresh every epoch.
        seed: seeds the shuffle and the augmentations, so that runs are reproducible.
        flip: random horizontal flips (probability 0.5), different every epoch.
        color_jitter: `None`; a float s, as torchvision's `ColorJitter(s, s, s)` (brightness,
            contrast and saturation factors drawn from `[max(0, 1 - s), 1 + s]`, applied in
            random order); or a dict with some of the keys `brightness`, `contrast`,
            `saturation`.
        drop_remainder: drop the last batch if it is smaller than `batch_size`.
        on_error: `"raise"`: a missing or corrupt image raises `DataError` naming it.
            `"skip"`: such images are left out, with a warning that counts them and names
            the first few; images that pass the check yet fail to decode are skipped too.
        validate: `"quick"`, the structural check, or `"full"`: decode every image with
            Pillow up front (several times slower, catches damage inside the data too).
        num_parallel_calls: parallel decodes; `None`: one per CPU core, up to 8.
        cache: keep the decoded, resized images in memory after the first epoch (before
            augmentation; about 12 KiB per image at 64x64). Later epochs reshuffle them in a
            buffer of about 256 MiB.

    Returns:
        A `tf.data.Dataset` of `uint8` images `(batch_size, image_size, image_size, 3)`, or
        of `(images, attributes)` pairs; usable by `Model.fit` under any Keras backend.
    """
    split = pl.check_choice(split, "split", SPLITS + ("all",))
    attributes = _check_attributes(attributes)
    on_error = pl.check_choice(on_error, "on_error", pl.ON_ERROR)
    validate = pl.check_choice(validate, "validate", pl.VALIDATE)
    pipeline = pl.Pipeline(
        image_size=image_size, crop=pl.check_crop(crop, none_means=pl.FULL),
        batch_size=batch_size, shuffle=shuffle, seed=seed, flip=flip, color_jitter=color_jitter,
        drop_remainder=drop_remainder, num_parallel_calls=num_parallel_calls, cache=cache,
    )
    root = _find_root(path)
    image_dir = os.path.join(root, IMAGE_DIR)
    names, labels, listed_in = _list_images(root, split, attributes)
    if not names:
        raise DataError(f"the CelebA {split!r} split in {root} has no images.")
    on_disk = set(os.listdir(image_dir))
    reasons = [None if name in on_disk else f"missing (listed in {listed_in})" for name in names]
    present = [i for i, reason in enumerate(reasons) if reason is None]
    checked = pl.screen_files([os.path.join(image_dir, names[i]) for i in present], validate)
    for i, reason in zip(present, checked):
        reasons[i] = reason
    keep = pl.keep_good(names, reasons, on_error, image_dir)
    pl.check_batch_count(len(keep), pipeline.batch_size, pipeline.drop_remainder,
                         f"the CelebA {split!r} split in {root}")
    return pipeline.from_files(
        [os.path.join(image_dir, names[i]) for i in keep],
        labels=None if labels is None else labels[keep],
        skip_errors=on_error == "skip",
    )


def celeba_tfds(
    *,
    split="train",
    data_dir=None,
    download=False,
    image_size=64,
    crop=160,
    attributes=None,
    batch_size=64,
    shuffle=True,
    seed=0,
    flip=False,
    color_jitter=None,
    drop_remainder=True,
):
    """CelebA from TensorFlow Datasets' `celeb_a` build, as a batched `tf.data.Dataset`.

    Same output, crop, resize and augmentations as `celeba(path)`; see it for the arguments.
    The data must be prepared in `data_dir` (TFDS's default, `~/tensorflow_datasets` or
    `$TFDS_DATA_DIR`, when `None`), or `download=True` to let TFDS fetch and prepare it
    (its Google Drive source is often over quota; `celeba(path)` reads files downloaded by
    hand). With `shuffle`, TFDS shuffles its record files every epoch and the decoded images
    pass through a shuffle buffer of about 256 MiB.

    Args:
        split: `"train"`, `"validation"` or `"test"`.
        data_dir: where TFDS keeps its data sets; `~` is expanded.
        download: download and prepare the data if it is not there yet.
        (others): as for `celeba`.
    """
    split = pl.check_choice(split, "split", SPLITS)
    attributes = _check_attributes(attributes)
    download = pl.check_bool(download, "download")
    pipeline = pl.Pipeline(
        image_size=image_size, crop=pl.check_crop(crop, none_means=pl.FULL),
        batch_size=batch_size, shuffle=shuffle, seed=seed, flip=flip, color_jitter=color_jitter,
        drop_remainder=drop_remainder,
    )
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if data_dir is not None:
        data_dir = os.path.expanduser(os.fspath(data_dir))
    builder = tfds.builder("celeb_a", data_dir=data_dir)
    if download:
        try:
            builder.download_and_prepare()
        except Exception as e:  # network, quota or disk errors, whatever TFDS raises
            raise DataError(
                f"TFDS could not download and prepare celeb_a in {builder.data_dir_root}: {e}. "
                "Its Google Drive source is often over quota; download CelebA by hand and "
                "use kerasgen.data.celeba(path) instead."
            ) from e
    try:
        examples = builder.as_dataset(
            split=split, shuffle_files=pipeline.shuffle,
            read_config=tfds.ReadConfig(shuffle_seed=pipeline.seeds[0]),
        )
    except AssertionError:  # TFDS's way of saying that the data is not prepared
        raise DataError(
            f"TFDS has no prepared celeb_a {builder.version} in {builder.data_dir_root} "
            f"(data_dir={data_dir!r}). Prepare it with celeba_tfds(download=True, "
            f"data_dir=...) or `tfds build celeb_a --data_dir DIR`, then pass data_dir=DIR; "
            "or read CelebA files downloaded by hand with kerasgen.data.celeba(path)."
        ) from None

    def select(example):
        image = pipeline.crop_and_resize(example["image"])
        if attributes is None:
            return image
        values = [tf.cast(example["attributes"][name], tf.float32) for name in attributes]
        return image, tf.stack(values)

    images = examples.map(select, num_parallel_calls=pipeline.parallel_calls())
    return pipeline.finish(images, reshuffle=pipeline.shuffle)
