"""The convolutional family: strided `Conv2D` encoder, `Conv2DTranspose` decoder.

The code is a vector (`latent_dim=16`) or a feature map
(`latent_dim=(7, 7, 8)` for digits): a map keeps where things are, which is
what restoration needs (the keras.io denoiser keeps a 7x7x32 code; Stable
Diffusion's VAE has spatial latents), while a vector is what a classifier,
a probe or a generator from the prior wants.
"""

import keras

from keras_ae.checks import check_activation
from keras_ae.checks import check_bool
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_positive_ints
from keras_ae.registry import register_family

__all__ = ["build_conv"]


@register_family("conv", map_codes=True)
def build_conv(input_shape, code_shape, filters=(32, 64), kernel_size=3,
               residual_blocks=1, batch_norm=False, activation="relu",
               output_activation="sigmoid"):
    """Builds a convolutional encoder backbone and decoder for images.

    The encoder has one `Conv2D` layer of stride 2 per entry of `filters`, so
    each halves the height and width, then `residual_blocks` residual blocks
    (two 3x3 convolutions and a skip connection) on the smallest map, which
    widen the receptive field where it is cheapest. Its features are that
    map, flattened for a vector code. The decoder mirrors it: a `Dense` layer
    (vector code) or a 3x3 convolution (map code) fills a
    `(H / 2**depth, W / 2**depth, filters[-1])` map, residual blocks refine
    it, `Conv2DTranspose` layers of stride 2 double it back to `(H, W)`, each
    giving the map the channels the encoder had at its size (`filters[0]`
    at full size), and a last `Conv2D` gives the `channels` outputs.

    Images are `(height, width, channels)`. A grayscale image may also be
    given as `(height, width)`: a channel axis is added inside the encoder and
    removed at the end of the decoder, so the outputs keep the input's shape.

    Args:
        input_shape: tuple of ints, `(height, width, channels)` or
            `(height, width)`. Height and width must be divisible by
            `2 ** len(filters)`.
        code_shape: tuple, `(latent_dim,)` for a vector code or
            `(H / 2**depth, W / 2**depth, channels)` for a feature-map code.
        filters: tuple of ints, filters of the encoder's strided convolutions
            (depth = `len(filters)`); the decoder mirrors them.
        kernel_size: int, size of the strided and transposed kernels.
        residual_blocks: int >= 0, residual blocks on the smallest map, in
            the encoder and again in the decoder. On digits one block helped
            both the denoiser and the VAE; a second added little for much
            more training time.
        batch_norm: bool. `True` puts a `BatchNormalization` layer after each
            hidden convolution (and then drops their biases).
        activation: activation of the hidden layers (with the residual
            blocks, `"relu"` did better than `"elu"` on digits in every
            application tried).
        output_activation: activation of the output, `"sigmoid"` for data in
            [0, 1], `"linear"` for standardized data.

    Returns:
        `(encoder_backbone, decoder)`.

    Example:

    >>> backbone, decoder = build_conv((32, 32, 3), code_shape=(16,))
    >>> tuple(decoder.output.shape)
    (None, 32, 32, 3)
    """
    filters = check_positive_ints("filters", filters)
    kernel_size = check_positive_int("kernel_size", kernel_size)
    if residual_blocks != 0:
        residual_blocks = check_positive_int("residual_blocks",
                                             residual_blocks)
    check_bool("batch_norm", batch_norm)
    check_activation("activation", activation)
    check_activation("output_activation", output_activation)
    if len(input_shape) not in (2, 3):
        raise ValueError(
            "The conv family takes images of shape (height, width, channels) "
            f"or (height, width). Received: input_shape={input_shape}"
        )
    height, width = input_shape[:2]
    channels = input_shape[2] if len(input_shape) == 3 else 1
    depth = len(filters)
    scale = 2**depth
    if height % scale or width % scale:
        raise ValueError(
            f"The height and width of `input_shape` must be divisible by "
            f"2**depth = {scale}, where depth = len(filters) = {depth} "
            f"strided convolutions. Received: input_shape={input_shape} and "
            f"filters={filters}; use fewer filters or pad the images."
        )
    map_shape = (height // scale, width // scale, filters[-1])
    if len(code_shape) == 3 and code_shape[:2] != map_shape[:2]:
        raise ValueError(
            "A feature-map code must have the height and width of the "
            f"encoder's smallest map, {map_shape[0]} x {map_shape[1]} for "
            f"input_shape={input_shape} and filters={filters}. Received: "
            f"latent_dim={code_shape}; use latent_dim=({map_shape[0]}, "
            f"{map_shape[1]}, channels)."
        )
    layers = _Layers(kernel_size, batch_norm, activation)

    # === Encoder backbone ===
    inputs = keras.Input(input_shape, name="inputs")
    x = inputs
    if len(input_shape) == 2:
        x = keras.layers.Reshape((height, width, 1), name="add_channel")(x)
    for i, units in enumerate(filters):
        x = layers.conv(x, units, f"encoder_{i}", strides=2)
    for i in range(residual_blocks):
        x = layers.residual_block(x, f"encoder_residual_{i}")
    if len(code_shape) == 1:
        x = keras.layers.Flatten(name="flatten")(x)
    backbone = keras.Model(inputs, x, name="conv_encoder_backbone")

    # === Decoder ===
    codes = keras.Input(code_shape, name="z")
    if len(code_shape) == 1:
        x = keras.layers.Dense(map_shape[0] * map_shape[1] * map_shape[2],
                               activation=activation,
                               name="decoder_dense")(codes)
        x = keras.layers.Reshape(map_shape, name="decoder_reshape")(x)
    else:
        x = layers.conv(codes, filters[-1], "decoder_input", kernel_size=3)
    for i in range(residual_blocks):
        x = layers.residual_block(x, f"decoder_residual_{i}")
    # The mirror of the encoder: each transposed convolution doubles the map
    # and gives it the channels the encoder had at that size (filters[0] at
    # full size, where the encoder had the image).
    for i, units in enumerate(reversed((filters[0], *filters[:-1]))):
        x = layers.conv(x, units, f"decoder_{i}", strides=2, transpose=True)
    outputs = keras.layers.Conv2D(channels, 3, padding="same",
                                  activation=output_activation,
                                  name="output")(x)
    if len(input_shape) == 2:
        outputs = keras.layers.Reshape(input_shape,
                                       name="remove_channel")(outputs)
    decoder = keras.Model(codes, outputs, name="conv_decoder")
    return backbone, decoder


class _Layers:
    """Makes the family's named convolution layers on functional tensors."""

    def __init__(self, kernel_size, batch_norm, activation):
        self.kernel_size = kernel_size
        self.batch_norm = batch_norm
        self.activation = activation

    def conv(self, x, units, prefix, strides=1, transpose=False,
             kernel_size=None, activate=True):
        layer = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
        suffix = "conv_transpose" if transpose else "conv"
        x = layer(units, kernel_size or self.kernel_size, strides=strides,
                  padding="same", use_bias=not self.batch_norm,
                  name=f"{prefix}_{suffix}")(x)
        if self.batch_norm:
            # Keras' default momentum, 0.99, leaves the moving statistics used
            # at inference far from the batch statistics for the first few
            # hundred steps: on digits the validation BCE after three epochs
            # was 239 nats with 0.99 and 111 with 0.9.
            x = keras.layers.BatchNormalization(momentum=0.9,
                                                name=f"{prefix}_batch_norm")(x)
        if activate:
            x = keras.layers.Activation(self.activation,
                                        name=f"{prefix}_activation")(x)
        return x

    def residual_block(self, x, prefix):
        """`activation(x + conv(activation(conv(x))))`, 3x3 convolutions."""
        units = x.shape[-1]
        y = self.conv(x, units, f"{prefix}_a", kernel_size=3)
        y = self.conv(y, units, f"{prefix}_b", kernel_size=3, activate=False)
        x = keras.layers.Add(name=f"{prefix}_add")([x, y])
        return keras.layers.Activation(self.activation,
                                       name=f"{prefix}_activation")(x)
