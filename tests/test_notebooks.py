"""The notebooks: committed clean, run top to bottom, each model beats its baseline.

Every notebook in `notebooks/` has exactly one code cell tagged `parameters`
(papermill's convention) that assigns upper-case constants, and ends with a
code cell that prints its key figures as one line, `KEY_FIGURES {json}`: the
model's figure and the baselines it must beat, all computed by the notebook.
The execution test appends smaller values to the parameters cell,
papermill-style, runs the notebook with `nbclient` in the `python3` kernel of
this interpreter, with `notebooks/` as the working directory, fails on the
first cell that raises, then reads the key figures and checks them against
the notebook's own baselines (`KEY_FIGURE_CHECKS`). A notebook added to
`notebooks/` is executed without touching this file; the test then asks for
its check.
"""

import ast
import json
import os
import pathlib

import nbformat
import pytest

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = (
    "01_what_is_an_autoencoder.ipynb",
    "02_dimensionality_reduction.ipynb",
    "03_noise_removal.ipynb",
    "04_occlusion_removal.ipynb",
    "05_encoder_as_classifier.ipynb",
    "06_variational_autoencoder.ipynb",
    "07_sequence_anomaly_detection.ipynb",
    "08_deployment.ipynb",
)
# The small values injected into the parameters cells; a notebook gets those
# of the names its parameters cell assigns. They are small, yet large enough
# for each model to beat its baseline by a clear margin whatever the seed: at
# batch 128 the conv and dense models were still on their initial plateau
# after 1 to 3 epochs (restored PSNR below the noisy input's, squared error
# of the mean digit), so the tests take more steps with smaller batches.
TEST_PARAMETERS = {
    "EPOCHS": 3,
    "NUM_TRAIN": 2000,
    "BATCH_SIZE": 32,
    "LATENT_DIMS": (2, 8),
    "LABELS_PER_CLASS": (10,),
    "FINE_TUNE_EPOCHS": 20,
    "IW_SAMPLES": 5,
    "BETAS": (1.0,),
    "KL_WARMUP_EPOCHS": 1,
    "NUM_SAMPLES": 500,
    "CLASSIFIER_EPOCHS": 2,
    "WINDOW": 12,
}
# Per notebook, on top of TEST_PARAMETERS.
NOTEBOOK_PARAMETERS = {
    "03_noise_removal": {"LEARNING_RATE": 2e-3},
    # After 3 epochs inpainting gained only 0.4 to 1.1 dB; after 5, 2.2 to 2.4.
    "04_occlusion_removal": {"LEARNING_RATE": 2e-3, "EPOCHS": 5},
    # After 3 epochs SEED=1 was still on the initial plateau (negative ELBO
    # 193 nats, samples of 4 classes); 4 epochs got every seed off it.
    "06_variational_autoencoder": {"NUM_TRAIN": 4000, "EPOCHS": 4,
                                   "VAE_LEARNING_RATE": 2e-3},
    # Parity does not need a trained model.
    "08_deployment": {"EPOCHS": 1, "NUM_TRAIN": 512},
}
# Every notebook must be shrinkable: its parameters cell assigns these.
REQUIRED_TEST_PARAMETERS = ("EPOCHS",)
CELL_TIMEOUT = 600  # seconds per cell
KERNEL_NAME = "python3"
KEY_FIGURES_PREFIX = "KEY_FIGURES "


def notebook_id(path):
    return path.stem


def read(path):
    return nbformat.read(path, as_version=4)


def parameters_cells(notebook):
    return [cell for cell in notebook.cells
            if "parameters" in cell.get("metadata", {}).get("tags", [])]


def parameter_names(cell):
    """The names the parameters cell assigns, in order; every value a literal."""
    names = []
    for node in ast.parse(cell.source).body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not (
            isinstance(node.targets[0], ast.Name)
        ):
            raise AssertionError(
                "A parameters cell holds only `NAME = literal` assignments. "
                f"Received: {ast.unparse(node)!r}")
        ast.literal_eval(node.value)  # raises on a non-literal value
        names.append(node.targets[0].id)
    return names


def with_parameters(notebook, values):
    """Appends `NAME = value` lines to the parameters cell (papermill-style)."""
    (cell,) = parameters_cells(notebook)
    names = parameter_names(cell)
    overrides = {name: value for name, value in values.items() if name in names}
    if overrides:
        cell.source += "\n# Injected by tests/test_notebooks.py\n" + "\n".join(
            f"{name} = {value!r}" for name, value in overrides.items())
    return notebook, overrides


def execute(notebook, timeout=CELL_TIMEOUT):
    """Executes `notebook` in place with `notebooks/` as working directory."""
    import nbclient

    client = nbclient.NotebookClient(
        notebook, timeout=timeout, startup_timeout=180,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    # An inherited MPLBACKEND (e.g. Agg in CI) would replace the kernel's
    # inline backend, and the figures would not reach the notebook.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    client.execute(env=env)
    return notebook


def injected_parameters(path):
    """The values injected into the notebook at `path`."""
    return {**TEST_PARAMETERS, **NOTEBOOK_PARAMETERS.get(path.stem, {})}


def key_figures(notebook):
    """The dict printed by the last code cell as `KEY_FIGURES {json}`."""
    last = [cell for cell in notebook.cells if cell.cell_type == "code"][-1]
    lines = [line for output in last.outputs if output.output_type == "stream"
             for line in output.text.splitlines()
             if line.startswith(KEY_FIGURES_PREFIX)]
    assert len(lines) == 1, (
        f"the last code cell must print one {KEY_FIGURES_PREFIX!r} line; "
        f"found {len(lines)}")
    return json.loads(lines[0][len(KEY_FIGURES_PREFIX):])


# --- What each notebook's model must beat, at the test's settings -------------
# Each margin was derived by running the notebook at the settings above with
# SEED = 0, 1 and 2; the comments give the figures seen, and each margin sits
# well inside the worst of them.

def check_what_is_an_autoencoder(figures):
    # Squared error per held-out digit, SEED 0/1/2: MSE model 29.5/29.3/30.1,
    # BCE model 29.1/30.6/29.6, mean digit 53.1 (ratio at most 0.58).
    for model in ("mse_model", "bce_model"):
        assert figures[f"{model}_squared_error"] < (
            0.75 * figures["mean_digit_squared_error"]), figures


def check_dimensionality_reduction(figures):
    # Held-out MSE per pixel, SEED 0/1/2, over the mean digit's 0.0677:
    # d=2 0.0609/0.0608/0.0598 (ratio <= 0.90), d=8 0.0489/0.0445/0.0459
    # (<= 0.72); 5-NN accuracy of the 2-D codes 0.338/0.351/0.346.
    sizes = sorted(int(key.rsplit("_", 1)[1]) for key in figures
                   if key.startswith("ae_mse_"))
    mean_digit = figures["mean_digit_mse"]
    for d in sizes:
        assert figures[f"ae_mse_{d}"] < 0.95 * mean_digit, (d, figures)
        # PCA is the best linear map: a linear autoencoder cannot beat it
        # (0.063 vs 0.056 at d=2, 0.056 vs 0.038 at d=8).
        assert figures[f"linear_ae_mse_{d}"] > 0.98 * figures[f"pca_mse_{d}"], (
            d, figures)
    assert figures[f"ae_mse_{sizes[-1]}"] < 0.85 * mean_digit, figures
    assert figures["knn_accuracy_ae"] > 0.1 + 0.15, figures  # chance: 0.1


def check_noise_removal(figures):
    # PSNR (dB), SEED 0/1/2: restored 16.57/15.77/15.62, noisy 9.38/9.38/9.38,
    # 3x3 median filter 14.17/14.15/14.16 (gains of >= 6.2 and >= 1.46 dB).
    assert figures["restored_psnr"] > figures["noisy_psnr"] + 4.0, figures
    assert figures["restored_psnr"] > figures["median_psnr"] + 0.5, figures


def check_occlusion_removal(figures):
    # PSNR (dB), SEED 0/1/2: inpainted 19.45/19.37/19.48, occluded
    # 17.17/16.98/17.30, mean-digit fill 15.26/15.25/15.29, raw output
    # 17.41/17.38/17.45 (inpainting gains >= 2.18 dB on the occluded input,
    # >= 4.11 dB on the mean fill; the raw output >= 2.13 dB on the mean fill).
    assert figures["inpainted_psnr"] > figures["occluded_psnr"] + 1.0, figures
    assert figures["inpainted_psnr"] > figures["mean_fill_psnr"] + 2.0, figures
    assert figures["restored_psnr"] > figures["mean_fill_psnr"] + 1.0, figures


def check_encoder_as_classifier(figures):
    # Held-out accuracy with 10 labels per class, SEED 0/1/2: fine-tuned
    # pre-trained encoder 0.736/0.756/0.725, majority class 0.100. At these
    # settings (3 epochs of pre-training) the same network from scratch does
    # as well or better (0.756/0.793/0.756), so that comparison is left to the
    # full run.
    tags = sorted(key.rsplit("_", 1)[1] for key in figures
                  if key.startswith("fine_tuned_accuracy_"))
    for tag in tags:
        assert figures[f"fine_tuned_accuracy_{tag}"] > (
            figures["majority_accuracy"] + 0.5), (tag, figures)


def check_variational_autoencoder(figures):
    # SEED 0/1/2: negative ELBO 121.5/153.5/125.4 and IW-NLL (k=5)
    # 117.1/148.3/120.9 nats (4.3 to 5.2 nats tighter); digit FID of 500
    # samples 23.7/45.7/14.3 against 129.8/93.3/117.7 for the plain AE
    # decoding N(0, I) (ratio <= 0.49); classes covered 10/9/10.
    assert figures["iw_nll"] <= figures["negative_elbo"] + 1.0, figures
    assert figures["frechet_distance"] < 0.75 * figures["ae_frechet_distance"], figures
    assert figures["classes_covered"] >= 7, figures


def check_sequence_anomaly_detection(figures):
    # ROC AUC, SEED 0/1/2: lstm 0.995/0.991/0.999, transformer
    # 0.996/1.000/1.000, PCA 1.000; an untrained lstm scored 0.934, an
    # untrained transformer 0.739.
    for family in ("lstm", "transformer"):
        assert figures[f"{family}_roc_auc"] >= figures["pca_roc_auc"] - 0.03, (
            family, figures)


def check_deployment(figures):
    # Largest differences from the Keras model, SEED 0/1/2: the SavedModel's
    # signatures 0.0; TFLite float32 <= 2.3e-7, float16 <= 5.1e-5; mean
    # differences of dynamic-range <= 3.5e-4 and int8 <= 1.4e-3.
    assert figures["builtin_only"] is True, figures
    for name in ("serving", "encode", "decode", "tflite_float32"):
        assert figures[f"{name}_max_error"] <= 1e-5, (name, figures)
    assert figures["tflite_float16_max_error"] <= 1e-3, figures
    assert figures["tflite_dynamic_mean_error"] <= 5e-3, figures
    assert figures["tflite_int8_mean_error"] <= 1e-2, figures


KEY_FIGURE_CHECKS = {
    "01_what_is_an_autoencoder": check_what_is_an_autoencoder,
    "02_dimensionality_reduction": check_dimensionality_reduction,
    "03_noise_removal": check_noise_removal,
    "04_occlusion_removal": check_occlusion_removal,
    "05_encoder_as_classifier": check_encoder_as_classifier,
    "06_variational_autoencoder": check_variational_autoencoder,
    "07_sequence_anomaly_detection": check_sequence_anomaly_detection,
    "08_deployment": check_deployment,
}


def test_the_notebooks_are_there():
    names = {path.name for path in NOTEBOOKS}
    missing = sorted(set(EXPECTED) - names)
    assert not missing, f"missing notebooks: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_notebook_is_committed_clean(path):
    notebook = read(path)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "a notebook without code"
    for i, cell in enumerate(code):
        assert cell.outputs == [], f"code cell {i} has committed outputs"
        assert cell.execution_count is None, f"code cell {i} has an execution count"
    cells = parameters_cells(notebook)
    assert len(cells) == 1, (
        f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    assert cells[0].cell_type == "code"
    names = parameter_names(cells[0])
    assert all(name.isupper() for name in names), names
    assert set(REQUIRED_TEST_PARAMETERS) <= set(names), (
        f"the parameters cell must assign {REQUIRED_TEST_PARAMETERS}")
    assert "import keras_ae" in "\n".join(cell.source for cell in code) or any(
        "from keras_ae" in cell.source for cell in code), "notebooks use keras_ae"
    assert KEY_FIGURES_PREFIX in code[-1].source, (
        "the last code cell must print the notebook's key figures")


def test_every_notebook_has_a_key_figure_check():
    missing = sorted(path.stem for path in NOTEBOOKS
                     if path.stem not in KEY_FIGURE_CHECKS)
    assert not missing, f"add a check to KEY_FIGURE_CHECKS for: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_notebook_runs(path):
    before = sorted(os.listdir(NOTEBOOK_DIR))
    notebook, overrides = with_parameters(read(path), injected_parameters(path))
    assert overrides, "no parameter was made smaller"
    execute(notebook)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), (
        "the notebook shows no figure")
    # Notebooks write to temporary directories only.
    assert sorted(os.listdir(NOTEBOOK_DIR)) == before
    figures = key_figures(notebook)
    print(f"{path.stem}: {json.dumps(figures)}")
    KEY_FIGURE_CHECKS[path.stem](figures)
