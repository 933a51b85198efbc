"""The command line and the report of `python -m benchmarks.perf`."""

import argparse
import json
import sys
import tempfile
import time

import benchmarks.perf
from benchmarks import common
from benchmarks import flops
from benchmarks.perf import latency
from benchmarks.perf import reference
from benchmarks.perf import speedups
from benchmarks.perf import training
from benchmarks.perf.settings import BATCH_SIZE
from benchmarks.perf.settings import BUDGET_SECONDS
from benchmarks.perf.settings import FULL
from benchmarks.perf.settings import LATENT_DIM
from benchmarks.perf.settings import QUICK
from benchmarks.perf.settings import SECTIONS
from benchmarks.perf.settings import load_data


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.perf",
        description=benchmarks.perf.__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common_arguments(parser, latent_dim=None)
    parser.add_argument("--quick", action="store_true",
                        help="a few steps per figure, to check the script end "
                        "to end; writes perf_quick.json/.md")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS),
                        choices=SECTIONS,
                        help="sections to run (default: all)")
    parser.add_argument("--litert-threads", type=int, default=None,
                        help="threads of the LiteRT interpreter (default: its "
                        "own default)")
    parser.add_argument("--speedup-rounds", type=int, default=None,
                        help="interleaved rounds of the speed-up section "
                        "(default: 2, 1 with --quick)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = common.parse_checked(parser, argv,
                                positive=("speedup_rounds", "litert_threads"))
    if args.worker is None:
        args.paths = common.result_paths(
            parser, args, "perf_quick" if args.quick else "perf")
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

    seed = settings["seed"]
    for section in SECTIONS:
        if section not in sections:
            continue
        if section == "peak":
            timed("peak", lambda: training.benchmark_peak(settings))
        elif section == "training":
            peak = results["peak"]["flops_per_second"]
            timed("training", lambda: [
                _logged(log, training.benchmark_training(
                    family, variational, x_train, settings, peak, seed))
                for family in args.families for variational in (False, True)])
        elif section == "reference":
            timed("reference",
                  lambda: reference.compare_over_seeds(data, settings))
        elif section == "latency":
            with tempfile.TemporaryDirectory(prefix="keras_ae-perf-") as work:
                timed("latency", lambda: [
                    row for family in args.families
                    for row in latency.benchmark_latency(
                        family, data, settings, work, seed,
                        args.litert_threads)])
        elif section == "speedups":
            timed("speedups", lambda: speedups.benchmark_speedups(
                x_train, settings, args.quick, log))
    return results, seconds


def _logged(log, row):
    log(f"  {row['family']:>12} {row['kind']}: "
        f"{row['examples_per_second']:8.0f} examples/s, "
        f"{100 * row['hardware_efficiency']:.1f}% of the matmul peak")
    return row


def to_markdown(report):
    """Formats the report as a markdown document."""
    lines = ["# Performance benchmark", ""]
    if report["quick"]:
        lines += ["**Quick run (`--quick`): a few steps per figure, to check "
                  "the script. The figures are provisional; do not quote "
                  "them.**", ""]
    seconds = ", ".join(f"{k} {v:.0f} s"
                        for k, v in report["section_seconds"].items())
    lines += common.header_lines(report, extra=[
        f"Elapsed: {report['process_seconds']:.0f} s since the process "
        f"started, {report['total_seconds']:.0f} s after the imports "
        f"({seconds})"])
    for section, formatter in (("peak", training.peak_lines),
                               ("training", training.training_lines),
                               ("reference", reference.reference_lines),
                               ("latency", latency.latency_lines),
                               ("speedups", speedups.speedup_lines)):
        if section in report["results"]:
            lines += formatter(report)
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker is not None:
        speedups.run_worker(json.loads(args.worker))
        return 0
    start = time.perf_counter()
    load_before = common.load_average()
    settings = dict(QUICK if args.quick else FULL)
    if args.speedup_rounds is not None:
        settings["speedup_rounds"] = args.speedup_rounds
    settings["seed"] = args.seed

    def log(message):
        print(message, flush=True)

    data = load_data(settings, args.seed)
    results, seconds = run_sections(args, settings, data, log)
    total = time.perf_counter() - start
    since_start = common.process_seconds() or total
    log(f"Total: {total:.1f} s after the imports, {since_start:.1f} s since "
        f"the process started (budget {BUDGET_SECONDS} s"
        f"{'' if since_start <= BUDGET_SECONDS else ', EXCEEDED'})")
    report = {
        "command": common.public_command("benchmarks.perf", argv),
        "date": common.now(),
        "quick": args.quick,
        "machine": common.machine_description(),
        "load_average_before": load_before,
        "load_average_after": common.load_average(),
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
    common.write_results(args.paths, report, to_markdown(report),
                         args.overwrite)
    log(f"Results written to {args.paths['json']} and {args.paths['md']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
