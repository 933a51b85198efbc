"""Layers shared by every autoencoder family."""

import keras
from keras import ops

from keras_ae.checks import check_seed


@keras.saving.register_keras_serializable(package="keras_ae")
class Sampling(keras.layers.Layer):
    """Draws `z = z_mean + exp(0.5 * z_log_var) * epsilon`, `epsilon ~ N(0, I)`.

    This is the reparameterization trick of the variational autoencoder: the
    randomness lives in `epsilon`, so gradients flow to `z_mean` and
    `z_log_var`. The layer owns its `SeedGenerator`, so a seeded layer draws
    the same sequence of `epsilon` on every run.

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
        epsilon = keras.random.normal(
            ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator
        )
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config

