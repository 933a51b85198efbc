"""The main job: train an autoencoder and write every artefact of the run.

`train(model_config, training_config, output_dir, run_name)` is what
`python -m keras_ae train` runs. A run lives in `<output_dir>/<run_name>/`,
which is also a model directory in TF Serving's layout (the SavedModel goes
to its integer version subdirectory):

    <run_name>/
        run_state.json       where the run is in its life (below)
        run_config.json      the two configs (model and training) and the
                             model's spec
        backup/              the last committed epoch (until complete)
        model.keras          the trained model (with optimizer state)
        history.csv          one row per epoch, appended as training goes
        history.json         the same history, as {metric: [values per epoch]}
        history.png          the learning curves
        reconstructions.png  validation originals above their reconstructions
        samples.png          decoded samples from the prior (generators)
                             or from the ex-post sampler (AE, RAE)
        sampler.json         that sampler, a Gaussian mixture of the codes
        quality.json         the model judged by a reference classifier
        latent_space.png     validation codes coloured by class
        manifold.png         decoded grid of the latent plane (latent_dim=2)
        logs/                TensorBoard logs
        1/                   SavedModel with named signatures, for TF Serving
        model.tflite         float TensorFlow Lite model

and `<output_dir>/models.config` lists every run for TF Serving. The
figures and the judged quality are `keras_ae.run_artefacts`.

A run's life is a small state machine, recorded in `run_state.json` and
updated atomically (`STATES`):

    created -> training -> trained -> exported -> complete

*created*: the directory and `run_config.json` exist. *training*: epochs
are committed one by one (each epoch's row goes to `history.csv`, then the
backup commits its weights in one rename: `keras_ae.compat.
AtomicBackupAndRestore`). *trained*: `model.keras` is written to a
temporary name and renamed. *exported*: every other artefact is written,
each renamed into place. *complete*: the backup is deleted, only now.
`resume=True` (`--resume`) continues from whatever state a kill left: it
trains again only the epochs the backup did not commit, and writes the
artefacts a finished training lacks, so a kill at any moment loses at most
the epoch in progress. One writer per run: `train` holds the run
directory's writer lock (`keras_ae.io.writer_lock`), so a second `train`
or `--resume` of the same run is refused at once, naming the first.
"""

import contextlib
import datetime
import json
import math
import os
import shutil
import sys
import tempfile
import warnings

import keras
import numpy as np

from keras_ae import export as export_lib
from keras_ae import io
from keras_ae.callbacks import training_recipe
from keras_ae.checks import check_choice
from keras_ae.checks import check_name
from keras_ae.checks import check_output_dir

# The run's backup and its restore live with the other private Keras APIs.
from keras_ae.compat import AtomicBackupAndRestore
from keras_ae.compat import read_backup
from keras_ae.compat import restore_backup
from keras_ae.config import ModelConfig
from keras_ae.config import TrainingConfig
from keras_ae.corruptions import corruption_for
from keras_ae.data import load_training_data
from keras_ae.data import make_dataset
from keras_ae.distribute import check_same_on_every_worker
from keras_ae.distribute import is_chief
from keras_ae.distribute import make_strategy
from keras_ae.distribute import worker_values
from keras_ae.export.export_utils import load_keras_model
from keras_ae.io import read_history
from keras_ae.io import read_json_file
from keras_ae.io import write_json
from keras_ae.run_artefacts import generator_of
from keras_ae.run_artefacts import is_labelled_images
from keras_ae.run_artefacts import judge_model
from keras_ae.run_artefacts import write_figures
from keras_ae.samplers import SAMPLER_FILE
from keras_ae.samplers import load_sampler
from keras_ae.version import __version__

__all__ = ["train", "resumable_runs", "run_state", "default_run_name",
           "fit_verbosity", "NonFiniteLossError", "BACKUP_DIR", "RUN_STATE",
           "STATES"]

BACKUP_DIR = "backup"
RUN_STATE = "run_state.json"
STATES = ("created", "training", "trained", "exported", "complete")
_CREATED, _TRAINING, _TRAINED, _EXPORTED, _COMPLETE = STATES
_AGAIN = "start again with another --run-name"
_DISAGREE = ("the workers restored different backups; resuming a multi-worker "
             "run needs an --output-dir that every worker shares")


class NonFiniteLossError(ValueError):
    """Raised when a loss becomes NaN or infinite: training stops, nothing is exported."""


def default_run_name(model_config):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{model_config.family}_{model_config.objective}_{stamp}"


def train(model_config=None, training_config=None, output_dir="saved_models",
          run_name=None, resume=False, verbose="auto"):
    """Trains an autoencoder and writes the run's artefacts.

    Every argument is checked and the data is loaded before anything is
    written; an existing run is never overwritten (`resume=True` continues
    an unfinished run from wherever it stopped instead). A loss that
    becomes NaN or infinite stops training with a `NonFiniteLossError`;
    nothing is exported then.

    Args:
        model_config: `keras_ae.config.ModelConfig` (or a dict of its
            fields), the model to build; `None` for the defaults (the conv
            VAE of the main job).
        training_config: `keras_ae.config.TrainingConfig` (or a dict of its
            fields); `None` for the defaults.
        output_dir: str, the directory that holds the runs.
        run_name: str or `None` (then `<family>_<objective>_<timestamp>`).
        resume: bool, continue the unfinished run `run_name`.
        verbose: Keras' `fit` verbosity, or `"auto"` (a progress bar on a
            terminal, one line per epoch otherwise).

    Returns:
        A dict with `run_dir`, `artefacts` (name -> path), `metrics` (the
        figures of the epoch whose weights were kept), `best_epoch`,
        `quality` and `chief` (`False` on the workers of a multi-worker run
        that are not its chief: they write no artefacts).

    Example:

    >>> result = train(ModelConfig(family="dense", objective="ae"),
    ...                TrainingConfig(epochs=2), run_name="quick")
    >>> result["artefacts"]["model"]
    'saved_models/quick/model.keras'
    """
    # --- Check everything before touching the disk ---------------------------
    model_config = ModelConfig.from_dict(model_config or {})
    training_config = TrainingConfig.from_dict(training_config or {})
    if resume and not run_name:
        raise ValueError(
            "`resume=True` needs the `run_name` of the run to continue. "
            "Received: run_name=None")
    run_name = check_name("run_name", run_name or default_run_name(model_config))
    run_dir = os.path.join(output_dir, run_name)
    verbose = fit_verbosity(verbose)
    strategy = make_strategy(training_config.distribute)
    chief = is_chief(strategy)
    with contextlib.ExitStack() as held:
        # The output location, the run's name and, for a resumed run, its
        # state and files are checked (and the run locked) before the data
        # is loaded and the model built; the resumed run's settings after.
        run = _on_chief_then_agree(
            strategy, chief, run_dir,
            lambda: _open_run(output_dir, run_name, resume, held))
        data = load_training_data(training_config)
        x_train = data["train"][0]
        keras.utils.set_random_seed(training_config.seed)
        with strategy.scope():
            spec = model_config.spec(x_train.shape[1:],
                                     seed=training_config.seed,
                                     dataset_size=len(x_train))
            model = spec.build()
            model.compile(optimizer=keras.optimizers.Adam(
                training_config.learning_rate,
                global_clipnorm=training_config.gradient_clip_norm))
            # Every worker makes the optimizer's variables now, together: a
            # resumed run's backup is loaded into them by the chief alone.
            model.optimizer.build(model.trainable_variables)
        warn_if_warmup_outlasts_training(model, training_config)
        # What the run is made of, kept to refuse a resume that would change it.
        config = {"keras_ae_version": __version__,
                  "model": model_config.to_dict(),
                  "training": training_config.to_dict(),
                  "data": data["source"],
                  "spec": model.get_config()}
        _on_chief_then_agree(
            strategy, chief, run_dir,
            lambda: run is not None and run.check_resumable(config, model))
        # Every worker learns where the chief's run stands, and restores the
        # same epoch, before anything is written.
        stage = int(max(worker_values(
            strategy, STATES.index(run.state) if run else 0)))
        if stage < STATES.index(_TRAINED):
            committed = (run.committed if chief and run else _committed_epoch(
                os.path.join(run_dir, BACKUP_DIR)))
            check_same_on_every_worker(strategy, "epoch to start from",
                                       committed, _DISAGREE)
        if chief:
            result = _run_job(model, config, training_config, data,
                              output_dir, run_name, run, verbose, held)
        elif stage >= STATES.index(_TRAINED):
            # The chief only writes the artefacts its trained model lacks.
            result = {"run_dir": run_dir, "artefacts": {}, "metrics": {},
                      "best_epoch": 0, "epochs": 0, "quality": {}}
        else:
            # The other workers take part in every step, including the
            # collective reads of saving, but write into a scratch directory
            # (as in Keras' multi-worker guide) and restore the chief's
            # backups.
            scratch = tempfile.mkdtemp(prefix="keras_ae_worker_")
            try:
                result = _run_job(
                    model, config, training_config, data, scratch, run_name,
                    None, verbose, held,
                    backup_dir=os.path.join(run_dir, BACKUP_DIR))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            result = {**result, "run_dir": run_dir, "artefacts": {}}
        result["chief"] = chief
        # No worker leaves before the run is written: a worker that stops
        # early looks like a crashed one to the others.
        worker_values(strategy, 0)
    return result


def _committed_epoch(backup_dir):
    """The number of epochs a backup committed (0 when there is none)."""
    metadata = read_backup(backup_dir)
    return metadata["epoch"] if metadata else 0


# --- The run's record ------------------------------------------------------------


class _Run:
    """A run directory: its recorded state, its files, its writer lock."""

    def __init__(self, run_dir, record):
        self.run_dir = run_dir
        self.record = record
        self.committed = 0  # epochs the backup committed
        self.history_repair = []  # what resuming drops from history.csv
        self.model = None  # the trained model, once there is one

    @property
    def state(self):
        return self.record["state"]

    def path(self, *names):
        return os.path.join(self.run_dir, *names)

    def advance(self, state=None, **fields):
        """Records a new state (and fields) in `run_state.json`, atomically."""
        if state is not None:
            self.record["state"] = state
        self.record.update(fields)
        self.record["updated"] = datetime.datetime.now().isoformat(
            timespec="seconds")
        write_json(self.path(RUN_STATE), self.record, overwrite=True)

    @classmethod
    def create(cls, run_dir, config, held):
        """Makes the run directory, locks it, writes its config: *created*."""
        os.makedirs(os.path.dirname(run_dir) or ".", exist_ok=True)
        try:
            os.mkdir(run_dir)
        except FileExistsError:
            raise FileExistsError(
                f"The run {run_dir!r} was created by another process while "
                "this one loaded its data; nothing is overwritten. Choose "
                "another run name.") from None
        held.enter_context(io.writer_lock(
            run_dir, f"The run {os.path.basename(run_dir)!r}"))
        run = cls(run_dir, {"state": _CREATED,
                            "keras_ae_version": __version__})
        write_json(run.path("run_config.json"), config)
        run.advance()
        return run

    def check_resumable(self, config, model):
        """Raises unless a resumed run keeps its settings; loads its files."""
        if not os.path.exists(self.path("run_config.json")):
            return True  # killed while it was created: its config comes now
        _check_resumed_config(self.run_dir, config)
        if self.model is not None:
            sampler = self.path(SAMPLER_FILE)
            if os.path.exists(sampler):
                self.model.sampler = load_sampler(sampler, self.model)
        elif self.committed:
            # Loads the committed weights now, to refuse a backup of another
            # model before anything is written (`fit` restores them again).
            restore_backup(model, self.path(BACKUP_DIR))
            model._initial_epoch = None
        return True


def _open_run(output_dir, run_name, resume, held):
    """Returns the run to resume (locked, checked), or `None` for a new run.

    Checks, without writing anything, that `output_dir` can hold the run,
    that a new run's directory does not exist yet, and that a resumed one
    exists, is a keras_ae run that has not completed, and has readable
    files: its state, config, backup, history and, once trained, its model.
    """
    check_output_dir("output_dir", output_dir)
    run_dir = os.path.join(output_dir, run_name)
    if not os.path.lexists(run_dir):
        if not resume:
            return None
        resumable = resumable_runs(output_dir)
        raise ValueError(
            f"`run_name` names no run to resume in {output_dir!r}. Received: "
            f"run_name={run_name!r}; runs that can be resumed: "
            f"{', '.join(map(repr, resumable)) if resumable else 'none'}.")
    if not resume:
        raise FileExistsError(
            "`run_name` names a run that already exists; nothing is "
            f"overwritten. Received: output directory {run_dir!r}. Choose "
            "another run name, or pass resume=True (--resume) to continue an "
            "unfinished run.")
    if not os.path.isdir(run_dir):
        raise NotADirectoryError(
            f"`run_name` names a file, not a run, in {output_dir!r}. Received: "
            f"run_name={run_name!r}")
    check_output_dir("run_name", run_dir)
    held.enter_context(io.writer_lock(run_dir, f"The run {run_name!r}"))
    record = run_state(run_dir)
    if record["state"] == _COMPLETE:
        raise ValueError(
            f"The run in {run_dir!r} has finished; there is nothing to resume. "
            "Choose another run name.")
    if os.path.exists(os.path.join(run_dir, "run_config.json")):
        read_json_file("run_config.json",
                       os.path.join(run_dir, "run_config.json"))
    run = _Run(run_dir, record)
    if STATES.index(run.state) < STATES.index(_TRAINED):
        run.committed = _committed_epoch(run.path(BACKUP_DIR))
        run.history_repair = io.repair_history(
            run.path("history.csv"), run.committed, dry_run=True)
    else:
        run.model = load_keras_model(run.path("model.keras"), "model.keras",
                                     fix=f"its backup is gone: {_AGAIN}")
    return run


def run_state(run_dir):
    """Returns the record of a run's state, `{"state": ..., ...}`.

    Read from `run_state.json`; for a run written before it existed
    (keras_ae 0.3.0), inferred from its files. A `model.keras` is only ever
    renamed into place after training, so its presence means *trained* at
    least, whatever the record says.

    Raises:
        ValueError: `run_dir` is not a keras_ae run, or its state file is
            damaged.
    """
    path = os.path.join(run_dir, RUN_STATE)
    trained = os.path.exists(os.path.join(run_dir, "model.keras"))
    if os.path.exists(path):
        record = read_json_file(RUN_STATE, path)
        if record.get("state") not in STATES:
            raise ValueError(
                f"`{RUN_STATE}` holds no state of a run (one of "
                f"{', '.join(STATES)}). Received: file {path!r} with state="
                f"{record.get('state')!r}; {_AGAIN}.")
        if trained and STATES.index(record["state"]) < STATES.index(_TRAINED):
            record["state"] = _TRAINED
        return record
    config_path = os.path.join(run_dir, "run_config.json")
    if not os.path.exists(config_path):
        if all(entry.startswith(io.TEMP_PREFIX)
               for entry in os.listdir(run_dir)):
            # Killed right after the directory was made: nothing to lose.
            return {"state": _CREATED}
        raise ValueError(
            f"{run_dir!r} is not a keras_ae run (no run_config.json); "
            "nothing is overwritten.")
    if not trained:
        return {"state": _TRAINING}
    saved = read_json_file("run_config.json", config_path)
    exported = saved.get("training", {}).get("export", True)
    needed = ["history.json"] + (["1/saved_model.pb", "model.tflite"]
                                 if exported else [])
    if all(os.path.exists(os.path.join(run_dir, name)) for name in needed):
        return {"state": _COMPLETE}
    return {"state": _TRAINED}


def resumable_runs(output_dir):
    """Names of the runs in `output_dir` that have not completed (sorted)."""
    if not os.path.isdir(output_dir):
        return []
    names = []
    for name in sorted(os.listdir(output_dir)):
        run_dir = os.path.join(output_dir, name)
        if not os.path.isfile(os.path.join(run_dir, "run_config.json")):
            continue
        try:
            if run_state(run_dir)["state"] != _COMPLETE:
                names.append(name)
        except ValueError:
            names.append(name)  # resuming says what is wrong with it
    return names


def _check_resumed_config(run_dir, config):
    """Raises unless a resumed run keeps its settings; returns `True`."""
    saved = read_json_file("run_config.json",
                           os.path.join(run_dir, "run_config.json"))
    config = json.loads(json.dumps(config))  # tuples read back as lists
    differences = {k: (saved.get(k), v) for k, v in config.items()
                   if k != "keras_ae_version" and saved.get(k) != v}
    if differences:
        listed = "; ".join(f"{k}: run has {a!r}, received {b!r}"
                           for k, (a, b) in differences.items())
        raise ValueError(
            f"A resumed run must keep its settings. Received different ones "
            f"for {run_dir!r}: {listed}")
    return True


# --- The job ---------------------------------------------------------------------


class _NonFiniteLossGuard(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss, before its epoch is committed.

    It comes first among the callbacks: at the end of an epoch it runs
    before the history row and the backup, so a diverged epoch is never
    committed, and nothing after it (model, export) is written.
    """

    def __init__(self, learning_rate):
        super().__init__()
        self.learning_rate = learning_rate
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, f"step {batch + 1} of epoch {self._epoch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, f"the end of epoch {epoch + 1}")

    def _check(self, logs, where):
        bad = {name: float(np.asarray(value).ravel()[0])
               for name, value in (logs or {}).items()
               if name.endswith("loss")
               and not np.all(np.isfinite(np.asarray(value, dtype="float64")))}
        if bad:
            shown = ", ".join(f"{name}={value}" for name, value in bad.items())
            raise NonFiniteLossError(
                f"Training diverged at {where}: {shown} (learning_rate="
                f"{self.learning_rate:g}); nothing was exported and the "
                "epochs committed before it are kept. Lower --learning-rate "
                f"and {_AGAIN}.")


class _EpochRecorder(keras.callbacks.Callback):
    """Records each committed epoch in the run's state (after the backup)."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        self.run.advance(epochs_committed=epoch + 1)


def _run_job(model, config, training, data, output_dir, run_name, run,
             verbose, held, backup_dir=None):
    """Trains `model` (or takes the run's trained one) and writes the run.

    `backup_dir` given (a worker that is not the chief): restore that (the
    chief's) backup, never write one.
    """
    run_dir = os.path.join(output_dir, run_name)
    if run is None:
        run = _Run.create(run_dir, config, held)
    else:
        io.remove_stale_temporaries(run_dir)
        if not os.path.exists(run.path("run_config.json")):
            write_json(run.path("run_config.json"), config)
    if STATES.index(run.state) < STATES.index(_TRAINED):
        model, best_epoch = _train_model(model, training, data, run,
                                         verbose, backup_dir)
    else:
        model, best_epoch = run.model, run.record.get("best_epoch")
    return _write_artefacts(model, training, data, output_dir, run_name, run,
                            best_epoch, chief=backup_dir is None)


def _train_model(model, training, data, run, verbose, backup_dir):
    """*training*, then *trained*: fits, commits `model.keras`; returns it."""
    (x_train, y_train), (x_val, y_val) = data["train"], data["validation"]
    if run.history_repair:
        io.repair_history(run.path("history.csv"), run.committed)
    # A sampler written by a run killed before `model.keras` was not
    # committed with it; it is fitted again.
    if os.path.exists(run.path(SAMPLER_FILE)):
        os.remove(run.path(SAMPLER_FILE))
    run.advance(_TRAINING, epochs=training.epochs)
    warmup = min(training.kl_warmup_epochs, training.epochs - 1)
    backup = AtomicBackupAndRestore(
        backup_dir or run.path(BACKUP_DIR), read_only=backup_dir is not None,
        # Kept until the run is complete, so that a kill after training
        # still finds the trained weights.
        delete_checkpoint=False,
        monitor="val_loss" if training.restore_best_weights else None,
        start_from_epoch=warmup)
    callbacks = [
        _NonFiniteLossGuard(training.learning_rate),
        keras.callbacks.TensorBoard(run.path("logs")),
        keras.callbacks.CSVLogger(run.path("history.csv"), append=True),
        # After the CSV row: a run killed between the two redoes the epoch,
        # and resuming drops the row of the epoch it redoes.
        backup,
        _EpochRecorder(run),
        # The best epoch's weights are kept by the backup, so that a resumed
        # run remembers it: not by EarlyStopping.
        *training_recipe(
            training.epochs, training.learning_rate,
            kl_warmup_epochs=training.kl_warmup_epochs,
            cosine_decay=training.cosine_decay, restore_best_weights=False),
    ]
    image_shape = x_train.shape[1:]
    # A conditional model takes the labels with its inputs.
    conditional = getattr(model, "conditional", False)
    try:
        model.fit(
            make_dataset(x_train, batch_size=training.batch_size,
                         seed=training.seed,
                         corruption=corruption_for(training.corruption,
                                                   training.seed, image_shape),
                         labels=y_train if conditional else None),
            validation_data=make_dataset(
                x_val, batch_size=training.batch_size, shuffle=False,
                corruption=corruption_for(training.corruption,
                                          training.seed + 1, image_shape),
                labels=y_val if conditional else None),
            epochs=training.epochs, callbacks=callbacks, verbose=verbose,
            shuffle=False)
    except NonFiniteLossError as error:
        run.advance(stopped=str(error))
        raise
    model.finish_training(x_train, y_train, seed=training.seed,
                          verbose=verbose)
    best = backup._best if training.restore_best_weights else None
    best_epoch = best["epoch"] if best else None
    # --- *trained*: the model (and the sampler fitted after `fit`) ----------
    generator = generator_of(model)
    if generator is not None and generator is not model:
        generator.save(run.path(SAMPLER_FILE))
    temp_dir = io.temporary_directory(run.run_dir)
    try:
        staged = os.path.join(temp_dir, "model.keras")
        model.save(staged)
        os.replace(staged, run.path("model.keras"))
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    run.advance(_TRAINED, best_epoch=best_epoch)
    return model, best_epoch


def _write_artefacts(model, training, data, output_dir, run_name, run,
                     best_epoch, chief=True):
    """*exported*, then *complete*: every artefact a trained run lacks."""
    (x_train, y_train), (x_val, y_val) = data["train"], data["validation"]
    run_dir = run.run_dir
    artefacts = {"run_config": run.path("run_config.json"),
                 "model": run.path("model.keras")}
    history = read_history(run.path("history.csv"))
    artefacts["history"] = write_json(run.path("history.json"), history,
                                      overwrite=True)
    figures = run.record.get("figures")
    if not figures or not all(os.path.exists(run.path(f))
                              for f in figures.values()):
        figures = _write_figures(model, x_val, y_val, run, training.seed,
                                 history)
        run.advance(figures=figures)
    artefacts.update({name: run.path(f) for name, f in figures.items()})
    quality = {}
    if training.judge and chief and is_labelled_images(y_train, x_val):
        artefacts["quality"] = run.path("quality.json")
        if os.path.exists(artefacts["quality"]):
            quality = read_json_file("quality.json", artefacts["quality"])
        else:
            quality = judge_model(model, (x_train, y_train), (x_val, y_val),
                                  seed=training.seed)
            write_json(artefacts["quality"], quality)
    artefacts["tensorboard_logs"] = run.path("logs")
    if training.export:
        artefacts["saved_model"] = run.path("1")
        if not os.path.exists(run.path("1", "saved_model.pb")):
            export_lib.export_saved_model(model, output_dir, run_name,
                                          version=1)
        artefacts["tflite"] = run.path("model.tflite")
        if not os.path.exists(artefacts["tflite"]):
            export_lib.convert_to_tflite(artefacts["saved_model"],
                                         output_path=artefacts["tflite"])
        serving_config = export_lib.refresh_serving_config(output_dir)
        if serving_config:
            artefacts["serving_config"] = serving_config
    run.advance(_EXPORTED)
    # --- *complete*: the backup is no longer needed ---------------------------
    shutil.rmtree(run.path(BACKUP_DIR), ignore_errors=True)
    run.advance(_COMPLETE)
    if best_epoch is None or not chief:
        # A worker's scratch history holds only the epochs it trained in
        # this process: the chief's best epoch may lie before them.
        best_epoch = _kept_epoch(history, training)
    metrics = {name: values[best_epoch] for name, values in history.items()
               if name != "epoch"}
    return {"run_dir": run_dir, "artefacts": artefacts, "metrics": metrics,
            "best_epoch": best_epoch + 1,
            "epochs": len(history.get("epoch", [])), "quality": quality}


def _write_figures(model, x_val, y_val, run, seed, history):
    """Writes the figures into a temporary directory, then each into place.

    A kill while a figure is drawn never tears one already in the run.
    Returns `{name: file name}`.
    """
    temp_dir = io.temporary_directory(run.run_dir)
    try:
        paths = write_figures(model, x_val, y_val, temp_dir, seed=seed,
                              history=history)
        figures = {}
        for name, path in paths.items():
            figures[name] = os.path.basename(path)
            os.replace(path, run.path(figures[name]))
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    return figures


def _kept_epoch(history, training):
    """The index of the epoch whose weights the model ends with."""
    losses = history.get("val_loss") or history.get("loss") or [0.0]
    if not training.restore_best_weights:
        return len(losses) - 1
    start = min(training.kl_warmup_epochs, len(losses) - 1)
    finite = [i for i in range(start, len(losses)) if math.isfinite(losses[i])]
    return min(finite or [len(losses) - 1], key=lambda i: losses[i])


def warn_if_warmup_outlasts_training(model, training_config):
    """Warns when a model with a KL term never trains at its full weight."""
    if (hasattr(model, "kl_weight") and training_config.kl_warmup_epochs
            >= training_config.epochs):
        warnings.warn(
            f"kl_warmup_epochs={training_config.kl_warmup_epochs} is not "
            f"below epochs={training_config.epochs}: the KL term never "
            "reaches its full weight, so the codes do not follow the prior "
            "and samples from it look like grey blobs; train for more "
            "epochs or pass --kl-warmup-epochs "
            f"{max(0, training_config.epochs - 1)}.", stacklevel=2)
        return True
    return False


def fit_verbosity(verbose):
    """Keras' `fit` verbosity; `"auto"` is one line per epoch unless on a terminal.

    A progress bar written to a file or a pipe repeats each step's line (a
    40-epoch run wrote thousands of lines), so `"auto"` gives Keras'
    `verbose=2` there and the progress bar (`verbose=1`) on a terminal.
    """
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return check_choice("verbose", verbose, ("auto", 0, 1, 2))


def _on_chief_then_agree(strategy, chief, run_dir, check):
    """Runs `check()` on the chief; every worker raises if the chief refused.

    Only the chief checks the run directory; every worker learns its verdict
    before anything is written, so none is left waiting for one that stopped.
    Returns what `check()` returned on the chief (`None` on the others).
    """
    refusal, result = None, None
    if chief:
        try:
            result = check()
        except (ValueError, OSError, io.LockedError) as error:
            refusal = error
    if max(worker_values(strategy, refusal is not None)):
        raise refusal or ValueError(
            f"The chief worker refused the run {run_dir!r} (see its error); "
            "nothing was written.")
    return result
