"""Likelihood of a VAE: negative ELBO and importance-weighted NLL.

See `keras_ae.evaluation` for the likelihood conventions (nats per example).
Each model is scored with its own prior, `vae.log_prior(z)`: `N(0, I)` for a
VAE and the objectives built on it (IWAE, beta-TC-VAE, InfoVAE), the learned
mixture of a VampPrior.
"""

import math

import keras
import numpy as np
from scipy.special import logsumexp

from keras_ae.checks import check_autoencoder
from keras_ae.checks import check_data
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.evaluation._common import flatten
from keras_ae.losses import kl_divergence
from keras_ae.losses import reconstruction_loss
from keras_ae.objectives import VariationalAutoEncoder

__all__ = ["importance_weighted_nll", "negative_elbo"]

LOG_2PI = math.log(2.0 * math.pi)


def _log_likelihood(vae, x, x_hat):
    """`log p(x|z)` per example, in float64 (see `keras_ae.evaluation`)."""
    if vae.reconstruction_loss == "bce":
        nll = keras.ops.convert_to_numpy(reconstruction_loss(x, x_hat, "bce"))
        return -nll.astype("float64")
    squares = np.sum((flatten(x) - flatten(x_hat)) ** 2, axis=1)
    dim = flatten(x).shape[1]
    return -0.5 * squares - 0.5 * dim * math.log(2.0 * math.pi)


def _posterior_samples(vae, x, num_samples, rng):
    """Draws `num_samples` codes per example; returns `(z, eps, z_mean, z_log_var)`.

    `z` and `eps` have shape `(num_samples, batch, latent_dim)`, a
    feature-map code flattened.
    """
    z_mean, z_log_var = vae.encode_distribution(x)
    # Feature-map codes are flattened: the densities are over every value.
    z_mean = z_mean.reshape(len(x), -1).astype("float64")
    z_log_var = z_log_var.reshape(len(x), -1).astype("float64")
    eps = rng.standard_normal((num_samples, *z_mean.shape))
    return z_mean + np.exp(0.5 * z_log_var) * eps, eps, z_mean, z_log_var


def _decoded_log_likelihood(vae, x, z):
    """`log p(x|z_s)` for codes `z` of shape `(S, batch, d)` -> `(S, batch)`."""
    num_samples, batch = z.shape[:2]
    x_hat = vae.decode(z.reshape(num_samples * batch, *vae.code_shape)
                       .astype("float32"), batch_size=1024)
    x_tiled = np.broadcast_to(x[None], (num_samples, *x.shape)).reshape(
        num_samples * batch, *x.shape[1:])
    return _log_likelihood(vae, x_tiled, x_hat).reshape(num_samples, batch)


def _chunks(x, num_samples, max_decoded=8192):
    size = max(1, max_decoded // num_samples)
    for i in range(0, len(x), size):
        yield x[i:i + size]


def _has_standard_prior(vae):
    """Whether the model's prior is the VAE's `N(0, I)` (its `log_prior` kept)."""
    return type(vae).log_prior is VariationalAutoEncoder.log_prior


def _log_prior(vae, z, batch_size=8192):
    """`log p(z)` under the model's own prior for codes `(S, batch, d)`, float64."""
    if _has_standard_prior(vae):
        return -0.5 * np.sum(z**2 + LOG_2PI, axis=-1)
    flat = z.reshape(-1, *vae.code_shape).astype("float32")
    values = [keras.ops.convert_to_numpy(vae.log_prior(flat[i:i + batch_size]))
              for i in range(0, len(flat), batch_size)]
    return np.concatenate(values).astype("float64").reshape(z.shape[:2])


def _log_posterior(eps, z_log_var):
    """`log q(z|x)` of codes `z = z_mean + exp(z_log_var / 2) * eps`, float64."""
    return -0.5 * np.sum(eps**2 + z_log_var[None] + LOG_2PI, axis=-1)


def negative_elbo(vae, x, num_samples=1, seed=0):
    """Monte Carlo estimate of the negative ELBO of a VAE, in nats per example.

    `-ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || p(z))`: the expectation
    is averaged over `num_samples` codes per example drawn from `q(z|x)`,
    the KL divergence is weighted 1 (whatever the model's `beta`). With the
    prior `N(0, I)` the KL is analytic; with another prior (a VampPrior's
    `log_prior`) it is the Monte Carlo estimate `E_q[log q(z|x) - log
    p(z)]` over the same codes. For a `"bce"` VAE this is the model's own
    loss; the likelihoods are defined in `keras_ae.evaluation`.

    Args:
        vae: a keras_ae `VariationalAutoEncoder`.
        x: inputs of the model's input shape (images in [0, 1]).
        num_samples: int > 0, codes drawn per example.
        seed: int, seed of the draws.

    Returns:
        A dict of floats, means over the examples: `negative_elbo`,
        `reconstruction_nll` (`E_q[-log p(x|z)]`) and `kl`.
    """
    check_autoencoder(vae, "vae", VariationalAutoEncoder)
    x = check_data("x", x, vae)
    num_samples = check_positive_int("num_samples", num_samples)
    rng = np.random.default_rng(check_seed("seed", seed))
    nll, kl = [], []
    for batch in _chunks(x, num_samples):
        z, eps, z_mean, z_log_var = _posterior_samples(vae, batch,
                                                       num_samples, rng)
        nll.append(-_decoded_log_likelihood(vae, batch, z).mean(axis=0))
        if _has_standard_prior(vae):
            kl.append(keras.ops.convert_to_numpy(
                kl_divergence(z_mean, z_log_var)))
        else:
            kl.append(np.mean(_log_posterior(eps, z_log_var)
                              - _log_prior(vae, z), axis=0))
    nll, kl = np.concatenate(nll), np.concatenate(kl)
    return {"negative_elbo": float(np.mean(nll + kl)),
            "reconstruction_nll": float(np.mean(nll)), "kl": float(np.mean(kl))}


def importance_weighted_nll(vae, x, k=100, seed=0):
    """Importance-weighted estimate of `-log p(x)` (Burda et al., 2016), nats.

    `-log (1/k sum_i p(x|z_i) p(z_i) / q(z_i|x))` with `z_i ~ q(z|x)`,
    computed in log space with logsumexp, vectorized over the `k` samples,
    and averaged over the examples. Its expectation is an upper bound of
    `-log p(x)` that decreases with `k` towards it; at `k=1` it is a
    one-sample estimate of the negative ELBO (with a sampled KL). `p(z)` is
    the model's own prior (`log_prior`). The likelihoods are defined in
    `keras_ae.evaluation`.

    Args:
        vae: a keras_ae `VariationalAutoEncoder`.
        x: inputs of the model's input shape (images in [0, 1]).
        k: int > 0, importance samples per example.
        seed: int, seed of the draws.

    Returns:
        `{"iw_nll": float, "k": float}`.
    """
    check_autoencoder(vae, "vae", VariationalAutoEncoder)
    x = check_data("x", x, vae)
    k = check_positive_int("k", k)
    rng = np.random.default_rng(check_seed("seed", seed))
    nll = []
    for batch in _chunks(x, k):
        z, eps, _, z_log_var = _posterior_samples(vae, batch, k, rng)
        log_likelihood = _decoded_log_likelihood(vae, batch, z)
        log_weights = (log_likelihood + _log_prior(vae, z)
                       - _log_posterior(eps, z_log_var))
        nll.append(math.log(k) - logsumexp(log_weights, axis=0))
    return {"iw_nll": float(np.mean(np.concatenate(nll))), "k": float(k)}
