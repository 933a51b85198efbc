"""Runs Python code as `python -c` would, in a process forked from a warm one.

Importing TensorFlow costs a fresh interpreter about seven seconds of CPU;
the documentation's twenty-odd Python examples paid it once each. Here they
run in processes forked by a `multiprocessing` fork server that has imported
TensorFlow (and with it Keras) but not keras_ae: each example is still a new
process with its own namespace, working directory and exit code, and it
still imports keras_ae itself, which registers the package's classes as a
user's import would.

This module imports only the standard library: the fork server's child
imports it to find `_run`.
"""

import multiprocessing
import os
import sys
import traceback

_PRELOAD = ["tensorflow"]
# Read when TensorFlow and matplotlib are imported, so set for the server.
_SERVER_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
_context = None


def _server():
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        saved = {name: os.environ.get(name) for name in _SERVER_ENVIRONMENT}
        os.environ.update(_SERVER_ENVIRONMENT)
        try:  # the server starts with the first process, in this environment
            process = context.Process(target=_run, args=("", os.getcwd(), {},
                                                         os.devnull))
            process.start()
            process.join()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        _context = context
    return _context


def _run(code, cwd, environment, output_path):
    """The child: `code` as `__main__`, its output in `output_path`."""
    output = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.chdir(cwd)
    os.environ.update(environment)
    sys.argv = ["-c"]
    sys.path.insert(0, "")
    status = 0
    try:
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
    except SystemExit as exit_:  # as the interpreter reads `sys.exit(code)`
        if exit_.code is None or isinstance(exit_.code, int):
            status = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def run_python(code, cwd, environment, timeout):
    """Runs `code` as `python -c code` in `cwd` would; (exit code, output)."""
    output_path = os.path.join(cwd, os.pardir, f".{os.path.basename(cwd)}.out")
    process = _server().Process(target=_run, args=(code, os.fspath(cwd),
                                                   dict(environment),
                                                   output_path))
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
    with open(output_path, encoding="utf-8", errors="replace") as f:
        return process.exitcode, f.read()
