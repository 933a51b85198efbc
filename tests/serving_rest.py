"""TF Serving's REST `predict` API, emulated for tests and the deployment notebook.

TF Serving's binary is not on PyPI, so the REST path is checked without the
server: `rest_request_to_tensors` parses a `predict` body as the server does
(row or columnar format, dtypes, shapes) into a signature's input tensors,
and `tensors_to_rest_response` formats the outputs as the server answers.
Feed the tensors to a loaded SavedModel's signature in between:

    loaded = tf.saved_model.load("saved_models/dense_ae/1")
    tensors = rest_request_to_tensors(body, loaded.signatures)
    response = tensors_to_rest_response(loaded.signatures["encode"](**tensors))

This is a test helper beside the tests, not part of the package.
"""

import json

import numpy as np
import tensorflow as tf


def rest_request_to_tensors(body, signature):
    """Parses a TF Serving REST `predict` body into a signature's input tensors.

    Follows TF Serving's REST API: the row format `{"instances": [...]}`
    lists one entry per example, either the value itself (a signature with one
    input) or a dict of named inputs; the columnar format `{"inputs": ...}`
    gives whole tensors, batch included, as a value (one input) or a dict.
    Values are cast to the inputs' dtypes and checked against their shapes.

    Args:
        body: dict, or its JSON text (str or bytes).
        signature: a concrete function such as `loaded.signatures["encode"]`;
            or the signature map `loaded.signatures` itself, from which the
            body's `signature_name` (default `"serving_default"`) is taken; or
            a dict `{input_name: tf.TensorSpec}`.

    Returns:
        A dict `{input_name: tf.Tensor}`, to call the signature with
        `signature(**tensors)`.

    Example:

    >>> loaded = tf.saved_model.load("saved_models/dense_ae/1")
    >>> body = {"signature_name": "decode", "instances": [[0.1] * 8]}
    >>> tensors = rest_request_to_tensors(body, loaded.signatures)
    >>> loaded.signatures["decode"](**tensors)["reconstruction"].shape
    TensorShape([1, 28, 28, 1])
    """
    if isinstance(body, (str, bytes, bytearray)):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"`body` must be JSON. Received: body that does not parse "
                f"({error})"
            ) from None
    if not isinstance(body, dict):
        raise ValueError(
            "`body` must be a JSON object with 'instances' or 'inputs'. "
            f"Received: body={_short(body)}"
        )
    unknown = sorted(set(body) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise ValueError(
            f"Unknown key(s) in `body`: {', '.join(unknown)}; allowed: "
            "'signature_name', 'instances', 'inputs'."
        )
    if ("instances" in body) == ("inputs" in body):
        raise ValueError(
            "`body` must have exactly one of 'instances' (row format) and "
            f"'inputs' (columnar format). Received: keys {sorted(body)}"
        )
    specs = _signature_input_specs(signature, body.get("signature_name"))
    names = sorted(specs)
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise ValueError(
                "'instances' must be a non-empty list, one entry per example. "
                f"Received: instances={_short(instances)}"
            )
        columns = {name: [] for name in names}
        for i, instance in enumerate(instances):
            if isinstance(instance, dict):
                _check_keys(f"instances[{i}]", instance, names)
                for name in names:
                    columns[name].append(instance[name])
            elif len(names) == 1:
                columns[names[0]].append(instance)
            else:
                raise ValueError(
                    f"The signature has several inputs ({', '.join(names)}): "
                    f"each instance must be a dict of them. Received: "
                    f"instances[{i}]={_short(instance)}"
                )
        values = columns
    else:
        inputs = body["inputs"]
        if isinstance(inputs, dict):
            _check_keys("inputs", inputs, names)
            values = inputs
        elif len(names) == 1:
            values = {names[0]: inputs}
        else:
            raise ValueError(
                f"The signature has several inputs ({', '.join(names)}): "
                f"'inputs' must be a dict of them. Received: "
                f"inputs={_short(inputs)}"
            )
    tensors = {}
    for name in names:
        spec = specs[name]
        try:
            array = np.asarray(values[name], dtype=spec.dtype.as_numpy_dtype)
        except (ValueError, TypeError):
            raise ValueError(
                f"Input {name!r} must be a (nested) list of numbers of one "
                f"rectangular shape. Received: {_short(values[name])}"
            ) from None
        if not spec.shape.is_compatible_with(array.shape):
            expected = ", ".join("batch_size" if d is None else str(d)
                                 for d in spec.shape.as_list())
            raise ValueError(
                f"Input {name!r} must have shape ({expected}). Received: "
                f"{name} with shape {array.shape}"
            )
        tensors[name] = tf.constant(array)
    batch_sizes = {int(t.shape[0]) for t in tensors.values()}
    if len(batch_sizes) > 1:
        raise ValueError(
            "Every input must hold as many examples. Received batch sizes "
            f"{ {n: int(t.shape[0]) for n, t in tensors.items()} }"
        )
    return tensors


def tensors_to_rest_response(outputs, columnar=False):
    """Formats a signature's outputs as TF Serving's REST `predict` response.

    Row format (the answer to `"instances"`): `{"predictions": [...]}` with
    one entry per example, the value itself for a single output or a dict of
    named outputs. Columnar format (the answer to `"inputs"`):
    `{"outputs": value}` or `{"outputs": {name: value}}`.

    Args:
        outputs: dict `{output_name: tensor or array}`.
        columnar: bool, answer in the columnar format.

    Returns:
        A JSON-serializable dict.
    """
    arrays = {name: np.asarray(value) for name, value in outputs.items()}
    if columnar:
        if len(arrays) == 1:
            return {"outputs": next(iter(arrays.values())).tolist()}
        return {"outputs": {n: a.tolist() for n, a in sorted(arrays.items())}}
    if len(arrays) == 1:
        return {"predictions": next(iter(arrays.values())).tolist()}
    batch = len(next(iter(arrays.values())))
    return {"predictions": [
        {n: a[i].tolist() for n, a in sorted(arrays.items())}
        for i in range(batch)
    ]}


def _signature_input_specs(signature, signature_name):
    if isinstance(signature, dict) and all(
        isinstance(s, tf.TensorSpec) for s in signature.values()
    ):
        return dict(signature)
    if not hasattr(signature, "structured_input_signature") and hasattr(
        signature, "keys"
    ):
        key = signature_name or "serving_default"
        if key not in signature:
            raise ValueError(
                f"Unknown signature_name. Received: signature_name={key!r}; "
                f"allowed: {', '.join(repr(k) for k in sorted(signature))}."
            )
        signature = signature[key]
    if not hasattr(signature, "structured_input_signature"):
        raise ValueError(
            "`signature` must be a concrete function (such as "
            "`loaded.signatures['serving_default']`), the map "
            "`loaded.signatures`, or a dict of `tf.TensorSpec`. Received: "
            f"signature={_short(signature)}"
        )
    args, kwargs = signature.structured_input_signature
    if args:
        raise ValueError(
            "`signature` must take keyword inputs, as SavedModel signatures "
            f"do. Received: a function with positional inputs {args}"
        )
    return dict(kwargs)


def _check_keys(argument, values, names):
    if sorted(values) != names:
        raise ValueError(
            f"`{argument}` must name the signature's inputs exactly: "
            f"{', '.join(names)}. Received: {', '.join(sorted(values)) or 'none'}"
        )


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
