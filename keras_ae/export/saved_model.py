"""SavedModels with named signatures, in TF Serving's versioned layout."""

import os
import shutil

import keras
import tensorflow as tf

from keras_ae.export import export_utils

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

    The write is atomic: the SavedModel is written into a hidden temporary
    directory inside `<base_dir>/<name>/` and renamed to its version
    directory once complete, so TF Serving never sees half a model. An
    existing version is never touched, and a failed export leaves nothing
    behind; what an export killed half-way left is removed by the next
    export of the same name. Bad arguments and an unwritable `base_dir` are
    refused before anything is written.

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
    base_dir = export_utils.check_path("base_dir", base_dir)
    name = export_utils.check_name(name)
    version = export_utils.check_version(version)
    model_dir = os.path.join(base_dir, name)
    export_utils.check_writable_directory("base_dir", base_dir)
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
    export_utils.remove_stale_temporaries(model_dir)
    temp_dir = None
    try:
        if version is None:
            version = max(versions(model_dir), default=0) + 1
        target = os.path.join(model_dir, str(version))
        temp_dir = export_utils.temporary_directory(model_dir)
        archive.write_out(temp_dir, verbose=False)
        _refuse_existing_version(target)
        os.rename(temp_dir, target)
        temp_dir = None
    except BaseException:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
        export_utils.remove_empty(created)
        raise
    return target


def saved_model_signatures(model):
    """Returns the export functions of `model` as `{signature: function}`.

    Each function takes and returns float32 tensors and returns a dict of
    named outputs; its input spec is in `saved_model_input_specs(model)`.
    `export_saved_model` exports exactly these.

    Args:
        model: a built `AutoEncoder` or `VariationalAutoEncoder`.

    Returns:
        A dict `{"serving_default": fn, "encode": fn, "decode": fn}`.
    """
    specs = saved_model_input_specs(model)
    variational = export_utils.is_variational(model)

    def checked(tensor, spec):
        # Signatures do not check shapes by themselves: a tensor of another
        # shape would fail deep in the graph, or pass silently. EnsureShape
        # names the expected shape; the TFLite converter drops it.
        return tf.ensure_shape(tensor, spec.shape, name=f"check_{spec.name}")

    def as_float32(tensor):
        return tf.cast(tensor, tf.float32)

    def serving_default(inputs):
        inputs = checked(inputs, specs["serving_default"])
        return {"reconstruction": as_float32(model(inputs, training=False))}

    def encode(inputs):
        outputs = model.encoder(checked(inputs, specs["encode"]),
                                training=False)
        if variational:
            z_mean, z_log_var = outputs
            return {"z_mean": as_float32(z_mean),
                    "z_log_var": as_float32(z_log_var)}
        return {"z": as_float32(outputs)}

    def decode(z):
        z = checked(z, specs["decode"])
        return {"reconstruction": as_float32(model.decoder(z, training=False))}

    return {"serving_default": serving_default, "encode": encode,
            "decode": decode}


def saved_model_input_specs(model):
    """Returns `{signature: tf.TensorSpec}` of the exported signatures' input.

    `inputs` is `(batch, *input_shape)`; the code `z` of `decode` is
    `(batch, *code_shape)`, a vector or a feature map.
    """
    inputs = tf.TensorSpec((None, *model.input_shape_), tf.float32,
                           name="inputs")
    z = tf.TensorSpec((None, *model.code_shape), tf.float32, name="z")
    return {"serving_default": inputs, "encode": inputs, "decode": z}


def saved_model_signature_specs(saved_model_dir):
    """Returns `{signature: {input_name: shape}}` of a SavedModel directory.

    Shapes are tuples with `None` for unknown dimensions.
    """
    signatures = tf.saved_model.load(saved_model_dir).signatures
    return {
        key: {name: tuple(spec.shape.as_list())
              for name, spec in function.structured_input_signature[1].items()}
        for key, function in signatures.items()
    }


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
    specs = saved_model_input_specs(model)
    for signature, fn in saved_model_signatures(model).items():
        archive.add_endpoint(signature, fn, input_signature=[specs[signature]])
    return archive


def _refuse_existing_version(path):
    if os.path.lexists(path):
        raise FileExistsError(
            f"The version directory {path!r} already exists; an exported "
            "version is never overwritten. Pass another `version`, or "
            "version=None for the next free one."
        )
