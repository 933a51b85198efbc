"""Every bad input is refused at the door: one table over every entry point.

Each case is a call (the Python API, or the command line through
`keras_ae.cli.main` or a subprocess), the exception or exit code it must end
with, a fragment of its message, and, for all of them, a file tree left
exactly as it was. A new entry point joins the table rather than growing its
own test.
"""

import dataclasses
import errno
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from lock_holder import held
from settings import file_tree

import keras_ae
from keras_ae import cli
from keras_ae import data
from keras_ae import training
from keras_ae.evaluation import evaluate_model
from keras_ae.export import TFLiteRunner

INPUT_SHAPE = (4, 4, 1)
X = np.random.default_rng(0).uniform(size=(8, *INPUT_SHAPE)).astype("float32")
Y = np.arange(8) % 2


def _with(x, index, value):
    x = x.copy()
    x.flat[index] = value
    return x


@dataclasses.dataclass
class Env:
    """What a case may use: a scratch tree (`root`) and two tiny models."""

    root: str
    ae: keras_ae.AutoEncoder
    vae: keras_ae.VariationalAutoEncoder
    monkeypatch: pytest.MonkeyPatch

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def deny_writes_under(self, *parts):
        """`os.access` says no write permission under `path(*parts)`.

        (Tests often run as root, whom permission bits do not stop.)
        """
        denied, access = self.path(*parts), os.access

        def fake_access(path, mode, *args, **kwargs):
            if mode & os.W_OK and os.path.abspath(path).startswith(denied):
                return False
            return access(path, mode, *args, **kwargs)

        self.monkeypatch.setattr(os, "access", fake_access)

    def offline(self):
        def unreachable(sock, address):
            raise OSError(errno.ENETUNREACH, "Network is unreachable")

        self.monkeypatch.setattr("socket.socket.connect", unreachable)


@dataclasses.dataclass
class Case:
    """`call(env)` must raise `raises`, or return / exit with `exit_code`."""

    call: object
    fragment: str
    raises: type = None
    exit_code: int = None


def api(call, raises, fragment):
    return Case(call, fragment, raises=raises)


def command(*argv, fragment, exit_code=2):
    """`python -m keras_ae <argv>`; `{root}` in an argument is the tree."""
    return Case(lambda env: cli.main([a.format(root=env.root) for a in argv]),
                fragment, exit_code=exit_code)


# The command line in a fresh process whose sockets cannot connect.
_OFFLINE_MAIN = """
import errno, socket, sys

def unreachable(sock, address):
    raise OSError(errno.ENETUNREACH, "Network is unreachable")

socket.socket.connect = unreachable
from keras_ae.cli import main
sys.exit(main(sys.argv[1:]))
"""


def locked_command(*argv, locked, fragment):
    """`command(*argv)` while another process holds `{root}/<locked>`'s lock."""
    def call(env):
        with held(env.path(locked)):
            return cli.main([a.format(root=env.root) for a in argv])

    return Case(call, fragment, exit_code=2)


def offline_command(*argv, fragment):
    def call(env):
        done = subprocess.run(
            [sys.executable, "-c", _OFFLINE_MAIN,
             *[a.format(root=env.root) for a in argv]],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                 "TFDS_DATA_DIR": env.path("tfds")})
        sys.stderr.write(done.stderr)
        return done.returncode

    return Case(call, fragment, exit_code=2)


TRAIN = ["train", "--family", "dense", "--epochs", "1", "--no-export"]

CASES = {
    # --- The models' verbs on NumPy data ------------------------------------
    "fit/nan": api(lambda e: e.ae.fit(_with(X, 3, np.nan), verbose=0),
                   ValueError, "`x` must hold only finite values"),
    "fit/inf-target": api(lambda e: e.ae.fit(X, _with(X, 0, np.inf), verbose=0),
                          ValueError, "`y` must hold only finite values"),
    "fit/uint8-images": api(
        lambda e: e.ae.fit((X * 255).astype("uint8"), verbose=0),
        ValueError, "pass x / 255.0"),
    "fit/int-images-bce": api(
        lambda e: e.ae.fit((X * 255).astype("int64"), verbose=0),
        ValueError, "integers up to 2"),
    "fit/bce-target-above-1": api(lambda e: e.ae.fit(X * 3, verbose=0),
                                  ValueError, "`x` must be scaled to [0, 1]"),
    "fit/bce-y-below-0": api(lambda e: e.ae.fit(X, X - 1, verbose=0),
                             ValueError, "`y` must be scaled to [0, 1]"),
    "fit/empty": api(lambda e: e.ae.fit(X[:0], verbose=0),
                     ValueError, "must hold at least one example"),
    "fit/wrong-shape": api(lambda e: e.ae.fit(X[:, :3], verbose=0),
                           ValueError, "(batch_size, 4, 4, 1)"),
    "fit/strings": api(lambda e: e.ae.fit(np.full((2, 4, 4, 1), "a"), verbose=0),
                       ValueError, "must be an array of numbers"),
    "fit/x-y-lengths": api(lambda e: e.ae.fit(X, X[:3], verbose=0),
                           ValueError, "8 inputs and 3 targets"),
    "fit/validation-nan": api(
        lambda e: e.ae.fit(X, validation_data=(_with(X, 1, np.nan),),
                           verbose=0),
        ValueError, "`validation_data[0]` must hold only finite"),
    "vae-fit/nan": api(lambda e: e.vae.fit(_with(X, 5, -np.inf), verbose=0),
                       ValueError, "NaN or infinite"),
    "evaluate/nan": api(lambda e: e.ae.evaluate(_with(X, 2, np.nan), verbose=0),
                        ValueError, "must hold only finite"),
    "evaluate/empty": api(lambda e: e.ae.evaluate(X[:0], verbose=0),
                          ValueError, "at least one example"),
    "predict/uint8": api(lambda e: e.ae.predict((X * 255).astype("uint8")),
                         ValueError, "x / 255.0"),
    "encode/nan": api(lambda e: e.ae.encode(_with(X, 0, np.nan)),
                      ValueError, "`x` must hold only finite"),
    "encode/batch-size-0": api(lambda e: e.ae.encode(X, batch_size=0),
                               ValueError, "batch_size=0"),
    "reconstruct/wrong-shape": api(lambda e: e.ae.reconstruct(X[..., 0]),
                                   ValueError, "(batch_size, 4, 4, 1)"),
    "decode/inf": api(lambda e: e.ae.decode(np.full((2, 3), np.inf)),
                      ValueError, "`z` must hold only finite"),
    "decode/wrong-shape": api(lambda e: e.ae.decode(np.zeros((2, 5))),
                              ValueError, "(num_codes, 3)"),
    "vae-encode-distribution/uint8": api(
        lambda e: e.vae.encode_distribution(np.zeros((2, 4, 4, 1), "uint8")),
        ValueError, "uint8"),
    "vae-sample/zero": api(lambda e: e.vae.sample(0), ValueError,
                           "num_samples=0"),
    "vae-sample/too-many-for-memory": api(
        lambda e: e.vae.sample(10**12), ValueError,
        "`num_samples` must be small enough for memory: 1,000,000,000,000 x"),
    "interpolate/too-many-steps": api(
        lambda e: e.ae.interpolate(X[0], X[1], num_steps=10**12), ValueError,
        "`num_steps` must be small enough for memory"),
    # --- Keras' own arguments, checked at the door ----------------------------
    "fit/batch-size-0": api(lambda e: e.ae.fit(X, batch_size=0, verbose=0),
                            ValueError, "batch_size=0"),
    "fit/epochs-negative": api(lambda e: e.ae.fit(X, epochs=-1, verbose=0),
                               ValueError, "epochs=-1"),
    "fit/validation-split-above-1": api(
        lambda e: e.ae.fit(X, validation_split=1.5, verbose=0), ValueError,
        "validation_split=1.5"),
    "fit/class-weight": api(
        lambda e: e.ae.fit(X, class_weight={0: 1.0}, verbose=0), ValueError,
        "does not take `class_weight`"),
    "fit/sample-weight-nan": api(
        lambda e: e.ae.fit(X, sample_weight=_with(np.ones(8), 2, np.nan),
                           verbose=0),
        ValueError, "`sample_weight` must hold only finite values"),
    "fit/sample-weight-negative": api(
        lambda e: e.ae.fit(X, sample_weight=-np.ones(8), verbose=0),
        ValueError, "`sample_weight` must be >= 0"),
    "fit/sample-weight-2d": api(
        lambda e: e.ae.fit(X, sample_weight=np.ones((8, 2)), verbose=0),
        ValueError, "one weight per example: shape (8,)"),
    "fit/sample-weight-wrong-length": api(
        lambda e: e.ae.fit(X, sample_weight=np.ones(5), verbose=0),
        ValueError, "Received: sample_weight with shape (5,)"),
    "fit/validation-sample-weight-negative": api(
        lambda e: e.ae.fit(X, validation_data=(X, None, -np.ones(8)),
                           verbose=0),
        ValueError, "`validation_data[2]` must be >= 0"),
    "evaluate/batch-size-0": api(
        lambda e: e.ae.evaluate(X, batch_size=0, verbose=0), ValueError,
        "batch_size=0"),
    "evaluate/sample-weight-inf": api(
        lambda e: e.ae.evaluate(X, sample_weight=np.full(8, np.inf),
                                verbose=0),
        ValueError, "`sample_weight` must hold only finite values"),
    "compile/optimizer-none": api(lambda e: e.ae.compile(optimizer=None),
                                  ValueError, "optimizer=None; allowed: a "
                                  "keras.optimizers.Optimizer, or one of"),
    "compile/optimizer-typo": api(lambda e: e.ae.compile(optimizer="adma"),
                                  ValueError, "optimizer='adma'; allowed"),
    "compile/loss-weights": api(
        lambda e: e.ae.compile(optimizer="adam", loss_weights=[2.0]),
        ValueError, "does not take `loss_weights`"),
    # --- Building a model -----------------------------------------------------
    "build/activation-typo": api(
        lambda e: keras_ae.build_autoencoder("dense", INPUT_SHAPE, 3,
                                             activation="rleu"),
        ValueError, "activation='rleu'; allowed: celu, elu"),
    "build/output-activation-typo": api(
        lambda e: keras_ae.build_autoencoder("conv", (8, 8, 1), 3,
                                             output_activation="sigmod"),
        ValueError, "output_activation='sigmod'; allowed"),
    "build/latent-dim-too-large-for-memory": api(
        lambda e: keras_ae.build_autoencoder("dense", INPUT_SHAPE, 10**12),
        ValueError, "`latent_dim` must be small enough for memory"),
    "build/ae-takes-no-beta": api(
        lambda e: keras_ae.build_autoencoder("dense", INPUT_SHAPE, 3, beta=-1),
        ValueError, "beta is an option of objective 'vae'"),
    "build/ae-takes-no-seed": api(
        lambda e: keras_ae.build_autoencoder("dense", INPUT_SHAPE, 3,
                                             seed="x"),
        ValueError, "takes no `seed`. Received: seed='x'"),
    # --- The TensorFlow Lite runner, as `fit` ---------------------------------
    "tflite-runner/uint8": api(
        lambda e: TFLiteRunner(e.path("models", "model.tflite"))(
            (X * 255).astype("uint8")),
        ValueError, "pass inputs / 255.0"),
    "tflite-runner/nan": api(
        lambda e: TFLiteRunner(e.path("models", "model.tflite"))(
            _with(X, 4, np.nan)),
        ValueError, "`inputs` must hold only finite values"),
    "tflite-runner/damaged-file": api(
        lambda e: TFLiteRunner(e.path("text.keras")), ValueError,
        "is not a TensorFlow Lite model"),
    # --- Data ---------------------------------------------------------------
    "make_dataset/nan": api(lambda e: data.make_dataset(_with(X, 0, np.nan)),
                            ValueError, "`x` must hold only finite"),
    "load_dataset/unknown": api(lambda e: data.load_dataset("mnistt"),
                                ValueError, "dataset='mnistt'"),
    "load_dataset/offline-download": api(
        lambda e: (e.offline(), data.load_dataset(
            "mnist", data_dir=e.path("tfds"))),
        ConnectionError, "cannot be downloaded: no connection"),
    "load_dataset/not-downloaded": api(
        lambda e: data.load_dataset("mnist", data_dir=e.path("tfds"),
                                    download=False),
        FileNotFoundError, "download=False"),
    "scale_images/float-above-1": api(
        lambda e: data.scale_images(np.full((2, 4, 4), 2.0)),
        ValueError, "outside [0, 1]"),
    # --- Training (Python) --------------------------------------------------
    "train/output-dir-is-a-file": api(
        lambda e: training.train(None, {"epochs": 1}, output_dir=e.path("a_file")),
        NotADirectoryError, "is a file"),
    "train/output-dir-not-writable": api(
        lambda e: (e.deny_writes_under("locked"),
                   training.train(output_dir=e.path("locked", "runs"))),
        PermissionError, "not writable"),
    "train/resume-unknown-run": api(
        lambda e: training.train(output_dir=e.path("runs"), run_name="typo",
                                 resume=True),
        ValueError, "runs that can be resumed: 'corrupt', 'unfinished'"),
    "train/run-name-trailing-newline": api(
        lambda e: training.train(output_dir=e.path("runs"),
                                 run_name="quick\n"),
        ValueError, "run_name='quick\\n'"),
    "train/run-name-with-space": api(
        lambda e: training.train(output_dir=e.path("runs"),
                                 run_name="my run"),
        ValueError, "run_name='my run'"),
    "train/run-name-too-long": api(
        lambda e: training.train(output_dir=e.path("runs"),
                                 run_name="a" * 300),
        ValueError, "a plain name of 1 to 128"),
    "train/output-dir-with-newline": api(
        lambda e: training.train({"family": "dense"}, {"epochs": 1},
                                 output_dir=e.path("runs\n")),
        ValueError, "a path without control characters"),
    "train/nan-dataset": api(
        lambda e: (e.monkeypatch.setattr(
            data, "load_dataset",
            lambda *args, **kwargs: ((_with(X, 0, np.nan), Y), (X, Y))),
            training.train({"family": "dense"}, {"epochs": 1},
                           output_dir=e.path("runs"), run_name="new")),
        ValueError, "NaN or infinite"),
    # --- Evaluation (Python) ------------------------------------------------
    "evaluate_model/uint8": api(
        lambda e: evaluate_model(e.ae, X, Y, (X * 255).astype("uint8"), Y,
                                 e.path("evaluation")),
        ValueError, "x_test / 255.0"),
    "evaluate_model/empty": api(
        lambda e: evaluate_model(e.ae, X, Y, X[:0], Y[:0], e.path("evaluation")),
        ValueError, "`x_test` must hold at least one example"),
    "evaluate_model/output-dir-is-a-file": api(
        lambda e: evaluate_model(e.ae, X, Y, X, Y, e.path("a_file"),
                                 labels_per_class=(1,)),
        NotADirectoryError, "is a file"),
    "evaluate_model/output-dir-not-empty": api(
        lambda e: evaluate_model(e.ae, X, Y, X, Y, e.path("runs"),
                                 labels_per_class=(1,)),
        FileExistsError, "already exists"),
    # --- Export (Python) ----------------------------------------------------
    "export_saved_model/base-dir-is-a-file": api(
        lambda e: keras_ae.export.export_saved_model(e.ae, e.path("a_file"),
                                                     "m"),
        (ValueError, NotADirectoryError), "file"),
    "export_saved_model/not-a-model": api(
        lambda e: keras_ae.export.export_saved_model("model.keras",
                                                     e.path("served"), "m"),
        ValueError, "model"),
    "export_saved_model/bad-name": api(
        lambda e: keras_ae.export.export_saved_model(e.ae, e.path("served"),
                                                     "../up"),
        ValueError, "name='../up'"),
    "export_saved_model/name-trailing-newline": api(
        lambda e: keras_ae.export.export_saved_model(e.ae, e.path("served"),
                                                     "m\n"),
        ValueError, "name='m\\n'"),
    "export_saved_model/base-dir-not-writable": api(
        lambda e: (e.deny_writes_under("locked"),
                   keras_ae.export.export_saved_model(
                       e.ae, e.path("locked", "served"), "m")),
        PermissionError, "writable"),
    # --- The train command --------------------------------------------------
    "cli-train/output-dir-is-a-file": command(
        *TRAIN, "--output-dir", "{root}/a_file", fragment="is a file"),
    "cli-train/output-dir-under-a-file": command(
        *TRAIN, "--output-dir", "{root}/a_file/runs", fragment="is a file"),
    "cli-train/output-dir-not-writable": Case(
        lambda e: (e.deny_writes_under("locked"), cli.main(
            [*TRAIN, "--output-dir", e.path("locked", "runs")]))[1],
        "not writable", exit_code=2),
    "cli-train/resume-unknown-run": command(
        *TRAIN, "--output-dir", "{root}/runs", "--run-name", "unfinshed",
        "--resume", fragment="runs that can be resumed: 'corrupt', "
        "'unfinished'"),
    "cli-train/resume-without-runs": command(
        *TRAIN, "--output-dir", "{root}/nothing_here", "--run-name", "x",
        "--resume", fragment="runs that can be resumed: none"),
    "cli-train/resume-corrupt-run-config": command(
        *TRAIN, "--output-dir", "{root}/runs", "--run-name", "corrupt",
        "--resume", fragment="`run_config.json` is not valid JSON"),
    "cli-train/resume-finished-run": command(
        *TRAIN, "--output-dir", "{root}/runs", "--run-name", "finished",
        "--resume", fragment="has finished"),
    "cli-train/existing-run": command(
        *TRAIN, "--output-dir", "{root}/runs", "--run-name", "unfinished",
        fragment="already exists"),
    "cli-train/epochs-0": command(*TRAIN, "--epochs", "0", "--output-dir",
                                  "{root}/new", fragment="epochs=0"),
    "cli-train/run-name-with-space": command(
        *TRAIN, "--output-dir", "{root}/new", "--run-name", "my run",
        fragment="run_name='my run'"),
    "cli-train/run-name-trailing-newline": command(
        *TRAIN, "--output-dir", "{root}/new", "--run-name", "quick\n",
        fragment="run_name='quick\\n'"),
    "cli-train/learning-rate-1e30": command(
        *TRAIN, "--learning-rate", "1e30", "--output-dir", "{root}/new",
        fragment="learning_rate=1e+30"),
    "cli-train/negative-gradient-clip-norm": command(
        *TRAIN, "--gradient-clip-norm", "-1", "--output-dir", "{root}/new",
        fragment="gradient_clip_norm=-1"),
    "cli-train/activation-typo": command(
        *TRAIN, "--option", "activation=rleu", "--output-dir", "{root}/new",
        fragment="activation='rleu'; allowed"),
    "cli-train/resume-backup-is-a-file": command(
        *TRAIN, "--output-dir", "{root}/damaged_runs", "--run-name",
        "backup_is_a_file", "--resume",
        fragment="is a file, not a backup directory"),
    "cli-train/resume-torn-backup-counter": command(
        *TRAIN, "--output-dir", "{root}/damaged_runs", "--run-name",
        "torn_counter", "--resume", fragment="epoch counter"),
    "cli-train/resume-backup-weights-not-hdf5": command(
        *TRAIN, "--output-dir", "{root}/damaged_runs", "--run-name",
        "text_weights", "--resume", fragment="(not an HDF5 file)"),
    "cli-train/resume-history-lacks-committed-rows": command(
        *TRAIN, "--output-dir", "{root}/damaged_runs", "--run-name",
        "lost_history", "--resume",
        fragment="lacks the rows of epoch(s) 2 that the backup committed"),
    "cli-train/resume-damaged-run-state": command(
        *TRAIN, "--output-dir", "{root}/damaged_runs", "--run-name",
        "bad_state", "--resume", fragment="`run_state.json` is not valid JSON"),
    "cli-train/resume-unknown-state": command(
        *TRAIN, "--output-dir", "{root}/damaged_runs", "--run-name",
        "unknown_state", "--resume", fragment="holds no state of a run"),
    "cli-train/resume-trained-run-with-damaged-model": command(
        *TRAIN, "--output-dir", "{root}/damaged_runs", "--run-name",
        "damaged_model", "--resume",
        fragment="`model.keras` is not a .keras model"),
    "cli-train/resume-not-a-run": command(
        *TRAIN, "--output-dir", "{root}/damaged_runs", "--run-name",
        "not_a_run", "--resume", fragment="is not a keras_ae run"),
    "cli-train/resume-run-written-by-another-process": locked_command(
        *TRAIN, "--output-dir", "{root}/runs", "--run-name", "unfinished",
        "--resume", locked="runs/unfinished",
        fragment="The run 'unfinished' ("),
    "cli-train/latent-dim-text": command(
        *TRAIN, "--latent-dim", "two", "--output-dir", "{root}/new",
        fragment="invalid latent_dim value: 'two'"),
    "cli-train/unknown-dataset": command(
        *TRAIN, "--data", "mnistt", "--output-dir", "{root}/new",
        fragment="data='mnistt'"),
    "cli-train/dataset-offline": offline_command(
        *TRAIN, "--data", "mnist", "--output-dir", "{root}/new",
        fragment="cannot be downloaded: no connection"),
    # --- The evaluate command -----------------------------------------------
    "cli-evaluate/text-file": command(
        "evaluate", "{root}/text.keras", fragment="not a zip archive (a text "
        "file of 12 bytes)"),
    "cli-evaluate/truncated-copy": command(
        "evaluate", "{root}/truncated.keras",
        fragment="not a zip archive (a truncated or damaged zip of"),
    "cli-evaluate/zip-without-config": command(
        "evaluate", "{root}/other.keras", fragment="holds no config.json"),
    "cli-evaluate/directory": command(
        "evaluate", "{root}/runs", fragment="not a directory"),
    "cli-evaluate/missing": command(
        "evaluate", "{root}/missing.keras", fragment="No saved model"),
    "cli-evaluate/output-dir-is-a-file": command(
        "evaluate", "{root}/models/model.keras", "--output-dir",
        "{root}/a_file", fragment="is a file"),
    "cli-evaluate/output-dir-not-empty": command(
        "evaluate", "{root}/models/model.keras", "--output-dir", "{root}/runs",
        fragment="already exists"),
    "cli-evaluate/corrupt-run-config": command(
        "evaluate", "{root}/damaged/model.keras",
        "--output-dir", "{root}/new",
        fragment="`run_config.json` is not valid JSON"),
    "cli-evaluate/labels-per-class": command(
        "evaluate", "{root}/models/model.keras", "--labels-per-class", "ten",
        fragment="invalid labels_per_class value: 'ten'"),
    # --- The export and convert commands ------------------------------------
    "cli-export/missing": command(
        "export", "{root}/missing.keras", "--base-dir", "{root}/served",
        fragment="missing.keras"),
    "cli-export/base-dir-is-a-file": command(
        "export", "{root}/models/model.keras", "--base-dir", "{root}/a_file",
        fragment="file"),
    "cli-export/version-0": command(
        "export", "{root}/models/model.keras", "--base-dir", "{root}/served",
        "--version", "0", fragment="version=0"),
    "cli-export/text-file": command(
        "export", "{root}/text.keras", "--base-dir", "{root}/served",
        fragment="is not a .keras model"),
    "cli-export/version-beyond-int64": command(
        "export", "{root}/models/model.keras", "--base-dir", "{root}/served",
        "--version", str(2**70), fragment=f"version={2**70}"),
    "cli-export/name-trailing-newline": command(
        "export", "{root}/models/model.keras", "--base-dir", "{root}/served",
        "--name", "m\n", fragment="name='m\\n'"),
    "cli-export/base-dir-with-newline": command(
        "export", "{root}/models/model.keras", "--base-dir", "{root}/served\n",
        fragment="a path without control characters"),
    "cli-export/config-not-json": command(
        "export", "{root}/models/config_not_json.keras", "--base-dir",
        "{root}/served", fragment="its config.json is not valid JSON"),
    "cli-export/no-weights": command(
        "export", "{root}/models/no_weights.keras", "--base-dir",
        "{root}/served", fragment="it holds no weights"),
    "cli-export/weights-of-another-architecture": command(
        "export", "{root}/models/other_weights.keras", "--base-dir",
        "{root}/served", fragment="its weights do not fit the model"),
    "cli-export/model-written-by-another-process": locked_command(
        "export", "{root}/models/model.keras", "--base-dir", "{root}/served",
        "--name", "m", locked="served/m", fragment="is being written by"),
    "cli-export/truncated-copy": command(
        "export", "{root}/truncated.keras", "--base-dir", "{root}/served",
        fragment="is not a .keras model"),
    "cli-convert/text-file": command(
        "convert", "{root}/text.keras", "--output", "{root}/model.tflite",
        fragment="is not a .keras model"),
    "cli-convert/damaged-saved-model": command(
        "convert", "{root}/served/m/1", "--output", "{root}/m.tflite",
        fragment="is a damaged SavedModel"),
    "cli-convert/no-weights": command(
        "convert", "{root}/models/no_weights.keras", "--output",
        "{root}/m.tflite", fragment="it holds no weights"),
    "cli-evaluate/weights-of-another-architecture": command(
        "evaluate", "{root}/models/other_weights.keras", "--output-dir",
        "{root}/new", fragment="its weights do not fit the model"),
    "cli-convert/output-exists": command(
        "convert", "{root}/models/model.keras", "--output", "{root}/a_file",
        fragment="already exists"),
}


def _tiny(variational):
    model = keras_ae.build_autoencoder(
        "dense", INPUT_SHAPE, latent_dim=3, variational=variational,
        reconstruction_loss="bce", hidden_units=(8,),
        seed=0 if variational else None)
    model.compile(optimizer="adam")
    return model


@pytest.fixture(scope="module")
def models():
    return _tiny(False), _tiny(True)


@pytest.fixture(scope="module")
def template(tmp_path_factory, models):
    """The tree every case starts from (copied, so cases cannot see others)."""
    root = tmp_path_factory.mktemp("template")
    (root / "models").mkdir()
    model_path = root / "models" / "model.keras"
    models[0].save(model_path)
    raw = model_path.read_bytes()
    (root / "truncated.keras").write_bytes(raw[:len(raw) // 2])
    (root / "text.keras").write_text("not a model\n")
    with zipfile.ZipFile(root / "other.keras", "w") as archive:
        archive.writestr("notes.txt", "a zip, but not a model")
    (root / "a_file").write_text("a file\n")
    (root / "locked").mkdir()
    for run, config in (("unfinished", '{"training": {}}\n'),
                        ("corrupt", '{"training": {"epochs": 3,\n'),
                        ("finished", '{"training": {}}\n')):
        (root / "runs" / run).mkdir(parents=True)
        (root / "runs" / run / "run_config.json").write_text(config)
    shutil.copy(model_path, root / "runs" / "finished" / "model.keras")
    (root / "runs" / "finished" / "run_state.json").write_text(
        '{"state": "complete"}\n')
    _damaged_models(root / "models", raw)
    (root / "models" / "model.tflite").write_bytes(
        keras_ae.export.convert_to_tflite(models[0]))
    # A damaged SavedModel in a served model's directory.
    (root / "served" / "m" / "1" / "variables").mkdir(parents=True)
    (root / "served" / "m" / "1" / "saved_model.pb").write_bytes(b"torn")
    _damaged_runs(root / "damaged_runs")
    # A model whose run's config is damaged.
    (root / "damaged").mkdir()
    shutil.copy(model_path, root / "damaged" / "model.keras")
    shutil.copy(root / "runs" / "corrupt" / "run_config.json", root / "damaged")
    return root


def _rewritten(raw, change):
    """The bytes of a `.keras` zip with its members changed by `change(dict)`."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    change(members)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def _damaged_models(directory, raw):
    """`.keras` zips that are still valid zips, each damaged inside."""
    path = directory / "other.keras"
    keras_ae.build_autoencoder("dense", INPUT_SHAPE, 3,
                               hidden_units=(5,)).save(path)
    with zipfile.ZipFile(path) as archive:
        other_weights = archive.read("model.weights.h5")
    path.unlink()
    for name, change in {
        "config_not_json": lambda m: m.update({"config.json": b"{not json"}),
        "no_weights": lambda m: m.pop("model.weights.h5"),
        "other_weights": lambda m: m.update(
            {"model.weights.h5": other_weights}),
    }.items():
        (directory / f"{name}.keras").write_bytes(_rewritten(raw, change))


_HDF5 = b"\x89HDF\r\n\x1a\n" + bytes(64)  # passes the signature check only


def _damaged_runs(root):
    """Runs that a kill, a disk or a hand damaged, each in its own way."""
    def run(name, files, state="training"):
        directory = root / name
        directory.mkdir(parents=True)
        files = {"run_config.json": '{"training": {}}\n',
                 **({"run_state.json": json.dumps({"state": state})}
                    if state else {}), **files}
        for relative, content in files.items():
            path = directory / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    counter = "backup/training_metadata.json"
    run("backup_is_a_file", {"backup": "not a backup\n"})
    run("torn_counter", {counter: "", "backup/epoch-1.weights.h5": _HDF5})
    run("text_weights", {
        counter: json.dumps({"epoch": 1, "weights": "epoch-1.weights.h5"}),
        "backup/epoch-1.weights.h5": "not weights"})
    run("lost_history", {
        counter: json.dumps({"epoch": 2, "weights": "epoch-2.weights.h5"}),
        "backup/epoch-2.weights.h5": _HDF5,
        "history.csv": "epoch,loss\n0,1.5\n"})
    run("bad_state", {"run_state.json": "{not json"}, state=None)
    run("unknown_state", {}, state="flying")
    run("damaged_model", {"model.keras": b"PK\x03\x04torn"}, state="trained")
    (root / "not_a_run").mkdir()
    (root / "not_a_run" / "notes.txt").write_text("a user's directory\n")




@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_clearly_and_writes_nothing(
        case, template, models, tmp_path, monkeypatch, capsys):
    root = tmp_path / "tree"
    shutil.copytree(template, root)
    monkeypatch.chdir(root)
    env = Env(str(root), *models, monkeypatch)
    before = file_tree(root)
    if case.exit_code is None:
        with pytest.raises(case.raises) as raised:
            case.call(env)
        assert case.fragment in str(raised.value)
    else:
        try:
            code = case.call(env)
        except SystemExit as stopped:  # argparse's own refusals
            code = stopped.code
        err = capsys.readouterr().err
        assert code == case.exit_code
        assert case.fragment in err
        assert "Traceback" not in err
        ours = [line for line in err.splitlines()
                if line.startswith(("keras_ae", "usage:"))]
        assert len(ours) == 1 or err.startswith("usage:"), err
    monkeypatch.undo()
    assert file_tree(root) == before

