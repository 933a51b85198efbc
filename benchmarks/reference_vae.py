"""The keras.io "Variational AutoEncoder" example, as the example writes it.

This is the plain reference that `benchmarks/perf.py` compares keras_ae
against: the convolutional VAE of https://keras.io/examples/generative/vae/
(François Chollet, Keras 3 version; keras-io is Apache-2.0 licensed), kept
to what builds and trains the model. The architecture, the `Sampling` layer
(seeded `SeedGenerator(1337)`), the `train_step` and the training call
(`Adam()`, `fit(x, batch_size=128)`) follow the example; only the building
code is wrapped in functions so that importing this module builds nothing.

- Encoder: `Conv2D(32, 3, strides=2)` -> `Conv2D(64, 3, strides=2)` (relu,
  "same") -> `Flatten` -> `Dense(16, relu)` -> `z_mean`, `z_log_var`
  (`Dense(latent_dim)`) -> `Sampling`; outputs `[z_mean, z_log_var, z]`.
- Decoder: `Dense(7 * 7 * 64, relu)` -> `Reshape((7, 7, 64))` ->
  `Conv2DTranspose(64, 3, strides=2)` -> `Conv2DTranspose(32, 3, strides=2)`
  (relu, "same") -> `Conv2DTranspose(1, 3, sigmoid, "same")`.
- Loss: binary cross-entropy summed over the pixels
  (`ops.sum(keras.losses.binary_crossentropy(data, reconstruction),
  axis=(1, 2))`, which averages over the channel axis: with one channel,
  the sum over pixels) plus the analytic KL divergence, averaged over the
  batch.

Example:

>>> vae = build_reference_vae()
>>> vae.fit(x_train, epochs=10, batch_size=128)
"""

import keras
import tensorflow as tf
from keras import layers
from keras import ops

LATENT_DIM = 2
BATCH_SIZE = 128


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim),
                                      seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def build_encoder(latent_dim=LATENT_DIM):
    """Builds the example's encoder: outputs `[z_mean, z_log_var, z]`."""
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2,
                      padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    return keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")


def build_decoder(latent_dim=LATENT_DIM):
    """Builds the example's decoder: a code to a 28 x 28 x 1 image."""
    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2,
                               padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2,
                               padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid",
                                             padding="same")(x)
    return keras.Model(latent_inputs, decoder_outputs, name="decoder")


class VAE(keras.Model):
    """The example's VAE: a custom `train_step` minimizing BCE + KL."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(
            name="reconstruction_loss"
        )
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [
            self.total_loss_tracker,
            self.reconstruction_loss_tracker,
            self.kl_loss_tracker,
        ]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(
                    keras.losses.binary_crossentropy(data, reconstruction),
                    axis=(1, 2),
                )
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean)
                              - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }


def build_reference_vae(latent_dim=LATENT_DIM):
    """Builds and compiles the example's VAE, ready for `fit(x, batch_size=128)`."""
    vae = VAE(build_encoder(latent_dim), build_decoder(latent_dim))
    vae.compile(optimizer=keras.optimizers.Adam())
    return vae
