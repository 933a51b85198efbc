"""The main job: artefacts, refusals before writing, resume."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import keras
import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf

from keras_ae import cli
from keras_ae import config as config_module
from keras_ae import training
from keras_ae.cli import train as train_command
from keras_ae.cli._flags import signature_defaults
from keras_ae.config import ModelConfig
from keras_ae.config import TrainingConfig
from keras_ae.data import load_digits
from keras_ae.evaluation import evaluate_model
from keras_ae.export import run_tflite
from keras_ae.io import read_history
from keras_ae.recipes import get_recipe

TINY = ["--family", "dense", "--latent-dim", "2", "--option",
        "hidden_units=[32]", "--epochs", "2", "--batch-size", "256"]


def _snapshot(directory):
    """{relative path: (size, mtime)} of every file under `directory`."""
    found = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            stat = os.stat(path)
            found[os.path.relpath(path, directory)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("runs")
    code = cli.main(["train", *TINY, "--output-dir", str(output_dir),
                     "--run-name", "run"])
    assert code == 0
    return output_dir


@pytest.mark.slow
def test_main_job_writes_every_artefact(finished_run):
    run_dir = finished_run / "run"
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == [0, 1]
    for name in ("loss", "reconstruction_loss", "kl_loss", "val_loss",
                 "val_reconstruction_loss", "val_kl_loss"):
        assert len(history[name]) == 2 and all(np.isfinite(history[name]))
    for figure in ("reconstructions", "samples", "latent_space", "manifold",
                   "history"):
        image = matplotlib.image.imread(run_dir / f"{figure}.png")
        assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0.01
    assert any(name.startswith("events") for name in
               os.listdir(run_dir / "logs" / "train"))
    config = json.loads((run_dir / "run_config.json").read_text())
    assert config["model"]["family"] == "dense"
    assert config["model"]["latent_dim"] == 2
    model = keras.models.load_model(run_dir / "model.keras")
    assert model.latent_dim == 2 and model.beta == 1.0
    assert not (run_dir / "backup").exists()  # deleted once training ended
    # The run directory is a TF Serving model directory with version 1, and
    # its exports compute what the saved model computes.
    (x, _), _ = load_digits()
    expected = model.reconstruct(x[:4])
    served = tf.saved_model.load(str(run_dir / "1"))
    outputs = served.signatures["serving_default"](inputs=tf.constant(x[:4]))
    np.testing.assert_allclose(outputs["reconstruction"].numpy(), expected,
                               atol=1e-5)
    lite = run_tflite(str(run_dir / "model.tflite"), x[:4])
    np.testing.assert_allclose(lite["reconstruction"], expected, atol=1e-4)


@pytest.mark.slow
def test_an_existing_run_is_never_overwritten(finished_run, capsys):
    before = _snapshot(finished_run)
    code = cli.main(["train", *TINY, "--output-dir", str(finished_run),
                     "--run-name", "run"])
    assert code == 2
    assert "already exists" in capsys.readouterr().err
    assert _snapshot(finished_run) == before
    code = cli.main(["train", *TINY, "--output-dir", str(finished_run),
                     "--run-name", "run", "--resume"])
    assert code == 2
    assert "has finished" in capsys.readouterr().err
    assert _snapshot(finished_run) == before


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--latent-dim", "0"], "latent_dim=0"),
        (["--epochs", "-1"], "epochs=-1"),
        (["--batch-size", "0"], "batch_size=0"),
        (["--option", "beta=-0.5"], "beta=-0.5"),
        (["--family", "resnet"], "family='resnet'"),
        (["--objective", "gan"], "objective='gan'"),
        (["--loss", "mae"], "reconstruction_loss='mae'"),
        (["--data", "no_such_dataset"], "data='no_such_dataset'"),
        (["--epochs", "two"], "invalid epochs value: 'two'"),
        (["--family", "dense", "--option", "hidden_units=[0]"], "hidden_units=(0,)"),
        (["--option", "no_such_option=1"], "no_such_option"),
        (["--resume"], "run_name=None"),
        (["--run-name", "../escape"], "run_name='../escape'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(
        tmp_path, capsys, arguments, message):
    output_dir = tmp_path / "runs"
    with pytest.raises(SystemExit) if "invalid" in message else _no_raise():
        code = cli.main(["train", "--output-dir", str(output_dir), *arguments])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not output_dir.exists()


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_read_history_keeps_the_last_row_of_a_redone_epoch(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,3.0\n1,2.0\n1,1.5\n2,1.0\n")
    assert read_history(path) == {"epoch": [0, 1, 2],
                                           "loss": [3.0, 1.5, 1.0]}


def test_the_command_line_takes_its_defaults_from_the_configs(monkeypatch,
                                                              capsys):
    """A setting's default is written once, in its config: the flags follow it."""
    calls = []
    monkeypatch.setattr(training, "train",
                        lambda *args, **kwargs: calls.append(args) or {})
    monkeypatch.setattr(train_command, "summarize_run", lambda result: "")
    assert cli.main(["train"]) == 0
    model, training_config, *_ = calls[-1]
    assert model == ModelConfig() and training_config == TrainingConfig()
    assert cli.main(["train", "--family", "dense", "--epochs", "3", "--option",
                     "hidden_units=[8]", "--no-cosine-decay"]) == 0
    model, training_config, *_ = calls[-1]
    assert model == ModelConfig(family="dense", options={"hidden_units": (8,)})
    assert training_config == TrainingConfig(epochs=3, cosine_decay=False)
    # A recipe, then the flags given over it.
    assert cli.main(["train", "--recipe", "conv_denoiser_digits",
                     "--epochs", "2"]) == 0
    model, training_config, *_ = calls[-1]
    recipe = get_recipe("conv_denoiser_digits")
    assert model == recipe.model
    assert training_config == recipe.training.replace(epochs=2)
    monkeypatch.setattr(
        config_module.TrainingConfig.__dataclass_fields__["batch_size"],
        "default", 17)
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert "global batch size (default: 17)" in " ".join(
        capsys.readouterr().out.split())


def test_every_config_field_has_a_flag_and_a_help_text():
    parser = cli.build_parser()
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    flags = {action.dest for action in train_parser._actions}
    for config in (ModelConfig, TrainingConfig):
        for field in dataclasses.fields(config):
            assert field.name in flags, field.name
            assert field.metadata["help"], field.name


def test_the_evaluate_command_takes_its_defaults_from_evaluate_model():
    defaults = signature_defaults(evaluate_model)
    args = cli.build_parser().parse_args(["evaluate", "model.keras"])
    for name in ("seed", "normal_class", "anomaly_epochs", "fine_tune_steps",
                 "labels_per_class", "iw_samples", "max_likelihood_examples"):
        assert getattr(args, name) == defaults[name], name


@pytest.mark.parametrize("verbose, on_terminal, expected",
                         [("auto", True, 1), ("auto", False, 2), (0, False, 0),
                          (1, False, 1)])
def test_progress_is_one_line_per_epoch_unless_on_a_terminal(
        monkeypatch, verbose, on_terminal, expected):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: on_terminal)
    assert training.fit_verbosity(verbose) == expected
    with pytest.raises(ValueError, match="verbose=3"):
        training.fit_verbosity(3)


def _history_rows(path):
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_completed_epoch(tmp_path):
    """SIGKILL mid-epoch, then --resume: a continuous history, close to a run
    that was never interrupted.

    Same seed, same machine: the epochs completed before the kill are those
    of the uninterrupted run, bit for bit. The resumed epochs differ by
    about 0.1 % (at most 0.3 % measured), for two reasons that a resume does
    not restore: Keras saves no `SeedGenerator` state with the weights, so
    the VAE's sampling noise starts its sequence again; and the shuffle of
    the training pipeline draws each epoch's order from how many passes the
    process has made, so the first resumed epoch gets the first epoch's
    order. Restoring both gives the uninterrupted run's figures exactly.
    """
    epochs = 8
    command = [sys.executable, "-m", "keras_ae", "train", "--family", "dense",
               "--option", "hidden_units=[64]", "--epochs", str(epochs),
               "--batch-size", "64", "--output-dir", str(tmp_path),
               "--no-export", "--no-judge"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run(command + ["--run-name", "whole"], env=env, check=True,
                   capture_output=True, timeout=600)
    history_csv = tmp_path / "run" / "history.csv"
    process = subprocess.Popen(command + ["--run-name", "run"], env=env,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(_history_rows(history_csv)) < 4:
        time.sleep(0.05)  # header + 3 completed epochs
    time.sleep(0.3)  # into the next epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    completed = len(_history_rows(history_csv)) - 1
    assert 3 <= completed < epochs, "the run must be killed mid-way"
    assert not (tmp_path / "run" / "model.keras").exists()
    rows_before = _history_rows(history_csv)[1:completed + 1]

    resumed = subprocess.run(command + ["--run-name", "run", "--resume"],
                             env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    epochs_run = [line for line in resumed.stdout.splitlines()
                  if line.startswith("Epoch ")]
    # Keras' progress output: only the epochs after the backup were run again.
    assert epochs_run, resumed.stdout[-2000:]
    first = int(epochs_run[0].split()[1].split("/")[0])
    assert first in (completed, completed + 1)
    # Written to a pipe, the progress is one line per epoch, not a bar
    # redrawn at every step.
    assert "\r" not in resumed.stdout and "━" not in resumed.stdout
    assert len(resumed.stdout.splitlines()) < 2 * len(epochs_run) + 40
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["epoch"] == list(range(epochs))
    # The completed epochs' rows are kept as they were written.
    assert _history_rows(history_csv)[1:completed + 1] == rows_before
    # Training went on from where it stopped instead of starting over.
    assert history["loss"][-1] < history["loss"][0]
    assert (tmp_path / "run" / "model.keras").exists()
    # Close to the run that was never interrupted (see the docstring).
    whole = json.loads((tmp_path / "whole" / "history.json").read_text())
    # The epochs before the first one run again are the killed run's own;
    # the kill can land after an epoch's row and before its backup, and that
    # epoch is then run again.
    kept = first - 1
    assert kept >= 2
    for name in ("loss", "val_loss"):
        np.testing.assert_array_equal(history[name][:kept], whole[name][:kept])
        np.testing.assert_allclose(history[name], whole[name], rtol=0.01)
