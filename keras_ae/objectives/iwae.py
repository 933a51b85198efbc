"""The importance-weighted autoencoder, `objective="iwae"` (Burda et al., 2016).

The model of a VAE trained on a tighter bound of `log p(x)`: with `k` codes
`z_i ~ q(z|x)` and the log weights `log w_i = log p(x|z_i) + log p(z_i) -
log q(z_i|x)`, the bound is `L_k = logsumexp_i(log w_i) - log k`
(`keras_ae.divergences.importance_weighted_bound`). `L_1` is the ELBO;
`L_k` grows with `k` towards `log p(x)`.
"""

import keras
from keras import ops

from keras_ae.checks import check_positive_int
from keras_ae.divergences import importance_weighted_bound
from keras_ae.divergences import log_normal
from keras_ae.losses import kl_divergence
from keras_ae.losses import reconstruction_loss as reconstruction_loss_fn
from keras_ae.objectives.ae import reduce_per_example
from keras_ae.objectives.vae import VariationalAutoEncoder
from keras_ae.registry import register_objective

__all__ = ["ImportanceWeightedAutoEncoder", "tile_samples"]


def tile_samples(tensor, num_samples):
    """`(n, ...)` -> `(num_samples * n, ...)`, row `i * n + j` a copy of row `j`."""
    return ops.tile(tensor, (num_samples,) + (1,) * (len(tensor.shape) - 1))


@register_objective("iwae")
@keras.saving.register_keras_serializable(package="keras_ae")
class ImportanceWeightedAutoEncoder(VariationalAutoEncoder):
    """An importance-weighted autoencoder (Burda et al., 2016).

    The encoder, the decoder and the verbs are a VAE's; training maximizes
    the `k`-sample bound `L_k` instead of the ELBO. Every step draws
    `num_samples` codes per example and decodes all `k * batch_size` of them
    in one call; the log weights are float32 and reduced with a stable
    `logsumexp`. The decoder's `log p(x|z)` is minus the per-example
    reconstruction loss: the Bernoulli log-likelihood for `"bce"`; for
    `"mse"`, a Gaussian of variance 1/2 without its constant, as the VAE's
    loss has it. The prior is the model's `log_prior`, N(0, I).

    Logged: `loss` is `-L_k`; `reconstruction_loss` (averaged over the `k`
    codes) and `kl_loss` (analytic) are the ELBO's terms from the same step,
    so `reconstruction_loss + kl_loss - loss` is how much tighter `L_k` is;
    `iwae_bound` is `L_k` itself.

    KL warm-up: the gradient follows `(1 - w) * reconstruction_loss + w *
    (-L_k)` with `w = kl_weight` (`keras_ae.callbacks.KLWarmup`): from the
    reconstruction term alone at `w = 0` to the bound at `w = 1`, which is
    what the VAE's `reconstruction + w * KL` is for `k = 1` (in
    expectation, with a sampled KL). The logged `loss` is always `-L_k`.

    Args:
        encoder: `keras.Model` mapping inputs to `[z_mean, z_log_var]`.
        decoder: `keras.Model` mapping codes to outputs of the input's shape.
        reconstruction_loss: `"mse"` or `"bce"`, summed over features.
        num_samples: int >= 1, the `k` codes drawn per example in a step
            (`k = 1` is a VAE with a sampled KL). A step costs about `k`
            times a VAE's decoder.
        seed: int or `None`, seed of the `Sampling` layer.
        **kwargs: Base model keyword arguments, such as `name`.

    Example:

    >>> iwae = keras_ae.build_autoencoder("conv", (28, 28, 1), 16,
    ...                                   objective="iwae", num_samples=5)
    >>> iwae.compile(optimizer="adam")
    >>> history = iwae.fit(x_train, epochs=1)
    >>> history.history["iwae_bound"]
    """

    loss_terms = ("reconstruction_loss", "kl_loss", "iwae_bound")

    def __init__(self, encoder, decoder, reconstruction_loss="mse",
                 num_samples=5, seed=None, **kwargs):
        super().__init__(encoder, decoder, reconstruction_loss, beta=1.0,
                         seed=seed, **kwargs)
        # === Config ===
        self.num_samples = check_positive_int("num_samples", num_samples)

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the ELBO's terms and the `k`-sample bound of the batch."""
        self.check_inputs(x)
        z_mean, z_log_var = self.encoder(x, training=training)
        tiled_mean = tile_samples(z_mean, self.num_samples)
        tiled_log_var = tile_samples(z_log_var, self.num_samples)
        z = self.sampling([tiled_mean, tiled_log_var])
        reconstruction = self.decoder(z, training=training)
        nll = reconstruction_loss_fn(tile_samples(y, self.num_samples),
                                     reconstruction, self.reconstruction_loss)
        log_weights = (-nll + self.log_prior(z)
                       - log_normal(z, tiled_mean, tiled_log_var))
        shape = (self.num_samples, -1)
        return {
            "reconstruction_loss": reduce_per_example(
                ops.mean(ops.reshape(nll, shape), axis=0), sample_weight),
            "kl_loss": reduce_per_example(kl_divergence(z_mean, z_log_var),
                                          sample_weight),
            "iwae_bound": reduce_per_example(importance_weighted_bound(
                ops.reshape(log_weights, shape)), sample_weight),
        }

    def total_loss(self, terms):
        return -terms["iwae_bound"]

    def training_loss(self, terms):
        kl_weight = ops.cast(self.kl_weight, "float32")
        return ((1.0 - kl_weight) * terms["reconstruction_loss"]
                + kl_weight * self.total_loss(terms))

    def graph_config(self):
        return {"num_samples": self.num_samples, "seed": self.seed}
