"""InfoVAE, `objective="info_vae"` (Zhao et al., 2019), and WAE-MMD with `beta=0`.

A VAE whose loss adds the maximum mean discrepancy between the batch's codes
and draws from the prior (`keras_ae.divergences.mmd`): the MMD matches the
*aggregate* posterior `q(z)` to `p(z)`, where the KL term pulls each
example's posterior towards it. With the KL weight `beta = 0` this is the
Wasserstein autoencoder's MMD penalty (Tolstikhin et al., 2018).
"""

import numbers

import keras
from keras import ops

from keras_ae.checks import check_choice
from keras_ae.checks import check_non_negative_number
from keras_ae.checks import refuse
from keras_ae.divergences import MMD_KERNELS
from keras_ae.divergences import MMD_SCALES
from keras_ae.divergences import mmd
from keras_ae.layers import Sampling
from keras_ae.losses import kl_divergence
from keras_ae.objectives.ae import reduce_per_example
from keras_ae.objectives.vae import VariationalAutoEncoder
from keras_ae.registry import register_objective

__all__ = ["InfoVAE"]


def _check_scales(name, scales):
    """Returns `scales` as a non-empty tuple of floats > 0."""
    values = tuple(scales) if isinstance(scales, (list, tuple)) else None
    if not values or any(isinstance(s, bool) or not isinstance(s, numbers.Real)
                         or not s > 0 or s == float("inf") for s in values):
        refuse(name, scales, "a non-empty tuple of numbers > 0")
    return tuple(float(s) for s in values)


@register_objective("info_vae")
@keras.saving.register_keras_serializable(package="keras_ae")
class InfoVAE(VariationalAutoEncoder):
    """An InfoVAE (Zhao et al., 2019); with `beta=0`, a WAE-MMD.

    The loss of a batch is `reconstruction_loss + beta * kl_loss +
    mmd_weight * mmd_loss`, with `mmd_loss` the unbiased squared MMD between
    the batch's sampled codes and as many draws from `N(0, I)`, a statistic
    of the whole batch (sample weights weigh the other two terms only). In
    the paper's terms, `beta = 1 - alpha` and `mmd_weight = alpha + lambda -
    1`. The KL weight of the warm-up is the model's `beta`, not `kl_weight`:
    `kl_weight` is the warm-up's variable (`keras_ae.callbacks.KLWarmup`),
    which scales both penalties in the gradient step.

    Feature-map codes are taken: the MMD flattens each code (every value is
    a dimension of `C_s = 2 d s`), the KL is summed over every value.

    Args:
        encoder: `keras.Model` mapping inputs to `[z_mean, z_log_var]`.
        decoder: `keras.Model` mapping codes to outputs of the input's shape.
        reconstruction_loss: `"mse"` or `"bce"`, summed over features.
        beta: float >= 0, weight of the KL term (0: WAE-MMD).
        mmd_weight: float >= 0, weight of the MMD term. At the default,
            100, an MMD of 0.01 (codes drawn close to the prior's law; a
            shift of the codes by one standard deviation gives about 1)
            weighs as much as one nat of reconstruction.
        kernel: `"imq"` (inverse multiquadratic, WAE's choice) or `"rbf"`.
        scales: tuple of numbers > 0, the kernel's scales `s`, summed (WAE's
            by default).
        seed: int or `None`, seed of the `Sampling` layer; the prior's draws
            use `seed + 1`.
        **kwargs: Base model keyword arguments, such as `name`.

    Example:

    >>> wae = keras_ae.build_autoencoder("conv", (28, 28, 1), 16,
    ...                                  objective="info_vae", beta=0.0)
    >>> wae.compile(optimizer="adam")
    >>> history = wae.fit(x_train, epochs=1)
    >>> history.history["mmd_loss"]
    """

    loss_terms = ("reconstruction_loss", "kl_loss", "mmd_loss")

    def __init__(self, encoder, decoder, reconstruction_loss="mse", beta=1.0,
                 mmd_weight=100.0, kernel="imq", scales=MMD_SCALES, seed=None,
                 **kwargs):
        super().__init__(encoder, decoder, reconstruction_loss, beta=beta,
                         seed=seed, **kwargs)
        # === Config ===
        self.mmd_weight = check_non_negative_number("mmd_weight", mmd_weight)
        self.kernel = check_choice("kernel", kernel, MMD_KERNELS)
        self.scales = _check_scales("scales", scales)
        # === Layers ===
        # Draws from N(0, I): a `Sampling` layer at mean 0 and log variance
        # 0, which gives each replica its own draws.
        self.prior_sampling = Sampling(
            seed=None if self.seed is None else (self.seed + 1) % 2**32,
            name="prior_sampling")

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the reconstruction, KL and MMD terms of the batch."""
        self.check_inputs(x)
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        reconstruction = self.decoder(z, training=training)
        zeros = ops.zeros_like(z)
        z_prior = self.prior_sampling([zeros, zeros])
        return {
            "reconstruction_loss": self.reconstruction_term(
                y, reconstruction, sample_weight),
            "kl_loss": reduce_per_example(kl_divergence(z_mean, z_log_var),
                                          sample_weight),
            "mmd_loss": mmd(z, z_prior, self.kernel, self.scales),
        }

    def penalty(self, terms):
        """`beta * kl_loss + mmd_weight * mmd_loss` of a batch."""
        return (self.beta * terms["kl_loss"]
                + self.mmd_weight * terms["mmd_loss"])

    def total_loss(self, terms):
        return terms["reconstruction_loss"] + self.penalty(terms)

    def training_loss(self, terms):
        kl_weight = ops.cast(self.kl_weight, "float32")
        return terms["reconstruction_loss"] + kl_weight * self.penalty(terms)

    def graph_config(self):
        return {"beta": self.beta, "mmd_weight": self.mmd_weight,
                "kernel": self.kernel, "scales": self.scales,
                "seed": self.seed}
