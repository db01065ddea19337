"""What every attribute-conditional model shares (`ConditionalGAN`, `Diffusion` with
`attributes=`): the attribute names, 0/1 vectors and matrices from what users pass, the +1/-1
encoding the networks see, and the grid that shows each attribute's effect.

A model mixes in `AttributeConditioned`, calls `init_attributes(attributes)` in its constructor
and implements `_draw(latents, attributes01, batch_size, use_ema=True)` -> images in [0, 1].
"""

import math
import numbers

import numpy as np
from keras import ops

from kerasgen.data.celeba import _check_attributes
from kerasgen.errors import AttributeNameError
from kerasgen.errors import DataError

#: Default conditioning attributes: five that both CelebA and `synthetic_faces` label and that
#: change a face visibly. Frequencies in CelebA: Male ~42%, Smiling ~48%, Bangs ~15%,
#: Blond_Hair ~15%, Eyeglasses ~6.5% (the sparsest, kept as the clearest attribute to refine);
#: in the synthetic faces 20-48%. The seed used 23 attributes and planned to reduce to about 5.
DEFAULT_ATTRIBUTES = ("Male", "Smiling", "Eyeglasses", "Blond_Hair", "Bangs")


class AttributeConditioned:
    """Mixin: the attribute API of conditional models (see the module)."""

    def init_attributes(self, attributes):
        if attributes is None:
            raise DataError("attributes must be a non-empty list of CelebA attribute names.")
        self.attributes = tuple(_check_attributes(attributes))

    @property
    def num_attributes(self):
        return len(self.attributes)

    def attribute_vector(self, overrides=None, base=None):
        """A `(k,)` float32 0/1 vector in the order of `attributes`.

        Args:
            overrides: dict name -> value; a value > 0 (1, True) turns the attribute on, 0, -1
                or False turns it off.
            base: `(k,)` 0/1 vector the overrides apply to (default: all off).
        """
        k = self.num_attributes
        vector = np.zeros(k, "float32") if base is None else _check_01(base, (k,), "base")
        for name, value in (overrides or {}).items():
            if name not in self.attributes:
                raise AttributeNameError(
                    f"unknown attribute {name!r}; this model is conditioned on: "
                    f"{', '.join(self.attributes)}."
                )
            if isinstance(value, (bool, np.bool_)):
                value = int(value)
            if not isinstance(value, numbers.Real) or value not in (1, 0, -1):
                raise ValueError(
                    f"attribute {name!r} must be 1 (on) or 0 / -1 (off); received {value!r}."
                )
            vector[self.attributes.index(name)] = 1.0 if value > 0 else 0.0
        return vector

    def attribute_matrix(self, attributes=None, n=None, seed=None, current=None):
        """`(n, k)` float32 0/1 attributes from what `generate` and `refine` accept:

        - `None`: random, each attribute on with probability 0.5 (NumPy, from `seed`, a stream
          separate from the latents'); needs `n`.
        - a dict of overrides: applied to `current` (`(n, k)` or `(k,)`) where given, else
          to all-off; the same overrides for every sample.
        - a `(k,)` 0/1 vector (the same for every sample) or an `(n, k)` 0/1 array.
        """
        k = self.num_attributes
        if attributes is None:
            if n is None:
                raise ValueError("random attributes need `n`.")
            rng = np.random.default_rng(None if seed is None else [int(seed), _ATTRIBUTE_STREAM])
            return (rng.random((n, k)) < 0.5).astype("float32")
        if isinstance(attributes, dict):
            if current is None:
                if n is None:
                    raise ValueError("attributes given as a dict need `n`.")
                return np.tile(self.attribute_vector(attributes), (n, 1))
            current = np.asarray(current, "float32")
            if current.ndim == 1:
                current = np.tile(current, (n or 1, 1))
            current = _check_01(current, (current.shape[0], k), "current")
            if n is not None and len(current) != n:
                raise ValueError(f"current must have {n} rows; received {current.shape}.")
            return np.stack([self.attribute_vector(attributes, base=row) for row in current])
        array = np.asarray(attributes, "float32")
        if array.ndim == 1:
            array = np.tile(_check_01(array, (k,), "attributes"), (n or 1, 1))
        array = _check_01(array, (n if n is not None else array.shape[0], k), "attributes")
        return array

    def grid_nrow(self, n):
        """Images per row of `sample_grid(n)`: the square grid's side, rounded up to even."""
        side = max(2, math.ceil(math.sqrt(n)))
        return side + side % 2

    def sample_grid(self, n=64, seed=0):
        """Images that show each attribute's effect, for `ImageGrid` (lay out with
        `nrow=grid_nrow(n)`, the square grid's side when that is even, e.g. 8 for n=64).

        Row `r` shows attribute `r % k`; its columns are pairs (off, on) for `nrow / 2` fixed
        latents, the same in every row, each with its own fixed random other attributes, so
        moving right inside a pair changes that one attribute of the same face.
        """
        nrow = self.grid_nrow(n)
        pairs = nrow // 2
        latents = self.sample_latents(pairs, seed)
        others = self.attribute_matrix(None, n=pairs, seed=seed)
        rows = -(-n // nrow)
        z = np.tile(np.repeat(latents, 2, axis=0), (rows, 1))
        a = np.tile(np.repeat(others, 2, axis=0), (rows, 1))
        for r in range(rows):
            column = r % self.num_attributes
            a[r * nrow:(r + 1) * nrow, column] = np.tile([0.0, 1.0], pairs)
        return self._draw(z[:n], a[:n], 128)


#: Stream id that keeps random attributes independent of the latents drawn from the same seed.
_ATTRIBUTE_STREAM = 3003


def to_signs(attributes01):
    """0/1 attributes -> the seed's +1/-1 encoding (float32 tensor)."""
    return 2.0 * ops.cast(attributes01, "float32") - 1.0


def _check_01(array, shape, name):
    array = np.asarray(array, "float32")
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; received {array.shape}.")
    if not np.all((array == 0) | (array == 1)):
        raise ValueError(f"{name} must hold 0/1 values (1 = attribute on).")
    return array.copy()
