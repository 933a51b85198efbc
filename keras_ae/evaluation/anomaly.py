"""Anomaly detection: reconstruction error as the score, against PCA."""

import keras
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import f1_score
from sklearn.metrics import precision_score
from sklearn.metrics import recall_score
from sklearn.metrics import roc_auc_score

from keras_ae.checks import check_autoencoder
from keras_ae.checks import check_data
from keras_ae.checks import check_finite
from keras_ae.checks import check_labelled_split
from keras_ae.checks import check_number
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.data import make_dataset
from keras_ae.evaluation._common import fit_pca
from keras_ae.evaluation._common import flatten

__all__ = [
    "reconstruction_errors", "choose_threshold", "pca_reconstruction_errors",
    "evaluate_anomaly_detection", "anomaly_metrics", "plot_score_histogram",
    "untrained_copy", "evaluate_digit_anomaly"
]


def reconstruction_errors(model, x, batch_size=256):
    """Anomaly scores: each example's mean squared reconstruction error.

    Returns:
        float64 array of shape `(num_examples,)`, the mean over the example's
        values of `(x - model.reconstruct(x))**2`.
    """
    check_autoencoder(model)
    x = check_data("x", x, model)
    reconstruction = model.reconstruct(x, batch_size=batch_size)
    return np.mean((flatten(reconstruction) - flatten(x)) ** 2, axis=1)


def choose_threshold(train_scores, quantile=0.99):
    """The anomaly threshold: a quantile of the scores of normal training data.

    Only training scores may set the threshold; the test labels never do.

    Args:
        train_scores: 1-D array of the scores of (normal) training examples.
        quantile: float in [0, 1]; a score above the threshold is flagged.

    Returns:
        float, `np.quantile(train_scores, quantile)`.
    """
    quantile = check_number("quantile", quantile, 0, 1)
    scores = check_finite("train_scores", np.asarray(train_scores, "float64"))
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(
            "`train_scores` must be a non-empty 1-D array of scores. "
            f"Received: train_scores with shape {scores.shape}"
        )
    return float(np.quantile(scores, quantile))


def pca_reconstruction_errors(x_train, x, num_components):
    """Scores of the PCA baseline: mean squared error of a PCA reconstruction."""
    flat_train, flat = flatten(x_train), flatten(x)
    pca = fit_pca(flat_train, num_components)
    reconstruction = pca.inverse_transform(pca.transform(flat))
    return np.mean((reconstruction - flat) ** 2, axis=1)


def evaluate_anomaly_detection(model, x_train_normal, x_test, y_test_is_anomaly,
                               quantile=0.99, path=None, title=None):
    """Scores anomalies by reconstruction error; reports AUC and thresholded figures.

    The model should be trained on normal data only. The threshold is the
    `quantile` of the scores of `x_train_normal` (`choose_threshold`); a
    test example scoring above it is flagged.

    Args:
        model: a keras_ae autoencoder.
        x_train_normal: normal training inputs.
        x_test: test inputs, normal and anomalous.
        y_test_is_anomaly: 1-D array, 1 (or True) for an anomaly, one per
            test input; both classes must occur.
        quantile: float in [0, 1].
        path: where to save a histogram of the test scores, or `None`.
        title: title of that figure (the AUC is appended), or `None`.

    Returns:
        A dict of floats: `roc_auc` (`sklearn.metrics.roc_auc_score` of the
        scores), `precision`, `recall`, `f1`, `false_positive_rate` at the
        threshold, `threshold`, `quantile`, `pca_roc_auc` (the same scores
        from a PCA with `latent_dim` components fitted on `x_train_normal`),
        `num_test`, `num_anomalies`.
    """
    check_autoencoder(model)
    quantile = check_number("quantile", quantile, 0, 1)
    x_train_normal = check_data("x_train_normal", x_train_normal, model)
    x_test = check_data("x_test", x_test, model)
    labels = _check_anomaly_labels(x_test, y_test_is_anomaly)
    threshold = choose_threshold(reconstruction_errors(model, x_train_normal),
                                 quantile)
    scores = reconstruction_errors(model, x_test)
    metrics = anomaly_metrics(scores, labels, threshold)
    baseline = pca_reconstruction_errors(x_train_normal, x_test,
                                         model.latent_dim)
    if path is not None:
        plot_score_histogram(
            scores, labels, threshold, path,
            f"{title or 'Test scores'}: ROC AUC {metrics['roc_auc']:.3f}")
    metrics.update({
        "quantile": quantile,
        "pca_roc_auc": anomaly_metrics(baseline, labels, threshold)["roc_auc"],
    })
    return metrics


def _check_anomaly_labels(x_test, y_test_is_anomaly, x_name="x_test",
                          y_name="y_test_is_anomaly"):
    labels = np.asarray(y_test_is_anomaly)
    if labels.ndim != 1 or len(labels) != len(x_test):
        raise ValueError(
            f"`{y_name}` must hold one label per example of `{x_name}`. "
            f"Received: {len(x_test)} examples in {x_name} and "
            f"{y_name} with shape {labels.shape}"
        )
    if not np.all(np.isin(labels, (0, 1))):
        raise ValueError(f"`{y_name}` must hold 0/1 or booleans. Received: "
                         f"values {np.unique(labels)[:5].tolist()}")
    labels = labels.astype("int64")
    if labels.size == 0 or labels.min() == labels.max():
        raise ValueError(
            f"`{y_name}` must hold both normal (0) and anomalous (1) examples "
            f"for a ROC AUC. Received: values {np.unique(labels).tolist()}"
        )
    return labels


def anomaly_metrics(scores, is_anomaly, threshold):
    """ROC AUC of anomaly scores, and the figures of flagging `scores > threshold`.

    Args:
        scores: 1-D array, higher means more anomalous.
        is_anomaly: 1-D array of 0/1 (or booleans), one per score, with both
            values present.
        threshold: float; a score strictly above it is flagged.

    Returns:
        A dict of floats: `roc_auc` (`sklearn.metrics.roc_auc_score`),
        `precision`, `recall`, `f1` (0 when nothing is flagged),
        `false_positive_rate`, `threshold`, `num_test`, `num_anomalies`.
    """
    scores = check_finite("scores", np.asarray(scores, dtype="float64"))
    labels = _check_anomaly_labels(scores, is_anomaly, "scores", "is_anomaly")
    flagged = (scores > threshold).astype("int64")
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "precision": float(precision_score(labels, flagged, zero_division=0)),
        "recall": float(recall_score(labels, flagged, zero_division=0)),
        "f1": float(f1_score(labels, flagged, zero_division=0)),
        "false_positive_rate": float(flagged[labels == 0].mean()),
        "threshold": float(threshold),
        "num_test": float(len(labels)),
        "num_anomalies": float(labels.sum()),
    }


def plot_score_histogram(scores, is_anomaly, threshold, path=None, title=None):
    """Histograms of the scores of normal and anomalous examples, and the threshold."""
    scores, is_anomaly = np.asarray(scores), np.asarray(is_anomaly).astype(bool)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    bins = np.logspace(np.log10(max(scores.min(), 1e-8)),
                       np.log10(max(scores.max(), 2e-8)), 50)
    ax.hist(scores[~is_anomaly], bins=bins, alpha=0.6, density=True,
            label="normal")
    ax.hist(scores[is_anomaly], bins=bins, alpha=0.6, density=True,
            label="anomaly")
    ax.axvline(threshold, color="crimson", ls=":", label="threshold")
    ax.set_xscale("log")
    ax.set_xlabel("reconstruction error (MSE per value)")
    ax.set_ylabel("density")
    ax.set_title(title or "Anomaly scores of the test examples")
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def untrained_copy(model, seed=0):
    """A new model of the same architecture and loss, freshly initialized."""
    check_autoencoder(model)
    keras.utils.set_random_seed(check_seed("seed", seed))
    copy = type(model).from_config(model.get_config())
    return copy


def evaluate_digit_anomaly(model, x_train, y_train, x_test, y_test,
                           normal_class=1, epochs=5, quantile=0.99, seed=0,
                           batch_size=32, learning_rate=1e-3, path=None,
                           verbose=0):
    """One class is normal, the others are anomalies: trains and scores a copy.

    A fresh model of `model`'s architecture and loss (`untrained_copy`) is
    trained with Adam on the `normal_class` examples of `x_train` only,
    then `evaluate_anomaly_detection` scores `x_test`, where every other
    class is an anomaly. `model` itself is not changed.

    Returns:
        The dict of `evaluate_anomaly_detection`, plus `normal_class`,
        `epochs` and `anomaly_share` (the share of anomalies in `x_test`).
    """
    x_train, y_train, x_test, y_test = check_labelled_split(
        model, x_train, y_train, x_test, y_test)
    if normal_class not in set(y_train.tolist()):
        raise ValueError(
            "`normal_class` must be a class of `y_train`. Received: "
            f"normal_class={normal_class!r}; classes "
            f"{np.unique(y_train).tolist()}"
        )
    epochs = check_positive_int("epochs", epochs)
    copy = untrained_copy(model, seed)
    copy.compile(optimizer=keras.optimizers.Adam(learning_rate))
    normal = x_train[y_train == normal_class]
    copy.fit(make_dataset(normal, batch_size=batch_size, seed=seed),
             epochs=epochs, verbose=verbose, shuffle=False)
    is_anomaly = (y_test != normal_class).astype("int64")
    metrics = evaluate_anomaly_detection(
        copy, normal, x_test, is_anomaly, quantile, path=path,
        title=f"Class {normal_class} normal, the others anomalies")
    metrics.update({"normal_class": float(normal_class), "epochs": float(epochs),
                    "anomaly_share": float(is_anomaly.mean())})
    return metrics
