"""The conditional VAE: what the contract does not cover.

The label must reach the decoder (samples change with it), a CVAE trained
a few epochs must draw the asked digit far more often than chance, its
exports must take the label (float, dynamic-range and int8 TensorFlow Lite
models included), the main job must train it on the digits' labels and
draw one row per class, and every bad label must be refused before
anything runs, the file tree unchanged.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from settings import file_tree

import keras_ae
from keras_ae import training
from keras_ae.callbacks import training_recipe
from keras_ae.data import make_dataset
from keras_ae.evaluation import evaluate_model
from keras_ae.export import TFLiteRunner
from keras_ae.export import convert_to_tflite
from keras_ae.export import export_saved_model

# Its module-scoped fixtures train models: one worker runs the whole module.
pytestmark = pytest.mark.xdist_group("conditional")

SHAPE = (8, 8, 1)
NUM_CLASSES = 3


def _tiny_cvae(family="dense", **options):
    keras.utils.set_random_seed(0)
    settings = {"dense": {"hidden_units": (16,)},
                "conv": {"filters": (4, 8), "residual_blocks": 1}}[family]
    model = keras_ae.build_autoencoder(
        family, SHAPE, 4, objective="cvae", num_classes=NUM_CLASSES,
        reconstruction_loss="bce", seed=0, **settings, **options)
    model.compile(optimizer="adam")
    return model


def _data(n=12):
    rng = np.random.default_rng(0)
    return (rng.random((n, *SHAPE), dtype="float32"),
            (np.arange(n) % NUM_CLASSES).astype("int64"))


def test_the_label_reaches_the_decoder():
    model = _tiny_cvae()
    x, y = _data()
    # One step moves the weights off their initial values (a test not
    # marked slow trains no further).
    model.fit({"inputs": x, "labels": y}, epochs=1, batch_size=len(x), verbose=0)
    # The same codes decoded as two classes differ; the same seed and
    # labels give the same samples.
    zeros = model.sample(8, labels=0, seed=0)
    ones = model.sample(8, labels=1, seed=0)
    assert np.abs(zeros - ones).mean() > 1e-3
    np.testing.assert_array_equal(zeros, model.sample(8, labels=0, seed=0))
    # Balanced labels by default: the classes in turn.
    mixed = model.sample(6, seed=0)
    np.testing.assert_array_equal(
        mixed, model.sample(6, labels=np.arange(6) % NUM_CLASSES, seed=0))
    # The encoder sees the label too.
    codes = model.encode(x, np.zeros(len(x), "int64"))
    assert np.abs(codes - model.encode(x, np.ones(len(x), "int64"))).max() > 1e-4
    # The verbs, predict and the call agree.
    reconstruction = model.reconstruct(x, y)
    np.testing.assert_allclose(
        model.predict({"inputs": x, "labels": y}, verbose=0), reconstruction,
        atol=1e-6)
    np.testing.assert_allclose(model.decode(model.encode(x, y), y),
                               reconstruction, atol=1e-6)
    assert model.interpolate(x[0], x[1], num_steps=4, labels=2).shape == (
        4, *SHAPE)


@pytest.mark.slow
def test_a_trained_cvae_draws_the_asked_digit(digits, reference_classifier):
    (x_train, y_train), _ = digits
    # The conv family, which also takes the label as planes beside the
    # image: after 3 epochs the dense family's decoder still leaned on the
    # code for the class (asked class recognised 0.36/0.24/0.30, seeds 0-2).
    keras.utils.set_random_seed(0)
    model = keras_ae.build_autoencoder(
        "conv", (28, 28, 1), 8, objective="cvae", num_classes=10,
        reconstruction_loss="bce", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(make_dataset(x_train, batch_size=64, seed=0, labels=y_train),
              epochs=3, verbose=0, shuffle=False,
              callbacks=training_recipe(3, 2e-3, kl_warmup_epochs=1,
                                        restore_best_weights=False))
    asked = np.repeat(np.arange(10), 30)
    seen = reference_classifier.predict(
        model.sample(len(asked), labels=asked, seed=0), verbose=0).argmax(1)
    recognised = float(np.mean(seen == asked))
    # The same decoder given the labels shifted by one: the asked class of
    # the label it did not get, at most as often as its samples resemble
    # their neighbour class.
    shifted = (asked + 1) % 10
    seen_shifted = reference_classifier.predict(
        model.sample(len(asked), labels=shifted, seed=0), verbose=0).argmax(1)
    print("recognised:", recognised, "shifted labels, old class:",
          float(np.mean(seen_shifted == asked)))
    # Seed 0: recognised 0.997, the shifted labels' old class 0.0 (chance:
    # 0.1).
    assert recognised > 0.7
    assert float(np.mean(seen_shifted == asked)) < 0.3


def test_exports_take_the_labels_and_match_keras(tmp_path):
    model = _tiny_cvae("conv")
    x, y = _data(64)
    model.fit({"inputs": x, "labels": y}, epochs=1, batch_size=len(x), verbose=0)
    version = export_saved_model(model, tmp_path, "cvae")
    loaded = tf.saved_model.load(version).signatures
    for name, (function, specs) in model.serving_signatures().items():
        inputs = loaded[name].structured_input_signature[1]
        assert inputs["labels"].dtype == tf.int32
        assert inputs["labels"].shape.as_list() == [None]
    z = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    labels = y[:5].astype("int32")  # the signatures' dtype
    feeds = {"serving_default": {"inputs": x[:5], "labels": labels},
             "encode": {"inputs": x[:5], "labels": labels},
             "decode": {"z": z, "labels": labels}}
    expected = {
        "serving_default": {"reconstruction": model.reconstruct(x[:5], y[:5])},
        "encode": dict(zip(("z_mean", "z_log_var"),
                           model.encode_distribution(x[:5], y[:5]))),
        "decode": {"reconstruction": model.decode(z, y[:5])}}
    for name, feed in feeds.items():
        served = loaded[name](**{k: tf.constant(v) for k, v in feed.items()})
        flatbuffer = convert_to_tflite(version, signature=name)
        lite = TFLiteRunner(flatbuffer)(feed)
        for key, value in expected[name].items():
            np.testing.assert_allclose(served[key].numpy(), value, atol=1e-5)
            np.testing.assert_allclose(lite[key], value, atol=1e-4)
    # Quantized models run; int8 calibrates on the images and their labels.
    dynamic = TFLiteRunner(convert_to_tflite(model, quantization="dynamic"))(
        feeds["serving_default"])
    int8 = TFLiteRunner(convert_to_tflite(
        model, quantization="int8",
        representative_data={"inputs": x, "labels": y}))(
            feeds["serving_default"])
    target = expected["serving_default"]["reconstruction"]
    for outputs in (dynamic, int8):
        assert np.abs(outputs["reconstruction"] - target).mean() < 0.05


@pytest.mark.slow
def test_the_main_job_trains_on_the_labels_and_draws_each_class(
        tmp_path, monkeypatch):
    drawn = []
    plot_class_samples = keras_ae.plotting.plot_class_samples

    def recording(model, *args, **kwargs):
        figure = plot_class_samples(model, *args, **kwargs)
        drawn.append(len(figure.axes))
        return figure

    monkeypatch.setattr(keras_ae.plotting, "plot_class_samples", recording)
    result = training.train(
        {"family": "dense", "objective": "cvae", "latent_dim": 4,
         "options": {"hidden_units": (32,)}},
        {"epochs": 1, "judge": False, "kl_warmup_epochs": 0},
        output_dir=str(tmp_path), run_name="cvae", verbose=0)
    artefacts = result["artefacts"]
    for name in ("model", "samples", "reconstructions", "latent_space",
                 "saved_model", "tflite", "serving_config"):
        assert os.path.exists(artefacts[name]), name
    # The samples figure has one row per class: ten rows of ten.
    assert drawn == [100]
    loaded = tf.saved_model.load(artefacts["saved_model"]).signatures
    assert "labels" in loaded["serving_default"].structured_input_signature[1]


# --- Bad input: refused before anything runs, nothing written ------------------




@pytest.fixture(scope="module")
def models():
    cvae = _tiny_cvae()
    keras.utils.set_random_seed(0)
    vae = keras_ae.build_autoencoder("dense", SHAPE, 4, objective="vae",
                                     hidden_units=(8,), seed=0)
    vae.compile(optimizer="adam")
    return cvae, vae


X, Y = _data()
BAD_INPUTS = {
    "fit/label-out-of-range": (
        lambda c, v: c.fit({"inputs": X, "labels": Y + NUM_CLASSES},
                           verbose=0),
        "`x['labels']` must lie in [0, num_classes) = [0, 3)"),
    "fit/negative-label": (
        lambda c, v: c.fit({"inputs": X, "labels": Y - 1}, verbose=0),
        "Received: x['labels'] with values in [-1, 1]"),
    "fit/labels-length": (
        lambda c, v: c.fit({"inputs": X, "labels": Y[:5]}, verbose=0),
        "one label per example: shape (12,)"),
    "fit/missing-labels": (
        lambda c, v: c.fit(X, verbose=0), "Received: inputs without labels"),
    "fit/missing-labels-key": (
        lambda c, v: c.fit({"inputs": X}, verbose=0),
        "Received: a dict with keys ['inputs']"),
    "fit/float-labels": (
        lambda c, v: c.fit({"inputs": X, "labels": Y + 0.5}, verbose=0),
        "must hold integer class labels"),
    "fit/validation-label-out-of-range": (
        lambda c, v: c.fit({"inputs": X, "labels": Y}, verbose=0,
                           validation_data=({"inputs": X, "labels": Y * 5},)),
        "`validation_data[0]['labels']` must lie in [0, num_classes)"),
    "evaluate/label-out-of-range": (
        lambda c, v: c.evaluate({"inputs": X, "labels": Y + 3}, verbose=0),
        "must lie in [0, num_classes)"),
    "predict/missing-labels": (
        lambda c, v: c.predict(X, verbose=0), "inputs without labels"),
    "encode/missing-labels": (
        lambda c, v: c.encode(X), "Received: labels=None"),
    "encode/labels-length": (
        lambda c, v: c.encode(X, Y[:3]), "Received: labels with shape (3,)"),
    "reconstruct/label-out-of-range": (
        lambda c, v: c.reconstruct(X, 7), "[0, 3). Received: labels with "
        "values in [7, 7]"),
    "decode/missing-labels": (
        lambda c, v: c.decode(np.zeros((2, 4))), "Received: labels=None"),
    "sample/label-out-of-range": (
        lambda c, v: c.sample(4, labels=3), "must lie in [0, num_classes)"),
    "sample/labels-length": (
        lambda c, v: c.sample(4, labels=[0, 1]), "shape (4,)"),
    "interpolate/missing-label": (
        lambda c, v: c.interpolate(X[0], X[1]), "Received: labels=None"),
    "vae-fit/labels-given": (
        lambda c, v: v.fit({"inputs": X, "labels": Y}, verbose=0),
        "A VariationalAutoEncoder takes no labels"),
    "vae-fit/labelled-dataset": (
        lambda c, v: v.fit(make_dataset(X, batch_size=4, labels=Y), verbose=0),
        "A VariationalAutoEncoder takes no labels"),
    "vae-evaluate/labels-given": (
        lambda c, v: v.evaluate({"inputs": X, "labels": Y}, verbose=0),
        "objectives that take labels: cvae"),
    "evaluate_model/conditional": (
        lambda c, v: evaluate_model(c, X, Y, X, Y, "evaluation"),
        "a ConditionalVAE needs the labels of every input"),
    "build/map-code": (
        lambda c, v: keras_ae.build_autoencoder(
            "conv", SHAPE, (2, 2, 2), objective="cvae", filters=(4, 8)),
        "Objective 'cvae' takes vector codes only"),
    "build/one-class": (
        lambda c, v: keras_ae.build_autoencoder(
            "dense", SHAPE, 4, objective="cvae", num_classes=1),
        "`num_classes` must be an integer >= 2. Received: num_classes=1"),
}


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_labels_are_refused_before_anything_runs(case, models, tmp_path,
                                                     monkeypatch):
    call, fragment = case
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("unchanged\n")
    cvae, vae = models
    before = file_tree(tmp_path)
    weights = [w.numpy().copy() for w in cvae.weights + vae.weights]
    iterations = int(cvae.optimizer.iterations.numpy()), int(
        vae.optimizer.iterations.numpy())
    with pytest.raises(ValueError) as raised:
        call(cvae, vae)
    assert fragment in str(raised.value)
    assert file_tree(tmp_path) == before
    # No step ran: the weights and the optimizers are as they were.
    for a, w in zip(weights, cvae.weights + vae.weights):
        np.testing.assert_array_equal(a, w.numpy())
    assert iterations == (int(cvae.optimizer.iterations.numpy()),
                          int(vae.optimizer.iterations.numpy()))
