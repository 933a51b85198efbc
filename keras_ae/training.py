"""The main job: train an autoencoder and write every artefact of the run.

`train()` is what `python -m keras_ae train` runs. A run lives in
`<output_dir>/<run_name>/`, which is also a model directory in TF Serving's
layout (the SavedModel goes to its integer version subdirectory):

    <run_name>/
        run_config.json      the arguments of the run
        model.keras          the trained model (with optimizer state)
        history.csv          one row per epoch, appended as training goes
        history.json         the same history, as {metric: [values per epoch]}
        history.png          the learning curves
        reconstructions.png  validation originals above their reconstructions
        samples.png          decoded samples from the prior (VAE)
        latent_space.png     validation codes coloured by class
        manifold.png         decoded grid of the latent plane (VAE, latent_dim=2)
        logs/                TensorBoard logs
        1/                   SavedModel with named signatures, for TF Serving
        model.tflite         float TensorFlow Lite model

and `<output_dir>/models.config` lists every run for TF Serving.
"""

import csv
import datetime
import json
import os
import shutil
import tempfile

import keras

from keras_ae import export as export_lib
from keras_ae import plotting
from keras_ae.checks import check_choice
from keras_ae.checks import check_finite
from keras_ae.checks import check_non_negative_number
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.data import load_dataset
from keras_ae.data import make_dataset
from keras_ae.distribute import DISTRIBUTION_STRATEGIES
from keras_ae.distribute import check_same_on_every_worker
from keras_ae.distribute import is_chief
from keras_ae.distribute import make_strategy
from keras_ae.distribute import worker_values
from keras_ae.losses import RECONSTRUCTION_LOSSES
from keras_ae.registry import build_autoencoder
from keras_ae.registry import list_autoencoders

BACKUP_DIR = "backup"


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backups survive a kill during their write.

    Keras writes the weights file in place, so a run killed in the middle of
    a backup leaves an unreadable file and cannot resume. This callback
    writes each file beside its target and renames it over the target, so
    the backup on disk is always a whole one. When a kill falls between the
    two renames, the weights are one epoch ahead of the recorded epoch
    counter and that epoch is trained once more.

    With `read_only=True` (the workers of a multi-worker run other than the
    chief) it restores the chief's backup but never writes or deletes it.
    Under a multi-worker strategy, training starts only when every worker
    restored the same epoch.
    """

    def __init__(self, backup_dir, read_only=False, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.read_only = read_only

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        check_same_on_every_worker(
            self.model.distribute_strategy, "epoch to start from",
            getattr(self.model, "_initial_epoch", None) or 0,
            "the workers restored different backups; resuming a multi-worker "
            "run needs an --output-dir that every worker shares")

    def on_train_end(self, logs=None):
        if not self.read_only:
            super().on_train_end(logs)

    def _save_model(self):
        if self.read_only:
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        partial_weights = os.path.join(self.backup_dir, "partial.weights.h5")
        self.model.save_weights(partial_weights, overwrite=True)
        partial_metadata = self._training_metadata_path + ".partial"
        with open(partial_metadata, "w") as f:
            json.dump({"epoch": self._current_epoch,
                       "batch": self._last_batch_seen}, f)
        os.replace(partial_weights, self._weights_path)
        os.replace(partial_metadata, self._training_metadata_path)


def default_run_name(family, variational):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{family}_{'vae' if variational else 'ae'}_{stamp}"


def train(family="conv", variational=True, latent_dim=2, epochs=40,
          batch_size=32, reconstruction_loss="bce", beta=1.0,
          dataset="digits", output_dir="saved_models", run_name=None, seed=0,
          learning_rate=1e-3, distribute="none", resume=False, export=True,
          verbose="auto", family_options=None):
    """Trains an autoencoder and writes the run's artefacts.

    Every argument is checked and the data is loaded before anything is
    written; an existing run is never overwritten (`resume=True` continues an
    unfinished run from its last completed epoch instead).

    Args:
        family: str, one of `list_autoencoders()`.
        variational: bool, train a VAE (`True`) or a plain AE.
        latent_dim: int > 0, size of the code.
        epochs: int > 0, number of epochs.
        batch_size: int > 0, global batch size.
        reconstruction_loss: `"mse"` or `"bce"`.
        beta: float >= 0, weight of the KL term (VAE).
        dataset: `"digits"` (embedded) or a dataset name `load_dataset` knows.
        output_dir: str, directory that holds the runs.
        run_name: str or `None` (then `<family>_<ae|vae>_<timestamp>`).
        seed: int, seed of the weights, the shuffles and the sampling.
        learning_rate: float > 0, Adam's learning rate.
        distribute: `"none"`, `"mirrored"` or `"multi-worker"`.
        resume: bool, continue the unfinished run `run_name` if it exists.
        export: bool, also write the SavedModel and the TFLite model.
        verbose: Keras' `fit` verbosity.
        family_options: dict of the family's own options, or `None`.

    Returns:
        A dict with `run_dir`, `artefacts` (name -> path), `metrics` (the
        last epoch's logged figures) and `chief` (`False` on the workers of a
        multi-worker run that are not its chief: they write no artefacts).
    """
    # --- Check everything before touching the disk ---------------------------
    check_choice("family", family, list_autoencoders())
    latent_dim = check_positive_int("latent_dim", latent_dim)
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    check_choice("reconstruction_loss", reconstruction_loss, RECONSTRUCTION_LOSSES)
    beta = check_non_negative_number("beta", beta)
    seed = check_seed("seed", seed)
    learning_rate = check_non_negative_number("learning_rate", learning_rate)
    if learning_rate == 0:
        raise ValueError("`learning_rate` must be > 0. Received: learning_rate=0")
    check_choice("distribute", distribute, DISTRIBUTION_STRATEGIES)
    family_options = dict(family_options or {})
    if resume and not run_name:
        raise ValueError(
            "`resume=True` needs the `run_name` of the run to continue. "
            "Received: run_name=None"
        )
    run_name = run_name or default_run_name(family, variational)
    if os.sep in run_name or run_name in (".", ".."):
        raise ValueError(
            "`run_name` must be a plain directory name. Received: "
            f"run_name={run_name!r}"
        )
    run_dir = os.path.join(output_dir, run_name)
    config = {
        "family": family, "variational": bool(variational),
        "latent_dim": latent_dim, "epochs": epochs, "batch_size": batch_size,
        "reconstruction_loss": reconstruction_loss, "beta": beta,
        "dataset": dataset, "seed": seed, "learning_rate": learning_rate,
        "distribute": distribute, "family_options": family_options,
    }
    (x_train, y_train), (x_val, y_val) = load_dataset(dataset, seed=seed)
    check_finite("dataset", x_train)
    check_finite("dataset", x_val)
    strategy = make_strategy(distribute)
    chief = is_chief(strategy)
    # Only the chief checks the run directory; every worker learns its verdict
    # before anything is written, so none is left waiting for one that stopped.
    refusal, resuming = None, False
    if chief:
        try:
            resuming = _check_run_dir(run_dir, resume, config)
        except ValueError as error:
            refusal = error
    if max(worker_values(strategy, refusal is not None)):
        raise refusal or ValueError(
            f"The chief worker refused the run {run_dir!r} (see its error); "
            "nothing was written."
        )

    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = build_autoencoder(
            family, x_train.shape[1:], latent_dim, variational=variational,
            reconstruction_loss=reconstruction_loss, beta=beta, seed=seed,
            **family_options,
        )
        model.compile(optimizer=keras.optimizers.Adam(learning_rate))

    if chief:
        result = _fit_and_write(model, config, x_train, (x_val, y_val),
                                output_dir, run_name, resuming, export, verbose)
    else:
        # The other workers take part in every step, including the collective
        # reads of saving, but write into a scratch directory (as in Keras'
        # multi-worker guide) and restore the chief's backups.
        scratch = tempfile.mkdtemp(prefix="keras_ae_worker_")
        try:
            result = _fit_and_write(model, config, x_train, (x_val, y_val),
                                    scratch, run_name, False, export, verbose,
                                    backup_dir=os.path.join(run_dir, BACKUP_DIR))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        result = {"run_dir": run_dir, "artefacts": {},
                  "metrics": result["metrics"]}
    result["chief"] = chief
    # No worker leaves before the run is written: a worker that stops early
    # looks like a crashed one to the others.
    worker_values(strategy, 0)
    return result


def _fit_and_write(model, config, x_train, validation, output_dir, run_name,
                   resuming, export, verbose, backup_dir=None):
    """Trains `model` and writes the run into `<output_dir>/<run_name>`.

    `backup_dir` given: restore that (the chief's) backup, never write one.
    """
    x_val, y_val = validation
    run_dir = os.path.join(output_dir, run_name)
    batch_size, seed = config["batch_size"], config["seed"]
    os.makedirs(run_dir, exist_ok=resuming)
    if not resuming:
        _write_json(os.path.join(run_dir, "run_config.json"), config)
    callbacks = [
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs")),
        keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"),
                                  append=True),
        # After the CSV row: a run killed between the two redoes the epoch
        # and `read_history` keeps the last row of each epoch.
        AtomicBackupAndRestore(backup_dir or os.path.join(run_dir, BACKUP_DIR),
                               read_only=backup_dir is not None),
    ]
    model.fit(
        make_dataset(x_train, batch_size=batch_size, seed=seed),
        validation_data=make_dataset(x_val, batch_size=batch_size, shuffle=False),
        epochs=config["epochs"], callbacks=callbacks, verbose=verbose,
        shuffle=False,
    )

    # --- Write the artefacts --------------------------------------------------
    artefacts = {"run_config": os.path.join(run_dir, "run_config.json")}
    artefacts["model"] = os.path.join(run_dir, "model.keras")
    model.save(artefacts["model"])
    history = read_history(os.path.join(run_dir, "history.csv"))
    artefacts["history"] = os.path.join(run_dir, "history.json")
    _write_json(artefacts["history"], history)
    artefacts.update(write_figures(model, x_val, y_val, run_dir, seed=seed,
                                   history=history))
    artefacts["tensorboard_logs"] = os.path.join(run_dir, "logs")
    if export:
        artefacts["saved_model"] = export_lib.export_saved_model(
            model, output_dir, run_name)
        artefacts["tflite"] = export_lib.convert_to_tflite(
            artefacts["saved_model"],
            output_path=os.path.join(run_dir, "model.tflite"))
        serving_config = export_lib.refresh_serving_config(output_dir)
        if serving_config:
            artefacts["serving_config"] = serving_config
    metrics = {name: values[-1] for name, values in history.items()
               if name != "epoch"}
    return {"run_dir": run_dir, "artefacts": artefacts, "metrics": metrics}


def write_figures(model, x_val, y_val, run_dir, seed=0, history=None,
                  num_examples=10):
    """Writes the figures of a trained model; returns `{name: path}`."""
    paths = {}
    originals = x_val[:num_examples]
    paths["reconstructions"] = os.path.join(run_dir, "reconstructions.png")
    plotting.plot_reconstructions(originals, model.reconstruct(originals),
                                  paths["reconstructions"])
    paths["latent_space"] = os.path.join(run_dir, "latent_space.png")
    plotting.plot_latent_space(model.encode(x_val), y_val, paths["latent_space"])
    if history:
        paths["learning_curves"] = os.path.join(run_dir, "history.png")
        plotting.plot_history(history, paths["learning_curves"])
    if hasattr(model, "sample"):
        paths["samples"] = os.path.join(run_dir, "samples.png")
        plotting.plot_grid(model.sample(64, seed=seed), paths["samples"],
                           "Samples decoded from the prior N(0, I)")
        if model.latent_dim == 2:
            paths["manifold"] = os.path.join(run_dir, "manifold.png")
            plotting.plot_manifold(model, paths["manifold"])
    return paths


def read_history(csv_path):
    """Reads a `CSVLogger` file into `{metric: [value per epoch]}`.

    When an epoch appears twice (a resumed run redid it), the last row wins.
    """
    rows = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            rows[int(row["epoch"])] = row
    history = {}
    for epoch in sorted(rows):
        for name, value in rows[epoch].items():
            history.setdefault(name, []).append(
                int(value) if name == "epoch" else float(value))
    return history


def _check_run_dir(run_dir, resume, config):
    """Returns whether the run continues; raises if it would overwrite one."""
    if not os.path.exists(run_dir):
        return False
    if not resume:
        raise ValueError(
            "`run_name` names a run that already exists; nothing is "
            f"overwritten. Received: output directory {run_dir!r}. Choose "
            "another run name, or pass resume=True (--resume) to continue an "
            "unfinished run."
        )
    if os.path.exists(os.path.join(run_dir, "model.keras")):
        raise ValueError(
            f"The run in {run_dir!r} has finished; there is nothing to resume. "
            "Choose another run name."
        )
    config_path = os.path.join(run_dir, "run_config.json")
    if not os.path.exists(config_path):
        raise ValueError(
            f"{run_dir!r} is not a keras_ae run (no run_config.json); "
            "nothing is overwritten."
        )
    with open(config_path) as f:
        saved = json.load(f)
    config = json.loads(json.dumps(config))  # tuples read back as lists
    differences = {k: (saved.get(k), v) for k, v in config.items()
                   if saved.get(k) != v}
    if differences:
        listed = "; ".join(f"{k}: run has {a!r}, received {b!r}"
                           for k, (a, b) in differences.items())
        raise ValueError(
            f"A resumed run must keep its arguments. Received different ones "
            f"for {run_dir!r}: {listed}"
        )
    if not os.path.isdir(os.path.join(run_dir, BACKUP_DIR)):
        # Killed before the first epoch ended: start over, keeping the config.
        for name in ("history.csv", "logs"):
            path = os.path.join(run_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    return True


def _write_json(path, data):
    with open(path, "x") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def summarize(result):
    """Formats a `train()` result for the terminal."""
    if not result.get("chief", True):
        lines = [f"Trained as a worker; the chief writes the run to "
                 f"{result['run_dir']}"]
    else:
        lines = [f"Run written to {result['run_dir']}"]
    width = max(len(k) for k in [*result["artefacts"], *result["metrics"]])
    for name, path in result["artefacts"].items():
        lines.append(f"  {name:<{width}}  {path}")
    lines.append("Final metrics:")
    for name, value in sorted(result["metrics"].items()):
        lines.append(f"  {name:<{width}}  {value:.4f}")
    return "\n".join(lines)

