"""Test configuration: the Keras backend comes from KERAS_BACKEND, as for any Keras user.

The README's test command runs pytest once per backend, in parallel workers (pytest-xdist,
`--dist loadfile`: a file's tests run in one worker, which builds its module fixtures once).
Tests marked `backend` (everything that trains, saves or runs a model's ops) run under every
backend; the others do not depend on the backend and run once, in the tensorflow pass. Tests
marked `only_backend(name)` test that backend's own code and run in its pass only. Tests are
deselected, never skipped, elsewhere, and the header says which backend ran.
"""

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ["KERAS_BACKEND"] == "jax":
    # XLA compiles without LLVM's optimisation passes, here and in the tests' subprocesses:
    # the same HLO, the same operations in the same order, only slower machine code, and
    # compiling is most of what a test's tiny model costs (tests/test_cli.py and test_runs.py:
    # 213 s against 271 s). tests/test_cross_backend.py's JAX processes did this already.
    os.environ["XLA_FLAGS"] = " ".join(
        filter(None, [os.environ.get("XLA_FLAGS"), "--xla_backend_optimization_level=0"]))

import keras  # noqa: E402

BACKEND = keras.backend.backend()
PRIMARY_BACKEND = "tensorflow"


def pytest_report_header(config):
    scope = "all tests" if BACKEND == PRIMARY_BACKEND else "tests marked 'backend' only"
    return f"keras {keras.__version__}, backend: {BACKEND} ({scope})"


def _runs_here(item):
    only = item.get_closest_marker("only_backend")
    if only is not None and BACKEND not in only.args:
        return False  # about one backend's own code (e.g. jax_conv); runs in that pass
    return BACKEND == PRIMARY_BACKEND or item.get_closest_marker("backend") is not None


def pytest_collection_modifyitems(config, items):
    selected = [item for item in items if _runs_here(item)]
    deselected = [item for item in items if not _runs_here(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.clear_session()
    yield


@pytest.fixture(autouse=True)
def _private_feature_cache(tmp_path, monkeypatch):
    """Real-data features cached by `kerasgen eval` go to the test's folder, not ~/.cache."""
    monkeypatch.setenv("KERASGEN_CACHE", str(tmp_path / "kerasgen-cache"))


class _FreshPython:
    """`tests/helpers/fresh_python.py` as a fixture: `fresh_python(script)` runs `script` in
    the separate process and returns an object with `returncode`, `stdout` and `stderr`, as
    `subprocess.run(..., capture_output=True, text=True)` would."""

    def __init__(self):
        import subprocess
        import sys

        helper = os.path.join(os.path.dirname(__file__), "helpers", "fresh_python.py")
        self.process = subprocess.Popen(
            [sys.executable, helper], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env={**os.environ, "KERAS_BACKEND": keras.backend.backend()},
        )

    def __call__(self, script):
        import json
        import types

        self.process.stdin.write(json.dumps({"script": script}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fresh Python process exited ({self.process.poll()})")
        return types.SimpleNamespace(**json.loads(line))

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


@pytest.fixture(scope="session")
def fresh_python():
    """Runs scripts in one separate Python process for the whole session (see
    tests/helpers/fresh_python.py): the saved-model-reloads tests' "fresh process"."""
    runner = _FreshPython()
    yield runner
    runner.close()
