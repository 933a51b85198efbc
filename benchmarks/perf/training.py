"""Sections `peak` and `training`: the machine's matmul rate, and the
training throughput and hardware efficiency of every family."""

import keras
import tensorflow as tf

from benchmarks import common
from benchmarks import flops
from benchmarks.perf.settings import BATCH_SIZE
from benchmarks.perf.settings import LATENT_DIM
from benchmarks.perf.settings import build_model
from benchmarks.perf.settings import fit_and_time
from keras_ae.data import make_dataset


def peak_matmul_flops(size=2048, runs=7):
    """Returns the FLOP/s of a `size x size` float32 matmul (median of `runs`).

    A matmul of two n x n matrices is `2 * n**3` FLOPs. It runs in a
    `tf.function`, like the training steps, with the same thread pools.
    """
    a = tf.random.normal((size, size), seed=1)
    b = tf.random.normal((size, size), seed=2)
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.linalg.matmul(a, b)))
    seconds, _ = common.median_seconds(lambda: matmul(a, b).numpy(),
                                       warmup=2, repeats=runs)
    return 2 * size**3 / seconds


def benchmark_peak(settings):
    size, runs = settings["matmul_size"], settings["matmul_runs"]
    return {"size": size, "runs": runs,
            "flops_per_second": peak_matmul_flops(size, runs)}


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


def peak_lines(report):
    peak = report["results"]["peak"]
    return [
        "## Peak: float32 matmul", "",
        f"`tf.linalg.matmul` of two {peak['size']} x {peak['size']} float32 "
        f"matrices in a `tf.function`, median of {peak['runs']} runs: "
        f"**{peak['flops_per_second'] / 1e9:.1f} GFLOP/s** "
        f"(2 n^3 FLOPs per product).", "",
    ]


def training_lines(report):
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
