"""The command line's terminal: keras_ae's lines and Keras' progress, no noise.

TensorFlow's own C++ and Python lines (absl, oneDNN, CUDA, the SavedModel
loader, the TensorFlow Lite converter) are shown only with `--verbose`;
an error is one line.
"""

import os
import re
import subprocess
import sys

import pytest

import keras_ae
from keras_ae import _terminal

ENV = {key: value for key, value in os.environ.items()
       if key not in (_terminal.VERBOSE_ENV, "TF_CPP_MIN_LOG_LEVEL")}
# Keras' progress: `Epoch 1/2` and `16/16 - 1s - 93ms/step - loss: ...`.
PROGRESS = re.compile(r"(Epoch \d+/\d+|\d+/\d+ [━ -]).*")


def _keras_ae(*argv, env=ENV, timeout=600):
    return subprocess.run([sys.executable, "-m", "keras_ae", *argv],
                          capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_the_command_line_is_recognised_from_the_interpreter_arguments():
    launched = _terminal.launched_as_command_line
    assert launched(["python", "-m", "keras_ae", "train"])
    assert launched(["python", "-X", "dev", "-m", "keras_ae"])
    assert launched(["/venv/bin/python", "/venv/bin/keras-ae", "export"])
    assert not launched(["python", "-m", "pytest", "-m", "keras_ae"])
    assert not launched(["python", "script.py", "-m", "keras_ae"])
    assert not launched(["python", "-c", "import keras_ae"])


@pytest.mark.slow
def test_an_error_is_one_line_and_version_exists(tmp_path):
    done = _keras_ae("train", "--epochs", "0", "--output-dir",
                     str(tmp_path / "runs"))
    assert done.returncode == 2
    assert done.stderr == ("keras_ae train: error: `epochs` must be a "
                           "positive integer. Received: epochs=0\n")
    assert done.stdout == ""
    # The same refusal with --verbose shows TensorFlow's own lines too: the
    # quiet terminal hides them, not the error.
    verbose = _keras_ae("--verbose", "train", "--epochs", "0",
                        "--output-dir", str(tmp_path / "runs"))
    assert verbose.returncode == 2
    assert len(verbose.stderr.splitlines()) > 1
    assert verbose.stderr.splitlines()[-1] == done.stderr.strip()
    version = _keras_ae("--version")
    assert version.returncode == 0
    assert version.stdout == f"keras_ae {keras_ae.__version__}\n"
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_training_run_prints_its_own_lines_and_keras_progress_only(
        tmp_path):
    done = _keras_ae("train", "--family", "dense", "--latent-dim", "2",
                     "--option", "hidden_units=[16]", "--epochs", "1",
                     "--kl-warmup-epochs", "0", "--batch-size", "256",
                     "--output-dir", str(tmp_path), "--run-name", "quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    ours = ("Run written to", "Metrics of epoch", "Judged by a reference",
            "  ")
    other = [line for line in (done.stdout + done.stderr).splitlines()
             if line and not line.startswith(ours)
             and not PROGRESS.fullmatch(line)]
    print("\n".join(other))
    # The judge trains and queries a classifier (no retracing warnings),
    # the run exports a SavedModel and converts it to TensorFlow Lite.
    assert len(other) <= 3, other
    assert done.stderr == ""
    # Written to a pipe, the progress is one line per epoch, not a bar
    # redrawn at every step.
    assert "\r" not in done.stdout
    assert (tmp_path / "quiet" / "model.tflite").exists()
