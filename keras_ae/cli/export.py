"""`keras_ae export`: a saved model (or a preset) as a SavedModel for TF Serving."""

import os

from keras_ae import export
from keras_ae import presets
from keras_ae.checks import check_name
from keras_ae.checks import check_output_dir
from keras_ae.checks import check_version

__all__ = ["add_parser"]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export", help="export a saved model or a preset as a SavedModel for "
        "TF Serving",
        description="Export a saved .keras autoencoder, a run directory or a "
        "preset as a SavedModel in TF Serving's versioned layout, "
        "<base-dir>/<name>/<version>/, with its named signatures, and "
        "(re)write <base-dir>/models.config. With --preset, also write the "
        "float TensorFlow Lite model beside it.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("model", nargs="?", default=None,
                        help="path of the .keras model")
    source.add_argument("--preset", default=None, metavar="NAME",
                        help="a preset (keras_ae.list_presets()) or a preset "
                        "directory: exported without training")
    parser.add_argument("--base-dir", default="saved_models",
                        help="directory of the served models (default: "
                        "%(default)s)")
    parser.add_argument("--name", default=None,
                        help="model name in TF Serving (default: the model "
                        "file's stem, or the preset's name)")
    parser.add_argument("--version", type=int, default=None,
                        help="integer version; an existing one is refused "
                        "(default: the next free version)")
    parser.set_defaults(run=run_export)
    return parser


def run_export(args):
    if args.preset is not None:
        name = args.name if args.name is not None else presets.preset_name(
            args.preset)
    else:
        name = args.name if args.name is not None else stem(args.model)
    # Check the cheap arguments and the target before loading the model.
    check_name("name", name)
    check_version("version", args.version)
    check_output_dir("--base-dir", args.base_dir)
    if args.preset is not None:
        model = presets.from_preset(args.preset)
    else:
        model = export.load_keras_model(args.model)
    target = export.export_saved_model(model, args.base_dir, name,
                                       version=args.version)
    print(f"SavedModel written to {target} (signatures: "
          f"{', '.join(sorted(model.serving_signatures()))})")
    if args.preset is not None:
        tflite = export.convert_to_tflite(
            target, output_path=os.path.join(args.base_dir, name,
                                             f"{name}_v{os.path.basename(target)}.tflite"))
        print(f"TensorFlow Lite model written to {tflite}")
    config = export.refresh_serving_config(args.base_dir)
    if config:
        print(f"TF Serving config written to {config}")
    else:
        print(f"{os.path.join(args.base_dir, export.SERVING_CONFIG)} was not "
              f"written by keras_ae; left unchanged: add model {name!r} to it "
              f"(base_path: \"{export.CONTAINER_MODEL_ROOT}/{name}\").")


def stem(path):
    """The name of a model file without `.keras`."""
    base = os.path.basename(os.path.normpath(os.fspath(path)))
    return base[:-len(".keras")] if base.endswith(".keras") else base
