"""The objectives benchmark in its small mode: its files, and verdicts that follow from its figures.

The full run is a benchmark (`python -m benchmarks.objectives`), not a
test; here the small mode trains every objective for one epoch and the
test checks what the report is made of. Nothing is timed.
"""

import json
import operator

import pytest

from benchmarks.objectives import RUNS
from benchmarks.objectives import main
from benchmarks.objectives import parse_args

# Its module-scoped fixtures train models: one worker runs the whole module.
pytestmark = pytest.mark.xdist_group("objectives_benchmark")

COMPARISONS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


# Session scope: kept while the worker runs other modules' tests in between.
@pytest.fixture(scope="session")
def report(tmp_path_factory):
    output = tmp_path_factory.mktemp("objectives")
    assert main(["--small", "--output-dir", str(output)]) == 0
    with open(output / "objectives.json") as f:
        return {"json": json.load(f), "md": (output / "objectives.md").read_text(),
                "dir": output}


def _lookup(results, path):
    for key in path:
        results = results[key]
    return results


@pytest.mark.slow
def test_every_objective_is_scored_on_the_same_digits(report):
    data = report["json"]
    assert data["runs"] == list(RUNS)
    held = data["settings"]["held_out"]
    assert list(held) == ["embedded_validation"]
    for label in data["runs"]:
        result = data["results"][label][
            "embedded_validation"]
        assert {"mse", "agreement", "own_loss", "gmm"} <= set(result)
        assert result["gmm"]["classes_covered"] <= 10
        if label in ("ae", "rae"):
            assert "prior" not in result and "iw_nll" not in result
        else:
            assert result["iw_examples"] == data["settings"]["iw_examples"]
            assert result["k"] == data["settings"]["iw_k"]
            assert "prior" in result
        assert data["results"][label]["step_ratio"] > 0
    assert data["results"]["vae"]["step_ratio"] == pytest.approx(1.0)
    iwae = data["results"]["iwae"]
    assert iwae["step_ratio"] == pytest.approx(
        iwae["step_ratio_per_example"] / iwae["options"]["num_samples"])


@pytest.mark.slow
def test_each_verdict_follows_from_its_figures(report):
    data = report["json"]
    results = data["results"]
    targets = [v["target"] for v in data["verdicts"]]
    for fragment in ("IWAE (k=5) IW-NLL at least 1 nat below", "VampPrior IW-NLL",
                     "AE + GMM digit FID", "RAE + GMM samples cover",
                     "decomposition sums to the KL", "trains in at most 2.5x",
                     "latent traversal figure", "-ELBO at most 100"):
        assert any(fragment in t for t in targets), fragment
    for v in data["verdicts"]:
        if "value_from" not in v:  # the figure's file
            assert v["met"] == (report["dir"] / v["value"]).is_file()
            continue
        assert v["value"] == _lookup(results, v["value_from"])
        if v["threshold_from"] is None:
            assert v["threshold"] == v["constant"]
        else:
            assert v["threshold"] == pytest.approx(
                v["factor"] * _lookup(results, v["threshold_from"]) + v["offset"])
        assert v["met"] == COMPARISONS[v["comparison"]](v["value"], v["threshold"])


@pytest.mark.slow
def test_the_report_says_what_ran_where(report):
    text = report["md"]
    assert "Command: `python -m benchmarks.objectives --small --output-dir <dir>`" in text
    assert "Smoke run" in text
    for label in RUNS:
        assert f"| {label} |" in text
    figures = report["json"]["figures"]
    for name in ("prior_samples", "gmm_samples", "traversals"):
        assert (report["dir"] / figures[name]).stat().st_size > 0


def test_existing_results_are_never_overwritten(tmp_path, capsys):
    (tmp_path / "objectives.md").write_text("kept\n")
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--output-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "objectives.md already exist(s)" in capsys.readouterr().err
    assert (tmp_path / "objectives.md").read_text() == "kept\n"


def test_bad_options_are_refused_before_anything_runs(tmp_path, capsys):
    for argv, message in ((["--iw-k", "0"], "--iw-k must be > 0"),
                          (["--runs", "ae"], "--runs must include vae"),
                          (["--mnist-dir", str(tmp_path)], "--mnist-dir holds no")):
        with pytest.raises(SystemExit):
            parse_args([*argv, "--output-dir", str(tmp_path / "out")])
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
