"""A quiet terminal for the command line: TensorFlow's own lines only with `--verbose`.

TensorFlow 2.21 prints start-up lines from C++ straight to file descriptor
2 (absl's "All log messages before absl::InitializeLog()", oneDNN, "Could
not find cuda drivers", "failed call to cuInit"), and so do its SavedModel
loader and the TensorFlow Lite converter; `TF_CPP_MIN_LOG_LEVEL` does not
silence them all, and they come before Python logging exists. When the
process was launched as the command line (`python -m keras_ae ...` or the
`keras-ae` script) and is not verbose (`--verbose`, or the environment
variable `KERAS_AE_VERBOSE=1`), `quiet_if_command_line`, called by the
package before it imports TensorFlow, sends file descriptor 2 to a capture
file for the life of the process, points Python's `sys.stderr` at the real
stderr, so that keras_ae's own errors, Python's warnings and tracebacks
still reach the user, and sets the `tensorflow` and `absl` Python loggers to
ERROR. The capture file is deleted at exit; after an unexpected error
(a traceback) it is kept, and named, since it may hold the cause.

This module imports nothing but the standard library: it runs first.
"""

import atexit
import faulthandler
import logging
import os
import sys
import tempfile

__all__ = ["VERBOSE_ENV", "captured_log", "launched_as_command_line",
           "quiet_if_command_line"]

VERBOSE_ENV = "KERAS_AE_VERBOSE"
_SCRIPTS = ("keras-ae", "keras_ae")
# Interpreter options that take a value (`python -X dev -m keras_ae`).
_VALUED_OPTIONS = ("-X", "-W", "-c")

_capture = {"path": None, "failed": False}


def launched_as_command_line(argv=None):
    """Whether the interpreter runs `-m keras_ae` or the `keras-ae` script.

    Args:
        argv: the interpreter's own arguments, `sys.orig_argv` by default.
    """
    argv = list(getattr(sys, "orig_argv", []) if argv is None else argv)
    arguments = iter(argv[1:])
    for argument in arguments:
        if argument == "-m":
            return next(arguments, None) == "keras_ae"
        if argument in _VALUED_OPTIONS:
            next(arguments, None)
        elif not argument.startswith("-"):
            return os.path.basename(argument) in _SCRIPTS
    return False


def _verbose():
    return (os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0")
            or "--verbose" in sys.argv[1:])


def quiet_if_command_line():
    """Captures file descriptor 2 when the command line runs and is not verbose.

    Returns:
        Whether it did.
    """
    if (_capture["path"] is not None or not launched_as_command_line()
            or _verbose()):
        return False
    try:
        sys.stderr.flush()
        real = os.dup(2)
        descriptor, path = tempfile.mkstemp(prefix="keras_ae-stderr-",
                                            suffix=".log")
    except OSError:
        return False
    os.dup2(descriptor, 2)
    os.close(descriptor)
    sys.stderr = os.fdopen(real, "w", buffering=1, errors="backslashreplace")
    # A crash in C++ still shows where Python was.
    faulthandler.enable(sys.stderr)
    _capture["path"] = path
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    hook = sys.excepthook

    def excepthook(kind, value, traceback):
        _capture["failed"] = True
        hook(kind, value, traceback)
        sys.stderr.write(f"(TensorFlow's own log lines of this run are in "
                         f"{path}; run with --verbose to see them)\n")

    sys.excepthook = excepthook
    atexit.register(_remove_capture)
    return True


def captured_log():
    """The path of this process's capture file, or `None` when there is none."""
    return _capture["path"]


def _remove_capture():
    if _capture["path"] and not _capture["failed"]:
        try:
            os.remove(_capture["path"])
        except OSError:
            pass
