"""Saved models: files of earlier releases load, and new files know what they are.

`tests/fixtures/v0.1.0_*.keras` were written by keras_ae 0.1.0 (the release
before models recorded their build arguments): their config holds the
serialized encoder and decoder graphs. `tests/fixtures/v0.2.0_*.keras` were
written by 0.2.0, whose config held the family, its options and
`variational` (before the objective registry). All must keep loading, with
the same outputs, and their optimizer state.

"The same outputs" across machines means within `RELEASE_TOLERANCE`: the
expected outputs were computed on the machine that wrote the files, and
another CPU's kernels (oneDNN picks its code path by instruction set) may
round the last bit differently. A file saved and loaded on one machine
must still give identical outputs.
"""

import pathlib

import keras
import numpy as np
import pytest

import keras_ae

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
# Outputs in [0, 1] and codes of order 1: seen differing by one float32 step
# (1.2e-7) on another CPU. Scaling a single decoder kernel of these files by
# 1.001 moves the reconstructions by 2e-6 (conv VAE) to 4e-5 (transformer).
RELEASE_TOLERANCE = 1e-6


def assert_release_outputs(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=0, atol=RELEASE_TOLERANCE)


@pytest.fixture(scope="module")
def expected():
    return np.load(FIXTURES / "v0.1.0_expected.npz")


@pytest.mark.parametrize("name, kind", [
    ("conv_vae", keras_ae.VariationalAutoEncoder),
    ("dense_ae", keras_ae.AutoEncoder),
])
def test_files_of_the_previous_release_still_load(name, kind, expected):
    model = keras.models.load_model(FIXTURES / f"v0.1.0_{name}.keras")
    assert type(model) is kind
    assert model.family is None  # a graph config: the family was not recorded
    assert model.code_shape == (3,)
    assert_release_outputs(model.reconstruct(expected["x"]),
                           expected[f"{name}_reconstruction"])
    assert_release_outputs(model.encode(expected["x"]), expected[f"{name}_code"])
    assert int(model.optimizer.iterations.numpy()) == 1
    if kind is keras_ae.VariationalAutoEncoder:
        # Saved before the KL warm-up weight existed: it keeps its value, 1.
        assert float(model.kl_weight.numpy()) == 1.0


@pytest.fixture(scope="module")
def expected_0_2_0():
    return np.load(FIXTURES / "v0.2.0_expected.npz")


@pytest.mark.parametrize("name, objective, family, code_shape", [
    ("conv_vae", "vae", "conv", (3,)),
    ("conv_ae_map", "ae", "conv", (7, 7, 2)),
    ("dense_ae", "ae", "dense", (3,)),
    ("transformer_vae", "vae", "transformer", (3,)),
])
def test_files_of_0_2_0_load_as_their_objective(name, objective, family,
                                                 code_shape, expected_0_2_0):
    model = keras.models.load_model(FIXTURES / f"v0.2.0_{name}.keras")
    assert model.objective == objective and model.family == family
    assert model.code_shape == code_shape
    x = expected_0_2_0["x"]
    assert_release_outputs(model.reconstruct(x),
                           expected_0_2_0[f"{name}_reconstruction"])
    assert_release_outputs(model.encode(x), expected_0_2_0[f"{name}_code"])
    assert int(model.optimizer.iterations.numpy()) == 1
    # The new config names the objective; saved again, it loads the same.
    assert model.get_config()["objective"] == objective


def test_a_saved_model_rebuilds_from_its_build_arguments(tmp_path):
    model = keras_ae.build_autoencoder("conv", (28, 28, 1), (7, 7, 2),
                                       objective="vae", seed=3,
                                       reconstruction_loss="bce",
                                       filters=(8, 16), residual_blocks=1)
    model.kl_weight.assign(0.25)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert loaded.family == "conv"
    assert loaded.code_shape == (7, 7, 2)
    assert loaded.get_config() == model.get_config()
    assert loaded.get_config()["family_options"]["filters"] == [8, 16]
    assert float(loaded.kl_weight.numpy()) == 0.25  # training state comes along
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))
