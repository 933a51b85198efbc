"""The training recipe of the zoo, as Keras callbacks.

`training_recipe(epochs)` returns what the main job and the quality benchmark
train with; each piece is a plain Keras callback that works with any
`model.fit`:

* `KLWarmup`: the KL term of a VAE enters the gradient step gradually
  (beta annealing, Bowman et al., 2016), so the decoder learns to use the
  code before the prior pulls the codes together;
* `cosine_decay_schedule`: the learning rate falls from its initial value to
  a small fraction of it along a half cosine (Loshchilov & Hutter, 2017),
  through Keras' `LearningRateScheduler`;
* Keras' `EarlyStopping(restore_best_weights=True)` with a patience of the
  whole run: it never stops training, but the model ends with the weights of
  its best epoch on `val_loss`.

What each one bought at the default settings is measured by
`python -m benchmarks.quality --ablation`
(`benchmarks/results/ablation/quality.md`, measured with 0.2.0).
"""

import math

import keras

from keras_ae.checks import check_number
from keras_ae.checks import check_positive_int

__all__ = ["KLWarmup", "cosine_decay_schedule", "training_recipe"]


class KLWarmup(keras.callbacks.Callback):
    """Anneals the weight of a VAE's KL term from 0 to 1 over the first epochs.

    At the start of epoch `e` (counted from 0) the gradient step weighs the
    KL term by `min(1, e / epochs)` times the model's `beta`: the first epoch
    trains the code as a plain autoencoder's, the KL term reaches its full
    weight at epoch `epochs`. The logged `loss` (and `val_loss`) always
    weighs it fully, so it stays the negative ELBO that the model is judged
    by. A model without a `kl_weight` (a plain autoencoder) is left alone.

    Args:
        epochs: int > 0, epochs until the KL term has its full weight.

    Example:

    >>> vae.fit(x_train, epochs=30, callbacks=[KLWarmup(epochs=5)])
    """

    def __init__(self, epochs=5):
        super().__init__()
        self.epochs = check_positive_int("epochs", epochs)

    def weight(self, epoch):
        """The KL weight used during epoch `epoch` (counted from 0)."""
        return min(1.0, epoch / self.epochs)

    def on_epoch_begin(self, epoch, logs=None):
        if hasattr(self.model, "kl_weight"):
            self.model.kl_weight.assign(self.weight(epoch))

    def on_train_end(self, logs=None):
        # A model that stops before the end of the warm-up keeps the full
        # weight for whatever training comes next.
        if hasattr(self.model, "kl_weight"):
            self.model.kl_weight.assign(1.0)


def cosine_decay_schedule(epochs, initial_learning_rate, final_fraction=0.05):
    """Returns a `LearningRateScheduler` function: a half cosine over `epochs`.

    The learning rate of epoch `e` (from 0) is
    `lr_min + (lr_0 - lr_min) * (1 + cos(pi * e / epochs)) / 2` with
    `lr_min = final_fraction * lr_0`; after `epochs` it stays at `lr_min`.

    Args:
        epochs: int > 0, length of the decay.
        initial_learning_rate: float > 0, the learning rate of epoch 0.
        final_fraction: float in [0, 1], the share of it reached at the end.

    Example:

    >>> schedule = cosine_decay_schedule(30, 1e-3)
    >>> model.fit(x, epochs=30,
    ...           callbacks=[keras.callbacks.LearningRateScheduler(schedule)])
    """
    epochs = check_positive_int("epochs", epochs)
    initial = check_number("initial_learning_rate", initial_learning_rate,
                           minimum=0)
    if initial == 0:
        raise ValueError("`initial_learning_rate` must be > 0. Received: "
                         "initial_learning_rate=0")
    final = initial * check_number("final_fraction", final_fraction,
                                   minimum=0, maximum=1)

    def schedule(epoch, learning_rate=None):
        progress = min(1.0, epoch / epochs)
        return final + (initial - final) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return schedule


def training_recipe(epochs, learning_rate=1e-3, kl_warmup_epochs=5,
                    cosine_decay=True, restore_best_weights=True,
                    monitor="val_loss"):
    """Returns the zoo's training callbacks for a run of `epochs` epochs.

    Args:
        epochs: int > 0, the run's number of epochs.
        learning_rate: float > 0, the optimizer's initial learning rate
            (what the cosine decay starts from).
        kl_warmup_epochs: int >= 0, epochs of `KLWarmup` (0: none; a plain
            autoencoder ignores it).
        cosine_decay: bool, decay the learning rate along a half cosine.
        restore_best_weights: bool, end with the weights of the best epoch
            on `monitor` (needs validation data for `"val_loss"`).
        monitor: str, the logged figure that picks the best epoch.

    Returns:
        A list of Keras callbacks, for `model.fit(..., callbacks=...)`.

    Example:

    >>> vae.fit(x_train, validation_data=(x_val,), epochs=30,
    ...         callbacks=training_recipe(30))
    """
    epochs = check_positive_int("epochs", epochs)
    if kl_warmup_epochs != 0:
        check_positive_int("kl_warmup_epochs", kl_warmup_epochs)
    for name, value in (("cosine_decay", cosine_decay),
                        ("restore_best_weights", restore_best_weights)):
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    callbacks = []
    if kl_warmup_epochs:
        callbacks.append(KLWarmup(kl_warmup_epochs))
    if cosine_decay:
        callbacks.append(keras.callbacks.LearningRateScheduler(
            cosine_decay_schedule(epochs, learning_rate)))
    if restore_best_weights:
        # Patience of the whole run: it never stops early, it only keeps the
        # best epoch's weights and restores them at the end.
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=epochs, restore_best_weights=True,
            start_from_epoch=min(kl_warmup_epochs, epochs - 1)))
    return callbacks
