"""File helpers shared by the export formats: temporaries and atomic writes.

Every export refuses a bad target before anything is traced, converted or
written, and writes atomically: into a hidden temporary sibling, renamed into
place once complete. A temporary left by a killed export carries the host
and process id of its writer, so that a later export can tell it is stale.
"""

import os
import re
import shutil
import socket
import tempfile

import keras

from keras_ae.checks import check_autoencoder
from keras_ae.checks import check_keras_file

# Hidden temporaries: `<prefix><host>-<pid>-<random>`.
TEMP_PREFIX = ".tmp-export-"
_TEMP_NAME = re.compile(
    rf"^{re.escape(TEMP_PREFIX)}(?P<host>.+)-(?P<pid>\d+)-[A-Za-z0-9_]+$")


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


def temp_prefix():
    """The name prefix of this process's temporaries."""
    return f"{TEMP_PREFIX}{socket.gethostname()}-{os.getpid()}-"


def temporary_directory(directory):
    """Creates a hidden temporary directory of this process in `directory`."""
    return tempfile.mkdtemp(prefix=temp_prefix(), dir=directory)


def remove_stale_temporaries(directory):
    """Removes the temporaries of exports killed on this host; returns them.

    A temporary is stale when its name says it was written on this host by
    a process that no longer runs. Any other entry, a version directory
    included, is never touched; so are the temporaries of running exports
    and of other hosts.
    """
    if os.name != "posix" or not os.path.isdir(directory):
        return []
    host = socket.gethostname()
    removed = []
    for entry in sorted(os.listdir(directory)):
        match = _TEMP_NAME.match(entry)
        path = os.path.join(directory, entry)
        if not match or match["host"] != host or _is_running(int(match["pid"])):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                continue
        removed.append(path)
    return removed


def _is_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


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
    """Writes `data` to a temporary sibling file, then renames it to `path`."""
    directory = os.path.dirname(path) or "."
    created = make_dirs(directory)
    remove_stale_temporaries(directory)
    descriptor, temp_path = tempfile.mkstemp(prefix=temp_prefix(),
                                             dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(data)
        if not overwrite and os.path.lexists(path):
            raise FileExistsError(
                f"{path!r} already exists; it is never overwritten.")
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        remove_empty(created)
        raise


def load_keras_model(path, argument="model"):
    """Loads a keras_ae model from a `.keras` file, with clear errors.

    Args:
        path: str or path of the `.keras` file.
        argument: str, the argument named in errors.

    Returns:
        The built `AutoEncoder` or `VariationalAutoEncoder`.
    """
    path = check_keras_file(argument, path)
    return check_model(keras.saving.load_model(path, compile=False))
