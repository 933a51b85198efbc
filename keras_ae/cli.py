"""The command line: `python -m keras_ae <command> [options]`.

Commands:
    train     train an autoencoder and write its run (the main job)
    export    export a saved `.keras` model as a SavedModel for TF Serving
    convert   convert a saved `.keras` model to TensorFlow Lite
    evaluate  evaluate a saved model on its applications

Every command checks its arguments before writing anything; a bad argument
ends the command with one line on stderr and exit code 2.
"""

import argparse
import inspect
import json
import os
import sys

from keras_ae import evaluation
from keras_ae import export
from keras_ae.export import export_utils


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def signature_defaults(function):
    """`{parameter: default}` of `function`: the command line's defaults.

    Every default of a command is read from the function the command calls,
    so that it is written once.
    """
    return {name: parameter.default
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.default is not inspect.Parameter.empty}


def _code_shape(text):
    """`--latent-dim`: `16` (a vector code) or `7,7,4` (a feature map)."""
    values = tuple(int(v) for v in text.split(","))
    return values[0] if len(values) == 1 else values


_code_shape.__name__ = "latent_dim"  # argparse names it in its errors


def _add_train(subparsers):
    from keras_ae import training
    from keras_ae.data import EMBEDDED_DATASETS
    from keras_ae.data import STANDARD_DATASETS
    from keras_ae.distribute import DISTRIBUTION_STRATEGIES
    from keras_ae.losses import RECONSTRUCTION_LOSSES
    from keras_ae.registry import list_autoencoders

    defaults = signature_defaults(training.train)
    parser = subparsers.add_parser(
        "train", help="train an autoencoder and write its run",
        description="Train an autoencoder and write its run directory: the "
        ".keras model, the history, figures, TensorBoard logs, a SavedModel "
        "for TF Serving and a TensorFlow Lite model. The defaults train on "
        "the embedded MNIST digits (offline).",
    )
    parser.set_defaults(run=_run_train, **{
        name: value for name, value in defaults.items()
        if name not in ("family_options", "verbose")})

    def add(flag, help, **kwargs):
        dest = kwargs.pop("dest", flag.lstrip("-").replace("-", "_"))
        parser.add_argument(flag, dest=dest, default=defaults[dest],
                            help=f"{help} (default: %(default)s)", **kwargs)

    add("--family", "architecture family", choices=list_autoencoders())
    add("--variational", "train a variational autoencoder; --no-variational "
        "trains a plain autoencoder", action=argparse.BooleanOptionalAction)
    add("--latent-dim", "size of the code, or height,width,channels of a "
        "feature-map code (families that take one); 2 also draws the latent "
        "plane", type=_code_shape)
    add("--epochs", "number of epochs", type=int)
    add("--batch-size", "global batch size", type=int)
    add("--loss", "reconstruction loss, summed over the features of each "
        "example", dest="reconstruction_loss", choices=RECONSTRUCTION_LOSSES)
    add("--beta", "weight of the KL term of a VAE; 1 is the ELBO, other "
        "values give a beta-VAE", type=float)
    add("--learning-rate", "Adam's (initial) learning rate", type=float)
    for name, help in (
        ("kl_warmup_epochs", "epochs over which the KL term of a VAE reaches "
         "its full weight; 0: none"),
        ("cosine_decay", "decay the learning rate along a half cosine"),
        ("restore_best_weights", "end with the weights of the epoch with the "
         "lowest val_loss"),
        ("judge", "score the reconstructions and samples with a reference "
         "classifier (quality.json)"),
    ):
        if name in defaults:
            kind = ({"action": argparse.BooleanOptionalAction}
                    if isinstance(defaults[name], bool) else {"type": int})
            add("--" + name.replace("_", "-"), help, **kind)
    add("--dataset", f"{', '.join(map(repr, EMBEDDED_DATASETS))} (MNIST digits "
        f"shipped in a package, offline), "
        f"{', '.join(map(repr, STANDARD_DATASETS))} or any TFDS image dataset "
        "(downloaded by TFDS on first use)")
    add("--output-dir", "directory that holds the runs")
    add("--run-name", "name of the run directory, by default "
        "<family>_<ae|vae>_<timestamp>; an existing run is never overwritten")
    add("--seed", "seed of the weights, shuffles and sampling", type=int)
    add("--distribute", "tf.distribute strategy: 'mirrored' trains on all "
        "local GPUs, 'multi-worker' across the machines of TF_CONFIG",
        choices=DISTRIBUTION_STRATEGIES)
    add("--resume", "continue the unfinished run --run-name from its last "
        "completed epoch (weights, optimizer state and epoch counter)",
        action="store_true")
    add("--export", "write the SavedModel and TensorFlow Lite model; "
        "--no-export skips them", action=argparse.BooleanOptionalAction)
    parser.add_argument("--option", action="append", default=[],
                        metavar="NAME=JSON",
                        help="a family option, e.g. --option 'filters=[32, 64]' "
                        "(repeatable; keras_ae.family_options(family) lists "
                        "them with their defaults)")
    return parser


def _parse_options(pairs):
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(
                f"`--option` must be NAME=JSON. Received: --option {pair!r}")
        try:
            options[name] = json.loads(value)
        except json.JSONDecodeError:
            options[name] = value
        if isinstance(options[name], list):
            options[name] = tuple(options[name])
    return options


def _run_train(args):
    from keras_ae import training

    arguments = {name: getattr(args, name)
                 for name in signature_defaults(training.train)
                 if hasattr(args, name)}
    arguments["family_options"] = _parse_options(args.option)
    print(training.summarize(training.train(**arguments)))


# --- export and convert ------------------------------------------------------


def _add_export_commands(subparsers):
    """Adds the `export` and `convert` commands to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "export", help="export a saved .keras model as a SavedModel for TF "
        "Serving",
        description="Export a saved .keras autoencoder as a SavedModel in TF "
        "Serving's versioned layout, <base-dir>/<name>/<version>/, with the "
        "signatures serving_default, encode and decode, and (re)write "
        "<base-dir>/models.config.",
    )
    parser.add_argument("model", help="path of the .keras model")
    parser.add_argument("--base-dir", default="saved_models",
                        help="directory of the served models (default: "
                        "%(default)s)")
    parser.add_argument("--name", default=None,
                        help="model name in TF Serving (default: the model "
                        "file's stem)")
    parser.add_argument("--version", type=int, default=None,
                        help="integer version; an existing one is refused "
                        "(default: the next free version)")
    parser.set_defaults(run=_run_export)

    parser = subparsers.add_parser(
        "convert", help="convert a saved model to TensorFlow Lite",
        description="Convert a .keras autoencoder or a SavedModel directory "
        "to a TensorFlow Lite model with builtin ops only. int8 calibrates "
        "on the embedded digits.",
    )
    parser.add_argument("model", help="path of the .keras model or of a "
                        "SavedModel directory")
    parser.add_argument("--quantization", default="none",
                        choices=[q or "none" for q in export.QUANTIZATIONS],
                        help="weight/activation quantization (default: "
                        "%(default)s)")
    parser.add_argument("--signature", default="serving_default",
                        choices=export.SIGNATURES,
                        help="signature to convert (default: %(default)s)")
    parser.add_argument("--output", default=None,
                        help="path of the .tflite file; never overwritten "
                        "(default: next to the model, "
                        "<stem>[_<quantization>].tflite)")
    parser.set_defaults(run=_run_convert)


def _run_export(args):
    path = os.fspath(args.model)
    name = args.name if args.name is not None else _stem(path)
    # Check the cheap arguments and the target before loading the model.
    export_utils.check_name(name)
    export_utils.check_version(args.version)
    export_utils.check_writable_directory("--base-dir", args.base_dir)
    model = export.load_keras_model(path)
    target = export.export_saved_model(model, args.base_dir, name,
                                       version=args.version)
    print(f"SavedModel written to {target} (signatures: "
          f"{', '.join(export.SIGNATURES)})")
    config = export.refresh_serving_config(args.base_dir)
    if config:
        print(f"TF Serving config written to {config}")
    else:
        print(f"{os.path.join(args.base_dir, export.SERVING_CONFIG)} was not "
              f"written by keras_ae; left unchanged: add model {name!r} to it "
              f"(base_path: \"{export.CONTAINER_MODEL_ROOT}/{name}\").")


def _run_convert(args):
    quantization = None if args.quantization == "none" else args.quantization
    path = os.fspath(args.model)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model at {path!r}. Received: model={path!r}")
    output = export_utils.check_new_file(
        "--output", args.output or default_tflite_path(path, quantization))
    source = path if os.path.isdir(path) else export.load_keras_model(path)
    representative_data = None
    if quantization == "int8":
        representative_data = _digits_for_calibration(source, args.signature)
    written = export.convert_to_tflite(
        source, signature=args.signature, quantization=quantization,
        representative_data=representative_data, output_path=output)
    print(f"TensorFlow Lite model written to {written} "
          f"({os.path.getsize(written)} bytes, quantization="
          f"{args.quantization}, signature={args.signature}, ops: "
          f"{', '.join(export.tflite_ops(written))})")


def default_tflite_path(model_path, quantization=None):
    """Returns `<stem>[_<quantization>].tflite` next to `model_path`.

    For a SavedModel version directory `<base>/<name>/<version>` the stem is
    `<name>_v<version>` and the file goes to `<base>/<name>/`.
    """
    path = os.path.normpath(os.fspath(model_path))
    parent, base = os.path.split(path)
    if os.path.isdir(path) and base.isdigit():
        stem = f"{os.path.basename(parent) or 'model'}_v{base}"
    else:
        stem = _stem(path)
    suffix = f"_{quantization}" if quantization else ""
    return os.path.join(parent, f"{stem}{suffix}.tflite")


def _stem(path):
    base = os.path.basename(os.path.normpath(path))
    return base[:-len(".keras")] if base.endswith(".keras") else base


def _digits_for_calibration(source, signature):
    from keras_ae.data import load_digits

    if isinstance(source, str):
        specs = export.saved_model_signature_specs(source).get(signature, {})
        shapes = [shape[1:] for shape in specs.values()]
    else:
        shape = (source.code_shape if signature == "decode"
                 else source.input_shape_)
        shapes = [tuple(shape)]
    (x_train, _), _ = load_digits()
    if shapes != [x_train.shape[1:]]:
        raise ValueError(
            "--quantization int8 calibrates on the embedded digits, of shape "
            f"{x_train.shape[1:]}, but signature {signature!r} takes inputs of "
            f"shape {shapes[0] if len(shapes) == 1 else shapes}. Convert from "
            "Python with convert_to_tflite(..., representative_data=...) and "
            "your own training inputs."
        )
    return x_train


def build_parser():
    parser = _Parser(prog="keras_ae", description=__doc__.split("\n\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True,
                                       parser_class=_Parser)
    _add_train(subparsers)
    _add_export_commands(subparsers)
    evaluation.add_commands(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
            IsADirectoryError, PermissionError, ConnectionError) as error:
        message = str(error).splitlines()[0] if str(error) else repr(error)
        sys.stderr.write(f"keras_ae {args.command}: error: {message}\n")
        return 2
    return 0
