"""Benchmark of the objectives: the same conv model, the main job's budget, every objective.

Run it from the repository root:

    python -m benchmarks.objectives --mnist-dir DIR --overwrite
    python -m benchmarks.objectives --small --output-dir OUT   # a smoke run;
                                                               # its figures
                                                               # mean nothing

Every run trains the main job's model and recipe
(`keras_ae.recipes.get_recipe("conv_vae_digits")`: the conv family, latent
16, BCE, 30 epochs at batch 128, Adam 3e-3 with the cosine decay and 5
epochs of KL warm-up, `keras_ae.callbacks.training_recipe`) with one
objective and its default options, on the 4,000 embedded training digits.
The held-out digits score the models, so they do not pick the epoch (no
best-epoch restore). Each model is scored on the 1,000 embedded validation
digits and, with `--mnist-dir`, on the official MNIST test set (10,000):

- `own_loss`: the objective's logged loss (`model.evaluate`), e.g. `-L_5`
  for the IWAE, the weighted decomposition for beta-TC-VAE;
- `negative_elbo` (models with a posterior): one code per digit, the KL
  analytic for N(0, I), estimated for a VampPrior;
- `iw_nll`: `keras_ae.evaluation.importance_weighted_nll` with `--iw-k`
  samples (500) on the first `--iw-examples` digits of each set (250: the
  time of 125,000 decoded codes per model and set), the same digits for
  every model, so that the comparisons are paired; the model's own prior;
- `mse`: the reconstruction's squared error per pixel; `agreement`: the
  reference classifier finds the digit's class in its reconstruction
  (`reconstruction_agreement`);
- generation: digit FID and classes covered of `--num-samples` samples
  (1,000) from the model's prior, when it has one, and from a 10-component
  Gaussian mixture fitted to its training codes
  (`keras_ae.samplers.GaussianMixtureSampler`), judged by
  `evaluate_generation` with the shipped digit judge
  (`keras_ae.evaluation.reference_classifier`);
- `samples_per_s` and `fit_seconds`: training throughput (epochs after the
  first) and wall time of `fit`; and `step_ratio`: a train step's time per
  example over the VAE's, measured at the end by timing every model's train
  step in turn, round after round, on the same batch (IWAE: per code of its
  `k`). Times depend on the machine's load: only ratios within one run
  compare.

beta-TC-VAE also gets the sum of its KL decomposition against the analytic
KL on 1,000 held-out digits (mean of 10 draws) and a latent traversal
figure; every model gets rows of prior and mixture samples side by side.
The objectives' targets are verdicts whose value and threshold name the
figures they come from. Results: `<output-dir>/objectives.json`, `.md` and
`objectives_figures/`; an existing result is replaced only with
`--overwrite`.
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np

from benchmarks import common

FIGURES_DIR = "objectives_figures"
# Label -> (objective, options): the models of the comparison.
RUNS = {
    "vae": ("vae", {}),
    "ae": ("ae", {}),
    "iwae": ("iwae", {"num_samples": 5}),
    "beta_tcvae": ("beta_tcvae", {}),
    "info_vae": ("info_vae", {}),
    "rae": ("rae", {}),
    "vampprior": ("vampprior", {}),
}
# Tried for the -ELBO target of 100 nats: a larger VampPrior.
EXTRA_RUNS = {
    "vampprior_500": ("vampprior", {"num_pseudo_inputs": 500}),
    "wae_mmd": ("info_vae", {"beta": 0.0}),
}
ALL_RUNS = {**RUNS, **EXTRA_RUNS}
NEW_OBJECTIVES = ("iwae", "beta_tcvae", "info_vae", "rae", "vampprior")
RECIPE = "conv_vae_digits"
ELBO_TARGET = 100.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.objectives",
        description="Train the main job's conv model with every objective "
        "and compare likelihood, reconstruction, generation and speed.")
    common.add_common_arguments(parser, epochs=30, latent_dim=16,
                                families=False)
    parser.add_argument("--runs", nargs="+", default=list(RUNS),
                        choices=list(ALL_RUNS),
                        help="models to train (default: %(default)s; extra: "
                        f"{', '.join(EXTRA_RUNS)})")
    parser.add_argument("--mnist-dir",
                        default=os.environ.get("KERAS_AE_MNIST_DIR"),
                        help="directory of the official MNIST test set IDX "
                        "files (default: $KERAS_AE_MNIST_DIR, else none)")
    parser.add_argument("--iw-k", type=int, default=500,
                        help="importance samples of the IW-NLL (default: "
                        "%(default)s)")
    parser.add_argument("--iw-examples", type=int, default=250,
                        help="digits of each held-out set scored by the "
                        "IW-NLL (default: %(default)s)")
    parser.add_argument("--num-samples", type=int, default=1000,
                        help="samples judged per generator (default: "
                        "%(default)s)")
    parser.add_argument("--timing-rounds", type=int, default=10,
                        help="rounds of the train-step timing (default: "
                        "%(default)s)")
    parser.add_argument("--small", action="store_true",
                        help=f"a smoke run: {common.SMALL_EPOCHS} epoch on "
                        f"{common.SMALL_TRAIN} digits, {common.SMALL_HELD_OUT} "
                        "held out, k=20 on 50 digits, one timing round of "
                        "one step; the figures mean nothing")
    args = common.parse_checked(
        parser, argv, positive=("epochs", "latent_dim", "iw_k",
                                "iw_examples", "num_samples",
                                "timing_rounds"))
    common.check_mnist_dir(parser, args.mnist_dir)
    if "vae" not in args.runs:
        parser.error("--runs must include vae: every target compares with it")
    args.paths = common.result_paths(parser, args, "objectives",
                                     extra=(FIGURES_DIR,))
    if args.small:
        args.epochs = min(args.epochs, common.SMALL_EPOCHS)
        args.iw_k, args.iw_examples = min(args.iw_k, 20), min(args.iw_examples, 50)
        args.num_samples = min(args.num_samples, 200)
        args.timing_rounds = min(args.timing_rounds, 1)
    # Steps of a timing round: one is enough to make the report in a smoke run.
    args.timing_steps = 1 if args.small else 5
    return args


def load_data(args):
    """Training digits and the held-out sets, `{name: (x, y)}`."""
    from keras_ae.data import load_digits
    from keras_ae.data import load_idx

    (x_train, y_train), (x_val, y_val) = load_digits(seed=args.seed)
    held_out = {"embedded_validation": (x_val, y_val)}
    if args.mnist_dir:
        held_out["mnist_test"] = load_idx(*common.find_mnist_files(args.mnist_dir))
    if args.small:
        (x_train, y_train), held_out = common.small_split(x_train, y_train,
                                                          held_out)
    return (x_train, y_train), held_out


def build_and_train(label, args, x_train):
    """Builds the recipe's model with the run's objective and trains it."""
    from keras_ae.callbacks import training_recipe
    from keras_ae.data import make_dataset
    from keras_ae.recipes import get_recipe

    objective, options = ALL_RUNS[label]
    recipe = get_recipe(RECIPE)
    training = recipe.training.replace(epochs=args.epochs, seed=args.seed)
    model_config = recipe.model.replace(
        objective=objective, latent_dim=args.latent_dim,
        options={**recipe.model.options, **options})
    keras.utils.set_random_seed(args.seed)
    model = model_config.spec(x_train.shape[1:], seed=args.seed,
                              dataset_size=len(x_train)).build()
    model.compile(optimizer=keras.optimizers.Adam(training.learning_rate))
    timer = common.EpochTimer()
    callbacks = training_recipe(
        training.epochs, training.learning_rate,
        kl_warmup_epochs=training.kl_warmup_epochs,
        cosine_decay=training.cosine_decay, restore_best_weights=False)
    start = time.perf_counter()
    history = model.fit(
        make_dataset(x_train, batch_size=training.batch_size,
                     seed=training.seed),
        epochs=training.epochs, callbacks=[*callbacks, timer], verbose=0,
        shuffle=False)
    fit_seconds = time.perf_counter() - start
    timing = timer.summary(len(x_train), warmup_epochs=1)
    return model, {
        "objective": objective, "options": options,
        "parameters": int(model.count_params()),
        "fit_seconds": fit_seconds,
        "samples_per_s": timing["examples_per_second"],
        "warmup_included": timing["warmup_included"],
        "epoch_seconds": timer.train_seconds,
        "history": {k: [float(v) for v in values]
                    for k, values in history.history.items()
                    if k != "learning_rate"},
        "training": {"epochs": training.epochs,
                     "batch_size": training.batch_size,
                     "learning_rate": training.learning_rate,
                     "kl_warmup_epochs": training.kl_warmup_epochs,
                     "cosine_decay": training.cosine_decay},
    }


def decomposition_gap(model, x, draws=10):
    """beta-TC-VAE: its three KL terms' sum against the analytic KL on `x`."""
    from keras_ae.losses import kl_divergence

    z_mean, z_log_var = model.encode_distribution(x)
    kl = float(np.mean(keras.ops.convert_to_numpy(
        kl_divergence(z_mean, z_log_var))))
    sums = []
    for _ in range(draws):
        terms = model.compute_terms(x, x)
        sums.append(sum(float(terms[t]) for t in (
            "mutual_information", "total_correlation", "dimension_wise_kl")))
    terms = {t: float(v) for t, v in model.compute_terms(x, x).items()}
    return {"kl": kl, "decomposition_sum": float(np.mean(sums)),
            "decomposition_relative_gap": abs(np.mean(sums) / kl - 1.0),
            "decomposition_terms": terms, "decomposition_examples": len(x)}


def score(model, sampler, x, y, classifier, args):
    """Every figure of one model on one held-out set."""
    from keras_ae import evaluation
    from keras_ae.objectives import VariationalAutoEncoder

    start = time.perf_counter()
    reconstructions = model.reconstruct(x)
    result = {
        "mse": float(np.mean((reconstructions - x) ** 2)),
        "agreement": evaluation.reconstruction_agreement(
            model, classifier, x, y)["reconstruction_agreement"],
        "own_loss": float(model.evaluate(x, batch_size=256, verbose=0,
                                         return_dict=True)["loss"]),
    }
    if isinstance(model, VariationalAutoEncoder):
        result.update(evaluation.negative_elbo(model, x, num_samples=1,
                                               seed=args.seed))
        iw_start = time.perf_counter()
        result.update(evaluation.importance_weighted_nll(
            model, x[:args.iw_examples], k=args.iw_k, seed=args.seed))
        result["iw_examples"] = min(len(x), args.iw_examples)
        result["iw_seconds"] = time.perf_counter() - iw_start
    num_samples = min(args.num_samples, len(x))
    if hasattr(model, "sample"):
        result["prior"] = evaluation.evaluate_generation(
            model, classifier, x, num_samples=num_samples, seed=args.seed)
    result["gmm"] = evaluation.evaluate_generation(
        sampler, classifier, x, num_samples=num_samples, seed=args.seed)
    if model.objective == "beta_tcvae":
        result.update(decomposition_gap(model, x[:1000]))
    result["score_seconds"] = time.perf_counter() - start
    return result


def time_train_steps(models, x, rounds, steps=5, batch_size=128):
    """Seconds per train step of each model, timed in turn, round after round."""
    batch = x[:batch_size]
    seconds = {label: [] for label in models}
    for model in models.values():
        model.train_on_batch(batch)  # traced before timing
    for _ in range(rounds):
        for label, model in models.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(batch)
            seconds[label].append((time.perf_counter() - start) / steps)
    return {label: float(np.median(values)) for label, values in seconds.items()}


# === Verdicts ===


def _lookup(results, path):
    value = results
    for key in path:
        value = value[key]
    return value


def verdict(results, target, value_from, comparison, threshold_from=None,
            factor=1.0, offset=0.0, constant=None):
    """A target checked against the figures it names (`results` paths).

    The threshold is `factor * <threshold_from> + offset`, or `constant`.
    """
    value = float(_lookup(results, value_from))
    threshold = (constant if threshold_from is None
                 else factor * float(_lookup(results, threshold_from)) + offset)
    met = {"<=": value <= threshold, "<": value < threshold,
           ">=": value >= threshold}[comparison]
    return {"target": target, "value_from": list(value_from),
            "threshold_from": None if threshold_from is None else list(threshold_from),
            "factor": factor, "offset": offset, "constant": constant,
            "comparison": comparison, "value": value, "threshold": threshold,
            "met": bool(met)}


def verdicts(results, runs, held_out_names, figures):
    """The objectives' targets, for every held-out set they concern."""
    found = []
    has = set(runs)
    for held in held_out_names:
        def v(*args, held=held, **kwargs):
            found.append({"held_out": held, **verdict(results, *args, **kwargs)})

        if "iwae" in has:
            v("IWAE (k=5) IW-NLL at least 1 nat below the VAE's",
              ("iwae", held, "iw_nll"), "<=", ("vae", held, "iw_nll"),
              offset=-1.0)
            v("pythae ordering: IWAE IW-NLL below the VAE's",
              ("iwae", held, "iw_nll"), "<", ("vae", held, "iw_nll"))
        if "vampprior" in has:
            v("VampPrior IW-NLL below the VAE's (also pythae's ordering)",
              ("vampprior", held, "iw_nll"), "<", ("vae", held, "iw_nll"))
        for label in ("ae", "rae"):
            if label in has:
                v(f"{label.upper()} + GMM digit FID within 20 % of the VAE's "
                  "prior samples or better",
                  (label, held, "gmm", "frechet_distance"), "<=",
                  ("vae", held, "prior", "frechet_distance"), factor=1.2)
                v(f"{label.upper()} + GMM samples cover 10 of 10 classes",
                  (label, held, "gmm", "classes_covered"), ">=", constant=10)
        if "rae" in has:
            v("pythae ordering: RAE + GMM digit FID at most the VAE's",
              ("rae", held, "gmm", "frechet_distance"), "<=",
              ("vae", held, "prior", "frechet_distance"))
        if "beta_tcvae" in has:
            v("beta-TC-VAE decomposition sums to the KL within 1 %",
              ("beta_tcvae", held, "decomposition_relative_gap"), "<=",
              constant=0.01)
    final = held_out_names[-1]
    for label in runs:
        if "negative_elbo" in results[label][final]:
            found.append({"held_out": final, **verdict(
                results, f"{label}: -ELBO at most {ELBO_TARGET:g} nats",
                (label, final, "negative_elbo"), "<=",
                constant=ELBO_TARGET)})
    if "iwae" in has:
        found.append({"held_out": None, **verdict(
            results, "IWAE (k=5) trains in at most 2.5x the VAE's time",
            ("iwae", "fit_seconds"), "<=", ("vae", "fit_seconds"),
            factor=2.5)})
    for label in runs:
        if label in NEW_OBJECTIVES:
            found.append({"held_out": None, **verdict(
                results, f"{label}: train step at most 1.3x the VAE's time "
                "per example" + (" (per code of k)" if label == "iwae" else ""),
                (label, "step_ratio"), "<=", constant=1.3)})
    if "beta_tcvae" in has:
        found.append({"held_out": None, "target": "beta-TC-VAE latent "
                      "traversal figure, one row per code dimension",
                      "value": figures.get("traversals"), "met": bool(
                          figures.get("traversals"))})
    return found


# === Report ===


def to_markdown(report):
    fmt = common.fmt
    s = report["settings"]
    lines = [
        "# Objectives on the embedded digits",
        "",
        *common.header_lines(report, extra=[
            f"Every model: the `{RECIPE}` recipe's conv model (latent "
            f"{s['latent_dim']}, BCE) and training ({s['epochs']} epochs, "
            f"batch {s['batch_size']}, Adam {s['learning_rate']:g}, cosine "
            f"decay, {s['kl_warmup_epochs']} epochs of KL warm-up, no "
            f"best-epoch restore) on {s['training_examples']:,} embedded "
            f"training digits, seed {s['seed']}; each objective with its "
            "default options. Held out: " + ", ".join(
                f"{k} ({v:,})" for k, v in s["held_out"].items())
            + f". IW-NLL: k={s['iw_k']} on the first {s['iw_examples']} "
            f"digits of each set; generation: {s['num_samples']} samples "
            "judged by the reference classifier (digit FID, classes with at "
            "least 2 % of the samples). Times are wall times in this run, on "
            "a shared machine: compare them only as ratios.",
        ]),
    ]
    if s["small"]:
        lines += ["**Smoke run (`--small`):** the figures mean nothing.", ""]
    results = report["results"]
    for held, count in s["held_out"].items():
        lines += [
            f"## {held} ({count:,} digits)", "",
            ("| model | own loss | -ELBO | IW-NLL | MSE/pixel | agreement "
             "| prior FID | prior classes | GMM FID | GMM classes |"),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label in report["runs"]:
            r = results[label][held]
            prior = r.get("prior", {})
            lines.append(
                f"| {label} | {fmt(r['own_loss'], 2)} "
                f"| {fmt(r.get('negative_elbo'), 2)} | {fmt(r.get('iw_nll'), 2)} "
                f"| {fmt(r['mse'], 4)} | {fmt(r['agreement'], 3)} "
                f"| {fmt(prior.get('frechet_distance'), 2)} "
                f"| {prior.get('classes_covered', '-')} "
                f"| {fmt(r['gmm']['frechet_distance'], 2)} "
                f"| {r['gmm']['classes_covered']} |")
        lines.append("")
    lines += [
        "## Speed (this run)", "",
        ("| model | parameters | train samples/s | fit (s) | fit / VAE "
         "| step time per example / VAE's |"),
        "|---|---:|---:|---:|---:|---:|",
    ]
    vae_fit = results["vae"]["fit_seconds"]
    for label in report["runs"]:
        r = results[label]
        lines.append(
            f"| {label} | {r['parameters']:,} | {fmt(r['samples_per_s'], 0)} "
            f"| {fmt(r['fit_seconds'], 0)} | {fmt(r['fit_seconds'] / vae_fit, 2)} "
            f"| {fmt(r['step_ratio'], 2)}"
            + (f" ({fmt(r['step_ratio_per_example'], 2)} per example)"
               if "step_ratio_per_example" in r else "") + " |")
    lines += [
        "",
        ("Step time: each model's train step on one batch of "
         f"{s['timing_batch_size']}, timed in turn over {s['timing_rounds']} "
         f"rounds of {s.get('timing_steps', 5)} steps (median), divided by "
         "the VAE's; the IWAE's is per code "
         "(divided by its k as well), its per-example ratio in brackets."),
        "",
        "## Targets", "",
        "| target | held out | value | threshold | met |",
        "|---|---|---:|---:|---|",
    ]
    for t in report["verdicts"]:
        value = t["value"]
        shown = fmt(value, 3) if isinstance(value, float) else f"`{value}`"
        lines.append(
            f"| {t['target']} | {t['held_out'] or '-'} | {shown} "
            f"| {fmt(t.get('threshold'), 3)} "
            f"| {'yes' if t['met'] else '**no**'} |")
    lines.append("")
    return "\n".join(lines)


def save_figures(models, samplers, x, figures_dir, seed):
    """Rows of prior and mixture samples per model; beta-TC-VAE's traversals."""
    from keras_ae import plotting
    from keras_ae.evaluation import plot_latent_traversals

    paths = {}
    rows = {label: model.sample(10, seed=seed)
            for label, model in models.items() if hasattr(model, "sample")}
    paths["prior_samples"] = os.path.join(figures_dir, "samples_prior.png")
    plotting.plot_rows(rows, paths["prior_samples"],
                       "Samples decoded from each model's prior")
    rows = {label: sampler.sample(10, seed=seed)
            for label, sampler in samplers.items()}
    paths["gmm_samples"] = os.path.join(figures_dir, "samples_gmm.png")
    plotting.plot_rows(rows, paths["gmm_samples"], "Samples decoded from a "
                       "10-component Gaussian mixture of each model's codes")
    if "beta_tcvae" in models:
        paths["traversals"] = os.path.join(figures_dir,
                                           "beta_tcvae_traversals.png")
        plot_latent_traversals(models["beta_tcvae"], x[0], paths["traversals"])
    return paths


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    from keras_ae.evaluation import reference_classifier
    from keras_ae.evaluation import train_reference_classifier
    from keras_ae.io import jsonable
    from keras_ae.recipes import get_recipe
    from keras_ae.samplers import GaussianMixtureSampler

    report = {"command": common.public_command("benchmarks.objectives", argv),
              "date": common.now(), "machine": common.machine_description(),
              "load_average_before": common.load_average()}
    started = time.perf_counter()
    figures_dir = os.path.join(args.output_dir, FIGURES_DIR)
    os.makedirs(figures_dir, exist_ok=True)
    (x_train, y_train), held_out = load_data(args)
    # The shipped judge for the embedded digits (seed 0); the small mode's
    # few digits get one trained for its single epoch.
    classifier = (train_reference_classifier(x_train, y_train,
                                             epochs=args.epochs, seed=args.seed)
                  if args.small else
                  reference_classifier(x_train, y_train, seed=args.seed))
    runs = ["vae", *[r for r in args.runs if r != "vae"]]
    models, samplers, results = {}, {}, {}
    for label in runs:
        print(f"[objectives] {label}: training ...", flush=True)
        model, result = build_and_train(label, args, x_train)
        samplers[label] = GaussianMixtureSampler(seed=args.seed).fit(model,
                                                                     x_train)
        for held, (x, y) in held_out.items():
            result[held] = score(model, samplers[label], x, y, classifier, args)
        models[label], results[label] = model, result
        # Each model's figures reach the log as they come, so a run cut
        # short keeps them.
        print(f"[objectives] {label}: " + json.dumps(jsonable(
            {k: v for k, v in result.items()
             if k not in ("history", "epoch_seconds")})), flush=True)
    figures = {k: os.path.relpath(v, args.output_dir) for k, v in save_figures(
        models, samplers, held_out["embedded_validation"][0], figures_dir,
        args.seed).items()}
    print("[objectives] timing the train steps ...", flush=True)
    step_seconds = time_train_steps(models, x_train, args.timing_rounds,
                                    steps=args.timing_steps)
    for label in runs:
        ratio = step_seconds[label] / step_seconds["vae"]
        results[label]["step_seconds"] = step_seconds[label]
        if results[label]["objective"] == "iwae":
            results[label]["step_ratio_per_example"] = ratio
            ratio /= models[label].num_samples
        results[label]["step_ratio"] = ratio
    training = results["vae"]["training"]
    report.update({
        "settings": {
            "recipe": RECIPE, "latent_dim": args.latent_dim,
            "reconstruction_loss": get_recipe(RECIPE).model.reconstruction_loss,
            **training, "seed": args.seed, "small": args.small,
            "iw_k": args.iw_k, "iw_examples": args.iw_examples,
            "num_samples": args.num_samples,
            "timing_rounds": args.timing_rounds,
            "timing_steps": args.timing_steps, "timing_batch_size": 128,
            "training_examples": len(x_train),
            "held_out": {k: len(v[0]) for k, v in held_out.items()}},
        "runs": runs,
        "results": results,
        "figures": figures,
        "verdicts": verdicts(results, runs, list(held_out), figures),
        "load_average_after": common.load_average(),
        "wall_seconds": time.perf_counter() - started,
    })
    text = to_markdown(report)
    common.write_results(args.paths, report, text, args.overwrite)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
