"""The notebooks: committed clean, run top to bottom, each model beats its baseline.

Every notebook in `notebooks/` has exactly one code cell tagged `parameters`
(papermill's convention) that assigns upper-case constants, and ends with a
code cell that prints its key figures as one line, `KEY_FIGURES {json}`: the
model's figure, the baselines it must beat, and the same figure for broken
models (the network untrained, a model that ignores its input), all computed
by the notebook. The execution test appends smaller values to the
parameters cell, papermill-style, runs the notebook with `nbclient` in the
`python3` kernel of this interpreter, with `notebooks/` as the working
directory, fails on the first cell that raises, then reads the key figures
and checks them against the notebook's own baselines (`KEY_FIGURE_CHECKS`;
`only_the_trained_model_passes` also shows that each margin fails the
broken models). A notebook added to `notebooks/` is executed without
touching this file; the test then asks for its check. Without running
anything, the notebooks' markdown, `docs/*.md` and `README.md` hold no
placeholder text, the first cell of each notebook states its measured run
time, and no notebook imports from `tests/`.
"""

import ast
import json
import os
import pathlib
import re

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
    "09_objectives.ipynb",
    "10_conditional_vae.ipynb",
    "11_vq_vae.ipynb",
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
}
# Per notebook, on top of TEST_PARAMETERS.
NOTEBOOK_PARAMETERS = {
    # Two objectives at notebook 6's settings, which get the VAE off its
    # initial plateau: one with a prior and one sampled through a mixture.
    # After 4 epochs the VampPrior of SEED=1 was still on it (IW-NLL 184.8
    # nats, samples of 4 classes), the others of every seed off it. The
    # IWAE, three times the VAE's cost a step, is left to
    # tests/test_objectives.py. beta-TC-VAE and the VampPrior train one epoch
    # for their own sections: what is checked of them (the decomposition
    # adds up to the KL) holds for any model.
    "09_objectives": {"NUM_TRAIN": 4000, "EPOCHS": 4, "LEARNING_RATE": 2e-3,
                      "OBJECTIVES": ("vae", "rae"), "SECTION_EPOCHS": 1},
    "10_conditional_vae": {"NUM_TRAIN": 4000, "EPOCHS": 4},
    "11_vq_vae": {"PRIOR_EPOCHS": 3},
    "03_noise_removal": {"LEARNING_RATE": 2e-3},
    # After 3 epochs inpainting gained only 0.4 to 1.1 dB; after 5, 2.2 to 2.4.
    "04_occlusion_removal": {"LEARNING_RATE": 2e-3, "EPOCHS": 5},
    # After 3 epochs SEED=1 was still on the initial plateau (negative ELBO
    # 193 nats, samples of 4 classes); 4 epochs got every seed off it.
    "06_variational_autoencoder": {"NUM_TRAIN": 4000, "EPOCHS": 4,
                                   "VAE_LEARNING_RATE": 2e-3},
    # After 3 epochs of pre-training, fine-tuning the pre-trained encoder did
    # no better than the same network from scratch (0.736/0.756/0.725 against
    # 0.756/0.793/0.756) and the probe on its code was below a random
    # encoder's (0.386 against 0.442); after 10, both gains are clear.
    "05_encoder_as_classifier": {"EPOCHS": 10},
    # On the noisy series, 12-step windows and 3 epochs left both models
    # below PCA (AUC 0.89 and 0.86 against 0.96); 24 steps and 10 epochs
    # bring them to it.
    "07_sequence_anomaly_detection": {"EPOCHS": 10},
    # The shipped preset, as at full settings; fewer calibration digits.
    "08_deployment": {"EPOCHS": 0, "NUM_TRAIN": 512},
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
# Each check holds the notebook's trained model to baselines the notebook
# computes itself, with a margin, and applies the same margin to the
# figures the notebook prints for broken models: the same network before
# training ("untrained") and a model that ignores its input ("constant": the
# mean digit, a zero output, the majority class). The check fails unless the
# trained model passes and every broken model fails, so each run shows that
# the margin can fail. The figures in the comments are from runs at the
# settings above with SEED = 0, 1 and 2 (trained / untrained / constant);
# each margin sits inside the worst seed of the trained model.


def only_the_trained_model_passes(passes, figures, trained, **broken):
    """Asserts `passes(value)` for the trained value(s) and for no broken one.

    Args:
        passes: function of one figure, True when it meets the margin.
        figures: the notebook's key figures (shown when an assertion fails).
        trained: the trained model's figure, or a list of them.
        **broken: the figures of the broken models, by name.
    """
    for value in trained if isinstance(trained, list) else [trained]:
        assert passes(value), ("the trained model misses the margin", value,
                               figures)
    for name, value in broken.items():
        assert not passes(value), (f"the margin passes the {name} model too",
                                   value, figures)


def test_a_check_fails_when_a_broken_model_passes_its_margin():
    figures = {"restored_psnr": 16.4, "noisy_psnr": 9.4, "median_psnr": 14.2,
               "untrained_psnr": 6.3, "mean_digit_psnr": 11.8}
    check_noise_removal(figures)
    with pytest.raises(AssertionError, match="passes the constant model too"):
        check_noise_removal({**figures, "mean_digit_psnr": 15.0})
    with pytest.raises(AssertionError, match="trained model misses"):
        check_noise_removal({**figures, "restored_psnr": 13.0})


def check_what_is_an_autoencoder(figures):
    # Squared error per held-out digit, SEED 0/1/2: MSE model 29.5/29.3/30.1,
    # BCE model 29.1/30.6/29.6; SEED 0: untrained 181.2, mean digit 53.1.
    mean_digit = figures["mean_digit_squared_error"]
    only_the_trained_model_passes(
        lambda error: error < 0.75 * mean_digit, figures,
        [figures["mse_model_squared_error"], figures["bce_model_squared_error"]],
        untrained=figures["untrained_squared_error"], constant=mean_digit)


def check_dimensionality_reduction(figures):
    # Held-out MSE per pixel, SEED 0/1/2, over the mean digit's 0.0677:
    # d=2 0.0609/0.0608/0.0598 (untrained 0.231), d=8 0.0489/0.0445/0.0459
    # (untrained 0.231); the linear AE at d=8 0.0560/0.0579/0.0558
    # (untrained 0.117/0.120/0.116), PCA 0.0385 (d=2: linear 0.063, PCA 0.056);
    # 5-NN accuracy of the 2-D codes 0.338/0.351/0.346, untrained
    # 0.158/0.211/0.200, PCA 0.404.
    sizes = sorted(int(key.rsplit("_", 1)[1]) for key in figures
                   if key.startswith("ae_mse_"))
    mean_digit = figures["mean_digit_mse"]
    for d in sizes:
        factor = 0.85 if d == sizes[-1] else 0.95
        only_the_trained_model_passes(
            lambda mse, factor=factor: mse < factor * mean_digit, figures,
            figures[f"ae_mse_{d}"], untrained=figures[f"untrained_ae_mse_{d}"],
            constant=mean_digit)
        # PCA is the best linear map (Baldi & Hornik): no linear autoencoder,
        # trained or not, gets below it. A property of PCA, not of training.
        assert figures[f"linear_ae_mse_{d}"] > 0.98 * figures[f"pca_mse_{d}"], (
            d, figures)
    # ... and the linear autoencoder does learn a subspace.
    largest = sizes[-1]
    only_the_trained_model_passes(
        lambda mse: mse < 0.95 * mean_digit, figures,
        figures[f"linear_ae_mse_{largest}"],
        untrained=figures[f"untrained_linear_ae_mse_{largest}"],
        constant=mean_digit)
    # The constant model's codes are all the same point: chance, 0.1.
    untrained_knn = figures["knn_accuracy_untrained"]
    only_the_trained_model_passes(
        lambda accuracy: accuracy > max(untrained_knn, 0.1) + 0.05, figures,
        figures["knn_accuracy_ae"], untrained=untrained_knn, constant=0.1)


def check_noise_removal(figures):
    # PSNR (dB), SEED 0/1/2: restored 16.57/15.77/15.62 (SEED 0 again:
    # 16.43); SEED 0: untrained 6.35, mean digit 11.84; noisy input 9.38,
    # 3x3 median filter 14.17.
    only_the_trained_model_passes(
        lambda psnr: (psnr > figures["noisy_psnr"] + 4.0
                      and psnr > figures["median_psnr"] + 0.5), figures,
        figures["restored_psnr"], untrained=figures["untrained_psnr"],
        constant=figures["mean_digit_psnr"])


def check_occlusion_removal(figures):
    # PSNR (dB) of the occluded digits, SEED 0/1/2: inpainted
    # 19.45/19.37/19.48 (SEED 0: untrained 6.81; a constant model's
    # inpainting is the mean-digit fill, 15.26/15.25/15.29), raw output
    # 17.41/17.38/17.45 (SEED 0: untrained 6.36, the mean digit 11.79);
    # occluded input 17.17/16.98/17.30.
    only_the_trained_model_passes(
        lambda psnr: (psnr > figures["occluded_psnr"] + 1.0
                      and psnr > figures["mean_fill_psnr"] + 2.0), figures,
        figures["inpainted_psnr"],
        untrained=figures["untrained_inpainted_psnr"],
        constant=figures["mean_fill_psnr"])
    only_the_trained_model_passes(
        lambda psnr: psnr > figures["mean_fill_psnr"] + 1.0, figures,
        figures["restored_psnr"], untrained=figures["untrained_restored_psnr"],
        constant=figures["mean_digit_psnr"])


def check_encoder_as_classifier(figures):
    # Held-out accuracy with 10 labels per class, SEED 0/1/2: the linear
    # probe on the pre-trained code 0.721/0.741/0.735, on the untrained
    # encoder's code 0.442/0.450/0.478; fine-tuned pre-trained encoder
    # 0.798/0.828/0.834, the same network fine-tuned from its untrained
    # weights (from scratch) 0.740/0.799/0.795; a constant code can only
    # give the majority class, 0.100.
    tags = sorted(key.rsplit("_", 1)[1] for key in figures
                  if key.startswith("fine_tuned_accuracy_"))
    majority = figures["majority_accuracy"]
    for tag in tags:
        random_probe = figures[f"random_probe_accuracy_{tag}"]
        only_the_trained_model_passes(
            lambda accuracy, random_probe=random_probe: (
                accuracy > random_probe + 0.1), figures,
            figures[f"probe_accuracy_{tag}"], untrained=random_probe,
            constant=majority)
        scratch = figures[f"scratch_accuracy_{tag}"]
        only_the_trained_model_passes(
            lambda accuracy, scratch=scratch: (
                accuracy > scratch + 0.01 and accuracy > majority + 0.5),
            figures, figures[f"fine_tuned_accuracy_{tag}"], untrained=scratch,
            constant=majority)


def check_variational_autoencoder(figures):
    # SEED 0/1/2: negative ELBO 122.9/151.8/126.4 nats, untrained
    # 546.6/543.1/548.2, independent pixels (the mean digit as a constant
    # VAE) 205.3; digit FID of the samples 26.0/45.5/16.1, untrained
    # 148.9/121.1/132.7, the mean digit repeated 138.0/121.9/128.7, plain AE
    # decoding N(0, I) 128.5/94.3/120.8; classes covered 10/9/10, untrained
    # 1/1/1, the mean digit 1.
    pixels = figures["independent_pixels_nll"]
    only_the_trained_model_passes(
        lambda nll: nll < pixels - 10.0, figures, figures["negative_elbo"],
        untrained=figures["untrained_negative_elbo"], constant=pixels)
    # A property of the bounds for any VAE: IW-NLL is the tighter one.
    assert figures["iw_nll"] <= figures["negative_elbo"] + 1.0, figures
    only_the_trained_model_passes(
        lambda fid: fid < 0.75 * figures["ae_frechet_distance"], figures,
        figures["frechet_distance"],
        untrained=figures["untrained_frechet_distance"],
        constant=figures["constant_frechet_distance"])
    only_the_trained_model_passes(
        lambda classes: classes >= 7, figures, figures["classes_covered"],
        untrained=figures["untrained_classes_covered"], constant=1)


def check_sequence_anomaly_detection(figures):
    # ROC AUC on the noisy series, SEED 0/1/2: lstm 0.965/0.963/0.928
    # (untrained 0.866/0.849/0.867), transformer 0.964/0.969/0.918
    # (untrained 0.665/0.621/0.663), zero output 0.871/0.873/0.873, PCA
    # 0.930/0.917/0.911.
    for family in ("lstm", "transformer"):
        only_the_trained_model_passes(
            lambda auc: auc >= figures["pca_roc_auc"] - 0.02, figures,
            figures[f"{family}_roc_auc"],
            untrained=figures[f"untrained_{family}_roc_auc"],
            constant=figures["zero_output_roc_auc"])


def check_deployment(figures):
    # Largest differences from the Keras model, the shipped preset: the
    # SavedModel's signatures 0.0; TFLite float32 6.0e-6, float16 1.2e-3;
    # mean differences of dynamic-range 1.1e-3 and int8 3.1e-3. An untrained
    # model of the same architecture differs from it by 0.458 on average:
    # every tolerance is under a tenth of it, so a conversion that computed
    # another model would fail.
    assert figures["builtin_only"] is True, figures
    tolerances = {"serving_max_error": 1e-5, "encode_max_error": 1e-5,
                  "decode_max_error": 1e-5, "tflite_float32_max_error": 1e-5,
                  "tflite_float16_max_error": 5e-3,
                  "tflite_dynamic_mean_error": 5e-3,
                  "tflite_int8_mean_error": 1e-2}
    for name, tolerance in tolerances.items():
        assert figures[name] <= tolerance, (name, figures)
        assert figures["untrained_mean_error"] > 10 * tolerance, (name, figures)


def check_objectives(figures):
    # SEED 0/1/2 (trained / untrained / constant). IW-NLL (nats, k=5): VAE
    # 118.5/146.7/122.2, IWAE 121.8/125.8/118.5 / untrained VAE
    # 543.9/543.4/543.8 / independent pixels 205.3. Digit FID of 500
    # samples: the priors of the VAE 26.0/45.5/16.1 and the IWAE
    # 21.9/23.2/14.7, the Gaussian mixtures of the codes of the VAE
    # 8.2/22.9/5.7, the IWAE 7.9/8.2/4.7 and the RAE 5.9/4.9/4.8 /
    # untrained VAE 149.5/121.1/133.5 / the mean digit repeated
    # 138.0/121.9/128.7 (the RAE decoding N(0, I): 112.8/64.0/82.4).
    pixels = figures["independent_pixels_nll"]
    only_the_trained_model_passes(
        lambda nll: nll < pixels - 10.0, figures,
        list(figures["iw_nll"].values()),
        untrained=figures["untrained_iw_nll"], constant=pixels)
    constant = figures["constant_frechet_distance"]
    only_the_trained_model_passes(
        lambda fid: fid < 0.5 * constant, figures,
        list(figures["frechet_distance"].values()),
        untrained=figures["untrained_frechet_distance"], constant=constant)
    # A property of the estimator, trained or not: beta-TC-VAE's three terms
    # add up to the KL (7.04/6.74/7.45 against 7.05/6.82/7.40 nats).
    assert figures["decomposition_sum"] == pytest.approx(
        figures["analytic_kl"], rel=0.05), figures


def check_conditional_vae(figures):
    # Full settings (30 epochs): asked class recognised 0.928 (worst class
    # 0.84), reconstruction agreement 0.983 / untrained 0.10 and 0.10 / the
    # mean digit 0.10 and 0.10.
    only_the_trained_model_passes(
        lambda share: share > 0.5, figures, figures["recognised"],
        untrained=figures["untrained_recognised"],
        constant=figures["constant_recognised"])
    only_the_trained_model_passes(
        lambda share: share > 0.5, figures,
        figures["reconstruction_agreement"],
        untrained=figures["untrained_reconstruction_agreement"],
        constant=figures["constant_reconstruction_agreement"])
    assert figures["classes_covered"] == 10, figures


def check_vq_vae(figures):
    # SEED 0/1/2 (trained / untrained / constant or uniform): held-out PSNR
    # 19.11/19.71/20.15 dB / 6.35 / the mean digit 11.84; codebook in use
    # 0.66/0.94/0.95 of 64 codes (0.05-0.13 before the restarts took dead
    # codes at once); the prior 130.6/133.3/145.1 bits a digit / untrained
    # 294.1 / uniform 294.0; digit FID of 500 samples 11.8/5.5/5.1 /
    # untrained 87.2/81.5/80.2 / the mean digit 94.5/93.7/95.4 / uniform
    # indices 170.6/122.4/159.1; classes covered 10/10/9 (untrained: 1).
    mean_digit = figures["mean_digit_psnr"]
    only_the_trained_model_passes(
        lambda psnr: psnr > mean_digit + 3.0, figures, figures["psnr"],
        untrained=figures["untrained_psnr"], constant=mean_digit)
    assert figures["codebook_in_use"] >= 0.5, figures
    uniform = figures["uniform_bits"]
    only_the_trained_model_passes(
        lambda bits: bits < 0.75 * uniform, figures, figures["prior_bits"],
        untrained=figures["untrained_prior_bits"], constant=uniform)
    constant = figures["constant_frechet_distance"]
    only_the_trained_model_passes(
        lambda fid: fid < 0.5 * constant, figures,
        figures["frechet_distance"],
        untrained=figures["untrained_frechet_distance"], constant=constant,
        uniform_indices=figures["uniform_frechet_distance"])
    assert figures["classes_covered"] >= 9, figures


KEY_FIGURE_CHECKS = {
    "01_what_is_an_autoencoder": check_what_is_an_autoencoder,
    "02_dimensionality_reduction": check_dimensionality_reduction,
    "03_noise_removal": check_noise_removal,
    "04_occlusion_removal": check_occlusion_removal,
    "05_encoder_as_classifier": check_encoder_as_classifier,
    "06_variational_autoencoder": check_variational_autoencoder,
    "07_sequence_anomaly_detection": check_sequence_anomaly_detection,
    "08_deployment": check_deployment,
    "09_objectives": check_objectives,
    "10_conditional_vae": check_conditional_vae,
    "11_vq_vae": check_vq_vae,
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


RUN_TIME = re.compile(r"about \d+ minutes? on \d+ CPU cores")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_notebook_states_its_run_time_at_full_settings(path):
    first = read(path).cells[0]
    assert first.cell_type == "markdown"
    assert RUN_TIME.search(" ".join(first.source.split())), (
        "the first cell must say how long the notebook runs at its full "
        "settings, measured: 'about N minutes on 2 CPU cores'")


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


# --- Text without holes, notebooks without the tests ----------------------------

ROOT = NOTEBOOK_DIR.parent
# Acronyms and names written in capitals in the prose; any other word in
# capitals (outside code spans, code blocks and math) reads as a
# placeholder where text should be, as TODO, FIXME, XXX and TBD always do.
ACRONYMS = frozenset("""
    AE AMD API AUC BCE CVAE L2 MI RAE BIH CHANGELOG CI CLI CPU CSV CUDA ECG ELBO ELU EMA EPYC FID FLOP
    FLOPS GELU GPU HDF5 IDX IWAE JSON KL LSTM MHA MIT MLP MMD MNIST MSE NFS
    NLL NPU NVIDIA OOM PCA PNG PSNR RAM README REST RGB ROC S5 SGD SIGKILL
    SSIM TC TF TFDS TPU TV URL VAE VQ XLA XNNPACK
""".split())
PLACEHOLDER_WORDS = ("TODO", "FIXME", "XXX", "TBD")


def prose(markdown):
    """Markdown without its code blocks, code spans, math, links and tags."""
    for pattern, flags in ((r"```.*?```", re.DOTALL), (r"`[^`]*`", 0),
                           (r"\$\$.*?\$\$", re.DOTALL), (r"\$[^$\n]*\$", 0),
                           (r"\]\([^)]*\)", 0), (r"<[^>\n]+>", 0)):
        markdown = re.sub(pattern, " ", markdown, flags=flags)
    return markdown


def placeholders(markdown):
    """The words of `markdown` that stand where text should be."""
    found = [word for word in PLACEHOLDER_WORDS
             if re.search(rf"\b{word}\b", markdown)]
    found += [word for word in re.findall(
        r"(?<![\w/.-])[A-Z][A-Z0-9_]+(?![\w/-])", prose(markdown))
        if word not in ACRONYMS]
    return sorted(set(found))


def documents():
    """`{name: markdown}`: every notebook's markdown cells, docs' pages, README.md."""
    texts = {path.name: "\n\n".join(cell.source for cell in read(path).cells
                                    if cell.cell_type == "markdown")
             for path in NOTEBOOKS}
    for path in [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]:
        texts[str(path.relative_to(ROOT))] = path.read_text()
    return texts


def test_placeholders_are_told_from_acronyms_and_code():
    text = ("A VAE beats PCA on MNIST (`KEY_FIGURES`, $\\beta$, [x](A_B)).\n\n"
            "TAKEAWAY\n\n* BETA_TEXT here\n\nTODO: write, and fixme")
    assert placeholders(text) == ["BETA_TEXT", "TAKEAWAY", "TODO"]
    assert placeholders("```\nRAW_CODE = 1\n```\nThe ELBO of a VAE.") == []


def test_no_notebook_or_document_holds_placeholder_text():
    found = {name: words for name, text in documents().items()
             if (words := placeholders(text))}
    assert not found, (
        f"placeholder text (write the text, or add an acronym to ACRONYMS): "
        f"{found}")


def test_no_notebook_imports_from_the_tests():
    test_modules = {path.stem for path in (ROOT / "tests").glob("*.py")}
    for path in NOTEBOOKS:
        for cell in read(path).cells:
            if cell.cell_type != "code":
                continue
            # IPython's magics and shell lines are not Python.
            source = "\n".join(line for line in cell.source.splitlines()
                               if not line.lstrip().startswith(("%", "!")))
            assert "sys.path" not in source, (path.name, cell.source)
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                else:
                    continue
                tops = {name.split(".")[0] for name in names}
                assert not tops & (test_modules | {"tests"}), (
                    f"{path.name} imports {sorted(tops & test_modules)} from "
                    "tests/: move what it needs into the package or the "
                    "notebook")
