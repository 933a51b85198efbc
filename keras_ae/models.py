"""The two autoencoder models of the zoo: `AutoEncoder` and `VariationalAutoEncoder`.

Both hold an `encoder` and a `decoder` (any Keras models, usually built by a
family in `keras_ae.families`) and train with their own `train_step` and
`test_step`, so `compile(optimizer=...)` followed by `fit` is all they need.

Loss reduction: the reconstruction loss of an example is summed over all of
its features (pixels, time steps x channels); the loss of a batch is
`sum_i(w_i * loss_i) / batch_size` with sample weights `w_i` (1 by default),
as Keras' `"sum_over_batch_size"` reduction does. The logged epoch figures
are averages over examples.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ae.checks import check_choice
from keras_ae.checks import check_non_negative_number
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.distribute import is_multi_worker
from keras_ae.layers import Sampling
from keras_ae.losses import RECONSTRUCTION_LOSSES
from keras_ae.losses import kl_divergence
from keras_ae.losses import reconstruction_loss as reconstruction_loss_fn


@keras.saving.register_keras_serializable(package="keras_ae")
class AutoEncoder(keras.Model):
    """An autoencoder: `decoder(encoder(x))` trained to reproduce its target.

    `fit(x)` trains the model to reconstruct `x`; `fit(x, y)` trains it to
    map `x` to `y`, e.g. a noisy or occluded input to its clean original.

    Args:
        encoder: `keras.Model` mapping inputs of shape `input_shape` to codes
            of shape `(latent_dim,)`.
        decoder: `keras.Model` mapping codes of shape `(latent_dim,)` back to
            outputs of shape `input_shape`.
        reconstruction_loss: `"mse"` (squared error) or `"bce"` (binary
            cross-entropy, for targets in [0, 1] and a sigmoid output). Summed
            over the features of each example.
        **kwargs: Base model keyword arguments, such as `name`.

    Call arguments:
        inputs: Tensor of shape `(batch_size, *input_shape)`.
        training: Python bool, whether the model runs in training mode.

    Example:

    >>> model = keras_ae.build_autoencoder("dense", (28, 28, 1), latent_dim=8)
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(x_train, epochs=1, verbose=0)
    >>> codes = model.encode(x_train[:4])          # shape (4, 8)
    >>> images = model.reconstruct(x_train[:4])    # shape (4, 28, 28, 1)
    """

    def __init__(self, encoder, decoder, reconstruction_loss="mse", **kwargs):
        super().__init__(**kwargs)
        check_choice("reconstruction_loss", reconstruction_loss,
                     RECONSTRUCTION_LOSSES)
        # === Layers ===
        self.encoder = encoder
        self.decoder = decoder
        # === Config ===
        self.reconstruction_loss = reconstruction_loss
        self.input_shape_ = tuple(encoder.input_shape[1:])
        self.latent_dim = int(decoder.input_shape[-1])
        # === Metrics ===
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(
            name="reconstruction_loss"
        )

    def build(self, input_shape=None):
        # The encoder and decoder arrive built and no other layer holds
        # weights. Building records the input shape, which saving, loading
        # and export need, and locks the model's state.
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_loss_tracker]

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """Configures the model for training.

        The model computes its own loss (see `reconstruction_loss` and, for a
        VAE, `beta`), so `loss` and `metrics` must be left unset.
        """
        if loss is not None:
            raise ValueError(
                f"{type(self).__name__} computes its own loss; `compile` does "
                f"not take one. Received: loss={loss!r}. Choose the "
                "reconstruction loss when building the model: "
                f"reconstruction_loss={RECONSTRUCTION_LOSSES}."
            )
        if metrics:
            raise ValueError(
                f"{type(self).__name__} logs its own metrics ("
                f"{', '.join(m.name for m in self.metrics)}); `compile` does "
                f"not take any. Received: metrics={metrics!r}"
            )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # Restores the optimizer (and its state) of a saved model.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # --- Forward pass -------------------------------------------------------

    def check_inputs(self, inputs, argument="x"):
        """Raises `ValueError` if `inputs` does not match the model's input shape."""
        shape = tuple(inputs.shape)
        if len(shape) != len(self.input_shape_) + 1 or any(
            d is not None and d != e for d, e in zip(shape[1:], self.input_shape_)
        ):
            raise ValueError(
                f"`{argument}` must have shape (batch_size, "
                f"{', '.join(map(str, self.input_shape_))}) for this model. "
                f"Received: {argument} with shape {shape}"
            )

    def call(self, inputs, training=False):
        self.check_inputs(inputs)
        return self.decoder(self.encoder(inputs, training=training),
                            training=training)

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the batch's loss terms as a dict of scalars.

        Each term is reduced as `sum_i(w_i * term_i) / batch_size`.
        """
        self.check_inputs(x)
        reconstruction = self(x, training=training)
        return {
            "reconstruction_loss": _reduce(
                reconstruction_loss_fn(y, reconstruction, self.reconstruction_loss),
                sample_weight,
            )
        }

    def total_loss(self, terms):
        return terms["reconstruction_loss"]

    # --- Training -----------------------------------------------------------

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            y = x
        with tf.GradientTape() as tape:
            terms = self.compute_terms(x, y, sample_weight, training=True)
            loss = self.total_loss(terms)
            # Under tf.distribute each replica's gradients are summed: scale
            # the per-replica mean so that the sum is the global-batch mean.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled_loss = self.optimizer.scale_loss(loss / replicas)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._update_trackers(loss, terms, x)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Before training Keras reduces a whole batch across the workers to
        # build the model, which MultiWorkerMirroredStrategy refuses for an
        # (x, y) tuple. The model knows its input shape: build from that.
        if is_multi_worker(self.distribute_strategy):
            inputs = keras.KerasTensor((None, *self.input_shape_), "float32")
            with self.distribute_strategy.scope():
                self._symbolic_build(data_batch=inputs)
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            y = x
        terms = self.compute_terms(x, y, sample_weight, training=False)
        return self._update_trackers(self.total_loss(terms), terms, x)

    def _update_trackers(self, loss, terms, x):
        batch_size = ops.cast(ops.shape(x)[0], "float32")
        self.loss_tracker.update_state(loss, sample_weight=batch_size)
        for tracker in self.metrics[1:]:
            tracker.update_state(terms[tracker.name], sample_weight=batch_size)
        logs = {m.name: m.result() for m in self.metrics}
        if is_multi_worker():
            # Keras' `fit` reduces the logs of several workers along axis 0,
            # which a scalar does not have (tensorflow/tensorflow#72388).
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    # --- The verbs of every autoencoder ---------------------------------------

    def encode(self, x, batch_size=256):
        """Returns the codes of `x` as a NumPy array `(num_examples, latent_dim)`.

        For a VAE the code is the posterior mean `z_mean`.
        """
        return self._batched(lambda b: self._code(self.encoder(b, training=False)),
                             x, batch_size, check=True)

    def decode(self, z, batch_size=256):
        """Returns the decoder's outputs for codes `z` as a NumPy array."""
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"`z` must have shape (num_codes, {self.latent_dim}). "
                f"Received: z with shape {z.shape}"
            )
        return self._batched(lambda b: self.decoder(b, training=False), z,
                             batch_size)

    def reconstruct(self, x, batch_size=256):
        """Returns the deterministic reconstructions of `x` as a NumPy array."""
        return self._batched(lambda b: self(b, training=False), x, batch_size,
                             check=True)

    def interpolate(self, x_start, x_end, num_steps=8):
        """Decodes `num_steps` codes on the segment between two inputs' codes.

        Args:
            x_start: One input, shape `input_shape`.
            x_end: One input, shape `input_shape`.
            num_steps: int >= 2, number of points including both ends.

        Returns:
            NumPy array of shape `(num_steps, *input_shape)`.
        """
        num_steps = check_positive_int("num_steps", num_steps)
        if num_steps < 2:
            raise ValueError(
                f"`num_steps` must be >= 2. Received: num_steps={num_steps}"
            )
        codes = self.encode(np.stack([x_start, x_end]))
        weights = np.linspace(0.0, 1.0, num_steps, dtype="float32")[:, None]
        return self.decode((1.0 - weights) * codes[0] + weights * codes[1])

    def _code(self, encoder_outputs):
        return encoder_outputs

    def _batched(self, fn, x, batch_size, check=False):
        batch_size = check_positive_int("batch_size", batch_size)
        x = np.asarray(x, dtype="float32")
        if check:
            self.check_inputs(x)
        outputs = [
            keras.ops.convert_to_numpy(fn(x[i:i + batch_size]))
            for i in range(0, len(x), batch_size)
        ]
        if not outputs:
            return np.zeros((0,), dtype="float32")
        return np.concatenate(outputs, axis=0)

    # --- Config ---------------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.layers.serialize(self.encoder),
            "decoder": keras.layers.serialize(self.decoder),
            "reconstruction_loss": self.reconstruction_loss,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.layers.deserialize(config["encoder"])
        config["decoder"] = keras.layers.deserialize(config["decoder"])
        model = cls(**config)
        model.build((None, *model.input_shape_))
        return model


@keras.saving.register_keras_serializable(package="keras_ae")
class VariationalAutoEncoder(AutoEncoder):
    """A variational autoencoder (Kingma & Welling, 2014).

    The encoder outputs the mean and log-variance of a Gaussian posterior
    `q(z|x)`; a `Sampling` layer draws `z` from it with the
    reparameterization trick; the decoder maps `z` back to the input space.
    Training minimizes the negative ELBO,
    `reconstruction_loss + beta * KL(q(z|x) || N(0, I))`, with the analytic
    KL divergence (`beta != 1` gives a beta-VAE).

    At inference (`training=False`) the model decodes `z_mean`, so its output
    is deterministic and exported models can be compared exactly.

    Args:
        encoder: `keras.Model` mapping inputs to a list `[z_mean, z_log_var]`,
            each of shape `(latent_dim,)`.
        decoder: `keras.Model` mapping codes of shape `(latent_dim,)` to
            outputs of the input's shape.
        reconstruction_loss: `"mse"` or `"bce"`, summed over features.
        beta: float >= 0, weight of the KL term.
        seed: int or `None`, seed of the `Sampling` layer.
        **kwargs: Base model keyword arguments, such as `name`.

    Example:

    >>> vae = keras_ae.build_autoencoder(
    ...     "dense", (28, 28, 1), latent_dim=2, variational=True)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, validation_data=(x_val,), epochs=1)
    >>> history.history["val_kl_loss"]
    >>> digits = vae.sample(16, seed=0)            # shape (16, 28, 28, 1)
    """

    def __init__(self, encoder, decoder, reconstruction_loss="mse", beta=1.0,
                 seed=None, **kwargs):
        if not isinstance(encoder.output, (list, tuple)) or len(encoder.output) != 2:
            raise ValueError(
                "`encoder` of a VariationalAutoEncoder must output "
                "[z_mean, z_log_var]. Received: an encoder with outputs "
                f"{encoder.output}"
            )
        beta = check_non_negative_number("beta", beta)
        seed = check_seed("seed", seed)
        super().__init__(encoder, decoder, reconstruction_loss, **kwargs)
        # === Layers ===
        self.sampling = Sampling(seed=seed, name="sampling")
        # === Config ===
        self.beta = beta
        self.seed = seed
        # === Metrics ===
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_loss_tracker,
                self.kl_loss_tracker]

    def call(self, inputs, training=False):
        self.check_inputs(inputs)
        z_mean, z_log_var = self.encoder(inputs, training=training)
        z = self.sampling([z_mean, z_log_var]) if training else z_mean
        return self.decoder(z, training=training)

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the reconstruction and KL terms of the batch.

        The code is sampled in training and in evaluation alike, so that the
        evaluated loss is a one-sample estimate of the negative ELBO.
        """
        self.check_inputs(x)
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        reconstruction = self.decoder(z, training=training)
        return {
            "reconstruction_loss": _reduce(
                reconstruction_loss_fn(y, reconstruction, self.reconstruction_loss),
                sample_weight,
            ),
            "kl_loss": _reduce(kl_divergence(z_mean, z_log_var), sample_weight),
        }

    def total_loss(self, terms):
        return terms["reconstruction_loss"] + self.beta * terms["kl_loss"]

    def encode_distribution(self, x, batch_size=256):
        """Returns `(z_mean, z_log_var)` of the posterior of `x` as NumPy arrays."""
        both = self._batched(
            lambda b: ops.stack(self.encoder(b, training=False), axis=1),
            x, batch_size, check=True,
        )
        return both[:, 0], both[:, 1]

    def sample(self, num_samples, seed=None):
        """Decodes `num_samples` codes drawn from the prior N(0, I).

        Args:
            num_samples: int > 0.
            seed: int or `None`. The same seed gives the same samples.

        Returns:
            NumPy array of shape `(num_samples, *input_shape)`.
        """
        num_samples = check_positive_int("num_samples", num_samples)
        seed = check_seed("seed", seed)
        z = keras.random.normal((num_samples, self.latent_dim), seed=seed)
        return self.decode(keras.ops.convert_to_numpy(z))

    def _code(self, encoder_outputs):
        return encoder_outputs[0]

    def get_config(self):
        config = super().get_config()
        config.update({"beta": self.beta, "seed": self.seed})
        return config


def _reduce(per_example, sample_weight):
    """`sum(w * loss) / batch_size`, Keras' "sum_over_batch_size" reduction."""
    if sample_weight is not None:
        sample_weight = ops.reshape(
            ops.cast(sample_weight, per_example.dtype), (-1,))
        per_example = per_example * sample_weight
    return ops.mean(per_example)
