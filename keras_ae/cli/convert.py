"""`keras_ae convert`: a saved model to TensorFlow Lite, builtin ops only."""

import os

from keras_ae import export
from keras_ae.checks import check_new_file
from keras_ae.cli.export import stem
from keras_ae.data import load_digits

__all__ = ["add_parser"]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "convert", help="convert a saved model to TensorFlow Lite",
        description="Convert a .keras autoencoder or a SavedModel directory "
        "to a TensorFlow Lite model with builtin ops only. int8 calibrates "
        "on the embedded digits.")
    parser.add_argument("model", help="path of the .keras model or of a "
                        "SavedModel directory")
    parser.add_argument("--quantization", default="none",
                        choices=[q or "none" for q in export.QUANTIZATIONS],
                        help="weight/activation quantization (default: "
                        "%(default)s)")
    parser.add_argument("--signature", default="serving_default",
                        help="signature to convert (default: %(default)s)")
    parser.add_argument("--output", default=None,
                        help="path of the .tflite file; never overwritten "
                        "(default: next to the model, "
                        "<stem>[_<quantization>].tflite)")
    parser.set_defaults(run=run_convert)
    return parser


def run_convert(args):
    quantization = None if args.quantization == "none" else args.quantization
    path = os.fspath(args.model)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model at {path!r}. Received: model={path!r}")
    output = check_new_file(
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
        name = f"{os.path.basename(parent) or 'model'}_v{base}"
    else:
        name = stem(path)
    suffix = f"_{quantization}" if quantization else ""
    return os.path.join(parent, f"{name}{suffix}.tflite")


def _digits_for_calibration(source, signature):
    if isinstance(source, str):
        specs = export.saved_model_signature_specs(source).get(signature, {})
        shapes = [shape[1:] for shape in specs.values()]
    else:
        shapes = [tuple(spec.shape[1:]) for spec in
                  source.serving_signatures().get(signature, (None, []))[1]]
    (x_train, _), _ = load_digits()
    if shapes != [x_train.shape[1:]]:
        raise ValueError(
            "--quantization int8 calibrates on the embedded digits, of shape "
            f"{x_train.shape[1:]}, but signature {signature!r} takes inputs of "
            f"shape {shapes[0] if len(shapes) == 1 else shapes}. Convert from "
            "Python with convert_to_tflite(..., representative_data=...) and "
            "your own training inputs.")
    return x_train
