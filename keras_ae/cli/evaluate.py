"""`keras_ae evaluate`: a saved model (or a preset) on its applications."""

import os

from keras_ae import presets
from keras_ae.checks import check_keras_file
from keras_ae.checks import check_output_dir
from keras_ae.checks import check_seed
from keras_ae.cli._flags import signature_defaults
from keras_ae.cli.summary import summarize_evaluation
from keras_ae.data import EMBEDDED_DATASETS
from keras_ae.data import load_dataset
from keras_ae.evaluation import evaluate_model
from keras_ae.export import load_keras_model
from keras_ae.io import read_json_file

__all__ = ["add_parser"]

# The flags of `evaluate_model`'s own arguments, with their help texts; the
# defaults are read from its signature.
_FLAGS = {
    "seed": ("seed of the corruptions, label subsets, samples and trained "
             "copies", int),
    "normal_class": ("class that is normal in anomaly detection", int),
    "anomaly_epochs": ("epochs of the copy trained on the normal class; 0 "
                       "skips anomaly detection", int),
    "fine_tune_steps": ("steps of the fine-tuned classifier; 0 skips it", int),
    "iw_samples": ("importance samples k of the IW-NLL of models with a "
                   "posterior", int),
    "max_likelihood_examples": ("test examples of the likelihood estimates",
                                int),
}


def add_parser(subparsers):
    defaults = signature_defaults(evaluate_model)
    parser = subparsers.add_parser(
        "evaluate", help="evaluate a saved model or a preset on its "
        "applications",
        description="Evaluate a saved .keras autoencoder (or a preset) on its "
        "applications (restoration, compression vs PCA, classification from "
        "the code, likelihood and generation, anomaly detection) and write "
        "metrics.json and figures. The held-out set is the validation split "
        "of the run (its dataset and seed are read from run_config.json next "
        "to the model when present).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("model", nargs="?", default=None,
                        help="path of a saved .keras model")
    source.add_argument("--preset", default=None, metavar="NAME",
                        help="a preset name or preset directory")
    parser.add_argument("--output-dir", default=None,
                        help="new directory for the results (default: "
                        "<model dir>/evaluation, or evaluation_<preset>); "
                        "never overwritten")
    parser.add_argument("--dataset", default=None,
                        help="dataset name (default: the run's dataset from "
                        f"run_config.json, else {EMBEDDED_DATASETS[0]!r})")
    for name, (help_text, kind) in _FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind,
                            default=defaults[name],
                            help=f"{help_text} (default: %(default)s)")
    parser.add_argument(
        "--labels-per-class", type=_labels_per_class,
        default=",".join("all" if n is None else str(n)
                         for n in defaults["labels_per_class"]),
        help="comma-separated label budgets of the classification task, "
        "'all' for every label (default: %(default)s)")
    parser.set_defaults(run=run_evaluate)
    return parser


def run_evaluate(args):
    seed = check_seed("seed", args.seed)
    if args.preset is not None:
        output_dir = args.output_dir or f"evaluation_{presets.preset_name(args.preset)}"
        model_dir = None
    else:
        check_keras_file("model", args.model)
        model_dir = os.path.dirname(args.model) or "."
        output_dir = args.output_dir or os.path.join(model_dir, "evaluation")
    check_output_dir("output_dir", output_dir, must_be_new=True)
    dataset, split_seed = args.dataset, seed
    config_path = model_dir and os.path.join(model_dir, "run_config.json")
    if config_path and os.path.exists(config_path):
        training = read_json_file("run_config.json", config_path)
        # The training settings sit under "training" (0.1.0: top level).
        training = training.get("training", training)
        dataset = dataset or training.get("data", training.get("dataset"))
        split_seed = training.get("seed", seed)
    elif model_dir:
        print("No run_config.json next to the model: the held-out split uses "
              f"--seed {seed}; it is held out only if training used the same.")
    dataset = dataset or EMBEDDED_DATASETS[0]
    if args.preset is not None:
        model = presets.from_preset(args.preset)
    else:
        model = load_keras_model(args.model, "model", compile=True)
    (x_train, y_train), (x_test, y_test) = load_dataset(dataset, seed=split_seed)
    result = evaluate_model(
        model, x_train, y_train, x_test, y_test, output_dir, seed=seed,
        normal_class=args.normal_class, anomaly_epochs=args.anomaly_epochs,
        fine_tune_steps=args.fine_tune_steps,
        labels_per_class=args.labels_per_class, iw_samples=args.iw_samples,
        max_likelihood_examples=args.max_likelihood_examples)
    print(summarize_evaluation(result))


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
