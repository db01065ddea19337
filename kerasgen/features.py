"""Feature extractors for sample-quality metrics (FID, KID, IS, precision/recall).

An extractor maps a batch of images (uint8 0..255 or float [0, 1], `(n, h, w, 3)`) to NumPy
float64 features `(n, d)` and has a `name` under which its scores are reported and a
`fingerprint` of its weights, so that cached features and scores from different networks are
never mixed up.

- `FIDInception`: the network of the FID papers (the 2015 TensorFlow Inception graph, as
  torch-fidelity and pytorch-fid port it) with torch-fidelity's resize: its scores compare with
  published tables. Needs its weights file once (see `FIDInception`).
- `KerasImageNetInception`: `keras.applications.InceptionV3` with ImageNet weights. A different
  network and resize: its "FID" is comparable only with itself, never with papers.
- `ClassifierFeatures`: the penultimate features of a kerasgen `AttributeClassifier` trained on
  the data set: offline, no download, reported as `classifier:<attributes>`.
"""

import functools
import hashlib
import os
import warnings

import keras
import numpy as np

from kerasgen.checks import check_choice
from kerasgen.checks import check_int
from kerasgen.errors import DataError
from kerasgen.files import atomic_path
from kerasgen.nets import inception

INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"

# The FID Inception's weights: torch-fidelity's and pytorch-fid's PyTorch ports of the graph, and
# the file `convert_fid_weights` writes to kerasgen's cache.
TORCH_FIDELITY_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
TORCH_FIDELITY_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                      + TORCH_FIDELITY_WEIGHTS)
PYTORCH_FID_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"
PYTORCH_FID_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   + PYTORCH_FID_WEIGHTS)
FID_WEIGHTS_FILE = "fid_inception_2015.weights.h5"
FID_WEIGHTS_SUFFIXES = (".pth", ".pt", ".npz", ".weights.h5")


def weights_fingerprint(network):
    """A short hash of a network's weights: the key under which features it computed are cached
    (`kerasgen.metrics.cache_path`), so retrained or other weights never reuse them."""
    digest = hashlib.sha1()
    for weight in network.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight.value)).tobytes())
    return digest.hexdigest()[:12]


def _as_float01(images):
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype("float32") / 255.0
    return images.astype("float32")


def _as_uint8(images):
    """uint8 `(n, h, w, 3)` as the FID Inception takes them. Integer images must lie in
    0..255; float images in [0, 1] are quantised as saving them to PNG would (round(255 x)), so
    a model's samples and its saved images get the same features."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise DataError(f"images must have shape (n, height, width, 3); got {images.shape}.")
    if images.dtype == np.uint8:
        return images
    integer = np.issubdtype(images.dtype, np.integer)
    if not integer and not np.issubdtype(images.dtype, np.floating):
        raise DataError(f"images must be uint8 or float in [0, 1]; got dtype {images.dtype}.")
    low, high = (0, 255) if integer else (-1e-3, 1 + 1e-3)
    if images.size and (not np.isfinite(images).all() or images.min() < low
                        or images.max() > high):
        raise DataError(
            f"{images.dtype} images must be in {'0..255' if integer else '[0, 1]'}; got values "
            f"in [{np.nanmin(images):.4g}, {np.nanmax(images):.4g}]."
        )
    if integer:
        return images.astype("uint8")
    return np.rint(np.clip(images.astype("float64"), 0.0, 1.0) * 255.0).astype("uint8")


# ---- the resizes of the FID implementations ---------------------------------------------------

def resize_tf1(images, size=inception.IMAGE_SIZE):
    """Bilinear resize of `(n, h, w, c)` images to `size`x`size` exactly as TensorFlow 1.x's
    `tf.image.resize_bilinear(align_corners=False)`, which the FID graph ran: torch-fidelity's
    `interpolate_bilinear_2d_like_tensorflow1x` (its 'slow', CPU bit-exact method), in float32
    NumPy with the same operations in the same order. Source pixel i*in/out (no half-pixel
    offset), its floor and the next pixel (clamped at the border), x before y."""
    x = np.asarray(images, dtype="float32")
    height, width = x.shape[1:3]
    if (height, width) == (size, size):
        return x  # every weight is 0: the interpolation returns its input

    def grid(length):
        # PyTorch: arange(float32) * tensor(in/out, float32), truncated to the lower index.
        position = np.arange(size, dtype="float32") * np.float32(length / size)
        low = position.astype("int64")
        return low, np.minimum(low + 1, length - 1), position - low.astype("float32")

    y_lo, y_hi, dy = grid(height)
    x_lo, x_hi, dx = grid(width)
    dx = dx[None, None, :, None]
    top, bottom = x[:, y_lo], x[:, y_hi]
    in_0 = top[:, :, x_lo] + (top[:, :, x_hi] - top[:, :, x_lo]) * dx
    in_1 = bottom[:, :, x_lo] + (bottom[:, :, x_hi] - bottom[:, :, x_lo]) * dx
    return in_0 + (in_1 - in_0) * dy[None, :, None, None]


def resize_clean(images, size=inception.IMAGE_SIZE):
    """clean-fid's resize (`make_resizer("PIL", False, "bicubic", (299, 299))`): PIL bicubic on
    each channel as a float32 image (mode 'F', no rounding to uint8), clipped to [0, 255]."""
    from PIL import Image

    x = np.asarray(images, dtype="float32")
    out = np.empty((len(x), size, size, x.shape[-1]), dtype="float32")
    for i, image in enumerate(x):
        for c in range(x.shape[-1]):
            channel = Image.fromarray(np.ascontiguousarray(image[:, :, c]), mode="F")
            out[i, :, :, c] = np.asarray(channel.resize((size, size), Image.BICUBIC))
    return np.clip(out, 0, 255)


_RESIZES = {"tf1": resize_tf1, "clean": resize_clean}


# ---- the FID Inception's weights --------------------------------------------------------------

def default_fid_weights_path():
    """Where `convert_fid_weights` writes the weights and `FIDInception` looks for them:
    `$KERASGEN_CACHE` (else `~/.cache/kerasgen`) / `fid_inception_2015.weights.h5`."""
    root = os.environ.get("KERASGEN_CACHE") or os.path.join("~", ".cache", "kerasgen")
    return os.path.join(os.path.expanduser(root), FID_WEIGHTS_FILE)


def _torch_hub_checkpoints():
    """PyTorch's download folder (`torch.hub.get_dir()`/checkpoints), without importing torch."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "torch")
    return os.path.join(os.path.expanduser(home), "hub", "checkpoints")


def find_fid_weights():
    """The FID Inception weights file `FIDInception(weights=None)` uses: `$KERASGEN_FID_WEIGHTS`
    if set, else the converted file in kerasgen's cache (`default_fid_weights_path`), else
    torch-fidelity's or pytorch-fid's download in PyTorch's hub cache. Raises a one-line
    `DataError` saying where it looked and how to get the file."""
    chosen = os.environ.get("KERASGEN_FID_WEIGHTS")
    if chosen:
        if not os.path.isfile(os.path.expanduser(chosen)):
            raise DataError(f"KERASGEN_FID_WEIGHTS={chosen} names no file; set it to the FID "
                            f"Inception weights ({TORCH_FIDELITY_WEIGHTS} or a file converted "
                            "from it with `kerasgen features convert`) or unset it.")
        return os.path.expanduser(chosen)
    hub = _torch_hub_checkpoints()
    places = [default_fid_weights_path(), os.path.join(hub, TORCH_FIDELITY_WEIGHTS),
              os.path.join(hub, PYTORCH_FID_WEIGHTS)]
    for path in places:
        if os.path.isfile(path):
            return path
    raise DataError(
        f"no FID Inception weights: looked for $KERASGEN_FID_WEIGHTS (not set), {places[0]}, "
        f"{places[1]} and {places[2]}. Download {TORCH_FIDELITY_WEIGHTS} ({TORCH_FIDELITY_URL}) "
        f"and run `kerasgen features convert {TORCH_FIDELITY_WEIGHTS} {places[0]}` once (it "
        "needs PyTorch; afterwards nothing does), or pass weights=PATH."
    )


def _read_torch_file(path):
    try:
        import torch
    except ImportError:
        raise DataError(
            f"{path} is a PyTorch file and reading it needs PyTorch, which is not installed: "
            f"run `kerasgen features convert {path} OUT.weights.h5` once where PyTorch is and "
            "use OUT.weights.h5."
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(f"could not read {path} as a PyTorch state dict "
                        f"({type(e).__name__}: {e}).".replace("\n", " ")) from None
    if isinstance(state, dict) and set(state) == {"state_dict"}:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DataError(f"{path} holds a {type(state).__name__}, not a state dict.")
    return {key: value.detach().cpu().numpy() for key, value in state.items()
            if hasattr(value, "detach")}


def _check_weights_path(path):
    path = os.path.expanduser(os.fspath(path))
    if not path.lower().endswith(FID_WEIGHTS_SUFFIXES):
        raise DataError(f"FID Inception weights must be a {', '.join(FID_WEIGHTS_SUFFIXES)} "
                        f"file; got {path}.")
    if not os.path.isfile(path):
        raise DataError(f"no FID Inception weights at {path}. Download {TORCH_FIDELITY_WEIGHTS} "
                        f"({TORCH_FIDELITY_URL}); `kerasgen features convert` makes a file "
                        "that needs no PyTorch.")
    return path


def load_fid_weights(network, path):
    """Loads the FID Inception weights at `path` into `network` (from
    `kerasgen.nets.inception.fid_inception_v3`): a PyTorch state dict (`.pth`/`.pt`, needs
    PyTorch), its NumPy copy (`.npz`) or a Keras weights file (`.weights.h5`)."""
    path = _check_weights_path(path)
    if path.lower().endswith(".weights.h5"):
        try:
            network.load_weights(path)
        except Exception as e:
            raise DataError(f"{path} is not a weights file of the FID Inception "
                            f"({type(e).__name__}: {e}).".replace("\n", " ")) from None
    elif path.lower().endswith(".npz"):
        try:
            with np.load(path) as saved:
                state = dict(saved)
        except Exception as e:
            raise DataError(f"could not read {path} ({type(e).__name__}: {e}).") from None
        inception.set_torch_weights(network, state, source=path)
    else:
        inception.set_torch_weights(network, _read_torch_file(path), source=path)
    return path


def convert_fid_weights(source, out_path=None):
    """Converts the FID Inception's PyTorch weights (`weights-inception-2015-12-05-6726825d.pth`
    of torch-fidelity, or pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`) once into a file
    that loads without PyTorch: Keras weights (`.weights.h5`) or the state dict as NumPy
    arrays (`.npz`). `out_path` defaults to `default_fid_weights_path()`, where `FIDInception`
    finds it. Returns `out_path`."""
    out_path = os.path.expanduser(os.fspath(out_path or default_fid_weights_path()))
    if not out_path.lower().endswith((".weights.h5", ".npz")):
        raise DataError(f"the converted weights must be a .weights.h5 or .npz file; got "
                        f"{out_path}.")
    network = inception.fid_inception_v3()
    load_fid_weights(network, source)
    with atomic_path(out_path) as temporary:
        if out_path.lower().endswith(".npz"):
            with open(temporary, "wb") as f:
                np.savez(f, **inception.get_torch_weights(network))
        else:
            network.save_weights(temporary)
    return out_path


# ---- extractors -------------------------------------------------------------------------------

class FIDInception:
    """The Inception of the FID papers: 2048-d pool3 features for FID/KID/precision-recall and
    1008 logits for the Inception Score, from the 2015 TensorFlow graph `inception-2015-12-05`
    as torch-fidelity and pytorch-fid port it (`kerasgen.nets.inception`), on any backend.

    Images go through what torch-fidelity does: uint8 -> float32, resize to 299x299, then
    `(x - 128) / 128`, so scores compare with torch-fidelity's and published ones. With
    `resize="clean"`, clean-fid's PIL bicubic resize replaces the TF1 bilinear one (scores then
    compare with clean-fid's "clean" mode, reported as `inception-2015-clean`).

    Args:
        weights: the weights file: torch-fidelity's `weights-inception-2015-12-05-6726825d.pth`
            or pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (reading those needs
            PyTorch), or a `.weights.h5`/`.npz` from `convert_fid_weights` (no PyTorch).
            `None` looks where `find_fid_weights` says.
        resize: `"tf1"` (torch-fidelity, TTUR) or `"clean"` (clean-fid).
        batch_size: images per forward pass; the last batch of a call is padded to the same
            shape so compiled backends compile once.
    """

    def __init__(self, weights=None, resize="tf1", batch_size=50):
        self.resize = check_choice(resize, "resize", tuple(_RESIZES))
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        path = find_fid_weights() if weights is None else _check_weights_path(weights)
        self.network = inception.fid_inception_v3()
        self.weights = load_fid_weights(self.network, path)
        self.name = "inception-2015" if resize == "tf1" else "inception-2015-clean"

    @functools.cached_property
    def fingerprint(self):
        """A hash of the weights (computed once): the same for a `.pth` and its conversion."""
        return weights_fingerprint(self.network)

    def preprocess(self, images):
        """uint8 (or float [0, 1]) `(n, h, w, 3)` -> the network's float32 input: resized to
        299x299, then `(x - 128) / 128`, in this order as torch-fidelity does."""
        x = _RESIZES[self.resize](_as_uint8(images).astype("float32"))
        return (x - np.float32(128)) / np.float32(128)

    def features_and_logits(self, images):
        """`(features, logits)`: float64 `(n, 2048)` pool features and `(n, 1008)` logits
        (torch-fidelity's `logits_unbiased`) in one pass."""
        images = _as_uint8(images)
        if len(images) == 0:
            return np.zeros((0, 2048)), np.zeros((0, inception.NUM_CLASSES))
        step = min(self.batch_size, len(images))
        pools, logits = [], []
        for start in range(0, len(images), step):
            x = self.preprocess(images[start : start + step])
            count = len(x)
            if count < step:  # pad to the compiled shape; rows do not interact at inference
                x = np.concatenate([x, np.zeros((step - count, *x.shape[1:]), x.dtype)])
            out = self.network.predict_on_batch(x)
            pools.append(np.asarray(out["pool"])[:count])
            logits.append(np.asarray(out["logits"])[:count])
        return (np.concatenate(pools).astype("float64"),
                np.concatenate(logits).astype("float64"))

    def __call__(self, images):
        """float64 pool3 features `(n, 2048)` of uint8 (or float [0, 1]) images `(n, h, w, 3)`
        of any size."""
        return self.features_and_logits(images)[0]

    def logits(self, images):
        """float64 logits `(n, 1008)` without the classifier's bias, as torch-fidelity's
        Inception Score takes them (`logits_unbiased`)."""
        return self.features_and_logits(images)[1]


class KerasImageNetInception:
    """`keras.applications.InceptionV3` with ImageNet weights: average-pool features (2048-d) at
    299x299 after Keras' bilinear resize. NOT the network of the FID papers (see
    `FIDInception`): its scores compare only with its own, and are reported as
    `keras-imagenet-inceptionv3`.

    Args:
        weights: `"imagenet"` (Keras downloads them once, or finds them in its cache),
            a path to the no-top `.h5` weights file, or `None` (random weights: for tests only).
        batch_size: images per forward pass.
    """

    def __init__(self, weights="imagenet", batch_size=50):
        if isinstance(weights, (str, os.PathLike)) and weights != "imagenet":
            if not os.path.isfile(weights):
                raise DataError(
                    f"no InceptionV3 weights at {weights}. Download {INCEPTION_WEIGHTS_FILE} "
                    "(keras.applications.InceptionV3(weights='imagenet', include_top=False) "
                    "fetches it to ~/.keras/models) and pass its path."
                )
        try:
            self.network = keras.applications.InceptionV3(
                include_top=False, weights=weights, pooling="avg", input_shape=(299, 299, 3)
            )
        except Exception as e:  # a failed download: say how to get the file offline
            raise DataError(
                f"could not load InceptionV3 weights ({type(e).__name__}: {e}). Without internet, "
                f"copy {INCEPTION_WEIGHTS_FILE} to ~/.keras/models or pass weights=PATH; or use "
                "kerasgen's offline ClassifierFeatures."
            ) from None
        self.weights = weights
        self.batch_size = batch_size
        self.name = "keras-imagenet-inceptionv3" + ("" if weights is not None
                                                    else "-random-weights")

    @functools.cached_property
    def fingerprint(self):
        """A hash of the weights (computed once)."""
        return weights_fingerprint(self.network)

    def __call__(self, images):
        x = keras.ops.image.resize(_as_float01(images), (299, 299), interpolation="bilinear")
        x = x * 2.0 - 1.0  # keras.applications.inception_v3.preprocess_input
        return np.asarray(self.network.predict(x, batch_size=self.batch_size, verbose=0),
                          dtype="float64")


class InceptionFeatures(KerasImageNetInception):
    """Deprecated name of `KerasImageNetInception` (which is not the FID papers' network: use
    `FIDInception` for comparable scores)."""

    def __init__(self, *args, **kwargs):
        warnings.warn("kerasgen.features.InceptionFeatures is KerasImageNetInception, not the "
                      "FID papers' network; use FIDInception for comparable scores.",
                      DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)


class ClassifierFeatures:
    """The features a trained `kerasgen.metrics.AttributeClassifier` computes before its last
    layer (global-average-pooled convolution features): an offline extractor trained on the
    data set itself. Scores are reported as `classifier:<attributes>`."""

    def __init__(self, classifier, batch_size=256):
        network = classifier.network
        pooled = network.layers[-2].output  # the input of the logits layer
        self.network = keras.Model(network.inputs, pooled, name="classifier_features")
        self.batch_size = batch_size
        self.image_size = classifier.image_size
        self.name = "classifier:" + ",".join(classifier.attributes)
        self.fingerprint = weights_fingerprint(self.network)

    def __call__(self, images):
        x = _as_float01(images) * 2.0 - 1.0  # as AttributeClassifier.call
        return np.asarray(self.network.predict(x, batch_size=self.batch_size, verbose=0),
                          dtype="float64")
