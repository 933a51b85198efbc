"""The private Keras APIs of `keras_ae.compat`, checked against the installed Keras.

Each test names the private API it relies on; when a Keras release moves
one, the test of that API fails here, by name, rather than a training run
failing somewhere deep.
"""

import inspect
import os

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
    for name in ("_weights_path", "_training_metadata_path",
                 "_current_epoch", "_last_batch_seen"):
        assert hasattr(backup, name), name
    assert callable(backup._save_model)
    assert "_save_model" in inspect.getsource(
        keras.callbacks.BackupAndRestore.on_epoch_end)


def test_atomic_backup_resumes_where_training_stopped(tmp_path):
    x = np.random.default_rng(0).random((32, 4), dtype="float32")
    backup_dir = os.fspath(tmp_path / "backup")
    model = _model()
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, x, epochs=5, verbose=0,
                  callbacks=[AtomicBackupAndRestore(backup_dir),
                             _Interrupt(epoch=2)])
    # Written by the override, under the names Keras' restore reads.
    assert sorted(os.listdir(backup_dir)) == ["latest.weights.h5",
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
