"""Datasets: the embedded digits, loaders by name or path, and `tf.data` pipelines.

* `images`: the embedded digits (`load_digits`), MNIST's IDX files, scaling
  and stratified splits;
* `tfds`: datasets by name through TensorFlow Datasets (`load_dataset`);
* `files`: your own data, a folder of images, a `.npy`/`.npz` array, a CSV of
  series (`load_data_file`);
* `series`: real labelled time series that sktime ships, and windows;
* `pipeline`: `make_dataset`, the training pipeline.

`load_training_data(training_config)` is what the main job loads.
"""

import os

import numpy as np

from keras_ae.checks import check_finite
from keras_ae.data.files import data_source
from keras_ae.data.files import load_data_file
from keras_ae.data.images import EMBEDDED_DATASETS
from keras_ae.data.images import load_digits
from keras_ae.data.images import load_idx
from keras_ae.data.images import scale_images
from keras_ae.data.images import split_train_validation
from keras_ae.data.pipeline import make_dataset
from keras_ae.data.series import load_mitdb
from keras_ae.data.series import load_yahoo
from keras_ae.data.series import make_mitdb_task
from keras_ae.data.series import sliding_windows
from keras_ae.data.series import window_labels
from keras_ae.data.tfds import STANDARD_DATASETS
from keras_ae.data.tfds import load_dataset

__all__ = [
    "EMBEDDED_DATASETS", "STANDARD_DATASETS", "data_source", "load_data_file",
    "load_dataset", "load_digits", "load_idx", "load_mitdb",
    "load_training_data", "load_yahoo", "make_dataset", "make_mitdb_task",
    "scale_images",
    "sliding_windows", "split_train_validation", "window_labels",
]


def is_data_path(data):
    """Whether a `data` setting names a file or folder rather than a dataset."""
    return os.sep in data or data.endswith((".npy", ".npz", ".csv")) or (
        os.path.isdir(data))


def load_training_data(config):
    """Loads the data a `TrainingConfig` names, split for training.

    Returns:
        A dict: `train` and `validation`, each `(x, y)`, and `source`, what
        the run records of its data (the dataset's name, or the path and
        SHA-256 of the files, and the validation split).
    """
    split = {"validation_fraction": config.validation_fraction,
             "split_seed": config.seed}
    if config.data == "ecg":
        # The normal windows of the MIT-BIH excerpt (`make_mitdb_task`),
        # unlabelled: what the ECG anomaly detector trains on.
        x = make_mitdb_task()["x_train"]
        train, validation = split_train_validation(
            x, np.zeros(len(x), "int64"), config.validation_fraction,
            config.seed)
        source = {"dataset": "ecg", **split}
    elif is_data_path(config.data):
        x, y = load_data_file(config.data, config.image_size, config.color_mode)
        stratify = len(set(y.tolist())) > 1
        train, validation = split_train_validation(
            x, y if stratify else y * 0, config.validation_fraction,
            config.seed)
        source = {**data_source(config.data), **split,
                  "num_examples": int(len(x))}
    else:
        train, validation = load_dataset(config.data, config.validation_fraction,
                                         seed=config.seed, argument="data")
        source = {"dataset": config.data, **split}
    for (x, _), part in ((train, "training"), (validation, "validation")):
        check_finite(f"data ({part} examples)", x)
    return {"train": train, "validation": validation, "source": source}
