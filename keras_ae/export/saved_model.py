"""SavedModels with named signatures, in TF Serving's versioned layout."""

import os
import shutil

import keras
import tensorflow as tf

from keras_ae.checks import check_name
from keras_ae.checks import check_output_dir
from keras_ae.checks import check_version
from keras_ae.export import export_utils

__all__ = ["SIGNATURES", "export_saved_model", "load_saved_model",
           "saved_model_signature_specs", "saved_model_signatures",
           "versions", "write_saved_model"]

# The signatures of an AE or a VAE; other objectives may add their own.
SIGNATURES = ("serving_default", "encode", "decode")


def export_saved_model(model, base_dir, name, version=None):
    """Exports an autoencoder as a versioned SavedModel for TF Serving.

    The SavedModel goes to `<base_dir>/<name>/<version>/`, the layout TF
    Serving polls: it serves the highest integer version of each model. It
    holds three signatures with named float32 tensors and a dynamic batch
    dimension: `serving_default` (`inputs` -> `reconstruction`), `encode`
    (`inputs` -> `z`, or `z_mean` and `z_log_var` for a VAE, each of shape
    `(batch, *code_shape)`) and `decode` (`z` -> `reconstruction`). All of
    them run the model at inference (`training=False`), so they are
    deterministic.

    The write is atomic: the SavedModel is written into a marked temporary
    directory inside `<base_dir>/<name>/` and renamed to its version
    directory once complete, so TF Serving never sees half a model. An
    existing version is never touched, and a failed export leaves nothing
    behind; what an export killed half-way left is removed by the next
    export of the same name. One export of a name at a time: another
    process writing the same model directory is refused at once
    (`keras_ae.io.LockedError`, naming it). Bad arguments and an unwritable
    `base_dir` are refused before anything is written. The version
    directory and its files get the user's umask (0755 and 0644 under
    umask 022), so a server running as another user can read them.

    Args:
        model: `AutoEncoder` or `VariationalAutoEncoder`. An unbuilt model is
            built from its `input_shape_`.
        base_dir: str or path, directory of the served models (created if
            missing).
        name: str, the model's name in TF Serving (and its URL): letters,
            digits, `_`, `-` and `.`, not starting with `.` or `-`.
        version: int > 0, or `None` for the next free version (1 for a new
            name, else the highest existing version + 1).

    Returns:
        The path of the version directory, `<base_dir>/<name>/<version>`.

    Example:

    >>> model = keras_ae.build_autoencoder("dense", (28, 28, 1), latent_dim=8)
    >>> export_saved_model(model, "saved_models", "dense_ae")
    'saved_models/dense_ae/1'
    >>> export_saved_model(model, "saved_models", "dense_ae")
    'saved_models/dense_ae/2'
    """
    model = export_utils.check_model(model)
    base_dir = check_output_dir("base_dir", base_dir)
    name = check_name("name", name)
    version = check_version("version", version)
    model_dir = os.path.join(base_dir, name)
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ValueError(
            f"The model directory {model_dir!r} is a file. Received: "
            f"base_dir={base_dir!r} and name={name!r}"
        )
    if os.path.isdir(model_dir) and not os.access(model_dir,
                                                  os.W_OK | os.X_OK):
        raise PermissionError(
            f"The model directory {model_dir!r} is not writable. Received: "
            f"base_dir={base_dir!r} and name={name!r}"
        )
    if version is not None:
        _refuse_existing_version(os.path.join(model_dir, str(version)))
    # Tracing happens here: a model that cannot be exported fails before any
    # directory is created.
    archive = _make_archive(model)

    created = export_utils.make_dirs(model_dir)
    try:
        with export_utils.writer_lock(model_dir, f"The served model {name!r}"):
            export_utils.remove_stale_temporaries(model_dir)
            if version is None:
                version = max(versions(model_dir), default=0) + 1
            target = os.path.join(model_dir, str(version))
            _refuse_existing_version(target)
            # Written inside a marked temporary directory, so that the
            # version directory gets the user's umask (not mkdtemp's 0700)
            # and carries no marker once renamed into place.
            temp_dir = export_utils.temporary_directory(model_dir)
            try:
                staged = os.path.join(temp_dir, "saved_model")
                os.mkdir(staged)
                archive.write_out(staged, verbose=False)
                _refuse_existing_version(target)
                os.rename(staged, target)
            finally:
                shutil.rmtree(temp_dir, ignore_errors=True)
    except BaseException:
        export_utils.remove_empty(created)
        raise
    return target


def saved_model_signatures(model):
    """Returns `{signature: (function, [tf.TensorSpec, ...])}` of an export.

    The model says what it serves (`serving_signatures()`: for an AE
    `serving_default`, `encode` and `decode`); every signature here checks
    the shape of its inputs first. `export_saved_model` exports exactly these.

    Args:
        model: a built keras_ae model.
    """
    signatures = {}
    for key, (function, specs) in model.serving_signatures().items():
        signatures[key] = (_checking_shapes(function, specs), specs)
    return signatures


def _checking_shapes(function, specs):
    # Signatures do not check their inputs by themselves: a tensor of
    # another shape would fail deep in the graph, or pass silently, and NaN
    # or infinite values would come back as a plausible reconstruction.
    # EnsureShape names the expected shape and CheckNumerics refuses
    # non-finite values (an InvalidArgument error, as `fit` refuses them);
    # the TFLite converter drops both.
    def checked(*tensors):
        return function(*(_checked(t, spec) for t, spec in zip(tensors, specs)))

    return checked


def _checked(tensor, spec):
    tensor = tf.ensure_shape(tensor, spec.shape, name=f"check_{spec.name}")
    if spec.dtype.is_floating:
        tensor = tf.debugging.check_numerics(
            tensor, f"`{spec.name}` must hold only finite values (no NaN or "
            "infinity)", name=f"check_{spec.name}_finite")
    return tensor


def saved_model_signature_specs(saved_model_dir, dtypes=False):
    """Returns `{signature: {input_name: shape}}` of a SavedModel directory.

    Shapes are tuples with `None` for unknown dimensions; with
    `dtypes=True` each value is `(shape, numpy_dtype)`.
    """
    signatures = load_saved_model(saved_model_dir).signatures

    def described(spec):
        shape = tuple(spec.shape.as_list())
        return (shape, spec.dtype.as_numpy_dtype) if dtypes else shape

    return {
        key: {name: described(spec)
              for name, spec in function.structured_input_signature[1].items()}
        for key, function in signatures.items()
    }


def load_saved_model(saved_model_dir, argument="model"):
    """`tf.saved_model.load`, with one clear error for a damaged SavedModel.

    Args:
        saved_model_dir: str, a SavedModel directory.
        argument: str, the argument named in errors.

    Returns:
        The loaded SavedModel.
    """
    path = os.fspath(saved_model_dir)
    graph = os.path.join(path, "saved_model.pb")
    if not os.path.isfile(graph):
        raise ValueError(
            f"`{argument}` is not a SavedModel directory: it holds no "
            f"saved_model.pb. Received: {argument}={path!r}")
    try:
        return tf.saved_model.load(path)
    except Exception as error:  # noqa: BLE001  (TensorFlow's errors vary)
        lines = [line.strip() for line in str(error).splitlines()
                 if line.strip()]
        reason = lines[0] if lines else type(error).__name__
        raise ValueError(
            f"`{argument}` is a damaged SavedModel: {reason[:300]}; export "
            f"the model again. Received: {argument}={path!r}") from None


def write_saved_model(model, directory):
    """Writes the SavedModel of `model` into an existing empty `directory`."""
    _make_archive(model).write_out(directory, verbose=False)


def versions(model_dir):
    """Returns the integer versions present in `model_dir` (dirs or files)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(entry) for entry in os.listdir(model_dir)
                  if entry.isdigit())


def _make_archive(model):
    archive = keras.export.ExportArchive()
    archive.track(model)
    for signature, (function, specs) in saved_model_signatures(model).items():
        archive.add_endpoint(signature, function, input_signature=specs)
    return archive


def _refuse_existing_version(path):
    if os.path.lexists(path):
        raise FileExistsError(
            f"The version directory {path!r} already exists; an exported "
            "version is never overwritten. Pass another `version`, or "
            "version=None for the next free one."
        )
