"""Benchmark of the families: size, training speed and quality on the digits.

Run it from the repository root:

    python -m benchmarks.families --overwrite   # 5 epochs per model
    python -m benchmarks.families --epochs 1 --output-dir /tmp/families
                                 # a quick end-to-end check; its figures
                                 # are not to be quoted

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

Results go to `<output-dir>/families.json` and `families.md` (default
`benchmarks/results/`), with the machine's description, its load average
before and after, and the command; existing results are replaced only with
`--overwrite`. Throughput depends on the machine's load: run it on a quiet
machine.
"""

import argparse
import sys
import time

import keras
import numpy as np
import tensorflow as tf

import keras_ae
from benchmarks import common
from keras_ae.data import load_digits


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.families",
        description="Train every family as an AE and a VAE on the embedded "
        "digits and report size, throughput and validation quality.")
    common.add_common_arguments(parser, epochs=5)
    parser.add_argument("--elbo-evaluations", type=int, default=5,
                        help="evaluations averaged for a VAE's negative ELBO "
                        "(default: %(default)s)")
    args = common.parse_checked(
        parser, argv, positive=("epochs", "latent_dim", "elbo_evaluations"))
    args.paths = common.result_paths(parser, args, "families")
    return args


def benchmark_model(family, variational, args, data):
    (x_train, _), (x_val, _) = data
    keras.utils.set_random_seed(args.seed)
    model = keras_ae.build_autoencoder(
        family, x_train.shape[1:], args.latent_dim, variational=variational,
        reconstruction_loss="bce", seed=args.seed if variational else None,
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
    timer = common.EpochTimer()
    start = time.perf_counter()
    history = model.fit(x_train, validation_data=(x_val,), epochs=args.epochs,
                        batch_size=128, shuffle=True, verbose=0,
                        callbacks=[timer])
    wall_seconds = time.perf_counter() - start
    timing = timer.summary(len(x_train), warmup_epochs=1)

    reconstructions = model.reconstruct(x_val)
    mse = float(np.mean(np.square(reconstructions - x_val)))
    psnr = float(np.mean(tf.image.psnr(x_val, reconstructions, max_val=1.0)))

    result = {
        "family": family,
        "model": "VAE" if variational else "AE",
        "parameters": int(model.count_params()),
        "samples_per_s": timing["examples_per_second"],
        "warmup_included": timing["warmup_included"],
        "epoch_seconds": timer.train_seconds,
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


def to_markdown(report):
    lines = [
        "# Families on the embedded digits",
        "",
        *common.header_lines(report),
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
    fmt = common.fmt
    for r in report["results"]:
        elbo = "-"
        if "val_neg_elbo_nats" in r:
            elbo = (f"{fmt(r['val_neg_elbo_nats'], 1)} ± "
                    f"{fmt(r['val_neg_elbo_std_nats'], 1)}")
        lines.append(
            f"| {r['family']} | {r['model']} | {r['parameters']:,} "
            f"| {fmt(r['samples_per_s'], 0)} | {fmt(r['val_mse'], 4)} "
            f"| {fmt(r['val_psnr_db'], 2)} | {fmt(r['val_bce_nats'], 1)} "
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
    start, load_before = time.perf_counter(), common.load_average()
    data = load_digits()
    results = []
    for family in args.families:
        for variational in (False, True):
            result = benchmark_model(family, variational, args, data)
            results.append(result)
            print(f"{family:>12} {result['model']:>3}: "
                  f"{result['parameters']:>8,} parameters, "
                  f"{result['samples_per_s']:>7.0f} samples/s, val BCE "
                  f"{result['val_bce_nats']:.1f}, PSNR "
                  f"{result['val_psnr_db']:.2f} dB", flush=True)

    report = {
        "date": common.now(),
        "command": common.public_command("benchmarks.families", argv),
        "machine": common.machine_description(),
        "load_average_before": load_before,
        "load_average_after": common.load_average(),
        "wall_seconds": time.perf_counter() - start,
        "epochs": args.epochs,
        "latent_dim": args.latent_dim,
        "elbo_evaluations": args.elbo_evaluations,
        "seed": args.seed,
        "train_examples": int(len(data[0][0])),
        "val_examples": int(len(data[1][0])),
        "results": results,
    }
    common.write_results(args.paths, report, to_markdown(report),
                         args.overwrite)
    print(f"Results written to {args.paths['json']} and {args.paths['md']}")


if __name__ == "__main__":
    main()
