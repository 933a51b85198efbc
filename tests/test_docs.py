"""The documentation: every example runs as it stands, and the site builds strictly.

Every fenced `python` block of README.md and docs/ runs in a fresh process
(forked from one that has imported TensorFlow, not keras_ae: see
`block_runner`) in an empty directory, with one documented substitution (`epochs=N` and
`training_recipe(N, ...)` become 1, `--epochs N` becomes `--epochs 1`); every
`bash` block runs the same way unless a comment in it says it is not run by
the tests and why. The site is built with MkDocs in strict mode: a broken
link, a missing page or a docstring the API reference cannot render fails.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import block_runner
import pytest

import keras_ae

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)
NOT_RUN = "# not run by the tests"
SUBSTITUTIONS = [
    (re.compile(r"\bepochs=\d+"), "epochs=1"),
    (re.compile(r"training_recipe\(\d+"), "training_recipe(1"),
    (re.compile(r"--epochs \d+"), "--epochs 1"),
]


def blocks():
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for number, match in enumerate(FENCE.finditer(text), start=1):
            language, code = match.group(1), match.group(2)
            if language in ("python", "bash"):
                found.append(pytest.param(
                    language, code, id=f"{page.relative_to(ROOT)}#{number}"))
    return found


def small(code):
    for pattern, replacement in SUBSTITUTIONS:
        code = pattern.sub(replacement, code)
    return code


def test_the_substitution_only_shortens_training():
    code = ("model.fit(x, epochs=30, callbacks=training_recipe(30, 3e-3))\n"
            "python -m keras_ae train --epochs 30 --batch-size 30\n")
    assert small(code) == ("model.fit(x, epochs=1, callbacks=training_recipe(1, "
                           "3e-3))\npython -m keras_ae train --epochs 1 "
                           "--batch-size 30\n")


def test_every_page_has_examples_and_the_shell_blocks_say_why_they_do_not_run():
    for page in PAGES:
        for match in FENCE.finditer(page.read_text(encoding="utf-8")):
            if match.group(1) == "bash" and NOT_RUN in match.group(2):
                line = next(l for l in match.group(2).splitlines() if NOT_RUN in l)
                assert len(line.split(NOT_RUN, 1)[1].strip(" :")) > 5, (
                    f"{page.name}: say why the block is not run: {line!r}")


def test_a_python_block_runs_as_python_c_would(tmp_path):
    """The warm runner: a new process, its own exit code, no keras_ae yet."""
    run = block_runner.run_python
    (tmp_path / "a").mkdir()
    code, output = run("import os, sys\n"
                       "print(os.getcwd(), __name__, sys.argv, 'keras_ae' in "
                       "sys.modules, 'tensorflow' in sys.modules, os.environ['X'])",
                       tmp_path / "a", {"X": "seen"}, 60)
    assert (code, output.split()) == (0, [str(tmp_path / "a"), "__main__",
                                          "['-c']", "False", "True", "seen"])
    assert "X" not in os.environ
    (tmp_path / "b").mkdir()
    code, output = run("raise ValueError('broken example')", tmp_path / "b", {},
                       60)
    assert code == 1 and "ValueError: broken example" in output
    (tmp_path / "c").mkdir()
    assert run("import sys; sys.exit(3)", tmp_path / "c", {}, 60)[0] == 3
    (tmp_path / "d").mkdir()
    code, _ = run("import time; time.sleep(60)", tmp_path / "d", {}, 1)
    assert code is not None and code < 0  # killed at the timeout


@pytest.mark.slow
@pytest.mark.parametrize("language, code", blocks())
def test_the_example_runs(language, code, tmp_path):
    if language == "bash" and NOT_RUN in code:
        pytest.skip(code.split(NOT_RUN, 1)[1].splitlines()[0].strip(" :"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
               "PYTHONPATH", "")]),
           "MPLBACKEND": "Agg"}
    if language == "python":
        code, output = block_runner.run_python(small(code), tmp_path, env, 900)
        assert code == 0, output[-5000:]
        return
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", small(code)],
                            cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, (result.stdout[-2000:] + result.stderr[-3000:])


@pytest.mark.slow
def test_the_documentation_site_builds_strictly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
         str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
        timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "index.html").is_file()
    # Every notebook is a page; those with an executed copy show its figures.
    rendered = {path.name for path in RENDERED}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = tmp_path / "site" / "notebooks" / notebook.stem / "index.html"
        assert page.is_file(), f"{notebook.name} is not a page of the site"
        html = page.read_text(encoding="utf-8")
        if notebook.name in rendered:
            assert "data:image/png" in html and "KEY_FIGURES" in html, (
                f"{notebook.name}: the page lacks the executed copy's outputs")


SNIPPET = re.compile(r'^--8<-- "([^"]+)"', re.M)
MEASURED = re.compile(r"^Measured: keras_ae (\S+)", re.M)


def test_every_included_result_was_measured_by_this_version():
    """A result file the docs include says which version measured it: this one."""
    included = {path for page in PAGES
                for path in SNIPPET.findall(page.read_text(encoding="utf-8"))}
    assert any(path.startswith("benchmarks/results/") for path in included)
    for path in sorted(included):
        if not path.startswith("benchmarks/results/"):
            continue
        found = MEASURED.search((ROOT / path).read_text(encoding="utf-8"))
        assert found, f"{path} does not say which version measured it"
        assert found.group(1) == keras_ae.__version__, (
            f"{path} was measured by keras_ae {found.group(1)}, the package "
            f"is {keras_ae.__version__}: run its benchmark again")


RENDERED = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))


def _hooks():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import hooks
    finally:
        sys.path.remove(str(ROOT / "docs"))
    return hooks


@pytest.mark.parametrize("path", RENDERED, ids=[p.stem for p in RENDERED])
def test_each_rendered_notebook_is_its_notebook_executed(path):
    """The site's executed copy ran the notebook's code, to the end."""
    hooks = _hooks()
    source = ROOT / "notebooks" / path.name
    assert source.is_file(), f"{path.name} renders a notebook that is gone"
    rendered = hooks.read(path)
    assert hooks.code_cells(rendered) == hooks.code_cells(hooks.read(source)), (
        f"docs/notebooks/{path.name} ran other code than the notebook: run "
        f"python docs/render_notebooks.py {path.stem} --overwrite")
    code = [cell for cell in rendered["cells"] if cell["cell_type"] == "code"]
    assert all(cell.get("execution_count") for cell in code), path.name
    assert not [output for cell in code for output in cell.get("outputs", [])
                if output["output_type"] == "error"], path.name
    # The last cell prints the key figures: the run went to the end.
    assert any("KEY_FIGURES " in "".join(output.get("text", ""))
               for output in code[-1]["outputs"]), path.name
    meta = rendered["metadata"]["keras_ae_render"]
    assert meta["keras_ae_version"] == keras_ae.__version__, meta


def test_the_site_takes_outputs_only_from_a_copy_of_the_same_code(
        tmp_path, monkeypatch):
    hooks = _hooks()

    def notebook(code, text, count=None, outputs=()):
        return {"cells": [
            {"cell_type": "markdown", "source": [text], "metadata": {}},
            {"cell_type": "code", "source": [code], "metadata": {},
             "outputs": list(outputs), "execution_count": count}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}

    output = {"output_type": "stream", "name": "stdout", "text": "1\n"}
    (tmp_path / "n.ipynb").write_text(json.dumps(notebook("print(1)", "new")))
    (tmp_path / "rendered").mkdir()
    copy = tmp_path / "rendered" / "n.ipynb"
    copy.write_text(json.dumps(notebook("print(1)", "old", 1, [output])))
    monkeypatch.setattr(hooks, "RENDERED_DIR", str(tmp_path / "rendered"))
    merged = hooks.with_outputs(str(tmp_path / "n.ipynb"))
    assert merged["cells"][0]["source"] == ["new"]  # the notebook's text
    assert merged["cells"][1]["outputs"] == [output]  # the copy's outputs
    copy.write_text(json.dumps(notebook("print(2)", "old", 1, [output])))
    assert hooks.with_outputs(str(tmp_path / "n.ipynb")) is None
