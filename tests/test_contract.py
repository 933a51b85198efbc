"""The contract every registered family keeps, as AE and as VAE.

A family gets every check here by registering itself: shapes, finite
losses, a train step that changes every weight and an evaluation step that
changes none, the config round trip, the `.keras` round trip in a fresh
process, and outputs that do not depend on the batch size.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_ae
from keras_ae.registry import get_family

LATENT_DIM = 4


def _cases():
    """(family, variational, code) for every family, AE and VAE; map codes too."""
    cases = []
    for family in keras_ae.list_autoencoders():
        spec = get_family(family)
        codes = [LATENT_DIM]
        if spec.map_codes:
            codes.append("map")
        for code in codes:
            for variational in (False, True):
                cases.append((family, variational, code))
    return cases


CASES = _cases()
IDS = [f"{family}-{'vae' if variational else 'ae'}"
       + ("-map" if code == "map" else "") for family, variational, code in CASES]


def input_shape(family):
    return get_family(family).example_input_shape


def map_code_shape(family):
    """A feature-map code for the family's example input and test options."""
    model = keras_ae.build_autoencoder(family, input_shape(family), LATENT_DIM,
                                       **get_family(family).test_options)
    # The last feature map of the vector-code encoder sets the map's size.
    maps = [layer.output for layer in model.encoder.layers
            if len(layer.output.shape) == 4]
    return (*maps[-1].shape[1:3], 2)


def build(family, variational, code=LATENT_DIM):
    keras.utils.set_random_seed(0)
    latent_dim = map_code_shape(family) if code == "map" else code
    return keras_ae.build_autoencoder(family, input_shape(family), latent_dim,
                                      variational=variational, seed=0,
                                      reconstruction_loss="bce",
                                      **get_family(family).test_options)


@pytest.fixture(scope="module")
def digits_batch():
    from keras_ae.data import load_digits

    (x_train, _), _ = load_digits()
    return x_train[:32]


def batch_for(family, digits_batch):
    """32 examples of the family's example input shape, in [0, 1]."""
    shape = input_shape(family)
    if shape == digits_batch.shape[1:]:
        return digits_batch
    return np.random.default_rng(0).random((32, *shape), dtype="float32")


@pytest.mark.parametrize("family, variational, code", CASES, ids=IDS)
def test_shapes_and_finite_losses(family, variational, code, digits_batch):
    batch = batch_for(family, digits_batch)
    model = build(family, variational, code)
    assert isinstance(model, keras_ae.VariationalAutoEncoder if variational
                      else keras_ae.AutoEncoder)
    code_shape = map_code_shape(family) if code == "map" else (LATENT_DIM,)
    assert model.code_shape == code_shape
    assert model.latent_dim == int(np.prod(code_shape))
    assert model.family == family
    assert model(batch).shape == batch.shape
    assert model.encode(batch).shape == (len(batch), *code_shape)
    assert model.encode(batch[:0]).shape == (0, *code_shape)
    shape = input_shape(family)
    assert model.decode(np.zeros((3, *code_shape), "float32")).shape == (3, *shape)
    terms = model.compute_terms(batch, batch, training=True)
    assert all(np.isfinite(float(v)) for v in terms.values())
    if variational:
        assert model.sample(5, seed=0).shape == (5, *shape)


@pytest.mark.parametrize("family, variational, code", CASES, ids=IDS)
def test_train_step_changes_every_weight_and_eval_step_none(family, variational,
                                                            code, digits_batch):
    batch = batch_for(family, digits_batch)
    model = build(family, variational, code)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    before = [w.numpy().copy() for w in model.weights]
    model.evaluate(batch, batch_size=16, verbose=0)
    after_eval = [w.numpy() for w in model.weights]
    for a, b in zip(before, after_eval):
        np.testing.assert_array_equal(a, b)
    model.fit(batch, batch_size=16, epochs=1, verbose=0)
    trainable_before = {id(w): b for w, b in zip(model.weights, before)}
    unchanged = [w.path for w in model.trainable_weights
                 if np.array_equal(trainable_before[id(w)], w.numpy())]
    assert not unchanged, f"weights without a gradient step: {unchanged}"


@pytest.mark.parametrize("family, variational, code", CASES, ids=IDS)
def test_config_round_trip_rebuilds_the_same_model(family, variational, code,
                                                   digits_batch):
    batch = batch_for(family, digits_batch)
    model = build(family, variational, code)
    config = json.loads(json.dumps(model.get_config()))  # as a file holds it
    # The config is what the model was built from, every option included.
    assert config["family"] == family
    assert config["variational"] is variational
    assert set(config["options"]) == set(keras_ae.family_options(family))
    assert "encoder" not in config  # no serialized graph beside it
    clone = type(model).from_config(config)
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.reconstruct(batch), model.reconstruct(batch))
    np.testing.assert_array_equal(clone.encode(batch), model.encode(batch))


@pytest.mark.parametrize("family, variational, code", CASES, ids=IDS)
def test_outputs_do_not_depend_on_the_batch_size(family, variational, code,
                                                 digits_batch):
    batch = batch_for(family, digits_batch)
    model = build(family, variational, code)
    whole = model.reconstruct(batch, batch_size=32)
    pieces = model.reconstruct(batch, batch_size=5)
    np.testing.assert_allclose(whole, pieces, atol=1e-5)
    np.testing.assert_allclose(model.encode(batch, batch_size=32),
                               model.encode(batch, batch_size=1), atol=1e-5)


_LOAD_AND_COMPARE = """
import json, sys
import numpy as np
import keras
import keras_ae  # registers the classes, as a user's import would
report = {}
data = np.load(sys.argv[1] + "/expected.npz")
for name in json.loads(sys.argv[2]):
    model = keras.models.load_model(f"{sys.argv[1]}/{name}.keras")
    report[name] = {
        "type": type(model).__name__,
        "family": model.family,
        "reconstruction": float(np.abs(model.reconstruct(data[name + "_x"]) - data[name + "_r"]).max()),
        "code": float(np.abs(model.encode(data[name + "_x"]) - data[name + "_z"]).max()),
        "optimizer_iterations": int(model.optimizer.iterations.numpy()),
    }
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def fresh_process_report(tmp_path_factory, digits_batch):
    directory = tmp_path_factory.mktemp("saved")
    expected, names = {}, []
    for (family, variational, code), name in zip(CASES, IDS):
        batch = batch_for(family, digits_batch)
        model = build(family, variational, code)
        model.compile(optimizer="adam")
        model.fit(batch, batch_size=16, epochs=1, verbose=0)
        model.save(directory / f"{name}.keras")
        expected[name + "_x"] = batch
        expected[name + "_r"] = model.reconstruct(batch)
        expected[name + "_z"] = model.encode(batch)
        names.append(name)
    np.savez(directory / "expected.npz", **expected)
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_COMPARE, str(directory), json.dumps(names)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("family, variational, code", CASES, ids=IDS)
def test_keras_file_round_trip_in_a_fresh_process(family, variational, code,
                                                  fresh_process_report):
    report = fresh_process_report[IDS[CASES.index((family, variational, code))]]
    assert report["family"] == family
    assert report["type"] == ("VariationalAutoEncoder" if variational
                              else "AutoEncoder")
    assert report["reconstruction"] == 0.0
    assert report["code"] == 0.0
    assert report["optimizer_iterations"] == 2  # optimizer state came along
