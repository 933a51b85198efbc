"""The main job: train an autoencoder and write every artefact of the run.

`train()` is what `python -m keras_ae train` runs. A run lives in
`<output_dir>/<run_name>/`, which is also a model directory in TF Serving's
layout (the SavedModel goes to its integer version subdirectory):

    <run_name>/
        run_config.json      the training settings and the model's config
        model.keras          the trained model (with optimizer state)
        history.csv          one row per epoch, appended as training goes
        history.json         the same history, as {metric: [values per epoch]}
        history.png          the learning curves
        reconstructions.png  validation originals above their reconstructions
        samples.png          decoded samples from the prior (VAE)
        quality.json         the model judged by a reference classifier
        latent_space.png     validation codes coloured by class
        manifold.png         decoded grid of the latent plane (VAE, latent_dim=2)
        logs/                TensorBoard logs
        1/                   SavedModel with named signatures, for TF Serving
        model.tflite         float TensorFlow Lite model

and `<output_dir>/models.config` lists every run for TF Serving. The
figures, the judged quality and the summary are `keras_ae.run_artefacts`.
"""

import datetime
import json
import os
import shutil
import sys
import tempfile

import keras

from keras_ae import export as export_lib
from keras_ae.callbacks import training_recipe
from keras_ae.checks import check_bool
from keras_ae.checks import check_choice
from keras_ae.checks import check_finite
from keras_ae.checks import check_non_negative_number
from keras_ae.checks import check_output_dir
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.checks import read_json_file
# The run's backup callback; it lives with the other private Keras APIs.
from keras_ae.compat import AtomicBackupAndRestore
from keras_ae.data import load_dataset
from keras_ae.data import make_dataset
from keras_ae.distribute import DISTRIBUTION_STRATEGIES
from keras_ae.distribute import is_chief
from keras_ae.distribute import make_strategy
from keras_ae.distribute import worker_values
from keras_ae.losses import RECONSTRUCTION_LOSSES
from keras_ae.registry import build_autoencoder
from keras_ae.registry import check_code_shape
from keras_ae.registry import list_autoencoders
from keras_ae.run_artefacts import is_labelled_images
from keras_ae.run_artefacts import judge_model
from keras_ae.run_artefacts import read_history
from keras_ae.run_artefacts import summarize  # noqa: F401  (the command's)
from keras_ae.run_artefacts import write_figures

BACKUP_DIR = "backup"


def default_run_name(family, variational):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{family}_{'vae' if variational else 'ae'}_{stamp}"


def train(family="conv", variational=True, latent_dim=16, epochs=30,
          batch_size=128, reconstruction_loss="bce", beta=1.0,
          dataset="digits", output_dir="saved_models", run_name=None, seed=0,
          learning_rate=3e-3, kl_warmup_epochs=5, cosine_decay=True,
          restore_best_weights=True, judge=True, distribute="none",
          resume=False, export=True, verbose="auto", family_options=None):
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
        learning_rate: float > 0, Adam's (initial) learning rate.
        kl_warmup_epochs: int >= 0, epochs over which the KL term of a VAE
            reaches its full weight (`keras_ae.callbacks.KLWarmup`; 0: none).
        cosine_decay: bool, decay the learning rate along a half cosine.
        restore_best_weights: bool, end with the weights of the epoch with
            the lowest `val_loss`.
        judge: bool, train a reference classifier on the labelled training
            images and report how often it recognises the true class in the
            validation reconstructions and which classes the prior samples
            cover (`quality.json`); skipped for unlabelled datasets.
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
    check_code_shape(latent_dim, family)
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    check_choice("reconstruction_loss", reconstruction_loss, RECONSTRUCTION_LOSSES)
    beta = check_non_negative_number("beta", beta)
    seed = check_seed("seed", seed)
    learning_rate = check_non_negative_number("learning_rate", learning_rate)
    if learning_rate == 0:
        raise ValueError("`learning_rate` must be > 0. Received: learning_rate=0")
    if kl_warmup_epochs != 0:
        check_positive_int("kl_warmup_epochs", kl_warmup_epochs)
    for name, value in (("cosine_decay", cosine_decay),
                        ("restore_best_weights", restore_best_weights),
                        ("judge", judge)):
        check_bool(name, value)
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
    verbose = fit_verbosity(verbose)
    strategy = make_strategy(distribute)
    chief = is_chief(strategy)
    # The output location and the run's name are checked before the data is
    # loaded and the model built; the resumed run's arguments after.
    resuming = _on_chief_then_agree(
        strategy, chief, run_dir,
        lambda: _check_run_dir(output_dir, run_name, resume))
    (x_train, y_train), (x_val, y_val) = load_dataset(dataset, seed=seed)
    check_finite("dataset", x_train)
    check_finite("dataset", x_val)
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = build_autoencoder(
            family, x_train.shape[1:], latent_dim, variational=variational,
            reconstruction_loss=reconstruction_loss, beta=beta, seed=seed,
            **family_options,
        )
        model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    # What the run is made of: the training settings, and the model's own
    # config (what `build_autoencoder` built), kept to refuse a resume that
    # would change either.
    config = {
        "training": {
            "dataset": dataset, "seed": seed, "epochs": epochs,
            "batch_size": batch_size, "learning_rate": learning_rate,
            "kl_warmup_epochs": kl_warmup_epochs, "cosine_decay": cosine_decay,
            "restore_best_weights": restore_best_weights, "judge": judge,
            "distribute": distribute,
        },
        "model": model.get_config(),
    }
    _on_chief_then_agree(
        strategy, chief, run_dir,
        lambda: resuming and _check_resumed_config(run_dir, config))

    if chief:
        result = _fit_and_write(model, config, (x_train, y_train), (x_val, y_val),
                                output_dir, run_name, resuming, export, verbose)
    else:
        # The other workers take part in every step, including the collective
        # reads of saving, but write into a scratch directory (as in Keras'
        # multi-worker guide) and restore the chief's backups.
        scratch = tempfile.mkdtemp(prefix="keras_ae_worker_")
        try:
            result = _fit_and_write(model, config, (x_train, y_train),
                                    (x_val, y_val), scratch, run_name, False, export, verbose,
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


def _fit_and_write(model, config, train_set, validation, output_dir, run_name,
                   resuming, export, verbose, backup_dir=None):
    """Trains `model` and writes the run into `<output_dir>/<run_name>`.

    `backup_dir` given: restore that (the chief's) backup, never write one.
    """
    (x_train, y_train), (x_val, y_val) = train_set, validation
    run_dir = os.path.join(output_dir, run_name)
    training = config["training"]
    batch_size, seed = training["batch_size"], training["seed"]
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
        *training_recipe(
            training["epochs"], training["learning_rate"],
            kl_warmup_epochs=training["kl_warmup_epochs"],
            cosine_decay=training["cosine_decay"],
            restore_best_weights=training["restore_best_weights"]),
    ]
    model.fit(
        make_dataset(x_train, batch_size=batch_size, seed=seed),
        validation_data=make_dataset(x_val, batch_size=batch_size, shuffle=False),
        epochs=training["epochs"], callbacks=callbacks, verbose=verbose,
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
    quality = {}
    if (training["judge"] and backup_dir is None
            and is_labelled_images(y_train, x_val)):
        quality = judge_model(model, (x_train, y_train), (x_val, y_val),
                              seed=seed)
        artefacts["quality"] = os.path.join(run_dir, "quality.json")
        _write_json(artefacts["quality"], quality)
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
    return {"run_dir": run_dir, "artefacts": artefacts, "metrics": metrics,
            "quality": quality}


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
            "nothing was written."
        )
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
            f"{', '.join(map(repr, resumable)) if resumable else 'none'}."
        )
    if not resume:
        raise FileExistsError(
            "`run_name` names a run that already exists; nothing is "
            f"overwritten. Received: output directory {run_dir!r}. Choose "
            "another run name, or pass resume=True (--resume) to continue an "
            "unfinished run."
        )
    if not os.path.isdir(run_dir):
        raise NotADirectoryError(
            f"`run_name` names a file, not a run, in {output_dir!r}. Received: "
            f"run_name={run_name!r}")
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
        and not os.path.exists(os.path.join(output_dir, name, "model.keras"))
    )


def _check_resumed_config(run_dir, config):
    """Raises unless a resumed run keeps its arguments; returns `True`."""
    saved = read_json_file("run_config.json",
                           os.path.join(run_dir, "run_config.json"))
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
