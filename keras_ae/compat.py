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
import os

import keras

from keras_ae.distribute import check_same_on_every_worker
from keras_ae.distribute import is_multi_worker

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
    """`BackupAndRestore` whose backups survive a kill during their write.

    Keras writes the weights and the epoch counter in place, so a run killed
    while it writes them cannot resume: a truncated weights file, or an empty
    `training_metadata.json` that `on_train_begin` fails to parse (a
    `JSONDecodeError`, which `double_checkpoint=True`'s fallback, made for
    `OSError`, does not catch). This callback writes each file beside its
    target and renames it over the target, so the backup on disk is always
    a whole one. When a kill falls between the two renames, the weights are
    one epoch ahead of the recorded epoch counter and that epoch is trained
    once more.

    With `read_only=True` (the workers of a multi-worker run other than the
    chief) it restores the chief's backup but never writes or deletes it.
    Under a multi-worker strategy, training starts only when every worker
    restored the same epoch.

    Private API: overrides `BackupAndRestore._save_model()` (its writing
    step) and reads its `_weights_path`, `_training_metadata_path`,
    `_current_epoch` and `_last_batch_seen`, so that Keras' own
    `on_train_begin` restores what is written here; reads
    `Model._initial_epoch`, the epoch `fit` resumes from, which Keras sets
    from the backup and exposes nowhere else.

    Why: Keras offers no atomic backup. Measured with kills inside the
    backup (see the README's "Private APIs"): `BackupAndRestore(
    double_checkpoint=True)` recovers a torn weights file from its copy but
    not a torn metadata file; this callback recovers both.

    Args:
        backup_dir: str, directory of the backup.
        read_only: bool, restore but never write or delete the backup.
        **kwargs: `BackupAndRestore` keyword arguments, such as `save_freq`.

    Example:

    >>> backup = AtomicBackupAndRestore("runs/run/backup")
    >>> model.fit(x_train, epochs=10, callbacks=[backup])
    """

    def __init__(self, backup_dir, read_only=False, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.read_only = read_only

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        check_same_on_every_worker(
            self.model.distribute_strategy, "epoch to start from",
            restored_epoch(self.model),
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


def restored_epoch(model):
    """Returns the epoch `fit` starts from after a restored backup (0: none).

    Private API: `Model._initial_epoch`, which `BackupAndRestore` sets.
    """
    return getattr(model, "_initial_epoch", None) or 0
