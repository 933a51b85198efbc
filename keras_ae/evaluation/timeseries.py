"""Time-series anomaly detection with sequence autoencoders (lstm, transformer).

The data is a real labelled series that the `sktime` wheel ships (offline),
read by `keras_ae.data.load_yahoo`: 1,000 points of a Yahoo Webscope S5
series (trend + a daily-like season of 24 steps) with 7 labelled point
anomalies.

The task (`make_yahoo_task`):

1. The first `train_fraction` of the series (default 40%: points 0-399,
   which hold no labelled anomaly) is the normal training part; the rest is
   the test part. No window crosses the split.
2. Sliding windows of `window` steps (default 24, one season) with `stride`
   1 are cut from each part.
3. Each window is centred on its own mean (this removes the trend, which
   would otherwise make every later window look anomalous) and divided by
   the standard deviation of the centred *training* windows.
4. A test window is anomalous if it contains at least one labelled anomaly.

On the series as it is, the task cannot tell a model from none: the
labelled spikes give their windows so much energy that a model that outputs
zeros (a window's score is then its mean square) ranks every anomalous
window first (ROC AUC 1.0), and so does PCA with 2 or more components.
`noise=1.0` adds normal noise of one training standard deviation to every
point (seeded), which brings them to 0.87 and 0.93: a detector must then
know the normal shape of a season to find the spikes.

`evaluate_timeseries_anomaly` trains an autoencoder of a sequence family on
the training windows (`output_activation="linear"`, loss `"mse"`), scores
every test window by its reconstruction error and reports ROC AUC and the
precision and recall at a threshold chosen on the training windows only,
next to a PCA baseline with as many components as the code.
"""

import time

import keras
import matplotlib.pyplot as plt
import numpy as np

from keras_ae.checks import check_finite
from keras_ae.checks import check_number
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.data import load_yahoo
from keras_ae.data import make_dataset
from keras_ae.data import make_mitdb_task
from keras_ae.data import sliding_windows
from keras_ae.data import window_labels
from keras_ae.evaluation.anomaly import evaluate_anomaly_detection
from keras_ae.evaluation.anomaly import reconstruction_errors
from keras_ae.spec import build_autoencoder

__all__ = ["SEQUENCE_FAMILIES", "YAHOO_PERIOD", "evaluate_timeseries_anomaly",
           "make_mitdb_task", "make_yahoo_task", "plot_window_scores"]

YAHOO_PERIOD = 24
SEQUENCE_FAMILIES = ("lstm", "transformer")


def make_yahoo_task(window=YAHOO_PERIOD, stride=1, train_fraction=0.4,
                    noise=0.0, seed=0):
    """Builds the Yahoo anomaly-detection task (see the module docstring).

    Args:
        window: int > 0, steps per window (default: one season, 24).
        stride: int > 0, steps between windows.
        train_fraction: float in (0, 1), share of the series, from its start,
            used for training; it must hold no labelled anomaly.
        noise: float >= 0, standard deviation of the normal noise added to
            every point of the series, in standard deviations of the clean
            series' centred training windows; 0 keeps the series as it is.
        seed: int, seed of the noise.

    Returns:
        A dict with `x_train` `(n, window, 1)`, `x_test` `(m, window, 1)`,
        `y_test` (1 if the window holds an anomaly), `series` (with its
        noise), `labels`, `split` (first test step), `test_starts` (first
        step of each test window), `scale` (the training standard
        deviation), `window`, `stride` and `noise`.

    Example:

    >>> task = make_yahoo_task(noise=1.0)
    >>> task["x_train"].shape, int(task["y_test"].sum())
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(
            "`train_fraction` must be in (0, 1). Received: "
            f"train_fraction={train_fraction!r}"
        )
    noise = check_number("noise", noise, minimum=0)
    seed = check_seed("seed", seed)
    series, labels = load_yahoo()
    split = int(round(train_fraction * len(series)))
    if labels[:split].any():
        raise ValueError(
            "The training part must be normal. Received: train_fraction="
            f"{train_fraction}, whose first {split} steps hold "
            f"{int(labels[:split].sum())} labelled anomaly(ies)."
        )
    if noise:
        clean_scale = float(_centre(sliding_windows(
            series[:split], window, stride)).std())
        series = (series + np.random.default_rng(seed).normal(
            0.0, noise * clean_scale, series.shape)).astype("float32")
    train = _centre(sliding_windows(series[:split], window, stride))
    test = _centre(sliding_windows(series[split:], window, stride))
    scale = float(train.std())
    return {
        "x_train": (train / scale).astype("float32"),
        "x_test": (test / scale).astype("float32"),
        "y_test": window_labels(labels[split:], window, stride),
        "series": series,
        "labels": labels,
        "split": split,
        "test_starts": split + np.arange(len(test)) * stride,
        "scale": scale,
        "window": window,
        "stride": stride,
        "noise": noise,
    }


def evaluate_timeseries_anomaly(family, task=None, latent_dim=4, epochs=30,
                                batch_size=32, quantile=0.99, seed=0,
                                learning_rate=1e-3, path=None, verbose=0,
                                **family_options):
    """Trains a sequence autoencoder on normal windows and scores the test part.

    Args:
        family: str, a registered family that takes sequences
            `(timesteps, features)`, e.g. `"lstm"` or `"transformer"`.
        task: dict from `make_yahoo_task`, or `None` for its defaults.
        latent_dim: int > 0, size of the code (and of the PCA baseline).
        epochs: int > 0, training epochs.
        batch_size: int > 0.
        quantile: float in [0, 1], quantile of the training windows' errors
            used as the threshold.
        seed: int, seed of the weights and the shuffles.
        learning_rate: float > 0, Adam's learning rate.
        path: where to save a figure of the scores, or `None`.
        verbose: Keras' `fit` verbosity.
        **family_options: options of the family (`output_activation` is
            `"linear"`: the windows are standardized).

    Returns:
        A dict of floats: `roc_auc`, `precision`, `recall`, `f1`,
        `false_positive_rate`, `threshold`, `quantile`, `pca_roc_auc`,
        `num_test`, `num_anomalous`, `train_seconds`.
    """
    seed = check_seed("seed", seed)
    epochs = check_positive_int("epochs", epochs)
    task = make_yahoo_task() if task is None else task
    x_train = check_finite("x_train", task["x_train"])
    keras.utils.set_random_seed(seed)
    model = build_autoencoder(
        family, x_train.shape[1:], latent_dim, reconstruction_loss="mse",
        **{"output_activation": "linear", **family_options},
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    start = time.perf_counter()
    model.fit(make_dataset(x_train, batch_size=batch_size, seed=seed),
              epochs=epochs, verbose=verbose, shuffle=False)
    metrics = evaluate_anomaly_detection(model, x_train, task["x_test"],
                                         task["y_test"], quantile=quantile)
    metrics["train_seconds"] = time.perf_counter() - start
    if path is not None:
        plot_window_scores(task, reconstruction_errors(model, task["x_test"]),
                           metrics["threshold"], path,
                           title=f"{family} autoencoder on the Yahoo series")
    return metrics


def plot_window_scores(task, scores, threshold, path=None, title=None):
    """Draws the series with its labelled anomalies above the window scores."""
    series, labels = task["series"], task["labels"]
    anomalies = np.flatnonzero(labels)
    fig, axes = plt.subplots(2, 1, figsize=(11, 5), sharex=True)
    axes[0].plot(series, lw=0.8)
    axes[0].plot(anomalies, series[anomalies], "o", color="crimson",
                 label="labelled anomaly")
    axes[0].axvline(task["split"], color="gray", ls="--", label="train | test")
    axes[0].set_ylabel("value")
    axes[0].legend(loc="upper left")
    # Each window's score is drawn at its last step.
    ends = task["test_starts"] + task["window"] - 1
    axes[1].plot(ends, scores, lw=0.8, label="reconstruction error")
    axes[1].axhline(threshold, color="crimson", ls=":",
                    label="threshold (training quantile)")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("time step (window end)")
    axes[1].set_ylabel("window score")
    axes[1].legend(loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def _centre(windows):
    return windows - windows.mean(axis=1, keepdims=True)
