"""Another process that holds a directory's writer lock, for the tests.

`held(directory)` starts a small Python process (no TensorFlow) that takes
the same `fcntl.flock` as `keras_ae.io.writer_lock` and keeps it until the
context ends, when it is killed with SIGKILL: what a writer killed half-way
leaves behind.
"""

import contextlib
import os
import signal
import subprocess
import sys

_HOLD = """
import fcntl, os, sys, time
descriptor = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(descriptor, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def held(directory):
    """Yields the `subprocess.Popen` of a process holding `directory`'s lock."""
    process = subprocess.Popen([sys.executable, "-c", _HOLD,
                                os.fspath(directory)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
