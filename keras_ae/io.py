"""Reading and writing the package's small files: JSON and training histories.

`write_json` is the one JSON writer: strict JSON (NumPy numbers become
Python numbers, NaN and infinities `null`), never overwriting a file unless
asked. `read_json_file` names the file and what is wrong with it.
"""

import csv
import json
import math
import os

import numpy as np

__all__ = ["jsonable", "read_history", "read_json_file", "write_json"]


def jsonable(value):
    """`value` with NumPy numbers, tuples and non-finite floats made JSON-ready."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    return value


def write_json(path, data, overwrite=False):
    """Writes `data` as indented strict JSON to `path`.

    Args:
        path: str, the file to write.
        data: a JSON-ready value (see `jsonable`).
        overwrite: bool. `False` refuses an existing file
            (`FileExistsError`); `True` replaces it atomically (the file is
            written beside it and renamed over it).
    """
    text = json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n"
    if not overwrite:
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
        return path
    partial = f"{path}.partial-{os.getpid()}"
    with open(partial, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
    return path


def read_json_file(name, path):
    """Reads a JSON object from `path`, naming the file and what is wrong.

    Args:
        name: str, what the file is (e.g. `"run_config.json"`), named in
            errors.
        path: str or path-like.

    Returns:
        The decoded dict.

    Raises:
        FileNotFoundError: nothing is at `path`.
        ValueError: the file is not valid UTF-8 JSON or not a JSON object.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"`{name}` is missing: nothing is at {path!r}.") from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"`{name}` is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}. Received: file {path!r}") from None
    except UnicodeDecodeError:
        raise ValueError(
            f"`{name}` is not a text file (not UTF-8). Received: file "
            f"{path!r}") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"`{name}` must hold a JSON object. Received: file {path!r} "
            f"holding a {type(data).__name__}")
    return data


def read_history(csv_path):
    """Reads a `CSVLogger` file into `{metric: [value per epoch]}`.

    When an epoch appears twice (a resumed run redid it), the last row wins.
    """
    rows = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            rows[int(row["epoch"])] = row
    history = {}
    for epoch in sorted(rows):
        for name, value in rows[epoch].items():
            history.setdefault(name, []).append(
                int(value) if name == "epoch" else float(value))
    return history
