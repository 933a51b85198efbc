"""Every argument check of the package, in Keras' voice.

Each check raises `ValueError` naming the argument, what was received and
what is allowed, so that bad input is refused before any file is written.
The checks of files and directories raise the matching `OSError` instead
(`FileNotFoundError`, `NotADirectoryError`, `FileExistsError`,
`PermissionError`) when that is what is wrong. The command line turns both
into one line and exit code 2. A value is checked once, where it is owned
(the config, the layer, the function that uses it); code that passes a
value on does not check it again.
"""

import numbers
import os
import re
import zipfile

import keras
import numpy as np

from keras_ae.registry import get_objective
from keras_ae.registry import list_objectives

__all__ = [
    "check_activation", "check_autoencoder", "check_bool", "check_choice",
    "check_data", "check_data_source", "check_fits_in_memory",
    "check_labelled_split", "check_examples", "check_finite", "check_images",
    "check_keras_file", "check_labels", "check_model_data", "check_name",
    "check_new_file", "check_non_negative_number", "check_number",
    "check_optimizer", "check_output_dir", "check_path",
    "check_positive_int", "check_positive_ints", "check_sample_weight",
    "check_seed", "check_shape", "check_unit_range", "check_version",
    "memory_limit", "refuse",
]

# Names of runs and served models: a whole match, so that no trailing
# newline or other control character slips through, and short enough for
# every filesystem (255 bytes) with the suffixes added to them.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
# TF Serving reads a version as an int64.
MAX_VERSION = 2**63 - 1
# Paths: a component of at most 255 bytes (NAME_MAX), and a whole path that
# leaves room, under PATH_MAX (4,096 bytes), for the files written in it.
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4096 - 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def refuse(name, value, allowed, error=ValueError):
    """Raises `error` saying `name` must be `allowed` and what was received."""
    raise error(f"`{name}` must be {allowed}. Received: {name}={value!r}")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name, value, maximum=None):
    """Returns `value` if it is an integer > 0 (and <= `maximum`)."""
    if not _is_int(value) or value <= 0 or (maximum and value > maximum):
        refuse(name, value, "a positive integer" + (
            f" <= {maximum:,}" if maximum else ""))
    return int(value)


def check_positive_ints(name, values, allow_empty=False):
    """Returns `values` as a tuple of integers > 0 (non-empty unless allowed)."""
    try:
        checked = tuple(values)
    except TypeError:
        checked, allow_empty = (), False
    if (not checked and not allow_empty) or not all(
            _is_int(v) and v > 0 for v in checked):
        refuse(name, values, f"a {'' if allow_empty else 'non-empty '}tuple "
               "of positive integers")
    return tuple(int(v) for v in checked)


def check_number(name, value, minimum=None, maximum=None):
    """Returns `value` as a float if it is a finite number in [minimum, maximum]."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not np.isfinite(value)
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)):
        if minimum is not None and maximum is not None:
            allowed = f"a number in [{minimum:g}, {maximum:g}]"
        elif minimum is not None:
            allowed = f"a finite number >= {minimum:g}"
        elif maximum is not None:
            allowed = f"a finite number <= {maximum:g}"
        else:
            allowed = "a finite number"
        refuse(name, value, allowed)
    return float(value)


def check_non_negative_number(name, value):
    """Returns `value` as a float if it is a finite number >= 0."""
    return check_number(name, value, minimum=0)


def check_bool(name, value):
    """Returns `value` if it is a bool (not merely truthy)."""
    if not isinstance(value, bool):
        refuse(name, value, "a bool")
    return value


def check_choice(name, value, allowed):
    """Returns `value` if it is one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"Unknown `{name}`. Received: {name}={value!r}; "
                         f"allowed: {', '.join(repr(a) for a in allowed)}.")
    return value


def check_seed(name, value):
    """Returns `value` if it is `None` or an integer in [0, 2**32)."""
    if value is not None and (not _is_int(value) or not 0 <= value < 2**32):
        refuse(name, value, "None or an integer in [0, 2**32)")
    return None if value is None else int(value)


def check_shape(name, shape, min_rank=1, max_rank=None):
    """Returns `shape` as a tuple of positive ints of an allowed rank."""
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if shape is None or not all(_is_int(d) and d > 0 for d in shape) or (
            len(shape) < min_rank or (max_rank and len(shape) > max_rank)):
        rank = (f"{min_rank}" if max_rank == min_rank
                else f"{min_rank} to {max_rank}" if max_rank
                else f"at least {min_rank}")
        refuse(name, shape, f"a tuple of {rank} positive integers (without "
               "the batch dimension)")
    return tuple(int(d) for d in shape)


def check_name(name, value):
    """Returns `value` if it is a plain name for a run or a served model.

    Letters, digits, `_`, `-` and `.`, not starting with `.` or `-`, at
    most 128 characters, matched whole: it names a directory and, in TF
    Serving, a model and its URLs.
    """
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        refuse(name, value, "a plain name of 1 to 128 letters, digits, '_', "
               "'-' and '.', not starting with '.' or '-' (it names a "
               "directory and a TF Serving model)")
    return value


def check_version(name, value):
    """Returns `value` if it is `None` (the next free one) or an int64 > 0."""
    return None if value is None else check_positive_int(name, value,
                                                         MAX_VERSION)


def check_path(name, path):
    """Returns `path` as a str if it is a usable path, matched whole.

    A non-empty str or path-like without control characters (a trailing
    newline, a tab, a NUL byte), whose components fit the filesystem's 255
    bytes and whose length leaves room for the files written in it.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        refuse(name, path, "a non-empty path")
    path = os.fspath(path)
    if not isinstance(path, str):
        path = os.fsdecode(path)
    if _CONTROL.search(path):
        refuse(name, path, "a path without control characters (newline, tab, "
               "NUL...)")
    for part in path.split(os.sep):
        size = len(os.fsencode(part))
        if size > MAX_COMPONENT_BYTES:
            refuse(name, path, f"a path whose every name is at most "
                   f"{MAX_COMPONENT_BYTES} bytes (one is {size})")
    size = len(os.fsencode(os.path.abspath(path)))
    if size > MAX_PATH_BYTES:
        refuse(name, path, f"a path of at most {MAX_PATH_BYTES:,} bytes "
               f"(received {size:,})")
    return path


def memory_limit():
    """The bytes a single array may take: this machine's physical memory."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover
        return 2**40


def check_fits_in_memory(name, value, bytes_each, what):
    """Returns `value` if `value * bytes_each` bytes fit in this machine's memory.

    Args:
        name: str, the argument named in errors.
        value: int > 0, a count (samples, steps, code size...).
        bytes_each: int, the bytes each unit of `value` takes.
        what: str, what those bytes are, for the message (e.g. `"float32
            outputs of shape (28, 28, 1) each"`).

    Example:

    >>> check_fits_in_memory("num_samples", 10**12, 4 * 784, "float32 images")
    Traceback (most recent call last):
    ValueError: `num_samples` must be small enough for memory ...
    """
    size = value * bytes_each
    limit = memory_limit()
    if size > limit:
        refuse(name, value, f"small enough for memory: {value:,} x "
               f"{bytes_each:,} bytes of {what} is {_bytes(size)}, more than "
               f"this machine's {_bytes(limit)}")
    return value


def _bytes(size):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else (
                f"{size:,.1f} {unit}")
        size /= 1024
    return f"{size:,.1f} EiB"  # pragma: no cover


def check_activation(name, value):
    """Returns `value` if Keras knows it as an activation (a name, a callable or `None`)."""
    if value is None or callable(value):
        return value
    allowed = sorted(n for n in dir(keras.activations)
                     if not n.startswith("_") and n not in (
                         "get", "serialize", "deserialize")
                     and callable(getattr(keras.activations, n)))
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"Unknown `{name}`. Received: {name}={value!r}; "
                         f"allowed: {', '.join(allowed)} (or a callable).")
    return value


def check_optimizer(name, value):
    """Returns `value` if it is a Keras optimizer or the name of one."""
    if isinstance(value, keras.optimizers.Optimizer):
        return value
    allowed = sorted(
        cls.__name__.lower() for cls in vars(keras.optimizers).values()
        if isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)
        and cls.__name__ not in ("Optimizer", "LossScaleOptimizer",
                                 "MultiOptimizer", "OptimizerMap"))
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(
            f"Unknown `{name}`. Received: {name}={value!r}; allowed: a "
            f"keras.optimizers.Optimizer, or one of {', '.join(allowed)}.")
    return value


def check_sample_weight(name, weights, num_examples):
    """Returns `weights` as float32, one finite weight >= 0 per example.

    Args:
        name: str, the argument named in errors.
        weights: array-like of shape `(num_examples,)`.
        num_examples: int, the number of examples they weigh.
    """
    try:
        array = np.asarray(weights, dtype="float64")
    except (TypeError, ValueError):
        refuse(name, type(weights).__name__, "an array of numbers, one "
               "weight per example")
    if array.ndim != 1 or len(array) != num_examples:
        raise ValueError(
            f"`{name}` must hold one weight per example: shape "
            f"({num_examples},). Received: {name} with shape {array.shape}")
    check_finite(name, array)
    if array.size and array.min() < 0:
        raise ValueError(
            f"`{name}` must be >= 0 (a weight of each example's loss). "
            f"Received: {name} with minimum {array.min():g}")
    return array.astype("float32")


def check_finite(name, array):
    """Raises `ValueError` if `array` holds NaN or infinite values."""
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"`{name}` must hold only finite values. Received: {name} with "
            f"{bad} NaN or infinite value(s) out of {array.size}.")
    return array


def check_unit_range(name, array):
    """Raises `ValueError` unless every value of `array` lies in [0, 1]."""
    array = check_finite(name, array)
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise ValueError(
            f"`{name}` must be scaled to [0, 1]. Received: {name} with values "
            f"in [{float(array.min()):.4g}, {float(array.max()):.4g}].")
    return array


def check_data_source(name, value):
    """Returns `value` if it names a dataset or an existing data path."""
    if not isinstance(value, str) or not value:
        refuse(name, value, "a dataset name or the path of a folder, .npy, "
               ".npz or .csv file")
    is_path = os.sep in value or value.endswith((".npy", ".npz", ".csv"))
    if is_path:
        check_path(name, value)
    if is_path and not os.path.exists(value):
        raise FileNotFoundError(
            f"`{name}` names no file or folder. Received: {name}={value!r}")
    if os.path.isfile(value) and not value.endswith((".npy", ".npz", ".csv")):
        refuse(name, value, "a folder of images, or a .npy, .npz or .csv file")
    return value


# --- Models and their data ----------------------------------------------------


def check_autoencoder(model, name="model", kind=None):
    """Returns `model` if it is a keras_ae model (of the objective class `kind`)."""
    kind = kind or get_objective("ae").model_class
    if not isinstance(model, kind):
        raise ValueError(
            f"`{name}` must be a keras_ae {kind.__name__} (e.g. from "
            "`keras_ae.build_autoencoder`). Received: "
            f"{name} of type {type(model).__name__}")
    return model


def check_examples(name, x, input_shape=None, unit_range=False,
                   allow_empty=False):
    """Returns `x` as a float32 NumPy array of examples, or raises `ValueError`.

    The one check of the data given to a model (`fit`, `evaluate`, `predict`
    and the verbs) or to an evaluation, made before any step runs: numbers only, finite values, at least one example unless
    `allow_empty`, the model's `input_shape` when given, and values in [0, 1]
    when `unit_range` (targets of a binary cross-entropy). `uint8` arrays
    are raw image bytes: they are refused with the fix, `x / 255.0`, since a
    model of the zoo expects scaled values.

    Args:
        name: str, the argument named in errors.
        x: array-like of shape `(num_examples, *input_shape)`.
        input_shape: tuple of the shape of one example (`None` entries match
            any size), or `None` to accept any shape.
        unit_range: bool, require every value to lie in [0, 1]; a str says
            why, in errors (e.g. `"reconstruction_loss='bce'"`).
        allow_empty: bool, accept zero examples.

    Returns:
        `x` as a float32 NumPy array.

    Example:

    >>> check_examples("x", np.zeros((2, 28, 28, 1)), (28, 28, 1)).shape
    (2, 28, 28, 1)
    """
    array = np.asarray(x)
    if array.dtype == np.uint8:
        raise ValueError(
            f"`{name}` holds uint8 values (raw image bytes, 0 to 255); the "
            f"models expect floats scaled to [0, 1]: pass {name} / 255.0. "
            f"Received: {name} of dtype uint8 with shape {array.shape}"
        )
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(
            f"`{name}` must be an array of numbers. Received: {name} of dtype "
            f"{array.dtype} with shape {array.shape}"
        )
    if array.ndim == 0:
        raise ValueError(
            f"`{name}` must be an array of examples, with the batch dimension "
            f"first. Received: {name}={array!r}"
        )
    if input_shape is not None:
        expected = tuple(input_shape)
        if array.ndim != len(expected) + 1 or any(
            e is not None and d != e for d, e in zip(array.shape[1:], expected)
        ):
            shown = ", ".join("None" if d is None else str(d) for d in expected)
            raise ValueError(
                f"`{name}` must have shape (batch_size, {shown}) for this "
                f"model. Received: {name} with shape {array.shape}"
            )
    if not allow_empty and len(array) == 0:
        raise ValueError(
            f"`{name}` must hold at least one example. Received: {name} with "
            f"shape {array.shape}"
        )
    check_finite(name, array)
    if unit_range and array.size and (array.min() < 0 or array.max() > 1):
        low, high = float(array.min()), float(array.max())
        if np.issubdtype(array.dtype, np.integer) and high > 1:
            fix = (f"{name} holds integers up to {high:g}; for 8-bit images "
                   f"pass {name} / 255.0")
        else:
            fix = "scale it to [0, 1]"
        reason = f" ({unit_range})" if isinstance(unit_range, str) else ""
        raise ValueError(
            f"`{name}` must be scaled to [0, 1]. Received: {name} with values "
            f"in [{low:.4g}, {high:.4g}]; {fix}{reason}."
        )
    return array.astype("float32", copy=False)


def check_model_data(model, x, y=None, validation_data=None, targets=True,
                     allow_empty=False, names=("x", "y")):
    """Checks the NumPy data given to a model's `fit`, `evaluate` or `predict`.

    Arrays (NumPy, lists, tensors) go through `check_examples` against the
    model's input shape; the targets of a model with
    `reconstruction_loss="bce"` must lie in [0, 1] (the target is `x` itself
    when `y` is `None` and `targets` is `True`). `tf.data` datasets,
    generators and `keras.utils.PyDataset`s are passed on unread: their
    values are seen only while the steps run (the model checks each batch's
    shape in its first step, and `keras_ae.data.make_dataset` checks its
    arrays when it builds a pipeline).

    Args:
        model: an `AutoEncoder` (anything with `input_shape_` and
            `reconstruction_loss`).
        x: the inputs.
        y: the targets, or `None`.
        validation_data: `None`, a dataset, or a tuple `(x_val,)`,
            `(x_val, y_val)` or `(x_val, y_val, sample_weight)`.
        targets: bool, whether `x` is the target when `y` is `None` (`False`
            for `predict`).
        allow_empty: bool, accept zero examples.
        names: the arguments named in errors for `x` and `y`.

    Returns:
        `(x, y, validation_data)` with every array checked and float32.
    """
    if isinstance(x, dict) and not getattr(model, "conditional", False):
        conditional = ", ".join(
            n for n in list_objectives()
            if getattr(get_objective(n).model_class, "conditional", False))
        raise ValueError(
            f"A {type(model).__name__} takes no labels: `{names[0]}` must be "
            f"an array of inputs. Received: {names[0]} as a dict with keys "
            f"{sorted(x)}; objectives that take labels: {conditional or 'none'}.")
    if _is_array(x):
        # Binary cross-entropy takes targets in [0, 1]; MSE takes any.
        bce = getattr(model, "reconstruction_loss", None) == "bce" and (
            "binary cross-entropy targets, reconstruction_loss='bce'; "
            "'mse' takes any range")
        x = check_examples(names[0], x, model.input_shape_,
                           unit_range=targets and y is None and bce,
                           allow_empty=allow_empty)
        if _is_array(y):
            y = check_examples(names[1], y, model.input_shape_, unit_range=bce,
                               allow_empty=allow_empty)
            if len(y) != len(x):
                raise ValueError(
                    f"`{names[0]}` and `{names[1]}` must hold as many "
                    f"examples. Received: {len(x)} inputs and {len(y)} "
                    "targets"
                )
    if isinstance(validation_data, (tuple, list)) and validation_data and (
        _is_array(validation_data[0]) or isinstance(validation_data[0], dict)
    ):
        x_val, y_val, _ = check_model_data(
            model, validation_data[0],
            validation_data[1] if len(validation_data) > 1 else None,
            names=("validation_data[0]", "validation_data[1]"))
        weights = validation_data[2] if len(validation_data) > 2 else None
        if weights is not None and _is_array(x_val):
            weights = check_sample_weight("validation_data[2]", weights,
                                          len(x_val))
            # Keras drops the weights of data without targets.
            y_val = x_val if y_val is None else y_val
        validation_data = (x_val, y_val, *(() if weights is None
                                           else (weights,)))
    return x, y, validation_data


def _is_array(value):
    return isinstance(value, (np.ndarray, list)) or (
        value is not None and hasattr(value, "__array__")
        and not isinstance(value, dict)
    )


def check_images(name, x):
    """Returns `x` as float32 images `(n, height, width, channels)` in [0, 1]."""
    x = np.asarray(x, dtype="float32")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(
            f"`{name}` must be images of shape (num_images, height, width"
            f"[, channels]). Received: {name} with shape {x.shape}")
    return check_unit_range(name, x)


def check_labels(x_name, x, y_name, y):
    """Returns `y` as int64 class labels >= 0, one per example of `x`."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"`{y_name}` must hold one label per example of `{x_name}`. "
            f"Received: {len(x)} examples in {x_name} and {y_name} with shape "
            f"{y.shape}")
    if not np.issubdtype(y.dtype, np.integer) and not np.all(np.mod(y, 1) == 0):
        refuse(y_name, y.dtype, "integer class labels")
    if y.size and y.min() < 0:
        refuse(y_name, int(y.min()), "labels >= 0 (received the minimum)")
    return y.astype("int64")


def check_data(name, x, model=None):
    """`check_examples` against `model`'s input shape; images lie in [0, 1]."""
    return check_examples(
        name, x, model.input_shape_ if model is not None else None,
        unit_range=np.ndim(x) == 4 and "images")


def check_labelled_split(model, x_train, y_train, x_test, y_test):
    """Checks a model and its labelled train and test sets; returns the arrays."""
    check_autoencoder(model)
    x_train = check_data("x_train", x_train, model)
    x_test = check_data("x_test", x_test, model)
    return (x_train, check_labels("x_train", x_train, "y_train", y_train),
            x_test, check_labels("x_test", x_test, "y_test", y_test))


# --- Files and directories ----------------------------------------------------


def check_output_dir(name, path, must_be_new=False, allow_empty=True,
                     file_name=None):
    """Checks that `path` can hold new files, before anything is written.

    A missing directory is fine when its nearest existing parent is a
    writable directory (it will be created). Nothing is created here.

    Args:
        name: str, the argument named in errors.
        path: str or path-like.
        must_be_new: bool, refuse a directory that already exists (unless it
            is empty and `allow_empty`).
        allow_empty: bool, with `must_be_new`, accept an empty directory.
        file_name: str or `None`. When the argument is a file to be written
            in `path`, its path: errors then say what the file needs and show
            it as the received value.

    Returns:
        `path` as a str.

    Raises:
        ValueError: `path` is empty or not a path.
        NotADirectoryError: `path`, or one of its parents, is a file.
        FileExistsError: `must_be_new` and the directory exists.
        PermissionError: the directory (or where it would be created) is not
            writable.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(
            f"`{name}` must be a non-empty path. Received: {name}={path!r}")
    path = check_path(name, path)
    received = path if file_name is None else os.fspath(file_name)
    what = "a directory" if file_name is None else "a file in a directory"
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(existing.rstrip(os.sep)) or os.curdir
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        raise NotADirectoryError(
            f"`{name}` must be {what}, and {existing!r} is a file. "
            f"Received: {name}={received!r}"
        )
    if existing == path and must_be_new and not (
        allow_empty and not os.listdir(path)
    ):
        raise FileExistsError(
            f"`{name}` already exists and is not empty; nothing is "
            f"overwritten. Received: {name}={path!r}"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(
            f"`{name}` is not writable: no permission to write in "
            f"{existing!r}. Received: {name}={received!r}"
        )
    return path


def check_new_file(name, path):
    """Returns `path` if a new file can be written there (never overwritten)."""
    path = check_path(name, path)
    if os.path.lexists(path):
        raise FileExistsError(
            f"{path!r} already exists; it is never overwritten. Received: "
            f"{name}={path!r}")
    check_output_dir(name, os.path.dirname(path) or ".", file_name=path)
    return path


def check_keras_file(name, path):
    """Checks that `path` is a readable `.keras` model file, without loading it.

    A `.keras` file is a zip archive holding `config.json`: a text file, a
    truncated copy or another archive is named as what it is, rather than
    reported missing as `keras.saving.load_model` does.

    Args:
        name: str, the argument named in errors.
        path: str or path-like.

    Returns:
        `path` as a str.

    Raises:
        FileNotFoundError: nothing is at `path`.
        IsADirectoryError: `path` is a directory.
        ValueError: `path` is a file but not a `.keras` model.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(
            f"`{name}` must be the path of a .keras file. Received: "
            f"{name}={path!r}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No saved model at {path!r}: `{name}` names no file. Received: "
            f"{name}={path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"`{name}` must be a .keras file, not a directory. Received: "
            f"{name}={path!r}")
    if not path.endswith(".keras"):
        raise ValueError(
            f"`{name}` must be a .keras file. Received: {name}={path!r}")
    size = os.path.getsize(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"`{name}` is not a .keras model: {path!r} is not a zip archive "
            f"({_describe_file(path, size)}); a .keras file is a zip holding "
            f"config.json and the weights. Received: {name}={path!r}"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(
            f"`{name}` is a damaged .keras archive ({error}); it may be a "
            f"truncated copy. Received: {name}={path!r}"
        ) from None
    if "config.json" not in names:
        raise ValueError(
            f"`{name}` is a zip archive but not a .keras model: it holds no "
            f"config.json. Received: {name}={path!r}"
        )
    if broken is not None:
        raise ValueError(
            f"`{name}` is a damaged .keras archive: {broken!r} fails its "
            f"checksum; it may be a truncated copy. Received: {name}={path!r}"
        )
    return path


def _describe_file(path, size):
    if size == 0:
        return "an empty file"
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"PK"):
        return f"a truncated or damaged zip of {size} bytes"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return f"a binary file of {size} bytes"
    return f"a text file of {size} bytes"
