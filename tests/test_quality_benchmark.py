"""The quality benchmark in its small mode: it runs the zoo and the anchors side by side.

The full run is a benchmark (`python -m benchmarks.quality`), not a test;
here the small mode checks that every row compares the two models it names
and that its verdict follows from its figures. Nothing is timed.
"""

import json

import pytest

from benchmarks.quality.__main__ import main
from benchmarks.quality.__main__ import parse_args


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    output = tmp_path_factory.mktemp("quality")
    assert main(["--small", "--tasks", "denoising", "occlusion", "vae",
                 "--output-dir", str(output)]) == 0
    with open(output / "quality.json") as f:
        return {"json": json.load(f), "md": (output / "quality.md").read_text(),
                "dir": output}


@pytest.mark.slow
def test_each_row_compares_the_zoo_with_its_anchor(report):
    rows = report["json"]["rows"]
    assert {r["task"] for r in rows} >= {
        "noise removal (sigma 0.5)", "occlusion removal, raw",
        "occlusion removal, inpainted", "VAE (latent 16)", "generation"}
    details = report["json"]["details"]
    for r in rows:
        assert r["held_out"] == "embedded_validation"
        if r["task"] == "noise removal (sigma 0.5)":
            scores = details["denoising"]["embedded_validation"]
            assert r["zoo"] == scores["zoo"]["psnr"]
            assert r["anchor"] == scores["anchor"]["psnr"]
            assert r["met"] == (r["zoo"] >= r["anchor"] + 1.0)
        if r["task"].startswith("occlusion removal"):
            scores = details["occlusion"]["embedded_validation"]
            margin = 1.0 if r["task"].endswith("raw") else 3.0
            assert r["met"] == (r["zoo"] >= scores["occluded"]["psnr"] + margin)
        if r["metric"] == "digit FID":
            assert r["met"] == (r["zoo"] < r["anchor"])
        if r["zoo_seconds"] and r["anchor_seconds"]:
            assert r["time_ratio"] == pytest.approx(
                r["zoo_seconds"] / r["anchor_seconds"])
    # Both models of a task were judged on the same held-out digits.
    vae = details["vae"]["embedded_validation"]
    assert set(vae) == {"zoo", "anchor"}
    assert vae["zoo"]["k"] == vae["anchor"]["k"]


@pytest.mark.slow
def test_the_report_says_what_ran_where(report):
    text = report["md"]
    assert "Command: `python -m benchmarks.quality --small --tasks denoising " \
           "occlusion vae --output-dir <dir>`" in text
    assert "keras.io denoising AE" in text and "keras.io VAE" in text
    assert len([line for line in text.splitlines() if line.startswith("| ")]) \
        == len(report["json"]["rows"]) + 1
    assert (report["dir"] / "quality_figures" / "samples_keras_ae.png").stat().st_size


def test_existing_results_are_never_overwritten(tmp_path, capsys):
    (tmp_path / "quality.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--output-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "quality.json already exist(s)" in capsys.readouterr().err
    assert (tmp_path / "quality.json").read_text() == "{}"


def test_a_directory_without_the_mnist_files_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--mnist-dir", str(tmp_path), "--output-dir",
                    str(tmp_path / "out")])
    assert "--mnist-dir holds no t10k-images-idx3-ubyte" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
