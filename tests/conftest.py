"""Test configuration: the Keras backend comes from KERAS_BACKEND, as for any Keras user.

The README's test command runs pytest once per backend. Tests marked `backend` (everything that
trains, saves or runs a model's ops) run under every backend; the others do not depend on the
backend and run once, in the tensorflow pass. They are deselected, not skipped, elsewhere, and
the header says which backend ran.
"""

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

BACKEND = keras.backend.backend()
PRIMARY_BACKEND = "tensorflow"


def pytest_report_header(config):
    scope = "all tests" if BACKEND == PRIMARY_BACKEND else "tests marked 'backend' only"
    return f"keras {keras.__version__}, backend: {BACKEND} ({scope})"


def pytest_collection_modifyitems(config, items):
    if BACKEND == PRIMARY_BACKEND:
        return
    selected = [item for item in items if item.get_closest_marker("backend")]
    deselected = [item for item in items if not item.get_closest_marker("backend")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.clear_session()
    yield
