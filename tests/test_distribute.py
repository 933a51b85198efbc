"""Training on several devices and workers.

Distributed training must give what one device gives on the same global
batch; in a multi-worker run the chief alone writes the run, a refusal
reaches every worker before anything is written, and a killed run resumes
on every worker from the chief's backup. Workers are local processes that
talk over loopback ports, as machines of a `TF_CONFIG` cluster would.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

# Its module-scoped fixtures train models: one worker runs the whole module.
pytestmark = pytest.mark.xdist_group("distribute")

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
TIMEOUT = 300

# Trains a small AE on 64 fixed examples (with sample weights) in 2 global
# batches of 32 per epoch, and prints its losses and weights as JSON.
_TRAIN_SCRIPT = """
import json, sys
import tensorflow as tf
if sys.argv[1] == "two-cpus":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
else:
    from keras_ae.distribute import make_strategy
    strategy = make_strategy(sys.argv[1])  # before any other TensorFlow op
import keras
import numpy as np
import keras_ae

x = np.random.default_rng(0).uniform(size=(64, 12)).astype("float32")
weights = np.random.default_rng(1).uniform(0.5, 1.5, size=64).astype("float32")
with strategy.scope():
    keras.utils.set_random_seed(0)
    model = keras_ae.build_autoencoder("dense", (12,), 3, hidden_units=(16,))
    model.compile(optimizer=keras.optimizers.SGD(0.05))
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = (
    tf.data.experimental.AutoShardPolicy.DATA)
data = tf.data.Dataset.from_tensor_slices((x, x, weights)).batch(32)
history = model.fit(data.with_options(options), epochs=3, verbose=0,
                    shuffle=False).history
print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                  "loss": history["loss"],
                  "weights": [w.numpy().tolist() for w in model.weights]}))
"""


_SAMPLING_SCRIPT = """
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_ae.layers import Sampling
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    layer = Sampling(seed=0)
zeros = tf.zeros((2000, 2))
draw = tf.function(lambda: strategy.run(lambda: layer([zeros, zeros])))
print(json.dumps([e.numpy().ravel().tolist()
                  for e in strategy.experimental_local_results(draw())]))
"""


# The examples each worker trains on in two epochs of `make_dataset`.
_SHARDING_SCRIPT = """
import json
from keras_ae.distribute import make_strategy
strategy = make_strategy("multi-worker")
import numpy as np
from keras_ae.data import make_dataset
ids = np.arange(100, dtype="float32")[:, None]
dataset = strategy.experimental_distribute_dataset(
    make_dataset(ids, batch_size=8, seed=0))
epochs = [[int(i) for batch in dataset
           for part in strategy.experimental_local_results(batch)
           for i in part.numpy().ravel()] for _ in range(2)]
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "epochs": epochs}))
"""


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(command, env=None, with_chief=False):
    """Starts `command` once per task of a local two-task `TF_CONFIG` cluster.

    The first process is the chief: worker 0, or the `chief` task of a
    cluster that has one (`with_chief=True`). `command` is a list, or a
    function of the process's position giving one.
    """
    first, second = (f"localhost:{port}" for port in _free_ports(2))
    if with_chief:
        cluster = {"chief": [first], "worker": [second]}
        tasks = [("chief", 0), ("worker", 0)]
    else:
        cluster = {"worker": [first, second]}
        tasks = [("worker", 0), ("worker", 1)]
    processes = []
    for position, (task_type, index) in enumerate(tasks):
        tf_config = {"cluster": cluster,
                     "task": {"type": task_type, "index": index}}
        processes.append(subprocess.Popen(
            command(position) if callable(command) else command,
            env={**(env or ENV), "TF_CONFIG": json.dumps(tf_config)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return processes


def _wait(processes):
    """Returns `[(returncode, stdout, stderr)]`; kills all on a timeout."""
    try:
        outputs = [p.communicate(timeout=TIMEOUT) for p in processes]
        return [(p.returncode, *output) for p, output in zip(processes, outputs)]
    except subprocess.TimeoutExpired:
        for p in processes:
            p.kill()
        raise


def _report(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def _assert_same_training(report, reference):
    np.testing.assert_allclose(report["loss"], reference["loss"], rtol=1e-4)
    for a, b in zip(reference["weights"], report["weights"]):
        np.testing.assert_allclose(np.array(b), np.array(a), atol=1e-5)


def _run(script, *args):
    """Runs `script` in a fresh Python process; returns its JSON report."""
    result = subprocess.run([sys.executable, "-c", script, *args],
                            capture_output=True, text=True, env=ENV,
                            timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    return _report(result.stdout)


@pytest.fixture(scope="module")
def one_device():
    report = _run(_TRAIN_SCRIPT, "none")
    assert report["replicas"] == 1
    return report


@pytest.mark.slow
def test_mirrored_training_on_two_devices_matches_one_device(one_device):
    report = _run(_TRAIN_SCRIPT, "two-cpus")
    assert report["replicas"] == 2
    _assert_same_training(report, one_device)


@pytest.mark.slow
def test_two_workers_train_as_one_device_does(one_device):
    results = _wait(_start_workers(
        [sys.executable, "-c", _TRAIN_SCRIPT, "multi-worker"]))
    for code, stdout, stderr in results:
        assert code == 0, stderr[-3000:]
        report = _report(stdout)
        assert report["replicas"] == 2
        _assert_same_training(report, one_device)


@pytest.mark.slow
def test_each_replica_draws_its_own_epsilon():
    first, second = (np.array(e) for e in _run(_SAMPLING_SCRIPT))
    for epsilon in (first, second):
        assert abs(epsilon.mean()) < 0.05 and abs(epsilon.std() - 1) < 0.05
    # Replicas that shared their draws would be perfectly correlated.
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.05


@pytest.mark.slow
def test_workers_share_each_epoch_of_a_shuffled_dataset():
    results = _wait(_start_workers([sys.executable, "-c", _SHARDING_SCRIPT]))
    reports = []
    for code, stdout, stderr in results:
        assert code == 0, stderr[-3000:]
        reports.append(_report(stdout))
    assert [r["replicas"] for r in reports] == [2, 2]
    for epoch in range(2):
        seen = [r["epochs"][epoch] for r in reports]
        # Together the workers see every example once per epoch.
        assert sorted(seen[0] + seen[1]) == list(range(100))
        assert set(seen[0]).isdisjoint(seen[1])
    # ... in a new order each epoch.
    assert reports[0]["epochs"][0] != reports[0]["epochs"][1]


def _train_command(output_dir, *extra):
    # No judge: no test here reads quality.json, and each judge trains its
    # own reference classifier.
    return [sys.executable, "-m", "keras_ae", "train", "--family", "dense",
            "--option", "hidden_units=[32]", "--objective", "ae",
            "--batch-size", "64", "--distribute", "multi-worker",
            "--no-judge", "--output-dir", str(output_dir), "--run-name", "run",
            *extra]


def _files(directory):
    return sorted(os.path.relpath(os.path.join(root, name), directory)
                  for root, _, names in os.walk(directory) for name in names)


@pytest.mark.slow
@pytest.mark.parametrize("with_chief", [False, True],
                         ids=["worker-0-is-chief", "chief-task"])
def test_the_chief_alone_writes_a_multi_worker_run(tmp_path, with_chief):
    output_dir, scratch = tmp_path / "runs", tmp_path / "scratch"
    scratch.mkdir()
    env = {**ENV, "TMPDIR": str(scratch)}
    command = _train_command(output_dir, "--epochs", "2")
    results = _wait(_start_workers(command, env=env, with_chief=with_chief))
    for code, _, stderr in results:
        assert code == 0, stderr[-3000:]
    assert "Run written to" in results[0][1]
    assert "the chief writes the run" in results[1][1]
    run_dir = output_dir / "run"
    for name in ("run_config.json", "model.keras", "history.json",
                 "reconstructions.png", "model.tflite", "1/saved_model.pb"):
        assert (run_dir / name).exists(), name
    assert sorted(os.listdir(output_dir)) == ["models.config", "run"]
    assert json.loads((run_dir / "history.json").read_text())["epoch"] == [0, 1]
    assert not (run_dir / "backup").exists()
    # The other worker wrote into a scratch directory and removed it.
    assert os.listdir(scratch) == []

    # Started again, the chief refuses to overwrite the run and every worker
    # stops with an error instead of waiting for it; nothing is written.
    before = {name: (run_dir / name).stat().st_mtime_ns
              for name in _files(run_dir)}
    results = _wait(_start_workers(command, env=env, with_chief=with_chief))
    assert [code for code, _, _ in results] == [2, 2]
    assert "already exists" in results[0][2]
    assert "chief worker refused" in results[1][2]
    assert {name: (run_dir / name).stat().st_mtime_ns
            for name in _files(run_dir)} == before


@pytest.mark.slow
def test_a_killed_multi_worker_run_resumes_on_every_worker(tmp_path):
    # Six epochs, killed after two: enough to resume mid-way, no longer.
    epochs = 6
    command = _train_command(tmp_path, "--epochs", str(epochs), "--no-export")
    history_csv = tmp_path / "run" / "history.csv"
    processes = _start_workers(command)
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and all(p.poll() is None for p in processes):
        if history_csv.exists() and len(history_csv.read_text().splitlines()) >= 3:
            break  # header + 2 completed epochs
        time.sleep(0.1)
    for p in processes:
        p.send_signal(signal.SIGKILL)
        p.communicate()
    completed = len(history_csv.read_text().splitlines()) - 1
    assert 2 <= completed < epochs, "the run must be killed mid-way"
    assert (tmp_path / "run" / "backup").is_dir()
    rows = history_csv.read_text()

    # A worker that cannot see the chief's backup would start over: every
    # worker refuses to train instead, and the run is left as it was.
    elsewhere = tmp_path / "elsewhere"
    results = _wait(_start_workers(
        lambda index: _train_command(elsewhere if index else tmp_path,
                                     "--epochs", str(epochs), "--no-export",
                                     "--resume")))
    for code, _, stderr in results:
        assert code == 2 and "disagree on the epoch to start from" in stderr, (
            stderr[-3000:])
    assert history_csv.read_text() == rows
    assert (tmp_path / "run" / "backup").is_dir()

    results = _wait(_start_workers(command + ["--resume"]))
    for code, stdout, stderr in results:
        assert code == 0, stderr[-3000:]
        epochs_run = [line for line in stdout.splitlines()
                      if line.startswith("Epoch ")]
        # Both workers went on from the chief's backup, not from epoch 1.
        first = int(epochs_run[0].split()[1].split("/")[0])
        assert first in (completed, completed + 1), stdout[-2000:]
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["epoch"] == list(range(epochs))
    assert history["loss"][-1] < history["loss"][0]
    assert (tmp_path / "run" / "model.keras").exists()
