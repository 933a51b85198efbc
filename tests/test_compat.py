"""The private Keras APIs of `keras_ae.compat`, checked against the installed Keras.

Each test names the private API it relies on; when a Keras release moves
one, the test of that API fails here, by name, rather than a training run
failing somewhere deep.
"""

import inspect
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ae
from keras_ae import compat
from keras_ae.compat import AtomicBackupAndRestore


def _major_minor(version):
    return tuple(int(part) for part in version.split(".")[:2])


def test_the_installed_versions_are_the_checked_ones():
    # A new minor release may move any private API: check them all again
    # (this file), then update `compat.CHECKED_ON`.
    assert _major_minor(keras.__version__) == _major_minor(
        compat.CHECKED_ON["keras"])
    assert _major_minor(tf.__version__) == _major_minor(
        compat.CHECKED_ON["tensorflow"])


# --- Model._maybe_symbolic_build / Model._symbolic_build ----------------------


def test_keras_still_has_the_symbolic_build_hooks():
    hook = inspect.signature(keras.Model._maybe_symbolic_build)
    assert list(hook.parameters) == ["self", "iterator", "data_batch"]
    assert "data_batch" in inspect.signature(
        keras.Model._symbolic_build).parameters


def test_fit_calls_the_hook_and_builds_from_the_input_shape(monkeypatch):
    # Under a real multi-worker strategy this path runs on every worker
    # (tests/test_distribute.py); here it is forced on one device.
    monkeypatch.setattr(compat, "is_multi_worker", lambda strategy: True)
    calls = []
    symbolic_build = keras.Model._symbolic_build

    def recording_symbolic_build(self, *args, **kwargs):
        calls.append(kwargs.get("data_batch"))
        return symbolic_build(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "_symbolic_build",
                        recording_symbolic_build)
    model = keras_ae.build_autoencoder("dense", (6, 4), 3, hidden_units=(8,))
    model.compile(optimizer="adam")
    x = np.random.default_rng(0).random((16, 6, 4), dtype="float32")
    history = model.fit(x, x, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert [tuple(batch.shape) for batch in calls] == [(None, 6, 4)]


# --- BackupAndRestore._save_model, its paths and Model._initial_epoch ---------


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
    model.compile(optimizer="adam", loss="mse")
    return model


def _weights(model):
    return [keras.ops.convert_to_numpy(w).copy() for w in model.weights]


def test_keras_still_has_what_the_atomic_backup_overrides():
    backup = keras.callbacks.BackupAndRestore("unused")
    for name in ("_current_epoch", "_last_batch_seen"):
        assert hasattr(backup, name), name
    assert callable(backup._save_model)
    # Keras sets the epoch counter, then calls the overridden writing step.
    source = inspect.getsource(keras.callbacks.BackupAndRestore.on_epoch_end)
    assert source.index("self._current_epoch = epoch + 1") < source.index(
        "self._save_model()")
    assert "_save_model" in inspect.getsource(
        keras.callbacks.BackupAndRestore.on_train_batch_end)


def test_keras_still_has_model_initial_epoch():
    # `compat.restored_epoch` reads it: every model has it (None until a
    # backup is restored), BackupAndRestore sets it, and fit starts there.
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    assert hasattr(_model(), "_initial_epoch"), (
        "Keras moved Model._initial_epoch: every model should have it")
    assert _model()._initial_epoch is None
    assert "self.model._initial_epoch" in inspect.getsource(
        keras.callbacks.BackupAndRestore._load_model), (
        "BackupAndRestore._load_model no longer sets Model._initial_epoch")
    assert "self._initial_epoch" in inspect.getsource(
        TensorFlowTrainer.fit), "fit no longer reads Model._initial_epoch"
    assert compat.restored_epoch(_model()) == 0


def test_restored_epoch_names_the_private_api_when_keras_moved_it():
    model = _model()
    del model._initial_epoch
    with pytest.raises(RuntimeError, match=r"private Keras API "
                       r"`Model._initial_epoch`.*checked on Keras 3\.15"):
        compat.restored_epoch(model)


def test_atomic_backup_resumes_where_training_stopped(tmp_path):
    x = np.random.default_rng(0).random((32, 4), dtype="float32")
    backup_dir = os.fspath(tmp_path / "backup")
    model = _model()
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, x, epochs=5, verbose=0,
                  callbacks=[AtomicBackupAndRestore(backup_dir),
                             _Interrupt(epoch=2)])
    # One commit: the epoch's weights and the counter that names them.
    assert sorted(os.listdir(backup_dir)) == ["epoch-2.weights.h5",
                                              "training_metadata.json"]
    saved = _weights(model)

    resumed = _model()
    backup = AtomicBackupAndRestore(backup_dir)
    history = resumed.fit(x, x, epochs=5, verbose=0,
                          callbacks=[backup, _Restored(saved)])
    assert history.epoch == [2, 3, 4]
    assert compat.restored_epoch(resumed) == 2
    assert not os.path.exists(backup_dir)  # deleted once training ended


class _Restored(keras.callbacks.Callback):
    """Checks, before the first step, that the backup's weights were loaded."""

    def __init__(self, expected):
        super().__init__()
        self.expected = expected

    def on_train_begin(self, logs=None):
        for restored, expected in zip(_weights(self.model), self.expected,
                                      strict=True):
            np.testing.assert_array_equal(restored, expected)


def _torn_metadata(backup_dir):
    """What a kill while the epoch counter is written leaves: an empty file."""
    with open(os.path.join(backup_dir, "training_metadata.json"), "w"):
        pass


def test_keras_backup_still_cannot_resume_from_torn_metadata(tmp_path):
    # The reason `AtomicBackupAndRestore` exists. When this test fails,
    # Keras recovers by itself: drop the override for the stock callback.
    x = np.random.default_rng(0).random((32, 4), dtype="float32")
    backup_dir = os.fspath(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="interrupted"):
        _model().fit(x, x, epochs=5, verbose=0, callbacks=[
            keras.callbacks.BackupAndRestore(backup_dir,
                                             double_checkpoint=True),
            _Interrupt(epoch=3)])
    _torn_metadata(backup_dir)
    with pytest.raises(ValueError, match="Expecting value"):
        _model().fit(x, x, epochs=5, verbose=0, callbacks=[
            keras.callbacks.BackupAndRestore(backup_dir,
                                             double_checkpoint=True)])


def test_atomic_backup_never_leaves_torn_files(tmp_path, monkeypatch):
    # A kill while the epoch counter is written leaves only the partial
    # file: the backup of the epoch before stays whole.
    x = np.random.default_rng(0).random((32, 4), dtype="float32")
    backup_dir = os.fspath(tmp_path / "backup")
    model = _model()
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, x, epochs=5, verbose=0, callbacks=[
            AtomicBackupAndRestore(backup_dir), _Interrupt(epoch=2)])
    saved = _weights(model)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(compat.json, "dump", killed)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, x, epochs=5, verbose=0,
                  callbacks=[AtomicBackupAndRestore(backup_dir)])
    monkeypatch.undo()
    assert "training_metadata.json.partial" in os.listdir(backup_dir)
    resumed = _model()
    history = resumed.fit(x, x, epochs=5, verbose=0, callbacks=[
        AtomicBackupAndRestore(backup_dir), _Restored(saved)])
    assert history.epoch == [2, 3, 4]


class _Scores(keras.callbacks.Callback):
    """Logs `score` (a made-up figure to monitor) and keeps each epoch's weights."""

    def __init__(self, scores, weights):
        super().__init__()
        self.scores, self.weights = scores, weights

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.scores[epoch]
        self.weights[epoch] = _weights(self.model)


def test_the_best_epoch_survives_a_kill(tmp_path):
    # Epoch 1 is the best; the run is interrupted after epoch 2, resumed,
    # and still ends with epoch 1's weights (EarlyStopping would forget it).
    x = np.random.default_rng(0).random((32, 4), dtype="float32")
    backup_dir = os.fspath(tmp_path / "backup")
    scores, weights = [3.0, 1.0, 2.0, 4.0, 5.0], {}
    model = _model()
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, x, epochs=5, verbose=0, callbacks=[
            _Scores(scores, weights), AtomicBackupAndRestore(
                backup_dir, monitor="score"), _Interrupt(epoch=3)])
    metadata = compat.read_backup(backup_dir)
    assert metadata["epoch"] == 3 and metadata["best"]["epoch"] == 1
    # The best epoch's weights and the last epoch's, nothing else.
    assert sorted(os.listdir(backup_dir)) == [
        "epoch-2.weights.h5", "epoch-3.weights.h5", "training_metadata.json"]

    resumed = _model()
    history = resumed.fit(x, x, epochs=5, verbose=0, callbacks=[
        _Scores(scores, weights),
        AtomicBackupAndRestore(backup_dir, monitor="score",
                               delete_checkpoint=False)])
    assert history.epoch == [3, 4]
    for restored, best in zip(_weights(resumed), weights[1], strict=True):
        np.testing.assert_array_equal(restored, best)
    assert not np.array_equal(_weights(resumed)[0], weights[4][0])
    assert os.path.isdir(backup_dir)  # kept: delete_checkpoint=False


def _committed_backup(tmp_path):
    x = np.random.default_rng(0).random((32, 4), dtype="float32")
    backup_dir = tmp_path / "backup"
    with pytest.raises(RuntimeError, match="interrupted"):
        _model().fit(x, x, epochs=5, verbose=0, callbacks=[
            AtomicBackupAndRestore(os.fspath(backup_dir)),
            _Interrupt(epoch=2)])
    return backup_dir


@pytest.mark.parametrize("damage, match", [
    ("file", "is a file, not a backup directory"),
    ("empty-counter", "epoch counter .* is damaged"),
    ("no-epoch", "holds no epoch number"),
    ("missing-weights", "names the weights file 'epoch-2.weights.h5', which is "
     "missing"),
    ("text-weights", r"is damaged \(not an HDF5 file\)"),
])
def test_a_damaged_backup_is_named_before_anything_loads(tmp_path, damage,
                                                         match):
    backup_dir = _committed_backup(tmp_path)
    counter = backup_dir / "training_metadata.json"
    if damage == "file":
        shutil.rmtree(backup_dir)
        backup_dir.write_text("not a backup")
    elif damage == "empty-counter":
        counter.write_text("")
    elif damage == "no-epoch":
        counter.write_text('{"batch": 0}')
    elif damage == "missing-weights":
        (backup_dir / "epoch-2.weights.h5").unlink()
    else:
        (backup_dir / "epoch-2.weights.h5").write_text("not weights")
    with pytest.raises(ValueError, match=match):
        compat.read_backup(os.fspath(backup_dir))
    with pytest.raises(ValueError, match="another --run-name"):
        _model().fit(np.zeros((4, 4)), np.zeros((4, 4)), verbose=0,
                     callbacks=[AtomicBackupAndRestore(os.fspath(backup_dir))])


def test_a_backup_of_another_model_is_refused(tmp_path):
    backup_dir = _committed_backup(tmp_path)
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                              keras.layers.Dense(4)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="do not load into this run's model"):
        compat.restore_backup(other, os.fspath(backup_dir))
