"""The fully connected (dense) family: an MLP encoder and decoder."""

import math

import keras

from keras_ae.checks import check_activation
from keras_ae.checks import check_positive_ints
from keras_ae.registry import register_family

__all__ = ["build_dense"]


@register_family("dense")
def build_dense(input_shape, code_shape, hidden_units=(256, 128),
                activation="relu", output_activation="sigmoid"):
    """Builds a fully connected encoder backbone and decoder.

    Inputs of any shape are flattened inside the encoder; the decoder
    reshapes its output back to `input_shape`, so the family serves images
    `(H, W, C)` and flat feature vectors `(features,)` alike.

    Args:
        input_shape: tuple of ints, shape of one example.
        code_shape: tuple `(latent_dim,)`, shape of the code (the decoder's
            input).
        hidden_units: tuple of ints, widths of the encoder's hidden layers;
            the decoder mirrors them. `()` gives linear maps to and from
            the code.
        activation: activation of the hidden layers.
        output_activation: activation of the output, `"sigmoid"` for data in
            [0, 1], `"linear"` for standardized data.

    Returns:
        `(encoder_backbone, decoder)`.
    """
    hidden_units = check_positive_ints("hidden_units", hidden_units,
                                       allow_empty=True)
    check_activation("activation", activation)
    check_activation("output_activation", output_activation)
    inputs = keras.Input(input_shape, name="inputs")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation=activation,
                               name=f"encoder_dense_{i}")(x)
    backbone = keras.Model(inputs, x, name="dense_encoder_backbone")

    codes = keras.Input(code_shape, name="z")
    x = codes
    for i, units in enumerate(reversed(hidden_units)):
        x = keras.layers.Dense(units, activation=activation,
                               name=f"decoder_dense_{i}")(x)
    x = keras.layers.Dense(math.prod(input_shape),
                           activation=output_activation, name="output")(x)
    outputs = keras.layers.Reshape(input_shape, name="reshape")(x)
    decoder = keras.Model(codes, outputs, name="dense_decoder")
    return backbone, decoder
