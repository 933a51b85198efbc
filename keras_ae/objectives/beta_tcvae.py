"""beta-TC-VAE, `objective="beta_tcvae"` (Chen et al., 2018).

The ELBO's KL term, estimated on a batch, splits into three terms
(`keras_ae.divergences.total_correlation_terms`): the index-code mutual
information, the total correlation of the aggregate posterior `q(z)` and
the dimension-wise KL of its marginals to the prior. beta-TC-VAE weighs
them `alpha`, `beta` and `gamma`; a `beta` above 1 penalizes the total
correlation only, which favours codes whose dimensions vary independently.
"""

import keras
from keras import ops

from keras_ae.checks import check_choice
from keras_ae.checks import check_non_negative_number
from keras_ae.checks import check_positive_int
from keras_ae.divergences import TC_ESTIMATORS
from keras_ae.divergences import total_correlation_terms
from keras_ae.objectives.ae import reduce_per_example
from keras_ae.objectives.vae import VariationalAutoEncoder
from keras_ae.registry import register_objective

__all__ = ["DECOMPOSITION_TERMS", "BetaTCVAE"]

# The decomposition of the KL term, in the order of `alpha`, `beta`, `gamma`.
DECOMPOSITION_TERMS = ("mutual_information", "total_correlation",
                       "dimension_wise_kl")


@register_objective("beta_tcvae", map_codes=False)
@keras.saving.register_keras_serializable(package="keras_ae")
class BetaTCVAE(VariationalAutoEncoder):
    """A beta-TC-VAE (Chen et al., 2018): the KL term decomposed and reweighed.

    The loss of a batch is `reconstruction_loss + alpha * mutual_information
    + beta * total_correlation + gamma * dimension_wise_kl`, each term the
    batch estimate of `total_correlation_terms` at one code drawn per
    example. The three add up to `log q(z|x) - log p(z)`, a one-sample
    estimate of the ELBO's KL, so `alpha = beta = gamma = 1` is a VAE (with
    a sampled KL). The KL warm-up weight (`kl_weight`) scales all three in
    the gradient step, as it scales a VAE's KL term. Vector codes only.

    The minibatch estimators of `log q(z)` weigh the batch by the size of
    the training set, `dataset_size`. The main job (`python -m keras_ae
    train`) sets it to the number of training examples unless an option
    gives it; a model built without it refuses to train or evaluate.

    Args:
        encoder: `keras.Model` mapping inputs to `[z_mean, z_log_var]`,
            vector codes.
        decoder: `keras.Model` mapping codes to outputs of the input's shape.
        reconstruction_loss: `"mse"` or `"bce"`, summed over features.
        alpha: float >= 0, weight of the index-code mutual information.
        beta: float >= 0, weight of the total correlation (6 in the paper's
            dSprites experiments; 1 gives the ELBO).
        gamma: float >= 0, weight of the dimension-wise KL.
        dataset_size: int > 0 (at least the batch size) or `None`, the number
            of training examples `N`.
        estimator: `"mss"` (minibatch stratified sampling, the default: its
            terms are unbiased for identical posteriors) or `"mws"`
            (minibatch weighted sampling, whose terms are offset by about
            `log N` per dimension when the posteriors overlap; their sum is
            not).
        seed: int or `None`, seed of the `Sampling` layer.
        **kwargs: Base model keyword arguments, such as `name`.

    Example:

    >>> model = keras_ae.build_autoencoder(
    ...     "conv", (28, 28, 1), 10, objective="beta_tcvae", beta=6.0,
    ...     dataset_size=len(x_train))
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(x_train, batch_size=128, epochs=1)
    >>> history.history["total_correlation"]
    """

    loss_terms = ("reconstruction_loss", *DECOMPOSITION_TERMS)

    def __init__(self, encoder, decoder, reconstruction_loss="mse", alpha=1.0,
                 beta=6.0, gamma=1.0, dataset_size=None, estimator="mss",
                 seed=None, **kwargs):
        super().__init__(encoder, decoder, reconstruction_loss, beta=beta,
                         seed=seed, **kwargs)
        # === Config ===
        self.alpha = check_non_negative_number("alpha", alpha)
        self.gamma = check_non_negative_number("gamma", gamma)
        self.dataset_size = (None if dataset_size is None else
                             check_positive_int("dataset_size", dataset_size))
        self.estimator = check_choice("estimator", estimator, TC_ESTIMATORS)

    def _check_dataset_size(self):
        if self.dataset_size is None:
            raise ValueError(
                f"{type(self).__name__} needs `dataset_size`, the number of "
                "training examples: the minibatch estimators of log q(z) "
                "weigh the batch by it. Received: dataset_size=None. Build "
                "the model with dataset_size=len(x_train) (the main job sets "
                "it from the training data).")
        return self.dataset_size

    def fit(self, *args, **kwargs):
        self._check_dataset_size()
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        self._check_dataset_size()
        return super().evaluate(*args, **kwargs)

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the reconstruction term and the KL's three terms of the batch."""
        self.check_inputs(x)
        dataset_size = self._check_dataset_size()
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        reconstruction = self.decoder(z, training=training)
        terms = total_correlation_terms(z, z_mean, z_log_var, dataset_size,
                                        self.estimator)
        return {
            "reconstruction_loss": self.reconstruction_term(
                y, reconstruction, sample_weight),
            **{name: reduce_per_example(terms[name], sample_weight)
               for name in DECOMPOSITION_TERMS},
        }

    def divergence(self, terms):
        """`alpha * MI + beta * TC + gamma * dimension-wise KL` of a batch."""
        return (self.alpha * terms["mutual_information"]
                + self.beta * terms["total_correlation"]
                + self.gamma * terms["dimension_wise_kl"])

    def total_loss(self, terms):
        return terms["reconstruction_loss"] + self.divergence(terms)

    def training_loss(self, terms):
        kl_weight = ops.cast(self.kl_weight, "float32")
        return terms["reconstruction_loss"] + kl_weight * self.divergence(terms)

    def graph_config(self):
        return {"alpha": self.alpha, "beta": self.beta, "gamma": self.gamma,
                "dataset_size": self.dataset_size,
                "estimator": self.estimator, "seed": self.seed}
