"""Trains the presets that ship with keras_ae, measures their cards, writes them.

Run it from the repository root:

    python -m benchmarks.presets --overwrite            # every preset
    python -m benchmarks.presets --only conv_vae_digits --overwrite
    python -m benchmarks.presets --mnist-dir DIR ...     # cards also give the
                                                         # official test figures

Each preset is trained from the embedded digits (or, for the anomaly
detector, sktime's MIT-BIH ECG excerpt) by the zoo's recipe
(`keras_ae.recipes`), with the seed 0 and TensorFlow's deterministic ops,
then written in keras-hub's preset layout into `keras_ae/presets/<name>/`
(`config.json`, `model.weights.h5`, `metadata.json`, `README.md`, and the
extras a preset needs). Its card's figures are measured here by `measure`,
on the 1,000 embedded validation digits (which chose the best epoch when
the recipe restores one: the card says so) and, with `--mnist-dir`, on the
10,000 official test digits; `tests/test_presets.py` loads every preset in a
fresh process and recomputes the validation figures with the same function,
failing when one drifts beyond the tolerance recorded beside it.
"""

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from benchmarks import common
from keras_ae import presets
from keras_ae import recipes
from keras_ae.corruptions import GaussianNoise
from keras_ae.corruptions import Occlusion
from keras_ae.data import load_digits
from keras_ae.data import load_idx
from keras_ae.data import load_training_data
from keras_ae.data import make_dataset
from keras_ae.evaluation import compare_with_pca
from keras_ae.evaluation import evaluate_anomaly_detection
from keras_ae.evaluation import evaluate_generation
from keras_ae.evaluation import evaluate_restoration
from keras_ae.evaluation import fine_tune_classifier
from keras_ae.evaluation import importance_weighted_nll
from keras_ae.evaluation import negative_elbo
from keras_ae.evaluation import psnr_ssim
from keras_ae.evaluation import reconstruction_agreement
from keras_ae.evaluation import stratified_subset
from keras_ae.evaluation import reference_classifier
from keras_ae.evaluation.timeseries import make_mitdb_task
from keras_ae.samplers import SAMPLER_FILE
from keras_ae.samplers import load_sampler
from keras_ae.training import train

PRESETS_DIR = presets.PRESETS_DIR
# How far a recomputed figure may drift from its card: the same code on the
# same weights gives the same figure up to float rounding across machines;
# figures judged by the reference classifier vary with its weights (the
# cards' were judged by a classifier trained when each preset was made, the
# shipped judge was trained on another machine).
EXACT = {"absolute": 1e-3, "relative": 1e-3}
JUDGED = {"absolute": 0.02, "relative": 0.15}


@dataclasses.dataclass(frozen=True)
class Plan:
    """How one preset is made: its recipe, what it is for, how it is measured."""

    name: str
    recipe: str
    # generator, sampled_generator, discrete_generator,
    # conditional_generator, denoiser, inpainter, classifier, compression,
    # series_anomaly
    kind: str
    description: str
    application: str
    extra: dict = dataclasses.field(default_factory=dict)


PLANS = {plan.name: plan for plan in (
    Plan("conv_vae_digits", "conv_vae_digits", "generator",
         "Conv VAE, latent 16, trained on the embedded digits: the main job.",
         "generation"),
    Plan("conv_rae_gmm_digits", "conv_rae_digits", "sampled_generator",
         "Conv RAE, latent 16, with a 10-component Gaussian mixture of its "
         "codes as `model.sampler`: the zoo's best digit generator.",
         "generation"),
    Plan("conv_vq_vae_digits", "conv_vq_vae_digits", "discrete_generator",
         "Conv VQ-VAE (7x7 map of codes from 64) with its PixelCNN prior: "
         "`sample(n)` decodes index grids drawn from the prior.",
         "generation"),
    Plan("conv_cvae_digits", "conv_cvae_digits", "conditional_generator",
         "Conditional conv VAE, latent 16: `sample(n, labels=...)` draws the "
         "asked digits.", "conditional generation"),
    Plan("conv_denoiser_digits", "conv_denoiser_digits", "denoiser",
         "Conv AE with a 7x7x16 feature-map code that removes Gaussian noise "
         "(sigma 0.5) from digits.", "noise removal"),
    Plan("conv_inpainter_digits", "conv_inpainter_digits", "inpainter",
         "Conv AE with a 7x7x16 feature-map code that fills a 10x10 occluding "
         "square in digits.", "occlusion removal"),
    Plan("conv_classifier_digits", "conv_ae_digits", "classifier",
         "Digit classifier fine-tuned from a conv AE's encoder with 100 labels "
         "a class (1,000 labelled digits of the 4,000).", "classification",
         {"labels_per_class": 100}),
    Plan("lstm_ae_digits", "lstm_ae_digits", "compression",
         "Bidirectional LSTM AE, latent 16, reading digits as 28 rows.",
         "dimensionality reduction"),
    Plan("transformer_ae_digits", "transformer_ae_digits", "compression",
         "Transformer AE over 7x7 patches, latent 16.",
         "dimensionality reduction"),
    Plan("lstm_anomaly_ecg", "lstm_anomaly_ecg", "series_anomaly",
         "LSTM AE that scores windows of an ECG (sktime's MIT-BIH excerpt) "
         "for anomalies by their reconstruction error.", "anomaly detection"),
)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.presets",
        description="Train the presets that ship with keras_ae and write them "
        "with their measured model cards.")
    parser.add_argument("--only", nargs="+", choices=sorted(PLANS),
                        default=sorted(PLANS), help="presets to make")
    parser.add_argument("--output-dir", default=PRESETS_DIR,
                        help="where the preset directories go (default: the "
                        "package's keras_ae/presets)")
    parser.add_argument("--mnist-dir", default=None,
                        help="the official MNIST test set (IDX files): the "
                        "cards also give its figures")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the recipes' epochs (for a quick "
                        "check; such presets are not to be shipped)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing preset directories")
    parser.add_argument("--summary-only", action="store_true",
                        help="only rewrite benchmarks/results/presets.md from "
                        "the presets in the package")
    return parser.parse_args(argv)


# --- Measuring ----------------------------------------------------------------


_CLASSIFIERS = {}


def judge_of(x_train, y_train, seed=0):
    """The digit judge (the shipped one for the embedded digits), once per process."""
    key = (len(x_train), seed)
    if key not in _CLASSIFIERS:
        _CLASSIFIERS[key] = reference_classifier(x_train, y_train, seed=seed)
    return _CLASSIFIERS[key]


def measure(plan, model, metadata=None, held_out=None, seed=0):
    """The card's figures of a preset's model: `({name: value}, {name: tolerance})`.

    Args:
        plan: the preset's `Plan` (or its name).
        model: what `keras_ae.from_preset` returns for it.
        metadata: the preset's metadata (the anomaly detector's threshold and
            windows live there), or `None` while the preset is made.
        held_out: `(x, y)` to measure on, or `None` for the embedded
            validation digits.
        seed: int, seed of the corruptions and the samples.
    """
    plan = PLANS[plan] if isinstance(plan, str) else plan
    (x_train, y_train), (x_val, y_val) = load_digits()
    x, y = held_out if held_out is not None else (x_val, y_val)
    figures, tolerances = {}, {}

    def put(name, value, tolerance=EXACT):
        figures[name] = float(value)
        tolerances[name] = tolerance

    if plan.kind in ("generator", "sampled_generator", "discrete_generator"):
        # What each kind adds, then what every generator is judged by.
        if plan.kind == "generator":
            subset = x[:1000]
            put("negative_elbo",
                negative_elbo(model, subset, seed=seed)["negative_elbo"])
            put("iw_nll_k100", importance_weighted_nll(model, subset, k=100,
                                                       seed=seed)["iw_nll"])
        elif plan.kind == "discrete_generator":
            put("reconstruction_psnr",
                psnr_ssim(x, model.reconstruct(x))["psnr"])
            put("codebook_in_use", len(np.unique(model.encode_indices(x)))
                / model.quantizer.num_embeddings)
        judge = judge_of(x_train, y_train)
        put("reconstruction_agreement",
            reconstruction_agreement(model, judge, x, y)["reconstruction_agreement"],
            JUDGED)
        generator = model.sampler if plan.kind == "sampled_generator" else model
        generation = evaluate_generation(generator, judge, x, num_samples=1000,
                                         seed=seed)
        put("digit_fid", generation["frechet_distance"], JUDGED)
        put("classes_covered", generation["classes_covered"], {"absolute": 1})
    elif plan.kind == "conditional_generator":
        judge = judge_of(x_train, y_train)
        asked = np.repeat(np.arange(10), 100)
        seen = np.argmax(judge.predict(model.sample(len(asked), labels=asked,
                                                    seed=seed), verbose=0), 1)
        per_class = [np.mean(seen[asked == c] == c) for c in range(10)]
        put("asked_class_recognised", np.mean(per_class), JUDGED)
        put("worst_class_recognised", np.min(per_class), JUDGED)
        put("reconstruction_agreement",
            reconstruction_agreement(model, judge, x, y)["reconstruction_agreement"],
            JUDGED)
        generation = evaluate_generation(model, judge, x, num_samples=1000,
                                         seed=seed)
        put("digit_fid", generation["frechet_distance"], JUDGED)
    elif plan.kind in ("denoiser", "inpainter"):
        corruption = (GaussianNoise(0.5) if plan.kind == "denoiser"
                      else Occlusion((10, 10)))
        result = evaluate_restoration(model, x, corruption, seed=seed)
        put("corrupted_psnr", result["corrupted_psnr"])
        put("restored_psnr", result["restored_psnr"])
        put("restored_ssim", result["restored_ssim"])
        if "inpainted_psnr" in result:
            put("inpainted_psnr", result["inpainted_psnr"])
    elif plan.kind == "classifier":
        predicted = np.argmax(model.predict(x, verbose=0, batch_size=256), axis=1)
        put("accuracy", np.mean(predicted == y))
    elif plan.kind == "compression":
        result = compare_with_pca(model, x_train, x)
        put("mse_per_pixel", result["ae_mse"])
        put("pca_mse_per_pixel", result["pca_mse"])
    elif plan.kind == "series_anomaly":
        task = make_mitdb_task()
        result = evaluate_anomaly_detection(model, task["x_train"], task["x_test"],
                                            task["y_test"])
        put("roc_auc", result["roc_auc"])
        put("pca_roc_auc", result["pca_roc_auc"])
        put("precision", result["precision"])
        put("recall", result["recall"])
        if metadata is None:
            figures["threshold"] = float(result["threshold"])
    return figures, tolerances


# --- Training -------------------------------------------------------------------


def train_preset(plan, work_dir, epochs=None):
    """Trains the model of `plan`; returns `(model, extras, info)`."""
    recipe = recipes.get_recipe(plan.recipe)
    training = recipe.training.replace(export=False, judge=False)
    if epochs is not None:
        training = training.replace(epochs=epochs, kl_warmup_epochs=min(
            training.kl_warmup_epochs, max(0, epochs - 1)))
    start = time.perf_counter()
    if plan.kind == "series_anomaly":
        model = _train_series_model(recipe, training)
        info = {"data": "sktime's MIT-BIH ECG excerpt (mitdb.csv): windows "
                "of the normal first part"}
    else:
        result = train(recipe.model, training, work_dir, plan.name,
                       verbose=2)
        model = keras.saving.load_model(result["artefacts"]["model"])
        if plan.kind == "sampled_generator":
            # The Gaussian mixture the run fitted to the training codes.
            model.sampler = load_sampler(
                os.path.join(work_dir, plan.name, SAMPLER_FILE), model)
        info = {"data": "the embedded digits (4,000 training, 1,000 "
                "validation; seed 0)", "best_epoch": result["best_epoch"],
                "epochs": result["epochs"]}
    extras = {}
    if plan.kind == "classifier":
        data = load_training_data(training)
        x, y = data["train"]
        index = stratified_subset(y, plan.extra["labels_per_class"], seed=0)
        classifier = fine_tune_classifier(model, x[index], y[index], seed=0,
                                          verbose=2)
        extras["classifier"] = classifier
    info["training_seconds"] = round(time.perf_counter() - start, 1)
    info["recipe"] = {"name": recipe.name, "model": recipe.model.to_dict(),
                      "training": training.to_dict()}
    return model, extras, info


def _train_series_model(recipe, training):
    task = make_mitdb_task()
    keras.utils.set_random_seed(training.seed)
    model = recipe.model.spec(task["x_train"].shape[1:]).build()
    model.compile(optimizer=keras.optimizers.Adam(training.learning_rate))
    model.fit(make_dataset(task["x_train"], batch_size=training.batch_size,
                           seed=training.seed),
              epochs=training.epochs, verbose=2, shuffle=False)
    return model


# --- Writing ----------------------------------------------------------------------


def write_preset(plan, model, extras, info, figures, tolerances, test_figures,
                 directory, command):
    """Writes the preset directory with its metadata and model card."""
    payload = {}
    staged = tempfile.mkdtemp(prefix=f".{plan.name}-", dir=os.path.dirname(directory))
    os.rmdir(staged)
    metadata = {"figures": figures, "tolerances": tolerances,
                "test_figures": test_figures, "command": command,
                "machine": common.machine_description(), **info}
    if plan.kind == "series_anomaly":
        task = make_mitdb_task()
        metadata["anomaly"] = {"window": task["window"], "stride": task["stride"],
                               "scale": task["scale"],
                               "threshold": figures.pop("threshold")}
        tolerances.pop("threshold", None)
    card = _card(plan, metadata)
    presets.save_to_preset(model, staged, description=plan.description,
                           application=plan.application, card=card, **metadata)
    if plan.kind == "sampled_generator":
        payload["sampler"] = os.path.basename(
            model.sampler.save(os.path.join(staged, SAMPLER_FILE)))
    if "classifier" in extras:
        path = os.path.join(staged, "classifier.keras")
        presets.without_training_state(extras["classifier"]).save(path)
        payload["classifier"] = "classifier.keras"
    if payload:
        meta = presets.load_preset_metadata(staged)
        meta["extras"] = payload
        meta["files_sha256"] = {name: presets.file_sha256(os.path.join(staged, name))
                                for name in payload.values()}
        os.remove(os.path.join(staged, presets.METADATA_FILE))
        presets.write_json(os.path.join(staged, presets.METADATA_FILE), meta)
    if os.path.exists(directory):
        shutil.rmtree(directory)
    os.rename(staged, directory)
    return directory


def _card(plan, metadata):
    recipe = metadata["recipe"]
    lines = [f"# {plan.name}", "", plan.description, "",
             "## How it was made", "",
             f"- Data: {metadata['data']}.",
             f"- Recipe: `{recipe['name']}` (`python -m keras_ae train --recipe "
             f"{recipe['name']}` trains the same model).",
             f"- Command: `{metadata['command']}`.",
             f"- Training time: {metadata['training_seconds']} s on "
             f"{metadata['machine']['cpu']} ({metadata['machine']['usable_cpus']} "
             "usable CPUs; times on a shared machine vary about 2x from day to "
             "day).", ""]
    if "best_epoch" in metadata:
        lines += [f"- Weights of epoch {metadata['best_epoch']} of "
                  f"{metadata['epochs']}, the lowest validation loss: the "
                  "validation figures below chose that epoch; the official "
                  "test figures did not.", ""]
    lines += ["## Figures", "",
              "Measured by `benchmarks.presets.measure`; `tests/test_presets.py` "
              "recomputes the validation figures from the shipped files and "
              "fails beyond the tolerance.", "",
              "| figure | embedded validation | official MNIST test | tolerance |",
              "|---|---:|---:|---|"]
    for name, value in metadata["figures"].items():
        test = metadata["test_figures"].get(name)
        tolerance = metadata["tolerances"][name]
        shown = ", ".join(f"{k} {v:g}" for k, v in tolerance.items())
        lines.append(f"| {name} | {value:.4g} | "
                     f"{'' if test is None else f'{test:.4g}'} | {shown} |")
    lines += ["", "## Use", "", "```python", "import keras_ae", "",
              f'model = keras_ae.from_preset("{plan.name}")', "```", ""]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    tf.config.experimental.enable_op_determinism()
    command = common.public_command("benchmarks.presets",
                                    sys.argv[1:] if argv is None else argv)
    if args.summary_only:
        write_summary(command, args)
        return 0
    for name in args.only:
        directory = os.path.join(args.output_dir, name)
        if os.path.exists(directory) and not args.overwrite:
            raise SystemExit(f"{directory} exists; pass --overwrite to replace it")
    os.makedirs(args.output_dir, exist_ok=True)
    test_set = None
    if args.mnist_dir:
        test_set = load_idx(*common.find_mnist_files(args.mnist_dir))
    with tempfile.TemporaryDirectory(prefix="keras_ae-presets-") as work_dir:
        for name in args.only:
            plan = PLANS[name]
            print(f"--- {name}", flush=True)
            model, extras, info = train_preset(plan, work_dir, args.epochs)
            measured = extras.get("classifier", model)
            figures, tolerances = measure(plan, measured)
            test_figures = {}
            if test_set is not None and plan.kind != "series_anomaly":
                test_figures, _ = measure(plan, measured, held_out=test_set)
            directory = write_preset(plan, model, extras, info, figures,
                                     tolerances, test_figures,
                                     os.path.join(args.output_dir, name),
                                     command)
            print(f"{name}: {figures} -> {directory}", flush=True)
    write_summary(command, args)
    return 0


def repack(name):
    """Rewrites a preset's files without training state (no optimizer).

    For presets written before `save_to_preset` dropped the optimizer: the
    weights are the same, the metadata's hashes are updated.
    """
    path = presets.preset_path(name)
    model = presets.from_preset(path)
    meta = presets.load_preset_metadata(path)
    if "classifier" in meta.get("extras", {}):
        inner = keras.saving.load_model(os.path.join(path, "classifier.keras"))
        os.remove(os.path.join(path, "classifier.keras"))
        presets.without_training_state(inner).save(os.path.join(path, "classifier.keras"))
        meta["files_sha256"]["classifier.keras"] = presets.file_sha256(
            os.path.join(path, "classifier.keras"))
        config = presets.read_json_file(presets.CONFIG_FILE,
                                        os.path.join(path, presets.CONFIG_FILE))
        model = keras.saving.deserialize_keras_object(config)
        model.load_weights(os.path.join(path, presets.WEIGHTS_FILE))
    model = presets.without_training_state(model)
    os.remove(os.path.join(path, presets.WEIGHTS_FILE))
    model.save_weights(os.path.join(path, presets.WEIGHTS_FILE))
    meta["weights_sha256"] = presets.file_sha256(os.path.join(path, presets.WEIGHTS_FILE))
    os.remove(os.path.join(path, presets.CONFIG_FILE))
    presets.write_json(os.path.join(path, presets.CONFIG_FILE),
                       keras.saving.serialize_keras_object(model))
    os.remove(os.path.join(path, presets.METADATA_FILE))
    presets.write_json(os.path.join(path, presets.METADATA_FILE), meta)


def write_summary(command, args):
    """Writes `benchmarks/results/presets.{md,json}`: every shipped preset's card."""
    rows = []
    for info in presets.list_presets():
        meta = presets.load_preset_metadata(info.path)
        size = sum(os.path.getsize(os.path.join(info.path, f))
                   for f in os.listdir(info.path))
        rows.append({"name": info.name, "family": info.family,
                     "objective": info.objective,
                     "application": info.application, "bytes": size,
                     "parameters": meta["parameter_count"],
                     "training_seconds": meta["training_seconds"],
                     "figures": meta["figures"],
                     "test_figures": meta.get("test_figures", {}),
                     "date": meta["date"], "keras_ae_version": meta["keras_ae_version"]})
    report = {"command": command, "date": common.now(),
              "machine": common.machine_description(), "presets": rows,
              "total_bytes": sum(r["bytes"] for r in rows)}
    lines = ["# Presets", "", *common.header_lines(report), "",
             f"{len(rows)} presets, {report['total_bytes'] / 2**20:.1f} MiB in "
             "the package (float32 weights). Figures on the 1,000 embedded "
             "validation digits (the ECG detector: its test windows); the "
             "official MNIST test figures, where measured, in parentheses. "
             "Training time of each preset on the machine above, which others "
             "shared while it ran: compare within the table only.", "",
             "| preset | family | objective | application | size (MiB) | "
             "parameters | training (s) | figures |",
             "|---|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        shown = "; ".join(
            f"{k} {v:.4g}" + (f" ({r['test_figures'][k]:.4g})"
                              if k in r["test_figures"] else "")
            for k, v in r["figures"].items())
        lines.append(f"| `{r['name']}` | {r['family']} | {r['objective']} | "
                     f"{r['application']} | {r['bytes'] / 2**20:.2f} | "
                     f"{r['parameters']:,} | {r['training_seconds']:.0f} | "
                     f"{shown} |")
    paths = {"json": os.path.join(common.DEFAULT_OUTPUT_DIR, "presets.json"),
             "md": os.path.join(common.DEFAULT_OUTPUT_DIR, "presets.md")}
    common.write_results(paths, report, "\n".join(lines) + "\n", overwrite=True)
    return paths


if __name__ == "__main__":
    raise SystemExit(main())
