"""Section `speedups`: what makes the conv VAE train faster.

`steps_per_execution` (1, 8, 32), `jit_compile`, the input pipeline (NumPy
arrays to `fit` vs `make_dataset`'s cached, prefetched `tf.data` pipeline),
the callbacks of `keras_ae.training.train`, and, in fresh processes,
TensorFlow's thread pools. The configurations run in interleaved rounds, so
that a verdict holds only if every round agrees.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

import keras
import tensorflow as tf

from benchmarks.perf.settings import BATCH_SIZE
from benchmarks.perf.settings import EFFECT_THRESHOLD
from benchmarks.perf.settings import FULL
from benchmarks.perf.settings import LATENT_DIM
from benchmarks.perf.settings import QUICK
from benchmarks.perf.settings import build_model
from benchmarks.perf.settings import fit_and_time
from benchmarks.perf.settings import load_data
from keras_ae.data import make_dataset

# The in-process speed-up configurations: input pipeline,
# steps_per_execution, jit_compile, callbacks ("none", or "train": the
# TensorBoard, CSVLogger and backup callbacks of `keras_ae.training.train`)
# and the index of the configuration it is compared with. The first is the
# baseline: keras_ae's own data path (`make_dataset`, compile's defaults).
SPEEDUP_CONFIGS = (
    ("dataset", 1, False, "none", None),
    ("dataset", 8, False, "none", 0),
    ("dataset", 32, False, "none", 0),
    ("dataset", 1, True, "none", 0),
    ("numpy", 1, False, "none", 0),
    ("dataset", 1, False, "train", 0),
    ("dataset", 8, False, "train", 5),
)
# Settings that only take effect in a fresh process: (name, intra-op
# threads, inter-op threads, extra environment). The first is the baseline;
# 0 threads is TensorFlow's default, which is 2 and 2 on a 2-core machine:
# two ops at a time, each with two threads, may oversubscribe the cores.
PROCESS_CONFIGS = (
    ("default threads", 0, 0, {}),
    ("intra 2, inter 1", 2, 1, {}),
)
WORKER_MARKER = "PERF_WORKER_RESULT "



def speedup_run(x_train, pipeline, steps_per_execution, jit_compile, settings,
                callbacks="none", seed=0):
    """Trains the conv VAE under one configuration; returns its figures."""
    from keras_ae.compat import AtomicBackupAndRestore

    model = build_model("conv", x_train.shape[1:], True, seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  steps_per_execution=steps_per_execution,
                  jit_compile=jit_compile)
    if pipeline == "dataset":
        # make_dataset shuffles each epoch itself.
        x, fit_kwargs = make_dataset(x_train, batch_size=BATCH_SIZE,
                                     seed=seed), {"shuffle": False}
    else:
        x, fit_kwargs = x_train, {"batch_size": BATCH_SIZE, "shuffle": True}
    with tempfile.TemporaryDirectory(prefix="keras_ae-perf-run-") as run_dir:
        extra = []
        if callbacks == "train":  # the callbacks of keras_ae.training.train
            extra = [
                keras.callbacks.TensorBoard(os.path.join(run_dir, "logs")),
                keras.callbacks.CSVLogger(
                    os.path.join(run_dir, "history.csv"), append=True),
                AtomicBackupAndRestore(os.path.join(run_dir, "backup")),
            ]
        timing = fit_and_time(model, x, settings["warmup_epochs"],
                              settings["speedup_timed_epochs"], len(x_train),
                              callbacks=extra, **fit_kwargs)
    return {"pipeline": pipeline, "steps_per_execution": steps_per_execution,
            "jit_compile": bool(model.jit_compile), "callbacks": callbacks,
            **timing}


def process_run(name, intra, inter, env, quick, seed=0):
    """Runs the baseline speed-up configuration in a fresh Python process."""
    config = {"intra": intra, "inter": inter, "quick": quick, "seed": seed}
    command = [sys.executable, "-m", "benchmarks.perf", "--worker",
               json.dumps(config)]
    # The repository root, where `python -m benchmarks.perf` runs.
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    completed = subprocess.run(
        command, cwd=root, capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env})
    lines = [line for line in completed.stdout.splitlines()
             if line.startswith(WORKER_MARKER)]
    if completed.returncode or not lines:
        tail = (completed.stderr or completed.stdout)[-300:]
        return {"process": name, "error": f"exit {completed.returncode}: {tail}"}
    return {"process": name, "intra_op_threads": intra,
            "inter_op_threads": inter, "environment": env,
            **json.loads(lines[-1][len(WORKER_MARKER):])}


def run_worker(config):
    """The body of a fresh process of `process_run`: prints its figures."""
    tf.config.threading.set_intra_op_parallelism_threads(config["intra"])
    tf.config.threading.set_inter_op_parallelism_threads(config["inter"])
    settings = QUICK if config["quick"] else FULL
    (x_train, _), _ = load_data(settings, config["seed"])
    result = speedup_run(x_train, "dataset", 1, False, settings,
                         seed=config["seed"])
    result["onednn"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")
    print(WORKER_MARKER + json.dumps(result), flush=True)


def benchmark_speedups(x_train, settings, quick, log):
    """Runs every speed-up configuration in interleaved rounds.

    Each round runs every configuration once, baseline first, so that a
    change of the machine's load hits all of them alike; a configuration is
    compared with the baseline of its own round.

    Returns:
        A dict with the in-process and the fresh-process configurations,
        each with its runs (one per round) and its verdict.
    """
    runs = [[] for _ in SPEEDUP_CONFIGS]
    processes = {config[0]: [] for config in PROCESS_CONFIGS}
    for round_index in range(settings["speedup_rounds"]):
        log(f"  round {round_index + 1} of {settings['speedup_rounds']}")
        for index, config in enumerate(SPEEDUP_CONFIGS):
            row = speedup_run(x_train, *config[:3], settings,
                              callbacks=config[3], seed=settings["seed"])
            runs[index].append(row)
            log(f"  {_describe(config)}: {row['examples_per_second']:8.0f} "
                "examples/s")
        for name, intra, inter, env in PROCESS_CONFIGS:
            row = process_run(name, intra, inter, env, quick,
                              settings["seed"])
            processes[name].append(row)
            shown = (f"{row['examples_per_second']:8.0f} examples/s"
                     if "error" not in row else row["error"])
            log(f"  fresh process, {name}: {shown}")
    in_process = []
    for index, (pipeline, steps, jit, callbacks, compared_with) in enumerate(
            SPEEDUP_CONFIGS):
        baseline = runs[index if compared_with is None else compared_with]
        in_process.append({
            "pipeline": pipeline, "steps_per_execution": steps,
            "jit_compile": jit, "callbacks": callbacks,
            "compared_with": compared_with,
            **compare_runs(runs[index], baseline)})
    fresh = [
        {"process": name, "intra_op_threads": intra,
         "inter_op_threads": inter, "environment": env,
         **compare_runs(processes[name], processes[PROCESS_CONFIGS[0][0]])}
        for name, intra, inter, env in PROCESS_CONFIGS]
    return {"rounds": settings["speedup_rounds"], "in_process": in_process,
            "fresh_process": fresh}


def _describe(config):
    pipeline, steps, jit, callbacks = config[:4]
    return (f"{pipeline:>7} steps_per_execution={steps:<2} jit={jit!s:<5} "
            f"callbacks={callbacks}")


def compare_runs(rows, baseline_rows):
    """Summarizes a configuration's runs against the baseline's, round by round.

    The verdict is "faster" or "slower" when every round moved by more than
    `EFFECT_THRESHOLD` the same way, "no effect" when no round did, and
    "inconclusive" otherwise.
    """
    errors = [r["error"] for r in rows + baseline_rows if "error" in r]
    if errors:
        return {"error": errors[0], "runs": rows}
    rates = [r["examples_per_second"] for r in rows]
    changes = [r["examples_per_second"] / b["examples_per_second"] - 1.0
               for r, b in zip(rows, baseline_rows)]
    verdicts = {_verdict(change) for change in changes}
    return {
        "examples_per_second": statistics.median(rates),
        "changes_vs_baseline": changes,
        "change_vs_baseline": statistics.median(changes),
        "first_epoch_seconds": statistics.median(
            r["first_epoch_seconds"] for r in rows),
        "verdict": verdicts.pop() if len(verdicts) == 1 else "inconclusive",
        "runs": rows,
    }


def _verdict(change):
    if change > EFFECT_THRESHOLD:
        return "faster"
    if change < -EFFECT_THRESHOLD:
        return "slower"
    return "no effect"


def speedup_lines(report):
    result = report["results"]["speedups"]
    config = report["config"]
    lines = [
        "## Making training fast (conv VAE)", "",
        f"conv VAE, latent_dim {LATENT_DIM}, batch {BATCH_SIZE}, "
        f"{config['train_examples']} digits; each run: median over "
        f"{config['speedup_timed_epochs']} epoch(s) after "
        f"{config['warmup_epochs']} warm-up epoch(s). {result['rounds']} "
        "interleaved round(s): each round runs every configuration once, "
        "in this order, and each configuration is compared with the one of "
        "its \"compared with\" column in the same round. #1 is keras_ae's "
        "data path (`make_dataset`, steps_per_execution 1, jit_compile off, "
        "as compile's \"auto\" resolves on a CPU). Callbacks \"train\": "
        "the TensorBoard, CSVLogger and backup callbacks of "
        "`keras_ae.training.train` (their end-of-epoch work is timed). "
        "Verdict: \"faster\"/\"slower\" when every "
        f"round moved by more than {100 * EFFECT_THRESHOLD:.0f}% the same "
        "way, \"no effect\" when none did, else \"inconclusive\".", "",
        "| # | pipeline | steps_per_execution | jit_compile | callbacks | "
        "examples/s | compared with | change per round | first epoch (s) | "
        "verdict |",
        "| ---: | --- | ---: | --- | --- | ---: | --- | --- | ---: | --- |",
    ]
    for index, row in enumerate(result["in_process"]):
        compared = row["compared_with"]
        lines.append(
            f"| {index + 1} | {row['pipeline']} | "
            f"{row['steps_per_execution']} | {row['jit_compile']} | "
            f"{row['callbacks']} | "
            + _comparison_cells(row, compared is None,
                                f"#{compared + 1}" if compared is not None
                                else "-"))
    lines += [
        "", "Settings that need a fresh process (the baseline configuration; "
        "each compared with the fresh process at TensorFlow's defaults of "
        "its round):", "",
        "| process | examples/s | change per round | first epoch (s) | "
        "verdict |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for index, row in enumerate(result["fresh_process"]):
        lines.append(f"| {row['process']} | "
                     + _comparison_cells(row, index == 0))
    return lines + [""]


def _comparison_cells(row, baseline, compared_with=None):
    extra = [] if compared_with is None else [compared_with]
    if "error" in row:
        return " | ".join([f"failed: {row['error'][:120]}", *extra, "", "",
                           ""]) + " |"
    changes = ", ".join(f"{100 * c:+.0f}%" for c in row["changes_vs_baseline"])
    return " | ".join([
        f"{row['examples_per_second']:,.0f}", *extra,
        "(baseline)" if baseline else changes,
        f"{row['first_epoch_seconds']:.1f}",
        "baseline" if baseline else row["verdict"],
    ]) + " |"
