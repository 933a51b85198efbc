"""Running TensorFlow Lite models with the LiteRT interpreter."""

import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.interpreter import OpResolverType

from keras_ae.checks import check_choice
from keras_ae.checks import check_examples
from keras_ae.checks import check_positive_int

__all__ = ["TFLiteRunner", "read_flatbuffer", "run_tflite"]


class TFLiteRunner:
    """Runs a TensorFlow Lite model with the LiteRT interpreter.

    Inputs of any batch size are accepted (the input tensors are resized);
    int8 inputs and outputs are quantized and dequantized with the tensors'
    own scale and zero point, so callers always pass and get float32 arrays.
    The interpreter first uses LiteRT's default XNNPACK delegate; if the
    delegate cannot prepare the model, the runner falls back to the builtin
    kernels (`delegate` tells which one runs).

    Args:
        flatbuffer: bytes of the model, or the path of a `.tflite` file.
        signature: str or `None`, the signature to run; `None` takes the
            model's only signature.
        num_threads: int or `None`, threads of the interpreter.
        use_xnnpack: bool or `None`. `None` tries XNNPACK and falls back;
            `False` uses the builtin kernels only; `True` never falls back.

    Call arguments:
        inputs: array (a signature with one input) or dict of named arrays,
            batch first.

    Returns:
        A dict `{output_name: float32 array}`.

    Example:

    >>> runner = TFLiteRunner(convert_to_tflite(vae, signature="encode"))
    >>> outputs = runner(x_val[:8])
    >>> outputs["z_mean"].shape
    (8, 2)
    """

    def __init__(self, flatbuffer, signature=None, num_threads=None,
                 use_xnnpack=None):
        self._flatbuffer = read_flatbuffer(flatbuffer)
        if num_threads is not None:
            num_threads = check_positive_int("num_threads", num_threads)
        if use_xnnpack is not None and not isinstance(use_xnnpack, bool):
            raise ValueError(
                "`use_xnnpack` must be None, True or False. Received: "
                f"use_xnnpack={use_xnnpack!r}"
            )
        self._num_threads = num_threads
        self._use_xnnpack = use_xnnpack
        try:
            self._load(use_delegate=use_xnnpack is not False)
        except ValueError as error:
            lines = str(error).strip().splitlines() or [type(error).__name__]
            shown = (repr(os.fspath(flatbuffer))
                     if isinstance(flatbuffer, (str, os.PathLike))
                     else f"{len(self._flatbuffer)} bytes")
            raise ValueError(
                f"`flatbuffer` is not a TensorFlow Lite model ({lines[0]}); "
                f"convert the model again. Received: flatbuffer={shown}"
            ) from None
        signatures = sorted(self._interpreter.get_signature_list())
        if signature is None:
            if len(signatures) != 1:
                raise ValueError(
                    "The model has several signatures; pass `signature`. "
                    f"Allowed: {', '.join(repr(s) for s in signatures)}."
                )
            signature = signatures[0]
        self.signature = check_choice("signature", signature, signatures)
        runner = self._interpreter.get_signature_runner(signature)
        self.input_details = runner.get_input_details()
        self.output_details = runner.get_output_details()

    def _load(self, use_delegate):
        resolver = (OpResolverType.AUTO if use_delegate
                    else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self._interpreter = Interpreter(
            model_content=self._flatbuffer, num_threads=self._num_threads,
            experimental_op_resolver_type=resolver)
        self.delegate = "xnnpack" if use_delegate else "none"
        self._signature_runner = None

    @property
    def input_names(self):
        return sorted(self.input_details)

    @property
    def output_names(self):
        return sorted(self.output_details)

    def __call__(self, inputs):
        feeds = self._prepare(inputs)
        try:
            outputs = self._invoke(feeds)
        except RuntimeError as error:
            if self.delegate != "xnnpack" or self._use_xnnpack or (
                "xnnpack" not in str(error).lower()
            ):
                raise
            self._load(use_delegate=False)
            outputs = self._invoke(feeds)
        return {name: self._dequantize(value, self.output_details[name])
                for name, value in outputs.items()}

    def _invoke(self, feeds):
        if self._signature_runner is None:
            self._signature_runner = self._interpreter.get_signature_runner(
                self.signature)
        return self._signature_runner(**feeds)

    def _prepare(self, inputs):
        names = self.input_names
        if not isinstance(inputs, dict):
            if len(names) != 1:
                raise ValueError(
                    f"The model has several inputs ({', '.join(names)}): pass "
                    "a dict of them."
                )
            inputs = {names[0]: inputs}
        if sorted(inputs) != names:
            raise ValueError(
                f"`inputs` must name the model's inputs exactly: "
                f"{', '.join(names)}. Received: {', '.join(sorted(inputs))}"
            )
        feeds = {}
        for name in names:
            details = self.input_details[name]
            expected = tuple(int(d) for d in details["shape_signature"])
            if _is_index_input(details):
                array = np.asarray(inputs[name])
            else:
                # What `fit` and `predict` refuse is refused here too: raw
                # uint8 bytes, values that are not numbers, NaN, infinity.
                array = check_examples(
                    name, inputs[name],
                    tuple(None if e < 0 else e for e in expected[1:]))
            if array.ndim != len(expected) or any(
                e >= 0 and d != e for d, e in zip(array.shape, expected)
            ) or array.shape[0] == 0:
                shown = ", ".join("batch_size" if e < 0 else str(e)
                                  for e in expected)
                raise ValueError(
                    f"Input {name!r} must have shape ({shown}) with at least "
                    f"one example. Received: {name} with shape {array.shape}"
                )
            feeds[name] = self._quantize(array, details)
        return feeds

    @staticmethod
    def _quantize(array, details):
        dtype = details["dtype"]
        if dtype == np.float32:
            return array
        if _is_index_input(details):
            # Labels and codebook indices: integers, fed as they are.
            if not np.issubdtype(array.dtype, np.integer):
                raise ValueError(
                    f"Input {details['name']!r} takes integers. Received: "
                    f"values of dtype {array.dtype}")
            return array.astype(dtype)
        scale, zero_point = details["quantization"]
        if not scale:
            raise ValueError(
                f"Input {details['name']!r} has dtype {np.dtype(dtype).name} "
                "without quantization parameters; it cannot be fed floats."
            )
        info = np.iinfo(dtype)
        quantized = np.round(array / scale + zero_point)
        return np.clip(quantized, info.min, info.max).astype(dtype)

    @staticmethod
    def _dequantize(value, details):
        if value.dtype == np.float32:
            return value
        scale, zero_point = details["quantization"]
        if not scale:
            return value.astype("float32")
        return ((value.astype("float32") - zero_point) * scale).astype(
            "float32")


def _is_index_input(details):
    """Whether an input holds integers that are not quantized floats."""
    return np.issubdtype(details["dtype"], np.integer) and not (
        details["quantization"][0])


def run_tflite(flatbuffer, inputs, signature=None):
    """Runs a TensorFlow Lite model once; see `TFLiteRunner`.

    Args:
        flatbuffer: bytes of the model, or the path of a `.tflite` file.
        inputs: array (one input) or dict of named arrays, batch first.
        signature: str or `None` (the model's only signature).

    Returns:
        A dict `{output_name: float32 array}`.

    Example:

    >>> run_tflite("model.tflite", x_val[:4])["reconstruction"].shape
    (4, 28, 28, 1)
    """
    return TFLiteRunner(flatbuffer, signature=signature)(inputs)


def read_flatbuffer(flatbuffer):
    """Returns the bytes of a model given as bytes or as a `.tflite` path."""
    if isinstance(flatbuffer, (bytes, bytearray)):
        return bytes(flatbuffer)
    if isinstance(flatbuffer, (str, os.PathLike)):
        path = os.fspath(flatbuffer)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"No TensorFlow Lite model at {path!r}. Received: "
                f"flatbuffer={path!r}"
            )
        with open(path, "rb") as f:
            return f.read()
    raise ValueError(
        "`flatbuffer` must be bytes or the path of a .tflite file. Received: "
        f"flatbuffer of type {type(flatbuffer).__name__}"
    )
