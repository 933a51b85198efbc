"""The main job: artefacts, refusals before writing.

Kills, resumes and the run's life are `tests/test_run_state.py`.
"""

import dataclasses
import json
import os
import sys
import warnings

import keras
import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf

import keras_ae
from keras_ae import cli
from keras_ae import config as config_module
from keras_ae import plotting
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

# Its module-scoped fixtures train models: one worker runs the whole module.
pytestmark = pytest.mark.xdist_group("training")

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
    # Complete: the backup is deleted only now, and no temporary is left.
    state = json.loads((run_dir / "run_state.json").read_text())
    assert state["state"] == "complete" and state["epochs_committed"] == 2
    assert not (run_dir / "backup").exists()
    assert not [name for name in os.listdir(run_dir) if name.startswith(".")]
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
        (["--run-name", "my run"], "run_name='my run'"),
        (["--run-name", "run\n"], "run_name='run\\n'"),
        (["--learning-rate", "1e30"], "learning_rate=1e+30"),
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
    assert cli.main(["train", "--gradient-clip-norm", "1.5"]) == 0
    assert calls[-1][1] == TrainingConfig(gradient_clip_norm=1.5)
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


def test_a_warm_up_as_long_as_the_run_is_warned_about():
    vae = keras_ae.build_autoencoder("dense", (4, 4, 1), 2, objective="vae",
                                     hidden_units=(8,))
    ae = keras_ae.build_autoencoder("dense", (4, 4, 1), 2, hidden_units=(8,))
    with pytest.warns(UserWarning, match="kl_warmup_epochs=5 is not below "
                      "epochs=2"):
        assert training.warn_if_warmup_outlasts_training(
            vae, TrainingConfig(epochs=2, kl_warmup_epochs=5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not training.warn_if_warmup_outlasts_training(
            vae, TrainingConfig(epochs=6, kl_warmup_epochs=5))
        assert not training.warn_if_warmup_outlasts_training(
            ae, TrainingConfig(epochs=2, kl_warmup_epochs=5))


def test_the_history_figure_has_a_panel_per_metric_on_integer_epochs():
    history = {"epoch": [0, 1, 2], "loss": [3.0, 2.0, 1.5],
               "val_loss": [3.1, 2.2, 1.9], "kl_loss": [1.0, 2.0, 2.5],
               "learning_rate": [1e-3, 5e-4, 1e-4]}
    fig = plotting.plot_history(history)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["kl_loss", "learning_rate", "loss"]
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
        assert ticks and all(float(t).is_integer() for t in ticks)
    assert fig.axes[1].get_yscale() == "log"
