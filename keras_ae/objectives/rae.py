"""The regularized autoencoder, `objective="rae"` (Ghosh et al., 2020; RAE-L2).

A deterministic autoencoder whose loss adds a penalty on the size of the
codes and an L2 penalty on the decoder's weights: the smooth, bounded code
space that a VAE's noise buys, without the noise. It has no prior to sample
from; it generates through a density fitted to its training codes after
training (`keras_ae.samplers.GaussianMixtureSampler`, which the main job
fits and saves as `sampler.json`).
"""

import keras
from keras import ops

from keras_ae.checks import check_non_negative_number
from keras_ae.objectives.ae import AutoEncoder
from keras_ae.objectives.ae import reduce_per_example
from keras_ae.registry import register_objective

__all__ = ["RegularizedAutoEncoder"]


@register_objective("rae")
@keras.saving.register_keras_serializable(package="keras_ae")
class RegularizedAutoEncoder(AutoEncoder):
    """A regularized autoencoder, RAE-L2 (Ghosh et al., 2020).

    The loss of a batch is `reconstruction_loss + code_weight * code_loss +
    decoder_weight * decoder_loss`, with `code_loss` the batch mean of
    `0.5 * ||z||^2` (summed over every value of the code) and
    `decoder_loss` the sum of the squares of every trainable weight of the
    decoder, `||theta||^2` (a statistic of the model, not of the batch:
    sample weights weigh the other two terms only). Each term is logged
    unweighted.

    Args:
        encoder: `keras.Model` mapping inputs to codes (a vector or a
            feature map).
        decoder: `keras.Model` mapping codes to outputs of the input's shape.
        reconstruction_loss: `"mse"` or `"bce"`, summed over features.
        code_weight: float >= 0, the paper's `beta`, weight of the code
            penalty.
        decoder_weight: float >= 0, the paper's `lambda`, weight of the
            decoder's L2 penalty.
        **kwargs: Base model keyword arguments, such as `name`.

    The defaults are those of pythae's reproduction of the paper's MNIST
    figures (latent 16): a code weight of 1e-6 and a decoder weight decay of
    1e-3, i.e. `1e-3 / 2` on `||theta||^2`.

    Example:

    >>> rae = keras_ae.build_autoencoder("conv", (28, 28, 1), 16,
    ...                                  objective="rae")
    >>> rae.compile(optimizer="adam")
    >>> history = rae.fit(x_train, epochs=1)
    >>> sampler = keras_ae.samplers.GaussianMixtureSampler().fit(rae, x_train)
    >>> digits = sampler.sample(16, seed=0)
    """

    loss_terms = ("reconstruction_loss", "code_loss", "decoder_loss")

    def __init__(self, encoder, decoder, reconstruction_loss="mse",
                 code_weight=1e-6, decoder_weight=5e-4, **kwargs):
        super().__init__(encoder, decoder, reconstruction_loss, **kwargs)
        # === Config ===
        self.code_weight = check_non_negative_number("code_weight",
                                                     code_weight)
        self.decoder_weight = check_non_negative_number("decoder_weight",
                                                        decoder_weight)

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the reconstruction, code and decoder terms of the batch."""
        self.check_inputs(x)
        z = self.encoder(x, training=training)
        reconstruction = self.decoder(z, training=training)
        z = ops.cast(z, "float32")
        squares = ops.reshape(ops.square(z), (ops.shape(z)[0], -1))
        return {
            "reconstruction_loss": self.reconstruction_term(
                y, reconstruction, sample_weight),
            "code_loss": reduce_per_example(0.5 * ops.sum(squares, axis=1),
                                            sample_weight),
            "decoder_loss": self.decoder_norm(),
        }

    def decoder_norm(self):
        """`||theta||^2`, the sum of squares of the decoder's trainable weights."""
        return ops.sum(ops.stack([
            ops.sum(ops.square(ops.cast(w, "float32")))
            for w in self.decoder.trainable_weights]))

    def total_loss(self, terms):
        return (terms["reconstruction_loss"]
                + self.code_weight * terms["code_loss"]
                + self.decoder_weight * terms["decoder_loss"])

    def graph_config(self):
        return {"code_weight": self.code_weight,
                "decoder_weight": self.decoder_weight}
