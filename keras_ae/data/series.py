"""Real labelled time series that ship in the `sktime` wheel, and windows.

* `load_yahoo`: 1,000 points of a Yahoo Webscope S5 series (trend + a season
  of 24 steps) with 7 labelled point anomalies (indices 431, 478, 610, 681,
  718, 732, 846): `sktime/datasets/data/yahoo/yahoo.csv`.
* `load_mitdb`: 7,500 points of an MIT-BIH arrhythmia ECG record with one
  labelled anomalous stretch (points 6,936 to 7,287):
  `sktime/datasets/data/mitdb/mitdb.csv`.

sktime has no loader for either file, so these read them. `sliding_windows`
and `window_labels` cut a series into the windows a sequence autoencoder
takes.
"""

import importlib.util
import os

import numpy as np

from keras_ae.checks import check_number
from keras_ae.checks import check_positive_int

__all__ = ["load_mitdb", "load_yahoo", "make_mitdb_task", "sktime_series_path",
           "sliding_windows", "window_labels"]


def sktime_series_path(name):
    """Returns the path of `sktime/datasets/data/<name>/<name>.csv`."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The {name!r} series ships with the `sktime` package, which is "
            "not installed: `pip install sktime`.")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data",
                        name, f"{name}.csv")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"This sktime version does not ship the {name!r} series. "
            f"Received: no file at {path}")
    return path


def _load_labelled_series(name):
    data = np.genfromtxt(sktime_series_path(name), delimiter=",", names=True)
    return data["data"].astype("float32"), data["label"].astype("int64")


def load_yahoo():
    """Loads sktime's labelled Yahoo anomaly series.

    Returns:
        `(values, labels)`: float32 array of shape `(1000,)` and int64 array
        of shape `(1000,)`, 1 at a labelled anomaly.
    """
    return _load_labelled_series("yahoo")


def load_mitdb():
    """Loads sktime's labelled MIT-BIH ECG excerpt.

    Returns:
        `(values, labels)`: float32 array of shape `(7500,)` (millivolts) and
        int64 array of shape `(7500,)`, 1 inside the anomalous stretch.
    """
    return _load_labelled_series("mitdb")


def sliding_windows(series, window, stride=1):
    """Cuts a series into overlapping windows.

    Args:
        series: array of shape `(timesteps,)` or `(timesteps, features)`.
        window: int > 0, steps per window, at most `timesteps`.
        stride: int > 0, steps between the starts of two windows.

    Returns:
        Array of shape `(num_windows, window, features)` (features is 1 for
        a 1-D series) with `num_windows = (timesteps - window) // stride +
        1`; window `i` starts at step `i * stride`.

    Example:

    >>> sliding_windows(np.arange(6), window=3, stride=2)[..., 0]
    array([[0, 1, 2],
           [2, 3, 4]])
    """
    window = check_positive_int("window", window)
    stride = check_positive_int("stride", stride)
    series = np.asarray(series)
    if series.ndim == 1:
        series = series[:, None]
    if series.ndim != 2:
        raise ValueError(
            "`series` must have shape (timesteps,) or (timesteps, features). "
            f"Received: series with shape {series.shape}"
        )
    if window > len(series):
        raise ValueError(
            f"`window` must be at most the length of the series ({len(series)})"
            f". Received: window={window}"
        )
    starts = np.arange(0, len(series) - window + 1, stride)
    return series[starts[:, None] + np.arange(window)[None, :]]


def window_labels(labels, window, stride=1):
    """Labels each sliding window 1 if it contains a labelled point, else 0."""
    return sliding_windows(np.asarray(labels) > 0, window, stride).any(
        axis=(1, 2)).astype("int64")


def make_mitdb_task(window=64, stride=1, downsample=12, train_fraction=0.5):
    """Builds the ECG anomaly-detection task on sktime's MIT-BIH excerpt.

    The 7,500 samples (about 25 heartbeats of 300 samples) are averaged in
    blocks of `downsample` (625 points, a beat every 25), cut into windows
    of `window` points (about 2.5 beats, so that a window sees the rhythm)
    every `stride` points, each centred on its mean and divided by the
    training windows' standard deviation, as the Yahoo task of
    `keras_ae.evaluation.timeseries` does. The first `train_fraction` of the series is
    normal and trains the model; a test window is anomalous when it holds a
    labelled point (the stretch from 6,936 to 7,287: a lengthened beat
    interval with an early, abnormal beat).

    Returns:
        A dict: `x_train` `(n, window, 1)`, `x_test`, `y_test` (1 if the
        window holds an anomaly), `series`, `labels`, `split`,
        `test_starts`, `scale`, `window`, `stride`, `downsample`.
    """
    downsample = check_positive_int("downsample", downsample)
    series, labels = load_mitdb()
    usable = len(series) // downsample * downsample
    series = series[:usable].reshape(-1, downsample).mean(axis=1)
    labels = labels[:usable].reshape(-1, downsample).max(axis=1)
    split = int(round(check_number("train_fraction", train_fraction, 0.05,
                                   0.95) * len(series)))
    if labels[:split].any():
        raise ValueError(
            "The training part must be normal. Received: train_fraction="
            f"{train_fraction}, whose first {split} points hold labelled "
            "anomalies.")
    train = _centred(sliding_windows(series[:split], window, stride))
    test = _centred(sliding_windows(series[split:], window, stride))
    scale = float(train.std())
    return {
        "x_train": (train / scale).astype("float32"),
        "x_test": (test / scale).astype("float32"),
        "y_test": window_labels(labels[split:], window, stride),
        "series": series, "labels": labels, "split": split,
        "test_starts": split + np.arange(len(test)) * stride,
        "scale": scale, "window": window, "stride": stride,
        "downsample": downsample,
    }


def _centred(windows):
    return windows - windows.mean(axis=1, keepdims=True)
