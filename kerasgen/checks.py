"""Checks of the values users give: constructor and function arguments, command-line options.

One place and one signature, `check_...(value, name, ...) -> value`, used by the library and the
CLI alike: the library names arguments as Python spells them (`epochs`), the CLI as the option
(`--epochs`). A bad value raises `kerasgen.errors.OptionError` (a `ValueError`), whose message
is one line naming the value, what was expected and what was received.
"""

import math
import numbers
import os

import numpy as np

from kerasgen.errors import OptionError

SUPPORTED_IMAGE_SIZES = (16, 32, 64, 128, 256)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def check_int(value, name, minimum=None, maximum=None):
    """An integer (Python or NumPy) within [minimum, maximum] (either bound optional)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise OptionError(f"{name} must be an integer{_bounds(minimum, maximum)}; "
                          f"received {name}={value!r}.")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise OptionError(f"{name} must be an integer{_bounds(minimum, maximum)}; "
                          f"received {name}={value!r}.")
    return int(value)


def check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise OptionError(f"{name} must be True or False; received {name}={value!r}.")
    return bool(value)


def check_number(value, name, minimum=None, maximum=None, above=None):
    """A finite real number within [minimum, maximum]; `above` is an exclusive lower bound."""
    bounds = _bounds(minimum, maximum, above)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating)) \
            or not math.isfinite(value) or (above is not None and not value > above) \
            or (minimum is not None and value < minimum) \
            or (maximum is not None and value > maximum):
        raise OptionError(f"{name} must be a finite number{bounds}; received {name}={value!r}.")
    return float(value)


def _bounds(minimum=None, maximum=None, above=None):
    if above is not None:
        minimum_text = f" > {above:g}"
    elif minimum is not None:
        minimum_text = f" >= {minimum:g}"
    else:
        minimum_text = ""
    if maximum is None:
        return minimum_text
    return f"{minimum_text} and <= {maximum:g}" if minimum_text else f" <= {maximum:g}"


def check_weight(value, name):
    """A loss weight: a finite number >= 0."""
    return check_number(value, name, minimum=0)


def check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise OptionError(f"{name} must be one of {expected}; received {name}={value!r}.")
    return value


def check_image_size(value, name="image_size"):
    """A model's image size: the networks halve or double it per block."""
    if isinstance(value, (bool, np.bool_)) or value not in SUPPORTED_IMAGE_SIZES:
        raise OptionError(
            f"{name} must be one of {SUPPORTED_IMAGE_SIZES} (a power of two: the networks "
            f"halve or double it per block); received {name}={value!r}."
        )
    return int(value)


def check_output_file(path, name, suffixes=None):
    """A file to write: not a folder, in a folder that exists or can be made and is writable,
    with one of `suffixes` (lower case, with the dot) when given."""
    path = os.fspath(path)
    if suffixes is not None and os.path.splitext(path)[1].lower() not in suffixes:
        raise OptionError(f"{name} must end in one of {', '.join(suffixes)}; received {path!r}.")
    if os.path.isdir(path):
        raise OptionError(f"{name} names a folder, {path}; give a file name.")
    _writable_folder(os.path.dirname(os.path.abspath(path)), name, path)
    return path


def check_output_folder(path, name):
    """A folder to write into: an existing folder or a path where one can be made."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise OptionError(f"{name} names an existing file, {path}; give a folder.")
    _writable_folder(os.path.abspath(path), name, path)
    return path


def _writable_folder(folder, name, path):
    """The folder, or its nearest existing parent (where it would be made), must be a writable
    folder."""
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise OptionError(f"{name} cannot be written: {existing} is a file, not a folder "
                          f"(received {path!r}).")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OptionError(f"{name} cannot be written: no permission to write in {existing} "
                          f"(received {path!r}).")


def check_input_file(path, name):
    """A file that must exist."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise OptionError(f"{name} names a folder, {path}; give a file.")
    if not os.path.isfile(path):
        raise OptionError(f"{name}: no file at {path}.")
    return path
