"""`python -m benchmarks.quality`: the command line and the report."""

import argparse
import json
import os
import sys
import time

from benchmarks import common
from benchmarks.quality import __doc__ as DOC
from benchmarks.quality import conditional
from benchmarks.quality import discrete
from benchmarks.quality import generation
from benchmarks.quality import representation
from benchmarks.quality import restoration
from benchmarks.quality.context import ZOO
from benchmarks.quality.context import Context
from benchmarks.quality.context import combine_seeds
from benchmarks.quality.context import zoo_recipe

FIGURES_DIR = "quality_figures"
TASKS = {
    "denoising": restoration.run_denoising,
    "occlusion": restoration.run_occlusion,
    "classifier": representation.run_classifier,
    "compression": representation.run_compression,
    "vae": generation.run_vae,
    "main_job": generation.run_main_job,
    "conditional": conditional.run_conditional,
    "discrete": discrete.run_discrete,
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality", description=DOC.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS),
                        choices=list(TASKS), help="tasks to run (default: all)")
    common.add_common_arguments(parser, epochs=30, latent_dim=None,
                                families=False)
    parser.add_argument("--batch-size", type=int, default=128,
                        help="batch size of the anchors (the zoo's models "
                        "train at their recipe's; default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds of the trained models, one repeat each "
                        "(default: --seed and the next two; --seed alone "
                        "with --small); --seed keeps the data split and the "
                        "judges")
    parser.add_argument("--mnist-dir", default=os.environ.get("KERAS_AE_MNIST_DIR"),
                        help="directory of the official MNIST test set IDX "
                        "files (default: $KERAS_AE_MNIST_DIR, else none)")
    parser.add_argument("--ablation", action="store_true",
                        help="also train the conv VAE without each callback "
                        "of the training recipe")
    parser.add_argument("--merge", nargs="+", metavar="QUALITY_JSON",
                        help="train nothing: combine the quality.json of runs "
                        "of other seeds (the same settings and keras_ae "
                        "version) into one report, as one run of all their "
                        "seeds would have written it")
    parser.add_argument("--small", action="store_true",
                        help="a smoke run of every task: "
                        f"{common.SMALL_EPOCHS} epoch on "
                        f"{common.SMALL_TRAIN} digits, {common.SMALL_HELD_OUT} "
                        "held out, one seed; the figures mean nothing")
    args = common.parse_checked(parser, argv, positive=("epochs", "batch_size"))
    if args.merge:
        if args.seeds is not None or args.small or args.ablation:
            parser.error("--merge takes the seeds and settings of its reports: "
                         "--seeds, --small and --ablation do not apply")
        try:
            args.parts = [_read_report(path) for path in args.merge]
            check_mergeable(args.parts, args.merge)
        except ValueError as error:
            parser.error(str(error))
        return args, common.result_paths(parser, args, "quality")
    if args.seeds is None:
        args.seeds = [args.seed] if args.small else [args.seed + i
                                                     for i in range(3)]
    if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        parser.error("--seeds must be distinct integers >= 0. Received: "
                     + " ".join(map(str, args.seeds)))
    common.check_mnist_dir(parser, args.mnist_dir)
    paths = common.result_paths(parser, args, "quality", extra=(FIGURES_DIR,))
    if args.small:
        args.epochs = min(args.epochs, common.SMALL_EPOCHS)
    return args, paths


# What the runs a report merges must share: then a row means the same in each.
MERGED_SETTINGS = ("epochs", "batch_size", "seed", "small", "tasks", "recipes",
                   "training_examples", "held_out")


def _read_report(path):
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"--merge: cannot read {path}: {error}") from None
    if not isinstance(report, dict) or "rows_by_seed" not in report:
        raise ValueError(f"--merge: {path} is not a quality report that keeps "
                         "its rows by seed (written by this version of "
                         "`python -m benchmarks.quality`)")
    return report


def check_mergeable(parts, paths):
    """Raises `ValueError` unless the reports `parts` can be merged."""
    first, first_path = parts[0], paths[0]
    seen = {}
    for part, path in zip(parts, paths):
        for name in MERGED_SETTINGS:
            if part["settings"][name] != first["settings"][name]:
                raise ValueError(
                    f"--merge: {path} and {first_path} differ in {name}: "
                    f"{part['settings'][name]!r} and "
                    f"{first['settings'][name]!r}")
        version = part["machine"].get("keras_ae")
        if version != first["machine"].get("keras_ae"):
            raise ValueError(
                f"--merge: {path} was measured by keras_ae {version}, "
                f"{first_path} by {first['machine'].get('keras_ae')}")
        for seed in part["settings"]["seeds"]:
            if seed in seen:
                raise ValueError(f"--merge: seed {seed} is in both {seen[seed]} "
                                 f"and {path}")
            seen[seed] = path


def merge_reports(parts, command):
    """One report of every seed from the reports of runs of some (`--merge`).

    The rows of each seed are combined as one run of all the seeds combines
    them (`combine_seeds`); each part's command, date, machine and wall time
    are kept under `parts`.
    """
    rows_by_seed, details_by_seed = {}, {}
    for part in parts:
        rows_by_seed.update({int(s): r for s, r in part["rows_by_seed"].items()})
        details_by_seed.update({int(s): d for s, d in
                                part["details_by_seed"].items()})
    seeds = sorted(rows_by_seed)
    details = dict(details_by_seed[seeds[0]])
    for part in parts:  # the ablations of the part that ran them
        details.update({k: v for k, v in part["details"].items()
                        if k.endswith("ablation")})
    first = parts[0]
    return {
        "command": command, "date": common.now(), "machine": first["machine"],
        "parts": [{key: part.get(key) for key in (
            "command", "date", "machine", "load_average_before",
            "load_average_after", "wall_seconds")} | {
                "seeds": part["settings"]["seeds"]} for part in parts],
        "settings": {**first["settings"], "seeds": seeds},
        "rows": combine_seeds({seed: rows_by_seed[seed] for seed in seeds}),
        "rows_by_seed": {str(seed): rows_by_seed[seed] for seed in seeds},
        "details": details,
        "details_by_seed": {str(seed): details_by_seed[seed] for seed in seeds},
        "wall_seconds": sum(part["wall_seconds"] for part in parts),
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args, paths = parse_args(argv)
    if args.merge:
        report = merge_reports(args.parts, common.public_command(
            "benchmarks.quality", argv))
        text = markdown(report)
        common.write_results(paths, report, text, args.overwrite)
        print(text)
        return 0
    report = {"command": common.public_command("benchmarks.quality", argv),
              "date": common.now(), "machine": common.machine_description(),
              "load_average_before": common.load_average()}
    started = time.perf_counter()
    figures = os.path.join(args.output_dir, FIGURES_DIR)
    os.makedirs(figures, exist_ok=True)
    context = Context.create(args, figures)
    rows_by_seed, details_by_seed = {}, {}
    for seed in args.seeds:
        repeat = context.for_model_seed(seed)
        rows_by_seed[seed], details_by_seed[seed] = [], {}
        for task in args.tasks:
            print(f"[quality] {task}, seed {seed} ...", flush=True)
            task_rows, details_by_seed[seed][task] = TASKS[task](repeat)
            rows_by_seed[seed].extend(task_rows)
            # The rows reach the log as they come, so a run cut short keeps
            # them.
            print(f"[quality] {task}, seed {seed}, rows: "
                  f"{json.dumps(task_rows, default=str)}", flush=True)
    rows = combine_seeds(rows_by_seed)
    details = details_by_seed[args.seeds[0]]
    if args.ablation:
        print("[quality] ablation ...", flush=True)
        details["ablation"] = generation.run_ablation(context)
        details["denoiser_ablation"] = restoration.run_denoiser_ablation(context)
    report.update({
        "settings": {"epochs": args.epochs, "batch_size": args.batch_size,
                     "seed": args.seed, "seeds": args.seeds,
                     "small": args.small, "tasks": args.tasks,
                     "recipes": {task: zoo_recipe(task).name for task in ZOO},
                     "training_examples": len(context.x_train),
                     "held_out": {k: len(v[0]) for k, v in context.held_out.items()}},
        "rows": rows,
        "rows_by_seed": {str(seed): value
                         for seed, value in rows_by_seed.items()},
        "details": details,
        "details_by_seed": {str(seed): value
                            for seed, value in details_by_seed.items()},
        "load_average_after": common.load_average(),
        "wall_seconds": time.perf_counter() - started,
    })
    text = markdown(report)
    common.write_results(paths, report, text, args.overwrite)
    print(text)
    return 0


def _number(value):
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return str(int(value))
    if isinstance(value, float) and value != 0 and abs(value) < 1:
        return f"{value:.4f}" if abs(value) < 0.1 else f"{value:.3f}"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _figure(r, field):
    """A figure of the table: the mean, and the range over several seeds."""
    values = r.get(f"{field}_seeds") or [r[field]]
    if r[field] is None or len(values) < 2:
        return _number(r[field])
    return f"{_number(r[field])} ({_number(min(values))}-{_number(max(values))})"


def markdown(report):
    """The side-by-side table, the classifier's pretraining time, the ablation."""
    settings = report["settings"]
    seeds = settings["seeds"]
    recipes = settings["recipes"]
    lines = ["### Quality: the zoo against its anchors", *common.header_lines(
        report, extra=[
            f"Every model: {settings['training_examples']:,} embedded training "
            f"digits, {settings['epochs']} epochs; the anchors at batch "
            f"{settings['batch_size']}, the zoo's models by their recipe ("
            + ", ".join(f"{task}: `{name}`" for task, name in recipes.items())
            + f"). Data split and judges: seed {settings['seed']}; trained "
            f"models: seed{'s' if len(seeds) > 1 else ''} "
            f"{', '.join(map(str, seeds))}"
            + (" (each figure is the mean over the seeds, the range in "
               "brackets; a target is met only when every seed meets it)"
               if len(seeds) > 1 else "")
            + "; held out: "
            + ", ".join(f"{k} ({v:,})" for k, v in settings["held_out"].items())
            + ". Times are training wall times in this run (a ratio over 1.5 "
            "is marked)."
            + "".join(
                f"  \nPart: `{part['command']}` (seed"
                f"{'s' if len(part['seeds']) > 1 else ''} "
                f"{', '.join(map(str, part['seeds']))}), {part['date']}, "
                f"{part['wall_seconds']:.0f} s, {part['machine']['cpu']}, "
                f"commit {part['machine'].get('commit') or 'unknown'}; "
                "its times compare within it"
                for part in report.get("parts", ()))]),
        "| task | metric | held out | keras_ae | anchor | anchor model | target "
        "| met | keras_ae train (s) | anchor train (s) | time ratio |",
        "|---|---|---|---:|---:|---|---|---|---:|---:|---:|"]
    for r in report["rows"]:
        ratio = "-" if r["time_ratio"] is None else (
            f"{r['time_ratio']:.2f}" + ("" if r["time_met"] else " (over 1.5)"))
        met = "-" if r["target"] == "(reported)" else (
            "yes" if r["met"] else "**no**")
        lines.append(
            f"| {r['task']} | {r['metric']} | {r['held_out']} | {_figure(r, 'zoo')} "
            f"| {_figure(r, 'anchor')} | {r['anchor_name']} | {r['target']} "
            f"| {met} | {_number(r['zoo_seconds'])} "
            f"| {_number(r['anchor_seconds'])} | {ratio} |")
    if "classifier" in report["details"]:
        seconds = report["details"]["classifier"]["pretrain_seconds"]
        lines += ["", f"Classifier: the unsupervised pretraining took {seconds:.1f} s "
                  "(not in the time ratio, which compares the supervised phases)."]
    for key, title in (
            ("ablation", "Ablation of the VAE's training (conv VAE, latent 16, "
             "negative ELBO in nats, lower is better)"),
            ("denoiser_ablation", "Ablation of the denoiser's training (PSNR "
             "in dB at sigma 0.5, higher is better)")):
        if key not in report["details"]:
            continue
        ablation = report["details"][key]
        names = [k for k in next(iter(ablation.values())) if k != "seconds"]
        lines += ["", f"{title}:", "",
                  "| training | " + " | ".join(names) + " | train (s) |",
                  "|---|" + "---:|" * (len(names) + 1)]
        for label, values in ablation.items():
            lines.append(f"| {label} | " + " | ".join(
                f"{values[n]:.2f}" for n in names) + f" | {values['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
