"""Synthetic faces: kerasgen's built-in data set, drawn procedurally, no download needed.

Every face is a cartoon-like portrait drawn with vectorised NumPy: soft-edged ellipses and
curves (about one pixel of anti-aliasing ramp) composited in float32, then converted to `uint8`.
Drawing happens in resolution-independent coordinates, so the same face renders at any size:
32, 64 and 128 pixels are the documented sizes; any multiple of 8 from 16 to 256 works.

Face `i` of a stream depends only on `(seed, split, i)`: its attributes and its nuisance
parameters come from `np.random.SeedSequence([seed, split, block, stream])` with blocks of 1024
faces, so it is the same whatever `n`, batch or image size it is drawn with, and rendering the
same indices with one attribute flipped gives the same face with only that attribute changed.
The splits `"train"`, `"validation"` and `"test"` are independent streams.

Attributes (binary, named as in CelebA, in the order of `ATTRIBUTES`):

- `Bald`: no hair on top of the head (skin-coloured scalp); hair only low on the sides.
- `Bangs`: a fringe of hair over the forehead, down to just above the eyebrows.
- `Big_Nose`: a nose about 2.3 times as wide and 1.9 times as tall, reaching lower, with
  bigger nostrils and a longer shadow down the bridge.
- `Black_Hair`, `Blond_Hair`, `Brown_Hair`, `Gray_Hair`: hair (and eyebrow, beard) colour.
  Mutually exclusive when sampled; when none is set the hair is auburn/red. If several are
  set by hand, the first of Black, Blond, Brown, Gray wins.
- `Eyeglasses`: dark frames round both eyes with a bridge, arms and lightly tinted lenses.
- `Goatee`: a beard patch on the chin below the lower lip, in the beard colour (the hair
  colour, darkened unless that would hide it on dark skin).
- `Heavy_Makeup`: coloured eye shadow over the eyelids and thick dark eyeliner.
- `Male`: short hair that stops at ear level, wider jaw, thicker eyebrows; otherwise
  long hair falling behind the shoulders and a narrower chin.
- `Mouth_Slightly_Open`: a dark opening between the lips (teeth show when also `Smiling`).
- `Mustache`: a band of hair over the upper lip, in the beard colour.
- `Narrow_Eyes`: slits about a third as tall as the open eyes.
- `Pale_Skin`: very light skin, paler than any tone of the nuisance skin range.
- `Rosy_Cheeks`: pink blush on both cheeks.
- `Smiling`: a mouth 30% wider, curved upwards (otherwise a straight, neutral mouth).
- `Wearing_Hat`: a coloured hat (cap with brim or beanie) covering the top of the head and hair.
- `Wearing_Lipstick`: vivid red or pink lips, drawn fuller, instead of lips a little darker
  than the skin.

`sample_attributes` draws them with CelebA-like dependencies: about 45% Male; Bald (19%,
mostly men) never with Bangs (33%); one hair colour or none (auburn, ~16%); Mustache (19%)
and Goatee (16%) only on men; Heavy_Makeup (31%) and Wearing_Lipstick (36%) nearly only on
women; Mouth_Slightly_Open (44%) more often when Smiling (48%); the rest 15% to 26%.

Nuisance factors, drawn per face: head yaw (features and ears shift sideways, the far eye
narrows), roll and a little pitch; face size, position, width, height and jaw; skin tone over
a wide range; hair shade, volume, length, hairline, parting and fringe shape; eye colour;
eyebrow arch; mouth width; hat, glasses, lipstick, make-up and clothes colours; background
(flat, gradient or two-tone); and lighting (a directional shading gradient across the image).

Use `synthetic_faces(...)` (a `keras.utils.PyDataset` for `model.fit`), or `sample_attributes`
and `render_faces` directly.
"""

import concurrent.futures
import functools
import threading

import keras
import numpy as np

from kerasgen.data.pipeline import check_int
from kerasgen.data.pipeline import default_workers
from kerasgen.errors import AttributeNameError
from kerasgen.errors import DataError

ATTRIBUTES = (
    "Bald",
    "Bangs",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Brown_Hair",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "Pale_Skin",
    "Rosy_Cheeks",
    "Smiling",
    "Wearing_Hat",
    "Wearing_Lipstick",
)
SPLITS = ("train", "validation", "test")
DOCUMENTED_IMAGE_SIZES = (32, 64, 128)
BLOCK_SIZE = 1024  # faces per block of random draws: face i's draws depend on i only.

_INDEX = {name: i for i, name in enumerate(ATTRIBUTES)}
_ATTRIBUTE_STREAM = 0
_NUISANCE_STREAM = 1
_SHUFFLE_STREAM = 2
_NUISANCE_COLUMNS = 64  # uniform draws per face; fixed so that adding a parameter changes nothing.
# Columns derived from the draws, after them: cos and sin of the roll, of the background
# gradient's direction and of the light's direction, then the skin colour.
_COS_ROLL, _SIN_ROLL, _COS_BACKGROUND, _SIN_BACKGROUND, _COS_LIGHT, _SIN_LIGHT = range(64, 70)
_SKIN = 70
_F32 = np.float32


# ---------------------------------------------------------------------------------------------
# Argument checks.


def _check_split(split):
    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}; received split={split!r}.")
    return SPLITS.index(split)


def _check_seed(seed):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"seed must be a non-negative integer; received seed={seed!r}.")
    return int(seed)


def _check_image_size(image_size):
    ok = isinstance(image_size, (int, np.integer)) and not isinstance(image_size, (bool, np.bool_))
    if not ok or not 16 <= image_size <= 256 or image_size % 8:
        raise DataError(
            "image_size must be a multiple of 8 from 16 to 256 (documented: "
            f"{', '.join(map(str, DOCUMENTED_IMAGE_SIZES))}); "
            f"received image_size={image_size!r}."
        )
    return int(image_size)


def _check_attribute_names(names):
    """Resolves `None`, `"all"` or a list of names to a tuple of valid attribute names."""
    if names is None or (isinstance(names, str) and names == "all"):
        return ATTRIBUTES
    if isinstance(names, str):
        names = [names]
    names = tuple(names)
    if not names:
        raise DataError('attributes must be None, "all" or a non-empty list of attribute names.')
    for name in names:
        if name not in _INDEX:
            raise AttributeNameError(
                f"unknown attribute {name!r}; the synthetic faces have: {', '.join(ATTRIBUTES)}."
            )
    if len(set(names)) != len(names):
        raise DataError(f"attributes must not repeat a name; received {list(names)}.")
    return names


def _stream_indices(n, start, indices):
    if indices is None:
        start = check_int(start, "start", minimum=0)
        return np.arange(start, start + n, dtype=np.int64)
    indices = np.asarray(indices)
    if indices.ndim != 1 or indices.shape[0] != n or not np.issubdtype(indices.dtype, np.integer):
        raise DataError(
            f"indices must be a 1-D integer array of length {n} (one per face); received "
            f"shape {indices.shape} and dtype {indices.dtype}."
        )
    if n and indices.min() < 0:
        raise DataError(f"indices must be >= 0; received a minimum of {indices.min()}.")
    return indices.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Random draws, in blocks of BLOCK_SIZE faces.


def _block_rng(seed, split_id, block, stream):
    return np.random.default_rng(np.random.SeedSequence([seed, split_id, block, stream]))


@functools.lru_cache(maxsize=256)
def _block_attributes(seed, split_id, block):
    """Attributes of one block of faces, with CelebA-like priors and dependencies."""
    u = _block_rng(seed, split_id, block, _ATTRIBUTE_STREAM).random((BLOCK_SIZE, 24))
    out = np.zeros((BLOCK_SIZE, len(ATTRIBUTES)), _F32)
    male = u[:, 0] < 0.45
    bald = u[:, 1] < np.where(male, 0.38, 0.03)
    bangs = ~bald & (u[:, 2] < np.where(male, 0.25, 0.48))
    # Hair colour: one category, or none (auburn).
    p_black = np.full(BLOCK_SIZE, 0.25)
    p_blond = np.where(male, 0.12, 0.27)
    p_brown = np.full(BLOCK_SIZE, 0.24)
    p_gray = np.where(bald, 0.28, 0.12)
    c1 = p_black
    c2 = c1 + p_blond
    c3 = c2 + p_brown
    c4 = c3 + p_gray
    black = u[:, 3] < c1
    blond = (u[:, 3] >= c1) & (u[:, 3] < c2)
    brown = (u[:, 3] >= c2) & (u[:, 3] < c3)
    gray = (u[:, 3] >= c3) & (u[:, 3] < c4)
    glasses = u[:, 4] < np.where(gray, 0.4, 0.24)
    hat = u[:, 5] < 0.2
    pale = u[:, 6] < 0.2
    mustache = male & (u[:, 7] < 0.42)
    goatee = male & (u[:, 8] < np.where(mustache, 0.55, 0.2))
    makeup = u[:, 9] < np.where(male, 0.02, 0.55)
    lipstick = u[:, 10] < np.where(male, 0.02, np.where(makeup, 0.85, 0.35))
    smiling = u[:, 11] < 0.48
    mouth_open = u[:, 12] < np.where(smiling, 0.62, 0.28)
    rosy = u[:, 13] < np.where(male, 0.1, np.where(makeup, 0.4, 0.15))
    narrow = u[:, 14] < np.where(smiling, 0.28, 0.12)
    big_nose = u[:, 15] < np.where(male, 0.35, 0.12)
    values = {
        "Bald": bald, "Bangs": bangs, "Big_Nose": big_nose, "Black_Hair": black,
        "Blond_Hair": blond, "Brown_Hair": brown, "Eyeglasses": glasses, "Goatee": goatee,
        "Gray_Hair": gray, "Heavy_Makeup": makeup, "Male": male, "Mouth_Slightly_Open": mouth_open,
        "Mustache": mustache, "Narrow_Eyes": narrow, "Pale_Skin": pale, "Rosy_Cheeks": rosy,
        "Smiling": smiling, "Wearing_Hat": hat, "Wearing_Lipstick": lipstick,
    }
    for name, value in values.items():
        out[:, _INDEX[name]] = value
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=256)
def _block_nuisance(seed, split_id, block):
    """Uniform [0, 1) draws for one block of faces, one row per face, fixed columns."""
    u = _block_rng(seed, split_id, block, _NUISANCE_STREAM).random((BLOCK_SIZE, _NUISANCE_COLUMNS))
    # Functions with vectorised kernels (cos, interp) are evaluated here, over whole blocks, so
    # that a face's values never depend on its position in a batch.
    roll = (u[:, 3] - 0.5) * 0.30
    background = u[:, 40] * 2.0 * np.pi
    light = u[:, 45] * 2.0 * np.pi
    skin = [np.interp(u[:, 9] * 4.0, np.arange(5), _SKIN_RAMP[:, c]) for c in range(3)]
    derived = [np.cos(roll), np.sin(roll), np.cos(background), np.sin(background), np.cos(light),
               np.sin(light)] + skin
    u = np.concatenate([u, np.stack(derived, axis=1)], axis=1).astype(_F32)
    u.setflags(write=False)
    return u


def _gather(block_fn, seed, split_id, indices):
    """Rows of per-block tables for arbitrary stream indices (one lookup per distinct block)."""
    blocks = indices // BLOCK_SIZE
    first = block_fn(seed, split_id, 0)
    out = np.empty((indices.shape[0],) + first.shape[1:], first.dtype)
    for block in np.unique(blocks):
        rows = blocks == block
        out[rows] = block_fn(seed, split_id, int(block))[indices[rows] % BLOCK_SIZE]
    return out


def sample_attributes(n, seed=0, split="train", start=0):
    """Attributes of faces `start .. start + n - 1` of a stream, as drawn for the data set.

    Returns a float32 array of 0/1, shape `(n, len(ATTRIBUTES))`, columns in `ATTRIBUTES` order.
    """
    n = check_int(n, "n", minimum=0)
    seed, split_id = _check_seed(seed), _check_split(split)
    return _gather(_block_attributes, seed, split_id, _stream_indices(n, start, None))


# ---------------------------------------------------------------------------------------------
# Colours (0..255).

_SKIN_RAMP = np.array(
    [[228, 186, 158], [206, 153, 116], [172, 116, 80], [138, 90, 62], [104, 68, 48]], _F32
)
_PALE_SKIN = np.array([250, 230, 221], _F32)
_HAIR = {  # darkest and lightest shade of each hair colour category
    "Black_Hair": ([16, 14, 16], [44, 34, 32]),
    "Blond_Hair": ([196, 156, 84], [242, 218, 150]),
    "Brown_Hair": ([72, 44, 24], [128, 84, 48]),
    "Gray_Hair": ([138, 138, 144], [208, 208, 212]),
    None: ([128, 48, 24], [190, 88, 40]),  # auburn, when no hair colour attribute is set
}
_EYES = np.array(
    [[92, 56, 30], [48, 32, 22], [60, 115, 185], [70, 130, 80], [135, 102, 50], [110, 125, 140]],
    _F32,
)
_LIPSTICK = np.array(
    [[222, 26, 52], [200, 20, 96], [236, 60, 120], [210, 30, 40], [240, 76, 76]], _F32
)
_HATS = np.array(
    [[200, 40, 40], [40, 70, 175], [30, 130, 70], [125, 50, 155], [235, 160, 30], [30, 145, 160],
     [235, 232, 225], [70, 70, 82]], _F32
)
_FRAMES = np.array([[18, 18, 20], [74, 40, 20], [120, 22, 34], [22, 30, 92]], _F32)
_TINTS = np.array([[170, 210, 235], [200, 200, 205], [160, 120, 80]], _F32)
_MAKEUP = np.array(
    [[150, 64, 170], [64, 104, 200], [226, 96, 160], [40, 150, 150], [90, 160, 70]], _F32
)
_BLUSH = np.array([236, 92, 104], _F32)
_TEETH = np.array([244, 240, 232], _F32)
_SCLERA = np.array([248, 246, 242], _F32)
_PUPIL = np.array([12, 10, 10], _F32)
_MOUTH = np.array([60, 18, 24], _F32)


def _pick(palette, u):
    return palette[np.minimum((u * len(palette)).astype(np.int64), len(palette) - 1)]


def _lerp(lo, hi, t):
    lo, hi = np.asarray(lo, _F32), np.asarray(hi, _F32)
    return lo + (hi - lo) * t[:, None]


# ---------------------------------------------------------------------------------------------
# Rendering.


class _Canvas:
    """A chunk of faces being drawn: planar float32 image (3, n, H, W) plus per-face geometry.

    Coordinates: image x, y in [-1, 1] (y down). Each face has its own frame (u, v): origin at
    the head centre, rotated by the roll and divided by the face scale, so that features are
    placed in face units whatever the pose and the image size. `select` gives a canvas over a
    subset of the faces (for layers that few faces have), which paints through to this one.
    """

    def __init__(self, size, cx, cy, scale, cos, sin, windows=True):
        self.n, self.size, self.windows = cx.shape[0], size, windows
        self.px = _F32(size / 2.0)  # pixels per image unit
        grid = (np.arange(size, dtype=_F32) + _F32(0.5)) * _F32(2.0 / size) - _F32(1.0)
        self.xs = grid.astype(_F32)  # pixel centres
        self.ys = self.xs
        self.img = np.empty((3, self.n, size, size), _F32)
        self.root_n, self.idx = self.n, None
        self.cx, self.cy, self.s = cx, cy, scale
        self.cos, self.sin = cos, sin
        self.pps = (scale * self.px).astype(_F32)  # pixels per face unit

    def select(self, active, dense=0.6):
        """`(canvas, alpha)` for a layer only `active` faces have: a sub-canvas over those faces
        (alpha None) when they are few, else this canvas with alpha = active; `(None, None)` when
        no face has it. Faces outside the layer are then left exactly as they were."""
        active = np.asarray(active, bool)
        count = int(active.sum())
        if count == 0:
            return None, None
        if count >= dense * self.n or self.idx is not None:
            return self, active.astype(_F32)
        sub = object.__new__(_Canvas)
        sub.__dict__.update(self.__dict__)
        sub.idx = np.flatnonzero(active)
        sub.n = count
        for name in ("cx", "cy", "s", "cos", "sin", "pps"):
            setattr(sub, name, getattr(self, name)[sub.idx])
        return sub, None

    def p(self, a):
        """A per-face parameter (scalar or (root_n,) array) as an (n,) float32 array."""
        a = np.asarray(a, _F32)
        if a.ndim == 0:
            return np.broadcast_to(a, (self.n,))
        # Arrays over all faces are subset; arrays already over this canvas's faces pass through.
        return a[self.idx] if self.idx is not None and a.shape[0] == self.root_n else a

    def col(self, a):
        return self.p(a).reshape(-1, 1, 1)

    # -- geometry ------------------------------------------------------------------------------

    def window(self, fu, fv, radius):
        """Pixel window (y0, y1, x0, x1) holding the circle (fu, fv, radius) of every face."""
        if not self.windows:
            return (0, self.size, 0, self.size)
        fu, fv, radius = self.p(fu), self.p(fv), self.p(radius)
        x = self.cx + self.s * (fu * self.cos - fv * self.sin)
        y = self.cy + self.s * (fu * self.sin + fv * self.cos)
        r = self.s * radius + _F32(3.0) / self.px  # three pixels of margin for the ramps
        lo = lambda c: int(np.floor((float((c - r).min()) + 1.0) * self.px - 0.5))  # noqa: E731
        hi = lambda c: int(np.ceil((float((c + r).max()) + 1.0) * self.px - 0.5)) + 1  # noqa: E731
        x0, x1 = max(lo(x), 0), min(hi(x), self.size)
        y0, y1 = max(lo(y), 0), min(hi(y), self.size)
        if x0 >= x1 or y0 >= y1:
            return None
        return (y0, y1, x0, x1)

    def uv(self, win, fu, fv, ku=1.0, kv=1.0):
        """Face coordinates over a window: U = (u - fu) * ku, V = (v - fv) * kv, each (n, h, w)."""
        y0, y1, x0, x1 = win
        ku, kv, fu, fv = self.p(ku), self.p(kv), self.p(fu), self.p(fv)
        dx = self.xs[None, None, x0:x1] - self.cx.reshape(-1, 1, 1)
        dy = self.ys[None, y0:y1, None] - self.cy.reshape(-1, 1, 1)
        c, s = self.cos / self.s, self.sin / self.s
        col = lambda a: a.reshape(-1, 1, 1)  # noqa: E731
        # Each product is (n, 1, w) or (n, h, 1): only the final sums cost a full (n, h, w) pass.
        U = (dx * col(c * ku) - col(fu * ku)) + dy * col(s * ku)
        V = (dy * col(c * kv) - col(fv * kv)) - dx * col(s * kv)
        return U, V

    def ramp(self, signed, soft=1.0):
        """Soft mask from a signed distance in face units (positive inside), in place: the edge
        ramps from 0 to 1 over `soft` pixels."""
        signed *= (self.pps / self.p(soft)).reshape(-1, 1, 1)
        signed += _F32(0.5)
        np.clip(signed, 0.0, 1.0, out=signed)
        return signed

    # -- shapes (each returns a mask (n, h, w) in [0, 1] over the window) ---------------------

    def ellipse(self, win, fu, fv, au, bv, soft=1.0, taper=None):
        """Filled ellipse centred at (fu, fv) with semi-axes au, bv (face units); `taper` narrows
        its lower half (width times 1 - taper * (v / bv)^2)."""
        au, bv = self.p(au), self.p(bv)
        U, V = self.uv(win, fu, fv, 1.0 / au, 1.0 / bv)
        if taper is not None:
            t = np.maximum(V, 0.0)
            t *= t
            t *= -self.col(taper)
            t += _F32(1.0)
            U /= t
        np.multiply(U, U, out=U)
        np.multiply(V, V, out=V)
        U += V
        # Near the edge d - 1 ~ 2 * distance / radius: half the radius turns d into a distance.
        U -= _F32(1.0)
        U *= (np.minimum(au, bv) * _F32(-0.5)).reshape(-1, 1, 1)
        return self.ramp(U, soft)

    def arc(self, win, fu, fv, w, curve, top, bottom, soft=1.0):
        """A curved band: centre line v = fv + curve * t^2 (t = (u - fu) / w, |t| <= 1), reaching
        `top` above and `bottom` below it at t = 0 and tapering to points at the ends."""
        w = self.p(w)
        U, V = self.uv(win, fu, fv, 1.0 / w, 1.0)
        curve, top, bottom = self.col(curve), self.col(top), self.col(bottom)
        T2 = U * U
        upper = (curve + top) * T2 - top  # boundary above (smaller v)
        lower = (curve - bottom) * T2 + bottom
        d1 = V - upper
        lower -= V
        np.minimum(d1, lower, out=d1)
        np.abs(U, out=U)  # end caps at |t| = 1
        U -= _F32(1.0)
        U *= -w.reshape(-1, 1, 1)
        np.minimum(d1, U, out=d1)
        return self.ramp(d1, soft)

    def side(self, win, fv, sign=1.0, soft=1.0):
        """Half-plane v > fv (sign=1) or v < fv (sign=-1) in face coordinates."""
        _, V = self.uv(win, 0.0, fv)
        if sign < 0:
            np.negative(V, out=V)
        return self.ramp(V, soft)

    # -- compositing ---------------------------------------------------------------------------

    def fill(self, colour):
        for c in range(3):
            self.img[c] = colour[:, c].reshape(-1, 1, 1)

    def paint(self, win, mask, colour, alpha=None):
        """Alpha-blends `colour` ((root_n, 3) or (3,)) over the window with `mask` times `alpha`."""
        y0, y1, x0, x1 = win
        if alpha is not None:
            mask *= self.col(alpha)
        colour = np.asarray(colour, _F32)
        if colour.ndim == 2 and self.idx is not None and colour.shape[0] == self.root_n:
            colour = colour[self.idx]
        colour = np.broadcast_to(colour, (self.n, 3))
        tmp = np.empty_like(mask)
        for c in range(3):
            if self.idx is None:
                view = self.img[c, :, y0:y1, x0:x1]
            else:
                view = self.img[c, self.idx, y0:y1, x0:x1]
            np.subtract(colour[:, c].reshape(-1, 1, 1), view, out=tmp)
            tmp *= mask
            view += tmp
            if self.idx is not None:
                self.img[c, self.idx, y0:y1, x0:x1] = view


def _render_chunk(attrs, u, size, windows=True):
    """Draws faces with attributes `attrs` (n, K) and nuisance rows `u` (n, 73) at `size` px."""
    on = {name: attrs[:, i] > 0.5 for i, name in enumerate(ATTRIBUTES)}
    f = lambda a: np.asarray(a, _F32)  # noqa: E731
    male, bald = on["Male"], on["Bald"]

    # Pose and face shape. Face units: the head is about 0.9 wide and 1.15 tall.
    scale = f(0.96 + 0.18 * u[:, 2])
    cx = f((u[:, 0] - 0.5) * 0.16)
    cy = f(0.06 + (u[:, 1] - 0.5) * 0.10)
    yaw = f((u[:, 4] - 0.5) * 0.60)
    pitch = f((u[:, 5] - 0.5) * 0.10)
    a = f(0.43 * (0.90 + 0.20 * u[:, 6]) * np.where(male, 1.05, 1.0))
    b = f(0.57 * (0.93 + 0.14 * u[:, 7]))
    jaw = f(np.where(male, 0.06, 0.20) + 0.08 * u[:, 8])
    shift = f(yaw * a)  # sideways parallax of features at the front of the face
    dv = f(pitch * b)
    cv = _Canvas(size, cx, cy, scale, u[:, _COS_ROLL], u[:, _SIN_ROLL], windows)

    # Colours.
    skin = u[:, _SKIN:_SKIN + 3]
    skin = skin + ((u[:, 10] - 0.5) * 16.0)[:, None] * np.array([1.0, 0.2, -1.0])
    pale = _PALE_SKIN - (u[:, 11] * 10.0)[:, None] * np.array([0.3, 0.6, 0.8])
    skin = f(np.where(on["Pale_Skin"][:, None], pale, skin))
    hair = _lerp(*_HAIR[None], u[:, 12])
    for name in ("Gray_Hair", "Brown_Hair", "Blond_Hair", "Black_Hair"):  # the last set wins
        hair = np.where(on[name][:, None], _lerp(*_HAIR[name], u[:, 12]), hair)
    hair = f(hair)
    # Eyebrows and beards: darker than the hair, unless that hides them on a dark skin.
    lum = lambda c: c[:, 0] * 0.3 + c[:, 1] * 0.59 + c[:, 2] * 0.11  # noqa: E731
    darker = np.abs(lum(hair * 0.62) - lum(skin)) >= np.abs(lum(hair) - lum(skin))
    dark_hair = f(np.where(darker[:, None], hair * 0.62, hair))
    lips = f(skin * np.array([0.9, 0.72, 0.72]) + np.array([10.0, 0.0, 0.0]))
    lips = f(np.where(on["Wearing_Lipstick"][:, None], _pick(_LIPSTICK, u[:, 24]), lips))
    bg1 = u[:, 34:37] * 190.0 + 40.0
    bg1 = f(bg1 * 0.7 + (bg1[:, :1] + bg1[:, 1:2] + bg1[:, 2:]) * 0.1)
    bg2 = u[:, 37:40] * 190.0 + 40.0
    bg2 = f(bg2 * 0.7 + (bg2[:, :1] + bg2[:, 1:2] + bg2[:, 2:]) * 0.1)

    # Background: flat, gradient or two-tone along a random direction.
    mode = (u[:, 33] * 3.0).astype(np.int64)
    cv.fill(bg1)
    full = (0, size, 0, size)
    t = cv.xs[None, None, :] * u[:, _COS_BACKGROUND].reshape(-1, 1, 1)
    t = t + cv.ys[None, :, None] * u[:, _SIN_BACKGROUND].reshape(-1, 1, 1)
    t -= f((u[:, 41] - 0.5) * 0.8).reshape(-1, 1, 1)
    t *= f(np.where(mode == 2, cv.px, 0.6)).reshape(-1, 1, 1)
    t += _F32(0.5)
    np.clip(t, 0.0, 1.0, out=t)
    cv.paint(full, t, bg2, alpha=f(mode > 0))

    # Clothes (shoulders).
    sh_v = f(b * 1.95)
    win = cv.window(0.0, sh_v, 1.2)
    if win:
        clothes = f(u[:, 42:45] * 170.0 + 30.0)
        cv.paint(win, cv.ellipse(win, 0.0, sh_v, f(a * 2.1), f(b * 0.75)), clothes)

    # Hair behind the head: the hair volume (short, to ear level, for men) plus long hair.
    vol = u[:, 13]
    hair_au = f(a * np.where(male, 1.07 + 0.06 * vol, 1.10 + 0.12 * vol))
    hair_bv = f(b * np.where(male, 0.98 + 0.08 * vol, 1.02 + 0.12 * vol))
    hair_cv = f(-0.10 * b)
    hair_cu = f(-0.15 * shift)
    hair_r = f(np.maximum(hair_au, hair_bv))
    win = cv.window(hair_cu, hair_cv, hair_r)
    back = cv.ellipse(win, hair_cu, hair_cv, hair_au, hair_bv)
    np.minimum(back, cv.side(win, f(np.where(male, 0.05 * b, 10.0)), sign=-1.0), out=back)
    if bald.any():  # only the sides, below the bald crown
        np.minimum(back, cv.side(win, f(np.where(bald, -0.30 * b, -10.0))), out=back)
    cv.paint(win, back, hair)
    sub, alpha = cv.select(~male)
    if sub:
        length = f(b * (0.75 + 0.55 * u[:, 14]))
        lv, la, lb = f(0.05 * b + length * 0.5), f(hair_au * 1.02), f(length * 0.5 + 0.55 * b)
        win = sub.window(hair_cu, lv, np.maximum(la, lb))
        sub.paint(win, sub.ellipse(win, hair_cu, lv, la, lb), hair, alpha)

    # Neck and ears (behind the face; the near ear shows more when the head turns).
    neck_v = f(0.95 * b)
    win = cv.window(0.0, neck_v, 0.6)
    cv.paint(win, cv.ellipse(win, 0.0, neck_v, f(a * 0.5), f(b * 0.6)), f(skin * 0.8))
    for s in (-1.0, 1.0):
        eu, ev = f(s * (a + 0.01) - 0.3 * shift), f(0.04 * b + dv)
        win = cv.window(eu, ev, 0.14)
        cv.paint(win, cv.ellipse(win, eu, ev, 0.07, 0.12), f(skin * 0.9))

    # Face: darker at the rim, lit towards the light; the lower half narrows to the chin.
    lx, ly = u[:, _COS_LIGHT], u[:, _SIN_LIGHT]
    win = cv.window(0.0, 0.0, np.maximum(a, b) + 0.16)  # + the soft edge of the lit part
    cv.paint(win, cv.ellipse(win, 0.0, 0.0, a, b, taper=jaw), f(skin * 0.88))
    soft = f(0.18 * cv.pps)
    lit = cv.ellipse(win, f(0.12 * a * lx), f(0.12 * b * ly), f(a * 0.86), f(b * 0.88), soft=soft,
                     taper=jaw)
    cv.paint(win, lit, skin)

    # Hair over the face: above the hairline (or the fringe), inside the hair volume.
    sub, alpha = cv.select(~bald, dense=0.0)
    if sub:
        win = sub.window(hair_cu, hair_cv, hair_r)
        top = sub.ellipse(win, hair_cu, hair_cv, hair_au, hair_bv)
        U, V = sub.uv(win, f(0.3 * shift), 0.0, 1.0 / a)
        line = (U * U) * sub.col(0.36 * b) + U * sub.col((u[:, 16] - 0.5) * 0.16)
        line -= sub.col(b * (0.60 + 0.08 * u[:, 15]))
        bangs = on["Bangs"] & ~bald
        if bangs.any():
            fringe = U * sub.col((u[:, 17] - 0.5) * 0.5 * b * a) - sub.col(0.24 * b - dv)
            teeth = U * sub.col(4.0 + 4.0 * u[:, 18])
            teeth -= np.floor(teeth)
            teeth -= _F32(0.5)
            np.abs(teeth, out=teeth)
            teeth *= _F32(0.05)
            fringe += teeth
            np.maximum(fringe, line, out=fringe)
            fringe -= line
            fringe *= sub.col(bangs)
            line += fringe
        line -= V
        shadow = np.minimum(top, sub.ramp(line + _F32(0.035)))  # the hair's shadow on the skin
        sub.paint(win, shadow, f(skin * 0.55), f(0.6 if alpha is None else alpha * 0.6))
        np.minimum(top, sub.ramp(line), out=top)
        sub.paint(win, top, hair, alpha)

    # Cheeks.
    sub, alpha = cv.select(on["Rosy_Cheeks"])
    if sub:
        blush = f(alpha * 0.7) if alpha is not None else 0.7
        for s in (-1.0, 1.0):
            ru, rv = f(s * a * 0.55 + 0.45 * shift), f(0.18 * b + dv)
            win = sub.window(ru, rv, 0.1)
            sub.paint(win, sub.ellipse(win, ru, rv, 0.1, 0.08, soft=2.5), _BLUSH, blush)

    # Nose: a shadow down the bridge, a shaded tip with a highlight, two nostrils.
    big = on["Big_Nose"]
    nu, nv = f(0.85 * shift), f(0.34 * b + dv + np.where(big, 0.02, 0.0))
    nw = f(np.where(big, 2.3, 1.0) * (0.042 + 0.01 * u[:, 32]))
    nh = f(np.where(big, 1.9, 1.0) * 0.036)
    win = cv.window(nu, f(nv - 0.1), 0.24)
    bridge = cv.arc(win, f(nu - nw * 0.55), f(nv - nh), f(nw * 0.4), 0.0, f(nh * 1.5 + 0.08 * b),
                    0.0)
    cv.paint(win, bridge, f(skin * 0.8))
    cv.paint(win, cv.ellipse(win, nu, nv, nw, nh), f(skin * 0.66))
    tip = cv.ellipse(win, f(nu + 0.2 * nw), f(nv - nh * 0.3), f(nw * 0.5), f(nh * 0.5))
    cv.paint(win, tip, f(np.minimum(skin * 1.1 + 8.0, 255.0)))
    for s in (-1.0, 1.0):
        ou = f(nu + s * nw * 0.52)
        nostril = cv.ellipse(win, ou, f(nv + nh * 0.4), f(nw * 0.3), f(nh * 0.38))
        cv.paint(win, nostril, f(skin * 0.42))

    # Mouth: lips, then the opening (or the line between the lips), then teeth.
    smile, opened = on["Smiling"], on["Mouth_Slightly_Open"]
    mu, mv = f(0.55 * shift), f(0.56 * b + dv)
    mw = f((0.165 + 0.03 * u[:, 31]) * np.where(smile, 1.3, 1.0))
    curve = f(np.where(smile, -0.11, 0.008))
    pixel = 1.0 / cv.pps  # face units per pixel: small images keep lips and opening visible
    gap = f(np.where(opened, np.maximum(np.where(smile, 0.08, 0.07), 1.6 * pixel), 0.0))
    full_lips = np.where(on["Wearing_Lipstick"], 1.4, 1.0)  # lipstick overdraws the lips
    upper = f(np.maximum(np.where(smile, 0.022, 0.026), 0.8 * pixel) * full_lips)
    lower = f(np.maximum(np.where(smile, 0.04, 0.034), 1.0 * pixel) * full_lips) + gap
    mouth_r = f(mw + np.abs(curve) + upper + lower + 0.02)
    win = cv.window(mu, mv, mouth_r)
    cv.paint(win, cv.arc(win, mu, mv, mw, curve, upper, lower), lips)
    line = f(0.55 / cv.pps)  # the lip line is at least a pixel thick
    cv.paint(win, cv.arc(win, mu, mv, f(mw * 0.92), curve, line, f(np.maximum(gap, line))), _MOUTH)
    sub, alpha = cv.select(smile & opened)
    if sub:
        win = sub.window(mu, mv, mouth_r)
        teeth = sub.arc(win, mu, f(mv + 0.003), f(mw * 0.78), curve, 0.0, f(gap * 0.45))
        sub.paint(win, teeth, _TEETH, alpha)

    # Facial hair.
    sub, alpha = cv.select(on["Mustache"])
    if sub:
        sv = f(mv - upper - 0.03)
        win = sub.window(mu, sv, f(mw + 0.12))
        m = sub.arc(win, mu, sv, f(mw * 1.1 + 0.02), f(curve * 0.6 + 0.03), 0.032, 0.018)
        sub.paint(win, m, dark_hair, alpha)
    sub, alpha = cv.select(on["Goatee"])
    if sub:
        gu, gv = f(mu * 0.9), f(mv + lower + 0.09)
        win = sub.window(gu, gv, 0.16)
        m = sub.ellipse(win, gu, gv, 0.085, 0.09)
        np.maximum(m, sub.arc(win, gu, f(gv - 0.085), 0.035, 0.0, 0.005, 0.06), out=m)
        sub.paint(win, m, dark_hair, alpha)

    # Eyes (with make-up) and eyebrows.
    makeup = on["Heavy_Makeup"]
    ev = f(-0.02 * b + dv)
    ex = f(a * (0.40 + 0.06 * (u[:, 48] - 0.5)))
    eh_open = 0.058
    eh = f(np.where(on["Narrow_Eyes"], 0.02, eh_open))
    iris_r = f(0.042 + 0.008 * u[:, 20])
    eye_colour = _pick(_EYES, u[:, 19])
    liner = f(np.where(makeup, 0.03, 0.012))
    thick = f(np.where(male, 0.016, 0.010) + 0.004 * u[:, 22])
    eyes = []
    for s in (-1.0, 1.0):
        eu = f(s * ex + 0.6 * shift)
        ew = f(0.092 * (1.0 - s * 0.55 * yaw))  # the far eye is foreshortened
        eyes.append((s, eu, ew))
        msub, malpha = cv.select(makeup)
        if msub:
            win = msub.window(eu, ev, 0.2)
            shadow = msub.ellipse(win, eu, f(ev - 0.035), f(ew * 1.45), eh_open + 0.055)
            opacity = f(0.9 if malpha is None else malpha * 0.9)
            msub.paint(win, shadow, _pick(_MAKEUP, u[:, 30]), opacity)
        win = cv.window(eu, ev, 0.2)
        outline = cv.ellipse(win, eu, f(ev - liner * 0.5), f(ew + liner * 0.6), f(eh + liner))
        cv.paint(win, outline, f(skin * 0.2))
        sclera = cv.ellipse(win, eu, ev, ew, eh)
        cv.paint(win, sclera.copy(), _SCLERA)
        iu = f(eu + 0.1 * shift)
        iris = cv.ellipse(win, iu, ev, f(iris_r * (ew / 0.092)), iris_r)
        np.minimum(iris, sclera, out=iris)
        cv.paint(win, iris, eye_colour)
        pupil = cv.ellipse(win, iu, ev, f(iris_r * 0.45), f(iris_r * 0.45))
        np.minimum(pupil, sclera, out=pupil)
        cv.paint(win, pupil, _PUPIL)
        bu, bv = f(eu - s * 0.01), f(ev - eh_open - 0.05 - 0.02 * u[:, 21])
        win = cv.window(bu, bv, 0.16)
        brow = cv.arc(win, bu, bv, f(ew * 1.15), f(0.02 + 0.02 * u[:, 21]), thick, thick)
        cv.paint(win, brow, dark_hair)

    # Glasses: tinted lenses, rims, arms and a bridge.
    sub, alpha = cv.select(on["Eyeglasses"])
    if sub:
        frame = _pick(_FRAMES, u[:, 27])
        rim = f(np.maximum(0.018, 0.6 / cv.pps))
        lens_w, lens_h = f(0.13 + 0.02 * u[:, 28]), f(0.085 + 0.02 * (1 - u[:, 28]))
        tint_alpha = f(0.28 if alpha is None else alpha * 0.28)
        lenses = []
        for s, eu, _ in eyes:
            lw = f(lens_w * (1.0 - s * 0.55 * yaw))
            lenses.append((eu, lw))
            win = sub.window(eu, ev, 0.25)
            outer = sub.ellipse(win, eu, ev, lw, lens_h)
            inside = sub.ellipse(win, eu, ev, f(lw - rim), f(lens_h - rim))
            sub.paint(win, inside.copy(), _pick(_TINTS, u[:, 29]), tint_alpha)
            inside -= _F32(1.0)
            np.negative(inside, out=inside)
            np.minimum(outer, inside, out=outer)
            sub.paint(win, outer, frame, alpha)
            start, end = eu + s * lw, f(s * a * 0.99 - 0.25 * shift)  # arm: rim to the ear
            arm_u, arm_w = f((start + end) * 0.5), f(np.maximum(np.abs(end - start) * 0.5, 0.005))
            win = sub.window(arm_u, ev, f(arm_w + 0.05))
            if win:
                arm = sub.arc(win, arm_u, f(ev - 0.02), arm_w, 0.0, f(rim * 0.5), f(rim * 0.5))
                sub.paint(win, arm, frame, alpha)
        (lu, lwl), (ru, lwr) = lenses
        bu = f((lu + lwl + ru - lwr) * 0.5)
        half = f(np.maximum((ru - lwr - lu - lwl) * 0.5 + rim, 0.01))
        win = sub.window(bu, ev, f(half + 0.05))
        if win:
            bridge = sub.arc(win, bu, f(ev - 0.01), half, 0.0, f(rim * 0.5), f(rim * 0.5))
            sub.paint(win, bridge, frame, alpha)

    # Hat: a crown over the top of the head, then a brim (cap) or a folded band (beanie).
    sub, alpha = cv.select(on["Wearing_Hat"])
    if sub:
        hat = _pick(_HATS, u[:, 25])
        cap = f(u[:, 26] < 0.5)
        crown_v, crown_a, crown_b = f(-0.62 * b), f(hair_au * 1.04), f(b * 0.62)
        brim_v = f(-0.40 * b)
        win = sub.window(hair_cu, crown_v, f(np.maximum(crown_a, crown_b) * 1.5))
        crown = sub.ellipse(win, hair_cu, crown_v, crown_a, crown_b)
        np.minimum(crown, sub.side(win, brim_v, sign=-1.0), out=crown)
        sub.paint(win, crown, hat, alpha)
        alpha = 1.0 if alpha is None else alpha
        band = sub.arc(win, hair_cu, brim_v, f(crown_a * 1.01), 0.0, 0.07, 0.0)
        sub.paint(win, band, f(hat * 0.75), f((1.0 - cap) * alpha))
        brim = sub.arc(win, f(hair_cu + 0.2 * shift), brim_v, f(crown_a * 1.32), 0.0, 0.03, 0.03)
        sub.paint(win, brim, f(hat * 0.8), f(cap * alpha))

    # Lighting: a directional gradient across the whole image, centred on the face.
    strength = f(0.12 + 0.25 * u[:, 46])
    col = lambda a: a.reshape(-1, 1, 1)  # noqa: E731
    shade = (cv.xs[None, None, :] - col(cx)) * col(f(lx * strength))
    shade = shade + (cv.ys[None, :, None] - col(cy)) * col(f(ly * strength))
    shade += f(0.9 + 0.2 * u[:, 47]).reshape(-1, 1, 1)
    np.clip(shade, 0.6, 1.3, out=shade)
    img = cv.img
    img *= shade[None]
    np.clip(img, 0.0, 255.0, out=img)
    img += _F32(0.5)
    return img.astype(np.uint8).transpose(1, 2, 3, 0)


def _chunk_size(image_size):
    """Faces drawn at once: about 2^19 pixels (2,048 faces at 16 px, 128 at 64 px). Each of the
    few hundred NumPy calls that draw a chunk holds the GIL only around its work, so large calls
    let threads draw in parallel (`fill_cache`); much larger ones leave the CPU caches."""
    return int(np.clip(2**19 // (image_size * image_size), 8, 2048))


def render_faces(attributes, image_size=64, seed=0, split="train", start=0, indices=None,
                 _windows=True):
    """Draws faces with the given attributes; everything else comes from `(seed, split, index)`.

    Args:
        attributes: `(n, len(ATTRIBUTES))` array of 0/1 (bool, int or float; > 0.5 means on).
        image_size: side in pixels, a multiple of 8 from 16 to 256.
        seed, split: the stream that nuisance factors (pose, colours, ...) come from.
        start: index of the first face; faces are `start .. start + n - 1`.
        indices: stream indices of the faces (overrides `start`).

    Returns:
        `uint8` array `(n, image_size, image_size, 3)`.
    """
    attrs = np.asarray(attributes)
    if attrs.ndim != 2 or attrs.shape[1] != len(ATTRIBUTES):
        raise DataError(
            f"attributes must have shape (n, {len(ATTRIBUTES)}) (columns in ATTRIBUTES order); "
            f"received shape {attrs.shape}."
        )
    if not (np.issubdtype(attrs.dtype, np.number) or attrs.dtype == bool):
        raise DataError(f"attributes must be numbers or booleans; received dtype {attrs.dtype}.")
    attrs = attrs.astype(_F32)
    if not np.isfinite(attrs).all():
        raise DataError("attributes must be finite 0/1 values; received NaN or infinity.")
    size = _check_image_size(image_size)
    seed, split_id = _check_seed(seed), _check_split(split)
    n = attrs.shape[0]
    idx = _stream_indices(n, start, indices)
    out = np.empty((n, size, size, 3), np.uint8)
    if n == 0:
        return out
    nuisance = _gather(_block_nuisance, seed, split_id, idx)
    step = _chunk_size(size)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        out[lo:hi] = _render_chunk(attrs[lo:hi], nuisance[lo:hi], size, windows=_windows)
    return out


# ---------------------------------------------------------------------------------------------
# Data set.


class SyntheticFaces(keras.utils.PyDataset):
    """Synthetic faces as a `keras.utils.PyDataset`, ready for `model.fit`; no download needed.

    Face `i` of the data set is face `i` of the `(seed, split)` stream. Batches are `uint8`
    images `(batch, image_size, image_size, 3)`, or `(images, attributes)` when `attributes`
    is given, with attributes float32 0/1 `(batch, len(names))` in the order asked for.

    Args:
        n: number of faces.
        image_size: side in pixels; 32, 64 and 128 are documented, any multiple of 8 from 16
            to 256 works.
        batch_size: faces per batch.
        seed: seed of the stream (a non-negative integer).
        split: `"train"`, `"validation"` or `"test"`: independent streams.
        attributes: `None` (images only), `"all"` or a list of names from `ATTRIBUTES`.
        shuffle: draw batches in a new order every epoch (a permutation from seed, split and
            epoch number), else in index order.
        drop_remainder: drop the last batch when it is smaller than `batch_size`.
        cache: keep rendered images in memory (about n * image_size^2 * 3 bytes). The first
            epoch then begins by drawing every face at once on all cores (`fill_cache`), and
            every batch after that is a copy from memory.
        workers: threads that prepare batches ahead of the training step
            (`keras.utils.PyDataset`'s `workers`). `"auto"`: 1 with `cache` (a batch is a copy
            from memory, cheaper than handing it over from another thread), else one per CPU
            core, up to 8, that draw batches while the model trains (NumPy releases the GIL
            while it draws); at least 2 under the TensorFlow backend, where Keras reads a
            single-worker `PyDataset` through a tf.data pipeline with autotuning on, whose
            autotuning thread holds up the end of every epoch until its next wake (up to a
            minute; docs/performance.md), and turns autotuning off when it runs its own
            worker threads.
        **pydataset_kwargs: `use_multiprocessing`, `max_queue_size` (of `PyDataset`).
    """

    def __init__(self, n=20_000, image_size=64, batch_size=64, seed=0, split="train",
                 attributes=None, shuffle=True, drop_remainder=True, cache=True,
                 workers="auto", **pydataset_kwargs):
        if workers == "auto":
            workers = 1 if cache else default_workers()
            if keras.backend.backend() == "tensorflow":
                workers = max(workers, 2)
        super().__init__(workers=check_int(workers, "workers", minimum=1), **pydataset_kwargs)
        self._n = check_int(n, "n", minimum=1)
        self._image_size = _check_image_size(image_size)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.seed = _check_seed(seed)
        self.split = split
        self._split_id = _check_split(split)
        self._yield_attributes = attributes is not None
        self._names = _check_attribute_names(attributes)
        self._columns = np.array([_INDEX[name] for name in self._names])
        self.shuffle, self.drop_remainder = bool(shuffle), bool(drop_remainder)
        self.cache = bool(cache)
        if drop_remainder and self._n < self.batch_size:
            raise DataError(
                f"n={self._n} faces make no full batch of batch_size={self.batch_size}; use "
                "n >= batch_size, a smaller batch_size, or drop_remainder=False."
            )
        self._all_attributes = _gather(
            _block_attributes, self.seed, self._split_id, np.arange(self._n)
        )
        self._images = None
        self._rendered = None
        self._cache_lock = threading.Lock()  # workers fill the cache from several threads
        self._epoch = 0
        self._order = self._epoch_order()

    @property
    def attribute_names(self):
        """Names of the attribute columns, in order (all of `ATTRIBUTES` when none were chosen)."""
        return self._names

    @property
    def attributes(self):
        """float32 0/1 attributes of all faces, `(n, len(attribute_names))`."""
        return self._all_attributes[:, self._columns]

    @property
    def image_size(self):
        return self._image_size

    @property
    def num_images(self):
        return self._n

    def __len__(self):
        if self.drop_remainder:
            return self._n // self.batch_size
        return -(-self._n // self.batch_size)

    def _epoch_order(self):
        if not self.shuffle:
            return np.arange(self._n)
        seq = np.random.SeedSequence([self.seed, self._split_id, self._epoch, _SHUFFLE_STREAM])
        return np.random.default_rng(seq).permutation(self._n)

    def on_epoch_begin(self):
        """With `cache`, draws the faces not drawn yet before the epoch's first batch
        (`fill_cache`)."""
        if self.cache:
            self.fill_cache()

    def fill_cache(self, threads=None):
        """Draws every face not in the cache yet, in `threads` threads (default: one per CPU
        core, up to 8), in chunks of faces large enough that NumPy's work, which runs without the
        GIL, dominates. `fit` calls it at the start of every epoch; afterwards each batch is a
        copy from memory. Returns the number of faces drawn."""
        if not self.cache:
            raise DataError("fill_cache needs a data set made with cache=True.")
        _, rendered = self._cache_arrays()
        missing = np.flatnonzero(~rendered)
        if not missing.size:
            return 0
        threads = default_workers() if threads is None else check_int(threads, "threads",
                                                                        minimum=1)
        # Pieces of one chunk, smaller (down to an eighth) where that gives every thread work.
        chunk = _chunk_size(self._image_size)
        per_piece = int(np.clip(missing.size // (4 * threads), max(1, chunk // 8), chunk))
        pieces = np.array_split(missing, -(-missing.size // per_piece))
        threads = min(len(pieces), threads)

        if threads == 1:
            for piece in pieces:
                self._draw_into_cache(piece)
        else:
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                list(pool.map(self._draw_into_cache, pieces))
        return int(missing.size)

    def _cache_arrays(self):
        with self._cache_lock:
            if self._images is None:
                size = self._image_size
                self._images = np.empty((self._n, size, size, 3), np.uint8)
                self._rendered = np.zeros(self._n, bool)
            return self._images, self._rendered

    def on_epoch_end(self):
        """Moves to the next epoch's order (a new permutation when shuffling)."""
        self._epoch += 1
        self._order = self._epoch_order()

    def images(self, indices):
        """`uint8` images of the faces at `indices` (positions 0..n-1 in this data set)."""
        indices = np.asarray(indices)
        if indices.ndim != 1 or not (np.issubdtype(indices.dtype, np.integer) or indices.size == 0):
            raise DataError(
                f"indices must be a 1-D array of integers; received shape {indices.shape}."
            )
        indices = indices.astype(np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self._n):
            raise DataError(
                f"indices must be in [0, {self._n}) for a data set of {self._n} faces; received "
                f"values from {indices.min()} to {indices.max()}."
            )
        if not self.cache:
            return self._render(indices)
        images, rendered = self._cache_arrays()
        missing = np.unique(indices[~rendered[indices]])
        if missing.size:  # two threads may draw the same face: the same pixels, written twice
            self._draw_into_cache(missing)
        return images[indices]

    def _draw_into_cache(self, indices):
        images, rendered = self._cache_arrays()
        images[indices] = self._render(indices)
        rendered[indices] = True

    def __getstate__(self):  # a lock neither pickles nor deep-copies
        state = dict(self.__dict__)
        del state["_cache_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._cache_lock = threading.Lock()

    def _render(self, indices):
        return render_faces(self._all_attributes[indices], self._image_size, self.seed, self.split,
                            indices=indices)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches.")
        index %= len(self)
        batch = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        images = self.images(batch)
        if not self._yield_attributes:
            return images
        return images, self._all_attributes[batch][:, self._columns]

    def as_numpy(self):
        """All faces: uint8 images `(n, H, W, 3)` and float32 attributes `(n, len(ATTRIBUTES))`."""
        return self.images(np.arange(self._n)), self._all_attributes.copy()

    def __repr__(self):
        names = list(self._names) if self._yield_attributes else None
        return (f"SyntheticFaces(n={self._n}, image_size={self._image_size}, "
                f"batch_size={self.batch_size}, seed={self.seed}, split={self.split!r}, "
                f"attributes={names})")


def synthetic_faces(n=20_000, image_size=64, batch_size=64, seed=0, split="train", attributes=None,
                    shuffle=True, drop_remainder=True, **kwargs):
    """The built-in synthetic face data set, ready for `model.fit` (see `SyntheticFaces`).

    Example:

    ```python
    data = kerasgen.data.synthetic_faces(n=10_000, image_size=64, batch_size=64)
    model.fit(data, epochs=5)
    ```
    """
    return SyntheticFaces(n=n, image_size=image_size, batch_size=batch_size, seed=seed,
                          split=split, attributes=attributes, shuffle=shuffle,
                          drop_remainder=drop_remainder, **kwargs)
