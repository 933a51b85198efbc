"""Your own data: a folder of images, a NumPy array file, a CSV of series.

`load_data_file(path, ...)` reads any of them into `(x, y)`: images as
float32 in [0, 1] with a channel axis and labels from sub-folders (or 0),
arrays as they are (float32), series as `(num_series, length, 1)`. The
main job reads them with `train --data PATH` and records where its data
came from (`data_source`: the path and a SHA-256 of the content).
"""

import csv
import hashlib
import os

import keras
import numpy as np

from keras_ae.checks import check_finite

__all__ = ["IMAGE_EXTENSIONS", "data_source", "load_array_file",
           "load_data_file", "load_image_folder", "load_series_csv"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load_data_file(path, image_size=None, color_mode="grayscale"):
    """Reads a folder of images, a `.npy`/`.npz` array or a `.csv` of series.

    Args:
        path: str, the folder or file.
        image_size: `(height, width)` the images of a folder are resized to,
            or `None` to keep their size (then it must be the same for all).
        color_mode: `"grayscale"` or `"rgb"`, for a folder of images.

    Returns:
        `(x, y)`: float32 examples and int64 labels (0 without labels).
    """
    if os.path.isdir(path):
        return load_image_folder(path, image_size, color_mode)
    if path.endswith((".npy", ".npz")):
        return load_array_file(path)
    return load_series_csv(path)


def load_image_folder(directory, image_size=None, color_mode="grayscale"):
    """Reads the images of a folder with `keras.utils.image_dataset_from_directory`.

    Images directly in `directory` are one unlabelled set; images in its
    sub-folders are labelled by sub-folder (sorted names: 0, 1, ...).
    Pixels are scaled to [0, 1].

    Returns:
        `(x, y)`: float32 images `(n, height, width, channels)` and labels.
    """
    entries = sorted(os.listdir(directory))
    subfolders = [e for e in entries if os.path.isdir(os.path.join(directory, e))]
    images = [e for e in entries if e.lower().endswith(IMAGE_EXTENSIONS)]
    found = images or [f for s in subfolders
                       for f in os.listdir(os.path.join(directory, s))
                       if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not found:
        raise ValueError(
            f"`data` names a folder with no images. Received: data="
            f"{directory!r}; allowed: a folder of {', '.join(IMAGE_EXTENSIONS)} "
            "files, or of sub-folders of them (one per class).")
    size = image_size
    if size is None:
        size = _common_size(directory, images, subfolders)
    dataset = keras.utils.image_dataset_from_directory(
        directory, labels=None if images else "inferred",
        label_mode=None if images else "int", color_mode=color_mode,
        image_size=tuple(size), shuffle=False, batch_size=256, verbose=False)
    x, y = [], []
    for batch in dataset:
        if images:
            x.append(batch.numpy())
        else:
            x.append(batch[0].numpy())
            y.append(batch[1].numpy())
    x = (np.concatenate(x) / 255.0).astype("float32")
    y = np.concatenate(y).astype("int64") if y else np.zeros(len(x), "int64")
    return x, y


def _common_size(directory, images, subfolders):
    """The size every image shares, or a `ValueError` asking for `image_size`."""
    paths = ([os.path.join(directory, f) for f in images] or [
        os.path.join(directory, s, f) for s in subfolders
        for f in sorted(os.listdir(os.path.join(directory, s)))
        if f.lower().endswith(IMAGE_EXTENSIONS)])
    sizes = {}
    for path in paths:
        image = keras.utils.load_img(path)
        sizes.setdefault((image.height, image.width), path)
    if len(sizes) > 1:
        shown = ", ".join(f"{h}x{w} ({os.path.basename(p)})"
                          for (h, w), p in list(sizes.items())[:3])
        raise ValueError(
            "`data` holds images of different sizes and no `image_size` was "
            f"given. Received: sizes {shown}; allowed: images of one size, or "
            "image_size=(height, width) (--image-size H,W) to resize them.")
    return next(iter(sizes))


def load_array_file(path):
    """Reads examples from a `.npy` file, or `x` (and `y`) of an `.npz` file.

    Integer arrays of pixels (uint8) are scaled to [0, 1]; every value must
    be finite.
    """
    loaded = np.load(path, allow_pickle=False)
    if isinstance(loaded, np.ndarray):
        x, y = loaded, None
    else:
        with loaded:
            if "x" not in loaded.files:
                raise ValueError(
                    f"`data` is an .npz file without an array named 'x'. "
                    f"Received: data={path!r} with arrays {loaded.files}; "
                    "allowed: np.savez(path, x=examples[, y=labels]).")
            x = loaded["x"]
            y = loaded["y"] if "y" in loaded.files else None
    if x.ndim < 2 or not len(x):
        raise ValueError(
            f"`data` must hold an array of examples (batch first). Received: "
            f"data={path!r} with an array of shape {x.shape}")
    if x.dtype == np.uint8:
        x = x / 255.0
    x = check_finite("data", x.astype("float32"))
    if y is None:
        y = np.zeros(len(x), "int64")
    elif len(y) != len(x):
        raise ValueError(
            f"`data` holds {len(x)} examples and {len(y)} labels. Received: "
            f"data={path!r}; allowed: one label per example.")
    return x, np.asarray(y).astype("int64")


def load_series_csv(path):
    """Reads a CSV of fixed-length series: one series a row, numbers only.

    A first row that is not numeric is a header and skipped.

    Returns:
        `(x, y)`: float32 `(num_series, length, 1)` and zero labels.
    """
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            try:
                rows.append([float(cell) for cell in row])
            except ValueError:
                if number == 1 and not rows:
                    continue  # a header
                raise ValueError(
                    f"`data` has a non-numeric cell in row {number}. Received: "
                    f"data={path!r}, row {row[:5]!r}; allowed: numbers only "
                    "(one series a row).") from None
    if not rows:
        raise ValueError(f"`data` holds no series. Received: data={path!r}")
    lengths = sorted({len(r) for r in rows})
    if len(lengths) > 1:
        raise ValueError(
            f"`data` has ragged rows: series of lengths {lengths[:5]}. "
            f"Received: data={path!r}; allowed: one length for every series.")
    x = check_finite("data", np.asarray(rows, "float32"))
    return x[..., None], np.zeros(len(x), "int64")


def data_source(path):
    """`{"path": path, "sha256": ...}` of a data file or folder's content."""
    digest = hashlib.sha256()
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(root, name) for root, _, names in os.walk(path)
        for name in names)
    for file_path in files:
        digest.update(os.path.relpath(file_path, path).encode())
        with open(file_path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return {"path": os.path.abspath(path), "sha256": digest.hexdigest()}
