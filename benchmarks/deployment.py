"""Deployment benchmark: size, latency and accuracy of every deployed form.

For every registered family, as an AE and as a VAE, the script trains a model
briefly on the embedded MNIST digits (`keras_ae.data.load_digits()`), then
measures each form a deployment can take:

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
the `delegate` column says which).

Results go to `<output-dir>/deployment.json` and `deployment.md`, with the
machine's description and the command. Latencies depend on the machine and
its load: run it on a quiet machine.

Usage:

    python -m benchmarks.deployment                    # 3 epochs, all families
    python -m benchmarks.deployment --epochs 1 --repeats 3 --families dense
"""

import argparse
import datetime
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
import warnings
from benchmarks.machine import machine_description

FORMS = ("keras", "saved_model", "litert_float", "litert_dynamic",
         "litert_float16", "litert_int8")
QUANTIZATION = {"litert_float": None, "litert_dynamic": "dynamic",
                "litert_float16": "float16", "litert_int8": "int8"}
BATCH_SIZES = (1, 256)


def parse_args(argv=None):
    from keras_ae.registry import list_autoencoders

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3,
                        help="training epochs per model (default: %(default)s)")
    parser.add_argument("--families", nargs="+", default=list_autoencoders(),
                        choices=list_autoencoders(),
                        help="families to benchmark (default: all)")
    parser.add_argument("--latent-dim", type=int, default=16,
                        help="size of the code (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed calls per latency figure; the median is "
                        "reported (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed calls before timing (default: "
                        "%(default)s)")
    parser.add_argument("--threads", type=int, default=None,
                        help="LiteRT interpreter threads (default: the "
                        "interpreter's own default)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights and shuffles (default: "
                        "%(default)s)")
    parser.add_argument("--output-dir", default=os.path.join("benchmarks",
                                                             "results"),
                        help="where deployment.json and deployment.md go "
                        "(default: %(default)s)")
    args = parser.parse_args(argv)
    for name in ("epochs", "latent_dim", "repeats"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0. "
                         f"Received: {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0. Received: {args.warmup}")
    return args


def median_latency(fn, x, repeats, warmup):
    """Median wall time of `fn(x)` in milliseconds."""
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def in_batches(fn, x, batch_size=256):
    import numpy as np

    return np.concatenate([np.asarray(fn(x[i:i + batch_size]))
                           for i in range(0, len(x), batch_size)])


def directory_size(path):
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)


def benchmark_model(family, variational, args, data, work_dir):
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_ae import export
    from keras_ae.registry import build_autoencoder

    (x_train, _), (x_val, _) = data
    kind = "vae" if variational else "ae"
    keras.utils.set_random_seed(args.seed)
    model = build_autoencoder(family, x_train.shape[1:], args.latent_dim,
                              variational=variational,
                              reconstruction_loss="bce", seed=args.seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    start = time.perf_counter()
    history = model.fit(x_train, validation_data=(x_val,),
                        epochs=args.epochs, batch_size=128, verbose=0)
    train_seconds = time.perf_counter() - start

    keras_path = os.path.join(work_dir, f"{family}_{kind}.keras")
    model.save(keras_path)
    saved_model = export.export_saved_model(model, work_dir, f"{family}_{kind}")
    loaded = tf.saved_model.load(saved_model)
    serve = loaded.signatures["serving_default"]

    runners = {
        "keras": (lambda x: model.predict_on_batch(x), keras_path, None),
        "saved_model": (
            lambda x: serve(inputs=tf.constant(x))["reconstruction"].numpy(),
            saved_model, None),
    }
    for form, quantization in QUANTIZATION.items():
        path = os.path.join(work_dir, f"{family}_{kind}_{form}.tflite")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the XNNPACK fallback warning
            export.convert_to_tflite(
                saved_model, quantization=quantization,
                representative_data=x_train if quantization == "int8" else None,
                output_path=path)
        runner = export.TFLiteRunner(path, num_threads=args.threads)
        runner(x_val[:1])  # settles the delegate (XNNPACK or builtin kernels)
        runners[form] = (lambda x, r=runner: r(x)["reconstruction"], path,
                         runner)

    reference = in_batches(runners["keras"][0], x_val)
    rows = []
    for form in FORMS:
        fn, path, runner = runners[form]
        outputs = in_batches(fn, x_val)
        row = {
            "family": family,
            "kind": kind,
            "form": form,
            "size_bytes": (directory_size(path) if os.path.isdir(path)
                           else os.path.getsize(path)),
            "val_mse": float(np.mean((outputs - x_val) ** 2)),
            "max_abs_vs_keras": float(np.max(np.abs(outputs - reference))),
            "delegate": runner.delegate if runner else None,
            "ops": export.tflite_ops(path) if runner else None,
            "train_seconds": round(train_seconds, 1),
            "final_val_loss": float(history.history["val_loss"][-1]),
        }
        for batch_size in BATCH_SIZES:
            x = x_val[:batch_size]
            row[f"latency_ms_batch_{batch_size}"] = median_latency(
                fn, x, args.repeats, args.warmup)
        rows.append(row)
        print(f"{family:>12} {kind:>3} {form:>15}: "
              f"{row['size_bytes']:>10,} B  "
              f"{row['latency_ms_batch_1']:8.3f} ms @1  "
              f"{row['latency_ms_batch_256']:9.2f} ms @256  "
              f"MSE {row['val_mse']:.5f}", flush=True)
    return rows


def to_markdown(report):
    machine = report["machine"]
    lines = [
        "# Deployment benchmark",
        "",
        f"Command: `{report['command']}`  ",
        f"Date: {report['date']}  ",
        f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, "
        f"{machine['memory']} RAM, {machine['gpus']} GPU(s); "
        f"{machine['platform']}  ",
        f"Software: Python {machine['python']}, TensorFlow "
        f"{machine['tensorflow']}, Keras {machine['keras']}, ai-edge-litert "
        f"{machine['ai_edge_litert']}",
        "",
        f"Models: input (28, 28, 1), latent_dim {report['config']['latent_dim']}"
        f", the families' default options, trained {report['config']['epochs']}"
        " epoch(s) on the 4,000 embedded training digits (BCE loss). MSE is "
        "against the 1,000 clean validation digits. Latency: median of "
        f"{report['config']['repeats']} calls after {report['config']['warmup']}"
        " warm-up calls; Keras runs `predict_on_batch`, the SavedModel its "
        "`serving_default` signature, LiteRT the `ai_edge_litert` "
        "interpreter (delegate in the last column).",
        "",
        "| family | kind | form | size (bytes) | latency @1 (ms) | "
        "latency @256 (ms) | val MSE | max abs vs Keras | delegate |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in report["results"]:
        lines.append(
            f"| {row['family']} | {row['kind']} | {row['form']} | "
            f"{row['size_bytes']:,} | {row['latency_ms_batch_1']:.3f} | "
            f"{row['latency_ms_batch_256']:.2f} | {row['val_mse']:.5f} | "
            f"{row['max_abs_vs_keras']:.2e} | {row['delegate'] or '-'} |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    from keras_ae.data import load_digits

    data = load_digits(seed=args.seed)
    command = " ".join(["python", "-m", "benchmarks.deployment",
                        *(shlex.quote(a) for a in
                          (sys.argv[1:] if argv is None else argv))])
    results = []
    with tempfile.TemporaryDirectory(prefix="keras_ae-bench-") as work_dir:
        for family in args.families:
            for variational in (False, True):
                results += benchmark_model(family, variational, args, data,
                                           work_dir)
    report = {
        "command": command,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_description(),
        "config": {"epochs": args.epochs, "latent_dim": args.latent_dim,
                   "repeats": args.repeats, "warmup": args.warmup,
                   "threads": args.threads, "seed": args.seed,
                   "batch_sizes": list(BATCH_SIZES),
                   "families": list(args.families)},
        "results": results,
    }
    os.makedirs(args.output_dir, exist_ok=True)
    json_path = os.path.join(args.output_dir, "deployment.json")
    md_path = os.path.join(args.output_dir, "deployment.md")
    with open(json_path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(md_path, "w") as f:
        f.write(to_markdown(report))
    print(f"Results written to {json_path} and {md_path}")


if __name__ == "__main__":
    main()
