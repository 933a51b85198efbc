"""Deployment benchmark: size, latency and accuracy of every deployed form.

For every registered family, as an AE and as a VAE, the script trains a model
briefly on the embedded MNIST digits (`keras_ae.data.load_digits()`), then
measures each form a deployment can take (`FORMS`):

    keras             the .keras file, run with `model.predict_on_batch`
    saved_model       the SavedModel of `export_saved_model`, run through its
                      `serving_default` signature (what TF Serving runs)
    litert_float      TensorFlow Lite, float32
    litert_dynamic    TensorFlow Lite, dynamic range quantization
    litert_float16    TensorFlow Lite, float16 weights
    litert_int8       TensorFlow Lite, full-integer (calibrated on 200 digits)

and reports, per form: the file size (bytes; the SavedModel directory's
total), the median latency of one call at batch 1 and at batch 256 (after
warm-up calls), the reconstruction MSE against the clean validation digits,
and the largest absolute difference from the Keras model's outputs. LiteRT
runs through `keras_ae.export.TFLiteRunner` (the `ai_edge_litert`
interpreter, XNNPACK delegate unless the model needs the builtin kernels;
the `delegate` column says which). `deployed_forms` builds the forms; the
latency section of `benchmarks.perf` uses it too.

Results go to `<output-dir>/deployment.json` and `deployment.md`, with the
machine's description and the command; existing results are replaced only
with `--overwrite`. Latencies depend on the machine and its load: run it on
a quiet machine.

Usage:

    python -m benchmarks.deployment --overwrite          # 3 epochs, all families
    python -m benchmarks.deployment --epochs 1 --repeats 3 --families dense \\
        --output-dir /tmp/deployment
"""

import argparse
import os
import sys
import tempfile
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from benchmarks import common
from keras_ae import build_autoencoder
from keras_ae import export
from keras_ae.data import load_digits

# The TensorFlow Lite forms and their quantization (None: float32).
LITERT_QUANTIZATIONS = {"litert_float": None, "litert_dynamic": "dynamic",
                        "litert_float16": "float16", "litert_int8": "int8"}
# Every form `deployed_forms` can build; "keras_function" is the model called
# in a `tf.function`, "keras" its `predict_on_batch`.
ALL_FORMS = ("keras_function", "keras", "saved_model", *LITERT_QUANTIZATIONS)
FORMS = ("keras", "saved_model", *LITERT_QUANTIZATIONS)
BATCH_SIZES = (1, 256)


def deployed_forms(model, x_train, work_dir, name, forms=FORMS, threads=None):
    """Builds each deployed form of `model`; returns `{form: (fn, path, delegate)}`.

    `fn` maps a batch (NumPy) to the reconstructions (NumPy); `path` is the
    file or directory of the form (`None` for `keras_function`); `delegate`
    is the LiteRT delegate that runs it (`None` off LiteRT). A form that
    cannot be built maps to its error message instead, so that one failure
    does not end the benchmark.

    Args:
        model: a keras_ae autoencoder.
        x_train: training inputs; the int8 model calibrates on them.
        work_dir: directory where the files are written.
        name: str, the stem of the files.
        forms: names from `ALL_FORMS`.
        threads: int or `None`, threads of the LiteRT interpreter.
    """
    built = {}
    if "keras_function" in forms:
        spec = tf.TensorSpec((None, *model.input_shape_), tf.float32)
        forward = tf.function(lambda x: model(x, training=False),
                              input_signature=[spec])
        built["keras_function"] = (
            lambda x: forward(tf.convert_to_tensor(x)).numpy(), None, None)
    if "keras" in forms:
        keras_path = os.path.join(work_dir, f"{name}.keras")
        model.save(keras_path)
        built["keras"] = (model.predict_on_batch, keras_path, None)
    saved_model = export.export_saved_model(model, work_dir, name)
    if "saved_model" in forms:
        serve = tf.saved_model.load(saved_model).signatures["serving_default"]
        built["saved_model"] = (
            lambda x: serve(inputs=tf.constant(x))["reconstruction"].numpy(),
            saved_model, None)
    for form, quantization in LITERT_QUANTIZATIONS.items():
        if form not in forms:
            continue
        path = os.path.join(work_dir, f"{name}_{form}.tflite")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the XNNPACK fallback warning
                export.convert_to_tflite(
                    saved_model, quantization=quantization,
                    representative_data=(x_train if quantization == "int8"
                                         else None),
                    output_path=path)
            runner = export.TFLiteRunner(path, num_threads=threads)
            runner(x_train[:1])  # settles the delegate (XNNPACK or builtin)
        except Exception as error:  # reported in the table, not fatal
            built[form] = f"{type(error).__name__}: {error}"[:300]
            continue
        built[form] = (lambda x, r=runner: r(x)["reconstruction"], path,
                       runner.delegate)
    return {form: built[form] for form in forms}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.deployment",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser, epochs=3)
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed calls per latency figure; the median is "
                        "reported (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed calls before timing (default: "
                        "%(default)s)")
    parser.add_argument("--threads", type=int, default=None,
                        help="LiteRT interpreter threads (default: the "
                        "interpreter's own default)")
    args = common.parse_checked(
        parser, argv, positive=("epochs", "latent_dim", "repeats", "threads"),
        non_negative=("seed", "warmup"))
    args.paths = common.result_paths(parser, args, "deployment")
    return args


def in_batches(fn, x, batch_size=256):
    return np.concatenate([np.asarray(fn(x[i:i + batch_size]))
                           for i in range(0, len(x), batch_size)])


def directory_size(path):
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)


def benchmark_model(family, variational, args, data, work_dir):
    """Trains one model and measures every deployed form; returns the rows."""
    (x_train, _), (x_val, _) = data
    kind = "vae" if variational else "ae"
    keras.utils.set_random_seed(args.seed)
    model = build_autoencoder(family, x_train.shape[1:], args.latent_dim,
                              variational=variational,
                              reconstruction_loss="bce",
                              seed=args.seed if variational else None)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    start = time.perf_counter()
    history = model.fit(x_train, validation_data=(x_val,),
                        epochs=args.epochs, batch_size=128, verbose=0)
    train_seconds = time.perf_counter() - start

    forms = deployed_forms(model, x_train, work_dir, f"{family}_{kind}",
                           threads=args.threads)
    reference = in_batches(forms["keras"][0], x_val)
    rows = []
    for form, built in forms.items():
        row = {"family": family, "kind": kind, "form": form,
               "train_seconds": round(train_seconds, 1),
               "final_val_loss": float(history.history["val_loss"][-1])}
        if isinstance(built, str):
            rows.append({**row, "error": built})
            print(f"{family:>12} {kind:>3} {form:>15}: failed: {built}")
            continue
        fn, path, delegate = built
        outputs = in_batches(fn, x_val)
        row.update({
            "size_bytes": (directory_size(path) if os.path.isdir(path)
                           else os.path.getsize(path)),
            "val_mse": float(np.mean((outputs - x_val) ** 2)),
            "max_abs_vs_keras": float(np.max(np.abs(outputs - reference))),
            "delegate": delegate,
            "ops": export.tflite_ops(path) if path.endswith(".tflite")
            else None,
        })
        for batch_size in BATCH_SIZES:
            x = x_val[:batch_size]
            seconds, _ = common.median_seconds(lambda: fn(x), args.warmup,
                                               args.repeats)
            row[f"latency_ms_batch_{batch_size}"] = 1000.0 * seconds
        rows.append(row)
        print(f"{family:>12} {kind:>3} {form:>15}: "
              f"{row['size_bytes']:>10,} B  "
              f"{row['latency_ms_batch_1']:8.3f} ms @1  "
              f"{row['latency_ms_batch_256']:9.2f} ms @256  "
              f"MSE {row['val_mse']:.5f}", flush=True)
    return rows


def to_markdown(report):
    config = report["config"]
    lines = ["# Deployment benchmark", "", *common.header_lines(report),
             f"Models: input (28, 28, 1), latent_dim {config['latent_dim']}, "
             f"the families' default options, trained {config['epochs']} "
             "epoch(s) on the 4,000 embedded training digits (BCE loss). MSE "
             "is against the 1,000 clean validation digits. Latency: median "
             f"of {config['repeats']} calls after {config['warmup']} warm-up "
             "calls; Keras runs `predict_on_batch`, the SavedModel its "
             "`serving_default` signature, LiteRT the `ai_edge_litert` "
             "interpreter (delegate in the last column).",
             "",
             "| family | kind | form | size (bytes) | latency @1 (ms) | "
             "latency @256 (ms) | val MSE | max abs vs Keras | delegate |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in report["results"]:
        if "error" in row:
            lines.append(f"| {row['family']} | {row['kind']} | {row['form']} "
                         f"| failed: {row['error'][:120]} | | | | | |")
            continue
        lines.append(
            f"| {row['family']} | {row['kind']} | {row['form']} | "
            f"{row['size_bytes']:,} | {row['latency_ms_batch_1']:.3f} | "
            f"{row['latency_ms_batch_256']:.2f} | {row['val_mse']:.5f} | "
            f"{row['max_abs_vs_keras']:.2e} | {row['delegate'] or '-'} |")
    return "\n".join(lines + [""])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    start, load_before = time.perf_counter(), common.load_average()
    data = load_digits(seed=args.seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="keras_ae-bench-") as work_dir:
        for family in args.families:
            for variational in (False, True):
                results += benchmark_model(family, variational, args, data,
                                           work_dir)
    report = {
        "command": common.public_command("benchmarks.deployment", argv),
        "date": common.now(),
        "machine": common.machine_description(),
        "load_average_before": load_before,
        "load_average_after": common.load_average(),
        "wall_seconds": time.perf_counter() - start,
        "config": {"epochs": args.epochs, "latent_dim": args.latent_dim,
                   "repeats": args.repeats, "warmup": args.warmup,
                   "threads": args.threads, "seed": args.seed,
                   "batch_sizes": list(BATCH_SIZES),
                   "families": list(args.families)},
        "results": results,
    }
    common.write_results(args.paths, report, to_markdown(report),
                         args.overwrite)
    print(f"Results written to {args.paths['json']} and {args.paths['md']}")


if __name__ == "__main__":
    main()
