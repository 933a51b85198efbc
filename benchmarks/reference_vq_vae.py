"""The keras.io VQ-VAE and its PixelCNN prior, re-implemented in plain Keras 3.

An anchor of the quality benchmark (`benchmarks.quality.discrete`), from the
published example "Vector-Quantized Variational Autoencoders"
(https://keras.io/examples/generative/vq_vae/, keras-io is Apache-2.0
licensed):

- encoder `Conv2D(32, 3, relu, strides 2)`, `Conv2D(64, 3, relu, strides
  2)`, `Conv2D(latent 16, 1)`; a codebook of 64 vectors initialised
  uniformly in +-0.05, commitment 0.25, codebook and commitment losses as
  means; decoder `Conv2DTranspose(64, 3, relu, strides 2)`,
  `Conv2DTranspose(32, 3, relu, strides 2)`, `Conv2DTranspose(1, 3)`
  (linear); images shifted to [-0.5, 0.5], loss MSE over the training
  variance, Adam. The PixelCNN prior over the 7x7 indices: one-hot
  indices, a type-A masked `Conv2D(128, 7, relu)`, two residual blocks
  (`Conv2D(128, 1, relu)`, type-B masked `Conv2D(64, 3, relu)`,
  `Conv2D(128, 1, relu)`), two type-B masked `Conv2D(128, 1, relu)`,
  `Conv2D(64, 1)` logits; Adam 3e-4, sparse categorical cross-entropy,
  10 % of the indices held out. The example's masked convolutions and
  sampler use TensorFlow Probability; here the mask multiplies the kernel
  and `keras.random.categorical` draws (plain Keras 3).
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from keras import ops

__all__ = ["KerasIOVQVAE", "build_keras_io_pixelcnn", "sample_keras_io_pixelcnn"]


class _MaskedConv2D(layers.Layer):
    """The keras.io PixelCNN's masked convolution: kernel times a raster mask."""

    def __init__(self, mask_type, filters, kernel_size, activation=None):
        super().__init__()
        self.conv = layers.Conv2D(filters, kernel_size, padding="same",
                                  activation=activation)
        self.mask_type = mask_type

    def build(self, input_shape):
        self.conv.build(input_shape)
        k = self.conv.kernel.shape
        mask = np.zeros(k, "float32")
        mask[: k[0] // 2] = 1.0
        mask[k[0] // 2, : k[1] // 2] = 1.0
        if self.mask_type == "B":
            mask[k[0] // 2, k[1] // 2] = 1.0
        self.mask = mask

    def call(self, inputs):
        outputs = ops.conv(inputs, self.conv.kernel * self.mask, padding="same")
        return self.conv.activation(outputs + self.conv.bias)


def build_keras_io_pixelcnn(grid_shape=(7, 7), num_embeddings=64):
    """Builds and compiles the keras.io VQ-VAE's PixelCNN prior (indices to logits)."""
    inputs = keras.Input(grid_shape, dtype="int32")
    x = _MaskedConv2D("A", 128, 7, "relu")(ops.one_hot(inputs, num_embeddings))
    for _ in range(2):
        y = layers.Conv2D(128, 1, activation="relu")(x)
        y = _MaskedConv2D("B", 64, 3, "relu")(y)
        y = layers.Conv2D(128, 1, activation="relu")(y)
        x = layers.add([x, y])
    for _ in range(2):
        x = _MaskedConv2D("B", 128, 1, "relu")(x)
    outputs = layers.Conv2D(num_embeddings, 1)(x)
    model = keras.Model(inputs, outputs, name="keras_io_pixelcnn")
    model.compile(optimizer=keras.optimizers.Adam(3e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    return model


def sample_keras_io_pixelcnn(pixelcnn, num_samples, seed=0):
    """Draws index grids from the PixelCNN, one position at a time."""
    _, rows, cols = pixelcnn.input_shape
    grids = np.zeros((num_samples, rows, cols), "int32")
    generator = keras.random.SeedGenerator(seed)
    for row in range(rows):
        for col in range(cols):
            logits = pixelcnn(grids, training=False)[:, row, col]
            grids[:, row, col] = ops.convert_to_numpy(keras.random.categorical(
                logits, 1, seed=generator))[:, 0]
    return grids


class KerasIOVQVAE(keras.Model):
    """The keras.io VQ-VAE and its trainer: `fit(x - 0.5)` trains it.

    Args:
        train_variance: float, the variance of the training pixels in [0, 1].
        latent_dim: int, the size of the code vectors (16).
        num_embeddings: int, the codebook size (64).
        beta: float, the commitment cost (0.25).
    """

    def __init__(self, train_variance, latent_dim=16, num_embeddings=64,
                 beta=0.25, **kwargs):
        super().__init__(**kwargs)
        self.train_variance = float(train_variance)
        self.beta = beta
        self.encoder = keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu", strides=2, padding="same"),
            layers.Conv2D(64, 3, activation="relu", strides=2, padding="same"),
            layers.Conv2D(latent_dim, 1, padding="same")], name="encoder")
        self.decoder = keras.Sequential([
            keras.Input((7, 7, latent_dim)),
            layers.Conv2DTranspose(64, 3, activation="relu", strides=2,
                                   padding="same"),
            layers.Conv2DTranspose(32, 3, activation="relu", strides=2,
                                   padding="same"),
            layers.Conv2DTranspose(1, 3, padding="same")], name="decoder")
        self.embeddings = self.add_weight(
            shape=(latent_dim, num_embeddings), name="embeddings_vqvae",
            initializer=keras.initializers.RandomUniform(-0.05, 0.05))
        self.trackers = [keras.metrics.Mean(name=n) for n in (
            "loss", "reconstruction_loss", "vqvae_loss")]

    @property
    def metrics(self):
        return self.trackers

    def indices(self, z):
        """The nearest codebook column of every vector of `z`, `(batch, 7, 7)`."""
        flat = ops.reshape(z, (-1, self.embeddings.shape[0]))
        distances = (ops.sum(flat**2, axis=1, keepdims=True)
                     + ops.sum(self.embeddings**2, axis=0)
                     - 2 * ops.matmul(flat, self.embeddings))
        return ops.reshape(ops.argmin(distances, axis=1), ops.shape(z)[:-1])

    def lookup(self, indices):
        return ops.take(ops.transpose(self.embeddings), indices, axis=0)

    def call(self, x, training=False):
        z = self.encoder(x, training=training)
        q = self.lookup(self.indices(z))
        return self.decoder(z + ops.stop_gradient(q - z), training=training)

    def train_step(self, x):
        with tf.GradientTape() as tape:
            z = self.encoder(x, training=True)
            q = self.lookup(self.indices(z))
            vq_loss = (self.beta * ops.mean((ops.stop_gradient(q) - z) ** 2)
                       + ops.mean((q - ops.stop_gradient(z)) ** 2))
            reconstructions = self.decoder(z + ops.stop_gradient(q - z),
                                           training=True)
            reconstruction_loss = ops.mean(
                (x - reconstructions) ** 2) / self.train_variance
            loss = reconstruction_loss + vq_loss
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        for tracker, value in zip(self.trackers,
                                  (loss, reconstruction_loss, vq_loss)):
            tracker.update_state(value)
        return {t.name: t.result() for t in self.trackers}
