"""Differentiable augmentation for GANs trained on little data.

- `diff_augment`: DiffAugment (Zhao et al., 2020, "Differentiable Augmentation for
  Data-Efficient GAN Training"): colour, translation and cutout, the formulas of the authors'
  reference code (`mit-han-lab/data-efficient-gans`, `DiffAugment_pytorch.py` and
  `DiffAugment_tf.py`), written with `keras.ops` so it runs, and differentiates, on every
  backend and inside a compiled step.
- `ada_adjust`, `overfitting_heuristic`: ADA's adaptive augmentation probability (Karras et al.,
  2020, "Training Generative Adversarial Networks with Limited Data"), as pure functions.

How a GAN uses them (Zhao et al., Algorithm in section 3): the *same kind* of augmentation T,
with fresh draws each time, goes in front of the discriminator everywhere it is called, on real
and fake images in D's loss and on fake images in G's loss, so gradients flow through T into
the generator:

    d_loss = discriminator_loss(D(diff_augment(x, seed=sg, p=p)),
                                D(diff_augment(G(z), seed=sg, p=p)))
    g_loss = generator_loss(D(diff_augment(G(z), seed=sg, p=p)))

with `sg` the model's `keras.random.SeedGenerator` (JAX needs it: see DESIGN.md) and `p` a
constant or the model's ADA probability variable.

Where one set of draws must be reused (an R1 penalty through the augmentation, as
StyleGAN2-ADA takes it, differentiates `D(T(x))` with respect to `x`), split the call in two:
`draws = random_draws(x, seed=sg, p=p)` outside, then
`r1_penalty(lambda x: D(augment(x, draws)), x)`: `augment` is deterministic.

Images are NHWC (channels last) with static height and width; the batch size may be dynamic.
"""

import keras
from keras import ops

#: The transforms of each policy name, in the order the reference applies them.
POLICIES = {
    "color": ("brightness", "saturation", "contrast"),
    "translation": ("translation",),
    "cutout": ("cutout",),
}
#: The policy the DiffAugment paper recommends for small data ("Color + Translation + Cutout").
DEFAULT_POLICY = "color,translation,cutout"
#: Largest translation, a fraction of the image size (reference: `rand_translation(ratio=0.125)`).
TRANSLATION_RATIO = 0.125
#: Side of the cutout square, a fraction of the image size (reference: `rand_cutout(ratio=0.5)`).
CUTOUT_RATIO = 0.5


def parse_policy(policy):
    """The transform names of `policy` ("color,translation,cutout", a list of those names, or
    "" for none), in application order; a `ValueError` names an unknown part."""
    if policy is None:
        return ()
    parts = policy.split(",") if isinstance(policy, str) else list(policy)
    transforms = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if part not in POLICIES:
            raise ValueError(
                f"DiffAugment policy parts must be among {sorted(POLICIES)}; received "
                f"{part!r} in policy {policy!r}."
            )
        transforms.extend(POLICIES[part])
    return tuple(transforms)


def translation_range(size, ratio=TRANSLATION_RATIO):
    """Largest shift in pixels along an axis of `size` pixels: `int(size * ratio + 0.5)`
    (the reference's rounding); shifts are drawn uniformly from `[-range, range]`."""
    return int(size * ratio + 0.5)


def cutout_size(size, ratio=CUTOUT_RATIO):
    """Side of the cutout along an axis of `size` pixels: `int(size * ratio + 0.5)`."""
    return int(size * ratio + 0.5)


def cutout_offset_range(size, ratio=CUTOUT_RATIO):
    """Number of cutout centres along an axis of `size` pixels, as the reference draws them:
    `randint(0, size + (1 - cutout % 2))`, so a centre is in `[0, size - cutout % 2]`."""
    return size + (1 - cutout_size(size, ratio) % 2)


# ---- the transforms, deterministic given their random draws ----
# Each takes the values the reference draws (same distribution, same meaning), one per image.


def _as_images(x):
    """`x` as a backend tensor, floating point (uint8 pixels become float32)."""
    x = ops.convert_to_tensor(x)
    return x if _is_floating(x) else ops.cast(x, "float32")


def _per_image(values, x):
    """`(batch,)` values as `(batch, 1, 1, 1)` in `x`'s dtype, to broadcast over an image."""
    return ops.reshape(ops.cast(values, x.dtype), (-1, 1, 1, 1))


def brightness(x, u):
    """Adds `u - 0.5` to every pixel of an image; `u ~ U[0, 1)` per image."""
    x = _as_images(x)
    return x + (_per_image(u, x) - 0.5)


def saturation(x, u):
    """Scales each pixel's deviation from its mean over the channels by `2 u`;
    `u ~ U[0, 1)` per image."""
    x = _as_images(x)
    mean = ops.mean(x, axis=-1, keepdims=True)
    return (x - mean) * (_per_image(u, x) * 2.0) + mean


def contrast(x, u):
    """Scales each image's deviation from its mean (over height, width and channels) by
    `u + 0.5`; `u ~ U[0, 1)` per image."""
    x = _as_images(x)
    mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - mean) * (_per_image(u, x) + 0.5) + mean


def _shift_rows(x, shift, axis):
    """`out[..., i, ...] = x[..., i + shift, ...]` along `axis` (1 or 2), zero where `i + shift`
    falls outside: the reference's pad-by-one, clamp and gather."""
    size = x.shape[axis]
    shift = ops.reshape(ops.cast(shift, "int32"), (-1, 1))
    index = ops.arange(size, dtype="int32")[None, :] + shift
    index = ops.clip(index + 1, 0, size + 1)  # 0 and size + 1 are the zero padding
    padding = [[0, 0]] * 4
    padding[axis] = [1, 1]
    padded = ops.pad(x, padding)
    index = ops.reshape(index, (-1, size, 1, 1) if axis == 1 else (-1, 1, size, 1))
    return ops.take_along_axis(padded, index, axis=axis)


def translation(x, shift_x, shift_y):
    """Translates each image with zero padding: `out[b, i, j] = x[b, i + shift_x[b],
    j + shift_y[b]]` (zero outside the image), so the content moves by `-shift`. Integer shifts
    along height (`shift_x`) and width (`shift_y`), drawn uniformly from
    `[-translation_range(size), translation_range(size)]` per image."""
    return _shift_rows(_shift_rows(_as_images(x), shift_x, axis=1), shift_y, axis=2)


def _cutout_span(offset, size, ratio):
    """`(batch, size)` booleans: the rows (or columns) a cutout centred at `offset` covers,
    `[offset - cutout // 2, offset - cutout // 2 + cutout)` within the image."""
    side = cutout_size(size, ratio)
    start = ops.reshape(ops.cast(offset, "int32"), (-1, 1)) - side // 2
    position = ops.arange(size, dtype="int32")[None, :]
    return ops.logical_and(position >= start, position < start + side)


def cutout(x, offset_x, offset_y, ratio=CUTOUT_RATIO):
    """Zeroes a `cutout_size(height) x cutout_size(width)` rectangle of each image centred at
    `(offset_x, offset_y)`, cropped to the image; offsets are integers drawn uniformly from
    `[0, cutout_offset_range(size))` per image, as the reference draws them.

    The reference scatters zeros at clamped coordinates; every clamped coordinate lands on an
    edge row or column the rectangle already covers, so this comparison mask is the same mask.
    """
    x = _as_images(x)
    rows = _cutout_span(offset_x, x.shape[1], ratio)
    cols = _cutout_span(offset_y, x.shape[2], ratio)
    inside = ops.logical_and(rows[:, :, None], cols[:, None, :])
    mask = 1.0 - ops.cast(inside, x.dtype)
    return x * mask[..., None]


# ---- random draws and the policy ----


def _static_size(images):
    if len(images.shape) != 4 or images.shape[1] is None or images.shape[2] is None:
        raise ValueError(
            "DiffAugment takes NHWC images (batch, height, width, channels) with a known "
            f"height and width; received shape {tuple(images.shape)}."
        )
    return images.shape[1], images.shape[2]


def random_draws(images, policy=DEFAULT_POLICY, seed=None, p=1.0):
    """The random values `augment` needs for `images` under `policy`, drawn as the reference
    draws them, in its order: a dict with, per image,

    - `"brightness"`, `"saturation"`, `"contrast"`: `u ~ U[0, 1)` (float32, `(batch,)`);
    - `"translation"`: `(shift_x, shift_y)`, integers uniform in `[-r, r]`,
      `r = translation_range(size)`, for height and width (int32, each `(batch,)`);
    - `"cutout"`: `(offset_x, offset_y)`, integers uniform in `[0, cutout_offset_range(size))`;
    - `"apply"`: whether each image is augmented, `U[0, 1) < p` (bool, `(batch,)`); absent
      when `p` is the Python number 1 (every image is).

    Only the transforms in `policy` are drawn. `seed`: a `keras.random.SeedGenerator` (inside
    a training step, the model's), an int (the same draws every call) or None (Keras' global
    generator: not for a JAX-compiled step).
    """
    height, width = _static_size(images)
    transforms = parse_policy(policy)
    batch = ops.shape(images)[0]
    draws = {}
    for name in ("brightness", "saturation", "contrast"):
        if name in transforms:
            draws[name] = keras.random.uniform((batch,), seed=seed)
    if "translation" in transforms:
        rx, ry = translation_range(height), translation_range(width)
        draws["translation"] = (
            keras.random.randint((batch,), -rx, rx + 1, dtype="int32", seed=seed),
            keras.random.randint((batch,), -ry, ry + 1, dtype="int32", seed=seed),
        )
    if "cutout" in transforms:
        draws["cutout"] = (
            keras.random.randint((batch,), 0, cutout_offset_range(height), dtype="int32",
                                 seed=seed),
            keras.random.randint((batch,), 0, cutout_offset_range(width), dtype="int32",
                                 seed=seed),
        )
    if not _is_python_number(p, 1):
        draws["apply"] = keras.random.uniform((batch,), seed=seed) < ops.cast(p, "float32")
    return draws


def augment(images, draws, policy=DEFAULT_POLICY):
    """`images` under `policy` with the given `draws` (see `random_draws`): deterministic and
    differentiable with respect to `images`. Images whose `draws["apply"]` is False come back
    exactly as they went in."""
    x = _as_images(images)
    _static_size(x)
    transforms = parse_policy(policy)
    out = x
    for name in transforms:
        if name in ("brightness", "saturation", "contrast"):
            out = {"brightness": brightness, "saturation": saturation,
                   "contrast": contrast}[name](out, draws[name])
        elif name == "translation":
            out = translation(out, *draws["translation"])
        else:
            out = cutout(out, *draws["cutout"])
    if "apply" in draws and transforms:
        out = ops.where(ops.reshape(draws["apply"], (-1, 1, 1, 1)), out, x)
    return out


def diff_augment(images, policy=DEFAULT_POLICY, seed=None, p=1.0):
    """DiffAugment: `images` (NHWC, float, in [-1, 1]) augmented by `policy`, differentiably.

    Args:
        policy: comma-separated parts, applied in order: `"color"` (brightness: add
            `U(-0.5, 0.5)`; saturation: scale each pixel's deviation from its channel mean by
            `U(0, 2)`; contrast: scale the deviation from the image mean by `U(0.5, 1.5)`),
            `"translation"` (shift by up to 1/8 of the size, zero padding), `"cutout"` (zero a
            square of half the size at a random centre). `""` is the identity.
        seed: a `keras.random.SeedGenerator` (in a training step, the model's), an int or None.
        p: probability that an image is augmented (by the whole policy; otherwise it is left
            exactly unchanged), for ADA-style adaptive strength; a number or a scalar
            tensor/variable (`ada_adjust` moves it). 1 (the default) is the paper's DiffAugment.

    The output is not clipped to [-1, 1], as in the reference: D sees what T makes.
    """
    if _is_python_number(p, 0) or not parse_policy(policy):
        return _as_images(images)
    return augment(images, random_draws(images, policy, seed=seed, p=p), policy)


# ---- ADA: the augmentation probability that adapts to overfitting ----


def overfitting_heuristic(real_logits):
    """ADA's overfitting heuristic r_t = E[sign(D(x))] over real images' logits: 0 when D is
    unsure, 1 when it calls every real image real (overfitting). Average it over the
    `interval` steps between adjustments (e.g. accumulate the sum of `sign` and a count)."""
    return ops.mean(ops.sign(ops.cast(real_logits, "float32")))


def ada_adjust(p, rt, *, batch_size, target=0.6, interval=4, speed_images=500_000):
    """ADA's update of the augmentation probability, done every `interval` steps:
    `clip(p + sign(rt - target) * batch_size * interval / speed_images, 0, 1)`.

    `rt` is `overfitting_heuristic` averaged over those steps; `target` is the paper's 0.6;
    `speed_images` is how many images it takes `p` to move by 1 (ADA's `ada_kimg` = 500).
    Returns the new `p` as a float32 tensor (assign it to the model's variable). The official
    code (stylegan2-ada-pytorch) only clamps at 0; the clip at 1 here changes nothing an image
    sees (`U[0, 1) < p` is always true from 1 on) but stops `p` wandering above 1.

    In a compiled step, adjust without Python branching, e.g.
    `p.assign(ops.where(step % interval == 0, ada_adjust(p, rt, ...), p))`.
    """
    for name, value in (("batch_size", batch_size), ("interval", interval),
                        ("speed_images", speed_images)):
        if keras.ops.is_tensor(value) and name == "batch_size":
            continue  # a traced batch size (`ops.shape(x)[0]` in a compiled step)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"ada_adjust: {name} must be a positive number; received {value!r}.")
    p = ops.cast(p, "float32")
    rt = ops.cast(rt, "float32")
    step = ops.cast(batch_size, "float32") * (interval / speed_images)
    return ops.clip(p + ops.sign(rt - target) * step, 0.0, 1.0)


def _is_python_number(value, number):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == number


def _is_floating(x):
    return "float" in keras.backend.standardize_dtype(x.dtype)
