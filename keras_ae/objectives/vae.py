"""The variational autoencoder, `objective="vae"` (Kingma & Welling, 2014).

It is also the base of the objectives with a Gaussian posterior (IWAE,
beta-TC-VAE, InfoVAE, VampPrior, the conditional VAE): they share its
encoder heads, its `Sampling` layer, its KL warm-up weight and its verbs.
"""

import math

import keras
from keras import ops

from keras_ae.checks import check_fits_in_memory
from keras_ae.checks import check_non_negative_number
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.divergences import log_standard_normal
from keras_ae.layers import Sampling
from keras_ae.losses import kl_divergence
from keras_ae.objectives.ae import AutoEncoder
from keras_ae.objectives.ae import code_head
from keras_ae.objectives.ae import reduce_per_example
from keras_ae.registry import register_objective

__all__ = ["VariationalAutoEncoder"]


@register_objective("vae")
@keras.saving.register_keras_serializable(package="keras_ae")
class VariationalAutoEncoder(AutoEncoder):
    """A variational autoencoder (Kingma & Welling, 2014).

    The encoder outputs the mean and log-variance of a Gaussian posterior
    `q(z|x)`; a `Sampling` layer draws `z` from it with the
    reparameterization trick; the decoder maps `z` back to the input space.
    Training minimizes the negative ELBO,
    `reconstruction_loss + beta * KL(q(z|x) || N(0, I))`, with the analytic
    KL divergence (`beta != 1` gives a beta-VAE).

    At inference (`training=False`) the model decodes `z_mean`, so its output
    is deterministic and exported models can be compared exactly.

    Args:
        encoder: `keras.Model` mapping inputs to a list `[z_mean, z_log_var]`,
            each of shape `code_shape` (a vector or a feature map).
        decoder: `keras.Model` mapping codes of shape `code_shape` to
            outputs of the input's shape.
        reconstruction_loss: `"mse"` or `"bce"`, summed over features.
        beta: float >= 0, weight of the KL term.
        seed: int or `None`, seed of the `Sampling` layer.
        **kwargs: Base model keyword arguments, such as `name`.

    Example:

    >>> vae = keras_ae.build_autoencoder(
    ...     "dense", (28, 28, 1), latent_dim=2, objective="vae")
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, validation_data=(x_val,), epochs=1)
    >>> history.history["val_kl_loss"]
    >>> digits = vae.sample(16, seed=0)            # shape (16, 28, 28, 1)
    """

    loss_terms = ("reconstruction_loss", "kl_loss")

    def __init__(self, encoder, decoder, reconstruction_loss="mse", beta=1.0,
                 seed=None, **kwargs):
        if not isinstance(encoder.output, (list, tuple)) or len(encoder.output) != 2:
            raise ValueError(
                f"`encoder` of a {type(self).__name__} must output "
                "[z_mean, z_log_var]. Received: an encoder with outputs "
                f"{encoder.output}")
        super().__init__(encoder, decoder, reconstruction_loss, **kwargs)
        # === Layers ===
        self.seed = check_seed("seed", seed)
        self.sampling = Sampling(seed=self.seed, name="sampling")
        # === Config ===
        self.beta = check_non_negative_number("beta", beta)
        # === State ===
        # The share of the KL term in the gradient step, annealed from 0 to 1
        # by `keras_ae.callbacks.KLWarmup`; the logged loss always weighs it 1.
        self.kl_weight = keras.Variable(1.0, trainable=False, name="kl_weight",
                                        dtype="float32")

    @classmethod
    def build_encoder(cls, backbone, spec):
        features = backbone.output
        z_mean = code_head(features, spec, "z_mean")
        # A zero kernel starts every posterior at unit variance.
        z_log_var = code_head(features, spec, "z_log_var",
                              kernel_initializer="zeros")
        return keras.Model(backbone.input, [z_mean, z_log_var],
                           name=f"{spec.family}_encoder")

    def call(self, inputs, training=False):
        self.check_inputs(inputs)
        z_mean, z_log_var = self.encoder(inputs, training=training)
        z = self.sampling([z_mean, z_log_var]) if training else z_mean
        return self.decoder(z, training=training)

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the reconstruction and KL terms of the batch.

        The code is sampled in training and in evaluation alike, so that the
        evaluated loss is a one-sample estimate of the negative ELBO.
        """
        self.check_inputs(x)
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        reconstruction = self.decoder(z, training=training)
        return {
            "reconstruction_loss": self.reconstruction_term(
                y, reconstruction, sample_weight),
            "kl_loss": reduce_per_example(kl_divergence(z_mean, z_log_var),
                                          sample_weight),
        }

    def total_loss(self, terms):
        return terms["reconstruction_loss"] + self.beta * terms["kl_loss"]

    def training_loss(self, terms):
        # `kl_weight` is 1 unless a `keras_ae.callbacks.KLWarmup` anneals it.
        kl_weight = ops.cast(self.kl_weight, "float32")
        return (terms["reconstruction_loss"]
                + self.beta * kl_weight * terms["kl_loss"])

    def load_own_variables(self, store):
        # Files written before `kl_weight` existed hold no variable of the
        # model itself: keep its value, 1.
        if len(store.keys()) == 0:
            return
        super().load_own_variables(store)

    def encode_distribution(self, x, batch_size=256):
        """Returns `(z_mean, z_log_var)` of the posterior of `x` as NumPy arrays."""
        both = self._batched(
            lambda b: ops.stack(self.encoder(b, training=False), axis=1),
            x, batch_size, check=True, output_shape=(2, *self.code_shape))
        return both[:, 0], both[:, 1]

    def log_prior(self, z):
        """The prior's log density `log p(z)` per code, float32 `(batch_size,)`.

        `N(0, I)` here; an objective with another prior (VampPrior)
        overrides it, and the likelihood evaluation
        (`keras_ae.evaluation.negative_elbo`, `importance_weighted_nll`)
        scores every model with its own.
        """
        return log_standard_normal(z)

    def sample_prior(self, num_samples, seed=None):
        """Draws `num_samples` codes from the prior, as a NumPy array."""
        z = keras.random.normal((num_samples, *self.code_shape), seed=seed)
        return keras.ops.convert_to_numpy(z)

    def sample(self, num_samples, seed=None):
        """Decodes `num_samples` codes drawn from the prior (N(0, I) for a VAE).

        Args:
            num_samples: int > 0.
            seed: int or `None`. The same seed gives the same samples.

        Returns:
            NumPy array of shape `(num_samples, *input_shape)`.
        """
        num_samples = check_positive_int("num_samples", num_samples)
        check_fits_in_memory(
            "num_samples", num_samples,
            4 * (math.prod(self.input_shape_) + self.latent_dim),
            f"float32 codes and outputs of shape {self.input_shape_}")
        seed = check_seed("seed", seed)
        return self.decode(self.sample_prior(num_samples, seed))

    def encode_outputs(self, inputs):
        z_mean, z_log_var = self.encoder(inputs, training=False)
        return {"z_mean": z_mean, "z_log_var": z_log_var}

    def _code(self, encoder_outputs):
        return encoder_outputs[0]

    def graph_config(self):
        return {"beta": self.beta, "seed": self.seed}

