"""Performance benchmark: throughput, hardware efficiency, latency, speed-ups.

Run it from the repository root:

    python -m benchmarks.perf            # the full suite, sized to finish
                                         # in < 10 min on 2 quiet cores
    python -m benchmarks.perf --quick    # a few steps per figure: checks the
                                         # script end to end, figures are
                                         # not to be quoted

It measures, in one run:

1. `peak`: the FLOP/s of a large float32 matmul (`tf.linalg.matmul` of two
   2048 x 2048 matrices, median of several runs), the yardstick of section 2.
2. `training`: the training throughput (examples/s) of every registered
   family as an AE and a VAE (latent_dim 16, batch 128, BCE loss, Adam) on
   the 4,000 embedded training digits, fed by `keras_ae.data.make_dataset`.
   Steady state: a `keras.callbacks.Callback` times every epoch and the
   warm-up epochs (tracing, cache filling) are left out. Hardware efficiency
   = throughput x training FLOPs per example / the matmul's FLOP/s, with the
   FLOPs counted by `benchmarks.flops` (2 per multiply-accumulate,
   training = 3 x forward).
3. `reference`: keras_ae's `VariationalAutoEncoder` against the keras.io
   VAE example (`benchmarks.reference_vae`), with the same encoder and
   decoder and the same initial weights, the same data, epochs and seeds:
   keras_ae trained the zoo's way (`make_dataset` + `fit(validation_data=
   ...)`), the reference the example's way (`fit(x_train, batch_size=128)`).
   Throughput (validation time excluded, and the whole epoch's wall time)
   and the held-out negative ELBO of both, computed by one function.
4. `latency`: the median latency at batch 1 and 256 of every family's VAE
   in each deployed form: Keras (`model(x, training=False)` in a
   `tf.function`, and `predict_on_batch`), the SavedModel's
   `serving_default` signature (`tf.saved_model.load`), and LiteRT float,
   dynamic-range and int8 models (`keras_ae.export.convert_to_tflite`, run by
   `keras_ae.export.TFLiteRunner`).
5. `speedups`: the conv VAE's training throughput under
   `steps_per_execution` (1, 8, 32), `jit_compile` (False, True), the input
   pipeline (NumPy arrays to `fit` vs `make_dataset`'s cached, prefetched
   `tf.data` pipeline), the callbacks of `keras_ae.training.train`, and, in
   fresh processes, TensorFlow's thread pools (`tf.config.threading`). The
   configurations run in interleaved rounds, so that a verdict holds only
   if every round agrees.

Each section prints its elapsed time. Results go to
`benchmarks/results/perf.json` and `perf.md` (a `--quick` run writes
`perf_quick.json` and `perf_quick.md`, marked provisional), with the
machine's description, its load average before and after, and the command.
Throughput and latency depend on the machine's load: run it on a quiet one.
"""

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

import keras_ae
from benchmarks import flops
from benchmarks import reference_vae
from keras_ae import export
from keras_ae.data import load_digits
from keras_ae.data import make_dataset
from benchmarks.machine import load_average
from benchmarks.machine import machine_description

SECTIONS = ("peak", "training", "reference", "latency", "speedups")
BATCH_SIZE = 128
LATENT_DIM = 16
LATENCY_BATCH_SIZES = (1, 256)
LATENCY_FORMS = ("keras_function", "keras_predict_on_batch", "saved_model",
                 "litert_float", "litert_dynamic", "litert_int8")
LITERT_QUANTIZATION = {"litert_float": None, "litert_dynamic": "dynamic",
                       "litert_int8": "int8"}
# A change of throughput smaller than this is reported as "no effect".
EFFECT_THRESHOLD = 0.10
BUDGET_SECONDS = 600

# Sizes of the full run and of `--quick` (a few steps per figure).
FULL = {
    "train_examples": None, "warmup_epochs": 1, "timed_epochs": 3,
    "reference_epochs": 10, "reference_seeds": 3, "elbo_draws": 10,
    "matmul_size": 2048,
    "matmul_runs": 7, "latency_warmup": 5, "latency_repeats": 30,
    "latency_max_seconds": 2.0, "speedup_timed_epochs": 2,
    "speedup_rounds": 2, "seed": 0,
}
QUICK = {
    "train_examples": 512, "warmup_epochs": 1, "timed_epochs": 1,
    "reference_epochs": 2, "reference_seeds": 1, "elbo_draws": 2,
    "matmul_size": 1024,
    "matmul_runs": 2, "latency_warmup": 1, "latency_repeats": 3,
    "latency_max_seconds": 1.0, "speedup_timed_epochs": 1,
    "speedup_rounds": 1, "seed": 0,
}
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
_WORKER_MARKER = "PERF_WORKER_RESULT "


# --- Measuring ---------------------------------------------------------------


class ThroughputMeter(keras.callbacks.Callback):
    """Times each training epoch, validation excluded.

    An epoch's training time runs from `on_epoch_begin` to the start of its
    validation (`on_test_begin`) or, without validation data, to
    `on_epoch_end`; its wall time always runs to `on_epoch_end`.

    Args:
        examples_per_epoch: int, number of training examples in an epoch.
        warmup_epochs: int, leading epochs left out of the figures (tracing,
            compilation and cache filling happen in the first one).

    Example:

    >>> meter = ThroughputMeter(len(x_train), warmup_epochs=1)
    >>> model.fit(x_train, epochs=4, callbacks=[meter])
    >>> meter.summary()["examples_per_second"]
    """

    def __init__(self, examples_per_epoch, warmup_epochs=1):
        super().__init__()
        self.examples_per_epoch = int(examples_per_epoch)
        self.warmup_epochs = int(warmup_epochs)
        self.train_seconds = []
        self.epoch_seconds = []
        self._begin = None
        self._train_end = None

    def on_epoch_begin(self, epoch, logs=None):
        self._begin = time.perf_counter()
        self._train_end = None

    def on_test_begin(self, logs=None):
        if self._begin is not None and self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        end = time.perf_counter()
        self.train_seconds.append((self._train_end or end) - self._begin)
        self.epoch_seconds.append(end - self._begin)
        self._begin = None

    def summary(self):
        """Returns the steady-state figures of the timed epochs as a dict."""
        timed = self.train_seconds[self.warmup_epochs:]
        if not timed:
            raise ValueError(
                "No timed epoch: train for more than `warmup_epochs` epochs. "
                f"Received: {len(self.train_seconds)} epoch(s) with "
                f"warmup_epochs={self.warmup_epochs}"
            )
        rates = [self.examples_per_epoch / s for s in timed]
        walls = self.epoch_seconds[self.warmup_epochs:]
        return {
            "examples_per_second": statistics.median(rates),
            "examples_per_second_min": min(rates),
            "examples_per_second_max": max(rates),
            "wall_examples_per_second": statistics.median(
                self.examples_per_epoch / s for s in walls),
            "first_epoch_seconds": self.epoch_seconds[0],
            "timed_epochs": len(timed),
        }


def median_seconds(fn, warmup, repeats, max_seconds=None):
    """Returns the median wall time of `fn()` in seconds and the calls timed.

    `warmup` untimed calls come first. With `max_seconds`, slow functions
    get fewer calls: the warm-up stops once it has taken `max_seconds / 2`,
    and the timing once it has taken `max_seconds` and made at least 3 calls.
    """
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
        if max_seconds and time.perf_counter() - start > max_seconds / 2:
            break
    times = []
    while len(times) < repeats:
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
        if max_seconds and len(times) >= 3 and sum(times) > max_seconds:
            break
    return statistics.median(times), len(times)


def peak_matmul_flops(size=2048, runs=7):
    """Returns the FLOP/s of a `size x size` float32 matmul (median of `runs`).

    A matmul of two n x n matrices is `2 * n**3` FLOPs. It runs in a
    `tf.function`, like the training steps, with the same thread pools.
    """
    a = tf.random.normal((size, size), seed=1)
    b = tf.random.normal((size, size), seed=2)
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.linalg.matmul(a, b)))
    seconds, _ = median_seconds(lambda: matmul(a, b).numpy(), warmup=2,
                                repeats=runs)
    return 2 * size**3 / seconds


def fit_and_time(model, x, warmup_epochs, timed_epochs, examples,
                 callbacks=(), **fit_kwargs):
    """Trains `model` on `x` and returns the `ThroughputMeter` summary.

    The meter comes after `callbacks`, so an epoch's time includes their
    end-of-epoch work (logs, backups).
    """
    meter = ThroughputMeter(examples, warmup_epochs)
    model.fit(x, epochs=warmup_epochs + timed_epochs, verbose=0,
              callbacks=[*callbacks, meter], **fit_kwargs)
    return meter.summary()


# --- Section 2: training throughput and hardware efficiency ------------------


def build_model(family, input_shape, variational, seed=0):
    """Builds a zoo model at the benchmark's default sizes (BCE loss).

    Keras' global state is cleared first, so that each measured model starts
    from the same process state whatever ran before it.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    return keras_ae.build_autoencoder(
        family, input_shape, LATENT_DIM, variational=variational,
        reconstruction_loss="bce", seed=seed)


def benchmark_training(family, variational, x_train, settings, peak, seed=0):
    """Returns the throughput and efficiency row of one zoo model."""
    model = build_model(family, x_train.shape[1:], variational, seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    timing = fit_and_time(
        model, make_dataset(x_train, batch_size=BATCH_SIZE, seed=seed),
        settings["warmup_epochs"], settings["timed_epochs"], len(x_train),
        shuffle=False)
    forward = flops.forward_flops(model)
    per_example = flops.TRAINING_FLOPS_PER_FORWARD * forward
    achieved = timing["examples_per_second"] * per_example
    return {
        "family": family,
        "kind": "vae" if variational else "ae",
        "parameters": model.count_params(),
        "forward_flops_per_example": forward,
        "profiler_forward_flops_per_example": flops.profiler_flops(model),
        "training_flops_per_example": per_example,
        **timing,
        "achieved_flops_per_second": achieved,
        "hardware_efficiency": achieved / peak if peak else None,
    }


# --- Section 3: the keras.io reference VAE -----------------------------------


def negative_elbo(encode, decode, x, num_draws=10, seed=0):
    """Estimates the mean negative ELBO of a VAE on `x`, in nats per example.

    For each example: binary cross-entropy summed over the pixels (outputs
    clipped to [1e-7, 1 - 1e-7], as Keras does) plus the analytic KL
    divergence of `q(z|x)` from `N(0, I)`, with `z` drawn from `q(z|x)`;
    averaged over `num_draws` draws and over the examples. The draws come
    from one seeded NumPy generator, so two models with the same latent size
    see the same noise.

    Args:
        encode: function from a batch of inputs to `(z_mean, z_log_var)`.
        decode: function from codes to output probabilities.
        x: array of inputs in [0, 1].
        num_draws: int > 0, draws of `z` per example.
        seed: int, seed of the draws.

    Returns:
        A float.
    """
    x = np.asarray(x, dtype="float64")
    z_mean, z_log_var = (np.asarray(a, dtype="float64") for a in encode(x))
    kl = 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1.0 - z_log_var, axis=1)
    rng = np.random.default_rng(seed)
    targets = x.reshape(len(x), -1)
    totals = []
    for _ in range(num_draws):
        z = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal(z_mean.shape)
        p = np.asarray(decode(z.astype("float32")), dtype="float64")
        p = np.clip(p.reshape(len(x), -1), 1e-7, 1.0 - 1e-7)
        bce = -np.sum(targets * np.log(p) + (1 - targets) * np.log1p(-p),
                      axis=1)
        totals.append(bce + kl)
    return float(np.mean(totals))


def build_zoo_twin(reference):
    """Builds keras_ae's VAE around the reference's architecture and weights.

    The conv family cannot express the keras.io model (no `Dense(16)` before
    the latent head, a `Conv2D` output layer and a zero-initialized
    `z_log_var`), so the reference's own builders make the encoder and the
    decoder; the encoder drops its `Sampling` output, since
    `VariationalAutoEncoder` samples `z` itself. The initial weights are
    copied from `reference`.
    """
    encoder = reference_vae.build_encoder()
    encoder = keras.Model(encoder.input, encoder.outputs[:2], name="encoder")
    decoder = reference_vae.build_decoder()
    for twin, source in ((encoder, reference.encoder),
                         (decoder, reference.decoder)):
        for target, weight in zip(twin.trainable_weights,
                                  source.trainable_weights, strict=True):
            target.assign(weight)
    model = keras_ae.VariationalAutoEncoder(
        encoder, decoder, reconstruction_loss="bce", seed=1337,
        name="keras_ae_vae")
    model.build((None, *model.input_shape_))
    return model


def compare_with_reference(data, settings, seed=0):
    """Trains the keras.io VAE and keras_ae's twin; returns both rows."""
    (x_train, _), (x_val, _) = data
    epochs = settings["reference_epochs"]
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    reference = reference_vae.build_reference_vae()
    zoo = build_zoo_twin(reference)
    zoo.compile(optimizer=keras.optimizers.Adam())

    keras.utils.set_random_seed(seed)
    reference_timing = fit_and_time(
        reference, x_train, 1, epochs - 1, len(x_train),
        batch_size=reference_vae.BATCH_SIZE)
    keras.utils.set_random_seed(seed)
    zoo_timing = fit_and_time(
        zoo, make_dataset(x_train, batch_size=reference_vae.BATCH_SIZE,
                          seed=seed),
        1, epochs - 1, len(x_train), shuffle=False,
        validation_data=make_dataset(x_val, batch_size=BATCH_SIZE,
                                     shuffle=False))

    def reference_encode(x):
        return reference.encoder.predict(x, batch_size=500, verbose=0)[:2]

    def reference_decode(z):
        return reference.decoder.predict(z, batch_size=500, verbose=0)

    draws = settings["elbo_draws"]
    rows = [
        {"model": "keras.io reference VAE",
         "path": "fit(x_train, batch_size=128)",
         **reference_timing,
         "validation_negative_elbo": negative_elbo(
             reference_encode, reference_decode, x_val, draws, seed)},
        {"model": "keras_ae VariationalAutoEncoder",
         "path": "fit(make_dataset(x_train), validation_data=make_dataset("
                 "x_val))",
         **zoo_timing,
         "validation_negative_elbo": negative_elbo(
             zoo.encode_distribution, zoo.decode, x_val, draws, seed)},
    ]
    return {
        "epochs": epochs,
        "elbo_draws": draws,
        "built_as": "identical encoder/decoder models passed to "
                    "keras_ae.VariationalAutoEncoder(encoder, decoder, "
                    "reconstruction_loss='bce'); initial weights copied from "
                    "the reference",
        "forward_flops_per_example": flops.forward_flops(zoo),
        "rows": rows,
        "throughput_ratio": (zoo_timing["examples_per_second"]
                             / reference_timing["examples_per_second"]),
        "wall_throughput_ratio": (
            zoo_timing["wall_examples_per_second"]
            / reference_timing["wall_examples_per_second"]),
    }


def compare_over_seeds(data, settings):
    """Runs `compare_with_reference` for several seeds; returns runs and means.

    The held-out -ELBO of a latent_dim 2 VAE after 10 epochs moves by several
    nats from seed to seed, so one seed cannot say which model is better.
    """
    seeds = [settings["seed"] + i for i in range(settings["reference_seeds"])]
    runs = [dict(compare_with_reference(data, settings, seed), seed=seed)
            for seed in seeds]
    elbos = [[run["rows"][i]["validation_negative_elbo"] for run in runs]
             for i in (0, 1)]
    ratios = [run["throughput_ratio"] for run in runs]
    return {
        **{key: runs[0][key] for key in ("epochs", "elbo_draws", "built_as",
                                         "forward_flops_per_example")},
        "runs": runs,
        "seeds": seeds,
        "mean_negative_elbo": {"reference": statistics.mean(elbos[0]),
                               "keras_ae": statistics.mean(elbos[1])},
        "median_throughput_ratio": statistics.median(ratios),
        "median_wall_throughput_ratio": statistics.median(
            run["wall_throughput_ratio"] for run in runs),
    }


# --- Section 4: inference latency --------------------------------------------


def latency_runners(model, x_train, work_dir, name, litert_threads=None):
    """Returns `{form: (function of a batch, delegate)}` for every form.

    A form that cannot be built maps to the error message instead.
    """
    specs = tf.TensorSpec((None, *model.input_shape_), tf.float32)
    forward = tf.function(lambda x: model(x, training=False),
                          input_signature=[specs])
    runners = {
        "keras_function": (lambda x: forward(tf.convert_to_tensor(x)).numpy(),
                           None),
        "keras_predict_on_batch": (model.predict_on_batch, None),
    }
    saved_model = export.export_saved_model(model, work_dir, name)
    serve = tf.saved_model.load(saved_model).signatures["serving_default"]
    runners["saved_model"] = (
        lambda x: serve(inputs=tf.convert_to_tensor(x))["reconstruction"]
        .numpy(), None)
    for form, quantization in LITERT_QUANTIZATION.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the XNNPACK fallback warning
                flatbuffer = export.convert_to_tflite(
                    saved_model, quantization=quantization,
                    representative_data=(x_train if quantization == "int8"
                                         else None))
            runner = export.TFLiteRunner(flatbuffer, num_threads=litert_threads)
            runner(x_train[:1])  # settles the delegate (XNNPACK or builtin)
        except Exception as error:  # reported in the table, not fatal
            runners[form] = f"{type(error).__name__}: {error}"[:300]
            continue
        runners[form] = (lambda x, r=runner: r(x)["reconstruction"],
                         runner.delegate)
    return runners


def benchmark_latency(family, data, settings, work_dir, seed=0,
                      litert_threads=None):
    """Returns the latency rows of one family's VAE, one per form."""
    (x_train, _), (x_val, _) = data
    model = build_model(family, x_train.shape[1:], True, seed)
    runners = latency_runners(model, x_train, work_dir, f"{family}_vae",
                              litert_threads)
    batch = x_val[:max(LATENCY_BATCH_SIZES)]
    reference = runners["keras_function"][0](batch)
    rows = []
    for form in LATENCY_FORMS:
        row = {"family": family, "kind": "vae", "form": form}
        if isinstance(runners[form], str):
            rows.append({**row, "error": runners[form]})
            continue
        fn, delegate = runners[form]
        row["delegate"] = delegate
        row["max_abs_vs_keras"] = float(np.max(np.abs(fn(batch) - reference)))
        for size in LATENCY_BATCH_SIZES:
            x = np.ascontiguousarray(x_val[:size])
            seconds, calls = median_seconds(
                lambda: fn(x), settings["latency_warmup"],
                settings["latency_repeats"], settings["latency_max_seconds"])
            row[f"latency_ms_batch_{size}"] = 1000 * seconds
            row[f"calls_batch_{size}"] = calls
        rows.append(row)
    return rows


# --- Section 5: what makes training fast -------------------------------------


def speedup_run(x_train, pipeline, steps_per_execution, jit_compile, settings,
                callbacks="none", seed=0):
    """Trains the conv VAE under one configuration; returns its figures."""
    from keras_ae.training import AtomicBackupAndRestore

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
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    completed = subprocess.run(
        command, cwd=root, capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env})
    lines = [line for line in completed.stdout.splitlines()
             if line.startswith(_WORKER_MARKER)]
    if completed.returncode or not lines:
        tail = (completed.stderr or completed.stdout)[-300:]
        return {"process": name, "error": f"exit {completed.returncode}: {tail}"}
    return {"process": name, "intra_op_threads": intra,
            "inter_op_threads": inter, "environment": env,
            **json.loads(lines[-1][len(_WORKER_MARKER):])}


def run_worker(config):
    """The body of a fresh process of `process_run`: prints its figures."""
    tf.config.threading.set_intra_op_parallelism_threads(config["intra"])
    tf.config.threading.set_inter_op_parallelism_threads(config["inter"])
    settings = QUICK if config["quick"] else FULL
    (x_train, _), _ = load_data(settings, config["seed"])
    result = speedup_run(x_train, "dataset", 1, False, settings,
                         seed=config["seed"])
    result["onednn"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")
    print(_WORKER_MARKER + json.dumps(result), flush=True)


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


# --- The machine and the report ----------------------------------------------


def process_seconds():
    """Returns the wall time since this process started (imports included).

    Reads Linux's `/proc`; returns `None` elsewhere.
    """
    try:
        with open("/proc/self/stat") as f:
            # Fields after the command name; the start time is field 22.
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def load_data(settings, seed=0):
    """Loads the embedded digits; `--quick` keeps a few batches of them."""
    (x_train, y_train), validation = load_digits(seed=seed)
    if settings["train_examples"]:
        x_train = x_train[:settings["train_examples"]]
        y_train = y_train[:settings["train_examples"]]
    return (x_train, y_train), validation


def to_markdown(report):
    """Formats the report as a markdown document."""
    lines = ["# Performance benchmark", ""]
    if report["quick"]:
        lines += ["**Quick run (`--quick`): a few steps per figure, to check "
                  "the script. The figures are provisional; do not quote "
                  "them.**", ""]
    lines += _header_lines(report)
    for section, formatter in (("peak", _peak_lines),
                               ("training", _training_lines),
                               ("reference", _reference_lines),
                               ("latency", _latency_lines),
                               ("speedups", _speedup_lines)):
        if section in report["results"]:
            lines += formatter(report)
    return "\n".join(lines) + "\n"


def _header_lines(report):
    m = report["machine"]
    seconds = ", ".join(f"{k} {v:.0f} s"
                        for k, v in report["section_seconds"].items())
    return [
        f"Command: `{report['command']}`  ",
        f"Date: {report['date']}  ",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs "
        f"({m['usable_cpus']} usable), {m['memory']} RAM, {m['gpus']} GPU(s); "
        f"{m['platform']}  ",
        f"Software: Python {m['python']}, TensorFlow {m['tensorflow']}, Keras "
        f"{m['keras']}, NumPy {m['numpy']}, ai-edge-litert "
        f"{m['ai_edge_litert']}; oneDNN {m['onednn']}  ",
        f"Load average (1 min): {report['load_average_before']} before, "
        f"{report['load_average_after']} after  ",
        f"Elapsed: {report['process_seconds']:.0f} s since the process "
        f"started, {report['total_seconds']:.0f} s after the imports "
        f"({seconds})",
        "",
    ]


def _peak_lines(report):
    peak = report["results"]["peak"]
    return [
        "## Peak: float32 matmul", "",
        f"`tf.linalg.matmul` of two {peak['size']} x {peak['size']} float32 "
        f"matrices in a `tf.function`, median of {peak['runs']} runs: "
        f"**{peak['flops_per_second'] / 1e9:.1f} GFLOP/s** "
        f"(2 n^3 FLOPs per product).", "",
    ]


def _training_lines(report):
    config = report["config"]
    lines = [
        "## Training throughput and hardware efficiency", "",
        f"Every family at its default options, latent_dim {LATENT_DIM}, batch "
        f"{BATCH_SIZE}, BCE, Adam; {config['train_examples']} training digits "
        "through `make_dataset` (cached, shuffled, prefetched), no "
        f"validation. Throughput: median over {config['timed_epochs']} "
        f"epoch(s) after {config['warmup_epochs']} warm-up epoch(s) "
        "(min-max in brackets). " + flops.describe_convention() + " The "
        "profiler column is TensorFlow's own count of the inference graph "
        "(element-wise ops included, `Einsum` and the unused `z_log_var` "
        "head left out). Efficiency = examples/s x training FLOPs per "
        "example / the matmul's FLOP/s.", "",
        "| family | kind | parameters | forward MFLOPs/example | profiler "
        "MFLOPs | examples/s | achieved GFLOP/s | efficiency |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report["results"]["training"]:
        lines.append(
            f"| {row['family']} | {row['kind']} | {row['parameters']:,} | "
            f"{row['forward_flops_per_example'] / 1e6:.2f} | "
            f"{row['profiler_forward_flops_per_example'] / 1e6:.2f} | "
            f"{row['examples_per_second']:,.0f} "
            f"({row['examples_per_second_min']:,.0f}-"
            f"{row['examples_per_second_max']:,.0f}) | "
            f"{row['achieved_flops_per_second'] / 1e9:.2f} | "
            f"{100 * row['hardware_efficiency']:.1f}% |")
    return lines + [""]


def _reference_lines(report):
    result = report["results"]["reference"]
    ratio = result["median_throughput_ratio"]
    faster = "faster" if ratio >= 1 else "slower"
    elbo = result["mean_negative_elbo"]
    lines = [
        "## keras_ae against the keras.io VAE example", "",
        "The same convolutional VAE (latent_dim 2, keras.io's architecture, "
        f"{result['forward_flops_per_example'] / 1e6:.2f} MFLOPs per forward "
        f"example) built as {result['built_as']}; same data, "
        f"{result['epochs']} epochs, same seed in each pair; the reference "
        "trains first, then keras_ae, in the same process; one pair per "
        f"seed ({', '.join(map(str, result['seeds']))}). Throughput: median "
        "of the epochs after the first; \"train\" leaves keras_ae's per-epoch "
        "validation out, \"wall\" counts it. Held-out negative ELBO: mean "
        "over the 1,000 validation digits of BCE summed over pixels + KL, z "
        f"drawn from q(z|x), {result['elbo_draws']} draws, one function for "
        "both models (lower is better).", "",
        "| seed | model | training path | train examples/s | wall examples/s "
        "| held-out -ELBO (nats) |",
        "| ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for run in result["runs"]:
        for row in run["rows"]:
            lines.append(
                f"| {run['seed']} | {row['model']} | `{row['path']}` | "
                f"{row['examples_per_second']:,.0f} | "
                f"{row['wall_examples_per_second']:,.0f} | "
                f"{row['validation_negative_elbo']:.2f} |")
    return lines + [
        "",
        f"Over the seeds, keras_ae trains at a median {ratio:.2f}x the "
        f"reference's throughput ({abs(ratio - 1) * 100:.0f}% {faster}); "
        "counting its validation passes, "
        f"{result['median_wall_throughput_ratio']:.2f}x. Mean held-out "
        f"-ELBO: keras_ae {elbo['keras_ae']:.2f} nats, reference "
        f"{elbo['reference']:.2f} nats.", "",
    ]


def _latency_lines(report):
    config = report["config"]
    lines = [
        "## Inference latency", "",
        f"Each family's VAE (untrained weights: latency does not depend on "
        f"them), median of {config['latency_repeats']} calls after "
        f"{config['latency_warmup']} warm-up calls (slow forms: fewer, at "
        f"least 3, once {config['latency_max_seconds']:g} s of calls have "
        "passed; `calls_batch_*` in the JSON), NumPy in and out. LiteRT "
        "threads: "
        f"{config['litert_threads'] or 'the interpreter default'}.", "",
        "| family | form | latency @1 (ms) | latency @256 (ms) | max abs vs "
        "Keras | delegate |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in report["results"]["latency"]:
        if "error" in row:
            lines.append(f"| {row['family']} | {row['form']} | failed: "
                         f"{row['error'][:120]} | | | |")
            continue
        lines.append(
            f"| {row['family']} | {row['form']} | "
            f"{row['latency_ms_batch_1']:.3f} | "
            f"{row['latency_ms_batch_256']:.2f} | "
            f"{row['max_abs_vs_keras']:.1e} | {row['delegate'] or '-'} |")
    return lines + [""]


def _speedup_lines(report):
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


# --- Command line ------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.perf",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a few steps per figure, to check the script end "
                        "to end; writes perf_quick.json/.md")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS),
                        choices=SECTIONS,
                        help="sections to run (default: all)")
    parser.add_argument("--families", nargs="+",
                        default=keras_ae.list_autoencoders(),
                        choices=keras_ae.list_autoencoders(),
                        help="families of the training and latency sections "
                        "(default: all)")
    parser.add_argument("--litert-threads", type=int, default=None,
                        help="threads of the LiteRT interpreter (default: its "
                        "own default)")
    parser.add_argument("--speedup-rounds", type=int, default=None,
                        help="interleaved rounds of the speed-up section "
                        "(default: 2, 1 with --quick)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the data split, the weights, the "
                        "shuffles and the sampling (default: %(default)s)")
    parser.add_argument("--output-dir",
                        default=os.path.join("benchmarks", "results"),
                        help="where the report goes (default: %(default)s)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be >= 0. Received: {args.seed}")
    for name in ("speedup_rounds", "litert_threads"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0. "
                         f"Received: {value}")
    return args


def run_sections(args, settings, data, log):
    """Runs the chosen sections; returns `(results, section_seconds)`."""
    (x_train, _), _ = data
    results, seconds = {}, {}
    sections = list(args.sections)
    if "training" in sections and "peak" not in sections:
        sections.insert(0, "peak")  # efficiency needs the yardstick

    def timed(name, fn):
        start = time.perf_counter()
        log(f"[{name}] ...")
        results[name] = fn()
        seconds[name] = time.perf_counter() - start
        log(f"[{name}] done in {seconds[name]:.1f} s "
            f"(total {sum(seconds.values()):.1f} s)")

    for section in SECTIONS:
        if section not in sections:
            continue
        if section == "peak":
            timed("peak", lambda: {
                "size": settings["matmul_size"], "runs": settings["matmul_runs"],
                "flops_per_second": peak_matmul_flops(settings["matmul_size"],
                                                      settings["matmul_runs"])})
        elif section == "training":
            peak = results["peak"]["flops_per_second"]
            timed("training", lambda: [
                _logged(log, benchmark_training(family, variational, x_train,
                                                settings, peak,
                                                settings["seed"]))
                for family in args.families for variational in (False, True)])
        elif section == "reference":
            timed("reference", lambda: compare_over_seeds(data, settings))
        elif section == "latency":
            with tempfile.TemporaryDirectory(prefix="keras_ae-perf-") as work:
                timed("latency", lambda: [
                    row for family in args.families
                    for row in benchmark_latency(
                        family, data, settings, work, settings["seed"],
                        args.litert_threads)])
        elif section == "speedups":
            timed("speedups", lambda: benchmark_speedups(
                x_train, settings, args.quick, log))
    return results, seconds


def _logged(log, row):
    log(f"  {row['family']:>12} {row['kind']}: "
        f"{row['examples_per_second']:8.0f} examples/s, "
        f"{100 * row['hardware_efficiency']:.1f}% of the matmul peak")
    return row


def write_report(report, output_dir, quick):
    """Writes `perf[_quick].json` and `.md`; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    stem = "perf_quick" if quick else "perf"
    json_path = os.path.join(output_dir, f"{stem}.json")
    md_path = os.path.join(output_dir, f"{stem}.md")
    with open(json_path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(md_path, "w") as f:
        f.write(to_markdown(report))
    return json_path, md_path


def main(argv=None):
    args = parse_args(argv)
    if args.worker is not None:
        run_worker(json.loads(args.worker))
        return 0
    start = time.perf_counter()
    load_before = load_average()
    settings = dict(QUICK if args.quick else FULL)
    if args.speedup_rounds is not None:
        settings["speedup_rounds"] = args.speedup_rounds
    settings["seed"] = args.seed

    def log(message):
        print(message, flush=True)

    data = load_data(settings, args.seed)
    results, seconds = run_sections(args, settings, data, log)
    total = time.perf_counter() - start
    since_start = process_seconds() or total
    log(f"Total: {total:.1f} s after the imports, {since_start:.1f} s since "
        f"the process started (budget {BUDGET_SECONDS} s"
        f"{'' if since_start <= BUDGET_SECONDS else ', EXCEEDED'})")
    report = {
        "command": " ".join(["python -m benchmarks.perf",
                             *(shlex.quote(a) for a in
                               (sys.argv[1:] if argv is None else argv))]),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine_description(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "config": {**settings, "train_examples": len(data[0][0]),
                   "batch_size": BATCH_SIZE, "latent_dim": LATENT_DIM,
                   "families": list(args.families),
                   "litert_threads": args.litert_threads,
                   "flops_convention": flops.describe_convention()},
        "section_seconds": seconds,
        "total_seconds": total,
        "process_seconds": since_start,
        "results": results,
    }
    paths = write_report(report, args.output_dir, args.quick)
    log(f"Results written to {paths[0]} and {paths[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
