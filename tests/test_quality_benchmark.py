"""The quality benchmark: its small mode runs every task, and every verdict follows from its figures.

The full run is a benchmark (`python -m benchmarks.quality`), not a test;
here the small mode (one epoch, one seed; the figures mean nothing) runs
every task, and each row's verdict, its time verdict included, is derived
again from the figures the report holds. A row of a kind without a rule
here fails the test, so a new task brings its rule along. Nothing is timed.
"""

import json

import pytest

from benchmarks.quality.__main__ import TASKS
from benchmarks.quality.__main__ import main
from benchmarks.quality.__main__ import markdown
from benchmarks.quality.__main__ import parse_args
from benchmarks.quality.context import TIME_FACTOR
from benchmarks.quality.context import ZOO
from benchmarks.quality.context import combine_seeds
from benchmarks.quality.context import row
from benchmarks.quality.context import zoo_recipe
from keras_ae.recipes import RECIPES

# Its module-scoped fixtures train models: one worker runs the whole module.
pytestmark = pytest.mark.xdist_group("quality_benchmark")


# Session scope: kept while the worker runs other modules' tests in between.
@pytest.fixture(scope="session")
def report(tmp_path_factory):
    output = tmp_path_factory.mktemp("quality")
    assert main(["--small", "--output-dir", str(output)]) == 0
    with open(output / "quality.json") as f:
        return {"json": json.load(f), "md": (output / "quality.md").read_text(),
                "dir": output}


# --- Each row kind's verdict, from the figures --------------------------------


def _classifier(r, details):
    tag = r["task"].split(", ")[1].split(" ")[0]
    accuracy = details["classifier"][tag][r["held_out"]]
    seconds = details["classifier"][tag]
    margin = 0.03 if tag == "10" else 0.0
    if r["metric"] == "accuracy, linear probe on frozen features":
        return (accuracy["probe"], accuracy["anchor"],
                lambda zoo, anchor: zoo >= anchor + margin, (None, None))
    if r["anchor_name"] == "keras.io convnet + same augmentation":
        return (accuracy["zoo"], accuracy["augmented_anchor"],
                lambda zoo, anchor: zoo >= anchor,
                (seconds["zoo_seconds"], seconds["augmented_anchor_seconds"]))
    return (accuracy["zoo"], accuracy["anchor"],
            lambda zoo, anchor: zoo >= anchor + margin,
            (seconds["zoo_seconds"], seconds["anchor_seconds"]))


def _compression(r, details):
    family = r["task"].split(", ")[1]
    scores = details["compression"][family][r["held_out"]]
    seconds = (details["compression"][family]["seconds"], None)
    if r["metric"] == "MSE per pixel":
        return (scores["ae_mse"], scores["pca_mse"],
                lambda zoo, anchor: zoo < anchor, seconds)
    return (scores["probe_accuracy_all"], scores["pca_accuracy_all"],
            lambda zoo, anchor: zoo >= anchor, seconds)


def _seconds(task_details):
    return task_details["zoo_seconds"], task_details["anchor_seconds"]


def _denoising(r, details):
    scores = details["denoising"][r["held_out"]]
    return (scores["zoo"]["psnr"], scores["anchor"]["psnr"],
            lambda zoo, anchor: zoo >= anchor + 1.0,
            _seconds(details["denoising"]))


def _occlusion(r, details):
    kind = r["task"].rsplit(", ", 1)[1]
    scores = details["occlusion"][r["held_out"]]
    base = scores["occluded"]["psnr"] + (1.0 if kind == "raw" else 3.0)
    return (scores[f"keras_ae {kind}"]["psnr"], scores[f"keras.io {kind}"]["psnr"],
            lambda zoo, anchor: zoo >= base, _seconds(details["occlusion"]))


def _vae(r, details):
    scores = details["vae"][r["held_out"]]
    z, a = scores["zoo"], scores["anchor"]
    if r["metric"] == "negative ELBO (nats)":
        return (z["negative_elbo"], a["negative_elbo"],
                lambda zoo, _: zoo <= 100.0, _seconds(details["vae"]))
    assert r["metric"] == f"IW-NLL, k={int(z['k'])} (nats)"
    return (z["iw_nll"], a["iw_nll"], lambda zoo, anchor: zoo <= anchor,
            _seconds(details["vae"]))


def _generation(r, details):
    scores = details["vae"][r["held_out"]]
    key, holds = {
        "digit FID": ("frechet_distance", lambda zoo, anchor: zoo < anchor),
        "class-share gap (TV from uniform)": (
            "share_gap", lambda zoo, anchor: zoo < anchor),
        "classes covered (>= 2% of samples)": (
            "classes_covered", lambda zoo, anchor: zoo >= anchor),
    }[r["metric"]]
    return (scores["zoo"][key], scores["anchor"][key], holds,
            _seconds(details["vae"]))


def _main_job(r, details):
    quality = details["main_job"]
    seconds = (quality["wall_seconds"], None)
    if r["metric"] == "reconstruction agreement":
        return (quality["reconstruction_agreement"], None,
                lambda zoo, _: zoo >= 0.85, seconds)
    assert r["metric"] == "classes covered by 1,000 samples"
    return quality["classes_covered"], None, lambda zoo, _: zoo >= 9, seconds


def _conditional(r, details):
    task = details["conditional"]
    seconds = (task["cvae_seconds"], task["vae_seconds"])
    judged = task["samples"]
    if r["metric"].startswith("asked class recognised ("):
        return (judged["zoo"]["recognised"], judged["anchor"]["recognised"],
                lambda zoo, _: zoo >= 0.95, seconds)
    if r["metric"] == "asked class recognised, worst class":
        return (judged["zoo"]["worst_class"], judged["anchor"]["worst_class"],
                lambda zoo, _: zoo >= 0.90, seconds)
    if r["metric"] == "samples drawn per sample kept":
        return (1.0, 1.0 / task["vae_acceptance"], lambda zoo, _: True, seconds)
    held_out = task[r["held_out"]]
    fids = held_out["class_fids"]
    if r["metric"] == "digit FID per class, mean of the classes":
        zoo, anchor = (sum(fids[k]) / len(fids[k]) for k in ("zoo", "anchor"))
        return zoo, anchor, lambda zoo, anchor: zoo <= anchor, seconds
    if r["metric"] == "digit FID per class, worst class":
        return (max(fids["zoo"]), max(fids["anchor"]),
                lambda zoo, anchor: zoo <= anchor, seconds)
    assert r["metric"] == "reconstruction agreement"
    agreement = held_out["agreement"]
    return (agreement["zoo"]["reconstruction_agreement"],
            agreement["anchor"]["reconstruction_agreement"],
            lambda zoo, anchor: zoo >= anchor, seconds)


def _discrete(r, details):
    task = details["discrete"]
    scores = task[r["held_out"]]
    z, a, v = scores["zoo"], scores["anchor"], scores["vae"]
    both = (task["zoo_seconds"] + task["zoo_prior_seconds"],
            task["anchor_seconds"] + task["anchor_prior_seconds"])
    if r["metric"] == "reconstruction PSNR (dB)":
        return (z["psnr"], a["psnr"], lambda zoo, anchor: zoo >= anchor,
                (task["zoo_seconds"], task["anchor_seconds"]))
    if r["metric"] == "share of the codebook in use":
        return (z["codebook_in_use"], a["codebook_in_use"],
                lambda zoo, _: zoo >= 0.5,
                (task["zoo_seconds"], task["anchor_seconds"]))
    if r["metric"].startswith("prior samples: classes covered"):
        return (z["classes_covered"], a["classes_covered"],
                lambda zoo, _: zoo >= 9, both)
    assert r["metric"] == "prior samples: digit FID"
    if r["anchor_name"] == "zoo conv VAE (latent 16)":
        return (z["frechet_distance"], v["frechet_distance"],
                lambda zoo, anchor: zoo <= anchor,
                (both[0], task["vae_seconds"]))
    return (z["frechet_distance"], a["frechet_distance"],
            lambda zoo, _: zoo <= v["frechet_distance"], both)


# (the task's name starts with, its rule): from a row and one seed's
# details, the rule gives the row's zoo and anchor figures and training
# times as the details recorded them, and its verdict.
RULES = (
    ("noise removal (sigma 0.5)", _denoising),
    ("occlusion removal, ", _occlusion),
    ("encoder as classifier, ", _classifier),
    ("compression, ", _compression),
    ("VAE (latent 16)", _vae),
    ("generation", _generation),
    ("main job (defaults)", _main_job),
    ("conditional generation (CVAE)", _conditional),
    ("VQ-VAE (", _discrete),
)


def rule_of(r):
    rules = [rule for start, rule in RULES if r["task"].startswith(start)]
    assert len(rules) == 1, f"a row without its rule in RULES: {r['task']}"
    return rules[0]


def check_row(r, details_by_seed):
    """Derives a row's figures and verdicts again, seed by seed."""
    seeds = r["seeds"]
    met, time_met = [], []
    for i, seed in enumerate(seeds):
        zoo, anchor, holds, (zoo_seconds, anchor_seconds) = rule_of(r)(
            r, details_by_seed[str(seed)])
        assert r["zoo_seeds"][i] == pytest.approx(zoo), r
        if anchor is not None:
            assert r["anchor_seeds"][i] == pytest.approx(anchor), r
        met.append(holds(zoo, anchor))
        assert r["zoo_seconds_seeds"][i] == zoo_seconds, r
        assert r["anchor_seconds_seeds"][i] == anchor_seconds, r
        if zoo_seconds and anchor_seconds:
            ratio = zoo_seconds / anchor_seconds
            assert r["time_ratio_seeds"][i] == pytest.approx(ratio), r
            time_met.append(ratio <= TIME_FACTOR)
        else:
            assert r["time_ratio_seeds"][i] is None, r
    assert r["met_seeds"] == met, r
    assert r["met"] == all(met), r
    assert r["time_met"] == (all(time_met) if time_met else None), r
    assert r["zoo"] == pytest.approx(sum(r["zoo_seeds"]) / len(seeds))
    assert r["zoo_min"] == min(r["zoo_seeds"]) and r["zoo_max"] == max(
        r["zoo_seeds"])


@pytest.mark.slow
def test_the_small_mode_runs_every_task(report):
    settings = report["json"]["settings"]
    assert settings["small"] and settings["seeds"] == [0]
    assert settings["tasks"] == list(TASKS)
    assert set(report["json"]["details"]) == set(TASKS)
    tasks = {r["task"] for r in report["json"]["rows"]}
    for start, _ in RULES:
        assert any(task.startswith(start) for task in tasks), start


@pytest.mark.slow
def test_every_verdict_follows_from_the_figures(report):
    rows = report["json"]["rows"]
    for r in rows:
        check_row(r, report["json"]["details_by_seed"])
    # Both models of a task were judged on the same held-out digits.
    vae = report["json"]["details"]["vae"]["embedded_validation"]
    assert set(vae) == {"zoo", "anchor"}
    assert vae["zoo"]["k"] == vae["anchor"]["k"]


@pytest.mark.slow
def test_the_report_says_what_ran_where(report):
    text = report["md"]
    assert ("Command: `python -m benchmarks.quality --small --output-dir <dir>`"
            in text)
    assert "keras.io denoising AE" in text and "keras.io VAE" in text
    for task, name in ZOO.items():
        assert f"{task}: `{name}`" in text
    assert len([line for line in text.splitlines() if line.startswith("| ")]) \
        == len(report["json"]["rows"]) + 1
    assert (report["dir"] / "quality_figures" / "samples_keras_ae.png").stat().st_size


# --- Without training ------------------------------------------------------------


def test_every_zoo_model_is_a_named_recipe():
    for task, name in ZOO.items():
        assert zoo_recipe(task) is RECIPES[name]
    # The benchmark's VAE keeps its measured recipe, beside the main job's.
    assert zoo_recipe("vae").training.learning_rate == 2e-3
    assert zoo_recipe("vae").training.batch_size == 64
    assert RECIPES["conv_vae_digits"].training.batch_size == 128


def _rows(zoo, anchor, zoo_seconds):
    return [row("noise removal (sigma 0.5)", "PSNR (dB)", "embedded_validation",
                zoo, anchor, "keras.io denoising AE", zoo >= anchor + 1.0,
                "anchor + 1 dB", zoo_seconds, 10.0),
            row("main job (defaults)", "reconstruction agreement",
                "embedded_validation", zoo / 20, None, "-", zoo / 20 >= 0.85,
                ">= 0.85", zoo_seconds)]


def test_several_seeds_give_means_ranges_and_the_worst_seeds_verdict():
    combined = combine_seeds({0: _rows(18.0, 16.0, 12.0),
                              1: _rows(16.5, 16.0, 16.0),
                              2: _rows(19.0, 17.0, 14.0)})
    denoising, main_job = combined
    assert denoising["zoo"] == pytest.approx(53.5 / 3)
    assert (denoising["zoo_min"], denoising["zoo_max"]) == (16.5, 19.0)
    assert denoising["zoo_seeds"] == [18.0, 16.5, 19.0]
    assert denoising["anchor"] == pytest.approx(49.0 / 3)
    # Seed 1 is 0.5 dB above its anchor, not 1: the worst seed decides.
    assert denoising["met_seeds"] == [True, False, True]
    assert denoising["met"] is False
    # Seed 1 also trains 1.6 times longer than its anchor.
    assert denoising["time_met_seeds"] == [True, False, True]
    assert denoising["time_met"] is False
    assert main_job["met_seeds"] == [True, False, True]  # 0.9, 0.825, 0.95
    assert main_job["met"] is False
    assert main_job["anchor"] is None and main_job["time_met"] is None
    every_seed = combine_seeds({0: _rows(18.0, 16.0, 12.0),
                                1: _rows(18.5, 16.0, 12.0)})
    assert every_seed[0]["met"] and every_seed[0]["time_met"]
    assert combine_seeds({5: _rows(18.0, 16.0, 12.0)})[0]["seeds"] == [5]
    with pytest.raises(ValueError, match="different table lines"):
        combine_seeds({0: _rows(18.0, 16.0, 12.0),
                       1: _rows(18.0, 16.0, 12.0)[:1]})


def test_a_verdict_that_does_not_follow_from_the_figures_is_caught():
    details = {"0": {"denoising": {
        "zoo_seconds": 12.0, "anchor_seconds": 10.0,
        "embedded_validation": {"zoo": {"psnr": 18.0},
                                "anchor": {"psnr": 16.0}}}}}
    (good,) = combine_seeds({0: _rows(18.0, 16.0, 12.0)[:1]})
    check_row(good, details)
    for field, value in (("met", False), ("time_met", False), ("zoo", 17.0)):
        bad = {**good, field: value}
        if field == "zoo":
            bad["zoo_seeds"] = [value]
        with pytest.raises(AssertionError):
            check_row(bad, details)


def test_the_table_shows_the_range_of_several_seeds():
    combined = combine_seeds({0: _rows(18.0, 16.0, 12.0),
                              1: _rows(19.0, 16.0, 12.0)})
    machine = {key: "-" for key in (
        "cpu", "logical_cpus", "usable_cpus", "memory", "gpus", "platform",
        "python", "tensorflow", "keras", "numpy", "scikit_learn",
        "ai_edge_litert", "onednn")}
    report = {"command": "python -m benchmarks.quality", "date": "today",
              "machine": machine, "load_average_before": None,
              "load_average_after": None, "wall_seconds": 1.0,
              "settings": {"training_examples": 4000, "epochs": 30,
                           "batch_size": 128, "seed": 0, "seeds": [0, 1],
                           "held_out": {"embedded_validation": 1000},
                           "recipes": dict(ZOO)},
              "rows": combined, "details": {}}
    text = markdown(report)
    assert "| 18.50 (18-19) |" in text
    assert "a target is met only when every seed meets it" in text


def test_the_seeds_default_to_three_and_to_one_in_the_small_mode(tmp_path):
    args, _ = parse_args(["--output-dir", str(tmp_path / "a"), "--seed", "4"])
    assert args.seeds == [4, 5, 6]
    args, _ = parse_args(["--small", "--output-dir", str(tmp_path / "b")])
    assert args.seeds == [0] and args.epochs == 1
    assert "main_job" in args.tasks  # the small mode runs every task


def test_repeated_seeds_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--seeds", "1", "1", "--output-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--seeds must be distinct integers >= 0. Received: 1 1" in (
        capsys.readouterr().err)


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


# --- Seeds run apart, merged -----------------------------------------------------


def _as_seed(report_json, seed):
    """A copy of a one-seed report as if its run had taken `seed`."""
    part = json.loads(json.dumps(report_json))
    (old,) = part["settings"]["seeds"]
    part["settings"]["seeds"] = [seed]
    part["rows_by_seed"] = {str(seed): part["rows_by_seed"].pop(str(old))}
    part["details_by_seed"] = {str(seed): part["details_by_seed"].pop(str(old))}
    part["command"] += f" --seeds {seed}"
    return part


@pytest.mark.slow
def test_runs_of_other_seeds_merge_into_one_report(report, tmp_path, capsys):
    parts = {}
    for seed in (2, 0):
        parts[seed] = tmp_path / f"seed{seed}.json"
        parts[seed].write_text(json.dumps(_as_seed(report["json"], seed)))
    output = tmp_path / "merged"
    assert main(["--merge", str(parts[2]), str(parts[0]),
                 "--output-dir", str(output)]) == 0
    merged = json.loads((output / "quality.json").read_text())
    assert merged["settings"]["seeds"] == [0, 2]
    assert merged["rows"] == combine_seeds(
        {seed: _as_seed(report["json"], seed)["rows_by_seed"][str(seed)]
         for seed in (0, 2)})
    # A merged report obeys the rules of a report of one run.
    for r in merged["rows"]:
        assert r["seeds"] == [0, 2]
        check_row(r, merged["details_by_seed"])
    assert [p["seeds"] for p in merged["parts"]] == [[2], [0]]
    assert merged["wall_seconds"] == pytest.approx(
        2 * report["json"]["wall_seconds"])
    text = (output / "quality.md").read_text()
    assert ("Command: `python -m benchmarks.quality --merge <file> <file> "
            "--output-dir <dir>`") in text
    assert text.count("Part: `python -m benchmarks.quality --small") == 2
    # Each part says which code measured it (the header says the first's).
    commit = report["json"]["machine"].get("commit") or "unknown"
    assert text.count(f"commit {commit};") == 2
    assert "a target is met only when every seed meets it" in text
    assert str(tmp_path) not in text

    # What cannot be merged is refused before anything is written.
    def refused(*names, message):
        with pytest.raises(SystemExit) as exit_info:
            main(["--merge", *map(str, names), "--output-dir",
                  str(tmp_path / "refused")])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "refused").exists()

    refused(parts[0], parts[0], message=f"seed 0 is in both {parts[0]}")
    other = _as_seed(report["json"], 1)
    other["settings"]["epochs"] = 30
    (tmp_path / "other.json").write_text(json.dumps(other))
    refused(parts[0], tmp_path / "other.json",
            message="differ in epochs: 30 and 1")
    (tmp_path / "old.json").write_text(json.dumps(
        {k: v for k, v in other.items() if k != "rows_by_seed"}))
    refused(parts[0], tmp_path / "old.json",
            message="is not a quality report that keeps its rows by seed")
    with pytest.raises(SystemExit):
        parse_args(["--merge", str(parts[0]), "--seeds", "3",
                    "--output-dir", str(tmp_path / "refused")])
    assert "--seeds, --small and --ablation do not apply" in capsys.readouterr().err
