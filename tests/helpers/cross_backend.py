"""The subprocess side of `tests/test_cross_backend.py`: one Keras backend per process.

    KERAS_BACKEND=jax python tests/helpers/cross_backend.py save FOLDER
    KERAS_BACKEND=torch python tests/helpers/cross_backend.py load FOLDER

`save` builds a tiny model of every family, fits it for one epoch (two steps, so the optimizers'
moments and iteration counts and the batch norms' moving statistics have moved off their initial
values), and writes, per model, into FOLDER:

- `<backend>_<model>.keras`: the model, saved (its optimizers named by their public Keras
  module, `check_optimizer_names`);
- `<backend>_<model>.out.npz`: what the model draws: `generate(4, seed=3)` (the ConditionalGAN's
  random attributes come from the same seed; the Diffusion model samples with 4 deterministic
  DDIM steps, eta 0);
- `<backend>_<model>.state.npz`: every weight (batch norm's moving statistics included) and every
  optimizer variable, by path.

`load` loads every `.keras` file in FOLDER saved under another backend (after `import kerasgen`,
as a user would), writes the same two `.npz` files for it, named
`<backend>_from_<saver>_<model>.{out,state}.npz`, then trains it one more step (`train_on`) and,
if that worked, writes `<backend>_from_<saver>_<model>.trained`. The test compares them; this
script only reports errors: each model's traceback goes to stderr and the process exits 1 if any model
failed (after trying the others), 2 if the backend is not the one asked for.
"""

import json
import os
import sys
import traceback
import zipfile

import numpy as np

BACKENDS = ("tensorflow", "jax", "torch")
#: The seed of the images each model draws: `generate(4, seed=GENERATE_SEED)`.
GENERATE_SEED = 3
IMAGE_SIZE = 16
#: Adam's learning rate for every optimizer: large, so that two steps move the networks well away
#: from their N(0, 0.02) initialisation and the images they draw span much of [0, 1] (at the
#: default rates they are 0.5 +- 0.002, too flat to show a difference in the arithmetic).
LEARNING_RATE = 0.05
ATTRIBUTES = ["Male", "Smiling"]
#: `generate`'s options beyond `(4, seed=GENERATE_SEED)`, by model: the Diffusion model samples
#: with DDIM at eta 0 (deterministic: the same seed draws the same images on every backend) in a
#: few steps, each a pass of its UNet.
GENERATE_OPTIONS = {"Diffusion": {"steps": 4, "eta": 0.0, "sampler": "ddim"}}


def tiny_models():
    """name -> a freshly built tiny model of each family (16 px, width 8, latent_dim 8; the
    Diffusion model's latent is its initial noise, 16 * 16 * 3, and its UNet has one residual
    block per level over 100 forward steps)."""
    import kerasgen

    common = {"image_size": IMAGE_SIZE, "latent_dim": 8, "width": 8, "seed": 1}
    return {
        "DCGAN": kerasgen.DCGAN(**common),
        "WGANGP": kerasgen.WGANGP(n_critic=2, **common),
        "Autoencoder": kerasgen.Autoencoder(**common),
        "VAE": kerasgen.VAE(**common),
        "VAEGAN": kerasgen.VAEGAN(**common),
        "ConditionalGAN": kerasgen.ConditionalGAN(attributes=ATTRIBUTES, **common),
        "Diffusion": kerasgen.Diffusion(image_size=IMAGE_SIZE, width=8, blocks=1, dropout=0.0,
                                        timesteps=100, seed=1),
    }


def images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, IMAGE_SIZE, IMAGE_SIZE, 3), "uint8")


def attributes(n, seed):
    return (np.random.default_rng(seed).random((n, len(ATTRIBUTES))) < 0.5).astype("float32")


def outputs(model):
    """What the model draws, deterministically: NumPy arrays by name."""
    options = GENERATE_OPTIONS.get(type(model).__name__, {})
    return {"generate": model.generate(4, seed=GENERATE_SEED, **options)}


def state(model):
    """Every weight and optimizer variable as `{"paths": [...], "v0": ..., ...}`, in order."""
    variables = list(model.weights) + list(model.optimizer.variables)
    arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
    return {"paths": np.array([v.path for v in variables]), **arrays}


def write(folder, stem, model):
    np.savez(os.path.join(folder, f"{stem}.out.npz"), **outputs(model))
    np.savez(os.path.join(folder, f"{stem}.state.npz"), **state(model))


def fit(name, model, steps):
    """`steps` training steps of 4 images (with attributes for the ConditionalGAN)."""
    x = images(4 * steps, seed=0)
    if name == "ConditionalGAN":
        model.fit(x, attributes(4 * steps, seed=1), batch_size=4, epochs=1, verbose=0)
    else:
        model.fit(x, batch_size=4, epochs=1, verbose=0)


def train_on(name, model):
    """A reloaded model trains on under this backend: its compile settings are the ones asked
    for (`jit_compile="auto"`, resolved here, not the saving backend's choice), its optimizers
    are Keras' public classes (or, under PyTorch, the subclass Keras itself makes of them
    there; never another backend's), and one more step moves them."""
    config = model.get_compile_config()
    if config["jit_compile"] != "auto":
        raise AssertionError(f"jit_compile saved as {config['jit_compile']!r}, not 'auto'")
    import keras

    own = f"keras.src.backend.{keras.backend.backend()}."  # e.g. PyTorch's own Adam
    for key, optimizer in model.optimizer.items():
        module = type(optimizer).__module__
        public = getattr(keras.optimizers, type(optimizer).__name__, None)
        if not (isinstance(public, type) and isinstance(optimizer, public)
                and (module.startswith("keras.src.optimizers") or module.startswith(own))):
            raise AssertionError(f"optimizer {key} reloaded as {module}")
    before = {k: int(np.asarray(o.iterations.numpy())) for k, o in model.optimizer.items()}
    fit(name, model, steps=1)
    after = {k: int(np.asarray(o.iterations.numpy())) for k, o in model.optimizer.items()}
    if any(after[k] <= before[k] for k in before):
        raise AssertionError(f"one more step did not train: iterations {before} -> {after}")


def check_optimizer_names(path):
    """The `.keras` file names every optimizer by its public Keras module, whichever backend
    saved it (a backend's own subclass would load as that backend's optimizer elsewhere)."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("class_name") in ("Adam", "AdamW", "SGD", "RMSprop", "Lion"):
                found.append(node.get("module"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config.get("compile_config"))
    if not found or any(module != "keras.optimizers" for module in found):
        raise AssertionError(f"{path} names its optimizers by the modules {found}")


def save(folder, backend):
    import keras

    failed = []
    for name, model in tiny_models().items():
        try:
            model.compile(optimizers={
                key: keras.optimizers.Adam(LEARNING_RATE, beta_1=0.5)
                for key in model.default_optimizers()
            })
            fit(name, model, steps=2)
            path = os.path.join(folder, f"{backend}_{name}.keras")
            model.save(path)
            check_optimizer_names(path)
            write(folder, f"{backend}_{name}", model)
        except Exception:  # noqa: BLE001 - report it, go on with the other models
            failed.append(name)
            print(f"--- {backend}: saving {name} failed:\n{traceback.format_exc()}",
                  file=sys.stderr)
    return failed


def load(folder, backend):
    import keras

    import kerasgen  # noqa: F401 - registers the classes, as a user's `import kerasgen` does

    failed = []
    for file in sorted(os.listdir(folder)):
        saver, _, rest = file.partition("_")
        if not file.endswith(".keras") or saver not in BACKENDS or saver == backend:
            continue
        name = rest[: -len(".keras")]
        try:
            model = keras.models.load_model(os.path.join(folder, file))
            if type(model).__name__ != name:
                raise TypeError(f"{file} loaded as a {type(model).__name__}")
            write(folder, f"{backend}_from_{saver}_{name}", model)
            train_on(name, model)
            open(os.path.join(folder, f"{backend}_from_{saver}_{name}.trained"), "w").close()
        except Exception:  # noqa: BLE001 - report it, go on with the other files
            failed.append(file)
            print(f"--- {backend}: loading {file} failed:\n{traceback.format_exc()}",
                  file=sys.stderr)
    return failed


def main(argv):
    mode, folder, expected = argv[1], argv[2], os.environ.get("KERAS_BACKEND")
    import keras

    if keras.backend.backend() != expected:
        print(f"asked for backend {expected!r}, Keras runs {keras.backend.backend()!r}",
              file=sys.stderr)
        return 2
    failed = {"save": save, "load": load}[mode](folder, expected)
    if failed:
        print(f"{expected}: {mode} failed for {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
