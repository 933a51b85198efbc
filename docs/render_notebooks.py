"""Executes the notebooks at their own settings for the documentation site.

Run it from the repository root:

    python docs/render_notebooks.py                       # every notebook
    python docs/render_notebooks.py 01_what_is_an_autoencoder --overwrite

The notebooks in `notebooks/` are committed without outputs, and the tests
execute them at small settings. The site shows the executed copies this
script writes to `docs/notebooks/`, run at the settings the notebook
states, with the keras_ae version, the commit and the wall time recorded in
the copy's metadata (`keras_ae_render`). The build (`docs/hooks.py`) takes a
copy only while its cells are the notebook's, and `tests/test_docs.py`
fails on a copy that is out of date: re-run this script after editing a
notebook.
"""

import argparse
import datetime
import os
import re
import sys
import time

import nbclient
import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_DIR = os.path.join(ROOT, "notebooks")
RENDERED_DIR = os.path.join(ROOT, "docs", "notebooks")
CELL_TIMEOUT = 7200  # seconds; the longest training cell runs for minutes
# TensorFlow's log lines, which its C++ start-up and graph optimizer write to
# the kernel's standard error whatever TF_CPP_MIN_LOG_LEVEL says (absl,
# oneDNN, CUDA probing, grappler), and its Python logger and the TensorFlow
# Lite converter and interpreter print on either stream ("INFO:tensorflow:
# Assets written to <a temporary directory>"): they are dropped from the
# copies' outputs. The notebooks' own prints are kept.
TF_LOG_LINE = re.compile(
    r"^([IWEF]\d{4} \S+ +\d+ [\w.]+:\d+\]|WARNING: All log messages before "
    r"absl::InitializeLog\(\)|To enable the following instructions: |"
    r"(INFO|WARNING):tensorflow:|INFO: Created TensorFlow Lite |"
    r"fully_quantize: \d)")


# Warnings name the file that raised them, under this machine's Python.
SITE_PACKAGES = re.compile(r"\S*/(site|dist)-packages/")


def without_tensorflow_logs(notebook):
    """Drops TensorFlow's log lines (`TF_LOG_LINE`) from the stream outputs.

    The paths of installed packages in warnings are shortened to
    `.../site-packages/`: they are the machine's, not the lesson's.
    """
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream":
                text = "".join(
                    SITE_PACKAGES.sub(".../site-packages/", line)
                    for line in output.text.splitlines(True)
                    if not TF_LOG_LINE.match(line))
                if not text.strip():
                    continue
                output.text = text
            kept.append(output)
        cell.outputs = kept
    return notebook


def _names():
    return sorted(name[:-len(".ipynb")] for name in os.listdir(SOURCE_DIR)
                  if name.endswith(".ipynb"))


def render(name, overwrite=False):
    """Executes `notebooks/<name>.ipynb`; writes the copy; returns its seconds."""
    from benchmarks.common import source_commit
    from keras_ae import __version__

    target = os.path.join(RENDERED_DIR, f"{name}.ipynb")
    if os.path.exists(target) and not overwrite:
        raise SystemExit(f"{target} exists; pass --overwrite to replace it")
    notebook = nbformat.read(os.path.join(SOURCE_DIR, f"{name}.ipynb"),
                             as_version=4)
    # An inherited MPLBACKEND (Agg) would keep the figures out of the copy;
    # TensorFlow's C++ log lines (start-up, graph optimizer) are not the
    # lesson, and would land in the cells' outputs.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT, startup_timeout=180,
        kernel_name="python3", resources={"metadata": {"path": SOURCE_DIR}})
    start = time.perf_counter()
    client.execute(env=env)
    seconds = time.perf_counter() - start
    without_tensorflow_logs(notebook)
    notebook.metadata["keras_ae_render"] = {
        "keras_ae_version": __version__, "commit": source_commit(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "seconds": round(seconds, 1)}
    os.makedirs(RENDERED_DIR, exist_ok=True)
    staged = f"{target}.partial"
    nbformat.write(notebook, staged)
    os.replace(staged, target)
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python docs/render_notebooks.py",
        description="Execute the notebooks at their own settings into "
        "docs/notebooks/ for the documentation site.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="notebooks to render, without .ipynb "
                        "(default: all)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing executed copies")
    parser.add_argument("--strip-logs", action="store_true",
                        help="only drop TensorFlow's log lines from the "
                        "existing copies, without executing anything")
    args = parser.parse_args(argv)
    names = args.names or _names()
    unknown = sorted(set(names) - set(_names()))
    if unknown:
        parser.error(f"unknown notebook(s): {', '.join(unknown)}. Allowed: "
                     f"{', '.join(_names())}")
    if args.strip_logs:
        for name in names:
            target = os.path.join(RENDERED_DIR, f"{name}.ipynb")
            if os.path.exists(target):
                nbformat.write(without_tensorflow_logs(
                    nbformat.read(target, as_version=4)), target)
        return 0
    for name in names:
        target = os.path.join(RENDERED_DIR, f"{name}.ipynb")
        if os.path.exists(target) and not args.overwrite:
            parser.error(f"{target} exists; pass --overwrite to replace it")
    for name in names:
        print(f"{name}: {render(name, args.overwrite):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    raise SystemExit(main())
