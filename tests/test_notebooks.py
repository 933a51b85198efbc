"""The notebooks: committed without outputs, and each runs top to bottom.

Every notebook in `notebooks/` has exactly one code cell tagged `parameters`
(papermill's convention) that assigns upper-case constants. The execution test
appends smaller values to that cell, papermill-style, runs the notebook with
`nbclient` in the `python3` kernel of this interpreter, with `notebooks/` as
the working directory, and fails on the first cell that raises. A notebook
added to `notebooks/` is picked up without touching this file.
"""

import ast
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
# of the names its parameters cell assigns.
TEST_PARAMETERS = {
    "EPOCHS": 1,
    "NUM_TRAIN": 512,
    "LATENT_DIMS": (2, 8),
    "LABELS_PER_CLASS": (10,),
    "FINE_TUNE_STEPS": 5,
    "IW_SAMPLES": 5,
    "BETAS": (1.0,),
    "WINDOW": 12,
}
# Every notebook must be shrinkable: its parameters cell assigns these.
REQUIRED_TEST_PARAMETERS = ("EPOCHS",)
CELL_TIMEOUT = 600  # seconds per cell
KERNEL_NAME = "python3"


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


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_notebook_runs(path):
    before = sorted(os.listdir(NOTEBOOK_DIR))
    notebook, overrides = with_parameters(read(path), TEST_PARAMETERS)
    assert overrides, "no parameter was made smaller"
    execute(notebook)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), (
        "the notebook shows no figure")
    # Notebooks write to temporary directories only.
    assert sorted(os.listdir(NOTEBOOK_DIR)) == before
