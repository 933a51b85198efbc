"""The contract every family x objective pair keeps.

A family or an objective gets every check here by registering itself (and
adding its small settings to `tests/settings.py`): shapes and finite losses,
a train step that changes every weight and an evaluation step that changes
none, the config round trip with identical outputs, outputs that do not
depend on the batch size, the `.keras` round trip in a fresh process, and
the SavedModel signatures and the builtin-only TensorFlow Lite model
matching Keras. Pairs an objective cannot take (a feature-map code for an
objective of vector codes) are refused with a clear error.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import settings
import tensorflow as tf

import keras_ae
from keras_ae.export import TFLiteRunner
from keras_ae.export import convert_to_tflite
from keras_ae.export import export_saved_model
from keras_ae.export import tflite_ops
from keras_ae.registry import get_family
from keras_ae.registry import get_objective


def map_code(family):
    """A feature-map code for the family's test input: the smallest map, 2 channels."""
    shape, options = settings.FAMILIES[family]
    depth = len(options["filters"])
    return (shape[0] // 2**depth, shape[1] // 2**depth, 2)


def _cases():
    cases, refused = [], []
    for family in keras_ae.list_families():
        for objective in keras_ae.list_objectives():
            cases.append((family, objective, "vector"))
            if get_family(family).map_codes:
                if get_objective(objective).map_codes:
                    cases.append((family, objective, "map"))
                else:
                    refused.append((family, objective))
    return cases, refused


CASES, REFUSED = _cases()
IDS = ["-".join(case) for case in CASES]


def build(family, objective, code="vector"):
    keras.utils.set_random_seed(0)
    shape, options = settings.FAMILIES[family]
    latent_dim = map_code(family) if code == "map" else settings.LATENT_DIM
    return keras_ae.build_autoencoder(
        family, shape, latent_dim, objective=objective,
        reconstruction_loss="bce", **options, **settings.OBJECTIVES[objective])


def batch_for(model, size=16):
    return np.random.default_rng(0).random((size, *model.input_shape_),
                                           dtype="float32")


def training_data(model, x):
    """What `fit` takes for `x`: the inputs, or the inputs and labels."""
    return settings.training_data(model, x)


def verbs(model, x):
    """What `encode`, `reconstruct` and `decode` take: `x`, and labels if conditional."""
    return settings.verb_arguments(model, x)


def test_every_family_and_objective_has_test_settings():
    assert set(settings.FAMILIES) == set(keras_ae.list_families())
    assert set(settings.OBJECTIVES) == set(keras_ae.list_objectives())


@pytest.mark.parametrize("family, objective", REFUSED,
                         ids=["-".join(r) for r in REFUSED])
def test_an_objective_of_vector_codes_refuses_a_feature_map(family, objective):
    with pytest.raises(ValueError, match=f"Objective '{objective}' takes "
                       "vector codes only"):
        build(family, objective, "map")


@pytest.mark.parametrize("family, objective, code", CASES, ids=IDS)
def test_shapes_and_finite_losses(family, objective, code):
    model = build(family, objective, code)
    batch = batch_for(model)
    assert isinstance(model, get_objective(objective).model_class)
    assert model.family == family and model.objective == objective
    code_shape = settings.code_shape(
        model, map_code(family) if code == "map" else settings.LATENT_DIM)
    assert model.code_shape == code_shape
    assert model.encode(*verbs(model, batch)).shape == (len(batch), *code_shape)
    assert model.encode(*verbs(model, batch[:0])).shape == (0, *code_shape)
    assert model.reconstruct(*verbs(model, batch)).shape == batch.shape
    codes = model.encode(*verbs(model, batch[:3]))
    assert model.decode(*verbs(model, codes)).shape == (3, *batch.shape[1:])
    x, y = settings.split_inputs(training_data(model, batch))
    terms = model.compute_terms(x, y, training=True)
    assert set(terms) == set(model.loss_terms)
    assert all(np.isfinite(float(v)) for v in terms.values())
    if hasattr(model, "sample"):
        assert model.sample(5, seed=0).shape == (5, *batch.shape[1:])


@pytest.mark.parametrize("family, objective, code", CASES, ids=IDS)
def test_train_step_changes_every_weight_and_eval_step_none(family, objective,
                                                            code):
    model = build(family, objective, code)
    data = training_data(model, batch_for(model))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    before = [w.numpy().copy() for w in model.weights]
    model.evaluate(*data, batch_size=8, verbose=0)
    for a, w in zip(before, model.weights):
        np.testing.assert_array_equal(a, w.numpy(), err_msg=w.path)
    model.fit(*data, batch_size=8, epochs=1, verbose=0)
    trainable_before = {id(w): b for w, b in zip(model.weights, before)}
    unchanged = [w.path for w in model.trainable_weights
                 if np.array_equal(trainable_before[id(w)], w.numpy())]
    assert not unchanged, f"weights without a gradient step: {unchanged}"


@pytest.mark.parametrize("family, objective, code", CASES, ids=IDS)
def test_config_round_trip_rebuilds_the_same_model(family, objective, code):
    model = build(family, objective, code)
    batch = batch_for(model)
    config = json.loads(json.dumps(model.get_config()))  # as a file holds it
    # The config is what the model was built from, every option included.
    assert config["family"] == family and config["objective"] == objective
    assert set(config["family_options"]) == set(keras_ae.family_options(family))
    assert set(config["objective_options"]) == set(
        keras_ae.objective_options(objective))
    assert "encoder" not in config  # no serialized graph beside it
    clone = type(model).from_config(config)
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    args = verbs(model, batch)
    np.testing.assert_array_equal(clone.reconstruct(*args), model.reconstruct(*args))
    np.testing.assert_array_equal(clone.encode(*args), model.encode(*args))


@pytest.mark.parametrize("family, objective, code", CASES, ids=IDS)
def test_outputs_do_not_depend_on_the_batch_size(family, objective, code):
    model = build(family, objective, code)
    batch = batch_for(model)
    args = verbs(model, batch)
    np.testing.assert_allclose(model.reconstruct(*args, batch_size=16),
                               model.reconstruct(*args, batch_size=5), atol=1e-5)
    np.testing.assert_allclose(model.encode(*args, batch_size=16),
                               model.encode(*args, batch_size=1), atol=1e-5)


@pytest.mark.parametrize("family, objective, code", CASES, ids=IDS)
def test_saved_model_and_tflite_match_keras(family, objective, code, tmp_path):
    model = build(family, objective, code)
    signatures = model.serving_signatures()
    version = export_saved_model(model, tmp_path, "model")
    loaded = tf.saved_model.load(version).signatures
    assert set(loaded) == set(signatures)
    rng = np.random.default_rng(0)
    for name, (function, specs) in signatures.items():
        inputs = {spec.name: settings.signature_input(model, spec, rng)
                  for spec in specs}
        expected = function(*(tf.constant(inputs[s.name]) for s in specs))
        served = loaded[name](**{k: tf.constant(v) for k, v in inputs.items()})
        assert set(served) == set(expected)
        for key in expected:
            np.testing.assert_allclose(served[key].numpy(), expected[key].numpy(),
                                       atol=1e-5, err_msg=f"{name}/{key}")
    flatbuffer = convert_to_tflite(version)
    assert all(not op.startswith("Flex") and op != "CUSTOM"
               for op in tflite_ops(flatbuffer))
    function, specs = signatures["serving_default"]
    inputs = {spec.name: settings.signature_input(model, spec, rng)
              for spec in specs}
    expected = function(*(tf.constant(inputs[s.name]) for s in specs))
    outputs = TFLiteRunner(flatbuffer)(inputs)
    for key in expected:
        np.testing.assert_allclose(outputs[key], expected[key].numpy(),
                                   atol=1e-4, err_msg=f"tflite/{key}")


_LOAD_AND_COMPARE = """
import json, sys
import numpy as np
import keras
import keras_ae  # registers the classes, as a user's import would
report = {}
data = np.load(sys.argv[1] + "/expected.npz")
for name in json.loads(sys.argv[2]):
    model = keras.models.load_model(f"{sys.argv[1]}/{name}.keras")
    args = [data[name + "_x"]] + (
        [data[name + "_labels"]] if name + "_labels" in data.files else [])
    report[name] = {
        "type": type(model).__name__,
        "family": model.family,
        "objective": model.objective,
        "reconstruction": float(np.abs(model.reconstruct(*args) - data[name + "_r"]).max()),
        "code": float(np.abs(model.encode(*args) - data[name + "_z"]).max()),
        "optimizer_iterations": int(model.optimizer.iterations.numpy()),
    }
print(json.dumps(report))
"""


# Session scope: kept while the worker runs other modules' tests in between.
@pytest.fixture(scope="session")
def fresh_process_report(tmp_path_factory):
    directory = tmp_path_factory.mktemp("saved")
    expected = {}
    for (family, objective, code), name in zip(CASES, IDS):
        model = build(family, objective, code)
        batch = batch_for(model)
        # Eager steps: two of them cost less than tracing a train function,
        # and they leave the same optimizer state to save.
        model.compile(optimizer="adam", run_eagerly=True)
        model.fit(*training_data(model, batch), batch_size=8, epochs=1,
                  verbose=0)
        model.save(directory / f"{name}.keras")
        args = verbs(model, batch)
        expected[name + "_x"] = batch
        if len(args) > 1:
            expected[name + "_labels"] = args[1]
        expected[name + "_r"] = model.reconstruct(*args)
        expected[name + "_z"] = model.encode(*args)
    np.savez(directory / "expected.npz", **expected)
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_COMPARE, str(directory), json.dumps(IDS)],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
# One worker trains every pair once for the fresh process (the fixture).
@pytest.mark.xdist_group("fresh_process")
@pytest.mark.parametrize("family, objective, code", CASES, ids=IDS)
def test_keras_file_round_trip_in_a_fresh_process(family, objective, code,
                                                  fresh_process_report):
    report = fresh_process_report["-".join((family, objective, code))]
    assert report["family"] == family and report["objective"] == objective
    assert report["type"] == get_objective(objective).model_class.__name__
    assert report["reconstruction"] == 0.0
    assert report["code"] == 0.0
    assert report["optimizer_iterations"] == 2  # optimizer state came along
