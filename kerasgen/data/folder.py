"""Any folder of images (LFW, LFWcrop, your own photos) as a batched `tf.data.Dataset`.

JPEG, PNG, BMP and GIF (first frame) files are decoded by tf.data as they are read. PPM and
PGM files (LFWcrop ships `lfwcrop_color/faces/*.ppm` and `lfwcrop_grey/faces/*.pgm`), which
TensorFlow cannot decode, are read with Pillow when the data set is built and kept in memory,
then go through the same crop, resize and augmentation steps. Grayscale images become RGB by
repeating their channel; an alpha channel is dropped.
"""

import os

from kerasgen.data import pipeline as pl
from kerasgen.errors import DataError

TF_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
PIL_EXTENSIONS = (".ppm", ".pgm")
EXTENSIONS = TF_EXTENSIONS + PIL_EXTENSIONS


def _list_files(root, recursive):
    """Paths relative to `root`, sorted; hidden files and folders (`.DS_Store`, `._x.jpg`)
    are left out."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if recursive and not d.startswith("."))
        rel = os.path.relpath(folder, root)
        found += [os.path.normpath(os.path.join(rel, f)) for f in files if not f.startswith(".")]
    return sorted(found)


def _no_images_error(root, recursive, files):
    where = f"{root} (and its subfolders)" if recursive else root
    message = f"{where} has no image files; looked for {', '.join(EXTENSIONS)}"
    if files:
        message += f", found {len(files)} other files such as {files[0]}"
    if not recursive and any(os.path.isdir(os.path.join(root, d)) for d in os.listdir(root)):
        message += "; it has subfolders, which recursive=True would search"
    return DataError(message + ".")


def _read_with_pil(path):
    """(BMP bytes, None) for a PPM/PGM image that Pillow reads, else (b"", the reason)."""
    array, reason = pl.load_with_pil(path)
    return (b"", reason) if array is None else (pl.to_bmp(array), None)


def image_folder(
    path,
    *,
    image_size=64,
    crop=None,
    batch_size=64,
    shuffle=True,
    seed=0,
    flip=False,
    color_jitter=None,
    recursive=True,
    drop_remainder=True,
    on_error="raise",
    validate="quick",
    num_parallel_calls=None,
    cache=False,
):
    """The images in a folder, as a batched `tf.data.Dataset` of `uint8` RGB images.

    For LFW, point it at `lfw/` (`lfw/<Name>/<Name>_0001.jpg`, 250x250); for LFWcrop at
    `lfwcrop_color/faces` or `lfwcrop_grey/faces` (64x64). File names carry no labels: the
    data set yields images only. Files whose names start with a dot are ignored.

    Every image is checked before the data set is returned, as in `celeba` (missing, empty,
    not an image, or truncated), so that a bad file stops the run before training starts.

    Args:
        path: the folder; `~` is expanded.
        image_size: side of the square output images, in pixels.
        crop: `None` (default): the largest centred square of each image, resized, so that
            non-square images are cropped on their long side, never distorted (LFW's 250x250
            and LFWcrop's 64x64 images are square and kept whole). An int: the centre square
            of that side. A `(height, width)` tuple: that centre box, resized to a square. A
            box larger than an image shrinks to fit, keeping its aspect ratio.
        batch_size: images per batch.
        shuffle: shuffle the file list, afresh every epoch.
        seed: seeds the shuffle and the augmentations, so that runs are reproducible.
        flip: random horizontal flips (probability 0.5), different every epoch.
        color_jitter: `None`, a float s (torchvision's `ColorJitter(s, s, s)`) or a dict with
            some of the keys `brightness`, `contrast`, `saturation`; see `celeba`.
        recursive: also read the images in subfolders, at any depth.
        drop_remainder: drop the last batch if it is smaller than `batch_size`.
        on_error: `"raise"` (a bad image raises `DataError` naming it) or `"skip"` (bad
            images are left out, with a warning that counts them and names the first few).
        validate: `"quick"` (structural check) or `"full"` (decode every image with Pillow).
        num_parallel_calls: parallel decodes; `None`: one per CPU core, up to 8.
        cache: keep the decoded, resized images in memory after the first epoch.

    Returns:
        A `tf.data.Dataset` of `uint8` images `(batch_size, image_size, image_size, 3)`.
    """
    on_error = pl.check_choice(on_error, "on_error", pl.ON_ERROR)
    validate = pl.check_choice(validate, "validate", pl.VALIDATE)
    recursive = pl.check_bool(recursive, "recursive")
    pipeline = pl.Pipeline(
        image_size=image_size, crop=pl.check_crop(crop, none_means=pl.SQUARE),
        batch_size=batch_size, shuffle=shuffle, seed=seed, flip=flip, color_jitter=color_jitter,
        drop_remainder=drop_remainder, num_parallel_calls=num_parallel_calls, cache=cache,
    )
    root = os.path.expanduser(os.fspath(path))
    if not os.path.isdir(root):
        what = "is not a folder" if os.path.exists(root) else "does not exist"
        raise DataError(f"image folder {root} {what}.")
    files = _list_files(root, recursive)
    names = [f for f in files if f.lower().endswith(EXTENSIONS)]
    if not names:
        raise _no_images_error(root, recursive, files)
    paths = [os.path.join(root, name) for name in names]
    in_memory = [i for i, name in enumerate(names) if name.lower().endswith(PIL_EXTENSIONS)]
    on_disk = [i for i, name in enumerate(names) if not name.lower().endswith(PIL_EXTENSIONS)]
    reasons = [None] * len(names)
    contents = [b""] * len(names)
    for i, reason in zip(on_disk, pl.screen_files([paths[i] for i in on_disk], validate)):
        reasons[i] = reason
    loaded = pl.thread_map(_read_with_pil, [paths[i] for i in in_memory])
    for i, (data, reason) in zip(in_memory, loaded):
        contents[i], reasons[i] = data, reason
    keep = pl.keep_good(names, reasons, on_error, root)
    pl.check_batch_count(len(keep), pipeline.batch_size, pipeline.drop_remainder, root)
    return pipeline.from_files(
        [paths[i] for i in keep],
        contents=[contents[i] for i in keep] if in_memory else None,
        skip_errors=on_error == "skip",
    )
