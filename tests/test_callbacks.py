"""The training recipe: KL warm-up, cosine decay, best weights."""

import math

import keras
import numpy as np
import pytest

import keras_ae
from keras_ae.callbacks import KLWarmup
from keras_ae.callbacks import cosine_decay_schedule
from keras_ae.callbacks import training_recipe


def small_vae(seed=0):
    keras.utils.set_random_seed(seed)
    vae = keras_ae.build_autoencoder("dense", (6,), 2, variational=True,
                                     reconstruction_loss="mse", seed=seed,
                                     hidden_units=(8,))
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    return vae


class RecordKLWeight(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.weights = getattr(self, "weights", [])
        self.weights.append(float(self.model.kl_weight.numpy()))


@pytest.mark.slow
def test_kl_warmup_ramps_the_weight_per_epoch_and_restores_it(rng):
    vae = small_vae()
    record = RecordKLWeight()
    x = rng.random((16, 6), dtype="float32")
    vae.fit(x, epochs=6, batch_size=8, verbose=0,
            callbacks=[KLWarmup(epochs=4), record])
    assert record.weights == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert float(vae.kl_weight.numpy()) == 1.0


def test_the_warm_up_weight_changes_the_gradient_step_not_the_logged_loss(rng):
    x = rng.random((8, 6), dtype="float32")
    terms = {"reconstruction_loss": 10.0, "kl_loss": 4.0}
    vae = small_vae()
    vae.kl_weight.assign(0.25)
    assert float(vae.total_loss(terms)) == pytest.approx(14.0)
    assert float(vae.training_loss(terms)) == pytest.approx(11.0)
    # With weight 0 the step follows the reconstruction alone: the same
    # step as a model whose beta is 0.
    zero_weight, zero_beta = small_vae(), small_vae()
    zero_weight.kl_weight.assign(0.0)
    zero_beta.beta = 0.0
    for model in (zero_weight, zero_beta):
        model.fit(x, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(zero_weight.trainable_weights, zero_beta.trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    # and differs from the full-weight step.
    full = small_vae()
    full.fit(x, epochs=1, batch_size=8, verbose=0, shuffle=False)
    assert not all(np.allclose(a.numpy(), b.numpy()) for a, b in
                   zip(full.trainable_weights, zero_weight.trainable_weights))


def test_kl_warmup_leaves_a_plain_autoencoder_alone(rng):
    # A plain autoencoder has no KL term: with the callback it takes the
    # very step it takes without it, and the callback adds nothing to it.
    x = rng.random((8, 6), dtype="float32")
    trained = {}
    for name, callbacks in (("with", [KLWarmup(2)]), ("without", [])):
        keras.utils.set_random_seed(0)
        model = keras_ae.build_autoencoder("dense", (6,), 2, hidden_units=(8,))
        model.compile(optimizer="adam")
        history = model.fit(x, epochs=1, batch_size=8, verbose=0,
                            shuffle=False, callbacks=callbacks)  # one step
        trained[name] = (model, history.history)
    (model, history), (reference, reference_history) = (trained["with"],
                                                         trained["without"])
    assert history == reference_history
    for a, b in zip(model.weights, reference.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not hasattr(model, "kl_weight")


def test_cosine_decay_schedule_values():
    schedule = cosine_decay_schedule(10, 1e-3, final_fraction=0.1)
    assert schedule(0) == pytest.approx(1e-3)
    assert schedule(5) == pytest.approx(1e-4 + 0.9e-3 * 0.5)
    assert schedule(10) == pytest.approx(1e-4)
    assert schedule(25) == pytest.approx(1e-4)
    values = [schedule(e) for e in range(11)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert schedule(2) == pytest.approx(
        1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 0.2)))


@pytest.mark.slow
def test_the_recipe_restores_the_best_epoch_weights(rng):
    """With a learning rate that diverges late, the best epoch's weights come back."""
    x = rng.random((32, 6), dtype="float32")
    vae = small_vae()
    saved = {}

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved[epoch] = (logs["val_loss"], self.model.get_weights())

    history = vae.fit(x, validation_data=(x,), epochs=5, batch_size=8, verbose=0,
                      callbacks=[*training_recipe(5, 1e-3, kl_warmup_epochs=0),
                                 Snapshot()])
    best = int(np.argmin(history.history["val_loss"]))
    for a, b in zip(vae.get_weights(), saved[best][1]):
        np.testing.assert_array_equal(a, b)


def test_recipe_pieces_can_be_left_out():
    assert training_recipe(10, kl_warmup_epochs=0, cosine_decay=False,
                           restore_best_weights=False) == []
    kinds = [type(c).__name__ for c in training_recipe(10)]
    assert kinds == ["KLWarmup", "LearningRateScheduler", "EarlyStopping"]


@pytest.mark.parametrize("call, message", [
    (lambda: KLWarmup(0), "`epochs` must be a positive integer. Received: epochs=0"),
    (lambda: KLWarmup(1.5), "Received: epochs=1.5"),
    (lambda: cosine_decay_schedule(0, 1e-3), "Received: epochs=0"),
    (lambda: cosine_decay_schedule(5, 0), "Received: initial_learning_rate=0"),
    (lambda: cosine_decay_schedule(5, 1e-3, final_fraction=2),
     r"`final_fraction` must be a number in \[0, 1\]. Received: final_fraction=2"),
    (lambda: training_recipe(0), "Received: epochs=0"),
    (lambda: training_recipe(5, kl_warmup_epochs=-1),
     "Received: kl_warmup_epochs=-1"),
    (lambda: training_recipe(5, cosine_decay="yes"),
     "`cosine_decay` must be a bool. Received: cosine_decay='yes'"),
])
def test_recipe_arguments_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()
