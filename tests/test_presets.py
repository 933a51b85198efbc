"""The presets: they load offline in one line, and their model cards prove themselves.

Every preset that ships in `keras_ae/presets/` is loaded in a fresh process
(as a user's first `from_preset` would be) and its card's figures are
recomputed on the embedded validation data with `benchmarks.presets.measure`,
the function that wrote them; a figure that drifts beyond the tolerance
recorded beside it fails the test. The weights must match the SHA-256 of
`metadata.json`, and a damaged preset is refused with one clear line.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import keras_ae
from keras_ae import cli
from keras_ae import presets

# The card figures are recomputed by one session fixture: one worker runs
# the module.
pytestmark = pytest.mark.xdist_group("presets")

NAMES = [info.name for info in keras_ae.list_presets()]
# The presets the zoo promises to ship, at least.
PROMISED = {"conv_vae_digits", "conv_denoiser_digits", "conv_inpainter_digits",
            "conv_classifier_digits", "lstm_ae_digits", "transformer_ae_digits",
            "lstm_anomaly_ecg", "conv_cvae_digits", "conv_rae_gmm_digits",
            "conv_vq_vae_digits"}
MAX_TOTAL_BYTES = 20 * 1024 * 1024


def test_a_group_of_tests_runs_on_one_worker(request):
    # pytest-xdist's `--dist loadgroup` sends the tests whose node id ends
    # with their group to one worker; with pytest 9 the suffix was never
    # added, and every group's fixtures were made once per worker.
    if getattr(request.config, "workerinput", None) is None or not (
            request.config.getvalue("loadgroup")):
        pytest.skip("not run by pytest-xdist with --dist loadgroup")
    assert request.node.nodeid.endswith("@presets"), request.node.nodeid


def test_the_promised_presets_ship_within_the_size_budget():
    assert PROMISED <= set(NAMES)
    total = sum(os.path.getsize(os.path.join(root, name))
                for root, _, names in os.walk(presets.PRESETS_DIR)
                for name in names if not name.endswith((".py", ".pyc")))
    assert total <= MAX_TOTAL_BYTES, f"{total / 2**20:.1f} MiB of presets"


def test_list_presets_filters_by_family_objective_and_application():
    everything = keras_ae.list_presets()
    assert [p.name for p in everything] == sorted(p.name for p in everything)
    conv = keras_ae.list_presets(family="conv")
    assert conv and all(p.family == "conv" for p in conv)
    assert {p.name for p in conv} < {p.name for p in everything}
    vae = keras_ae.list_presets(objective="vae")
    assert "conv_vae_digits" in {p.name for p in vae}
    noise = keras_ae.list_presets(application="noise removal")
    assert [p.name for p in noise] == ["conv_denoiser_digits"]
    assert keras_ae.list_presets(family="no_such_family") == []
    for info in everything:
        assert info.description and os.path.isdir(info.path)


# Every promised preset in one fresh process, which trains the digit judge
# once for all the cards that need it (as `benchmarks.presets` does).
_RECOMPUTE = """
import json, sys
import keras_ae
from benchmarks import presets as plans
for name in sys.argv[1:]:
    model = keras_ae.from_preset(name)
    metadata = keras_ae.presets.load_preset_metadata(keras_ae.presets.preset_path(name))
    figures, _ = plans.measure(metadata.get("kind") or plans.PLANS[name], model, metadata)
    print("FIGURES", name, json.dumps(figures), flush=True)
"""


@pytest.fixture(scope="session")
def recomputed():
    result = subprocess.run(
        [sys.executable, "-c", _RECOMPUTE, *sorted(PROMISED)],
        capture_output=True, text=True, timeout=1800,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    figures = {}
    for line in result.stdout.splitlines():
        if line.startswith("FIGURES "):
            _, name, text = line.split(" ", 2)
            figures[name] = json.loads(text)
    return figures, result


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROMISED))
def test_each_card_figure_is_recomputed_from_the_shipped_files(name, recomputed):
    metadata = presets.load_preset_metadata(presets.preset_path(name))
    figures, result = recomputed
    assert name in figures, result.stderr[-3000:]
    recomputed = figures[name]
    card = metadata["figures"]
    assert set(recomputed) >= set(card)
    for figure, value in card.items():
        tolerance = metadata["tolerances"][figure]
        allowed = max(tolerance.get("absolute", 0.0),
                      tolerance.get("relative", 0.0) * abs(value))
        assert abs(recomputed[figure] - value) <= allowed, (
            f"{name}: {figure} is {recomputed[figure]:.6g}, the card says "
            f"{value:.6g} (tolerance {allowed:.3g})")
    # The card states the figures it was made with.
    card_text = open(os.path.join(presets.preset_path(name), "README.md")).read()
    for figure in card:
        assert f"| {figure} |" in card_text


def test_a_preset_loads_offline_in_a_fresh_process_in_one_line():
    code = ("import keras_ae; m = keras_ae.from_preset('conv_vae_digits'); "
            "print(m.sample(4).shape)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "(4, 28, 28, 1)"


def test_the_metadata_records_versions_hashes_and_the_recipe():
    for name in NAMES:
        path = presets.preset_path(name)
        metadata = presets.load_preset_metadata(path)
        assert metadata["weights_sha256"] == presets.file_sha256(
            os.path.join(path, presets.WEIGHTS_FILE))
        for file_name, digest in metadata.get("files_sha256", {}).items():
            assert presets.file_sha256(os.path.join(path, file_name)) == digest
        assert metadata["keras_ae_version"] and metadata["keras_version"]
        assert metadata["parameter_count"] > 0
        assert metadata["recipe"]["name"] in keras_ae.recipes.list_recipes()
        assert metadata["training_seconds"] > 0
        assert "benchmarks.presets" in metadata["command"]


@pytest.fixture
def copied(tmp_path):
    """A copy of the main job's preset that a test may damage."""
    target = tmp_path / "conv_vae_digits"
    shutil.copytree(presets.preset_path("conv_vae_digits"), target)
    return target


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_preset_directory_loads_and_a_damaged_one_is_refused(copied):
    x = keras_ae.data.load_digits()[1][0][:4]
    loaded = keras_ae.from_preset(str(copied))
    shipped = keras_ae.from_preset("conv_vae_digits")
    np.testing.assert_array_equal(loaded.reconstruct(x), shipped.reconstruct(x))
    _flip_a_byte(copied / "model.weights.h5")
    with pytest.raises(ValueError, match="SHA-256 of model.weights.h5 does not "
                       "match metadata.json"):
        keras_ae.from_preset(str(copied))
    os.remove(copied / "config.json")
    with pytest.raises(FileNotFoundError, match="not a complete preset: "
                       "config.json missing"):
        keras_ae.from_preset(str(copied))


def test_weights_of_another_architecture_are_refused(copied):
    other = presets.preset_path("conv_denoiser_digits")
    shutil.copy(os.path.join(other, "model.weights.h5"), copied / "model.weights.h5")
    with pytest.raises(ValueError, match="does not fit the model of config.json"):
        keras_ae.from_preset(str(copied), verify=False)


def test_an_unknown_preset_names_the_close_ones():
    with pytest.raises(ValueError, match="did you mean 'conv_vae_digits'"):
        keras_ae.from_preset("conv_vae_digit")


@pytest.mark.slow
def test_a_run_directory_loads_and_saves_as_a_preset(tmp_path):
    runs = tmp_path / "runs"
    code = cli.main(["train", "--family", "dense", "--objective", "ae",
                     "--latent-dim", "2", "--option", "hidden_units=[8]",
                     "--epochs", "1", "--no-judge", "--no-export",
                     "--output-dir", str(runs), "--run-name", "mine"])
    assert code == 0
    model = keras_ae.from_preset(str(runs / "mine"))
    assert model.family == "dense"
    directory = keras_ae.save_to_preset(str(runs / "mine"), str(tmp_path / "p"),
                                        description="mine")
    again = keras_ae.from_preset(directory)
    x = keras_ae.data.load_digits()[1][0][:4]
    np.testing.assert_array_equal(again.reconstruct(x), model.reconstruct(x))
    metadata = presets.load_preset_metadata(directory)
    assert metadata["run_config"]["model"]["family"] == "dense"
    with pytest.raises(FileExistsError):
        keras_ae.save_to_preset(str(runs / "mine"), directory)


@pytest.mark.slow
def test_export_preset_writes_a_servable_version_without_training(tmp_path):
    base = tmp_path / "served"
    assert cli.main(["export", "--preset", "conv_denoiser_digits",
                     "--base-dir", str(base)]) == 0
    version = base / "conv_denoiser_digits" / "1"
    assert (version / "saved_model.pb").is_file()
    assert (base / "models.config").is_file()
    assert (base / "conv_denoiser_digits" / "conv_denoiser_digits_v1.tflite").is_file()
    assert not (base / "conv_denoiser_digits" / "2").exists()


@pytest.mark.slow
def test_apply_a_preset_to_a_folder_of_images_and_to_a_csv(tmp_path):
    import tensorflow as tf

    (x, _), _ = keras_ae.data.load_digits()
    folder = tmp_path / "noisy"
    folder.mkdir()
    noisy = np.clip(x[:6] + 0.5 * np.random.default_rng(0).normal(size=x[:6].shape),
                    0, 1)
    for index, image in enumerate(noisy):
        png = tf.io.encode_png((image * 255).astype("uint8")).numpy()
        (folder / f"{index}.png").write_bytes(png)
    assert cli.main(["apply", str(folder), "--preset", "conv_denoiser_digits",
                     "--output-dir", str(tmp_path / "restored")]) == 0
    restored = sorted((tmp_path / "restored").glob("restored_*.png"))
    assert len(restored) == 6
    assert (tmp_path / "restored" / "restorations.png").is_file()

    task = keras_ae.data.make_mitdb_task()
    rows = np.concatenate([task["x_test"][task["y_test"] == 0][:20],
                           task["x_test"][task["y_test"] == 1][:20]])[..., 0]
    raw = rows * task["scale"] + 1.0  # an offset the centring removes
    np.savetxt(tmp_path / "series.csv", raw, delimiter=",")
    assert cli.main(["apply", str(tmp_path / "series.csv"), "--preset",
                     "lstm_anomaly_ecg", "--output-dir",
                     str(tmp_path / "scored")]) == 0
    scores = np.genfromtxt(tmp_path / "scored" / "scores.csv", delimiter=",",
                           names=True)
    assert len(scores) == 40
    # The anomalous windows score higher than the normal ones.
    assert scores["score"][20:].mean() > scores["score"][:20].mean()
