"""The command line: `python -m keras_ae <command> [options]`.

Commands (one module each):
    train     train an autoencoder and write its run (the main job)
    export    export a saved model or a preset as a SavedModel for TF Serving
    convert   convert a saved model to TensorFlow Lite
    evaluate  evaluate a saved model or a preset on its applications
    apply     apply a preset to your own images or series

Every command checks its arguments before writing anything; a bad argument
(a damaged file, a run another process is writing, a training that
diverged) ends the command with one line on stderr and exit code 2.
TensorFlow's own log lines are shown only with `--verbose` (or
`KERAS_AE_VERBOSE=1`): see `keras_ae._terminal`.
"""

import argparse
import sys
import warnings

from keras_ae.cli import apply
from keras_ae.cli import convert
from keras_ae.cli import evaluate
from keras_ae.cli import export
from keras_ae.cli import train
from keras_ae.io import LockedError
from keras_ae.version import __version__

__all__ = ["main", "build_parser"]

COMMANDS = (train, export, convert, evaluate, apply)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser():
    parser = _Parser(prog="keras_ae", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version",
                        version=f"keras_ae {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's own log lines (or set "
                        "KERAS_AE_VERBOSE=1)")
    subparsers = parser.add_subparsers(dest="command", required=True,
                                       parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def _one_line_warnings(message, category, filename, lineno, line=None):
    if "keras_ae" in filename:
        return f"Warning: {message}\n"
    return _default_formatwarning(message, category, filename, lineno, line)


_default_formatwarning = warnings.formatwarning


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    # keras_ae's own warnings read as one line, like its errors.
    warnings.formatwarning = _one_line_warnings
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
            IsADirectoryError, PermissionError, ConnectionError,
            LockedError) as error:
        message = str(error).splitlines()[0] if str(error) else repr(error)
        sys.stderr.write(f"keras_ae {args.command}: error: {message}\n")
        return 2
    return 0
