"""The VQ-VAE and its prior: what the contract does not cover.

The indices must be identical in Keras, the SavedModel and TensorFlow Lite
(float and quantized); EMA updates and restarts of dead codes must keep
more of the codebook in use than plain gradient training; the prior
trained on the model's indices must lower their negative log-likelihood
and be saved with the model; the main job must train the model and its
prior and write a complete run; bad indices and options are refused before
anything runs, the file tree unchanged.
"""

import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from settings import file_tree
from sklearn.datasets import load_digits

import keras_ae
from keras_ae import training
from keras_ae.export import TFLiteRunner
from keras_ae.export import convert_to_tflite
from keras_ae.export import export_saved_model

# Its module-scoped fixtures train models: one worker runs the whole module.
pytestmark = pytest.mark.xdist_group("vq_vae")

SHAPE = (8, 8, 1)
CONV = {"filters": (4, 8), "residual_blocks": 1}


def _tiny_vq(latent_dim=(2, 2, 4), family="conv", **options):
    keras.utils.set_random_seed(0)
    settings = {"num_embeddings": 8, "prior_filters": 8, "prior_layers": 1,
                "seed": 0, **options}
    model = keras_ae.build_autoencoder(
        family, SHAPE, latent_dim, objective="vq_vae",
        reconstruction_loss="bce", **(CONV if family == "conv" else
                                      {"hidden_units": (16,)}),
        **settings)
    model.compile(optimizer="adam")
    return model


def _x(n=64, seed=0):
    """`n` of scikit-learn's 8x8 digits in [0, 1] (offset by `seed * n`)."""
    images = load_digits().images[seed * n:(seed + 1) * n] / 16.0
    return images.astype("float32")[..., None]


@pytest.mark.slow  # trains for tens of steps
def test_indices_are_identical_in_keras_saved_model_and_tflite(tmp_path):
    # A short decay moves the EMA codebook within the few steps here.
    model = _tiny_vq(ema=True, decay=0.9)
    x = _x(512)
    model.fit(x, epochs=2, batch_size=16, verbose=0)
    x = x[:64]
    indices = model.encode_indices(x)
    assert indices.dtype == np.int32 and indices.shape == (64, 2, 2)
    assert len(np.unique(indices)) > 1  # not one code for everything
    version = export_saved_model(model, tmp_path, "vq")
    loaded = tf.saved_model.load(version).signatures
    served = loaded["encode"](inputs=tf.constant(x))
    np.testing.assert_array_equal(served["indices"].numpy(), indices)
    np.testing.assert_array_equal(served["quantized"].numpy(), model.encode(x))
    decoded = model.decode_indices(indices)
    np.testing.assert_allclose(
        loaded["decode"](indices=tf.constant(indices))["reconstruction"].numpy(),
        decoded, atol=1e-5)
    np.testing.assert_allclose(decoded, model.reconstruct(x), atol=1e-6)
    for quantization in (None, "dynamic", "int8"):
        lite = TFLiteRunner(convert_to_tflite(
            version, signature="encode", quantization=quantization,
            representative_data=x if quantization == "int8" else None))(x)
        if quantization is None:
            np.testing.assert_array_equal(lite["indices"], indices)
        else:  # quantized: (nearly) the same codes
            assert np.mean(lite["indices"] == indices) > 0.8, quantization
    lite = TFLiteRunner(convert_to_tflite(version, signature="decode"))(
        {"indices": indices})
    np.testing.assert_allclose(lite["reconstruction"], decoded, atol=1e-4)


def _codebook_in_use(**options):
    """Share of a 32-code codebook the validation digits use after 2 epochs."""
    keras.utils.set_random_seed(0)
    (x, _), (x_val, _) = keras_ae.data.load_digits()
    model = keras_ae.build_autoencoder(
        "dense", (28, 28, 1), 4, objective="vq_vae", num_embeddings=32,
        embedding_dim=4, hidden_units=(64,), reconstruction_loss="bce",
        seed=0, **options)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(x[:2000], epochs=2, batch_size=32, verbose=0)
    used = len(np.unique(model.encode_indices(x_val[:500])))
    return used / 32, history.history["codebook_usage"][-1]


@pytest.mark.slow
def test_ema_and_restarts_keep_the_codebook_in_use():
    plain, _ = _codebook_in_use(ema=False, restart_unused=False)
    restarted, logged = _codebook_in_use(ema=False, restart_unused=True)
    ema, _ = _codebook_in_use(ema=True, restart_unused=True)
    print("codes in use: plain", plain, "restarts", restarted, "EMA", ema)
    # Seed 0: plain gradient 0.625, with restarts 1.0, EMA and restarts 0.97
    # (restarts from the uniform share waited 229 steps, longer than these
    # 126, and also gave 0.625).
    assert restarted >= plain + 0.3 and ema >= plain + 0.3
    assert restarted >= 0.5 and ema >= 0.5
    assert 0.0 < logged <= 1.0


@pytest.mark.slow  # trains for tens of steps
def test_the_prior_learns_the_indices_and_is_saved_with_the_model(tmp_path):
    model = _tiny_vq()
    x, x_val = _x(256), _x(64, seed=1)
    model.fit(x, epochs=2, batch_size=32, verbose=0)
    weights = [w.numpy().copy() for w in model.prior.weights]
    untrained = -model.prior_log_likelihood(x_val).mean()
    history = model.fit_prior(x, epochs=8, batch_size=32, seed=0)
    trained = -model.prior_log_likelihood(x_val).mean()
    positions = 4
    print("held-out NLL per grid (nats): untrained", untrained, "trained",
          trained, "uniform", positions * math.log(8))
    assert trained < 0.9 * untrained
    assert history.history["loss"][-1] < history.history["loss"][0]
    # The autoencoder's steps leave the prior alone; the prior's training
    # changed it and nothing else of the model.
    assert not model.prior.trainable
    assert all(not np.array_equal(a, w.numpy())
               for a, w in zip(weights, model.prior.trainable_variables))
    model.save(tmp_path / "vq.keras")
    loaded = keras.models.load_model(tmp_path / "vq.keras")
    np.testing.assert_array_equal(loaded.sample(4, seed=3),
                                  model.sample(4, seed=3))
    np.testing.assert_allclose(loaded.prior_log_likelihood(x_val),
                               model.prior_log_likelihood(x_val), atol=1e-5)


def test_vector_codes_are_sequences_of_indices():
    model = _tiny_vq(latent_dim=3, family="dense", embedding_dim=2)
    x = _x(32)
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    assert model.code_shape == (3, 2) and model.prior.grid_shape == (1, 3)
    indices = model.encode_indices(x)
    assert indices.shape == (32, 3)
    np.testing.assert_allclose(model.decode_indices(indices),
                               model.reconstruct(x), atol=1e-6)
    assert model.sample(5, seed=0).shape == (5, *SHAPE)


@pytest.mark.slow
def test_the_main_job_trains_the_model_and_its_prior(tmp_path):
    result = training.train(
        {"family": "dense", "objective": "vq_vae", "latent_dim": 4,
         "options": {"hidden_units": (32,), "num_embeddings": 16,
                     "embedding_dim": 4, "prior_filters": 16,
                     "prior_layers": 1, "prior_epochs": 2}},
        {"epochs": 1, "judge": False},
        output_dir=str(tmp_path), run_name="vq", verbose=0)
    artefacts = result["artefacts"]
    for name in ("model", "samples", "reconstructions", "latent_space",
                 "learning_curves", "saved_model", "tflite", "serving_config"):
        assert os.path.exists(artefacts[name]), name
    assert {"codebook_perplexity", "codebook_usage",
            "val_codebook_usage"} <= set(result["metrics"])
    # The prior was trained in the run and saved with the model: held-out
    # indices are likelier under it than under a uniform prior (an untrained
    # PixelCNN is close to uniform).
    loaded = keras.models.load_model(artefacts["model"])
    _, (x_val, _) = keras_ae.data.load_digits()
    nll = -loaded.prior_log_likelihood(x_val[:200]).mean() / 4
    assert nll < 0.9 * math.log(16)
    signatures = tf.saved_model.load(artefacts["saved_model"]).signatures
    assert set(signatures["encode"].structured_outputs) == {"indices",
                                                           "quantized"}
    assert "indices" in signatures["decode"].structured_input_signature[1]


# --- Bad input: refused before anything runs, nothing written ------------------




BAD_INPUTS = {
    "decode_indices/above-the-codebook": (
        lambda m: m.decode_indices(np.full((2, 2, 2), 8)),
        "`indices` must lie in [0, num_embeddings) = [0, 8). Received: "
        "indices with values in [8, 8]"),
    "decode_indices/negative": (
        lambda m: m.decode_indices(np.full((2, 2, 2), -1)), "[-1, -1]"),
    "decode_indices/floats": (
        lambda m: m.decode_indices(np.zeros((2, 2, 2), "float32")),
        "must hold integer code indices"),
    "decode_indices/wrong-shape": (
        lambda m: m.decode_indices(np.zeros((2, 4), "int32")),
        "`indices` must have shape (num_codes, 2, 2)"),
    "decode/wrong-shape": (
        lambda m: m.decode(np.zeros((2, 2, 2, 3))), "(num_codes, 2, 2, 4)"),
    "fit_prior/epochs-0": (
        lambda m: m.fit_prior(_x(8), epochs=0), "epochs=0"),
    "sample/zero": (lambda m: m.sample(0), "num_samples=0"),
    "sample/temperature": (lambda m: m.sample(2, temperature=0),
                           "temperature=0"),
    "build/one-code": (
        lambda m: _tiny_vq(num_embeddings=1),
        "`num_embeddings` must be an integer >= 2. Received: num_embeddings=1"),
    "build/negative-commitment": (
        lambda m: _tiny_vq(commitment_cost=-0.1),
        "`commitment_cost` must be a finite number >= 0. Received: "
        "commitment_cost=-0.1"),
    "build/embedding-dim-of-a-map": (
        lambda m: _tiny_vq(embedding_dim=3),
        "`embedding_dim` must be None or latent_dim[-1] = 4"),
    "build/prior-epochs": (
        lambda m: _tiny_vq(prior_epochs=0), "prior_epochs=0"),
}


@pytest.fixture(scope="module")
def model():
    return _tiny_vq()


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_indices_and_options_are_refused(case, model, tmp_path,
                                             monkeypatch):
    call, fragment = case
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("unchanged\n")
    before = file_tree(tmp_path)
    weights = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError) as raised:
        call(model)
    assert fragment in str(raised.value)
    assert file_tree(tmp_path) == before
    for a, w in zip(weights, model.weights):
        np.testing.assert_array_equal(a, w.numpy())
