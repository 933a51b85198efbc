"""Helpers shared by the evaluation modules: flat views and PCA."""

import numpy as np
from sklearn.decomposition import PCA

__all__ = ["flatten", "fit_pca"]


def flatten(x):
    return np.asarray(x, dtype="float64").reshape(len(x), -1)


def fit_pca(flat_train, num_components):
    """Fits scikit-learn's exact PCA with at most `num_components` components.

    With more examples than features the components come from the
    eigendecomposition of the covariance (`svd_solver="covariance_eigh"`,
    several times faster than a full SVD of the data), otherwise from a full
    SVD. `num_components` is capped by the number of examples and features.
    """
    num_samples, num_features = flat_train.shape
    solver = "covariance_eigh" if num_samples >= num_features else "full"
    return PCA(n_components=min(num_components, num_samples, num_features),
               svd_solver=solver).fit(flat_train)
