"""Every application at once: `evaluate_model` (the `evaluate` command runs it)."""

import os

import matplotlib.pyplot as plt
import numpy as np

from keras_ae import plotting
from keras_ae.checks import check_labelled_split
from keras_ae.checks import check_output_dir
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.corruptions import GaussianNoise
from keras_ae.corruptions import Occlusion
from keras_ae.evaluation.anomaly import evaluate_digit_anomaly
from keras_ae.evaluation.compression import compare_with_pca
from keras_ae.evaluation.generation import plot_interpolations
from keras_ae.evaluation.generation import plot_samples
from keras_ae.evaluation.likelihood import importance_weighted_nll
from keras_ae.evaluation.likelihood import negative_elbo
from keras_ae.evaluation.representation import DEFAULT_LABELS_PER_CLASS
from keras_ae.evaluation.representation import check_labels_per_class
from keras_ae.evaluation.representation import evaluate_classification
from keras_ae.evaluation.restoration import evaluate_restoration
from keras_ae.io import write_json
from keras_ae.objectives import VariationalAutoEncoder

__all__ = ["evaluate_model"]


def evaluate_model(model, x_train, y_train, x_test, y_test, output_dir, seed=0,
                   normal_class=1, anomaly_epochs=5, fine_tune_steps=300,
                   labels_per_class=DEFAULT_LABELS_PER_CLASS, iw_samples=100,
                   max_likelihood_examples=1000, verbose=0):
    """Runs every application that fits `model`; writes `metrics.json` and figures.

    Tasks, by model:

    * images (rank-4 inputs in [0, 1]): restoration of Gaussian noise
      (`noise_factor=0.5`) and of one occluding square of ~10/28 of the side
      (`denoising`, `occlusion`; a model trained on clean images restores
      them zero-shot), interpolation figure, and anomaly detection with
      `normal_class` normal (`anomaly_detection`, trains a copy for
      `anomaly_epochs` epochs; 0 skips it);
    * every model: reconstruction against PCA (`pca_comparison`), latent
      scatter of `x_test`, classification with `labels_per_class`
      (`classification`; the fine-tuned classifier is skipped when
      `fine_tune_steps=0`);
    * a VAE: negative ELBO and importance-weighted NLL with `k=iw_samples`
      on the first `max_likelihood_examples` test examples (`likelihood`),
      samples from the prior, and the decoded manifold when `latent_dim=2`.

    Files: `metrics.json`, `restoration_noise.png`,
    `restoration_occlusion.png`, `pca_comparison.png`, `latent_space.png`,
    `interpolations.png`, `anomaly_scores.png`, and for a VAE `samples.png`
    (and `manifold.png`). Every argument is checked before anything is
    written; `output_dir` must not exist or be an empty directory.

    Returns:
        `{"output_dir": str, "metrics": dict, "files": {name: path}}`.
    """
    # --- Check everything before touching the disk --------------------------
    x_train, y_train, x_test, y_test = check_labelled_split(
        model, x_train, y_train, x_test, y_test)
    if getattr(model, "conditional", False):
        raise ValueError(
            "`evaluate_model` judges models whose verbs take inputs alone; a "
            f"{type(model).__name__} needs the labels of every input. "
            f"Received: model of type {type(model).__name__}; judge it with "
            "its verbs (`reconstruct(x, labels)`, `sample(n, labels)`) and "
            "`keras_ae.evaluation.reconstruction_agreement`.")
    seed = check_seed("seed", seed)
    iw_samples = check_positive_int("iw_samples", iw_samples)
    max_likelihood_examples = check_positive_int("max_likelihood_examples",
                                                 max_likelihood_examples)
    if anomaly_epochs:
        anomaly_epochs = check_positive_int("anomaly_epochs", anomaly_epochs)
        if normal_class not in set(y_train.tolist()):
            raise ValueError(
                "`normal_class` must be a class of `y_train`. Received: "
                f"normal_class={normal_class!r}; classes "
                f"{np.unique(y_train).tolist()}"
            )
    if fine_tune_steps:
        check_positive_int("fine_tune_steps", fine_tune_steps)
    labels_per_class = check_labels_per_class(labels_per_class, y_train)
    check_output_dir("output_dir", output_dir, must_be_new=True)

    os.makedirs(output_dir, exist_ok=True)
    files = {}

    def file(name):
        files[name] = os.path.join(output_dir, name)
        return files[name]

    variational = isinstance(model, VariationalAutoEncoder)
    images = x_train.ndim == 4
    metrics = {
        "model": {"name": model.name, "class": type(model).__name__,
                  "family": model.family,
                  "code_shape": list(model.code_shape),
                  "latent_dim": model.latent_dim,
                  "input_shape": list(model.input_shape_),
                  "reconstruction_loss": model.reconstruction_loss},
        "data": {"num_train": len(x_train), "num_test": len(x_test)},
        "seed": seed,
    }
    if images and min(x_test.shape[1:3]) >= 11:  # SSIM's window
        side = max(1, round(min(x_test.shape[1:3]) * 10 / 28))
        metrics["denoising"] = evaluate_restoration(
            model, x_test, GaussianNoise(0.5), seed, file("restoration_noise.png"))
        metrics["occlusion"] = evaluate_restoration(
            model, x_test, Occlusion((side, side)), seed,
            file("restoration_occlusion.png"))
    metrics["pca_comparison"] = compare_with_pca(
        model, x_train, x_test, file("pca_comparison.png") if images else None)
    plotting.plot_latent_space(model.encode(x_test), y_test,
                               file("latent_space.png"))
    metrics["classification"] = evaluate_classification(
        model, x_train, y_train, x_test, y_test, labels_per_class, seed=seed,
        fine_tune_steps=fine_tune_steps, verbose=verbose)
    if variational:
        subset = x_test[:max_likelihood_examples]
        metrics["likelihood"] = {
            **negative_elbo(model, subset, num_samples=1, seed=seed),
            **importance_weighted_nll(model, subset, k=iw_samples, seed=seed),
            "num_examples": float(len(subset)),
        }
        if images:
            plot_samples(model, file("samples.png"), seed=seed)
            if model.latent_dim == 2:
                plotting.plot_manifold(model, file("manifold.png"))
    if images:
        starts, ends = _interpolation_pairs(y_test)
        plot_interpolations(model, x_test[starts], x_test[ends],
                            file("interpolations.png"))
        if anomaly_epochs:
            metrics["anomaly_detection"] = evaluate_digit_anomaly(
                model, x_train, y_train, x_test, y_test,
                normal_class=normal_class, epochs=anomaly_epochs, seed=seed,
                path=file("anomaly_scores.png"), verbose=verbose)
    metrics_path = file("metrics.json")
    metrics["files"] = sorted(os.path.basename(p) for p in files.values())
    write_json(metrics_path, metrics)
    plt.close("all")
    return {"output_dir": output_dir, "metrics": metrics, "files": files}


def _interpolation_pairs(labels, num_pairs=4):
    """Indices of pairs of test examples of different classes (deterministic)."""
    starts, ends = [], []
    classes = np.unique(labels)
    for i in range(min(num_pairs, len(classes))):
        a = classes[i % len(classes)]
        b = classes[(i + len(classes) // 2) % len(classes)]
        starts.append(np.flatnonzero(labels == a)[0])
        ends.append(np.flatnonzero(labels == b)[0])
    return np.array(starts), np.array(ends)
