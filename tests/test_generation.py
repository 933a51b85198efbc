"""Generation judged by a reference classifier: digit FID, class shares, agreement."""

import keras
import numpy as np
import pytest

import keras_ae
from keras_ae import evaluation


def test_frechet_distance_against_the_closed_form(rng):
    a = rng.standard_normal((4000, 3))
    assert evaluation.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-5)
    # Same covariance, means 2 apart on one axis: the distance is |dmu|^2.
    # (The ridge against singular covariances moves the distance by ~1e-6.)
    assert evaluation.frechet_distance(a, a + [2.0, 0.0, 0.0]) == pytest.approx(4.0, abs=1e-5)
    # In one dimension, b against 2b: (2m - m)^2 + s^2 + 4 s^2 - 2 * 2 s^2.
    b = rng.standard_normal((1000, 1))
    assert evaluation.frechet_distance(b, 2.0 * b) == pytest.approx(
        np.mean(b) ** 2 + np.var(b, ddof=1), abs=1e-5)
    with pytest.raises(ValueError, match=r"same number of columns.*\(4000, 3\) and \(5, 2\)"):
        evaluation.frechet_distance(a, a[:5, :2])


@pytest.fixture(scope="module")
def classifier(digits):
    (x_train, y_train), _ = digits
    return evaluation.train_reference_classifier(x_train, y_train, epochs=4,
                                                 seed=0)


@pytest.mark.slow
def test_the_reference_classifier_reads_digits(classifier, digits):
    _, (x_val, y_val) = digits
    accuracy = np.mean(classifier.predict(x_val, verbose=0).argmax(1) == y_val)
    assert accuracy > 0.9
    assert evaluation.classifier_features(classifier, x_val[:5]).shape == (5, 64)


class Copier(keras_ae.VariationalAutoEncoder):
    """A stand-in VAE whose `sample` returns given images and reconstructs exactly."""

    def __init__(self, images, **kwargs):
        inputs = keras.Input((28, 28, 1))
        flat = keras.layers.Flatten()(inputs)
        encoder = keras.Model(inputs, [flat, flat])
        codes = keras.Input((784,))
        decoder = keras.Model(codes, keras.layers.Reshape((28, 28, 1))(codes))
        super().__init__(encoder, decoder, **kwargs)
        self.images = images

    def sample(self, num_samples, seed=None):
        return self.images[:num_samples]


@pytest.mark.slow
def test_generation_scores_tell_real_digits_from_one_class(classifier, digits):
    _, (x_val, y_val) = digits
    real = Copier(x_val[500:])
    ones = Copier(np.repeat(x_val[y_val == 1][:1], 500, axis=0))
    good = evaluation.evaluate_generation(real, classifier, x_val, num_samples=500)
    bad = evaluation.evaluate_generation(ones, classifier, x_val, num_samples=500)
    assert good["classes_covered"] == 10
    assert good["share_gap"] < 0.1
    assert bad["classes_covered"] == 1
    assert bad["largest_share"] == 1.0
    assert bad["share_gap"] == pytest.approx(0.9)
    assert good["frechet_distance"] < 0.1 * bad["frechet_distance"]
    assert sum(good["class_shares"]) == pytest.approx(1.0)


@pytest.mark.slow
def test_reconstruction_agreement_is_the_accuracy_on_reconstructions(classifier,
                                                                     digits):
    _, (x_val, y_val) = digits
    exact = Copier(x_val)
    result = evaluation.reconstruction_agreement(exact, classifier, x_val, y_val)
    assert result["reconstruction_agreement"] == result["original_accuracy"]
    blank = keras_ae.AutoEncoder(exact.encoder.__class__(
        exact.encoder.input, exact.encoder.output[0]), keras.Sequential([
            keras.Input((784,)), keras.layers.Lambda(lambda z: 0.0 * z),
            keras.layers.Reshape((28, 28, 1))]))
    assert evaluation.reconstruction_agreement(
        blank, classifier, x_val, y_val)["reconstruction_agreement"] < 0.2


def test_generation_checks_its_arguments(classifier, digits):
    _, (x_val, _) = digits
    vae = Copier(x_val)
    with pytest.raises(ValueError, match="at least num_samples=2000 images. Received: 1000"):
        evaluation.evaluate_generation(vae, classifier, x_val, num_samples=2000)
    with pytest.raises(ValueError, match="`classifier` must be a model from "
                       "`train_reference_classifier`"):
        evaluation.evaluate_generation(vae, keras.Sequential([keras.Input((2,))]),
                                       x_val)
    with pytest.raises(ValueError, match="`min_share` must be a number in"):
        evaluation.evaluate_generation(vae, classifier, x_val, min_share=2)
