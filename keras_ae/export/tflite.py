"""TensorFlow Lite conversion, quantization and op listing.

The conversion goes through a SavedModel (`TFLiteConverter.from_keras_model`
does not work with Keras 3) and allows builtin ops only; the result is run
once in the LiteRT interpreter before it is returned or written.
"""

import os
import tempfile
import warnings

import numpy as np
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema

from keras_ae.checks import check_choice
from keras_ae.checks import check_finite
from keras_ae.checks import check_new_file
from keras_ae.export import export_utils
from keras_ae.export.litert import TFLiteRunner
from keras_ae.export.litert import read_flatbuffer
from keras_ae.export.saved_model import saved_model_signature_specs
from keras_ae.export.saved_model import write_saved_model

__all__ = ["CALIBRATION_EXAMPLES", "QUANTIZATIONS", "UnsupportedOpsError",
           "convert_to_tflite", "tflite_ops"]

QUANTIZATIONS = (None, "dynamic", "float16", "int8")
# Number of examples the int8 converter calibrates its ranges on.
CALIBRATION_EXAMPLES = 200

_BUILTIN_NAMES = {code: name
                  for name, code in vars(schema.BuiltinOperator).items()
                  if not name.startswith("_") and isinstance(code, int)}


class UnsupportedOpsError(ValueError):
    """Raised when a TensorFlow Lite model would need ops that are not builtin.

    Flex (Select TF) ops and custom ops need an interpreter built with extra
    kernels; the stock LiteRT interpreter cannot run them.

    Args:
        message: str, the error message.
        ops: iterable of str, the offending op names, kept in `ops`.
    """

    def __init__(self, message, ops):
        super().__init__(message)
        self.ops = tuple(ops)


def convert_to_tflite(model, signature="serving_default", quantization=None,
                      representative_data=None, output_path=None):
    """Converts an autoencoder's signature to a TensorFlow Lite model.

    The conversion goes through a SavedModel (a keras_ae model is exported to
    a temporary directory first) and allows builtin ops only: a model that
    would need Flex (Select TF) or custom ops is refused with an
    `UnsupportedOpsError` naming them, since the stock LiteRT interpreter
    cannot run them. The converted model is then loaded and run once in the
    LiteRT interpreter before it is returned or written. Bad arguments, and
    an `output_path` that exists or cannot be written, are refused before
    anything is converted.

    Quantization:
        - `None`: float32 weights and compute.
        - `"dynamic"`: int8 weights, float compute with activations
          quantized on the fly (dynamic range quantization).
        - `"float16"`: float16 weights, dequantized to float32 at load.
        - `"int8"`: full-integer weights and activations, with ranges
          calibrated on `representative_data` (up to
          `CALIBRATION_EXAMPLES` = 200 examples, taken in a seeded random
          order). The model keeps float32 inputs and outputs: it quantizes
          its input and dequantizes its outputs itself, so it is a drop-in
          replacement of the float model. `TFLiteRunner` also runs models
          whose inputs or outputs are int8.

    Args:
        model: `AutoEncoder` or `VariationalAutoEncoder`, a SavedModel
            directory (such as `export_saved_model`'s), or a `.keras` file.
        signature: str, the signature to convert: `"serving_default"`,
            `"encode"` or `"decode"` (or any signature of a SavedModel
            directory).
        quantization: `None`, `"dynamic"`, `"float16"` or `"int8"`.
        representative_data: array of example inputs of the signature,
            shape `(num_examples, *input_shape)` (for `"decode"`,
            `(num_examples, *code_shape)`); for a signature with several
            inputs (a conditional model's `labels`), a dict of arrays, one
            per input. Required for `"int8"`, refused otherwise.
        output_path: str or path of the `.tflite` file to write, or `None`.
            An existing file is never overwritten.

    Returns:
        The flatbuffer as bytes, or `output_path` when it is given.

    Example:

    >>> flatbuffer = convert_to_tflite(model)
    >>> TFLiteRunner(flatbuffer)(x_val[:4])["reconstruction"].shape
    (4, 28, 28, 1)
    >>> convert_to_tflite(model, quantization="int8",
    ...                   representative_data=x_train,
    ...                   output_path="model_int8.tflite")
    'model_int8.tflite'
    """
    check_choice("quantization", quantization, QUANTIZATIONS)
    if output_path is not None:
        output_path = check_new_file("output_path", output_path)
    source = _check_source(model)
    if representative_data is not None and quantization != "int8":
        raise ValueError(
            "`representative_data` calibrates full-integer quantization and "
            f"is used only with quantization='int8'. Received: "
            f"quantization={quantization!r}"
        )
    if isinstance(source, str):
        specs = saved_model_signature_specs(source, dtypes=True)
        check_choice("signature", signature, sorted(specs))
        inputs = specs[signature]
    else:
        served = source.serving_signatures()
        check_choice("signature", signature, sorted(served))
        inputs = {spec.name: (tuple(spec.shape.as_list()),
                              spec.dtype.as_numpy_dtype)
                  for spec in served[signature][1]}
    calibration = None
    if quantization == "int8":
        calibration = _calibration_data(representative_data, inputs)
    with tempfile.TemporaryDirectory(prefix="keras_ae-tflite-") as temp_dir:
        if isinstance(source, str):
            saved_model_dir = source
        else:
            saved_model_dir = os.path.join(temp_dir, "saved_model")
            os.mkdir(saved_model_dir)
            write_saved_model(source, saved_model_dir)
        flatbuffer = _convert(saved_model_dir, signature, quantization,
                              calibration)
    _check_runs(flatbuffer, inputs, calibration)
    if output_path is None:
        return flatbuffer
    directory = os.path.dirname(output_path) or "."
    created = export_utils.make_dirs(directory)
    try:
        with export_utils.writer_lock(directory, "The directory of "
                                      "`output_path`"):
            export_utils.write_atomically(output_path, flatbuffer)
    except BaseException:
        export_utils.remove_empty(created)
        raise
    return output_path


def tflite_ops(flatbuffer):
    """Returns the sorted names of the ops a TensorFlow Lite model uses.

    Builtin ops have their schema names (`"FULLY_CONNECTED"`, `"CONV_2D"`);
    Flex ops are custom ops named `"Flex<TF op>"`; other custom ops keep
    their custom code.

    Args:
        flatbuffer: bytes of the model, or the path of a `.tflite` file.

    Returns:
        A sorted list of op names.

    Example:

    >>> tflite_ops(convert_to_tflite(model))
    ['FULLY_CONNECTED', 'LOGISTIC', 'PACK', 'RESHAPE', 'SHAPE', 'STRIDED_SLICE']
    """
    flatbuffer = read_flatbuffer(flatbuffer)
    try:
        model = schema.Model.GetRootAsModel(flatbuffer, 0)
        ops = set()
        for i in range(model.OperatorCodesLength()):
            code = model.OperatorCodes(i)
            # Codes past 127 live in `builtin_code`; older ones in the
            # deprecated int8 field.
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == schema.BuiltinOperator.CUSTOM:
                custom = code.CustomCode()
                ops.add(custom.decode() if custom else "CUSTOM")
            else:
                ops.add(_BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}"))
    except Exception as error:  # noqa: BLE001  (a corrupt buffer)
        raise ValueError(
            "`flatbuffer` is not a TensorFlow Lite model. Received: "
            f"{len(flatbuffer)} bytes that do not parse ({error})"
        ) from None
    return sorted(ops)


def _check_source(model):
    """Returns a SavedModel directory path or a keras_ae model."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if os.path.isdir(path):
            if not os.path.isfile(os.path.join(path, "saved_model.pb")):
                raise ValueError(
                    "`model` must be a keras_ae model, a SavedModel directory "
                    f"or a .keras file. Received: model={path!r}, a directory "
                    "without saved_model.pb"
                )
            return path
        return export_utils.load_keras_model(path, argument="model")
    return export_utils.check_model(model)


def _calibration_data(representative_data, inputs):
    """`{input name: examples}` for int8 calibration, checked and shuffled.

    A signature with several inputs (e.g. a conditional model's images and
    labels) takes a dict of arrays, one per input, as many examples each.
    """
    if representative_data is None:
        raise ValueError(
            "quantization='int8' calibrates on example inputs: pass "
            "`representative_data`, an array of training inputs of shape "
            "(num_examples, ...). Received: representative_data=None"
        )
    if not isinstance(representative_data, dict):
        if len(inputs) != 1:
            raise ValueError(
                "int8 calibration of a signature with several inputs takes "
                "`representative_data` as a dict of arrays, one per input: "
                f"{sorted(inputs)}. Received: representative_data of type "
                f"{type(representative_data).__name__}")
        representative_data = {next(iter(inputs)): representative_data}
    if sorted(representative_data) != sorted(inputs):
        raise ValueError(
            "`representative_data` must name the signature's inputs exactly: "
            f"{sorted(inputs)}. Received: {sorted(representative_data)}")
    calibration = {}
    for name, (shape, dtype) in inputs.items():
        argument = ("representative_data" if len(inputs) == 1
                    else f"representative_data[{name!r}]")
        # Integer inputs (labels, codebook indices) are fed as integers.
        kind = dtype if np.issubdtype(dtype, np.integer) else "float32"
        try:
            data = np.asarray(representative_data[name], dtype=kind)
        except (TypeError, ValueError):
            raise ValueError(
                f"`{argument}` must be an array of numbers. Received: "
                f"{argument} of type "
                f"{type(representative_data[name]).__name__}"
            ) from None
        if data.ndim != len(shape) or any(
            e is not None and d != e for d, e in zip(data.shape[1:], shape[1:])
        ) or len(data) == 0:
            expected = ", ".join("num_examples" if d is None else str(d)
                                 for d in shape)
            raise ValueError(
                f"`{argument}` must have shape ({expected}), the "
                f"signature's input {name!r}. Received: {argument} with "
                f"shape {data.shape}"
            )
        check_finite(argument, data)
        calibration[name] = data
    sizes = {len(data) for data in calibration.values()}
    if len(sizes) != 1:
        raise ValueError(
            "`representative_data` must hold as many examples for every "
            "input. Received: " + ", ".join(
                f"{len(d)} for {n!r}" for n, d in calibration.items()))
    order = np.random.default_rng(0).permutation(sizes.pop())
    return {name: data[order[:CALIBRATION_EXAMPLES]]
            for name, data in calibration.items()}


def _converter(saved_model_dir, signature, quantization, calibration,
               select_ops=False):
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[signature])
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        count = len(next(iter(calibration.values())))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            {name: data[i:i + 1] for name, data in calibration.items()}
            for i in range(count))
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if select_ops:
        ops = ops + [tf.lite.OpsSet.SELECT_TF_OPS]
    converter.target_spec.supported_ops = ops
    return converter


def _convert(saved_model_dir, signature, quantization, calibration):
    try:
        with warnings.catch_warnings():
            # int8 calibration runs the deprecated tf.lite.Interpreter inside
            # the converter; that is not ours to change.
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter")
            flatbuffer = _converter(saved_model_dir, signature, quantization,
                                    calibration).convert()
    except Exception as error:  # noqa: BLE001
        # TensorFlow exports no class for a failed conversion (its
        # `ConverterError` lives in the private `tensorflow.lite.python`):
        # whatever `convert()` raises is one.
        raise _diagnose(error, saved_model_dir, signature,
                        quantization) from error
    unsupported = _unsupported_ops(tflite_ops(flatbuffer))
    if unsupported:
        raise _unsupported_ops_error(unsupported, signature)
    return flatbuffer


def _diagnose(error, saved_model_dir, signature, quantization):
    """Returns the error to raise for a failed conversion."""
    # Find out which ops are missing: allowing Select TF ops lets the
    # conversion finish, and its op list names them.
    try:
        diagnosis = _converter(saved_model_dir, signature, None, None,
                               select_ops=True).convert()
        unsupported = _unsupported_ops(tflite_ops(diagnosis))
    except Exception:  # noqa: BLE001  (diagnosis only)
        unsupported = []
    if unsupported:
        return _unsupported_ops_error(unsupported, signature)
    lines = [line.strip() for line in str(error).splitlines()
             if "error:" in line]
    message = " | ".join(lines[:3]) or (
        str(error).strip().splitlines() or [type(error).__name__])[-1]
    return ValueError(
        f"TensorFlow Lite conversion of signature {signature!r} failed "
        f"(quantization={quantization!r}): {message}"
    )


def _unsupported_ops(ops):
    return sorted(op for op in ops if not _is_builtin_name(op))


def _is_builtin_name(op):
    return (op != "CUSTOM" and not op.startswith("Flex")
            and isinstance(getattr(schema.BuiltinOperator, op, None), int))


def _unsupported_ops_error(ops, signature):
    return UnsupportedOpsError(
        f"Signature {signature!r} needs ops that are not TensorFlow Lite "
        f"builtins: {', '.join(ops)}. Flex (Select TF) and custom ops need an "
        "interpreter built with extra kernels, which the stock LiteRT "
        "interpreter is not; nothing was written. Random sampling (the VAE's "
        "Sampling layer at training=True, keras.random.*) and non-unrolled "
        "LSTMs with a dynamic batch are the usual causes: export a "
        "deterministic inference path (z_mean) or unroll the LSTM.",
        ops,
    )


def _check_runs(flatbuffer, inputs, calibration):
    """Runs the flatbuffer once in LiteRT; raises if it cannot run."""
    if calibration is not None:
        sample = {name: data[:2] for name, data in calibration.items()}
    else:
        sample = {name: np.zeros((2, *shape[1:]), dtype)
                  for name, (shape, dtype) in inputs.items()}
    try:
        runner = TFLiteRunner(flatbuffer)
        runner(sample)
    except Exception as error:
        raise ValueError(
            "The converted TensorFlow Lite model does not run in the LiteRT "
            f"interpreter; nothing was written: {error}"
        ) from error
    if runner.delegate != "xnnpack":
        warnings.warn(
            "The converted TensorFlow Lite model runs with LiteRT's builtin "
            "kernels but not with its default XNNPACK delegate (the delegate "
            "refuses some int8 tensors with near-constant calibrated ranges, "
            "e.g. an LSTM's first steps over blank image rows). Disable the "
            "default delegates where it is deployed, or use another "
            "quantization.",
            stacklevel=3,
        )
