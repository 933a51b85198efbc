"""Layers shared by every autoencoder family."""

import numbers

import keras
import tensorflow as tf
from keras import ops

from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed

__all__ = ["Sampling", "PositionalEmbedding"]


@keras.saving.register_keras_serializable(package="keras_ae")
class Sampling(keras.layers.Layer):
    """Draws `z = z_mean + exp(0.5 * z_log_var) * epsilon`, `epsilon ~ N(0, I)`.

    This is the reparameterization trick of the variational autoencoder: the
    randomness lives in `epsilon`, so gradients flow to `z_mean` and
    `z_log_var`. The layer owns its `SeedGenerator`, so a seeded layer draws
    the same sequence of `epsilon` on every run; under `tf.distribute` each
    replica draws its own.

    Args:
        seed: int or `None`. Seed of the layer's random generator.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A list `[z_mean, z_log_var]` of two tensors of the same shape
            `(batch_size, latent_dim)`.

    Example:

    >>> z_mean = keras.ops.zeros((4, 2))
    >>> z_log_var = keras.ops.zeros((4, 2))
    >>> z = Sampling(seed=0)([z_mean, z_log_var])
    >>> tuple(z.shape)
    (4, 2)
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        shape = ops.shape(z_mean)
        replica = tf.distribute.get_replica_context()
        if replica is not None and replica.num_replicas_in_sync > 1:
            # Every replica holds the same generator state; without the
            # replica's id they would all draw the same epsilon.
            seed = tf.random.experimental.stateless_fold_in(
                tf.cast(self.seed_generator.next(), "int64"),
                replica.replica_id_in_sync_group)
            epsilon = tf.random.stateless_normal(shape, seed=seed,
                                                 dtype=z_mean.dtype)
        else:
            epsilon = keras.random.normal(shape, dtype=z_mean.dtype,
                                          seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_ae")
class PositionalEmbedding(keras.layers.Layer):
    """Adds a learned embedding to each of `num_tokens` token positions.

    The embedding has shape `(num_tokens, dim)`, where `dim` is the last axis
    of the inputs. Inputs of shape `(batch_size, 1, dim)` are broadcast: the
    output then holds `num_tokens` tokens, each the input plus its position's
    embedding (the decoder builds its queries this way).

    Args:
        num_tokens: int > 0, number of token positions.
        stddev: float > 0, standard deviation of the embedding's normal
            initializer. The default, 1.0, makes positions distinct from the
            first step; ViT's 0.02 left the decoder's queries nearly equal
            and its outputs the same at every position for several epochs.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Tensor of shape `(batch_size, num_tokens, dim)` or
            `(batch_size, 1, dim)`.

    Returns:
        Tensor of shape `(batch_size, num_tokens, dim)`.

    Example:

    >>> layer = PositionalEmbedding(num_tokens=16)
    >>> tuple(layer(keras.ops.zeros((2, 1, 8))).shape)
    (2, 16, 8)
    """

    def __init__(self, num_tokens, stddev=1.0, **kwargs):
        super().__init__(**kwargs)
        self.num_tokens = check_positive_int("num_tokens", num_tokens)
        if isinstance(stddev, bool) or not isinstance(
            stddev, numbers.Real
        ) or not stddev > 0:
            raise ValueError(
                f"`stddev` must be a number > 0. Received: stddev={stddev!r}"
            )
        self.stddev = float(stddev)

    def build(self, input_shape):
        if input_shape[-2] not in (1, self.num_tokens):
            raise ValueError(
                f"`PositionalEmbedding` expects 1 or num_tokens="
                f"{self.num_tokens} tokens. Received: inputs with shape "
                f"{tuple(input_shape)}"
            )
        self.embedding = self.add_weight(
            shape=(self.num_tokens, input_shape[-1]),
            initializer=keras.initializers.RandomNormal(stddev=self.stddev),
            name="embedding",
        )

    def call(self, inputs):
        return inputs + ops.cast(self.embedding, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_tokens, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"num_tokens": self.num_tokens, "stddev": self.stddev})
        return config
