"""Datasets by name through TensorFlow Datasets (TFDS), offline-aware."""

import logging
import socket
import urllib.parse

import numpy as np

from keras_ae.data.images import EMBEDDED_DATASETS
from keras_ae.data.images import load_digits
from keras_ae.data.images import scale_images
from keras_ae.data.images import split_train_validation

__all__ = ["STANDARD_DATASETS", "load_dataset"]

STANDARD_DATASETS = ("mnist", "fashion_mnist", "cifar10")


def load_dataset(name="digits", validation_fraction=0.2, seed=0, data_dir=None,
                 download=True, argument="dataset"):
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
        argument: str, the argument that named the dataset, in errors
            (`"data"` for the main job's setting).

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
            f"Unknown `{argument}`. Received: {argument}={name!r}; allowed: "
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
                f"`{argument}` {name!r} is not prepared in {builder.data_dir!r} "
                "and download=False. Received: "
                f"{argument}={name!r}, data_dir={data_dir!r}"
            )
        _check_download_hosts(name, builder, argument)

    def to_numpy(split):
        try:
            dataset = tfds.load(name, split=split, data_dir=data_dir,
                                download=download)
        except OSError as error:  # requests' errors are OSErrors too
            raise ConnectionError(
                f"`{argument}` {name!r} could not be downloaded: "
                f"{str(error).splitlines()[0] if str(error) else error!r}"
            ) from error
        if "image" not in dataset.element_spec:
            raise ValueError(
                f"`{argument}` must be an image dataset with an 'image' feature. "
                f"Received: {argument}={name!r} with features "
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


def _check_download_hosts(name, builder, argument="dataset", timeout=5.0):
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
            f"`{argument}` {name!r} is not in {builder.data_dir!r} and cannot be "
            f"downloaded: no connection to {'; '.join(errors)}. Download it "
            "once on a machine with network access (or copy its TFDS "
            "directory here), or use dataset='digits', which ships offline."
        )
