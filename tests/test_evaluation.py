"""Tests of the applications: metrics against independent references, each
application against its trivial baseline on the embedded digits, bad inputs,
`evaluate_model` and the `evaluate` command.

The models are tiny and trained for a few epochs (shared by module-scoped
fixtures), so the thresholds are those of a trivial baseline, not of a good
model.
"""

import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import multivariate_normal
from sklearn.metrics import roc_auc_score

import keras_ae
from keras_ae import cli
from keras_ae import evaluation
from keras_ae import timeseries
from keras_ae.corruptions import GaussianNoise
from keras_ae.corruptions import Occlusion
from keras_ae.data import make_dataset


# --- Shared data and models --------------------------------------------------


@pytest.fixture(scope="module")
def split(digits):
    """The conftest's embedded digits: 4,000 to train, 500 held out."""
    (x_train, y_train), (x_test, y_test) = digits
    return x_train, y_train, x_test[:500], y_test[:500]


def train(x, epochs=5, corruption=None, latent_dim=16, variational=False,
          seed=0):
    keras.utils.set_random_seed(seed)
    model = keras_ae.build_autoencoder(
        "dense", x.shape[1:], latent_dim, variational=variational,
        reconstruction_loss="bce", seed=seed, hidden_units=(128,))
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(make_dataset(x, batch_size=64, seed=seed, corruption=corruption),
              epochs=epochs, verbose=0, shuffle=False)
    return model


@pytest.fixture(scope="module")
def autoencoder(split):
    return train(split[0])


@pytest.fixture(scope="module")
def vae(split):
    return train(split[0], latent_dim=2, variational=True)


# --- PSNR / SSIM -------------------------------------------------------------


def noisy_pairs(n=6, seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.uniform(size=(n, 28, 28, 1)).astype("float32")
    other = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype("float32")
    return clean, other


def test_psnr_ssim_agree_with_tf_image_and_the_psnr_formula():
    clean, other = noisy_pairs()
    result = evaluation.psnr_ssim(clean, other)
    assert result["psnr"] == pytest.approx(
        float(np.mean(tf.image.psnr(clean, other, max_val=1.0))), rel=1e-6)
    assert result["ssim"] == pytest.approx(
        float(np.mean(tf.image.ssim(clean, other, max_val=1.0))), rel=1e-6)
    # PSNR = 10 log10(max^2 / MSE), per image, then the mean.
    mse = np.mean((clean.astype("float64") - other) ** 2, axis=(1, 2, 3))
    assert result["psnr"] == pytest.approx(np.mean(10 * np.log10(1.0 / mse)),
                                           rel=1e-4)


def test_psnr_ssim_on_known_pairs():
    black = np.zeros((2, 16, 16, 1), "float32")
    result = evaluation.psnr_ssim(black, black + 0.1)  # MSE 0.01
    assert result["psnr"] == pytest.approx(20.0, abs=1e-4)
    clean, _ = noisy_pairs(2)
    same = evaluation.psnr_ssim(clean, clean)
    assert same["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert math.isinf(same["psnr"])
    # Grayscale images without a channel axis get one.
    assert evaluation.psnr_ssim(black[..., 0], black[..., 0] + 0.1)["psnr"] == (
        pytest.approx(20.0, abs=1e-4))


def test_psnr_ssim_refuse_bad_images():
    clean, other = noisy_pairs(2)
    with pytest.raises(ValueError, match=r"`other` must be scaled to \[0, 1\]. "
                       r"Received: other with values in \[0, 255\]"):
        evaluation.psnr_ssim(clean, np.full_like(clean, 255.0) * (clean > 0.5))
    with pytest.raises(ValueError, match="same shape"):
        evaluation.psnr_ssim(clean, other[:1])
    with pytest.raises(ValueError, match="at least 11x11"):
        evaluation.psnr_ssim(clean[:, :8, :8], other[:, :8, :8])


# --- Restoration -------------------------------------------------------------


@pytest.mark.slow
def test_a_denoising_autoencoder_beats_the_noisy_input(split, tmp_path):
    x_train, _, x_test, _ = split
    denoiser = train(x_train, corruption=GaussianNoise(0.5, seed=0),
                     latent_dim=32)
    path = tmp_path / "noise.png"
    result = evaluation.evaluate_restoration(denoiser, x_test, GaussianNoise(0.5),
                                             seed=1, path=str(path))
    print("denoising:", result)
    assert result["restored_psnr"] > result["corrupted_psnr"] + 2.0
    assert result["num_images"] == len(x_test) and result["num_unchanged"] == 0
    assert "inpainted_psnr" not in result  # noise does not only write zeros
    assert path.stat().st_size > 0
    # The corruption depends on the seed only.
    again = evaluation.evaluate_restoration(denoiser, x_test, GaussianNoise(0.5),
                                            seed=1)
    other = evaluation.evaluate_restoration(denoiser, x_test, GaussianNoise(0.5),
                                            seed=2)
    assert again == result and other != result


@pytest.mark.slow
def test_an_inpainting_autoencoder_fills_the_holes_better_than_zeros(split):
    x_train, _, x_test, _ = split
    inpainter = train(x_train, corruption=Occlusion(10, seed=0), latent_dim=32)
    result = evaluation.evaluate_restoration(inpainter, x_test, Occlusion(10),
                                             seed=1)
    print("occlusion:", result)
    assert result["inpainted_psnr"] > result["corrupted_psnr"] + 0.5
    # Occluders on black background change nothing: left out and counted.
    assert result["num_unchanged"] > 0
    assert result["num_images"] + result["num_unchanged"] == len(x_test)


def test_restoration_refuses_a_corruption_that_changes_nothing(autoencoder,
                                                               split):
    with pytest.raises(ValueError, match="left every image unchanged"):
        evaluation.evaluate_restoration(autoencoder, split[2][:8],
                                        GaussianNoise(0.0), seed=0)


def test_restoration_refuses_images_outside_the_unit_range(autoencoder, split):
    with pytest.raises(ValueError, match=r"`x_clean` must be scaled to \[0, 1\]"
                       r"\. Received: x_clean with values in \[0, 255\]"):
        evaluation.evaluate_restoration(autoencoder, split[2][:8] * 255,
                                        GaussianNoise(0.5), seed=0)


# --- Compression against PCA -------------------------------------------------


def test_pca_comparison_matches_an_eigendecomposition_and_beats_the_mean(
        autoencoder, split, tmp_path):
    x_train, _, x_test, _ = split
    result = evaluation.compare_with_pca(autoencoder, x_train, x_test,
                                         path=str(tmp_path / "pca.png"))
    print("compression:", result)
    flat_train = x_train.reshape(len(x_train), -1).astype("float64")
    flat_test = x_test.reshape(len(x_test), -1).astype("float64")
    mean = flat_train.mean(axis=0)
    # The 16 leading eigenvectors of the covariance (not an SVD, as sklearn).
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(flat_train.T))
    basis = eigenvectors[:, np.argsort(eigenvalues)[::-1][:16]].T
    projected = (flat_test - mean) @ basis.T @ basis + mean
    assert result["pca_mse"] == pytest.approx(np.mean((projected - flat_test) ** 2),
                                              rel=1e-5)
    assert result["mean_image_mse"] == pytest.approx(
        np.mean((flat_test - mean) ** 2), rel=1e-6)
    assert result["num_components"] == 16
    # The honest bar for a 5-epoch model: better than the mean image.
    assert result["ae_mse"] < 0.9 * result["mean_image_mse"]
    assert (tmp_path / "pca.png").stat().st_size > 0


# --- Classification from the code --------------------------------------------


def test_a_frozen_classifier_trains_only_its_head(autoencoder, split):
    x_train, y_train = split[0][:256], split[1][:256]
    before = [w.copy() for w in autoencoder.get_weights()]
    classifier = evaluation.build_classifier(autoencoder, 10, seed=0)
    assert len(classifier.trainable_weights) == 2  # kernel and bias of the head
    encoder_before = [w.copy() for w in classifier.layers[1].get_weights()]
    classifier.compile("adam", "sparse_categorical_crossentropy")
    classifier.fit(x_train, y_train, epochs=1, verbose=0)
    for a, b in zip(encoder_before, classifier.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(before, autoencoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert classifier.output.shape == (None, 10)


def test_fine_tuning_changes_a_copy_of_the_encoder_only(autoencoder, split):
    x_train, y_train = split[0][:256], split[1][:256]
    before = [w.copy() for w in autoencoder.get_weights()]
    classifier = evaluation.build_classifier(autoencoder, 10,
                                             freeze_encoder=False, seed=0)
    np.testing.assert_allclose(classifier.layers[1].predict(x_train[:4], verbose=0),
                               autoencoder.encode(x_train[:4]), atol=1e-6)
    classifier.compile("adam", "sparse_categorical_crossentropy")
    classifier.fit(x_train, y_train, epochs=1, verbose=0)
    assert not np.allclose(classifier.layers[1].predict(x_train[:4], verbose=0),
                           autoencoder.encode(x_train[:4]))
    for a, b in zip(before, autoencoder.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_vae_classifier_reads_z_mean(vae, split):
    classifier = evaluation.build_classifier(vae, 3, freeze_encoder=False,
                                             seed=0)
    code = classifier.layers[1](split[2][:4])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(code),
                               vae.encode(split[2][:4]), atol=1e-6)
    # Every trainable weight gets a gradient (z_log_var is left out).
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(classifier(split[2][:4]))
    gradients = tape.gradient(loss, classifier.trainable_weights)
    assert all(g is not None for g in gradients)
    assert not any("z_log_var" in w.path for w in classifier.weights)


def test_build_classifier_refuses_bad_models_and_class_counts(autoencoder):
    with pytest.raises(ValueError, match="`autoencoder` must be a keras_ae "
                       "AutoEncoder.*Received: autoencoder of type Sequential"):
        evaluation.build_classifier(keras.Sequential([keras.layers.Dense(2)]), 10)
    with pytest.raises(ValueError, match="num_classes=1"):
        evaluation.build_classifier(autoencoder, 1)
    # An encoder whose code is not (batch_size, latent_dim).
    inputs = keras.Input((6,))
    encoder = keras.Model(inputs, keras.layers.Reshape((3, 2))(inputs))
    codes = keras.Input((2,))
    decoder = keras.Model(codes, keras.layers.Dense(6)(codes))
    odd = keras_ae.AutoEncoder(encoder, decoder)
    with pytest.raises(ValueError, match=r"code has shape \(batch_size, 2\)\. "
                       r"Received: .*\(None, 3, 2\)"):
        evaluation.build_classifier(odd, 10)


def test_a_classifier_on_backbone_features_reads_the_map_before_the_code(split):
    model = keras_ae.build_autoencoder("conv", (28, 28, 1), 4, filters=(4, 8))
    classifier = evaluation.build_classifier(model, 10, freeze_encoder=False,
                                             features="backbone", dropout=0.5,
                                             seed=0)
    backbone = classifier.layers[1]
    assert backbone.output.shape == (None, 7 * 7 * 8)  # not the 4-number code
    assert "z" not in [layer.name for layer in backbone.layers]
    assert classifier.get_layer("dropout").rate == 0.5
    # A feature-map code is flattened in front of the head.
    mapped = keras_ae.build_autoencoder("conv", (28, 28, 1), (7, 7, 2),
                                        filters=(4, 8))
    on_code = evaluation.build_classifier(mapped, 10, features="code")
    assert on_code.get_layer("flatten").output.shape == (None, 98)
    with pytest.raises(ValueError, match="Unknown `features`. Received: "
                       "features=.pixels.; allowed: .code., .backbone."):
        evaluation.build_classifier(model, 10, features="pixels")
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\). "
                       "Received: dropout=1.0"):
        evaluation.build_classifier(model, 10, dropout=1.0)


def test_fine_tuning_augments_images_in_training_only(split):
    x_train, y_train = split[0][:200], split[1][:200]
    model = keras_ae.build_autoencoder("conv", (28, 28, 1), 4, filters=(4, 8))
    before = [w.copy() for w in model.get_weights()]
    classifier = evaluation.fine_tune_classifier(model, x_train, y_train,
                                                 epochs=1, seed=0)
    augmentation = classifier.get_layer("augmentation")
    assert [layer.name for layer in augmentation.layers] == [
        "random_shift", "random_rotation"]
    # Deterministic at inference: the augmentation layers pass inputs through.
    np.testing.assert_array_equal(classifier.predict(x_train[:8], verbose=0),
                                  classifier.predict(x_train[:8], verbose=0))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the autoencoder is untouched
    with pytest.raises(ValueError, match="`augment=True` shifts and rotates "
                       r"images .* Received: x with shape \(200, 6\)"):
        sequences = keras_ae.build_autoencoder("dense", (6,), 2)
        evaluation.fine_tune_classifier(sequences, np.zeros((200, 6), "float32"),
                                        y_train, epochs=1)


def test_stratified_subsets_take_n_per_class_with_the_seed():
    y = np.repeat(np.arange(4), 30)
    index = evaluation.stratified_subset(y, 5, seed=0)
    assert np.all(np.bincount(y[index]) == 5)
    np.testing.assert_array_equal(index, evaluation.stratified_subset(y, 5, seed=0))
    assert not np.array_equal(index, evaluation.stratified_subset(y, 5, seed=1))
    assert len(evaluation.stratified_subset(y, None)) == len(y)


@pytest.mark.slow
def test_the_probe_beats_chance_with_few_labels(autoencoder, split):
    x_train, y_train, x_test, y_test = split
    result = evaluation.evaluate_classification(
        autoencoder, x_train[:1500], y_train[:1500], x_test, y_test,
        labels_per_class=(10, 100, None), seed=0, fine_tune_steps=40)
    print("classification:", result)
    assert result["majority_accuracy"] < 0.15
    for tag in ("10", "100", "all"):
        assert result[f"probe_accuracy_{tag}"] > 0.1 + 0.3
        for method in ("fine_tuned", "pixels", "pca"):
            assert 0.0 <= result[f"{method}_accuracy_{tag}"] <= 1.0
    assert result["probe_accuracy_100"] > result["probe_accuracy_10"] - 0.02


def test_classification_refuses_mismatched_labels(autoencoder, split):
    x_train, y_train, x_test, y_test = split
    with pytest.raises(ValueError, match=r"`y_train` must hold one label per "
                       r"example of `x_train`. Received: 4000 examples in "
                       r"x_train and y_train with shape \(3999,\)"):
        evaluation.evaluate_classification(autoencoder, x_train, y_train[:-1],
                                           x_test, y_test)
    with pytest.raises(ValueError, match=r"labels_per_class=\(1000,\)"):
        evaluation.evaluate_classification(autoencoder, x_train, y_train,
                                           x_test, y_test, labels_per_class=1000)


# --- Likelihood of a VAE -----------------------------------------------------


def linear_gaussian_vae(exact_posterior=True, seed=0):
    """A VAE whose marginal likelihood is known: x = W z + b + N(0, I).

    With the unit-variance Gaussian likelihood of an "mse" model, p(x) =
    N(b, W W^T + I). W has orthogonal columns, so the exact posterior is
    diagonal, N(S W^T (x - b), S) with S = (I + W^T W)^-1, and the encoder
    can be set to it exactly.
    """
    rng = np.random.default_rng(seed)
    dim, latent = 5, 2
    model = keras_ae.build_autoencoder(
        "dense", (dim,), latent, variational=True, reconstruction_loss="mse",
        hidden_units=(), output_activation="linear", seed=seed)
    w = np.linalg.qr(rng.normal(size=(dim, latent)))[0] * np.array([2.0, 0.7])
    b = rng.normal(size=dim)
    s = np.linalg.inv(np.eye(latent) + w.T @ w)
    model.decoder.get_layer("output").set_weights([w.T, b])
    mean_kernel, mean_bias = w @ s, -(b @ w @ s)
    log_var = np.log(np.diag(s))
    if not exact_posterior:
        mean_kernel = mean_kernel + rng.normal(0, 0.2, mean_kernel.shape)
        log_var = log_var + 0.5
    model.encoder.get_layer("z_mean").set_weights([mean_kernel, mean_bias])
    model.encoder.get_layer("z_log_var").set_weights(
        [np.zeros((dim, latent)), log_var])
    x = rng.multivariate_normal(b, w @ w.T + np.eye(dim), size=400)
    exact = -multivariate_normal(b, w @ w.T + np.eye(dim)).logpdf(x).mean()
    return model, x.astype("float32"), exact


def test_with_the_exact_posterior_every_estimate_is_the_exact_nll():
    model, x, exact = linear_gaussian_vae(exact_posterior=True)
    for k in (1, 10):
        assert evaluation.importance_weighted_nll(model, x, k=k)["iw_nll"] == (
            pytest.approx(exact, abs=1e-3))
    # The ELBO is tight too, but its reconstruction term varies with z.
    elbo = evaluation.negative_elbo(model, x, num_samples=500)["negative_elbo"]
    assert elbo == pytest.approx(exact, abs=0.01)


def test_iw_nll_tightens_towards_the_exact_nll_as_k_grows():
    model, x, exact = linear_gaussian_vae(exact_posterior=False)
    elbo = evaluation.negative_elbo(model, x, num_samples=200)["negative_elbo"]
    iw = {k: evaluation.importance_weighted_nll(model, x, k=k)["iw_nll"]
          for k in (1, 10, 1000)}
    print("linear Gaussian: exact", exact, "neg. ELBO", elbo, "IW-NLL", iw)
    assert elbo > exact + 0.5  # a wrong posterior leaves a gap
    assert iw[1] > iw[10] > iw[1000] >= exact - 0.01
    assert iw[1000] - exact < 0.1 * (elbo - exact)
    # At k=1: a one-sample negative ELBO, equal in expectation (the spread
    # of one estimate here is about 0.1 nats).
    ones = [evaluation.importance_weighted_nll(model, x, k=1, seed=s)["iw_nll"]
            for s in range(20)]
    assert np.mean(ones) == pytest.approx(elbo, abs=0.1)


def test_negative_elbo_is_the_models_own_loss(vae, split):
    x = split[2][:300]
    result = evaluation.negative_elbo(vae, x, num_samples=20)
    z_mean, z_log_var = vae.encode_distribution(x)
    kl = keras.ops.convert_to_numpy(keras_ae.kl_divergence(z_mean, z_log_var))
    assert result["kl"] == pytest.approx(float(np.mean(kl)), rel=1e-5)
    # The model's own test loss, one sampled code per call, averaged.
    losses = [float(vae.total_loss(vae.compute_terms(x, x))) for _ in range(20)]
    assert result["negative_elbo"] == pytest.approx(np.mean(losses), rel=5e-3)


def test_iw_nll_is_below_the_negative_elbo_on_digits(vae, split):
    x = split[2][:200]
    elbo = evaluation.negative_elbo(vae, x, num_samples=10, seed=0)
    iw = {k: evaluation.importance_weighted_nll(vae, x, k=k, seed=0)["iw_nll"]
          for k in (1, 5, 50)}
    print("digits VAE: neg. ELBO", elbo, "IW-NLL", iw)
    assert iw[50] < elbo["negative_elbo"]
    assert iw[1] >= iw[5] - 0.2 and iw[5] >= iw[50] - 0.2
    # At k=1 the estimate is a one-sample negative ELBO: equal in expectation.
    ones = [evaluation.importance_weighted_nll(vae, x, k=1, seed=s)["iw_nll"]
            for s in range(10)]
    assert np.mean(ones) == pytest.approx(elbo["negative_elbo"], rel=5e-3)


def test_likelihoods_need_a_vae_and_unit_range_images(autoencoder, vae, split):
    with pytest.raises(ValueError, match="`vae` must be a keras_ae "
                       "VariationalAutoEncoder.*Received: vae of type AutoEncoder"):
        evaluation.negative_elbo(autoencoder, split[2][:4])
    with pytest.raises(ValueError, match=r"`x` must be scaled to \[0, 1\]. "
                       r"Received: x with values in \[-1, 1\]"):
        evaluation.importance_weighted_nll(vae, split[2][:4] * 2 - 1, k=2)


# --- Generation --------------------------------------------------------------


def test_generation_figures_are_written(vae, split, tmp_path):
    x_test = split[2]
    evaluation.plot_samples(vae, str(tmp_path / "samples.png"), num_samples=16)
    evaluation.plot_interpolations(vae, x_test[:2], x_test[2:4],
                                   str(tmp_path / "interpolations.png"))
    for name in ("samples.png", "interpolations.png"):
        assert (tmp_path / name).stat().st_size > 0
    with pytest.raises(ValueError, match="as many inputs. Received: 2 and 1"):
        evaluation.plot_interpolations(vae, x_test[:2], x_test[2:3])


# --- Anomaly detection -------------------------------------------------------


def test_anomaly_metrics_on_a_hand_computed_case():
    scores = [0.1, 0.4, 0.35, 0.8]
    labels = [0, 0, 1, 1]
    # Pairs (anomaly, normal) ranked right: (0.35>0.1), (0.8>0.1), (0.8>0.4).
    result = evaluation.anomaly_metrics(scores, labels, threshold=0.3)
    assert result["roc_auc"] == pytest.approx(3 / 4)
    # Flagged: 0.4, 0.35, 0.8 -> 2 true of 3 flagged, 2 of 2 anomalies found.
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(1.0)
    assert result["f1"] == pytest.approx(0.8)
    assert result["false_positive_rate"] == pytest.approx(0.5)


def test_anomaly_auc_agrees_with_sklearn_on_fixed_scores():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = rng.normal(size=300) + labels
    result = evaluation.anomaly_metrics(scores, labels, threshold=0.5)
    assert result["roc_auc"] == pytest.approx(roc_auc_score(labels, scores))
    flagged = scores > 0.5
    assert result["recall"] == pytest.approx(flagged[labels == 1].mean())
    assert result["precision"] == pytest.approx(labels[flagged].mean())


def test_reconstruction_errors_are_per_example_mses(autoencoder, split):
    x = split[2][:20]
    expected = np.mean((autoencoder.reconstruct(x) - x) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(evaluation.reconstruction_errors(autoencoder, x),
                               expected, rtol=1e-5)


def test_the_threshold_is_a_quantile_of_training_scores_only(autoencoder, split):
    scores = np.arange(101.0)
    assert evaluation.choose_threshold(scores, 0.9) == pytest.approx(90.0)
    x_train, _, x_test, y_test = split
    is_anomaly = (y_test != 1).astype(int)
    result = evaluation.evaluate_anomaly_detection(
        autoencoder, x_train[:300], x_test, is_anomaly, quantile=0.95)
    expected = evaluation.choose_threshold(
        evaluation.reconstruction_errors(autoencoder, x_train[:300]), 0.95)
    assert result["threshold"] == pytest.approx(expected)
    # Other test data or labels do not move it.
    flipped = evaluation.evaluate_anomaly_detection(
        autoencoder, x_train[:300], x_test[:100], 1 - is_anomaly[:100],
        quantile=0.95)
    assert flipped["threshold"] == result["threshold"]


def test_anomaly_detection_refuses_bad_inputs(autoencoder, split):
    x_train, _, x_test, y_test = split
    with pytest.raises(ValueError, match="`train_scores` must be a non-empty"):
        evaluation.choose_threshold([], 0.99)
    with pytest.raises(ValueError, match="quantile=1.5"):
        evaluation.choose_threshold([1.0, 2.0], 1.5)
    with pytest.raises(ValueError, match=r"Received: 500 examples in x_test and "
                       r"y_test_is_anomaly with shape \(499,\)"):
        evaluation.evaluate_anomaly_detection(autoencoder, x_train[:50], x_test,
                                              np.ones(499, int))
    with pytest.raises(ValueError, match="both normal"):
        evaluation.evaluate_anomaly_detection(autoencoder, x_train[:50], x_test,
                                              np.ones(500, int))


@pytest.mark.slow
def test_digit_anomalies_are_found_and_the_model_is_untouched(autoencoder,
                                                              split, tmp_path):
    x_train, y_train, x_test, y_test = split
    before = [w.copy() for w in autoencoder.get_weights()]
    result = evaluation.evaluate_digit_anomaly(
        autoencoder, x_train, y_train, x_test, y_test, normal_class=1, epochs=3,
        seed=0, path=str(tmp_path / "scores.png"))
    print("digit anomalies (1 normal):", result)
    assert result["roc_auc"] > 0.75
    assert result["anomaly_share"] == pytest.approx(np.mean(y_test != 1))
    assert result["false_positive_rate"] < 0.2
    for a, b in zip(before, autoencoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert (tmp_path / "scores.png").stat().st_size > 0


# --- Time series -------------------------------------------------------------


def test_sliding_windows_and_their_labels():
    windows = timeseries.sliding_windows(np.arange(7), window=3, stride=2)
    np.testing.assert_array_equal(windows[..., 0], [[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    labels = np.zeros(7, int)
    labels[3] = 1
    np.testing.assert_array_equal(timeseries.window_labels(labels, 3, 2), [0, 1, 0])
    assert timeseries.sliding_windows(np.ones((10, 2)), 4).shape == (7, 4, 2)
    with pytest.raises(ValueError, match="window=11"):
        timeseries.sliding_windows(np.ones(10), 11)


def test_the_yahoo_task_trains_on_normal_windows_only():
    task = timeseries.make_yahoo_task(window=24, stride=1, train_fraction=0.4)
    series, labels, split = task["series"], task["labels"], task["split"]
    assert series.shape == (1000,) and labels.sum() == 7 and split == 400
    assert not labels[:split].any()
    assert task["x_train"].shape == (400 - 24 + 1, 24, 1)
    assert task["x_test"].shape == (600 - 24 + 1, 24, 1)
    np.testing.assert_allclose(task["x_train"].mean(axis=1), 0.0, atol=1e-5)
    assert task["x_train"].std() == pytest.approx(1.0, rel=1e-4)
    # A window is anomalous iff it contains a labelled point.
    brute = [labels[s:s + 24].any() for s in task["test_starts"]]
    np.testing.assert_array_equal(task["y_test"], brute)
    with pytest.raises(ValueError, match="train_fraction=0.5"):
        timeseries.make_yahoo_task(train_fraction=0.5)


@pytest.mark.slow
@pytest.mark.parametrize("family, options", [
    ("lstm", {"units": (16,)}),
    ("transformer", {"embed_dim": 16, "num_heads": 2, "mlp_dim": 32,
                     "num_layers": 1}),
])
def test_sequence_autoencoders_find_the_yahoo_anomalies(family, options):
    result = timeseries.evaluate_timeseries_anomaly(
        family, latent_dim=4, epochs=8, seed=0, **options)
    print(f"yahoo, {family}:", result)
    assert result["roc_auc"] > 0.7
    assert result["num_anomalies"] > 0


# --- evaluate_model and the command line -------------------------------------


@pytest.mark.slow
def test_evaluate_model_writes_metrics_and_figures(vae, split, tmp_path):
    x_train, y_train, x_test, y_test = split
    output_dir = tmp_path / "evaluation"
    result = evaluation.evaluate_model(
        vae, x_train[:1000], y_train[:1000], x_test[:300], y_test[:300],
        str(output_dir), seed=0, anomaly_epochs=1, fine_tune_steps=5,
        labels_per_class=(10,), iw_samples=5, max_likelihood_examples=50)
    with open(output_dir / "metrics.json") as f:
        metrics = json.load(f)
    for task in ("denoising", "occlusion", "pca_comparison", "classification",
                 "likelihood", "anomaly_detection"):
        assert task in metrics
    likelihood = metrics["likelihood"]
    assert likelihood["iw_nll"] <= likelihood["negative_elbo"] + 1.0
    for name in ("restoration_noise.png", "restoration_occlusion.png",
                 "pca_comparison.png", "latent_space.png", "samples.png",
                 "manifold.png", "interpolations.png", "anomaly_scores.png"):
        assert (output_dir / name).stat().st_size > 0
        assert name in metrics["files"]
    assert sorted(os.listdir(output_dir)) == sorted(metrics["files"])
    assert not any(os.path.isabs(p) for p in metrics["files"])
    assert result["metrics"]["classification"] == metrics["classification"]
    # Nothing is overwritten.
    with pytest.raises(FileExistsError, match="output_dir"):
        evaluation.evaluate_model(vae, x_train[:100], y_train[:100], x_test[:50],
                                  y_test[:50], str(output_dir),
                                  labels_per_class=(2,))


def test_evaluate_model_checks_everything_before_writing(autoencoder, split,
                                                         tmp_path):
    x_train, y_train, x_test, y_test = split
    output_dir = tmp_path / "evaluation"
    with pytest.raises(ValueError, match=r"`x_test` must be scaled to \[0, 1\]"):
        evaluation.evaluate_model(autoencoder, x_train, y_train, x_test * 3,
                                  y_test, str(output_dir))
    with pytest.raises(ValueError, match="`y_test` must hold one label"):
        evaluation.evaluate_model(autoencoder, x_train, y_train, x_test,
                                  y_test[:10], str(output_dir))
    with pytest.raises(ValueError, match="normal_class=11"):
        evaluation.evaluate_model(autoencoder, x_train, y_train, x_test, y_test,
                                  str(output_dir), normal_class=11)
    assert not output_dir.exists()


@pytest.mark.slow
def test_the_evaluate_command_writes_metrics_and_figures(autoencoder, tmp_path,
                                                         capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    autoencoder.save(run_dir / "model.keras")
    code = cli.main(["evaluate", str(run_dir / "model.keras"),
                     "--labels-per-class", "10", "--fine-tune-steps", "5",
                     "--anomaly-epochs", "1", "--iw-samples", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    output_dir = run_dir / "evaluation"
    with open(output_dir / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["data"] == {"num_train": 4000, "num_test": 1000}
    assert metrics["classification"]["probe_accuracy_10"] > 0.3
    for name in ("restoration_noise.png", "latent_space.png",
                 "anomaly_scores.png"):
        assert (output_dir / name).stat().st_size > 0
    assert str(output_dir) in out and "probe accuracy" in out
    # A second run refuses to overwrite: one line, exit code 2.
    assert cli.main(["evaluate", str(run_dir / "model.keras")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_the_evaluate_command_reports_a_missing_model(tmp_path, capsys):
    code = cli.main(["evaluate", str(tmp_path / "nothing.keras")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("keras_ae evaluate: error: No saved model")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "evaluation").exists()
