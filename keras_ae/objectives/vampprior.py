"""The VAE with a VampPrior, `objective="vampprior"` (Tomczak & Welling, 2018).

The prior is learned with the model: a uniform mixture of the encoder's
posteriors at `K` learned *pseudo-inputs* `u_k`, `p(z) = (1/K) sum_k
q(z|u_k)` (`keras_ae.divergences.log_mixture_of_gaussians`). It follows the
aggregate posterior where `N(0, I)` cannot, which tightens the likelihood
and puts the samples where the codes are.
"""

import keras
import numpy as np
from keras import ops

from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.divergences import log_mixture_of_gaussians
from keras_ae.divergences import log_normal
from keras_ae.objectives.ae import reduce_per_example
from keras_ae.objectives.vae import VariationalAutoEncoder
from keras_ae.registry import register_objective

__all__ = ["VampPriorVAE"]

# The pseudo-inputs start as faint noise around the mean brightness of a
# digit: sigmoid(-2) = 0.12, and a spread of 0.5 in logits (about 0.07 in
# pixel values) that makes them differ from the first step.
INITIAL_LOGIT = -2.0
INITIAL_LOGIT_SPREAD = 0.5


@register_objective("vampprior", map_codes=False)
@keras.saving.register_keras_serializable(package="keras_ae")
class VampPriorVAE(VariationalAutoEncoder):
    """A VAE whose prior is a VampPrior (Tomczak & Welling, 2018).

    The model holds `num_pseudo_inputs` pseudo-inputs of the input's shape,
    `u_k = sigmoid(pseudo_input_logits_k)` (so they stay in [0, 1], as
    images do), trained with the rest by the gradient of the prior's
    density. Each step encodes them with the batch, in one call. The KL
    term has no closed form: it is the one-sample estimate `log q(z|x) -
    log p(z)` at the code the decoder sees (it can be negative on a batch;
    its expectation is the KL). The loss is `reconstruction_loss + beta *
    kl_loss`, with the VAE's warm-up. `sample` draws a component `k`
    uniformly, a code from `q(z|u_k)`, and decodes it. Vector codes only.

    Args:
        encoder: `keras.Model` mapping inputs to `[z_mean, z_log_var]`,
            vector codes.
        decoder: `keras.Model` mapping codes to outputs of the input's shape.
        reconstruction_loss: `"mse"` or `"bce"`, summed over features.
        num_pseudo_inputs: int >= 1, the number `K` of mixture components
            (pythae's default, 50; the paper's MNIST models use 500, which
            costs a step `K / batch_size` more encoder passes).
        beta: float >= 0, weight of the KL term.
        seed: int or `None`, seed of the `Sampling` layer and of the
            pseudo-inputs' initializer.
        **kwargs: Base model keyword arguments, such as `name`.

    Example:

    >>> vamp = keras_ae.build_autoencoder("conv", (28, 28, 1), 16,
    ...                                   objective="vampprior")
    >>> vamp.compile(optimizer="adam")
    >>> history = vamp.fit(x_train, epochs=1)
    >>> vamp.pseudo_inputs().shape                 # (50, 28, 28, 1)
    >>> digits = vamp.sample(16, seed=0)
    """

    def __init__(self, encoder, decoder, reconstruction_loss="mse",
                 num_pseudo_inputs=50, beta=1.0, seed=None, **kwargs):
        super().__init__(encoder, decoder, reconstruction_loss, beta=beta,
                         seed=seed, **kwargs)
        if len(self.code_shape) != 1:
            raise ValueError(
                f"{type(self).__name__} takes vector codes only. Received: "
                f"codes of shape {self.code_shape}")
        # === Config ===
        self.num_pseudo_inputs = check_positive_int("num_pseudo_inputs",
                                                    num_pseudo_inputs)
        # === State ===
        self.pseudo_input_logits = self.add_weight(
            shape=(self.num_pseudo_inputs, *self.input_shape_),
            initializer=keras.initializers.RandomNormal(
                INITIAL_LOGIT, INITIAL_LOGIT_SPREAD, seed=self.seed),
            name="pseudo_input_logits")

    def pseudo_inputs(self):
        """The pseudo-inputs `u_k`, shape `(num_pseudo_inputs, *input_shape)`, in [0, 1]."""
        return ops.sigmoid(self.pseudo_input_logits)

    def prior_components(self, training=False):
        """`(means, log_vars)` of the prior's components, each `(K, latent_dim)`."""
        means, log_vars = self.encoder(self.pseudo_inputs(), training=training)
        return ops.cast(means, "float32"), ops.cast(log_vars, "float32")

    def log_prior(self, z):
        """`log p(z)` per code under the VampPrior, float32 `(batch_size,)`."""
        means, log_vars = self.prior_components()
        return log_mixture_of_gaussians(
            ops.reshape(z, (-1, self.latent_dim)), means, log_vars)

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the reconstruction term and the sampled KL of the batch.

        The batch and the pseudo-inputs go through the encoder together.
        """
        self.check_inputs(x)
        pseudo_inputs = self.pseudo_inputs()
        both_mean, both_log_var = self.encoder(
            ops.concatenate([ops.cast(x, pseudo_inputs.dtype), pseudo_inputs],
                            axis=0), training=training)
        batch_size = ops.shape(x)[0]
        z_mean, z_log_var = both_mean[:batch_size], both_log_var[:batch_size]
        z = self.sampling([z_mean, z_log_var])
        reconstruction = self.decoder(z, training=training)
        log_prior = log_mixture_of_gaussians(z, both_mean[batch_size:],
                                             both_log_var[batch_size:])
        return {
            "reconstruction_loss": self.reconstruction_term(
                y, reconstruction, sample_weight),
            "kl_loss": reduce_per_example(
                log_normal(z, z_mean, z_log_var) - log_prior, sample_weight),
        }

    def sample_prior(self, num_samples, seed=None):
        """Draws `num_samples` codes from the VampPrior, as a NumPy array.

        A component `k` is drawn uniformly for each code, then the code from
        `q(z|u_k)`; the same seed gives the same codes.
        """
        num_samples = check_positive_int("num_samples", num_samples)
        rng = np.random.default_rng(check_seed("seed", seed))
        means, log_vars = (keras.ops.convert_to_numpy(t)
                           for t in self.prior_components())
        components = rng.integers(self.num_pseudo_inputs, size=num_samples)
        noise = rng.standard_normal((num_samples, self.latent_dim))
        z = means[components] + np.exp(0.5 * log_vars[components]) * noise
        return z.astype("float32")

    def graph_config(self):
        return {"num_pseudo_inputs": self.num_pseudo_inputs,
                "beta": self.beta, "seed": self.seed}

