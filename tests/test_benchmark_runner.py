"""The runner the benchmarks share: options, timing and result files."""

import argparse
import json
import pathlib
import time

import keras
import numpy as np
import pytest

from benchmarks import common


def _parser():
    parser = argparse.ArgumentParser(prog="bench")
    common.add_common_arguments(parser, epochs=5)
    return parser


def test_common_options_have_one_spelling_and_checked_ranges(capsys):
    args = common.parse_checked(_parser(), ["--epochs", "2", "--families",
                                            "dense", "--output-dir", "out"],
                                positive=("epochs", "latent_dim"))
    assert (args.epochs, args.families, args.latent_dim, args.seed,
            args.output_dir, args.overwrite) == (2, ["dense"], 16, 0, "out",
                                                 False)
    with pytest.raises(SystemExit) as info:
        common.parse_checked(_parser(), ["--epochs", "0"], positive=("epochs",))
    assert info.value.code == 2
    assert "--epochs must be > 0. Received: 0" in capsys.readouterr().err


def test_results_are_never_overwritten_without_the_option(tmp_path, capsys):
    parser = _parser()
    args = parser.parse_args(["--output-dir", str(tmp_path)])
    paths = common.result_paths(parser, args, "bench")
    report = {"value": np.float32(0.5), "count": np.int64(3),
              "missing": float("nan")}
    common.write_results(paths, report, "# first\n")
    assert json.loads(pathlib.Path(paths["json"]).read_text()) == {
        "value": 0.5, "count": 3, "missing": None}
    # Refused before anything runs, and by the writer itself.
    with pytest.raises(SystemExit):
        common.result_paths(parser, args, "bench")
    assert "pass --overwrite" in capsys.readouterr().err
    with pytest.raises(FileExistsError):
        common.write_results(paths, report, "# second\n")
    assert pathlib.Path(paths["md"]).read_text() == "# first\n"
    args = parser.parse_args(["--output-dir", str(tmp_path), "--overwrite"])
    common.write_results(common.result_paths(parser, args, "bench"), report,
                         "# second\n", overwrite=True)
    assert pathlib.Path(paths["md"]).read_text() == "# second\n"


def test_public_command_hides_this_machines_paths():
    assert common.public_command(
        "benchmarks.x", ["--output-dir", "/home/me/out", "--epochs", "1",
                         "--mnist-dir=/data/mnist"]) == (
        "python -m benchmarks.x --output-dir <dir> --epochs 1 "
        "--mnist-dir=<dir>")


def test_epoch_timer_times_training_and_wall_apart(monkeypatch):
    # Keras' order in an epoch: begin, the training steps, the validation
    # (`on_test_begin`), end. A clock that ticks as written here, no training.
    clock = iter([0.0, 2.0, 3.0,  # epoch 0: 2 s of training, 3 s in all
                  10.0, 11.0, 11.5,
                  20.0, 20.5])  # epoch 2: no validation
    monkeypatch.setattr(common.time, "perf_counter", lambda: next(clock))
    timer = common.EpochTimer()
    for epoch, validated in ((0, True), (1, True), (2, False)):
        timer.on_epoch_begin(epoch)
        if validated:
            timer.on_test_begin()
        timer.on_epoch_end(epoch)
    assert timer.train_seconds == [2.0, 1.0, 0.5]
    assert timer.epoch_seconds == [3.0, 1.5, 0.5]
    summary = timer.summary(64, warmup_epochs=1)
    assert summary["examples_per_second"] == pytest.approx(np.median([64, 128]))
    assert summary["first_epoch_seconds"] == 3.0
    assert summary["timed_epochs"] == 2 and not summary["warmup_included"]


@pytest.mark.slow
def test_epoch_timer_leaves_the_warm_up_epochs_out():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((64, 4), "float32")
    timer = common.EpochTimer()
    model.fit(x, x, validation_data=(x, x), epochs=3, batch_size=32,
              verbose=0, callbacks=[timer])
    assert len(timer.train_seconds) == len(timer.epoch_seconds) == 3
    # Validation is outside the training time, inside the wall time.
    assert all(t < w for t, w in zip(timer.train_seconds, timer.epoch_seconds))
    summary = timer.summary(64, warmup_epochs=1)
    assert summary["timed_epochs"] == 2 and not summary["warmup_included"]
    assert summary["examples_per_second"] == pytest.approx(
        np.median([64 / s for s in timer.train_seconds[1:]]))
    # With nothing after the warm-up, every epoch counts, flagged as such.
    assert timer.summary(64, warmup_epochs=3)["warmup_included"]


def test_median_seconds_stops_slow_functions_early():
    calls = []
    seconds, timed = common.median_seconds(lambda: calls.append(1),
                                           warmup=2, repeats=5)
    assert timed == 5 and len(calls) == 7 and seconds >= 0
    seconds, timed = common.median_seconds(lambda: time.sleep(0.02), warmup=0,
                                           repeats=100, max_seconds=0.05)
    assert timed == 3 and seconds >= 0.02
