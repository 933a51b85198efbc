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
import json
import sys

from keras_ae import evaluation
from keras_ae import export


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _add_train(subparsers):
    from keras_ae.registry import list_autoencoders
    from keras_ae.distribute import DISTRIBUTION_STRATEGIES

    parser = subparsers.add_parser(
        "train", help="train an autoencoder and write its run",
        description="Train an autoencoder and write its run directory: the "
        ".keras model, the history, figures, TensorBoard logs, a SavedModel "
        "for TF Serving and a TensorFlow Lite model. The defaults train a "
        "convolutional VAE with a 2-D latent space on the embedded MNIST "
        "digits (offline).",
    )
    parser.add_argument("--family", default="conv", choices=list_autoencoders(),
                        help="architecture family (default: %(default)s)")
    parser.add_argument("--variational", default=True,
                        action=argparse.BooleanOptionalAction,
                        help="train a variational autoencoder; --no-variational "
                        "trains a plain autoencoder (default: VAE)")
    parser.add_argument("--latent-dim", type=int, default=2,
                        help="size of the code; 2 also draws the latent plane "
                        "(default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=40,
                        help="number of epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="global batch size (default: %(default)s)")
    parser.add_argument("--loss", default="bce", choices=("mse", "bce"),
                        help="reconstruction loss, summed over the features of "
                        "each example (default: %(default)s)")
    parser.add_argument("--beta", type=float, default=1.0,
                        help="weight of the KL term of a VAE; 1 is the ELBO, "
                        "other values give a beta-VAE (default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="Adam's learning rate (default: %(default)s)")
    parser.add_argument("--dataset", default="digits",
                        help="'digits' (5,000 real MNIST digits shipped in a "
                        "package, offline), 'mnist', 'fashion_mnist', 'cifar10' "
                        "or any TFDS image dataset (downloaded by TFDS) "
                        "(default: %(default)s)")
    parser.add_argument("--output-dir", default="saved_models",
                        help="directory that holds the runs (default: "
                        "%(default)s)")
    parser.add_argument("--run-name", default=None,
                        help="name of the run directory (default: "
                        "<family>_<ae|vae>_<timestamp>); an existing run is "
                        "never overwritten")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights, shuffles and sampling "
                        "(default: %(default)s)")
    parser.add_argument("--distribute", default="none",
                        choices=DISTRIBUTION_STRATEGIES,
                        help="tf.distribute strategy: 'mirrored' trains on all "
                        "local GPUs, 'multi-worker' across the machines of "
                        "TF_CONFIG (default: %(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the unfinished run --run-name from its "
                        "last completed epoch (weights, optimizer state and "
                        "epoch counter)")
    parser.add_argument("--no-export", dest="export", action="store_false",
                        help="skip the SavedModel and TensorFlow Lite export")
    parser.add_argument("--option", action="append", default=[],
                        metavar="NAME=JSON",
                        help="a family option, e.g. --option 'filters=[32, 64]' "
                        "(repeatable)")
    parser.set_defaults(run=_run_train)
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
    from keras_ae.training import summarize
    from keras_ae.training import train

    result = train(
        family=args.family, variational=args.variational,
        latent_dim=args.latent_dim, epochs=args.epochs,
        batch_size=args.batch_size, reconstruction_loss=args.loss,
        beta=args.beta, dataset=args.dataset, output_dir=args.output_dir,
        run_name=args.run_name, seed=args.seed,
        learning_rate=args.learning_rate, distribute=args.distribute,
        resume=args.resume, export=args.export,
        family_options=_parse_options(args.option),
    )
    print(summarize(result))


def build_parser():
    parser = _Parser(prog="keras_ae", description=__doc__.split("\n\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True,
                                       parser_class=_Parser)
    _add_train(subparsers)
    export.add_commands(subparsers)
    evaluation.add_commands(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        message = str(error).splitlines()[0] if str(error) else repr(error)
        sys.stderr.write(f"keras_ae {args.command}: error: {message}\n")
        return 2
    return 0
