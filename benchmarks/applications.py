"""Applications benchmark: what each family's autoencoder is good for, measured.

For every chosen family the script trains, on the 4,000 embedded training
digits (`keras_ae.data.load_digits()`, BCE loss, sigmoid output), with Adam:

    ae         a plain autoencoder on clean digits
    denoiser   an autoencoder on digits + Gaussian noise (noise_factor 0.5)
    inpainter  an autoencoder on digits with one 10x10 square set to 0
    vae        a variational autoencoder (beta 1)
    normal     a copy of `ae`'s architecture on the digits of one class only

and evaluates them with `keras_ae.evaluation` on each held-out set: the 1,000
embedded validation digits, and, when `--mnist-dir` (default: the
`KERAS_AE_MNIST_DIR` environment variable) holds the official MNIST test set
(`t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`, none of which
is among the embedded digits), the 10,000 MNIST test digits:

    denoising   PSNR/SSIM of noisy and of restored digits vs the clean ones
    occlusion   PSNR/SSIM of occluded, restored and inpainted digits
                (inpainted: observed pixels kept, the model fills the rest)
    PCA         reconstruction MSE per pixel of `ae`, of PCA with latent_dim
                components (fitted on the training digits) and of the mean
                training digit
    probe       accuracy of logistic regression on `ae`'s frozen codes, of the
                fine-tuned encoder, of logistic regression on pixels and on
                PCA features, with 10 and 100 labels per class and all labels
    likelihood  negative ELBO and importance-weighted NLL (k = --iw-samples,
                default 1,000 as in Burda et al. 2016) of `vae`, in nats, on
                the first --likelihood-examples held-out digits (Bernoulli
                likelihood on grey levels: comparable between models only)
    anomaly     ROC AUC (and precision/recall at the 99% training quantile)
                of `normal`'s reconstruction error, digit --normal-class
                normal and every other digit an anomaly, and of PCA's

and, for every family that takes sequences (`lstm`, `transformer`, `dense`),
the time-series task of `keras_ae.evaluation.timeseries`: windows of 24 steps of
sktime's labelled Yahoo series, `output_activation="linear"`, MSE loss,
trained on the normal first 40%; ROC AUC of the window scores, PCA baseline.

Results go to `<output-dir>/applications.json` and `applications.md`, with
the machine's description and the command; one figure per application and
family goes to `<output-dir>/applications_figures/`. Existing results are
never overwritten (pass --overwrite to replace them).

Usage:

    python -m benchmarks.applications --overwrite             # full run
    python -m benchmarks.applications --mnist-dir DIR --overwrite  # + MNIST
    python -m benchmarks.applications --tiny --families dense --output-dir tiny_results
"""

import argparse
import os
import shutil
import sys
import time

import keras
import matplotlib.pyplot as plt

import keras_ae
from benchmarks import common
from keras_ae import evaluation
from keras_ae.corruptions import GaussianNoise
from keras_ae.corruptions import Occlusion
from keras_ae.data import load_digits
from keras_ae.data import load_idx
from keras_ae.data import make_dataset
from keras_ae.evaluation.timeseries import evaluate_timeseries_anomaly
from keras_ae.evaluation.timeseries import make_yahoo_task

FIGURES_DIR = "applications_figures"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.applications",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser, epochs=15)
    parser.add_argument("--batch-size", type=int, default=128,
                        help="training batch size (default: %(default)s)")
    parser.add_argument("--fine-tune-steps", type=int, default=300,
                        help="steps of the fine-tuned classifier "
                        "(default: %(default)s)")
    parser.add_argument("--iw-samples", type=int, default=1000,
                        help="importance samples k of the IW-NLL "
                        "(default: %(default)s)")
    parser.add_argument("--likelihood-examples", type=int, default=1000,
                        help="held-out digits of the likelihood figures "
                        "(default: %(default)s)")
    parser.add_argument("--normal-class", type=int, default=1,
                        help="the normal digit of anomaly detection "
                        "(default: %(default)s)")
    parser.add_argument("--timeseries-epochs", type=int, default=30,
                        help="training epochs of the time-series models "
                        "(default: %(default)s)")
    parser.add_argument("--mnist-dir", default=os.environ.get(
                            "KERAS_AE_MNIST_DIR"),
                        help="directory of the official MNIST test set IDX "
                        "files, an extra held-out set (default: "
                        "$KERAS_AE_MNIST_DIR, else none)")
    parser.add_argument("--tiny", action="store_true",
                        help="a smoke run: 1 epoch, 20 fine-tuning steps, "
                        "k=5, 100 likelihood examples, 2 time-series epochs, "
                        "10 labels per class only; figures are meaningless")
    args = common.parse_checked(
        parser, argv, positive=("epochs", "latent_dim", "batch_size",
                                "iw_samples", "likelihood_examples",
                                "timeseries_epochs"),
        non_negative=("seed", "fine_tune_steps"))
    if args.tiny:
        args.epochs, args.fine_tune_steps, args.iw_samples = 1, 20, 5
        args.likelihood_examples, args.timeseries_epochs = 100, 2
    if args.mnist_dir and not common.find_mnist_files(args.mnist_dir):
        parser.error(f"--mnist-dir holds no {common.MNIST_FILES[0]}[.gz] and "
                     f"{common.MNIST_FILES[1]}[.gz]. Received: {args.mnist_dir}")
    args.paths = common.result_paths(parser, args, "applications",
                                     extra=(FIGURES_DIR,))
    return args


def train(family, x, args, variational=False, corruption=None, options=None,
          loss="bce"):
    keras.utils.set_random_seed(args.seed)
    model = keras_ae.build_autoencoder(
        family, x.shape[1:], args.latent_dim, variational=variational,
        reconstruction_loss=loss, seed=args.seed if variational else None,
        **(options or {}))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    start = time.perf_counter()
    model.fit(make_dataset(x, batch_size=args.batch_size, seed=args.seed,
                           corruption=corruption),
              epochs=args.epochs, verbose=0, shuffle=False)
    return model, time.perf_counter() - start


def benchmark_family(family, args, train_set, held_out, figures):
    """Trains the family's models and evaluates them on every held-out set."""
    x_train, y_train = train_set
    labels_per_class = (10,) if args.tiny else (10, 100, None)
    models, seconds = {}, {}
    models["ae"], seconds["ae"] = train(family, x_train, args)
    models["denoiser"], seconds["denoiser"] = train(
        family, x_train, args, corruption=GaussianNoise(0.5, seed=args.seed))
    models["inpainter"], seconds["inpainter"] = train(
        family, x_train, args, corruption=Occlusion(10, seed=args.seed))
    models["vae"], seconds["vae"] = train(family, x_train, args,
                                          variational=True)
    print(f"[{family}] trained in "
          + ", ".join(f"{k} {v:.0f}s" for k, v in seconds.items()), flush=True)

    results = {"train_seconds": seconds}
    for name, (x_test, y_test) in held_out.items():
        def figure(application):
            return os.path.join(figures, f"{family}_{name}_{application}.png")

        r = {}
        r["denoising"] = evaluation.evaluate_restoration(
            models["denoiser"], x_test, GaussianNoise(0.5), args.seed,
            figure("denoising"))
        r["occlusion"] = evaluation.evaluate_restoration(
            models["inpainter"], x_test, Occlusion(10), args.seed,
            figure("occlusion"))
        r["pca"] = evaluation.compare_with_pca(models["ae"], x_train, x_test,
                                               figure("pca"))
        r["classification"] = evaluation.evaluate_classification(
            models["ae"], x_train, y_train, x_test, y_test, labels_per_class,
            seed=args.seed, fine_tune_steps=args.fine_tune_steps)
        subset = x_test[:args.likelihood_examples]
        r["likelihood"] = {
            **evaluation.negative_elbo(models["vae"], subset, num_samples=1,
                                       seed=args.seed),
            **evaluation.importance_weighted_nll(models["vae"], subset,
                                                 k=args.iw_samples,
                                                 seed=args.seed),
            "num_examples": float(len(subset)),
        }
        evaluation.plot_samples(models["vae"], figure("samples"), seed=args.seed)
        r["anomaly"] = evaluation.evaluate_digit_anomaly(
            models["ae"], x_train, y_train, x_test, y_test,
            normal_class=args.normal_class, epochs=args.epochs,
            seed=args.seed, path=figure("anomaly"))
        results[name] = r
        c = r["classification"]
        print(f"[{family}/{name}] PSNR noise {r['denoising']['corrupted_psnr']:.1f}"
              f"->{r['denoising']['restored_psnr']:.1f}, occlusion "
              f"{r['occlusion']['corrupted_psnr']:.1f}->"
              f"{r['occlusion']['inpainted_psnr']:.1f} (inpainted); MSE AE "
              f"{r['pca']['ae_mse']:.4f} PCA {r['pca']['pca_mse']:.4f}; probe@10 "
              f"{c['probe_accuracy_10']:.3f}; IW-NLL "
              f"{r['likelihood']['iw_nll']:.1f}; anomaly AUC "
              f"{r['anomaly']['roc_auc']:.3f}", flush=True)
        plt.close("all")
    return results


def benchmark_timeseries(family, args, figures):
    task = make_yahoo_task()
    try:
        return evaluate_timeseries_anomaly(
            family, task, latent_dim=4, epochs=args.timeseries_epochs,
            seed=args.seed,
            path=os.path.join(figures, f"{family}_yahoo_anomaly.png"))
    except ValueError as error:  # a family that does not take sequences
        if "input_shape" not in str(error):
            raise
        return None


fmt = common.fmt


def to_markdown(report):
    config = report["config"]
    lines = [
        "# Applications benchmark",
        "",
        *common.header_lines(report),
        f"Every model: the family's default options, latent_dim "
        f"{config['latent_dim']}, BCE loss, Adam 1e-3, {config['epochs']} "
        f"epoch(s) at batch {config['batch_size']} on the 4,000 embedded "
        "training digits. PSNR in dB, SSIM with tf.image (max_val 1), MSE per "
        "pixel, accuracies on the held-out set, likelihoods in nats per digit "
        f"on its first {config['likelihood_examples']} digits (IW-NLL with "
        f"k={config['iw_samples']}), anomaly: digit {config['normal_class']} "
        "normal, threshold the 99% quantile of its training scores.",
        "",
    ]
    for held_out in report["held_out_sets"]:
        lines += [f"## Held out: {held_out}", "",
                  "| family | noisy PSNR | denoised PSNR | noisy SSIM | denoised "
                  "SSIM | occluded PSNR | restored PSNR | inpainted PSNR | "
                  "occluded SSIM | inpainted SSIM |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                  "| ---: |"]
        for family, result in report["results"].items():
            d, o = result[held_out]["denoising"], result[held_out]["occlusion"]
            lines.append(
                f"| {family} | {fmt(d['corrupted_psnr'], 2)} | "
                f"{fmt(d['restored_psnr'], 2)} | {fmt(d['corrupted_ssim'])} | "
                f"{fmt(d['restored_ssim'])} | {fmt(o['corrupted_psnr'], 2)} | "
                f"{fmt(o['restored_psnr'], 2)} | {fmt(o['inpainted_psnr'], 2)} | "
                f"{fmt(o['corrupted_ssim'])} | {fmt(o['inpainted_ssim'])} |")
        lines += ["", "| family | AE MSE | PCA MSE | mean-image MSE | neg. ELBO | "
                  "IW-NLL | anomaly AUC | PCA anomaly AUC | precision | recall |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                  "| ---: |"]
        for family, result in report["results"].items():
            p, l, a = (result[held_out][k] for k in ("pca", "likelihood",
                                                     "anomaly"))
            lines.append(
                f"| {family} | {fmt(p['ae_mse'], 4)} | {fmt(p['pca_mse'], 4)} | "
                f"{fmt(p['mean_image_mse'], 4)} | {fmt(l['negative_elbo'], 1)} | "
                f"{fmt(l['iw_nll'], 1)} | {fmt(a['roc_auc'])} | "
                f"{fmt(a['pca_roc_auc'])} | {fmt(a['precision'])} | "
                f"{fmt(a['recall'])} |")
        budgets = ["10", "100", "all"]
        lines += ["", "Accuracy (probe = logistic regression on frozen codes; "
                  "fine-tuned encoder; logistic regression on pixels and on "
                  "PCA features), labels per class:", "",
                  "| family | " + " | ".join(
                      f"{m} @{b}" for b in budgets
                      for m in ("probe", "fine-tuned", "pixels", "PCA")) + " |",
                  "| --- |" + " ---: |" * 12]
        for family, result in report["results"].items():
            c = result[held_out]["classification"]
            lines.append(f"| {family} | " + " | ".join(
                fmt(c.get(f"{m}_accuracy_{b}")) for b in budgets
                for m in ("probe", "fine_tuned", "pixels", "pca")) + " |")
        lines.append("")
    if report["timeseries"]:
        lines += ["## Time series: sktime's Yahoo series", "",
                  "Windows of 24 steps, stride 1, each centred on its mean and "
                  "scaled by the training standard deviation; trained on the "
                  "normal first 40% (377 windows) for "
                  f"{config['timeseries_epochs']} epochs, latent_dim 4, MSE "
                  "loss, linear output; 577 test windows, a window is "
                  "anomalous if it holds a labelled point.", "",
                  "| family | ROC AUC | PCA ROC AUC | precision | recall | "
                  "false positive rate | train (s) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for family, t in report["timeseries"].items():
            lines.append(f"| {family} | {fmt(t['roc_auc'])} | "
                         f"{fmt(t['pca_roc_auc'])} | {fmt(t['precision'])} | "
                         f"{fmt(t['recall'])} | {fmt(t['false_positive_rate'])} "
                         f"| {fmt(t['train_seconds'], 0)} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    start = time.perf_counter()
    (x_train, y_train), (x_val, y_val) = load_digits(seed=args.seed)
    held_out = {"embedded_validation": (x_val, y_val)}
    if args.mnist_dir:
        held_out["mnist_test"] = load_idx(*common.find_mnist_files(args.mnist_dir))
    figures = os.path.join(args.output_dir, FIGURES_DIR)
    if args.overwrite:
        shutil.rmtree(figures, ignore_errors=True)
    os.makedirs(figures)

    results, timeseries = {}, {}
    for family in args.families:
        results[family] = benchmark_family(family, args, (x_train, y_train),
                                           held_out, figures)
        if family != "conv":
            series = benchmark_timeseries(family, args, figures)
            if series is not None:
                timeseries[family] = series
                print(f"[{family}/yahoo] AUC {series['roc_auc']:.3f} (PCA "
                      f"{series['pca_roc_auc']:.3f})", flush=True)
    report = {
        "command": common.public_command("benchmarks.applications", argv),
        "date": common.now(),
        "machine": common.machine_description(),
        "wall_seconds": time.perf_counter() - start,
        "config": {k: getattr(args, k) for k in (
            "families", "epochs", "latent_dim", "batch_size", "fine_tune_steps",
            "iw_samples", "likelihood_examples", "normal_class",
            "timeseries_epochs", "seed", "tiny")},
        "held_out_sets": list(held_out),
        "results": results,
        "timeseries": timeseries,
    }
    common.write_results(args.paths, report, to_markdown(report),
                         args.overwrite)
    print(f"Wrote applications.json, applications.md and {FIGURES_DIR}/ to "
          f"{args.output_dir}")


if __name__ == "__main__":
    main()
