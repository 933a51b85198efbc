"""Every use of a private Keras API in keras_ae, in one place.

Each entry names the private API it uses, why no public API does the job,
and the versions it was checked on; `tests/test_compat.py` checks each
assumption against the installed Keras, so that a release which moves one
fails there, by name, instead of deep inside a training run.

Checked on Keras 3.15.1 with TensorFlow 2.21.0 (`CHECKED_ON`).

Private APIs that public ones replaced (kept here for the record):

- `strategy.extended._in_multi_worker_mode()`: the public
  `strategy.cluster_resolver.cluster_spec()` counts the workers
  (`keras_ae.distribute.is_multi_worker`).
- A copy of Keras' private seed casting in `Sampling.call`: one replica
  draws with `keras.random.normal(seed=SeedGenerator)`, several replicas
  with `tf.random.stateless_normal` on a seed folded with the replica id.
- `tensorflow.lite.python.convert_phase.ConverterError`: whatever
  `TFLiteConverter.convert()` raises is a failed conversion
  (`keras_ae.export.tflite`).
- `tensorflow.core.protobuf.saved_model_pb2`, to read a SavedModel's
  signatures: `tf.saved_model.load(path).signatures`.
"""

import json
import math
import os

import keras

from keras_ae.distribute import check_same_on_every_worker
from keras_ae.distribute import is_multi_worker

__all__ = ["AtomicBackupAndRestore", "BACKUP_METADATA", "CHECKED_ON",
           "MultiWorkerSymbolicBuild", "read_backup", "restore_backup",
           "restored_epoch"]

CHECKED_ON = {"keras": "3.15.1", "tensorflow": "2.21.0"}


class MultiWorkerSymbolicBuild:
    """Model mixin: under a multi-worker strategy, build from `input_shape_`.

    Private API: the TensorFlow trainer's hook `Model._maybe_symbolic_build(
    iterator=None, data_batch=None)`, which `fit` and `evaluate` call before
    the first step, and `Model._symbolic_build(data_batch=...)`.

    Why: with a distribution strategy the hook takes a batch from the
    iterator and reduces it across the workers (`strategy.reduce("MEAN",
    batch, axis=None)`) to build the model, whether or not it is built;
    `MultiWorkerMirroredStrategy` refuses that for an `(x, y)` batch, and no
    public argument skips it. A keras_ae model knows its input shape, so it
    builds from a symbolic input of that shape instead. Any other strategy
    keeps Keras' own path.

    The class using it must define `input_shape_` and come before
    `keras.Model` in the bases.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if is_multi_worker(self.distribute_strategy):
            inputs = keras.KerasTensor((None, *self.input_shape_), "float32")
            with self.distribute_strategy.scope():
                self._symbolic_build(data_batch=inputs)
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that commits each epoch whole, and can keep the best one.

    Keras writes the weights and the epoch counter in place, so a run killed
    while it writes them cannot resume: a truncated weights file, or an empty
    `training_metadata.json` that `on_train_begin` fails to parse (a
    `JSONDecodeError`, which `double_checkpoint=True`'s fallback, made for
    `OSError`, does not catch). This callback commits each epoch in one
    step: the weights go to a new file named after the epoch
    (`epoch-<n>.weights.h5`, written beside it and renamed), then
    `training_metadata.json`, which names that file, is replaced by a
    rename: the commit. A kill at any moment leaves the last committed
    epoch whole, its weights and its counter together; files no commit
    names any more are removed after each commit.

    With `monitor`, the commit also names the weights of the best epoch so
    far (the lowest `monitor` from `start_from_epoch` on), and the model
    ends training with them, as `EarlyStopping(restore_best_weights=True)`
    does; unlike it, a run resumed after a kill still knows the best epoch
    found before the kill.

    A backup that is damaged (not a directory, an unreadable counter, a
    missing or foreign weights file) is refused with a `ValueError` that
    names it (`read_backup`). With `read_only=True` (the workers of a
    multi-worker run other than the chief) it restores the chief's backup
    but never writes or deletes it. Under a multi-worker strategy, training
    starts only when every worker restored the same epoch.

    Private API: Keras' `on_epoch_end` and `on_train_batch_end` call
    `BackupAndRestore._save_model()` (overridden here) after setting
    `_current_epoch` and `_last_batch_seen` (read here); the restore sets
    `Model._initial_epoch`, the epoch `fit` resumes from, which Keras sets
    from its own backup and exposes nowhere else.

    Why: Keras offers no atomic backup. Measured with kills inside the
    backup (see the README's "Private APIs"): `BackupAndRestore(
    double_checkpoint=True)` recovers a torn weights file from its copy but
    not a torn metadata file; this callback recovers both.

    Args:
        backup_dir: str, directory of the backup.
        read_only: bool, restore but never write or delete the backup.
        monitor: str or `None`, the logged figure whose best epoch the model
            ends with (e.g. `"val_loss"`); `None` keeps the last epoch.
        start_from_epoch: int >= 0, the first epoch (from 0) that can be
            the best.
        **kwargs: `BackupAndRestore` keyword arguments, such as `save_freq`
            or `delete_checkpoint=False` (keep the backup after training).

    Example:

    >>> backup = AtomicBackupAndRestore("runs/run/backup", monitor="val_loss")
    >>> model.fit(x_train, validation_data=(x_val,), epochs=10,
    ...           callbacks=[backup])
    """

    def __init__(self, backup_dir, read_only=False, monitor=None,
                 start_from_epoch=0, **kwargs):
        super().__init__(backup_dir, **kwargs)
        if monitor is not None and self.save_freq != "epoch":
            raise ValueError(
                "`monitor` keeps the best epoch's weights, which are saved at "
                "the end of each epoch: it needs save_freq='epoch'. Received: "
                f"save_freq={self.save_freq!r}")
        self.read_only = read_only
        self.monitor = monitor
        self.start_from_epoch = start_from_epoch
        self._best = None
        self._logs = None

    def on_train_begin(self, logs=None):
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, the model must be built "
                f"before you call `fit()`. Model {self.model} is unbuilt.")
        self._best = None
        metadata = read_backup(self.backup_dir)
        if metadata is not None:
            restore_backup(self.model, self.backup_dir, metadata)
            self._best = metadata.get("best")
        check_same_on_every_worker(
            self.model.distribute_strategy, "epoch to start from",
            restored_epoch(self.model),
            "the workers restored different backups; resuming a multi-worker "
            "run needs an --output-dir that every worker shares")

    def on_epoch_end(self, epoch, logs=None):
        self._logs = logs
        if self.monitor is not None and epoch >= self.start_from_epoch:
            value = (logs or {}).get(self.monitor)
            if value is not None and math.isfinite(float(value)) and (
                    self._best is None or float(value) < self._best["value"]):
                self._best = {"epoch": epoch, "value": float(value),
                              "weights": _weights_name(epoch + 1, 0)}
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self.read_only:
            return
        if self.monitor is not None and self._best is not None:
            self.model.load_weights(
                os.path.join(self.backup_dir, self._best["weights"]))
        super().on_train_end(logs)

    def _save_model(self):
        if self.read_only:
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        name = _weights_name(self._current_epoch, self._last_batch_seen)
        partial = os.path.join(self.backup_dir, "partial.weights.h5")
        self.model.save_weights(partial, overwrite=True)
        os.replace(partial, os.path.join(self.backup_dir, name))
        metadata = {"epoch": self._current_epoch,
                    "batch": self._last_batch_seen, "weights": name,
                    "monitor": self.monitor, "best": self._best}
        metadata_path = os.path.join(self.backup_dir, BACKUP_METADATA)
        with open(metadata_path + ".partial", "w") as f:
            json.dump(metadata, f)
        os.replace(metadata_path + ".partial", metadata_path)  # the commit
        named = {name, (self._best or {}).get("weights")}
        for entry in os.listdir(self.backup_dir):
            if entry.endswith(".weights.h5") and entry not in named:
                os.remove(os.path.join(self.backup_dir, entry))


# The backup's epoch counter, the file whose rename commits an epoch.
BACKUP_METADATA = "training_metadata.json"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _weights_name(epoch, batch):
    return (f"epoch-{epoch}.weights.h5" if not batch
            else f"epoch-{epoch}-batch-{batch}.weights.h5")


def read_backup(backup_dir):
    """Returns the last committed epoch of a backup, or `None` when there is none.

    Checks the backup without loading it: a directory, a readable epoch
    counter (`training_metadata.json`), and the weights files it names,
    present and HDF5. A backup whose first epoch was never committed (no
    counter yet) has nothing to restore.

    Args:
        backup_dir: str, the directory of an `AtomicBackupAndRestore`.

    Returns:
        `None`, or a dict: `epoch` (the number of committed epochs),
        `weights` (the file of its weights), `best` (the best epoch's
        `{"epoch", "value", "weights"}` or `None`).

    Raises:
        ValueError: the backup is damaged; the message names the file.
    """
    if not os.path.lexists(backup_dir):
        return None
    fix = "start again with another --run-name"
    if not os.path.isdir(backup_dir):
        raise ValueError(
            f"The backup {backup_dir!r} is a file, not a backup directory; "
            f"remove it to start the run again, or {fix}.")
    path = os.path.join(backup_dir, BACKUP_METADATA)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"The backup's epoch counter {path!r} is damaged ({error}); {fix}."
        ) from None
    epoch = metadata.get("epoch") if isinstance(metadata, dict) else None
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ValueError(
            f"The backup's epoch counter {path!r} holds no epoch number "
            f"(received {metadata!r}); {fix}.")
    # Backups of keras_ae 0.3.0 and Keras' own use one fixed weights file.
    metadata.setdefault("weights", "latest.weights.h5")
    best = metadata.get("best")
    names = [metadata["weights"]] + ([best.get("weights")]
                                     if isinstance(best, dict) else [])
    for name in names:
        weights = os.path.join(backup_dir, str(name))
        if (not isinstance(name, str) or os.sep in name
                or not os.path.isfile(weights)):
            raise ValueError(
                f"The backup {backup_dir!r} names the weights file {name!r}, "
                f"which is missing; {fix}.")
        with open(weights, "rb") as f:
            if f.read(8) != _HDF5_SIGNATURE:
                raise ValueError(
                    f"The backup's weights file {weights!r} is damaged (not "
                    f"an HDF5 file); {fix}.")
    if best is not None and not (isinstance(best, dict) and isinstance(
            best.get("value"), (int, float)) and isinstance(
                best.get("epoch"), int)):
        raise ValueError(
            f"The backup's epoch counter {path!r} holds a damaged best epoch "
            f"(received {best!r}); {fix}.")
    return metadata


def restore_backup(model, backup_dir, metadata=None):
    """Loads the last committed epoch of a backup into `model`; returns the epoch.

    Sets `Model._initial_epoch` (private API), the epoch `fit` starts from.

    Raises:
        ValueError: the backup is damaged, or holds the weights of another
            model.
    """
    metadata = metadata or read_backup(backup_dir)
    if metadata is None:
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        # The optimizer's state is in the weights file: make its variables.
        model.optimizer.build(model.trainable_variables)
    weights = os.path.join(backup_dir, metadata["weights"])
    try:
        model.load_weights(weights)
    except (ValueError, OSError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(
            f"The backup's weights {weights!r} do not load into this run's "
            f"model ({reason}); start again with another --run-name."
        ) from None
    model._initial_epoch = metadata["epoch"]
    return metadata["epoch"]


def restored_epoch(model):
    """Returns the epoch `fit` starts from after a restored backup (0: none).

    Private API: `Model._initial_epoch`, which every Keras model has (`None`
    until `BackupAndRestore` sets it) and `fit` starts from. A Keras
    release without it raises here, by name, rather than reading 0: a
    silent 0 would resume from the first epoch and defeat the workers'
    agreement on the epoch to start from.
    """
    if not hasattr(model, "_initial_epoch"):
        raise RuntimeError(
            "keras_ae.compat needs the private Keras API "
            "`Model._initial_epoch` (the epoch `fit` resumes from after "
            "`BackupAndRestore`), which this Keras "
            f"{keras.__version__} model does not have; it was checked on "
            f"Keras {CHECKED_ON['keras']}. See tests/test_compat.py.")
    return model._initial_epoch or 0
