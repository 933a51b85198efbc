"""File helpers shared by the export formats: checks, temporaries and atomic writes.

Every export refuses a bad target before anything is traced, converted or
written, and writes atomically: into a marked temporary directory beside
its target, renamed into place once complete (`keras_ae.io`). A temporary
left by a killed export is removed by the next writer of the same
directory only when its marker proves it is keras_ae's and its process is
gone.
"""

import json
import os
import zipfile

import keras

from keras_ae import io
from keras_ae.checks import check_autoencoder
from keras_ae.checks import check_keras_file

__all__ = ["TEMP_PREFIX", "check_model", "load_keras_model", "make_dirs",
           "remove_empty", "remove_stale_temporaries", "temporary_directory",
           "write_atomically", "writer_lock"]

TEMP_PREFIX = io.TEMP_PREFIX
temporary_directory = io.temporary_directory
remove_stale_temporaries = io.remove_stale_temporaries
writer_lock = io.writer_lock


def check_model(model):
    """Returns `model`, built, if it is a keras_ae autoencoder; raises otherwise."""
    check_autoencoder(model)
    if not model.built:
        input_shape = getattr(model, "input_shape_", None)
        if not input_shape or any(d is None for d in input_shape):
            raise ValueError(
                "`model` is not built and its input shape is unknown. Build "
                "it first: call it on a batch, or "
                "`model.build((None, *input_shape))`.")
        model.build((None, *input_shape))
    return model


def make_dirs(path):
    """Creates `path` and its missing parents; returns the created ones."""
    missing = []
    current = os.path.abspath(path)
    while not os.path.exists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    os.makedirs(path, exist_ok=True)
    return missing  # deepest first


def remove_empty(directories):
    """Removes `directories` in order, up to the first that is not empty."""
    for directory in directories:
        try:
            os.rmdir(directory)
        except OSError:
            break


def write_atomically(path, data, overwrite=False):
    """Writes `data` to `path` atomically, creating its missing directories.

    See `keras_ae.io.write_atomically`; stale keras_ae temporaries of the
    directory are removed first, and the directories created here are
    removed again if the write fails.
    """
    directory = os.path.dirname(os.fspath(path)) or "."
    created = make_dirs(directory)
    remove_stale_temporaries(directory)
    try:
        return io.write_atomically(path, data, overwrite=overwrite)
    except BaseException:
        remove_empty(created)
        raise


def load_keras_model(path, argument="model", compile=False,
                     fix="save or export the model again"):
    """Loads a keras_ae model from a `.keras` file, with one clear error.

    A file that is not a `.keras` archive, an archive whose config is not
    valid or not a keras_ae model's, whose weights are missing or damaged,
    or whose weights belong to another architecture: each is refused with
    a `ValueError` naming the file, what is wrong and what to do.

    Args:
        path: str or path of the `.keras` file.
        argument: str, the argument named in errors.
        compile: bool, restore the optimizer too.
        fix: str, what the user can do, ending the message.

    Returns:
        The built keras_ae model.

    Example:

    >>> model = load_keras_model("saved_models/quick/model.keras")
    """
    path = check_keras_file(argument, path)
    problem = _archive_problem(path)
    if problem is None:
        try:
            model = keras.saving.load_model(path, compile=compile)
        except json.JSONDecodeError as error:
            problem = f"its config is not valid JSON ({error.msg})"
        except OSError as error:
            problem = (f"its weights are damaged ("
                       f"{_first_line(error)})")
        except ValueError as error:
            message = _first_line(error)
            if "could not be loaded" in message or "expected" in message:
                problem = ("its weights do not fit the model its config "
                           "describes (weights of another architecture?): "
                           f"{message}")
            else:
                problem = f"its config does not describe a keras_ae model: {message}"
        except (TypeError, KeyError, AttributeError) as error:
            problem = (f"its config cannot be rebuilt ("
                       f"{type(error).__name__}: {_first_line(error)})")
    if problem is not None:
        raise ValueError(
            f"`{argument}` is a damaged .keras model: {problem}; {fix}. "
            f"Received: {argument}={path!r}")
    try:
        return check_model(model)
    except ValueError as error:
        raise ValueError(f"{_first_line(error)} ({fix}); in {path!r}") from None


def _archive_problem(path):
    """What is wrong with a `.keras` zip's members, or `None`."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if not names & {"model.weights.h5", "model.weights.npz"}:
            return "it holds no weights (no model.weights.h5)"
        try:
            config = json.loads(archive.read("config.json"))
        except (ValueError, UnicodeDecodeError) as error:
            return f"its config.json is not valid JSON ({_first_line(error)})"
        if "model.weights.h5" in names:
            with archive.open("model.weights.h5") as f:
                if f.read(8) != b"\x89HDF\r\n\x1a\n":
                    return "its weights (model.weights.h5) are not an HDF5 file"
    if not isinstance(config, dict) or "class_name" not in config:
        return "its config.json is not a Keras model config"
    return None


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
