"""`GenerativeModel`: the base class that turns a model's losses into `train_step`.

A model states its training step as phases, in the order of its paper's algorithm box:

    def train_phases(self):
        return [
            Phase(self.discriminator_loss, self.discriminator.trainable_variables, "discriminator"),
            Phase(self.generator_loss, self.generator.trainable_variables, "generator"),
        ]

Each phase's loss is a function of the batch written with `keras.ops`, returning
`(loss, logs)`. `kerasgen.backend` runs the phases in order, each differentiated with respect to
its own variables and applied by its own optimizer, on TensorFlow, JAX or PyTorch; model files
never see the backend.

Images cross the model's boundary in [0, 1] (floats) or 0..255 (`uint8`): `fit` takes batches
of either, `generate`, `call` and `predict` return floats in [0, 1]. Inside, each model works in
its own `pixel_range` ([-1, 1] for tanh generators, [0, 1] for sigmoid decoders).
"""

import math
from typing import Callable
from typing import NamedTuple

import keras
import numpy as np
from keras import ops
from keras.saving import deserialize_keras_object
from keras.saving import serialize_keras_object

from kerasgen import backend
from kerasgen.checks import check_image_size
from kerasgen.checks import check_int
from kerasgen.checks import check_number
from kerasgen.errors import DataError
from kerasgen.errors import OptionError
from kerasgen.models.optimizers import OptimizerGroup


class Phase(NamedTuple):
    """One optimisation step inside `train_step`.

    Attributes:
        loss: `loss(batch) -> (scalar loss, dict of logs)`.
        variables: the variables this loss trains.
        optimizer: name of the optimizer (in `model.optimizer`) that updates them.
    """

    loss: Callable
    variables: list
    optimizer: str


def ema_beta(step, ema, rampup=None):
    """The decay of the weights' moving average at training step `step` (1 after the first):
    `ema`, or with `rampup` the decay whose half-life is `min(half-life of ema, rampup *
    step)` steps (stylegan2-ada's ramp, counted in steps: its images over the batch size)."""
    if rampup is None:
        return ops.convert_to_tensor(ema, "float32")
    half_life = math.log(0.5) / math.log(ema)
    ramped = ops.minimum(half_life, ops.cast(step, "float32") * rampup)
    return ops.power(0.5, 1.0 / ops.maximum(ramped, 1e-8))


def resolve_steps_per_execution(value, name="steps_per_execution"):
    """`compile(steps_per_execution=value)` as the integer this backend runs ("auto": the
    backend's default), else a one-line `OptionError` naming `name`."""
    if value == "auto":
        return backend.default_steps_per_execution()
    value = check_int(value, name, minimum=1)
    if value > 1 and keras.backend.backend() == "torch":
        raise OptionError(f"{name} must be 1 with the PyTorch backend (Keras' torch trainer runs "
                          f"one step per call); received {value}.")
    return value


def _public_names(serialized):
    """A serialized optimizer (or anything holding one, e.g. a `LossScaleOptimizer`'s inner
    optimizer) naming Keras' public class. Under PyTorch, Keras' `keras.optimizers.Adam(...)`
    returns a subclass in `keras.src.backend.torch`, which a `.keras` file would then name:
    loaded under TensorFlow or JAX, it would train with torch's update (or fail without torch).
    The public name loads as each backend's own optimizer, with the same configuration."""
    if isinstance(serialized, dict):
        serialized = {k: _public_names(v) for k, v in serialized.items()}
        module = serialized.get("module")
        if (isinstance(module, str) and module.startswith("keras.src.backend.")
                and ".optimizers." in module
                and isinstance(getattr(keras.optimizers, serialized.get("class_name", ""), None),
                               type)):
            serialized.update(module="keras.optimizers", registered_name=None)
    elif isinstance(serialized, list):
        serialized = [_public_names(v) for v in serialized]
    return serialized


class GenerativeModel(keras.Model):
    """Base class of kerasgen's models: phases in, `train_step` out, on every backend.

    Subclasses set `pixel_range` and `log_names`, build their networks in `__init__`, and
    implement `default_optimizers()`, `train_phases()` and `sampling_network` (the network that
    maps latent vectors to images).

    Args:
        image_size: side of the square RGB images, one of 16, 32, 64, 128, 256.
        latent_dim: size of the latent vector that `generate` decodes.
        seed: seed of the model's `keras.random.SeedGenerator`, from which every random number
            drawn inside `train_step` comes (latent noise, label noise, ...).
        ema: keep an exponential moving average of the sampling network's weights with this
            decay per training step (e.g. 0.999; None: no average). `generate` and everything
            built on it (grids, metrics, the explorer, `kerasgen sample`) then draw with the
            averaged weights unless asked `use_ema=False`. The average is model state: updated
            inside `train_step` on every backend, saved in `.keras`, restored by
            `BackupAndRestore`. Batch-norm statistics are copied, not averaged.
        ema_rampup: ramp the average's half-life up from 0 to its full length (the half-life of
            `ema`, ln 0.5 / ln ema steps) as `ema_rampup` times the steps done, as
            stylegan2-ada's `ema_rampup` does in images; early averages then forget the
            random initialisation quickly. None: the full decay from the first step.
    """

    pixel_range = (-1.0, 1.0)
    log_names = ()

    def __init__(self, image_size=64, latent_dim=100, seed=None, ema=None, ema_rampup=0.05,
                 **kwargs):
        super().__init__(**kwargs)
        self.image_size = check_image_size(image_size)
        if not (isinstance(latent_dim, int) and latent_dim > 0):
            raise ValueError(f"latent_dim must be a positive int; received {latent_dim!r}.")
        self.latent_dim = latent_dim
        self.ema = None if ema is None else check_number(ema, "ema", above=0, maximum=1)
        if self.ema == 1.0:
            raise OptionError("ema must be below 1 (an average that never moves); received 1.")
        self.ema_rampup = (None if ema_rampup is None
                           else check_number(ema_rampup, "ema_rampup", above=0))
        self.ema_network = None  # made by `_mark_built`, once the sampling network exists
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._trackers = {name: keras.metrics.Mean(name=name) for name in self.log_names}

    # ---- what subclasses provide ------------------------------------------------------------

    def default_optimizers(self):
        """dict name -> optimizer with the paper's settings; the first is the primary one."""
        raise NotImplementedError

    def train_phases(self):
        """The list of `Phase`s that make one training step, in order."""
        raise NotImplementedError

    @property
    def sampling_network(self):
        """The network that maps latent vectors to images (in `pixel_range`)."""
        raise NotImplementedError

    # ---- compile, with one optimizer per network -------------------------------------------

    def compile(
        self,
        optimizers=None,
        *,
        jit_compile="auto",
        run_eagerly=False,
        steps_per_execution="auto",
        **named_optimizers,
    ):
        """Configures the optimizers; with no arguments, the paper's defaults.

        Optimizers are given by name, as `<name>_optimizer=...` (for example
        `generator_optimizer=keras.optimizers.Adam(1e-4)`) or as a dict `optimizers={name: ...}`;
        a model with a single optimizer also takes `optimizer=...`. Names not given keep their
        defaults. `jit_compile="auto"` picks what is fastest on this backend (XLA on JAX, and
        on TensorFlow where a GPU is visible; eager on PyTorch, where `True` asks for
        `torch.compile`). `steps_per_execution="auto"` runs several training steps per
        call where a GPU would otherwise wait for Python and the logs between steps (TensorFlow
        and JAX with an accelerator), one elsewhere (PyTorch's trainer runs one at a time).
        Callbacks then see every `steps_per_execution`-th batch, with the logs of the last.
        """
        defaults = self.default_optimizers()
        given = dict(optimizers or {})
        for key, value in named_optimizers.items():
            if key == "optimizer" and len(defaults) == 1:
                given[next(iter(defaults))] = value
            elif key.endswith("_optimizer") and key[: -len("_optimizer")] in defaults:
                given[key[: -len("_optimizer")]] = value
            else:
                accepted = [f"{name}_optimizer" for name in defaults]
                if len(defaults) == 1:
                    accepted.append("optimizer")
                raise TypeError(
                    f"{type(self).__name__}.compile() got an unexpected argument {key!r}; "
                    f"it accepts optimizers as {accepted}, `optimizers=dict`, and "
                    "jit_compile, run_eagerly, steps_per_execution."
                )
        unknown = set(given) - set(defaults)
        if unknown:
            raise ValueError(
                f"Unknown optimizer name(s) {sorted(unknown)} for {type(self).__name__}; "
                f"its optimizers are {list(defaults)}."
            )
        members = {name: keras.optimizers.get(given.get(name) or defaults[name]) for name in defaults}
        group_members = dict(members)
        if self.dtype_policy.name == "mixed_float16":
            group_members = {
                name: keras.optimizers.LossScaleOptimizer(opt, name=f"{name}_loss_scale")
                for name, opt in members.items()
            }
        requested_jit_compile = jit_compile  # saved as asked: "auto" resolves per backend
        if jit_compile == "auto":
            jit_compile = backend.default_jit_compile() and not run_eagerly
        requested_steps = steps_per_execution
        super().compile(
            optimizer=OptimizerGroup(group_members),
            jit_compile=jit_compile,
            run_eagerly=run_eagerly,
            steps_per_execution=resolve_steps_per_execution(steps_per_execution),
            auto_scale_loss=False,
        )
        self.optimizer.build_members(self._variables_by_optimizer())
        for optimizer in group_members.values():
            backend.prepare_optimizer(optimizer)
        self._compile_config = keras.src.saving.serialization_lib.SerializableDict(
            optimizers=members,
            jit_compile=requested_jit_compile,
            run_eagerly=run_eagerly,
            steps_per_execution=requested_steps,
        )

    def _variables_by_optimizer(self):
        variables = {}
        for phase in self.train_phases():
            own = variables.setdefault(phase.optimizer, [])
            own.extend(v for v in phase.variables if not any(v is w for w in own))
        return variables

    def get_compile_config(self):
        if not self.compiled:
            return {}
        config = dict(self._compile_config.config)
        config["optimizers"] = {k: _public_names(serialize_keras_object(v))
                                for k, v in config["optimizers"].items()}
        return config

    def compile_from_config(self, config):
        config = dict(config)
        config["optimizers"] = {
            k: deserialize_keras_object(v) for k, v in config["optimizers"].items()
        }
        GenerativeModel.compile(self, **config)

    # ---- the training step ------------------------------------------------------------------

    def train_step(self, *args):
        """Runs `train_phases()` on one batch (see `kerasgen.backend`)."""
        return backend.train_step(self, *args)

    def make_train_function(self, force=False):
        """Keras' train function, or the backend's own where it has one (JAX on a CPU: the
        step without buffer donation, see `kerasgen.backend`)."""
        if not backend.make_train_function(self, force):
            super().make_train_function(force)

    def test_step(self, *args):
        """`evaluation_logs` of one batch (see `kerasgen.backend`), for `evaluate()` and
        `fit(validation_data=...)`, whose logs then carry `val_<name>`."""
        return backend.test_step(self, *args)

    def evaluation_logs(self, batch):
        """The logs of one held-out batch, without training: networks in inference mode,
        nothing updated. Models that have a held-out loss override it."""
        raise NotImplementedError(
            f"{type(self).__name__} has no held-out loss, so evaluate() and "
            "fit(validation_data=...) do not apply; measure samples with "
            "kerasgen.callbacks.SampleQuality (FID, KID) instead."
        )

    def prepare_batch(self, data):
        """Turns one batch from the data set into what the phases' losses take (images in
        `pixel_range`). Conditional models also keep the labels."""
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.to_model_range(images)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def update_trackers(self, logs):
        """Adds one step's logs to the epoch averages and returns the averages."""
        for name, value in logs.items():
            self._trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    # ---- pixels -----------------------------------------------------------------------------

    def to_model_range(self, images):
        """uint8 0..255 or float 0..1 images -> float32 in `pixel_range`, shape-checked."""
        expected = (self.image_size, self.image_size, 3)
        if tuple(images.shape[1:]) != expected:
            raise DataError(
                f"{type(self).__name__} was built for images of shape (batch, "
                f"{', '.join(map(str, expected))}) but received a batch of shape "
                f"{tuple(images.shape)}; build the model with image_size="
                f"{images.shape[1] if len(images.shape) == 4 else '...'} or resize the data."
            )
        dtype = keras.backend.standardize_dtype(images.dtype)
        x = ops.cast(images, "float32")
        if "int" in dtype:
            x = x / 255.0
        low, high = self.pixel_range
        return x * (high - low) + low

    def from_model_range(self, x):
        """Network output in `pixel_range` -> float images in [0, 1]."""
        low, high = self.pixel_range
        return ops.clip((ops.cast(x, "float32") - low) / (high - low), 0.0, 1.0)

    # ---- sampling ---------------------------------------------------------------------------

    def call(self, latents, training=False):
        """Latent vectors -> images in [0, 1] (through `sampling_network`)."""
        return self.from_model_range(self.sampling_network(latents, training=training))

    def latent_noise(self, batch_size):
        """Standard-normal latents drawn inside `train_step`, from the model's seed generator.
        Under a `tf.distribute` strategy every replica would draw the same numbers from the
        shared generator, so the draw covers all replicas and each takes its own slice."""
        replicas = backend.num_replicas()
        if replicas == 1:
            return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        every = keras.random.normal((replicas, batch_size, self.latent_dim),
                                    seed=self.seed_generator)
        return ops.take(every, backend.replica_id(), axis=0)

    def sample_latents(self, n, seed=None):
        """`n` standard-normal latent vectors from NumPy's generator for `seed`: the same on
        every backend and in every process."""
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")

    def sampler(self, use_ema=True):
        """The network `generate` draws with: the EMA copy of `sampling_network` when the model
        keeps one (`ema=...`) and `use_ema`, else the network being trained."""
        if use_ema and self.ema_network is not None:
            return self.ema_network
        return self.sampling_network

    def generate(self, n=None, *, seed=None, latents=None, batch_size=128, use_ema=True):
        """Generates images from `latents`, or from `n` latents drawn with `seed`, with the
        averaged weights when the model keeps an EMA (`use_ema=False`: the trained ones).

        Returns:
            float32 NumPy array `(n, image_size, image_size, 3)` in [0, 1].
        """
        if latents is None:
            if n is None:
                raise ValueError("generate() needs `n` (with an optional `seed`) or `latents`.")
            latents = self.sample_latents(check_int(n, "n", minimum=1), seed)
        latents = np.asarray(latents, dtype="float32")
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ValueError(
                f"latents must have shape (n, {self.latent_dim}); received {latents.shape}."
            )
        out = self.sampler(use_ema).predict(
            latents, batch_size=min(batch_size, len(latents)), verbose=0
        )
        low, high = self.pixel_range
        return np.clip((np.asarray(out, dtype="float32") - low) / (high - low), 0.0, 1.0)

    def sample_grid(self, n, seed=0):
        """The images `ImageGrid` shows every epoch: `generate(n, seed=seed)`. Conditional
        models override this to lay out attributes."""
        return self.generate(n, seed=seed)

    # ---- config -----------------------------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "image_size": self.image_size,
            "latent_dim": self.latent_dim,
            "seed": self.seed,
            "ema": self.ema,
            "ema_rampup": self.ema_rampup,
        }

    def _mark_built(self):
        # The networks are built at construction; the model itself has no input signature of
        # its own (fit feeds images, call takes latents), so tell Keras it is built.
        if self.ema is not None and self.ema_network is None:
            self.ema_network = keras.models.clone_model(self.sampling_network)
            self.ema_network.set_weights(self.sampling_network.get_weights())
            self.ema_network.trainable = False
        self.built = True

    # ---- after each training step -------------------------------------------------------------

    def finish_step(self, logs):
        """What follows the phases of every training step (the backends call it): the
        sampling-side state (the EMA of the weights), then the epoch averages of the logs,
        which it returns."""
        if self.ema_network is not None:
            self.update_ema()
        return self.update_trackers(logs)

    def update_ema(self):
        """One step of the weights' moving average, `average <- beta * average + (1 - beta) *
        weights` with `beta = ema_beta(steps done, ema, ema_rampup)`; batch-norm statistics
        (non-trainable weights) are copied."""
        beta = ema_beta(ops.cast(self.optimizer.iterations, "float32"), self.ema, self.ema_rampup)
        for average, live in zip(self.ema_network.weights, self.sampling_network.weights):
            if live.trainable:
                average.assign(beta * average + (1.0 - beta) * ops.cast(live, average.dtype))
            else:
                average.assign(live)
