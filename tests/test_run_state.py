"""A run's life: created -> training -> trained -> exported -> complete.

A kill at any moment loses at most the epoch in progress: `--resume` trains
again only what the backup did not commit and finishes the artefacts a
finished training lacks. One writer per run. A loss that diverges stops the
run before anything is exported.
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from lock_holder import held

from keras_ae import cli
from keras_ae import io
from keras_ae import training
from keras_ae.export import run_tflite
from keras_ae.objectives import AutoEncoder

# --- The history of a run ----------------------------------------------------

HEADER = "epoch,loss,val_loss\r\n"


def _rows(*epochs):
    return "".join(f"{e},{1.0 / (e + 1)},{2.0 / (e + 1)}\r\n" for e in epochs)


def test_repair_keeps_the_committed_rows_as_written_and_drops_the_rest(
        tmp_path):
    path = tmp_path / "history.csv"
    # Epochs 0 and 1 committed; epoch 2's row was written, then the kill
    # came before its backup, while epoch 3 was torn half-way.
    path.write_bytes((HEADER + _rows(0, 1, 2) + "3,0.2").encode())
    assert io.repair_history(path, 2, dry_run=True) == [
        "the row of epoch 3", "line 5 is incomplete ('3,0.2')"]
    assert path.read_bytes() == (HEADER + _rows(0, 1, 2) + "3,0.2").encode()
    io.repair_history(path, 2)
    assert path.read_bytes() == (HEADER + _rows(0, 1)).encode()
    assert io.repair_history(path, 2) == []  # nothing more to mend
    assert io.read_history(path)["epoch"] == [0, 1]
    # Nothing committed: no history left to append to.
    io.repair_history(path, 0)
    assert not path.exists()


def test_repair_refuses_a_history_that_lost_committed_rows(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(HEADER + _rows(0) + "1,0.5,oops\r\n" + _rows(2))
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"lacks the rows of epoch\(s\) 2, 3 "
                       "that the backup committed; start again"):
        io.repair_history(path, 3)
    with pytest.raises(ValueError, match="backup committed 1 epoch"):
        io.repair_history(tmp_path / "missing.csv", 1)
    assert path.read_bytes() == before


def test_read_history_names_a_torn_row(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(HEADER + _rows(0) + "1,0.5")
    with pytest.raises(ValueError, match=r"is damaged: line 3 is incomplete"):
        io.read_history(path)


# --- The state of a run, recorded or inferred --------------------------------


def _files(run_dir, *names):
    for name in names:
        path = run_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n" if name.endswith(".json") else "x")


def test_the_state_of_runs_written_before_it_was_recorded(tmp_path):
    cases = {
        "untrained": ((), "training"),
        "trained": (("model.keras",), "trained"),
        "exported": (("model.keras", "history.json", "1/saved_model.pb",
                      "model.tflite"), "complete"),
    }
    for name, (names, state) in cases.items():
        _files(tmp_path / name, "run_config.json", *names)
        assert training.run_state(tmp_path / name)["state"] == state, name
    assert training.resumable_runs(tmp_path) == ["trained", "untrained"]
    # A model.keras is renamed into place only once trained: it wins over a
    # record that a kill left one step behind.
    _files(tmp_path / "lagging", "run_config.json", "model.keras")
    (tmp_path / "lagging" / "run_state.json").write_text(
        '{"state": "training"}')
    assert training.run_state(tmp_path / "lagging")["state"] == "trained"
    # Killed right after its directory was made: a run just created.
    (tmp_path / "new").mkdir()
    io.temporary_directory(tmp_path / "new")
    assert training.run_state(tmp_path / "new")["state"] == "created"


# --- One writer per run ----------------------------------------------------------


def test_a_writer_lock_names_its_holder_and_dies_with_it(tmp_path):
    with held(tmp_path) as holder:
        with pytest.raises(io.LockedError, match=(
                rf"The run 'x' \(.*\) is being written by process "
                rf"{holder.pid} \(.*python.*\); one writer at a time")):
            with io.writer_lock(tmp_path, "The run 'x'"):
                pass
    # Killed, its lock went with it: the next writer takes over at once.
    with io.writer_lock(tmp_path, "The run 'x'"):
        # Re-entrant: a writer that calls another is not refused by itself.
        with io.writer_lock(tmp_path, "The run 'x'"):
            pass


# --- A loss that diverges ----------------------------------------------------------

TINY = {"family": "dense", "objective": "ae", "latent_dim": 2,
        "options": {"hidden_units": [8]}, "reconstruction_loss": "bce"}


def test_a_diverged_loss_stops_the_run_and_nothing_is_exported(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(AutoEncoder, "total_loss",
                        lambda self, terms: terms["reconstruction_loss"]
                        * float("nan"))
    code = cli.main(["train", "--family", "dense", "--objective", "ae",
                     "--latent-dim", "2", "--option", "hidden_units=[8]",
                     "--epochs", "2", "--batch-size", "500", "--no-judge",
                     "--output-dir", str(tmp_path), "--run-name", "nan"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("keras_ae train: error: Training diverged at step "
                          "1 of epoch 1: loss=nan")
    assert len(err.strip().splitlines()) == 1
    run_dir = tmp_path / "nan"
    record = json.loads((run_dir / "run_state.json").read_text())
    assert record["state"] == "training" and "diverged" in record["stopped"]
    for name in ("model.keras", "1", "model.tflite", "backup"):
        assert not (run_dir / name).exists(), name
    assert not (tmp_path / "models.config").exists()


# --- Kills at each state ---------------------------------------------------------


def _sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _complete_artefacts(run_dir):
    """{path: sha256} of the artefacts a run holds whole (renamed into place)."""
    record_path = os.path.join(run_dir, training.RUN_STATE)
    record = json.load(open(record_path)) if os.path.exists(record_path) else {}
    names = ["model.keras", "model.tflite", "quality.json", "sampler.json",
             *record.get("figures", {}).values()]
    if os.path.exists(os.path.join(run_dir, "model.keras")):
        names.append("history.json")  # its history is final then
    found = {name: _sha256(os.path.join(run_dir, name)) for name in names
             if os.path.isfile(os.path.join(run_dir, name))}
    version = os.path.join(run_dir, "1")
    if os.path.isdir(version):
        for root, _, files in os.walk(version):
            for name in files:
                path = os.path.join(root, name)
                found[os.path.relpath(path, run_dir)] = _sha256(path)
    return found


def _committed_rows(run_dir):
    """{epoch: row} of the epochs the backup committed, as history.csv holds them."""
    metadata = os.path.join(run_dir, "backup", "training_metadata.json")
    if os.path.exists(os.path.join(run_dir, "model.keras")):
        committed = None  # trained: every row is final
    elif os.path.exists(metadata):
        committed = json.load(open(metadata))["epoch"]
    else:
        return {}
    lines = open(os.path.join(run_dir, "history.csv"), newline="").read()
    rows = {}
    for line in lines.splitlines(keepends=True)[1:]:
        epoch = int(line.split(",")[0])
        if committed is None or epoch < committed:
            rows[epoch] = line
    return rows


def _check_complete(run_dir, epochs):
    record = json.load(open(os.path.join(run_dir, training.RUN_STATE)))
    assert record["state"] == "complete"
    assert not os.path.exists(os.path.join(run_dir, "backup"))
    history = json.load(open(os.path.join(run_dir, "history.json")))
    assert history["epoch"] == list(range(epochs))
    for root, directories, files in os.walk(run_dir):
        assert not [n for n in directories + files
                    if n.startswith(io.TEMP_PREFIX)], root
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype="float32")
    expected = model.reconstruct(x)
    served = tf.saved_model.load(os.path.join(run_dir, "1"))
    np.testing.assert_allclose(
        served.signatures["serving_default"](inputs=tf.constant(x))[
            "reconstruction"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(run_tflite(os.path.join(run_dir, "model.tflite"),
                                          x)["reconstruction"], expected,
                               atol=1e-4)


EPOCHS = 3
# Ten kills: each aim below is hit at least once (the aims not yet hit come
# first), two at random.
KILLS = 10
# Where a kill is aimed: a state of the run reached by the process (and
# epochs committed), then a random delay of up to the seconds given;
# "launch": while the process starts (one trial in ten).
TARGETS = {("created", 0): 0.2, ("training", 0): 0.5, ("training", 1): 0.5,
           ("training", 2): 0.5, ("training", 3): 0.2, ("trained", 0): 3.0,
           ("exported", 0): 0.0}
LAUNCH = (("launch", 0), 3.0)


def _state_text(run_dir):
    try:
        with open(os.path.join(run_dir, training.RUN_STATE)) as f:
            return f.read()
    except OSError:
        return None


def _state(run_dir):
    try:
        return json.loads(_state_text(run_dir) or "null")
    except ValueError:
        return None


def _position(record):
    """(state index, epochs committed) of a run's record; (-1, 0) for none."""
    if not record:
        return (-1, 0)
    state = record["state"]
    return (training.STATES.index(state),
            record.get("epochs_committed", 0) if state == "training" else 0)


def _kill_when(process, run_dir, target, delay):
    """SIGKILLs `process` once it has brought the run to `target`, after `delay`."""
    launched = _state_text(run_dir)
    deadline = time.monotonic() + 600
    while process.poll() is None and time.monotonic() < deadline:
        text = _state_text(run_dir)
        if target[0] == "never":
            time.sleep(0.05)
            continue
        reached = target[0] == "launch" or (
            text is not None and text != launched
            and _position(_state(run_dir)) >= (
                training.STATES.index(target[0]), target[1]))
        if reached:
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    return process.wait(timeout=600), launched


class KillCampaignReport(UserWarning):
    """What the SIGKILL campaign covered, shown in the warnings summary."""


@pytest.mark.slow
def test_kills_at_random_moments_lose_no_committed_epoch_and_no_artefact(
        tmp_path, capsys):
    command = [sys.executable, "-m", "keras_ae", "train", "--family", "dense",
               "--latent-dim", "2", "--option", "hidden_units=[8]",
               "--epochs", str(EPOCHS), "--batch-size", "100",
               "--kl-warmup-epochs", "1", "--no-judge",
               "--output-dir", str(tmp_path)]
    env = {key: value for key, value in os.environ.items()
           if key != "KERAS_AE_VERBOSE"}
    # A killed process cannot remove its capture of TensorFlow's start-up
    # lines: they stay in the test's directory, not the machine's.
    env["TMPDIR"] = str(tmp_path)
    subprocess.run(command + ["--run-name", "whole"], env=env, check=True,
                   capture_output=True, timeout=600)
    whole = _committed_rows(tmp_path / "whole")
    rng = random.Random(0)
    trials, covered, aimed, run = [], {}, set(), 0
    while len(trials) < KILLS:
        name, snapshots = f"run{run}", []
        run_dir = tmp_path / name
        while True:  # the life of one run, killed and resumed until complete
            assert len(snapshots) < 12, f"{name} does not complete"
            # A moment ahead of where the run stands, or its start-up; with
            # none ahead, the run is left to complete.
            ahead = [t for t in TARGETS if (training.STATES.index(t[0]),
                                            t[1]) > _position(_state(run_dir))]
            fresh = [t for t in ahead if t not in aimed]
            if not ahead:
                target, longest = ("never", 0), 0
            elif LAUNCH[0] not in aimed or (not fresh and rng.random() < 0.1):
                target, longest = LAUNCH
            else:
                target = rng.choice(fresh or ahead)
                longest = TARGETS[target]
            aimed.add(target)
            delay = rng.uniform(0, longest)
            resume = run_dir.is_dir()
            log_path = tmp_path / f"{name}-{len(snapshots)}.log"
            with open(log_path, "w") as log:
                process = subprocess.Popen(
                    command + ["--run-name", name] + ["--resume"] * resume,
                    env=env, stdout=log, stderr=subprocess.STDOUT)
                code, launched = _kill_when(process, run_dir, target, delay)
            if code == 0:
                break
            assert code == -signal.SIGKILL, log_path.read_text()[-3000:]
            record = _state(run_dir)
            state = record["state"] if record else "before created"
            if state == "training":
                state += f" ({record.get('epochs_committed', 0)} committed)"
            if record and _state_text(run_dir) == launched:
                state = f"start-up ({state})"  # it had written nothing
            covered[state] = covered.get(state, 0) + 1
            trials.append((name, state))
            snapshots.append((_committed_rows(run_dir),
                              _complete_artefacts(run_dir)))
            if state == "complete":
                break  # killed as it ended, its run whole
            if len(snapshots) == 1:
                # The epochs the first process committed are the
                # uninterrupted run's, bit for bit (same seed, same steps).
                for epoch, row in snapshots[0][0].items():
                    assert row == whole[epoch], (name, epoch)
        _check_complete(run_dir, EPOCHS)
        rows, artefacts = (_committed_rows(run_dir),
                           _complete_artefacts(run_dir))
        for kept_rows, kept_artefacts in snapshots:
            for epoch, row in kept_rows.items():
                assert rows[epoch] == row, (name, "epoch", epoch)
            for path, digest in kept_artefacts.items():
                assert artefacts.get(path) == digest, (name, path)
        run += 1
    report = (f"{len(trials)} SIGKILL trials over {run} runs; where each "
              "kill landed: " + ", ".join(
                  f"{state}: {count}" for state, count in
                  sorted(covered.items()))
              + ". Every run resumed to complete; no committed epoch and no "
              "complete artefact was lost.")
    with capsys.disabled():
        print("\n" + report)
    # Also in the warnings summary, which reaches the terminal from a
    # pytest-xdist worker too.
    warnings.warn(KillCampaignReport(report))
    # Where kills land depends on the machine's speed; training and the
    # artefacts' writing, the longest states, are always hit.
    assert "trained" in covered, covered
    assert any(state.startswith("training (") for state in covered), covered


@pytest.mark.slow
def test_a_run_killed_after_training_or_after_export_is_completed(
        tmp_path, monkeypatch):
    """The issue's two lost runs: a kill after `model.keras`, before the
    export (11 of 11 could not be completed), and one during the backup's
    deletion; and a run killed right after its directory was made."""
    (tmp_path / "run").mkdir()  # killed right after the directory was made
    config = {"epochs": 2, "batch_size": 500, "judge": False}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(training.export_lib, "export_saved_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        training.train(TINY, config, tmp_path, "run", resume=True, verbose=0)
    monkeypatch.undo()
    run_dir = tmp_path / "run"
    assert training.run_state(run_dir)["state"] == "trained"
    assert (run_dir / "backup").is_dir()  # kept until the run is complete
    trained = _sha256(run_dir / "model.keras")
    history = (run_dir / "history.csv").read_bytes()

    rmtree = training.shutil.rmtree

    def killed_while_deleting_the_backup(path, *args, **kwargs):
        if os.path.basename(path) == training.BACKUP_DIR:
            os.remove(os.path.join(path, "training_metadata.json"))
            raise KeyboardInterrupt("killed")
        return rmtree(path, *args, **kwargs)

    monkeypatch.setattr(training.shutil, "rmtree",
                        killed_while_deleting_the_backup)
    with pytest.raises(KeyboardInterrupt):
        training.train(TINY, config, tmp_path, "run", resume=True, verbose=0)
    monkeypatch.undo()
    assert training.run_state(run_dir)["state"] == "exported"
    exported = _complete_artefacts(run_dir)

    result = training.train(TINY, config, tmp_path, "run", resume=True,
                            verbose=0)
    assert training.run_state(run_dir)["state"] == "complete"
    # Nothing was trained again, nothing complete was rewritten.
    assert _sha256(run_dir / "model.keras") == trained
    assert (run_dir / "history.csv").read_bytes() == history
    assert _complete_artefacts(run_dir) == exported
    assert result["epochs"] == 2 and not (run_dir / "backup").exists()
    with pytest.raises(ValueError, match="has finished"):
        training.train(TINY, config, tmp_path, "run", resume=True)


@pytest.mark.slow
def test_two_resumes_of_one_run_at_once_one_is_refused(tmp_path):
    command = [sys.executable, "-m", "keras_ae", "train", "--family", "dense",
               "--latent-dim", "2", "--option", "hidden_units=[8]",
               "--epochs", "3", "--batch-size", "500", "--no-judge",
               "--no-export", "--output-dir", str(tmp_path), "--run-name",
               "run"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while (process.poll() is None and time.monotonic() < deadline
           and (_state(tmp_path / "run") or {}).get("epochs_committed", 0) < 1):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumes = [subprocess.Popen(command + ["--resume"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outcomes = [(p.pid, *p.communicate(timeout=600), p.returncode)
                for p in resumes]
    codes = sorted(code for *_, code in outcomes)
    assert codes == [0, 2], outcomes
    (winner, *_), = [o for o in outcomes if o[-1] == 0]
    (_, _, refusal, _), = [o for o in outcomes if o[-1] == 2]
    assert refusal.startswith("keras_ae train: error: The run 'run' (")
    assert f"is being written by process {winner} (" in refusal
    assert len(refusal.strip().splitlines()) == 1
    # The winner's run is whole: each epoch once.
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["epoch"] == [0, 1, 2]
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 4
