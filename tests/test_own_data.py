"""Training on your own data: `train --data PATH` for folders, arrays and CSVs.

Each test writes its data (PNG files through TensorFlow's encoder, NumPy and
CSV files), so nothing depends on a download; the folder goes through
`keras.utils.image_dataset_from_directory`, the path a user's images take.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_ae import cli
from keras_ae.data import load_data_file

TINY = ["train", "--family", "dense", "--objective", "ae", "--latent-dim", "2",
        "--option", "hidden_units=[8]", "--epochs", "1", "--batch-size", "8",
        "--no-judge", "--no-export"]


def write_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(image).numpy())


def image_folder(root, size=(12, 12), classes=("a", "b"), per_class=10,
                 channels=1, seed=0):
    """Writes `per_class` images into one sub-folder per class."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        for index in range(per_class):
            image = rng.integers(0, 256, (*size, channels), dtype=np.uint8)
            image[: 2 + label * 4] = 255  # the classes differ
            write_png(root / name / f"{index:03d}.png", image)
    return root


def tree(directory):
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def test_a_folder_of_images_loads_with_labels_from_its_sub_folders(tmp_path):
    folder = image_folder(tmp_path / "images")
    x, y = load_data_file(str(folder))
    assert x.shape == (20, 12, 12, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == 1.0
    assert np.bincount(y).tolist() == [10, 10]
    # The first rows of class "b" are white over a longer stretch.
    assert x[y == 1, :6].mean() > x[y == 0, :6].mean()
    resized, _ = load_data_file(str(folder), image_size=(8, 8))
    assert resized.shape == (20, 8, 8, 1)
    colour, _ = load_data_file(str(folder), color_mode="rgb")
    assert colour.shape == (20, 12, 12, 3)


@pytest.mark.slow
def test_train_on_a_folder_of_pngs_records_where_its_data_came_from(tmp_path):
    folder = image_folder(tmp_path / "images")
    runs = tmp_path / "runs"
    code = cli.main([*TINY, "--data", str(folder), "--output-dir", str(runs),
                     "--run-name", "mine"])
    assert code == 0
    config = json.loads((runs / "mine" / "run_config.json").read_text())
    source = config["data"]
    assert source["path"] == os.path.abspath(folder)
    assert len(source["sha256"]) == 64 and source["num_examples"] == 20
    assert source["validation_fraction"] == 0.2
    assert config["spec"]["input_shape"] == [12, 12, 1]
    history = json.loads((runs / "mine" / "history.json").read_text())
    assert np.isfinite(history["val_loss"]).all()
    # The same data gives the same hash; one changed pixel another.
    write_png(folder / "a" / "000.png", np.zeros((12, 12, 1), np.uint8))
    code = cli.main([*TINY, "--data", str(folder), "--output-dir", str(runs),
                     "--run-name", "changed"])
    assert code == 0
    changed = json.loads((runs / "changed" / "run_config.json").read_text())
    assert changed["data"]["sha256"] != source["sha256"]


@pytest.mark.slow
def test_train_on_arrays_and_series(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "arrays.npz", x=rng.random((30, 6)).astype("float32"),
             y=np.arange(30) % 3)
    series = np.sin(np.linspace(0, 20, 30 * 8)).reshape(30, 8)
    np.savetxt(tmp_path / "series.csv", series, delimiter=",")
    for name, shape in (("arrays.npz", [6]), ("series.csv", [8, 1])):
        runs = tmp_path / f"runs_{name}"
        code = cli.main([*TINY, "--loss", "mse", "--option",
                         "output_activation=\"linear\"", "--data",
                         str(tmp_path / name), "--output-dir", str(runs),
                         "--run-name", "r"])
        assert code == 0, name
        config = json.loads((runs / "r" / "run_config.json").read_text())
        assert config["spec"]["input_shape"] == shape


def _ragged(path):
    path.write_text("1,2,3\n4,5\n")


def _non_numeric(path):
    path.write_text("1,2,3\n4,five,6\n")


def _nan_array(path):
    np.save(path, np.array([[0.1, np.nan], [0.2, 0.3]], "float32"))


@pytest.mark.parametrize("name, make, fragment", [
    ("ragged.csv", _ragged, "ragged rows: series of lengths [2, 3]"),
    ("words.csv", _non_numeric, "non-numeric cell in row 2"),
    ("nan.npy", _nan_array, "NaN or infinite"),
    ("empty_folder", lambda p: p.mkdir(), "a folder with no images"),
    ("mixed_sizes", lambda p: (write_png(p / "a.png", np.zeros((8, 8, 1), np.uint8)),
                               write_png(p / "b.png", np.zeros((9, 8, 1), np.uint8))),
     "images of different sizes and no `image_size`"),
    ("missing.npz", lambda p: None, "names no file or folder"),
])
def test_bad_data_is_refused_with_one_line_and_nothing_written(
        tmp_path, capsys, name, make, fragment):
    data = tmp_path / name
    make(data)
    runs = tmp_path / "runs"
    before = tree(tmp_path)
    code = cli.main([*TINY, "--data", str(data), "--output-dir", str(runs)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert tree(tmp_path) == before
