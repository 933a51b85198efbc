"""Build hooks of the documentation: the notebooks join the site.

The notebooks live beside the package, committed without outputs (the tests
execute them there at small settings). The site renders each one under
`notebooks/` with the outputs of its executed copy in `docs/notebooks/`
(written by `docs/render_notebooks.py` at the notebook's own settings), as
long as the copy's code cells are the notebook's: the text comes from the
notebook, the outputs from the copy. A notebook without such a copy is
rendered without outputs; `tests/test_docs.py` fails on a copy whose code
differs from its notebook's.
"""

import glob
import json
import logging
import os
import shutil
import tempfile

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_DIR = os.path.join(ROOT, "notebooks")
RENDERED_DIR = os.path.join(ROOT, "docs", "notebooks")
log = logging.getLogger("mkdocs.hooks.notebooks")
_MERGED = []  # the build's temporary directories of merged notebooks


def read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def code_cells(notebook):
    return ["".join(cell["source"]) for cell in notebook["cells"]
            if cell["cell_type"] == "code"]


def with_outputs(source):
    """The notebook at `source` with its executed copy's outputs, or `None`.

    `None` when `docs/notebooks/` holds no copy of it or the copy's code
    cells are not the notebook's.
    """
    path = os.path.join(RENDERED_DIR, os.path.basename(source))
    if not os.path.isfile(path):
        return None
    notebook, executed = read(source), read(path)
    if code_cells(notebook) != code_cells(executed):
        return None
    runs = iter(cell for cell in executed["cells"] if cell["cell_type"] == "code")
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            run = next(runs)
            cell["outputs"] = run.get("outputs", [])
            cell["execution_count"] = run.get("execution_count")
    notebook["metadata"]["keras_ae_render"] = executed["metadata"].get(
        "keras_ae_render", {})
    return notebook


# Before mkdocs-jupyter's own `on_files`, which turns the notebooks it finds
# into pages: added after it, they would be copied as plain files.
@event_priority(100)
def on_files(files, config):
    merged_dir = tempfile.mkdtemp(prefix="keras_ae-docs-notebooks-")
    _MERGED.append(merged_dir)
    for name in os.listdir(RENDERED_DIR) if os.path.isdir(RENDERED_DIR) else []:
        copy = files.get_file_from_path(f"notebooks/{name}")
        if copy is not None:  # the copies are sources of outputs, not pages
            files.remove(copy)
    for source in sorted(glob.glob(os.path.join(SOURCE_DIR, "*.ipynb"))):
        name = os.path.basename(source)
        notebook = with_outputs(source)
        src_dir = ROOT
        if notebook is not None:
            os.makedirs(os.path.join(merged_dir, "notebooks"), exist_ok=True)
            with open(os.path.join(merged_dir, "notebooks", name), "w",
                      encoding="utf-8") as f:
                json.dump(notebook, f)
            src_dir = merged_dir
        else:
            log.info("notebooks/%s: no executed copy of this code in "
                     "docs/notebooks/; rendered without outputs", name)
        files.append(File(f"notebooks/{name}", src_dir=src_dir,
                          dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files


def on_post_build(config):
    while _MERGED:
        shutil.rmtree(_MERGED.pop(), ignore_errors=True)
