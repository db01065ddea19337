"""What the model tests share: small models, test images and NumPy reference formulas.

Test files import it as `from helpers.common import ...` (pytest puts `tests/` on `sys.path`).
"""

import hashlib
import os

import numpy as np
from keras import ops

from kerasgen.data import synthetic_faces

# The small settings the model tests train and check at: 16 px images, 8 latent dimensions.
SMALL = {"latent_dim": 8, "image_size": 16, "width": 8, "seed": 1}


def tiny(cls, **kwargs):
    """A small `cls` (DCGAN, WGANGP, VAE, ...): `SMALL`, with `kwargs` on top."""
    return cls(**{**SMALL, **kwargs})


def tiny_for(default_cls, **defaults):
    """A test file's `tiny`: `tiny(**kwargs)` is a small `default_cls` with the file's own
    `defaults` (e.g. a seed); `tiny(OtherClass, **kwargs)` another class with the same ones."""

    def make(cls=default_cls, **kwargs):
        return tiny(cls, **{**defaults, **kwargs})

    return make


def images(n=32, size=16, seed=0):
    """`n` random uint8 images, `size` px square, RGB."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype="uint8")


def faces(n=32, split="test"):
    """`n` fixed uint8 synthetic faces, 16 px, from a split the models do not train on."""
    return synthetic_faces(n=n, image_size=16, batch_size=n, split=split, shuffle=False)[0]


def as_float(x):
    """A backend scalar (a tensor or a variable) as a Python float."""
    return float(ops.convert_to_numpy(x))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def bce(targets, logits):
    """Binary cross-entropy of sigmoid(logits), the textbook way in float64, averaged:
    mean(-t log p - (1 - t) log(1 - p)). `targets` may be an array or a scalar."""
    p = sigmoid(np.asarray(logits, "float64"))
    return float(np.mean(-targets * np.log(p) - (1.0 - targets) * np.log(1.0 - p)))


def write_celeba(root, n=12, parts=None, seed=0):
    """A folder in CelebA's official layout: `img_align_celeba/000001.jpg ...` (178 x 218 px,
    smooth random colours), `list_attr_celeba.txt` (CelebA's 40 columns, spaced as the official
    file) and `list_eval_partition.txt` (`parts`: one of 0/1/2 per image, default 2/3 train, then
    validation and test). Returns `root`."""
    from PIL import Image

    from kerasgen.data.celeba import CELEBA_ATTRIBUTES

    rng = np.random.default_rng(seed)
    images = root / "img_align_celeba"
    images.mkdir(parents=True)
    for i in range(n):
        coarse = rng.integers(0, 256, (7, 6, 3), dtype="uint8")
        Image.fromarray(coarse).resize((178, 218), Image.BICUBIC).save(
            images / f"{i + 1:06d}.jpg", quality=95)
    lines = [str(n), " ".join(CELEBA_ATTRIBUTES)]
    for i in range(n):
        values = "".join(f"{1 if (i + j) % 3 == 0 else -1:3d}" for j in range(40))
        lines.append(f"{i + 1:06d}.jpg{values}")
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    if parts is None:
        train = 2 * n // 3
        parts = [0] * train + [1] * ((n - train) // 2) + [2] * (n - train - (n - train) // 2)
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate(parts)))
    return root


def hashes(folder):
    """{relative path: sha256} of every file under `folder`: what a command must not change."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return found
