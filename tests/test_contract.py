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

INPUT_SHAPE = (28, 28, 1)
LATENT_DIM = 4
CASES = [(family, variational) for family in keras_ae.list_autoencoders()
         for variational in (False, True)]
IDS = [f"{family}-{'vae' if variational else 'ae'}" for family, variational in CASES]


def build(family, variational):
    keras.utils.set_random_seed(0)
    return keras_ae.build_autoencoder(family, INPUT_SHAPE, LATENT_DIM,
                                      variational=variational, seed=0,
                                      reconstruction_loss="bce")


@pytest.fixture(scope="module")
def batch():
    from keras_ae.data import load_digits

    (x_train, _), _ = load_digits()
    return x_train[:32]


@pytest.mark.parametrize("family, variational", CASES, ids=IDS)
def test_shapes_and_finite_losses(family, variational, batch):
    model = build(family, variational)
    assert isinstance(model, keras_ae.VariationalAutoEncoder if variational
                      else keras_ae.AutoEncoder)
    assert model(batch).shape == batch.shape
    assert model.encode(batch).shape == (len(batch), LATENT_DIM)
    assert model.decode(np.zeros((3, LATENT_DIM), "float32")).shape == (3, *INPUT_SHAPE)
    terms = model.compute_terms(batch, batch, training=True)
    assert all(np.isfinite(float(v)) for v in terms.values())
    if variational:
        assert model.sample(5, seed=0).shape == (5, *INPUT_SHAPE)


@pytest.mark.parametrize("family, variational", CASES, ids=IDS)
def test_train_step_changes_every_weight_and_eval_step_none(family, variational,
                                                            batch):
    model = build(family, variational)
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


@pytest.mark.parametrize("family, variational", CASES, ids=IDS)
def test_config_round_trip_gives_the_same_architecture(family, variational):
    model = build(family, variational)
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    json.dumps(model.get_config())  # JSON-serializable


@pytest.mark.parametrize("family, variational", CASES, ids=IDS)
def test_outputs_do_not_depend_on_the_batch_size(family, variational, batch):
    model = build(family, variational)
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
        "reconstruction": float(np.abs(model.reconstruct(data["x"]) - data[name + "_r"]).max()),
        "code": float(np.abs(model.encode(data["x"]) - data[name + "_z"]).max()),
        "optimizer_iterations": int(model.optimizer.iterations.numpy()),
    }
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def fresh_process_report(tmp_path_factory, batch):
    directory = tmp_path_factory.mktemp("saved")
    expected, names = {"x": batch}, []
    for (family, variational), name in zip(CASES, IDS):
        model = build(family, variational)
        model.compile(optimizer="adam")
        model.fit(batch, batch_size=16, epochs=1, verbose=0)
        model.save(directory / f"{name}.keras")
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
@pytest.mark.parametrize("family, variational", CASES, ids=IDS)
def test_keras_file_round_trip_in_a_fresh_process(family, variational,
                                                  fresh_process_report):
    report = fresh_process_report[IDS[CASES.index((family, variational))]]
    assert report["type"] == ("VariationalAutoEncoder" if variational
                              else "AutoEncoder")
    assert report["reconstruction"] == 0.0
    assert report["code"] == 0.0
    assert report["optimizer_iterations"] == 2  # optimizer state came along
