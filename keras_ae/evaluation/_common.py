"""Input checks and helpers shared by the evaluation modules."""

import numpy as np

from keras_ae.checks import check_examples
from keras_ae.checks import check_finite
from keras_ae.checks import check_unit_range
from keras_ae.models import AutoEncoder
from keras_ae.models import VariationalAutoEncoder


def check_autoencoder(model, name="model", variational=False):
    kind = VariationalAutoEncoder if variational else AutoEncoder
    if not isinstance(model, kind):
        raise ValueError(
            f"`{name}` must be a keras_ae "
            f"{'VariationalAutoEncoder' if variational else 'AutoEncoder'} "
            "(e.g. from `keras_ae.build_autoencoder`"
            f"{', variational=True' if variational else ''}). Received: "
            f"{name} of type {type(model).__name__}"
        )
    return model


def check_data(name, x, model=None):
    """Returns `x` as finite float32 examples; images (rank 4) lie in [0, 1].

    See `keras_ae.checks.check_examples`: at least one example, the model's
    input shape when a model is given, no raw `uint8` bytes.
    """
    return check_examples(
        name, x, model.input_shape_ if model is not None else None,
        unit_range=np.ndim(x) == 4 and "images")


def check_images(name, x):
    x = np.asarray(x, dtype="float32")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(
            f"`{name}` must be images of shape (num_images, height, width"
            f"[, channels]). Received: {name} with shape {x.shape}"
        )
    return check_unit_range(name, check_finite(name, x))


def check_labels(x_name, x, y_name, y):
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"`{y_name}` must hold one label per example of `{x_name}`. "
            f"Received: {len(x)} examples in {x_name} and {y_name} with shape "
            f"{y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"`{y_name}` must hold integer class labels. "
                             f"Received: {y_name} of dtype {y.dtype}")
    y = y.astype("int64")
    if y.size and y.min() < 0:
        raise ValueError(f"`{y_name}` must hold labels >= 0. Received: "
                         f"{y_name} with minimum {y.min()}")
    return y


def check_labelled_split(model, x_train, y_train, x_test, y_test):
    """Checks a model and its labelled train and test sets; returns the arrays."""
    check_autoencoder(model)
    x_train = check_data("x_train", x_train, model)
    x_test = check_data("x_test", x_test, model)
    y_train = check_labels("x_train", x_train, "y_train", y_train)
    y_test = check_labels("x_test", x_test, "y_test", y_test)
    return x_train, y_train, x_test, y_test


def check_quantile(quantile):
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not (
        0.0 <= quantile <= 1.0
    ):
        raise ValueError(
            f"`quantile` must be a number in [0, 1]. Received: quantile={quantile!r}"
        )
    return float(quantile)


def flatten(x):
    return np.asarray(x, dtype="float64").reshape(len(x), -1)


def fit_pca(flat_train, num_components):
    """Fits scikit-learn's exact PCA with at most `num_components` components.

    With more examples than features the components come from the
    eigendecomposition of the covariance (`svd_solver="covariance_eigh"`,
    several times faster than a full SVD of the data), otherwise from a full
    SVD. `num_components` is capped by the number of examples and features.
    """
    from sklearn.decomposition import PCA

    num_samples, num_features = flat_train.shape
    solver = "covariance_eigh" if num_samples >= num_features else "full"
    return PCA(n_components=min(num_components, num_samples, num_features),
               svd_solver=solver).fit(flat_train)
