"""Benchmark of the families: size, training speed and quality on the digits.

Run it from the repository root:

    python -m benchmarks.families               # 5 epochs per model
    python -m benchmarks.families --epochs 1    # a quick end-to-end check;
                                                # its figures are not to be
                                                # quoted

For every registered family (`keras_ae.list_autoencoders()`), as an AE and
as a VAE, it builds the model with the family's default options
(`latent_dim` 16 unless `--latent-dim`), trains it on the 4,000 embedded
training digits (`keras_ae.data.load_digits`) for `--epochs` epochs (batch
128, Adam with learning rate 1e-3, BCE reconstruction loss) and measures on
the 1,000 validation digits:

- `parameters`: the number of weights of the model.
- `samples_per_s`: training throughput, the training examples of the epochs
  after the first divided by their training time (a callback times each
  epoch up to the start of its validation pass). The first epoch, which
  traces the graphs, is left out; with `--epochs 1` it is all there is and
  the figure is flagged `warm-up included`.
- `val_mse`: the mean squared error per pixel of the deterministic
  reconstructions (`model.reconstruct`; a VAE decodes `z_mean`).
- `val_psnr_db`: `tf.image.psnr(x, reconstruction, max_val=1.0)` averaged
  over the images.
- `val_bce_nats`: the reconstruction BCE per image summed over pixels
  (nats), from `model.evaluate`. For a VAE it is computed at a sampled code.
- `val_neg_elbo_nats` (VAE only): the negative ELBO per image (nats),
  `BCE + KL` of `model.evaluate`, each evaluation a one-sample estimate,
  averaged over `--elbo-evaluations` evaluations (its standard deviation
  over them is reported too).

Results go to `<output>.json` and `<output>.md` (default
`benchmarks/results/families`), with the machine's description, its load
average before and after, and the command. Throughput depends on the
machine's load: run it on a quiet machine.
"""

import argparse
import datetime
import json
import os
import shlex
import sys
import time
from benchmarks.machine import load_average
from benchmarks.machine import machine_description

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, "results", "families")

def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train every family as an AE and a VAE on the embedded "
        "digits and report size, throughput and validation quality.")
    parser.add_argument("--epochs", type=int, default=5,
                        help="training epochs per model (default: 5)")
    parser.add_argument("--latent-dim", type=int, default=16,
                        help="size of the code (default: 16)")
    parser.add_argument("--families", nargs="+", default=None,
                        help="families to run (default: all registered)")
    parser.add_argument("--elbo-evaluations", type=int, default=5,
                        help="evaluations averaged for a VAE's negative ELBO "
                        "(default: 5)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of weights, shuffling and sampling")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help="output path without extension; .json and .md "
                        "are written (default: benchmarks/results/families)")
    args = parser.parse_args(argv)
    for name in ("epochs", "latent_dim", "elbo_evaluations"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


# === Machine ===


def public_command(argv):
    """The command line, with an absolute output path replaced by a placeholder."""
    words, hide = ["python", "-m", "benchmarks.families"], False
    for arg in argv:
        if hide:
            words.append("<output>" if os.path.isabs(arg) else shlex.quote(arg))
            hide = False
        elif arg == "--output":
            words.append(arg)
            hide = True
        elif arg.startswith("--output=") and os.path.isabs(arg.split("=", 1)[1]):
            words.append("--output=<output>")
        else:
            words.append(shlex.quote(arg))
    return " ".join(words)


# === Measurements ===


def make_epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Times the training part of each epoch (validation left out)."""

        def __init__(self):
            super().__init__()
            self.seconds = []
            self._start = None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_test_begin(self, logs=None):
            # `fit` validates at the end of each epoch: stop the clock there.
            self._stop()

        def on_epoch_end(self, epoch, logs=None):
            self._stop()  # without validation data

        def _stop(self):
            if self._start is not None:
                self.seconds.append(time.perf_counter() - self._start)
                self._start = None

    return EpochTimer()


def benchmark_model(family, variational, args, data):
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_ae

    (x_train, _), (x_val, _) = data
    keras.utils.set_random_seed(args.seed)
    model = keras_ae.build_autoencoder(
        family, x_train.shape[1:], args.latent_dim, variational=variational,
        reconstruction_loss="bce", seed=args.seed if variational else None,
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
    timer = make_epoch_timer()
    start = time.perf_counter()
    history = model.fit(x_train, validation_data=(x_val,), epochs=args.epochs,
                        batch_size=128, shuffle=True, verbose=0,
                        callbacks=[timer])
    wall_seconds = time.perf_counter() - start

    steady = timer.seconds[1:] or timer.seconds
    samples_per_s = len(x_train) * len(steady) / sum(steady)

    reconstructions = model.reconstruct(x_val)
    mse = float(np.mean(np.square(reconstructions - x_val)))
    psnr = float(np.mean(tf.image.psnr(x_val, reconstructions, max_val=1.0)))

    result = {
        "family": family,
        "model": "VAE" if variational else "AE",
        "parameters": int(model.count_params()),
        "samples_per_s": samples_per_s,
        "warmup_included": len(timer.seconds) < 2,
        "epoch_seconds": timer.seconds,
        "fit_wall_seconds": wall_seconds,
        "val_loss_history": [float(v) for v in history.history["val_loss"]],
        "val_mse": mse,
        "val_psnr_db": psnr,
    }
    if variational:
        evaluations = [
            model.evaluate(x_val, batch_size=256, verbose=0, return_dict=True)
            for _ in range(args.elbo_evaluations)
        ]
        losses = np.array([e["loss"] for e in evaluations])
        result.update({
            "val_bce_nats": float(np.mean(
                [e["reconstruction_loss"] for e in evaluations])),
            "val_kl_nats": float(np.mean([e["kl_loss"] for e in evaluations])),
            "val_neg_elbo_nats": float(losses.mean()),
            "val_neg_elbo_std_nats": float(losses.std()),
        })
    else:
        evaluation = model.evaluate(x_val, batch_size=256, verbose=0,
                                    return_dict=True)
        result["val_bce_nats"] = float(evaluation["loss"])
    return result


# === Report ===


def fmt(value, digits=1):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def to_markdown(report):
    machine = report["machine"]
    lines = [
        "# Families on the embedded digits",
        "",
        f"Date: {report['date']}. Command: `{report['command']}`.",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, "
        f"{machine['gpus']} GPU; {machine['platform']}; Python "
        f"{machine['python']}, TensorFlow {machine['tensorflow']}, Keras "
        f"{machine['keras']}. Load average (1, 5, 15 min) before: "
        f"{report['load_average_before']}, after: "
        f"{report['load_average_after']}.",
        "",
        f"Training: {report['train_examples']} digits, {report['epochs']} "
        f"epoch(s), batch 128, Adam 1e-3, BCE loss, latent_dim "
        f"{report['latent_dim']}, default options of each family. "
        f"Validation: {report['val_examples']} digits.",
        "",
    ]
    if any(r["warmup_included"] for r in report["results"]):
        lines += [
            "**Provisional:** with a single epoch the throughput includes "
            "graph tracing (warm-up included); do not quote these figures.",
            "",
        ]
    lines += [
        "| family | model | parameters | train samples/s | val MSE/pixel "
        "| val PSNR (dB) | val BCE (nats) | val -ELBO (nats) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        elbo = "-"
        if "val_neg_elbo_nats" in r:
            elbo = (f"{fmt(r['val_neg_elbo_nats'])} ± "
                    f"{fmt(r['val_neg_elbo_std_nats'])}")
        lines.append(
            f"| {r['family']} | {r['model']} | {r['parameters']:,} "
            f"| {fmt(r['samples_per_s'], 0)} | {fmt(r['val_mse'], 4)} "
            f"| {fmt(r['val_psnr_db'], 2)} | {fmt(r['val_bce_nats'])} "
            f"| {elbo} |"
        )
    lines += [
        "",
        "Throughput: training examples per second over the epochs after the "
        "first (validation excluded). MSE and PSNR: deterministic "
        "reconstructions (a VAE decodes `z_mean`); PSNR is "
        "`tf.image.psnr(max_val=1)` averaged over images. BCE: per image, "
        "summed over pixels; for a VAE at a sampled code. -ELBO: BCE + KL per "
        f"image, mean ± std over {report['elbo_evaluations']} one-sample "
        "evaluations.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras_ae
    from keras_ae.data import load_digits

    families = args.families or keras_ae.list_autoencoders()
    unknown = sorted(set(families) - set(keras_ae.list_autoencoders()))
    if unknown:
        raise SystemExit(
            f"Unknown family: {', '.join(unknown)}; registered: "
            f"{', '.join(keras_ae.list_autoencoders())}")

    load_before = load_average()
    data = load_digits()
    results = []
    for family in families:
        for variational in (False, True):
            result = benchmark_model(family, variational, args, data)
            results.append(result)
            print(f"{family:>12} {result['model']:>3}: "
                  f"{result['parameters']:>8,} parameters, "
                  f"{result['samples_per_s']:>7.0f} samples/s, val BCE "
                  f"{result['val_bce_nats']:.1f}, PSNR "
                  f"{result['val_psnr_db']:.2f} dB", flush=True)

    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": public_command(argv),
        "machine": machine_description(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "epochs": args.epochs,
        "latent_dim": args.latent_dim,
        "elbo_evaluations": args.elbo_evaluations,
        "seed": args.seed,
        "train_examples": int(len(data[0][0])),
        "val_examples": int(len(data[1][0])),
        "results": results,
    }
    directory = os.path.dirname(args.output)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(args.output + ".json", "w") as f:
        json.dump(report, f, indent=2)
    with open(args.output + ".md", "w") as f:
        f.write(to_markdown(report))
    print(f"Wrote {args.output}.json and {args.output}.md")


if __name__ == "__main__":
    main()
