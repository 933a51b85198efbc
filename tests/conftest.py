import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_ae.data import load_digits  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    """The embedded digits: ((x_train, y_train), (x_val, y_val))."""
    return load_digits()


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)
