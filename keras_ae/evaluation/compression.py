"""Compression: the code against PCA with as many components."""

import numpy as np

from keras_ae import plotting
from keras_ae.checks import check_autoencoder
from keras_ae.checks import check_data
from keras_ae.evaluation._common import fit_pca
from keras_ae.evaluation._common import flatten

__all__ = ["compare_with_pca"]


def compare_with_pca(model, x_train, x_test, path=None, num_shown=10):
    """Compares the model's reconstructions with PCA's on held-out data.

    PCA (scikit-learn) keeps as many components as the model's code
    (`latent_dim`, at most the number of training examples or features) and
    is fitted on `x_train`; both are evaluated on `x_test`. The mean-image
    baseline predicts the mean training example for every input.

    Returns:
        A dict of floats, mean squared errors per value (pixel): `ae_mse`,
        `pca_mse`, `mean_image_mse`, and `num_components`.
    """
    check_autoencoder(model)
    x_train = check_data("x_train", x_train, model)
    x_test = check_data("x_test", x_test, model)
    flat_train, flat_test = flatten(x_train), flatten(x_test)
    pca = fit_pca(flat_train, model.latent_dim)
    components = int(pca.n_components_)
    pca_reconstruction = pca.inverse_transform(pca.transform(flat_test))
    ae_reconstruction = flatten(model.reconstruct(x_test))
    mean_image = flat_train.mean(axis=0, keepdims=True)
    if path is not None and x_test.ndim == 4:
        plotting.plot_rows(
            {"original": x_test[:num_shown],
             "autoencoder": ae_reconstruction[:num_shown].reshape(
                 x_test[:num_shown].shape),
             f"PCA ({components})": pca_reconstruction[:num_shown].reshape(
                 x_test[:num_shown].shape)},
            path, "Held-out reconstructions: autoencoder and PCA, "
            f"{components} numbers per code",
        )
    return {
        "ae_mse": float(np.mean((ae_reconstruction - flat_test) ** 2)),
        "pca_mse": float(np.mean((pca_reconstruction - flat_test) ** 2)),
        "mean_image_mse": float(np.mean((mean_image - flat_test) ** 2)),
        "num_components": float(components),
    }
