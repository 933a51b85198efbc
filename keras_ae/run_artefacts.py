"""The artefacts of a run: figures, the judged quality, the history, the summary.

`keras_ae.training.train` writes them into the run directory; each is also a
plain function for a model trained any other way.
"""

import csv
import os

from keras_ae import plotting


def is_labelled_images(y_train, x_val):
    """Whether a dataset is images with at least two classes (can be judged)."""
    return x_val.ndim == 4 and len(set(y_train.tolist())) >= 2


def judge_model(model, train, validation, seed=0, num_samples=1000):
    """Judges a trained model of labelled images with a reference classifier.

    Trains `keras_ae.evaluation.train_reference_classifier` on the training
    images and reports how often it finds the true class of a validation
    image in its reconstruction, and, for a VAE, which classes its samples
    from the prior cover (`evaluate_generation`).

    Returns:
        A dict: `reconstruction_agreement`, `original_accuracy` and, for a
        VAE, `classes_covered`, `class_shares`, `frechet_distance`.
    """
    from keras_ae import evaluation

    (x_train, y_train), (x_val, y_val) = train, validation
    classifier = evaluation.train_reference_classifier(x_train, y_train,
                                                       seed=seed)
    quality = evaluation.reconstruction_agreement(model, classifier, x_val,
                                                  y_val)
    if hasattr(model, "sample"):
        generation = evaluation.evaluate_generation(
            model, classifier, x_val, num_samples=min(num_samples, len(x_val)),
            seed=seed)
        quality.update(generation)
    return quality


def write_figures(model, x_val, y_val, run_dir, seed=0, history=None,
                  num_examples=10):
    """Writes the figures of a trained model; returns `{name: path}`."""
    paths = {}
    originals = x_val[:num_examples]
    paths["reconstructions"] = os.path.join(run_dir, "reconstructions.png")
    plotting.plot_reconstructions(originals, model.reconstruct(originals),
                                  paths["reconstructions"])
    paths["latent_space"] = os.path.join(run_dir, "latent_space.png")
    plotting.plot_latent_space(model.encode(x_val), y_val, paths["latent_space"])
    if history:
        paths["learning_curves"] = os.path.join(run_dir, "history.png")
        plotting.plot_history(history, paths["learning_curves"])
    if hasattr(model, "sample"):
        paths["samples"] = os.path.join(run_dir, "samples.png")
        plotting.plot_grid(model.sample(64, seed=seed), paths["samples"],
                           "Samples decoded from the prior N(0, I)")
        if model.code_shape == (2,):
            paths["manifold"] = os.path.join(run_dir, "manifold.png")
            plotting.plot_manifold(model, paths["manifold"])
    return paths


def read_history(csv_path):
    """Reads a `CSVLogger` file into `{metric: [value per epoch]}`.

    When an epoch appears twice (a resumed run redid it), the last row wins.
    """
    rows = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            rows[int(row["epoch"])] = row
    history = {}
    for epoch in sorted(rows):
        for name, value in rows[epoch].items():
            history.setdefault(name, []).append(
                int(value) if name == "epoch" else float(value))
    return history


def summarize(result):
    """Formats a `train()` result for the terminal."""
    if not result.get("chief", True):
        lines = [f"Trained as a worker; the chief writes the run to "
                 f"{result['run_dir']}"]
    else:
        lines = [f"Run written to {result['run_dir']}"]
    width = max(len(k) for k in [*result["artefacts"], *result["metrics"]])
    for name, path in result["artefacts"].items():
        lines.append(f"  {name:<{width}}  {path}")
    lines.append("Final metrics:")
    for name, value in sorted(result["metrics"].items()):
        lines.append(f"  {name:<{width}}  {value:.4f}")
    quality = result.get("quality")
    if quality:
        lines.append("Judged by a reference classifier trained on the "
                     "training images:")
        lines.append(
            f"  the true class is recognised in "
            f"{quality['reconstruction_agreement']:.1%} of the validation "
            f"reconstructions (in {quality['original_accuracy']:.1%} of the "
            "originals)")
        if "classes_covered" in quality:
            lines.append(
                f"  {quality['classes_covered']} of "
                f"{len(quality['class_shares'])} classes covered by the "
                "prior samples "
                f"(>= 2% of them each); largest share "
                f"{quality['largest_share']:.1%}, digit FID "
                f"{quality['frechet_distance']:.1f}")
    return "\n".join(lines)
