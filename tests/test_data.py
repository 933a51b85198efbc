"""Datasets: the embedded digits, loaders by name (TFDS), pipelines."""

import ast
import errno
import gzip
import importlib
import os
import pathlib
import re
import socket
import struct
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_ae import data
from keras_ae.data import tfds as tfds_loader


def test_embedded_digits_are_real_stratified_and_scaled(digits):
    (x_train, y_train), (x_val, y_val) = digits
    assert x_train.shape == (4000, 28, 28, 1) and x_val.shape == (1000, 28, 28, 1)
    assert x_train.dtype == np.float32
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert np.bincount(y_train).tolist() == [400] * 10
    assert np.bincount(y_val).tolist() == [100] * 10
    # Real digits: mostly background, a stroke of a few hundred pixels.
    assert 0.08 < x_train.mean() < 0.2
    # No example sits in both splits.
    train_keys = {x.tobytes() for x in x_train}
    assert not any(x.tobytes() in train_keys for x in x_val)


def test_split_is_reproducible_and_seed_dependent():
    (a, _), _ = data.load_digits(seed=1)
    (b, _), _ = data.load_digits(seed=1)
    (c, _), _ = data.load_digits(seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# A TFDS dataset as users and TFDS write them: a builder in a module of a
# package, so that TFDS resolves its code path (and checksums) as it does for
# its own datasets. It reads the PNG files a test writes into `SOURCE_DIR`:
# `<split>/<label>_<index>.png`, 8x8 grey images.
_BUILDER_MODULE = """
import pathlib

import tensorflow_datasets as tfds

SOURCE_DIR = None


class KerasAeTestImages(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 1)),
                "label": tfds.features.ClassLabel(num_classes=3),
            }),
        )

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(pathlib.Path(SOURCE_DIR) / split)
                for split in ("train", "test")}

    def _generate_examples(self, directory):
        for path in sorted(directory.glob("*.png")):
            yield path.stem, {"image": path, "label": int(path.stem[0])}
"""


@pytest.fixture(scope="module")
def test_images_builder(tmp_path_factory):
    """The module that registers the dataset `keras_ae_test_images`."""
    package = tmp_path_factory.mktemp("builders") / "keras_ae_test_datasets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "images.py").write_text(_BUILDER_MODULE)
    sys.path.insert(0, str(package.parent))
    try:
        yield importlib.import_module("keras_ae_test_datasets.images")
    finally:
        sys.path.remove(str(package.parent))


def _write_pngs(directory, images, labels):
    directory.mkdir(parents=True)
    for index, (image, label) in enumerate(zip(images, labels)):
        png = tf.io.encode_png(image).numpy()
        (directory / f"{label}_{index:03d}.png").write_bytes(png)


def test_a_tfds_dataset_loads_through_tfds_load_from_files(
        tmp_path, rng, test_images_builder):
    """The real `tfds.load` path, offline: builder, preparation, reading.

    A fresh install once failed here, inside TFDS (`importlib_resources`
    missing), while the tests on `tfds.testing.mock_data` passed.
    """
    written = {}
    for split, count in (("train", 7), ("test", 4)):
        images = rng.integers(0, 256, size=(count, 8, 8, 1), dtype=np.uint8)
        labels = np.arange(count) % 3
        _write_pngs(tmp_path / "source" / split, images, labels)
        written[split] = images, labels
    test_images_builder.SOURCE_DIR = str(tmp_path / "source")
    data_dir = tmp_path / "tfds"

    loaded = data.load_dataset("keras_ae_test_images", data_dir=str(data_dir))
    assert (data_dir / "keras_ae_test_images" / "1.0.0").is_dir()
    # Prepared once: a second load reads the files TFDS wrote, offline.
    again = data.load_dataset("keras_ae_test_images", data_dir=str(data_dir),
                              download=False)
    for (x, y), (x_again, _), split in zip(loaded, again, ("train", "test")):
        images, labels = written[split]
        # TFDS reads examples in its own order: compare as sets of pairs.
        order = np.lexsort((x.reshape(len(x), -1).T))
        expected = np.lexsort((images.reshape(len(images), -1).T))
        assert x.dtype == np.float32 and x.shape == (len(images), 8, 8, 1)
        np.testing.assert_allclose(x[order], images[expected] / 255.0,
                                   rtol=1e-6)
        np.testing.assert_array_equal(y[order], labels[expected])
        np.testing.assert_array_equal(x_again, x)


def test_a_dataset_to_download_fails_fast_without_network(tmp_path,
                                                          monkeypatch):
    def unreachable(self, address):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(socket.socket, "connect", unreachable)
    with pytest.raises(ConnectionError, match="'mnist' is not in .*cannot be "
                       "downloaded: no connection to .*'digits'"):
        data.load_dataset("mnist", data_dir=str(tmp_path / "tfds"))
    with pytest.raises(FileNotFoundError, match="download=False"):
        data.load_dataset("mnist", data_dir=str(tmp_path / "tfds"),
                          download=False)
    assert not (tmp_path / "tfds").exists()


@pytest.mark.parametrize("name, shape", [("mnist", (28, 28, 1)),
                                         ("fashion_mnist", (28, 28, 1)),
                                         ("cifar10", (32, 32, 3))])
def test_standard_datasets_load_through_tfds(name, shape, monkeypatch):
    # mock_data replaces the download: no host needs to be reachable.
    monkeypatch.setattr(tfds_loader, "_check_download_hosts", lambda *args: None)
    with tfds.testing.mock_data(num_examples=20):
        (x_train, y_train), (x_val, y_val) = data.load_dataset(name)
    assert x_train.shape == (20, *shape) and x_val.shape == (20, *shape)
    assert x_train.dtype == np.float32
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0 and x_train.max() > 0.5
    assert y_train.shape == (20,) and y_train.dtype == np.int64


def test_any_tfds_image_dataset_loads_by_name(monkeypatch):
    monkeypatch.setattr(tfds_loader, "_check_download_hosts", lambda *args: None)
    with tfds.testing.mock_data(num_examples=6):
        (x_train, _), (x_val, _) = data.load_dataset("emnist")
    assert x_train.shape[1:] == (28, 28, 1) and len(x_val) == 6


def test_unknown_dataset_is_refused_with_the_allowed_names():
    with pytest.raises(ValueError, match="dataset='imagenette_typo'.*digits, mnist"):
        data.load_dataset("imagenette_typo")


def test_scale_images_adds_the_channel_axis_and_refuses_bad_range():
    scaled = data.scale_images(np.full((2, 4, 4), 255, np.uint8))
    assert scaled.shape == (2, 4, 4, 1) and scaled.max() == 1.0
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        data.scale_images(np.full((2, 4, 4, 1), 3.0, np.float32))
    with pytest.raises(ValueError, match="NaN or infinite"):
        data.scale_images(np.full((2, 4, 4, 1), np.nan, np.float32))


def _write_idx(path, images, labels):
    with gzip.open(path / "images.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(images), *images.shape[1:]))
        f.write(images.tobytes())
    with gzip.open(path / "labels.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)))
        f.write(labels.tobytes())


def test_load_idx_reads_what_the_test_wrote(tmp_path, rng):
    images = rng.integers(0, 256, size=(5, 6, 7), dtype=np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    _write_idx(tmp_path, images, labels)
    x, y = data.load_idx(tmp_path / "images.gz", tmp_path / "labels.gz")
    np.testing.assert_allclose(x[..., 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(ValueError, match="magic number 2049"):
        data.load_idx(tmp_path / "labels.gz", tmp_path / "labels.gz")


def test_make_dataset_batches_shuffles_and_corrupts(rng):
    x = rng.uniform(size=(10, 3)).astype("float32")
    batches = list(data.make_dataset(x, batch_size=4, shuffle=False))
    assert [b.shape[0] for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(batches), x)
    shuffled = np.concatenate(list(data.make_dataset(x, batch_size=4, seed=1)))
    assert not np.array_equal(shuffled, x)
    np.testing.assert_array_equal(np.sort(shuffled, axis=0), np.sort(x, axis=0))
    pairs = list(data.make_dataset(x, batch_size=10, shuffle=False,
                                   corruption=lambda b, training: b + 1.0))
    np.testing.assert_allclose(pairs[0][0], x + 1.0)
    np.testing.assert_allclose(pairs[0][1], x)


def test_make_dataset_refuses_non_finite_data_and_mismatched_targets():
    with pytest.raises(ValueError, match="`x` must hold only finite"):
        data.make_dataset(np.array([[0.0, np.inf]], "float32"))
    with pytest.raises(ValueError, match="2 inputs and 3 targets"):
        data.make_dataset(np.zeros((2, 1)), np.zeros((3, 1)))
    assert isinstance(data.make_dataset(np.zeros((2, 1))), tf.data.Dataset)


def declared_dependencies(pyproject):
    """`[project] dependencies` of a pyproject.toml's text, on any Python.

    `tomllib` arrived in Python 3.11 and the package allows 3.10: the list,
    strings and `#` comments, is read as the Python literal it also is.
    """
    lines = pyproject.splitlines()
    start = lines.index("dependencies = [")
    end = lines.index("]", start)
    return list(ast.literal_eval("\n".join(lines[start:end + 1]).split(
        "=", 1)[1]))


def test_declared_dependencies_reads_what_tomllib_reads():
    root = pathlib.Path(__file__).resolve().parents[1]
    text = (root / "pyproject.toml").read_text()
    if sys.version_info >= (3, 11):
        import tomllib

        assert declared_dependencies(text) == tomllib.loads(text)[
            "project"]["dependencies"]
    assert declared_dependencies(
        'dependencies = [\n    "a>=1",  # why\n    # alone\n    "b",\n]') == [
            "a>=1", "b"]


def test_requirements_and_pyproject_list_the_same_runtime_dependencies():
    root = pathlib.Path(__file__).resolve().parents[1]
    declared = declared_dependencies((root / "pyproject.toml").read_text())
    runtime = []
    for line in (root / "requirements.txt").read_text().splitlines():
        if line.startswith("# Tests"):
            break
        if line.strip() and not line.startswith("#"):
            runtime.append(line.strip())
    assert sorted(runtime) == sorted(declared)
    assert any(name.startswith("importlib_resources") for name in declared)


# Environment variables that only label a benchmark's report (they change
# no figure a test computes), and those the conftest sets itself.
REPORTED_ONLY = ("TF_ENABLE_ONEDNN_OPTS",)
SET_BY_CONFTEST = {"KERAS_BACKEND": "tensorflow"}
# Read on the package's behalf by TensorFlow (`--distribute multi-worker`).
READ_BY_TENSORFLOW = ("TF_CONFIG",)


def test_the_tests_clear_every_environment_variable_the_code_reads():
    import conftest

    root = pathlib.Path(__file__).resolve().parents[1]
    pattern = re.compile(
        r"environ(?:\.get|\.setdefault|\.pop)?\(?\[?\s*[\"']([A-Z0-9_]+)[\"']")
    read = set(READ_BY_TENSORFLOW)
    for folder in ("keras_ae", "benchmarks"):
        for path in (root / folder).rglob("*.py"):
            read.update(pattern.findall(path.read_text()))
    assert "KERAS_AE_MNIST_DIR" in read  # the scan finds what it should
    # Logging levels and report labels change no result.
    read -= {"TF_CPP_MIN_LOG_LEVEL", *REPORTED_ONLY}
    unhandled = sorted(read - set(conftest.CLEARED_ENVIRONMENT)
                       - set(SET_BY_CONFTEST))
    assert not unhandled, (
        f"clear {unhandled} in tests/conftest.py (CLEARED_ENVIRONMENT)")
    for name in conftest.CLEARED_ENVIRONMENT:
        assert name not in os.environ, name
    for name, value in SET_BY_CONFTEST.items():
        assert os.environ[name] == value, name
