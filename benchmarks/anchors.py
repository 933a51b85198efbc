"""The anchors of the quality benchmark: keras.io examples, as they are published.

Each builder re-implements a keras.io example's model from its published
architecture (keras-io is Apache-2.0 licensed); `benchmarks.quality` trains
it beside the zoo's model on the same data for the same epochs.

- `build_keras_io_denoiser`: "Convolutional autoencoder for image denoising"
  (https://keras.io/examples/vision/autoencoder/): `Conv2D(32, 3, relu)` +
  `MaxPooling2D` twice, `Conv2DTranspose(32, 3, strides=2, relu)` twice,
  `Conv2D(1, 3, sigmoid)`, all "same"; Adam, binary cross-entropy; the
  example adds the noise to the training images once, before training.
- `build_keras_io_convnet`: "Simple MNIST convnet"
  (https://keras.io/examples/vision/mnist_convnet/): `Conv2D(32, 3, relu)`,
  `MaxPooling2D(2)`, `Conv2D(64, 3, relu)`, `MaxPooling2D(2)`, `Flatten`,
  `Dropout(0.5)`, `Dense(10, softmax)`; Adam, sparse categorical
  cross-entropy.
- The keras.io VAE is `benchmarks.reference_vae.build_reference_vae`.
- The keras.io VQ-VAE and its PixelCNN prior are
  `benchmarks.reference_vq_vae` (`KerasIOVQVAE`, `build_keras_io_pixelcnn`).
"""

import keras
from keras import layers


def build_keras_io_denoiser(input_shape=(28, 28, 1)):
    """Builds and compiles the keras.io denoising autoencoder."""
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu",
                               padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu",
                               padding="same")(x)
    outputs = layers.Conv2D(input_shape[-1], (3, 3), activation="sigmoid",
                            padding="same")(x)
    model = keras.Model(inputs, outputs, name="keras_io_denoiser")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def build_keras_io_convnet(input_shape=(28, 28, 1), num_classes=10):
    """Builds and compiles the keras.io simple MNIST convnet."""
    model = keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ], name="keras_io_convnet")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    return model
