"""`keras_ae apply`: a preset on your own data (restore images, score series)."""

from keras_ae import presets
from keras_ae.presets.apply import restore_folder
from keras_ae.presets.apply import score_series_file

__all__ = ["add_parser"]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "apply", help="apply a preset to your own images or series",
        description="Apply a preset to your data without training: an image "
        "preset (e.g. conv_denoiser_digits) restores every image of a folder "
        "and writes the restored PNGs and a figure; an anomaly preset (e.g. "
        "lstm_anomaly_ecg) scores each series of a CSV (one a row) and writes "
        "scores.csv, summary.json and a figure.")
    parser.add_argument("data", help="a folder of images, or a CSV of series")
    parser.add_argument("--preset", required=True, metavar="NAME",
                        help="a preset name (keras_ae.list_presets()) or "
                        "directory")
    parser.add_argument("--output-dir", required=True,
                        help="a new directory for the results; never "
                        "overwritten")
    parser.set_defaults(run=run_apply)
    return parser


def run_apply(args):
    model = presets.from_preset(args.preset)
    anomaly = presets.load_preset_metadata(
        presets.preset_path(args.preset)).get("anomaly")
    if anomaly is not None:
        result = score_series_file(model, args.data, args.output_dir, anomaly)
        print(f"{result['flagged']} of {result['series']} series flagged "
              f"(threshold {result['threshold']:.4g}); written to "
              f"{result['output_dir']}")
    else:
        result = restore_folder(model, args.data, args.output_dir)
        print(f"{result['images']} images restored; written to "
              f"{result['output_dir']}")
