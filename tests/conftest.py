"""What every test shares: a clean environment, the digits, one judge, seeds.

The environment variables that the package, Keras or the benchmarks read
are cleared (or set to what the package needs) before anything imports
Keras, so that a user's own settings cannot change what the tests train or
hold out: `KERAS_AE_MNIST_DIR` (the quality benchmark's default held-out
set), `TF_CONFIG` (a multi-worker cluster for `--distribute`),
`KERAS_BACKEND` (the package runs on TensorFlow). A test that needs one
sets it itself, for its own subprocesses.
"""

import os

# Read by the package, Keras or the benchmarks: cleared for every test.
CLEARED_ENVIRONMENT = ("KERAS_AE_MNIST_DIR", "TF_CONFIG")
for _name in CLEARED_ENVIRONMENT:
    os.environ.pop(_name, None)
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_ae.data import load_digits  # noqa: E402
from keras_ae.evaluation import reference_classifier as digit_judge  # noqa: E402

# --- Which tests train: `-m "not slow"` should train no model --------------------
# `keras.Model.fit` is wrapped to count the training steps of each test
# (fixtures included); a test not marked slow that takes more than one step
# is listed at the end of the run, for it to be marked slow or to check an
# untrained model instead.
_RUNNING = {"test": None, "slow": False}
_STEPS = {}


class _StepCounter(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if _RUNNING["test"] is not None and not _RUNNING["slow"]:
            _STEPS[_RUNNING["test"]] = _STEPS.get(_RUNNING["test"], 0) + 1


_fit = keras.Model.fit


def _counted_fit(self, *args, callbacks=None, **kwargs):
    return _fit(self, *args, callbacks=[*(callbacks or []), _StepCounter()],
                **kwargs)


keras.Model.fit = _counted_fit


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _RUNNING.update(test=item.nodeid,
                    slow=item.get_closest_marker("slow") is not None)
    try:
        return (yield)
    finally:
        _RUNNING.update(test=None, slow=False)


def pytest_sessionfinish(session):
    # A pytest-xdist worker hands its counts to the controller, which prints
    # the summary (`pytest_testnodedown`).
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["trained_steps"] = dict(_STEPS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    for test, steps in getattr(node, "workeroutput", {}).get(
            "trained_steps", {}).items():
        _STEPS[test] = _STEPS.get(test, 0) + steps


def pytest_terminal_summary(terminalreporter):
    trained = {test: steps for test, steps in _STEPS.items() if steps > 1}
    if trained:
        terminalreporter.section("tests not marked slow that train a model")
        for test, steps in sorted(trained.items()):
            terminalreporter.write_line(f"{steps:6d} steps  {test}")


@pytest.fixture(scope="session")
def digits():
    """The embedded digits: ((x_train, y_train), (x_val, y_val))."""
    return load_digits()


@pytest.fixture(scope="session")
def reference_classifier(digits):
    """The digit classifier that judges generation: the one that ships.

    `keras_ae.evaluation.reference_classifier` of the 4,000 embedded
    training digits, which loads the shipped judge (nothing is trained).
    Treat it as read-only: every test that asks for it shares it.
    """
    (x_train, y_train), _ = digits
    return digit_judge(x_train, y_train)


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)
