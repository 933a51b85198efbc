"""Trains the digit judge that ships with keras_ae, and records how.

    python -m benchmarks.reference_classifier [--mnist-dir DIR] [--overwrite]

`keras_ae.evaluation.train_reference_classifier` on the embedded digits'
training split (`load_digits()`, seed 0), with its default settings, written
as `keras_ae/evaluation/reference_classifiers/digits.weights.h5` and
`digits.json`: the data's fingerprint (which decides when
`reference_classifier` uses it), the settings, its accuracy on the embedded
validation digits (and on the official MNIST test digits with
`--mnist-dir`), the weights' SHA-256 and the versions that trained it.
Existing files are replaced only with `--overwrite`, and nothing is written
before training has finished.
"""

import argparse
import os
import sys
import tempfile

from benchmarks import common

NAME = "digits"


def parse_args(argv=None):
    from keras_ae.evaluation.generation import REFERENCE_CLASSIFIERS_DIR

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reference_classifier",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default=REFERENCE_CLASSIFIERS_DIR,
                        help="where digits.weights.h5 and digits.json go "
                        "(default: the package's)")
    parser.add_argument("--mnist-dir", default=None,
                        help="the official MNIST test set (IDX files): its "
                        "accuracy is recorded too")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing classifier (default: refuse)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.output_dir):
        parser.error("--output-dir must be an existing directory. Received: "
                     f"{args.output_dir}")
    common.check_mnist_dir(parser, args.mnist_dir)
    stem = os.path.join(args.output_dir, NAME)
    args.paths = (stem + ".weights.h5", stem + ".json")
    existing = [p for p in args.paths if os.path.exists(p)]
    if existing and not args.overwrite:
        parser.error(f"{', '.join(existing)} exists; pass --overwrite to "
                     "replace it.")
    return args


def _accuracy(classifier, x, y):
    return float(classifier.evaluate(x, y, batch_size=512, verbose=0,
                                     return_dict=True)["accuracy"])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    import inspect

    from keras_ae.data import load_digits
    from keras_ae.data import load_idx
    from keras_ae.evaluation import data_fingerprint
    from keras_ae.evaluation import train_reference_classifier
    from keras_ae.io import file_sha256
    from keras_ae.io import place_atomically
    from keras_ae.io import write_json
    from keras_ae.presets import without_training_state

    (x_train, y_train), (x_val, y_val) = load_digits()
    defaults = {k: p.default for k, p in inspect.signature(
        train_reference_classifier).parameters.items()
        if k in ("epochs", "batch_size", "seed")}
    classifier = train_reference_classifier(x_train, y_train, **defaults)
    accuracy = {"embedded_validation": _accuracy(classifier, x_val, y_val)}
    if args.mnist_dir:
        accuracy["mnist_test"] = _accuracy(
            classifier, *load_idx(*common.find_mnist_files(args.mnist_dir)))
    weights_path, metadata_path = args.paths
    with tempfile.TemporaryDirectory(dir=args.output_dir) as staging:
        staged = os.path.join(staging, os.path.basename(weights_path))
        # The weights alone: the optimizer's moments would triple the file.
        without_training_state(classifier).save_weights(staged)
        metadata = {
            "name": NAME,
            "data": "the embedded digits' training split, "
                    "keras_ae.data.load_digits() with seed 0",
            "training_examples": len(x_train),
            "fingerprint": data_fingerprint(x_train, y_train),
            "input_shape": list(x_train.shape[1:]),
            "num_classes": int(y_train.max()) + 1,
            **defaults,
            "accuracy": accuracy,
            "weights_sha256": file_sha256(staged),
            "command": common.public_command("benchmarks.reference_classifier",
                                             argv),
            "date": common.now(),
            "machine": common.machine_description(),
        }
        place_atomically(staged, weights_path, overwrite=args.overwrite)
    write_json(metadata_path, metadata, overwrite=args.overwrite)
    print(f"Wrote {weights_path} and {metadata_path}: accuracy {accuracy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
