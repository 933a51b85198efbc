"""`fit` and `evaluate` keep the README's promise on sample weights.

The loss of a batch is `sum_i(w_i * loss_i) / batch_size`, with or without
targets: Keras alone drops the weights of data given without `y`.
"""

import keras
import numpy as np

import keras_ae

X = np.random.default_rng(0).random((16, 6, 4), dtype="float32")


def _model():
    keras.utils.set_random_seed(0)
    model = keras_ae.build_autoencoder("dense", (6, 4), 3, hidden_units=(8,))
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def test_sample_weights_change_the_loss_without_targets():
    model = _model()
    weights = np.linspace(0.0, 2.0, len(X))
    plain = model.evaluate(X, batch_size=16, verbose=0)[0]
    per_example = model.compute_terms(X, X)  # the batch mean, unweighted
    assert np.isclose(plain, float(per_example["reconstruction_loss"]))
    # Without y exactly as with y=x: the weighted mean over the batch.
    weighted = model.evaluate(X, sample_weight=weights, batch_size=16,
                              verbose=0)[0]
    with_targets = model.evaluate(X, X, sample_weight=weights, batch_size=16,
                                  verbose=0)[0]
    assert np.isclose(weighted, with_targets, rtol=1e-6)
    reconstruction = model.reconstruct(X)
    losses = ((reconstruction - X) ** 2).reshape(len(X), -1).sum(axis=1)
    assert np.isclose(weighted, np.sum(weights * losses) / len(X), rtol=1e-5)
    assert not np.isclose(weighted, plain, rtol=1e-3)
    assert model.evaluate(X, sample_weight=np.zeros(len(X)), verbose=0)[0] == 0


def test_fit_honours_sample_weights_without_targets():
    model = _model()
    before = model.get_weights()
    # Zero weights: a zero loss, no gradient, nothing learned (one step; a
    # fit that dropped the weights would change every weight).
    model.fit(X, sample_weight=np.zeros(len(X)), batch_size=16, epochs=1,
              verbose=0)
    for start, end in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(start, end)
