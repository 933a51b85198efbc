"""Every application at once (`evaluate_model`) and the `evaluate` command."""

import inspect
import json
import math
import os

import keras
import numpy as np

from keras_ae.checks import check_keras_file
from keras_ae.checks import check_output_dir as _check_output_dir
from keras_ae.checks import check_positive_int
from keras_ae.checks import read_json_file
from keras_ae.checks import check_seed
from keras_ae.evaluation._common import check_autoencoder
from keras_ae.evaluation._common import check_labelled_split
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
from keras_ae.models import VariationalAutoEncoder


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
    from keras_ae import plotting
    from keras_ae.corruptions import GaussianNoise
    from keras_ae.corruptions import Occlusion

    # --- Check everything before touching the disk --------------------------
    x_train, y_train, x_test, y_test = check_labelled_split(
        model, x_train, y_train, x_test, y_test)
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
    check_output_dir(output_dir)

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
    import matplotlib.pyplot as plt

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


def check_output_dir(output_dir):
    """Raises unless `output_dir` is new or an empty directory, and writable.

    `FileExistsError` for a directory that holds files,
    `NotADirectoryError` for a file, `PermissionError` where nothing can be
    written (see `keras_ae.checks.check_output_dir`).
    """
    return _check_output_dir("output_dir", output_dir, must_be_new=True)


def write_json(path, data):
    """Writes `data` as JSON to a new file (never overwrites).

    NumPy numbers become Python numbers; infinite or NaN floats become
    `null`, so the file is strict JSON.
    """
    with open(path, "x") as f:
        json.dump(_jsonable(data), f, indent=2, allow_nan=False)
        f.write("\n")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


# --- Command line ------------------------------------------------------------


def add_commands(subparsers):
    """Adds the `evaluate` command to the `keras_ae` command line.

    Its defaults are those of `evaluate_model`, read from its signature.
    """
    from keras_ae.data import EMBEDDED_DATASETS

    defaults = {name: parameter.default for name, parameter in
                inspect.signature(evaluate_model).parameters.items()
                if parameter.default is not inspect.Parameter.empty}
    parser = subparsers.add_parser(
        "evaluate", help="evaluate a saved model on its applications",
        description="Evaluate a saved .keras autoencoder on its applications "
        "(restoration, compression vs PCA, classification from the code, VAE "
        "likelihood and generation, anomaly detection) and write "
        "metrics.json and figures. The held-out set is the validation split "
        "of the run (its dataset and seed are read from run_config.json next "
        "to the model when present).",
    )
    parser.add_argument("model", help="path of a saved .keras model")
    parser.add_argument("--output-dir", default=None,
                        help="new directory for the results (default: "
                        "<model dir>/evaluation); never overwritten")
    parser.add_argument("--dataset", default=None,
                        help="dataset name (default: the run's dataset from "
                        f"run_config.json, else {EMBEDDED_DATASETS[0]!r})")

    def add(flag, help, **kwargs):
        kwargs.setdefault("default", defaults[flag[2:].replace("-", "_")])
        parser.add_argument(flag, help=f"{help} (default: %(default)s)",
                            **kwargs)

    add("--seed", "seed of the corruptions, label subsets, samples and "
        "trained copies", type=int)
    add("--normal-class", "class that is normal in anomaly detection",
        type=int)
    add("--anomaly-epochs", "epochs of the copy trained on the normal class; "
        "0 skips anomaly detection", type=int)
    add("--fine-tune-steps", "steps of the fine-tuned classifier; 0 skips it",
        type=int)
    # A string default goes through `type`, as if typed on the command line.
    add("--labels-per-class", "comma-separated label budgets of the "
        "classification task, 'all' for every label", type=_labels_per_class,
        default=",".join("all" if n is None else str(n)
                         for n in defaults["labels_per_class"]))
    add("--iw-samples", "importance samples k of the VAE's IW-NLL", type=int)
    add("--max-likelihood-examples", "test examples of the likelihood "
        "estimates", type=int)
    parser.set_defaults(run=_run_evaluate)
    return parser


def _run_evaluate(args):
    import keras_ae  # noqa: F401  (registers the classes for loading)
    from keras_ae.data import EMBEDDED_DATASETS
    from keras_ae.data import load_dataset

    check_keras_file("model", args.model)
    output_dir = args.output_dir or os.path.join(
        os.path.dirname(args.model) or ".", "evaluation")
    check_output_dir(output_dir)
    seed = check_seed("seed", args.seed)
    dataset, split_seed = args.dataset, seed
    config_path = os.path.join(os.path.dirname(args.model) or ".",
                               "run_config.json")
    if os.path.exists(config_path):
        run_config = read_json_file("run_config.json", config_path)
        # The training settings sit under "training" (older runs: top level).
        training = run_config.get("training", run_config)
        dataset = dataset or training.get("dataset", EMBEDDED_DATASETS[0])
        split_seed = training.get("seed", seed)
    else:
        print("No run_config.json next to the model: the held-out split uses "
              f"--seed {seed}; it is held out only if training used the same.")
    dataset = dataset or EMBEDDED_DATASETS[0]
    model = keras.models.load_model(args.model)
    check_autoencoder(model, "model")
    (x_train, y_train), (x_test, y_test) = load_dataset(dataset, seed=split_seed)
    result = evaluate_model(
        model, x_train, y_train, x_test, y_test, output_dir, seed=seed,
        normal_class=args.normal_class, anomaly_epochs=args.anomaly_epochs,
        fine_tune_steps=args.fine_tune_steps,
        labels_per_class=args.labels_per_class,
        iw_samples=args.iw_samples,
        max_likelihood_examples=args.max_likelihood_examples,
    )
    print(summarize(result))


def _labels_per_class(text):
    budgets = []
    for item in text.split(","):
        item = item.strip()
        if item == "all":
            budgets.append(None)
        elif item.isdigit() and int(item) > 0:
            budgets.append(int(item))
        else:
            raise ValueError(
                "`--labels-per-class` must be comma-separated positive ints "
                f"or 'all'. Received: --labels-per-class {text!r}")
    return tuple(budgets)


_labels_per_class.__name__ = "labels_per_class"  # argparse names it in errors


def summarize(result):
    """Formats the main figures of an `evaluate_model` result for the terminal."""
    metrics = result["metrics"]
    described = metrics["model"]
    lines = [f"Evaluation written to {result['output_dir']}",
             f"Model: {described['class']} of the "
             f"{described.get('family') or 'unrecorded'} family, code of "
             f"shape {tuple(described['code_shape'])}"]
    for name in sorted(result["files"]):
        lines.append(f"  {result['files'][name]}")
    lines.append("Main metrics:")

    def add(label, value, unit=""):
        lines.append(f"  {label:<42} {value:.4g}{unit}")

    for task in ("denoising", "occlusion"):
        if task in metrics:
            m = metrics[task]
            add(f"{task}: PSNR corrupted -> restored",
                m["restored_psnr"], f" dB (from {m['corrupted_psnr']:.4g})")
            add(f"{task}: SSIM corrupted -> restored",
                m["restored_ssim"], f" (from {m['corrupted_ssim']:.4g})")
    m = metrics["pca_comparison"]
    add("MSE autoencoder", m["ae_mse"],
        f" (PCA {m['pca_mse']:.4g}, mean image {m['mean_image_mse']:.4g})")
    m = metrics["classification"]
    for key in sorted(k for k in m if k.startswith("probe_accuracy")):
        tag = key.rsplit("_", 1)[1]
        add(f"probe accuracy, {tag} labels{'' if tag == 'all' else '/class'}",
            m[key], f" (pixels {m[f'pixels_accuracy_{tag}']:.4g}, PCA "
            f"{m[f'pca_accuracy_{tag}']:.4g})")
    if "likelihood" in metrics:
        m = metrics["likelihood"]
        add("negative ELBO (nats)", m["negative_elbo"])
        add(f"IW-NLL, k={int(m['k'])} (nats)", m["iw_nll"])
    if "anomaly_detection" in metrics:
        m = metrics["anomaly_detection"]
        add(f"anomaly ROC AUC (class {int(m['normal_class'])} normal)",
            m["roc_auc"], f" (PCA {m['pca_roc_auc']:.4g})")
    return "\n".join(lines)
