"""Writing files so that a kill never leaves half of one: write to a temporary name in the same
folder, then rename it into place (`os.replace` is atomic on one file system). A reader sees the
old file or the new one, never a part; an interrupted write leaves the old file untouched and
its temporary file removed (after a hard kill, a hidden `.tmp-PID-NAME` that nothing reads).
"""

import contextlib
import json
import os
import shutil

TEMPORARY_MARK = ".tmp-"  # temporary files: .tmp-PID-NAME


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path` that ends with its whole name (so writers that look
    at the suffix, such as Keras' `.keras`/`.weights.h5` saving and Pillow, still work): write
    it, and on leaving the block it replaces `path`. On an exception the temporary file is
    removed and `path` is left as it was.
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f"{TEMPORARY_MARK}{os.getpid()}-{name}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            if os.path.isdir(temporary):
                shutil.rmtree(temporary, ignore_errors=True)
            else:
                os.remove(temporary)


def write_text(path, text):
    with atomic_path(path) as temporary:
        with open(temporary, "w") as f:
            f.write(text)
    return path


def write_json(path, payload):
    return write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def read_json(path):
    with open(path) as f:
        return json.load(f)


def save_model(model, path):
    """`model.save(path)`, atomically: a kill during the save keeps the previous file whole."""
    with atomic_path(path) as temporary:
        model.save(temporary)
    return path
