"""The main job: train an autoencoder and write every artefact of the run.

`train(model_config, training_config, output_dir, run_name)` is what
`python -m keras_ae train` runs. A run lives in `<output_dir>/<run_name>/`,
which is also a model directory in TF Serving's layout (the SavedModel goes
to its integer version subdirectory):

    <run_name>/
        run_config.json      the two configs (model and training) and the
                             model's spec
        model.keras          the trained model (with optimizer state)
        history.csv          one row per epoch, appended as training goes
        history.json         the same history, as {metric: [values per epoch]}
        history.png          the learning curves
        reconstructions.png  validation originals above their reconstructions
        samples.png          decoded samples from the prior (generators)
        quality.json         the model judged by a reference classifier
        latent_space.png     validation codes coloured by class
        manifold.png         decoded grid of the latent plane (latent_dim=2)
        logs/                TensorBoard logs
        1/                   SavedModel with named signatures, for TF Serving
        model.tflite         float TensorFlow Lite model

and `<output_dir>/models.config` lists every run for TF Serving. The
figures and the judged quality are `keras_ae.run_artefacts`.
"""

import datetime
import json
import os
import shutil
import sys
import tempfile

import keras

from keras_ae import __version__
from keras_ae import export as export_lib
from keras_ae.callbacks import training_recipe
from keras_ae.checks import check_choice
from keras_ae.checks import check_finite
from keras_ae.checks import check_name
from keras_ae.checks import check_output_dir

# The run's backup callback; it lives with the other private Keras APIs.
from keras_ae.compat import AtomicBackupAndRestore
from keras_ae.config import ModelConfig
from keras_ae.config import TrainingConfig
from keras_ae.corruptions import corruption_for
from keras_ae.data import load_training_data
from keras_ae.data import make_dataset
from keras_ae.distribute import is_chief
from keras_ae.distribute import make_strategy
from keras_ae.distribute import worker_values
from keras_ae.io import read_history
from keras_ae.io import read_json_file
from keras_ae.io import write_json
from keras_ae.run_artefacts import is_labelled_images
from keras_ae.run_artefacts import judge_model
from keras_ae.run_artefacts import write_figures

__all__ = ["train", "resumable_runs", "default_run_name", "BACKUP_DIR"]

BACKUP_DIR = "backup"


def default_run_name(model_config):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{model_config.family}_{model_config.objective}_{stamp}"


def train(model_config=None, training_config=None, output_dir="saved_models",
          run_name=None, resume=False, verbose="auto"):
    """Trains an autoencoder and writes the run's artefacts.

    Every argument is checked and the data is loaded before anything is
    written; an existing run is never overwritten (`resume=True` continues an
    unfinished run from its last completed epoch instead).

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
    # The output location and the run's name are checked before the data is
    # loaded and the model built; the resumed run's settings after.
    resuming = _on_chief_then_agree(
        strategy, chief, run_dir,
        lambda: _check_run_dir(output_dir, run_name, resume))
    data = load_training_data(training_config)
    (x_train, _), (x_val, _) = data["train"], data["validation"]
    keras.utils.set_random_seed(training_config.seed)
    with strategy.scope():
        spec = model_config.spec(x_train.shape[1:], seed=training_config.seed)
        model = spec.build()
        model.compile(optimizer=keras.optimizers.Adam(
            training_config.learning_rate))
    # What the run is made of, kept to refuse a resume that would change it.
    config = {"keras_ae_version": __version__,
              "model": model_config.to_dict(),
              "training": training_config.to_dict(),
              "data": data["source"],
              "spec": model.get_config()}
    _on_chief_then_agree(
        strategy, chief, run_dir,
        lambda: resuming and _check_resumed_config(run_dir, config))

    if chief:
        result = _fit_and_write(model, config, training_config, data,
                                output_dir, run_name, resuming, verbose)
    else:
        # The other workers take part in every step, including the collective
        # reads of saving, but write into a scratch directory (as in Keras'
        # multi-worker guide) and restore the chief's backups.
        scratch = tempfile.mkdtemp(prefix="keras_ae_worker_")
        try:
            result = _fit_and_write(
                model, config, training_config, data, scratch, run_name,
                False, verbose, backup_dir=os.path.join(run_dir, BACKUP_DIR))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        result = {**result, "run_dir": run_dir, "artefacts": {}}
    result["chief"] = chief
    # No worker leaves before the run is written: a worker that stops early
    # looks like a crashed one to the others.
    worker_values(strategy, 0)
    return result


def _fit_and_write(model, config, training, data, output_dir, run_name,
                   resuming, verbose, backup_dir=None):
    """Trains `model` and writes the run into `<output_dir>/<run_name>`.

    `backup_dir` given: restore that (the chief's) backup, never write one.
    """
    (x_train, y_train), (x_val, y_val) = data["train"], data["validation"]
    run_dir = os.path.join(output_dir, run_name)
    os.makedirs(run_dir, exist_ok=resuming)
    if not resuming:
        write_json(os.path.join(run_dir, "run_config.json"), config)
    callbacks = [
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs")),
        keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"),
                                  append=True),
        # After the CSV row: a run killed between the two redoes the epoch
        # and `read_history` keeps the last row of each epoch.
        AtomicBackupAndRestore(backup_dir or os.path.join(run_dir, BACKUP_DIR),
                               read_only=backup_dir is not None),
        *training_recipe(
            training.epochs, training.learning_rate,
            kl_warmup_epochs=training.kl_warmup_epochs,
            cosine_decay=training.cosine_decay,
            restore_best_weights=training.restore_best_weights),
    ]
    image_shape = x_train.shape[1:]
    # A conditional model takes the labels with its inputs.
    conditional = getattr(model, "conditional", False)
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

    model.finish_training(x_train, y_train, seed=training.seed,
                          verbose=verbose)

    # --- Write the artefacts --------------------------------------------------
    artefacts = {"run_config": os.path.join(run_dir, "run_config.json"),
                 "model": os.path.join(run_dir, "model.keras")}
    model.save(artefacts["model"])
    history = read_history(os.path.join(run_dir, "history.csv"))
    artefacts["history"] = os.path.join(run_dir, "history.json")
    write_json(artefacts["history"], history)
    artefacts.update(write_figures(model, x_val, y_val, run_dir,
                                   seed=training.seed, history=history))
    quality = {}
    if training.judge and backup_dir is None and is_labelled_images(
            y_train, x_val):
        quality = judge_model(model, (x_train, y_train), (x_val, y_val),
                              seed=training.seed)
        artefacts["quality"] = os.path.join(run_dir, "quality.json")
        write_json(artefacts["quality"], quality)
    artefacts["tensorboard_logs"] = os.path.join(run_dir, "logs")
    if training.export:
        artefacts["saved_model"] = export_lib.export_saved_model(
            model, output_dir, run_name)
        artefacts["tflite"] = export_lib.convert_to_tflite(
            artefacts["saved_model"],
            output_path=os.path.join(run_dir, "model.tflite"))
        serving_config = export_lib.refresh_serving_config(output_dir)
        if serving_config:
            artefacts["serving_config"] = serving_config
    best_epoch = _kept_epoch(history, training)
    metrics = {name: values[best_epoch] for name, values in history.items()
               if name != "epoch"}
    return {"run_dir": run_dir, "artefacts": artefacts, "metrics": metrics,
            "best_epoch": best_epoch + 1, "epochs": len(history.get("epoch", [])),
            "quality": quality}


def _kept_epoch(history, training):
    """The index of the epoch whose weights the model ends with."""
    losses = history.get("val_loss") or history.get("loss") or [0.0]
    if not training.restore_best_weights:
        return len(losses) - 1
    start = min(training.kl_warmup_epochs, len(losses) - 1)
    return min(range(start, len(losses)), key=lambda i: losses[i])


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
        except (ValueError, OSError) as error:
            refusal = error
    if max(worker_values(strategy, refusal is not None)):
        raise refusal or ValueError(
            f"The chief worker refused the run {run_dir!r} (see its error); "
            "nothing was written.")
    return result


def _check_run_dir(output_dir, run_name, resume):
    """Returns whether the run continues; raises if it would overwrite one.

    Checks, without writing anything, that `output_dir` can hold the run,
    that a new run's directory does not exist yet, and that a resumed one
    exists, is unfinished and has a readable `run_config.json`.
    """
    check_output_dir("output_dir", output_dir)
    run_dir = os.path.join(output_dir, run_name)
    if not os.path.lexists(run_dir):
        if not resume:
            return False
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
    if os.path.exists(os.path.join(run_dir, "model.keras")):
        raise ValueError(
            f"The run in {run_dir!r} has finished; there is nothing to resume. "
            "Choose another run name.")
    config_path = os.path.join(run_dir, "run_config.json")
    if not os.path.exists(config_path):
        raise ValueError(
            f"{run_dir!r} is not a keras_ae run (no run_config.json); "
            "nothing is overwritten.")
    read_json_file("run_config.json", config_path)
    check_output_dir("run_name", run_dir)
    return True


def resumable_runs(output_dir):
    """Names of the unfinished runs in `output_dir` (sorted)."""
    if not os.path.isdir(output_dir):
        return []
    return sorted(
        name for name in os.listdir(output_dir)
        if os.path.isfile(os.path.join(output_dir, name, "run_config.json"))
        and not os.path.exists(os.path.join(output_dir, name, "model.keras")))


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
    if not os.path.isdir(os.path.join(run_dir, BACKUP_DIR)):
        # Killed before the first epoch ended: start over, keeping the config.
        for name in ("history.csv", "logs"):
            path = os.path.join(run_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    return True
