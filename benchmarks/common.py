"""The runner every benchmark shares: options, timing, the machine, results.

A benchmark script (`python -m benchmarks.<name>`) keeps only what is its
own (what it trains and measures, its markdown tables) and takes the rest
from here:

Options, one spelling for all:

    parser = argparse.ArgumentParser(...)
    add_common_arguments(parser, epochs=5)   # --families --latent-dim
                                             # --epochs --seed --output-dir
                                             # --overwrite
    args = parse_checked(parser, argv, positive=("epochs", "latent_dim"))
    paths = result_paths(parser, args, "families")   # refuses existing files

Timing:

    timer = EpochTimer()                     # a Keras callback
    model.fit(x, epochs=4, callbacks=[timer])
    timer.summary(len(x), warmup_epochs=1)   # examples/s of the later epochs
    seconds, calls = median_seconds(lambda: fn(x), warmup=3, repeats=20)

Results:

    report = {"command": public_command("benchmarks.families", argv),
              "date": now(), "machine": machine_description(),
              "load_average_before": ..., ...}
    write_results(paths, report, to_markdown(report), args.overwrite)
    header_lines(report)                     # the markdown lines that say
                                             # which command ran where

`write_results` writes `<stem>.json` (strict JSON) and `<stem>.md`; an
existing result is replaced only with `--overwrite`, and `result_paths`
refuses it before anything runs.
"""

import datetime
import os
import platform
import shlex
import statistics
import subprocess
import time
from importlib import metadata

import keras

DEFAULT_OUTPUT_DIR = os.path.join("benchmarks", "results")
# Options whose value is a path of this machine: the recorded command shows
# a placeholder instead.
PATH_OPTIONS = ("--output-dir", "--mnist-dir")
# Options followed by paths of this machine up to the next option.
PATHS_OPTIONS = ("--merge",)
# `--small`, the smoke run of a benchmark that trains models: what its tests
# check is how the report is made, not the figures, so every model takes a
# single epoch on a few digits (the cost left is mostly tracing).
SMALL_EPOCHS = 1
SMALL_TRAIN = 500
SMALL_HELD_OUT = 100


def small_split(x_train, y_train, held_out):
    """The training digits and held-out sets of a `--small` run."""
    return ((x_train[:SMALL_TRAIN], y_train[:SMALL_TRAIN]),
            {k: (x[:SMALL_HELD_OUT], y[:SMALL_HELD_OUT])
             for k, (x, y) in held_out.items()})


# --- Options ------------------------------------------------------------------


def add_common_arguments(parser, epochs=None, latent_dim=16, families=True):
    """Adds the options every benchmark spells the same way to `parser`.

    Args:
        parser: an `argparse.ArgumentParser`.
        epochs: int, default of `--epochs`, or `None` for a benchmark that
            has no such option.
        latent_dim: int, default of `--latent-dim`, or `None` for none.
        families: bool, add `--families` (default: every registered one).
    """
    from keras_ae.registry import list_families as list_autoencoders

    if families:
        parser.add_argument("--families", nargs="+",
                            default=list_autoencoders(),
                            choices=list_autoencoders(),
                            help="families to run (default: all registered)")
    if latent_dim is not None:
        parser.add_argument("--latent-dim", type=int, default=latent_dim,
                            help="size of the code (default: %(default)s)")
    if epochs is not None:
        parser.add_argument("--epochs", type=int, default=epochs,
                            help="training epochs per model (default: "
                            "%(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights, shuffles and sampling "
                        "(default: %(default)s)")
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR,
                        help="where the results go (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing results (default: refuse)")


def check_mnist_dir(parser, mnist_dir):
    """Exits with code 2 unless `mnist_dir`, when given, holds the MNIST test set."""
    if mnist_dir and not find_mnist_files(mnist_dir):
        parser.error("--mnist-dir holds no t10k-images-idx3-ubyte[.gz] and "
                     f"t10k-labels-idx1-ubyte[.gz]. Received: {mnist_dir}")


def parse_checked(parser, argv=None, positive=(), non_negative=("seed",)):
    """Parses `argv` and checks the named integer options' ranges.

    Args:
        parser: the benchmark's parser.
        argv: list of str, or `None` for `sys.argv[1:]`.
        positive: destination names that must be > 0 when given.
        non_negative: destination names that must be >= 0 when given.

    Returns:
        The parsed `argparse.Namespace`; a bad value exits with code 2.
    """
    args = parser.parse_args(argv)
    for names, minimum in ((positive, 1), (non_negative, 0)):
        for name in names:
            value = getattr(args, name)
            if value is not None and value < minimum:
                parser.error(f"--{name.replace('_', '-')} must be "
                             f"{'> 0' if minimum else '>= 0'}. Received: "
                             f"{value}")
    return args


def result_paths(parser, args, stem, extra=()):
    """Returns `{"json": path, "md": path}` of the results `<stem>.json/.md`.

    Exits with code 2 (through `parser.error`) when one of them, or one of
    the `extra` entries of the output directory, exists and `--overwrite`
    is not given: nothing has run yet.
    """
    paths = {suffix: os.path.join(args.output_dir, f"{stem}.{suffix}")
             for suffix in ("json", "md")}
    names = [os.path.basename(p) for p in paths.values()] + list(extra)
    existing = [name for name in names
                if os.path.lexists(os.path.join(args.output_dir, name))]
    if existing and not args.overwrite:
        parser.error(f"{', '.join(existing)} already exist(s) in "
                     f"{args.output_dir}; pass --overwrite to replace them, "
                     "or another --output-dir")
    if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        parser.error(f"--output-dir must be a directory. Received: "
                     f"{args.output_dir}, a file")
    return paths


def public_command(module, argv):
    """The command line of a run, with this machine's paths left out."""
    words, hide, hide_all = ["python", "-m", module], False, False
    for arg in argv:
        if hide_all and not arg.startswith("--"):
            words.append("<file>")
            continue
        hide_all = arg in PATHS_OPTIONS
        if hide:
            words.append("<dir>")
            hide = False
        elif arg in PATH_OPTIONS:
            words.append(arg)
            hide = True
        elif arg.startswith(tuple(f"{o}=" for o in PATH_OPTIONS)):
            words.append(arg.split("=", 1)[0] + "=<dir>")
        else:
            words.append(shlex.quote(arg))
    return " ".join(words)


# --- Data ---------------------------------------------------------------------

MNIST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def find_mnist_files(directory):
    """Returns the (images, labels) paths of the MNIST test set, or None.

    Each file may be gzipped (`.gz`), as the official downloads are.
    """
    paths = []
    for name in MNIST_FILES:
        for candidate in (name, name + ".gz"):
            if os.path.isfile(os.path.join(directory, candidate)):
                paths.append(os.path.join(directory, candidate))
                break
    return tuple(paths) if len(paths) == 2 else None


# --- Timing -------------------------------------------------------------------


class EpochTimer(keras.callbacks.Callback):
    """Times each epoch of `fit`: its training part and its whole wall time.

    An epoch's training time runs from `on_epoch_begin` to the start of its
    validation (`on_test_begin`) or, without validation data, to
    `on_epoch_end`; its wall time always runs to `on_epoch_end`. Put it last
    among the callbacks to count their end-of-epoch work.

    Example:

    >>> timer = EpochTimer()
    >>> model.fit(x_train, epochs=4, callbacks=[timer])
    >>> timer.summary(len(x_train), warmup_epochs=1)["examples_per_second"]
    """

    def __init__(self):
        super().__init__()
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

    def summary(self, examples_per_epoch, warmup_epochs=1):
        """Returns the steady-state throughput of the epochs as a dict.

        The first `warmup_epochs` epochs (tracing, cache filling) are left
        out; when no epoch is left, all are counted and `warmup_included`
        says so: such figures are not to be quoted.
        """
        timed = self.train_seconds[warmup_epochs:]
        walls = self.epoch_seconds[warmup_epochs:]
        if not timed:
            timed, walls = self.train_seconds, self.epoch_seconds
        rates = [examples_per_epoch / s for s in timed]
        return {
            "examples_per_second": statistics.median(rates),
            "examples_per_second_min": min(rates),
            "examples_per_second_max": max(rates),
            "wall_examples_per_second": statistics.median(
                examples_per_epoch / s for s in walls),
            "first_epoch_seconds": self.epoch_seconds[0],
            "timed_epochs": len(timed),
            "warmup_included": len(timed) == len(self.train_seconds)
            and warmup_epochs > 0,
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


# --- The machine --------------------------------------------------------------


def machine_description():
    """Returns the CPU, cores, memory, GPUs and software versions as a dict."""
    import tensorflow as tf

    def version(package):
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name")
        or platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": (len(os.sched_getaffinity(0))
                        if hasattr(os, "sched_getaffinity") else None),
        "memory": _memory(),
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{name.replace("-", "_"): version(name) for name in (
            "tensorflow", "keras", "numpy", "scikit-learn", "ai-edge-litert")},
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "keras_ae": keras_ae_version(),
        "commit": source_commit(),
    }


def keras_ae_version():
    """The version of the package measured."""
    import keras_ae

    return keras_ae.__version__


def source_commit():
    """The commit the measured code comes from (`+changes` when it had edits)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--",
                                "keras_ae", "benchmarks"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    if commit.returncode:
        return None
    return commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def load_average():
    """Returns the 1, 5 and 15 minute load averages, or `None`."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def now():
    """The current local time, to the second, in ISO format."""
    return datetime.datetime.now().isoformat(timespec="seconds")


def _proc_field(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _memory():
    total = _proc_field("/proc/meminfo", "MemTotal")
    return f"{int(total.split()[0]) / 2**20:.1f} GiB" if total else None


# --- Results ------------------------------------------------------------------


def header_lines(report, extra=()):
    """The markdown lines that say what ran, when and on which machine.

    Reads `command`, `date`, `machine` and, when present,
    `load_average_before`/`_after` and `wall_seconds` of `report`; the
    `extra` lines follow.
    """
    m = report["machine"]
    lines = [
        f"Command: `{report['command']}`",
        f"Date: {report['date']}",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs "
        f"({m['usable_cpus']} usable), {m['memory']} RAM, {m['gpus']} "
        f"GPU(s); {m['platform']}",
        f"Software: Python {m['python']}, TensorFlow {m['tensorflow']}, Keras "
        f"{m['keras']}, NumPy {m['numpy']}, scikit-learn "
        f"{m['scikit_learn']}, ai-edge-litert {m['ai_edge_litert']}; oneDNN "
        f"{m['onednn']}",
        f"Measured: keras_ae {m.get('keras_ae', 'unknown')} (commit "
        f"{m.get('commit') or 'unknown'})",
    ]
    if "load_average_before" in report:
        lines.append(f"Load average (1, 5, 15 min): "
                     f"{report['load_average_before']} before, "
                     f"{report.get('load_average_after')} after")
    if report.get("wall_seconds") is not None:
        lines.append(f"Wall time: {report['wall_seconds']:.0f} s")
    lines += list(extra)
    # Two trailing spaces: a markdown line break.
    return [line + "  " for line in lines[:-1]] + [lines[-1], ""]


def write_results(paths, report, markdown, overwrite=False):
    """Writes `report` as strict JSON and `markdown` to `paths` (`result_paths`).

    NumPy numbers become Python numbers and non-finite floats `null`. An
    existing file is replaced only when `overwrite` is true.
    """
    from keras_ae.io import write_json

    os.makedirs(os.path.dirname(paths["json"]) or ".", exist_ok=True)
    if overwrite:
        for path in paths.values():
            if os.path.lexists(path):
                os.remove(path)
    write_json(paths["json"], report)
    with open(paths["md"], "x") as f:
        f.write(markdown)
    return paths


def fmt(value, digits=3):
    """`value` with `digits` decimals, or "-" for a missing figure."""
    return "-" if value is None else f"{value:,.{digits}f}"
