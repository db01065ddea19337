"""A `.keras` file saved under each Keras backend reloads under the other two and draws the same
images (issue 17, part 6).

Every model family (DCGAN, WGANGP, Autoencoder, VAE, VAEGAN, ConditionalGAN, Diffusion), tiny
(16 px, width 8, latent_dim 8; the Diffusion model's latent is its 16x16x3 initial noise), is
compiled and fitted for one epoch of two steps on random uint8 images under each backend, and
saved; each file is then loaded (`keras.models.load_model` after `import kerasgen`) under each of
the two other backends. Per (saving backend, loading backend) pair, for every model, the test
asserts that

- every weight (batch norm's moving statistics included) and every optimizer variable (moments,
  iteration counts) comes back bit for bit, under the same variable paths;
- `generate(4, seed=3)` (the ConditionalGAN's random attributes come from the same seed; the
  Diffusion model samples with 4 DDIM steps at eta 0, deterministic) equals the saving backend's
  images to within `ATOL` on [0, 1] pixels (`DIFFUSION_ATOL` for the Diffusion model): only the
  order of the floating-point operations in the convolutions differs between backends.

The work is done by `tests/helpers/cross_backend.py` in six subprocesses, one backend each: three
save (every model), then three load (every other backend's files); the three of a stage run side
by side. This module has no `backend` marker: it covers all three backends itself, so it runs
once, in the tensorflow pass (see conftest.py). A backend that cannot be imported makes its
subprocesses exit non-zero and the tests that need them fail, showing the subprocess's stderr;
nothing is skipped.
"""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kerasgen

BACKENDS = ("tensorflow", "jax", "torch")
PAIRS = list(itertools.permutations(BACKENDS, 2))
MODELS = ("DCGAN", "WGANGP", "Autoencoder", "VAE", "VAEGAN", "ConditionalGAN", "Diffusion")
HELPER = Path(__file__).parent / "helpers" / "cross_backend.py"
#: Where `import kerasgen` finds this checkout, for the subprocesses.
SOURCE_ROOT = str(Path(kerasgen.__file__).resolve().parent.parent)
#: Seconds a stage (three subprocesses side by side) may take before they are killed.
STAGE_TIMEOUT = 480

#: Largest difference allowed between the images a model draws under the backend that saved it
#: and under another one, on [0, 1] pixels. Measured (2-core CPU; Keras 3.15.1, TensorFlow 2.21,
#: JAX 0.10.2, PyTorch 2.13): at most 1.2e-7 (one or two float32 ulps near 0.5-1) over all six
#: pairs and six models, whose images have pixel ranges (max - min) of 0.07 to 0.8; ten times
#: that, rounded up. (Moving one decoder batch-norm mean by 1e-3 changes a VAE's images by 1.6e-4:
#: the 1e-4 that float-order tolerances often get would barely notice.)
ATOL = 1e-6
#: The same for the Diffusion model (4 DDIM steps, eta 0, over 100 forward steps, cosine
#: schedule). Its sampler amplifies float32 round-off: the first step divides by
#: sqrt(abar_99) = 5e-4 before clipping x_0^ to [-1, 1], and each step's image is the next one's
#: input. Measured (same machine and versions): at most 3.1e-4 (tensorflow -> jax; 2.2e-5 to
#: 1.2e-4 for the other pairs); ten times that, rounded up. Its images are far more sensitive to
#: the weights than that: moving the UNet's output bias by 1e-4 changes them by 0.09, sampling
#: with the raw instead of the EMA weights by 0.46, with 5 steps instead of 4 by 0.11.
DIFFUSION_ATOL = 4e-3
TOLERANCES = {"Diffusion": DIFFUSION_ATOL}


def _subprocess_env(backend):
    def joined(name, value, sep):
        return sep.join(filter(None, [os.environ.get(name), value]))

    return {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": joined("PYTHONPATH", SOURCE_ROOT, os.pathsep),
        # XLA (JAX's jit) compiles without LLVM's optimisation passes: a quarter of the compile
        # time, which is most of a tiny model's fit. The same operations in the same order; only
        # the machine code is slower.
        "XLA_FLAGS": joined("XLA_FLAGS", "--xla_backend_optimization_level=0", " "),
        # One thread each: three processes share the cores, and tiny models gain nothing from
        # more (threads spinning for work only take CPU from the other processes).
        "OMP_NUM_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
    }


def _run_stage(mode, folder):
    """Runs `cross_backend.py <mode> <folder>` under the three backends side by side; returns
    backend -> `(returncode, stderr)`."""
    processes = {
        backend: subprocess.Popen(
            [sys.executable, str(HELPER), mode, str(folder)], env=_subprocess_env(backend),
            cwd=SOURCE_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for backend in BACKENDS
    }
    results = {}
    for backend, process in processes.items():
        try:
            _, stderr = process.communicate(timeout=STAGE_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
            stderr += f"\n[killed after {STAGE_TIMEOUT} s]"
        results[backend] = (process.returncode, stderr)
    return results


@pytest.fixture(scope="module")
def cross_backend_runs(tmp_path_factory):
    """The folder the six subprocesses wrote to, and their `(returncode, stderr)` by stage and
    backend. Failures are not raised here: each test reports those that concern it."""
    folder = tmp_path_factory.mktemp("cross_backend")
    saved = _run_stage("save", folder)
    loaded = _run_stage("load", folder)
    return folder, {"save": saved, "load": loaded}


def _stderr_about(stderr, names, limit=4000):
    """The parts of a subprocess's stderr about `names` (the helper starts each model's
    traceback with a line `--- <backend>: <saving|loading> <name> failed:`), else its tail."""
    parts = []
    for name in names:
        marker = stderr.find(f" {name} failed:")
        if marker >= 0:
            start = stderr.rfind("---", 0, marker)
            end = stderr.find("\n---", marker)
            parts.append(stderr[start:end if end >= 0 else len(stderr)][-limit:])
    return "\n".join(parts) if parts else stderr[-limit:]


@pytest.mark.parametrize("saver,loader", PAIRS, ids=[f"{s}->{l}" for s, l in PAIRS])
def test_saved_model_reloads_under_another_backend_and_draws_the_same_images(
        cross_backend_runs, saver, loader):
    folder, runs = cross_backend_runs
    problems, differences = [], {}
    unwritten = {("save", saver): [], ("load", loader): []}  # subprocess -> what it did not write
    for model in MODELS:
        saved, reloaded = f"{saver}_{model}", f"{loader}_from_{saver}_{model}"
        if not all((folder / f"{saved}{ext}").exists()
                   for ext in (".keras", ".out.npz", ".state.npz")):
            problems.append(f"{model}: not saved under {saver}")
            unwritten["save", saver].append(model)
            continue
        if not all((folder / f"{reloaded}{ext}").exists() for ext in (".out.npz", ".state.npz")):
            problems.append(f"{model}: not reloaded under {loader}")
            unwritten["load", loader].append(f"{saved}.keras")
            continue
        if not (folder / f"{reloaded}.trained").exists():  # reloaded, but did not train on
            problems.append(f"{model}: reloaded under {loader} but did not train on")
            unwritten["load", loader].append(f"{saved}.keras")

        before = np.load(folder / f"{saved}.state.npz")
        after = np.load(folder / f"{reloaded}.state.npz")
        paths = [str(path) for path in before["paths"]]
        if [str(path) for path in after["paths"]] != paths:
            problems.append(f"{model}: other variables after reloading: saved {paths}, "
                            f"reloaded {[str(path) for path in after['paths']]}")
        else:
            changed = [path for i, path in enumerate(paths)
                       if not np.array_equal(before[f"v{i}"], after[f"v{i}"])]
            if changed:
                problems.append(f"{model}: variables not reloaded as saved: {changed}")

        expected = np.load(folder / f"{saved}.out.npz")["generate"]
        actual = np.load(folder / f"{reloaded}.out.npz")["generate"]
        tolerance = TOLERANCES.get(model, ATOL)
        # Images that vary far more than the tolerance, or their equality would prove little:
        # 1000 times it (at most half the [0, 1] range), over the pixels not clipped to 0 or 1
        # (a Diffusion model's sampler clips many), which must be a tenth of them or more.
        inside = expected[(expected > 0) & (expected < 1)]
        assert inside.size >= expected.size // 10, f"{saved}'s images are clipped: {inside.size}"
        assert np.ptp(inside) > min(1000 * tolerance, 0.5), \
            f"{saved}'s images are flat: {np.ptp(inside)}"
        differences[model] = float(np.max(np.abs(actual - expected)))
        if not differences[model] <= tolerance:
            problems.append(f"{model}: images differ by up to {differences[model]:.3g} > "
                            f"{tolerance}")

    for (stage, backend), names in unwritten.items():
        if names:
            returncode, stderr = runs[stage][backend]
            problems.append(f"the {stage} subprocess under {backend} exited {returncode}; "
                            f"its stderr:\n{_stderr_about(stderr, names)}")
    summary = ", ".join(f"{model} {difference:.2g}" for model, difference in differences.items())
    assert not problems, (f"{saver} -> {loader}:\n" + "\n".join(problems)
                          + f"\nlargest pixel differences: {summary or 'none compared'}")
