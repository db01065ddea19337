"""What kerasgen's GANs share: how the discriminator sees an image and what it is told.

`Adversarial` is a mixin for `GenerativeModel` subclasses with a discriminator (or critic). It
holds the options every GAN takes and the few lines they would otherwise copy:

- `real_targets(batch_size)`: one-sided label smoothing of the real targets (Salimans et al.
  2016; the DCGAN seed's `(0.7, 1.2)` range);
- `seen(images)`: what the discriminator sees: DiffAugment (Zhao et al. 2020) with probability
  `augment_p`, a constant or, with `augment_p="ada"`, the probability ADA adapts (Karras et al.
  2020), on real and fake images alike, everywhere the discriminator is called;
- `r1(discriminator, real)`: the R1 penalty (Mescheder et al. 2018), lazily every `r1_every`
  steps as StyleGAN2 takes it, weighted `r1_gamma / 2`;
- `adapt(real_logits, batch_size)`: ADA's step of the probability from the sign of D(real);
- `probability_logs(...)`: the mean discriminator probabilities every GAN logs.
"""

import keras
from keras import ops

from kerasgen import augment as augmentation
from kerasgen import losses
from kerasgen.checks import check_int
from kerasgen.checks import check_number
from kerasgen.errors import OptionError

#: ADA's target for `E[sign(D(real))]` (the paper's r_t = 0.6) and how many images it takes the
#: probability to move by 1 (its `ada_kimg` = 500).
ADA_TARGET = 0.6
ADA_SPEED_IMAGES = 500_000


def check_label_smoothing(value):
    """None, s in [0, 1) -> (1 - s, 1 - s), or a (low, high) range with 0 < low <= high."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        if not 0 <= value < 1:
            raise ValueError(f"label_smoothing as a number must be in [0, 1); received {value!r}.")
        return (1.0 - float(value), 1.0 - float(value))
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"label_smoothing must be None, a number or a (low, high) pair; received {value!r}."
        ) from None
    if not 0 < low <= high:
        raise ValueError(f"label_smoothing range needs 0 < low <= high; received {value!r}.")
    return (low, high)


class Adversarial:
    """Options of every GAN (call `init_adversarial` in `__init__`, after the base class):

    Args:
        label_smoothing: `None` (targets 1), a float `s` (targets `1 - s`) or a `(low, high)`
            range each real target is drawn from (only for losses with targets: BCE).
        augment: a DiffAugment policy, e.g. `"color,translation,cutout"` (None: none).
        augment_p: the probability each image is augmented: a number in [0, 1], or `"ada"`: it
            starts at 0 and adapts so that `E[sign(D(real))]` stays near 0.6 (logged as
            `ada_p`, saved with the model).
        r1_gamma: weight gamma of the R1 penalty `gamma / 2 * E||grad D(x)||^2` on real images
            (0: none).
        r1_every: apply R1 every this many discriminator steps, multiplied by it (lazy
            regularisation, StyleGAN2's 16).
    """

    def init_adversarial(self, label_smoothing=None, augment=None, augment_p=1.0,
                         r1_gamma=0.0, r1_every=16):
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.augment = None
        if augment:
            augmentation.parse_policy(augment)  # a ValueError names an unknown part
            parts = augment.split(",") if isinstance(augment, str) else list(augment)
            self.augment = ",".join(p.strip() for p in parts if p.strip()) or None
        if augment_p == "ada":
            self.augment_p = "ada"
        else:
            self.augment_p = check_number(augment_p, "augment_p", minimum=0, maximum=1)
        if self.augment_p == "ada" and not self.augment:
            raise OptionError("augment_p='ada' adapts the probability of an augmentation: give "
                              "augment='color,translation,cutout' (or a part of it) too.")
        self.r1_gamma = check_number(r1_gamma, "r1_gamma", minimum=0)
        self.r1_every = check_int(r1_every, "r1_every", minimum=1)
        self.ada_p = None
        if self.augment_p == "ada":
            self.ada_p = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                         name="ada_p")
            self._trackers["ada_p"] = keras.metrics.Mean(name="ada_p")

    def adversarial_config(self):
        return {"label_smoothing": self.label_smoothing, "augment": self.augment,
                "augment_p": self.augment_p, "r1_gamma": self.r1_gamma,
                "r1_every": self.r1_every}

    # ---- in the training step ---------------------------------------------------------------

    def real_targets(self, batch_size):
        if self.label_smoothing is None:
            return 1.0
        low, high = self.label_smoothing
        if low == high:
            return low
        return keras.random.uniform(
            (batch_size, 1), minval=low, maxval=high, seed=self.seed_generator
        )

    def seen(self, images):
        """`images` as the discriminator sees them: augmented with probability p (fresh draws
        from the model's seed generator on every call), or unchanged."""
        if not self.augment:
            return images
        p = self.ada_p if self.ada_p is not None else self.augment_p
        return augmentation.diff_augment(images, self.augment, seed=self.seed_generator, p=p)

    def r1(self, discriminator, real):
        """`lazy weight * r1_gamma / 2 * R1` at `real` (0 when `r1_gamma` is 0), with the
        discriminator seeing the images as in its loss (augmentation draws fixed)."""
        if not self.r1_gamma:
            return 0.0
        if self.augment:
            p = self.ada_p if self.ada_p is not None else self.augment_p
            draws = augmentation.random_draws(real, self.augment, seed=self.seed_generator, p=p)
            view = lambda x: discriminator(augmentation.augment(x, draws, self.augment))  # noqa: E731
        else:
            view = discriminator
        step = self.optimizer[self.discriminator_optimizer].iterations
        weight = losses.lazy_weight(step, self.r1_every)
        return weight * (self.r1_gamma / 2.0) * losses.r1_penalty(view, real)

    def adapt(self, real_logits, batch_size):
        """ADA's step, after every discriminator step: `p` moves by `batch_size / 500k`
        towards keeping `E[sign(D(real))]` at 0.6 (`kerasgen.augment.ada_adjust`, interval
        1)."""
        if self.ada_p is None:
            return {}
        rt = augmentation.overfitting_heuristic(real_logits)
        self.ada_p.assign(augmentation.ada_adjust(
            self.ada_p, rt, batch_size=batch_size, target=ADA_TARGET, interval=1,
            speed_images=ADA_SPEED_IMAGES))
        return {"ada_p": ops.convert_to_tensor(self.ada_p)}

    @staticmethod
    def probability_logs(**logits):
        """{"d_real": mean sigmoid(real logits), ...} for the names given."""
        return {f"d_{name}": ops.mean(ops.sigmoid(ops.cast(value, "float32")))
                for name, value in logits.items()}

    #: The optimizer that trains the discriminator (WGAN-GP's is "critic").
    discriminator_optimizer = "discriminator"
