"""What every section of the performance benchmark shares: sizes and models."""

import keras

import keras_ae
from benchmarks import common
from keras_ae.data import load_digits

SECTIONS = ("peak", "training", "reference", "latency", "speedups")
BATCH_SIZE = 128
LATENT_DIM = 16
# A change of throughput smaller than this is reported as "no effect".
EFFECT_THRESHOLD = 0.10
BUDGET_SECONDS = 600

# Sizes of the full run and of `--quick` (a few steps per figure).
FULL = {
    "train_examples": None, "warmup_epochs": 1, "timed_epochs": 3,
    "reference_epochs": 10, "reference_seeds": 3, "elbo_draws": 10,
    "matmul_size": 2048,
    "matmul_runs": 7, "latency_warmup": 5, "latency_repeats": 30,
    "latency_max_seconds": 2.0, "speedup_timed_epochs": 2,
    "speedup_rounds": 2, "seed": 0,
}
QUICK = {
    "train_examples": 512, "warmup_epochs": 1, "timed_epochs": 1,
    "reference_epochs": 2, "reference_seeds": 1, "elbo_draws": 2,
    "matmul_size": 1024,
    "matmul_runs": 2, "latency_warmup": 1, "latency_repeats": 3,
    "latency_max_seconds": 1.0, "speedup_timed_epochs": 1,
    "speedup_rounds": 1, "seed": 0,
}


def build_model(family, input_shape, variational, seed=0):
    """Builds a zoo model at the benchmark's default sizes (BCE loss).

    Keras' global state is cleared first, so that each measured model starts
    from the same process state whatever ran before it.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    return keras_ae.build_autoencoder(
        family, input_shape, LATENT_DIM, variational=variational,
        reconstruction_loss="bce", seed=seed if variational else None)


def fit_and_time(model, x, warmup_epochs, timed_epochs, examples,
                 callbacks=(), **fit_kwargs):
    """Trains `model` on `x`; returns `EpochTimer.summary` of the timed epochs.

    The timer comes after `callbacks`, so an epoch's time includes their
    end-of-epoch work (logs, backups).
    """
    timer = common.EpochTimer()
    model.fit(x, epochs=warmup_epochs + timed_epochs, verbose=0,
              callbacks=[*callbacks, timer], **fit_kwargs)
    return timer.summary(examples, warmup_epochs)


def load_data(settings, seed=0):
    """Loads the embedded digits; `--quick` keeps a few batches of them."""
    (x_train, y_train), validation = load_digits(seed=seed)
    if settings["train_examples"]:
        x_train = x_train[:settings["train_examples"]]
        y_train = y_train[:settings["train_examples"]]
    return (x_train, y_train), validation
