"""The tf.data input pipeline shared by kerasgen's real-image data sets.

Every loader (`celeba`, `celeba_tfds`, `image_folder`) lists and screens its files in Python,
then hands them to a `Pipeline`, which decodes, centre-crops, resizes (antialiased bilinear),
augments, batches and prefetches them. Batches are `uint8` RGB, `(batch, size, size, 3)`,
optionally paired with `float32` 0/1 attributes; models scale pixels themselves.

Files are screened when the data set is built, so that a missing or corrupt image stops a run
before training starts rather than in the middle of an epoch: `screen_files` checks each file's
structure (non-empty; JPEG, PNG, GIF or BMP header; JPEG end-of-image marker, PNG `IEND`
chunk, GIF trailer or BMP size), a few bytes at each end, so 200k files take seconds; a file
that fails the end check is decoded with Pillow before it is called corrupt (some valid JPEGs
carry bytes after their end marker). `validate="full"` decodes every file with Pillow instead.

TensorFlow is imported inside the functions that build graphs, so that importing kerasgen does
not import it (a JAX- or PyTorch-only machine can still use everything else).
"""

import concurrent.futures
import dataclasses
import functools
import io
import os
import warnings

import numpy as np
from PIL import Image

from kerasgen.checks import check_bool  # noqa: F401  (re-exported for the data modules)
from kerasgen.checks import check_choice
from kerasgen.checks import check_int
from kerasgen.errors import DataError

ON_ERROR = ("raise", "skip")
VALIDATE = ("quick", "full")
# Crop modes besides a `(height, width)` box: the whole image (stretched to a square when it is
# not one), or its largest centred square.
FULL = "full"
SQUARE = "square"
COLOR_JITTER_KEYS = ("brightness", "contrast", "saturation")
# The shuffle buffer of decoded images (cached or TFDS data) holds about this many bytes.
SHUFFLE_BUFFER_BYTES = 256 * 2**20
_SHOWN = 5  # bad files named in a message

_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
_PIL_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP")  # MPO: multi-picture JPEG from cameras


# ---------------------------------------------------------------------------------------------
# Argument checks.


def check_crop(crop, none_means):
    """`crop` as `FULL`, `SQUARE` or a `(height, width)` box; `None` means `none_means`."""
    if crop is None:
        return none_means
    if isinstance(crop, (int, np.integer)) and not isinstance(crop, (bool, np.bool_)):
        crop = (crop, crop)
    ok = (
        isinstance(crop, (tuple, list))
        and len(crop) == 2
        and all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)) for c in crop)
        and min(crop) >= 1
    )
    if not ok:
        raise DataError(
            "crop must be None, a positive integer (centre square of that side) or a "
            f"(height, width) tuple of positive integers; received crop={crop!r}."
        )
    return (int(crop[0]), int(crop[1]))


def check_color_jitter(color_jitter):
    """`None`, a float s or a dict -> `None` or `(brightness, contrast, saturation)` floats."""
    if color_jitter is None:
        return None
    if isinstance(color_jitter, dict):
        unknown = sorted(set(color_jitter) - set(COLOR_JITTER_KEYS))
        if unknown:
            raise DataError(
                f"color_jitter has unknown keys {unknown}; expected some of "
                f"{', '.join(COLOR_JITTER_KEYS)}."
            )
        values = tuple(color_jitter.get(key, 0.0) for key in COLOR_JITTER_KEYS)
    else:
        values = (color_jitter,) * 3
    for key, value in zip(COLOR_JITTER_KEYS, values):
        number = isinstance(value, (int, float, np.integer, np.floating))
        if isinstance(value, (bool, np.bool_)) or not number or not 0 <= value < float("inf"):
            raise DataError(
                "color_jitter must be None, a non-negative float s (as torchvision's "
                "ColorJitter(s, s, s)) or a dict of non-negative floats with keys "
                f"{', '.join(COLOR_JITTER_KEYS)}; received {key}={value!r}."
            )
    values = tuple(float(v) for v in values)
    return values if any(values) else None


def check_num_parallel_calls(num_parallel_calls):
    if num_parallel_calls is None:
        return None
    return check_int(num_parallel_calls, "num_parallel_calls", minimum=1)


def check_batch_count(n, batch_size, drop_remainder, where):
    """A data set that would yield no batch is an error now, not an empty epoch later."""
    if drop_remainder and n < batch_size:
        raise DataError(
            f"{where} has {n} usable images, fewer than batch_size={batch_size}, so with "
            "drop_remainder=True it yields no batch; use a smaller batch_size or "
            "drop_remainder=False."
        )


# ---------------------------------------------------------------------------------------------
# File screening.


def _sniff(head):
    """The format of a file from its first bytes, or None."""
    if head.startswith(_JPEG_SOI):
        return "JPEG"
    if head.startswith(_PNG_SIGNATURE):
        return "PNG"
    if head.startswith(_GIF_SIGNATURES):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    return None


def _ends_well(kind, head, tail, size):
    if kind == "JPEG":
        return tail.endswith(_JPEG_EOI)
    if kind == "PNG":
        return tail.endswith(_PNG_IEND)
    if kind == "GIF":
        return tail.endswith(b"\x3b")
    return len(head) >= 6 and int.from_bytes(head[2:6], "little") <= size  # BMP: declared size


def _decode_with_pil(path):
    """None if Pillow decodes `path` fully as one of the accepted formats, else the reason."""
    try:
        with Image.open(path) as image:
            if image.format not in _PIL_FORMATS:
                return f"a {image.format} image; expected JPEG, PNG, GIF or BMP"
            image.load()
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError... for bad data.
        return f"corrupt or truncated ({e})"
    return None


def _screen_one(path, full):
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 16))
            tail = f.read()
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    if size == 0:
        return "empty file (0 bytes)"
    kind = _sniff(head)
    if kind is None:
        return f"not a JPEG, PNG, GIF or BMP file (starts with bytes {head[:4].hex(' ')})"
    if full or not _ends_well(kind, head, tail, size):
        return _decode_with_pil(path)
    return None


def default_workers():
    """Threads that draw or decode images by default: one per CPU core this process may use,
    up to 8."""
    cores = (os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity")
             else range(os.cpu_count() or 1))
    return max(1, min(8, len(cores)))


def without_autotuning(dataset):
    """`dataset` with tf.data's autotuning off. Releasing an autotuned data set's iterator (at
    the end of every epoch of `fit`) waits for tf.data's autotuning thread to wake, up to a
    minute later (docs/performance.md); set parallelism explicitly instead."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def thread_map(fn, items, chunk=256):
    """`[fn(x) for x in items]` on 8 threads, which overlap the waits of a cold or network
    disk (and Pillow's decoding, which releases the GIL)."""
    chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
    workers = min(8, max(1, len(chunks)))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return [r for rs in pool.map(lambda c: [fn(x) for x in c], chunks) for r in rs]


def screen_files(paths, validate="quick"):
    """One reason per path: None for a usable image, else what is wrong with it.

    `validate="quick"` checks each file's structure (see the module docstring); `"full"`
    decodes every file with Pillow, which is several times slower.
    """
    full = check_choice(validate, "validate", VALIDATE) == "full"
    return thread_map(lambda path: _screen_one(path, full), list(paths))


def load_with_pil(path):
    """`path` decoded by Pillow as RGB, or the reason it cannot be: `(array, None)` or
    `(None, reason)`. For formats that TensorFlow cannot decode (PPM, PGM)."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB")), None
    except FileNotFoundError:
        return None, "missing"
    except Exception as e:  # as in _decode_with_pil
        return None, f"corrupt or truncated ({e})"


def keep_good(names, reasons, on_error, where):
    """Indices of the names whose reason is None; raises or warns about the others.

    `names` are what messages show (paths relative to `where`, the data set's folder).
    """
    bad = [(name, reason) for name, reason in zip(names, reasons) if reason is not None]
    if not bad:
        return np.arange(len(names))
    shown = "; ".join(f"{name}: {reason}" for name, reason in bad[:_SHOWN])
    more = f"; and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    summary = f"{len(bad)} of {len(names)} images in {where} are unusable: {shown}{more}."
    if on_error == "raise":
        raise DataError(
            f"{summary} Replace or remove them, or pass on_error='skip' to leave them out."
        )
    warnings.warn(f"Skipping {summary}", stacklevel=3)
    return np.array([i for i, reason in enumerate(reasons) if reason is None], dtype=np.int64)


def to_bmp(array):
    """An RGB uint8 array as BMP bytes: lossless, and fast to encode and decode."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="BMP")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# The tf.data pipeline.


@dataclasses.dataclass
class Pipeline:
    """Crop, resize, augment, shuffle and batch settings, checked once from user arguments.

    `crop` is `FULL`, `SQUARE` or a `(height, width)` box (see `check_crop`); a box larger
    than an image shrinks, keeping its aspect ratio, to fit. `color_jitter` is the output of
    `check_color_jitter`. Random draws (file order, flips, jitter) differ every epoch and come
    from `seed`, so that two runs with the same seed see the same batches.
    """

    image_size: int
    crop: object
    batch_size: int
    shuffle: bool
    seed: int
    flip: bool
    color_jitter: object
    drop_remainder: bool
    num_parallel_calls: object = None
    cache: bool = False

    def __post_init__(self):
        self.image_size = check_int(self.image_size, "image_size", minimum=1)
        self.batch_size = check_int(self.batch_size, "batch_size", minimum=1)
        self.seed = check_int(self.seed, "seed", minimum=0)
        for name in ("shuffle", "flip", "drop_remainder", "cache"):
            setattr(self, name, check_bool(getattr(self, name), name))
        self.color_jitter = check_color_jitter(self.color_jitter)
        self.num_parallel_calls = check_num_parallel_calls(self.num_parallel_calls)
        # Independent seeds for the file order, the decoded-image shuffle and augmentation.
        self.seeds = [int(s) for s in np.random.SeedSequence(self.seed).generate_state(3)]

    def parallel_calls(self):
        """Parallel decodes: as asked, else one per core (tf.data's autotuning is off, see
        `finish`)."""
        return self.num_parallel_calls or default_workers()

    def from_files(self, paths, labels=None, contents=None, skip_errors=False):
        """A batched data set of the image files at `paths` (with rows of `labels`, if given).

        `contents`, if given, holds each image's encoded bytes, or `b""` for one to read from
        its path. With `skip_errors`, images that fail to decode are dropped, not fatal.
        """
        import tensorflow as tf

        n = len(paths)
        paths = tf.constant([os.fsencode(p) for p in paths], tf.string)
        if contents is not None:
            contents = tf.constant(contents, tf.string)
        if labels is not None:
            labels = tf.constant(labels, tf.float32)

        def load(i):
            if contents is None:
                data = tf.io.read_file(paths[i])
            else:
                data = tf.cond(
                    tf.strings.length(contents[i]) > 0,
                    lambda: contents[i],
                    lambda: tf.io.read_file(paths[i]),
                )
            image = self.crop_and_resize(
                tf.io.decode_image(data, channels=3, expand_animations=False)
            )
            return image if labels is None else (image, labels[i])

        files = tf.data.Dataset.range(n)
        if self.shuffle:  # every epoch a new order of the whole list; cached: one order, once
            files = files.shuffle(n, seed=self.seeds[0], reshuffle_each_iteration=not self.cache)
        images = files.map(load, num_parallel_calls=self.parallel_calls())
        if skip_errors:
            images = images.ignore_errors(log_warning=True)
        if self.cache:
            return self.finish(images.cache(), reshuffle=self.shuffle)
        return self.finish(images, reshuffle=False)

    def crop_and_resize(self, image):
        """A decoded `(h, w, 3)` image -> centre crop -> `uint8 (size, size, 3)`, antialiased."""
        import tensorflow as tf

        shape = tf.shape(image)
        h, w = shape[0], shape[1]
        if self.crop == SQUARE:
            bh = bw = tf.minimum(h, w)
        elif self.crop != FULL:
            ch, cw = self.crop
            fits = (ch <= h) & (cw <= w)
            by_height = h * cw <= w * ch  # the box shrinks to the image's height, else its width
            bh = tf.where(fits, ch, tf.where(by_height, h, tf.maximum(1, ch * w // cw)))
            bw = tf.where(fits, cw, tf.where(by_height, tf.maximum(1, cw * h // ch), w))
        if self.crop != FULL:
            top, left = (h - bh) // 2, (w - bw) // 2
            image = image[top : top + bh, left : left + bw]
        size = [self.image_size, self.image_size]
        image = tf.image.resize(image, size, method="bilinear", antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
        image.set_shape(size + [3])
        return image

    def finish(self, images, reshuffle):
        """Cropped, resized images (or `(image, label)` pairs) -> augmented, batched data set.

        With `reshuffle`, decoded images are shuffled in a buffer of about
        `SHUFFLE_BUFFER_BYTES` (for sources that cannot shuffle their file list every epoch).
        """
        import tensorflow as tf

        if reshuffle:
            buffer = max(self.batch_size, SHUFFLE_BUFFER_BYTES // (3 * self.image_size**2))
            images = images.shuffle(buffer, seed=self.seeds[1], reshuffle_each_iteration=True)
        if self.flip or self.color_jitter:
            draws = tf.data.Dataset.random(seed=self.seeds[2], rerandomize_each_iteration=True)
            images = tf.data.Dataset.zip(images, draws).map(
                self._augment_element, num_parallel_calls=self.parallel_calls()
            )
        images = images.batch(self.batch_size, drop_remainder=self.drop_remainder)
        # Parallelism is set above; prefetch grows its own buffer.
        return without_autotuning(images.prefetch(tf.data.AUTOTUNE))

    def _augment_element(self, element, draw):
        import tensorflow as tf

        seed = tf.stack([draw, tf.constant(0, tf.int64)])
        if isinstance(element, tuple):
            return self.augment(element[0], seed), element[1]
        return self.augment(element, seed)

    def augment(self, image, seed):
        """Random flip and colour jitter of one `uint8` image, from a stateless `seed` pair."""
        import tensorflow as tf

        seeds = tf.random.experimental.stateless_split(seed, num=5)
        if self.flip:
            image = tf.image.stateless_random_flip_left_right(image, seeds[0])
        if self.color_jitter:
            x = tf.image.convert_image_dtype(image, tf.float32)
            x = _color_jitter(x, self.color_jitter, seeds[1:])
            image = tf.cast(tf.round(x * 255.0), tf.uint8)
        return image


def _color_jitter(x, strengths, seeds):
    """torchvision's ColorJitter(b, c, s) on a float [0, 1] image: each factor is drawn from
    [max(0, 1 - s), 1 + s], and the three adjustments are applied in a random order."""
    import tensorflow as tf

    factors = [
        tf.random.stateless_uniform([], seed, minval=max(0.0, 1.0 - s), maxval=1.0 + s)
        for s, seed in zip(strengths, tf.unstack(seeds[:3]))
    ]

    def gray(image):
        return tf.image.rgb_to_grayscale(image)

    def blend(image, other, factor):
        return tf.clip_by_value(factor * image + (1.0 - factor) * other, 0.0, 1.0)

    adjustments = [
        lambda image: tf.clip_by_value(image * factors[0], 0.0, 1.0),  # brightness
        lambda image: blend(image, tf.reduce_mean(gray(image)), factors[1]),  # contrast
        lambda image: blend(image, gray(image), factors[2]),  # saturation
    ]
    order = tf.argsort(tf.random.stateless_uniform([3], seeds[3]))
    for k in range(3):
        x = tf.switch_case(order[k], [functools.partial(adjust, x) for adjust in adjustments])
    return x
