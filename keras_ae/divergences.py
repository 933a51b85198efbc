"""Log densities, bounds and divergences of the variational autoencoders.

The terms of the objectives beyond the plain VAE: Gaussian log densities,
the decoder's log-likelihood, the importance-weighted bound (IWAE), the
decomposition of the KL term of beta-TC-VAE, the maximum mean discrepancy
(InfoVAE, WAE) and the VampPrior's mixture density.

Every function uses `keras.ops` only, so it runs eagerly and inside a
`tf.function`, and computes in float32 whatever the dtype of its inputs
(they are cast first; mixed-precision models pass float16 codes). Unless
stated otherwise a function returns one value per example, shape
`(batch_size,)`: the models reduce over the batch themselves. A code is a
vector `(batch_size, d)` or a feature map `(batch_size, height, width,
channels)`; a sum "over the code" runs over every axis but the batch axis,
as `keras_ae.losses.kl_divergence` does. Log densities are in nats.
"""

import math
import numbers

from keras import ops

from keras_ae.checks import check_choice
from keras_ae.checks import check_positive_int
from keras_ae.losses import RECONSTRUCTION_LOSSES
from keras_ae.losses import reconstruction_loss

__all__ = [
    "LOG_2PI", "TC_ESTIMATORS", "MMD_KERNELS", "MMD_SCALES", "log_normal",
    "log_standard_normal", "log_likelihood", "importance_weighted_bound",
    "total_correlation_terms", "mmd", "log_mixture_of_gaussians"
]

LOG_2PI = math.log(2.0 * math.pi)
TC_ESTIMATORS = ("mws", "mss")
MMD_KERNELS = ("imq", "rbf")
# The scales of WAE (Tolstikhin et al., 2018): C = 2 * d * scale.
MMD_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _float32(*tensors):
    return tuple(ops.cast(t, "float32") for t in tensors)


def _sum_over_code(values):
    """Sums `(batch_size, ...)` over every axis but the first."""
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)


def _log_normal_values(z, mean, log_var):
    """`log N(z; mean, exp(log_var))` of each value (broadcasting)."""
    return -0.5 * (LOG_2PI + log_var
                   + ops.square(z - mean) * ops.exp(-log_var))


def log_normal(z, mean, log_var):
    """Log density of a diagonal Gaussian, summed over the code, per example.

    Computes `log N(z; mean, exp(log_var)) = -0.5 * sum_j (log(2 pi) +
    log_var_j + (z_j - mean_j)**2 / exp(log_var_j))` over every axis of the
    code but the batch axis.

    Args:
        z: Tensor of codes, shape `(batch_size, ...)`.
        mean: Tensor of means, the shape of `z` or broadcastable to it.
        log_var: Tensor of log variances, the shape of `z` or broadcastable
            to it.

    Returns:
        A float32 tensor of shape `(batch_size,)`.

    Example:

    >>> log_normal(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)))
    # [-2.7568, -2.7568], i.e. -1.5 * log(2 pi)
    """
    z, mean, log_var = _float32(z, mean, log_var)
    return _sum_over_code(_log_normal_values(z, mean, log_var))


def log_standard_normal(z):
    """Log density of `N(0, I)`, summed over the code, per example.

    Computes `log N(z; 0, I) = -0.5 * sum_j (z_j**2 + log(2 pi))` over every
    axis of the code but the batch axis.

    Args:
        z: Tensor of codes, shape `(batch_size, ...)`.

    Returns:
        A float32 tensor of shape `(batch_size,)`.
    """
    (z,) = _float32(z)
    return -0.5 * _sum_over_code(ops.square(z) + LOG_2PI)


def log_likelihood(x, x_hat, kind="mse"):
    """The decoder's `log p(x|z)` per example, as in `keras_ae.evaluation`.

    * `kind="bce"`: a Bernoulli likelihood per value, `log p(x|z) = sum_j
      x_j log x_hat_j + (1 - x_j) log(1 - x_hat_j)` with `x_hat` clipped to
      `[1e-7, 1 - 1e-7]` as `keras.ops.binary_crossentropy` does: minus the
      model's reconstruction loss `reconstruction_loss(x, x_hat, "bce")`.
    * `kind="mse"`: a Gaussian of unit variance per value, `log p(x|z) =
      -0.5 * sum_j (x_j - x_hat_j)**2 - (D / 2) log(2 pi)` with `D` values
      per example.

    Args:
        x: Tensor of inputs, shape `(batch_size, ...)` (in [0, 1] for
            `"bce"`).
        x_hat: Tensor of the decoder's outputs, the shape of `x`
            (probabilities for `"bce"`).
        kind: str, `"mse"` or `"bce"`, the model's `reconstruction_loss`.

    Returns:
        A float32 tensor of shape `(batch_size,)`, in nats.
    """
    kind = check_choice("kind", kind, RECONSTRUCTION_LOSSES)
    x, x_hat = _float32(x, x_hat)
    if kind == "bce":
        return -reconstruction_loss(x, x_hat, "bce")
    squares = ops.reshape(ops.square(x - x_hat), (ops.shape(x)[0], -1))
    num_values = ops.cast(ops.shape(squares)[1], "float32")
    return -0.5 * ops.sum(squares, axis=1) - 0.5 * LOG_2PI * num_values


def importance_weighted_bound(log_weights):
    """Importance-weighted lower bound of `log p(x)` (IWAE), per example.

    Burda et al., 2016: with `k` codes `z_i ~ q(z|x)` and log weights
    `log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)`, the bound is
    `L_k = log((1/k) sum_i w_i) = logsumexp_i(log w_i) - log(k)`, computed
    with a stable logsumexp. `L_1` is the one-sample ELBO; `L_k >=
    mean_i(log w_i)` (Jensen) and `E[L_k]` increases with `k` towards
    `log p(x)`.

    Args:
        log_weights: Tensor of shape `(k, batch_size)`, the samples first.

    Returns:
        A float32 tensor of shape `(batch_size,)`. (The model's loss is
        minus its mean.)

    Example:

    >>> importance_weighted_bound(np.log([[1.0], [3.0]]))   # log(2)
    """
    (log_weights,) = _float32(log_weights)
    k = ops.cast(ops.shape(log_weights)[0], "float32")
    return ops.logsumexp(log_weights, axis=0) - ops.log(k)


def _log_importance_weight_matrix(batch_size, dataset_size):
    """Log weights of minibatch stratified sampling, `(batch_size, batch_size)`.

    Row `i` weights the posteriors `q(z_i | x_j)` of the batch for the code
    `z_i` drawn from `q(z | x_i)`, with `M = batch_size - 1` and `N =
    dataset_size`: `1 / N` for `j = i`, `(N - M) / (N M)` for `j = (i + 1)
    mod batch_size`, `1 / M` for the `M - 1` others. Each row sums to 1.
    """
    n = float(dataset_size)
    m = ops.maximum(ops.cast(batch_size, "float32") - 1.0, 1.0)
    rows = ops.expand_dims(ops.arange(batch_size), 1)
    columns = ops.expand_dims(ops.arange(batch_size), 0)
    weights = ops.where(
        ops.equal(rows, columns), 1.0 / n,
        ops.where(ops.equal(columns, ops.mod(rows + 1, batch_size)),
                  (n - m) / (n * m), 1.0 / m))
    return ops.log(weights)


def total_correlation_terms(z, z_mean, z_log_var, dataset_size,
                            estimator="mws"):
    """The decomposition of the KL term of beta-TC-VAE, per example.

    Chen et al., 2018, "Isolating Sources of Disentanglement in VAEs": for a
    code `z_i ~ q(z|x_i)` of each example of a batch of `B` drawn from a
    training set of `N = dataset_size` examples, with the prior `p = N(0, I)`:

    * `mutual_information = log q(z_i|x_i) - log q(z_i)` (index-code MI),
    * `total_correlation = log q(z_i) - sum_j log q(z_ij)`,
    * `dimension_wise_kl = sum_j log q(z_ij) - log p(z_ij)`.

    They add up to `log q(z_i|x_i) - log p(z_i)`, a one-sample estimate of
    `KL(q(z|x_i) || p(z))` (to float rounding: each adjacent pair of terms
    uses the same tensor), whatever the estimator. The aggregate posterior
    `q(z) = (1/N) sum_n q(z|x_n)` and its marginals `q(z_j)` are estimated
    from the batch, with `log q(z_i|x_k)` the log density of the Gaussian of
    example `k` at the code of example `i` (summed over dimensions for
    `q(z)`, per dimension `j` for `q(z_j)`):

    * `"mws"` (minibatch weighted sampling, the reference code's default):
      `log q(z_i) ~= logsumexp_k log q(z_i|x_k) - log(B * N)`, and the same
      per dimension. As in the paper, each density is underestimated by
      about `log N` when the posteriors of the batch overlap (by less when
      they do not), so the estimates of MI, TC and dimension-wise KL are
      offset by about `+log N`, `+(d - 1) log N` and `-d log N` (their sum
      is not); report the figures of `"mss"`.
    * `"mss"` (minibatch stratified sampling): `log q(z_i) ~= logsumexp_k
      (log W_ik + log q(z_i|x_k))` with `M = B - 1` and the weights `W_ii =
      1/N`, `W_ik = (N - M) / (N M)` for `k = (i + 1) mod B` and `W_ik =
      1/M` otherwise. Each row of `W` sums to 1, so identical posteriors
      give `q(z) = q(z|x)` exactly. (The reference code,
      rtqichen/beta-tcvae `_log_importance_weight_matrix`, means these
      weights but its strided assignment fills columns 0 and 1 instead of
      the diagonal; this is the intended matrix.)

    A batch of one code gives `log q(z) = log q(z|x) - log N` with either
    estimator.

    Args:
        z: Tensor of codes drawn from the posteriors, shape `(batch_size,
            d)` (a feature map is flattened: every value is a dimension).
        z_mean: Tensor of the posterior means, the shape of `z`.
        z_log_var: Tensor of the posterior log variances, the shape of `z`.
        dataset_size: int > 0, the number of training examples `N` (at least
            the batch size).
        estimator: str, `"mws"` or `"mss"`.

    Returns:
        A dict of float32 tensors of shape `(batch_size,)`:
        `mutual_information`, `total_correlation`, `dimension_wise_kl`.
        Memory and time grow as `batch_size**2 * d`.

    Example:

    >>> terms = total_correlation_terms(z, z_mean, z_log_var, 60000, "mss")
    >>> kl = (alpha * terms["mutual_information"]
    ...       + beta * terms["total_correlation"]
    ...       + gamma * terms["dimension_wise_kl"])
    """
    estimator = check_choice("estimator", estimator, TC_ESTIMATORS)
    dataset_size = check_positive_int("dataset_size", dataset_size)
    z, z_mean, z_log_var = _float32(z, z_mean, z_log_var)
    batch_size = ops.shape(z)[0]
    if isinstance(batch_size, int) and batch_size > dataset_size:
        raise ValueError(
            "`dataset_size` must be at least the batch size (the batch is "
            f"drawn from the dataset). Received: dataset_size={dataset_size} "
            f"for a batch of {batch_size} codes"
        )
    z = ops.reshape(z, (batch_size, -1))
    z_mean = ops.reshape(z_mean, (batch_size, -1))
    z_log_var = ops.reshape(z_log_var, (batch_size, -1))

    log_q_zx = ops.sum(_log_normal_values(z, z_mean, z_log_var), axis=1)
    log_p_z = log_standard_normal(z)
    # pairs[i, k, j] = log q(z_ij | x_k): code i under the posterior of k.
    pairs = _log_normal_values(ops.expand_dims(z, 1),
                               ops.expand_dims(z_mean, 0),
                               ops.expand_dims(z_log_var, 0))
    if estimator == "mws":
        log_norm = ops.log(
            ops.cast(batch_size, "float32") * float(dataset_size))
        log_q_z = ops.logsumexp(ops.sum(pairs, axis=2), axis=1) - log_norm
        log_q_marginals = ops.sum(
            ops.logsumexp(pairs, axis=1) - log_norm, axis=1)
    else:
        log_w = _log_importance_weight_matrix(batch_size, dataset_size)
        log_q_z = ops.logsumexp(log_w + ops.sum(pairs, axis=2), axis=1)
        log_q_marginals = ops.sum(
            ops.logsumexp(ops.expand_dims(log_w, 2) + pairs, axis=1), axis=1)
    return {
        "mutual_information": log_q_zx - log_q_z,
        "total_correlation": log_q_z - log_q_marginals,
        "dimension_wise_kl": log_q_marginals - log_p_z,
    }


def _check_scales(scales):
    if isinstance(scales, numbers.Real) and not isinstance(scales, bool):
        scales = (scales,)
    try:
        values = tuple(scales)
    except TypeError:
        values = ()
    if not values or any(
        isinstance(s, bool) or not isinstance(s, numbers.Real)
        or not math.isfinite(s) or s <= 0 for s in values
    ):
        raise ValueError(
            "`scales` must be a non-empty tuple of positive numbers. "
            f"Received: scales={scales!r}"
        )
    return tuple(float(s) for s in values)


def _flat_codes(name, codes):
    (codes,) = _float32(codes)
    codes = ops.reshape(codes, (ops.shape(codes)[0], -1))
    if isinstance(codes.shape[0], int) and codes.shape[0] < 2:
        raise ValueError(
            f"`{name}` must hold at least 2 codes (the estimate leaves out "
            f"the pairs of a code with itself). Received: {name} with shape "
            f"{tuple(codes.shape)}"
        )
    return codes


def _squared_distances(a, b):
    """`|a_i - b_k|**2`, shape `(n, m)`, from the differences (no matmul)."""
    return ops.sum(
        ops.square(ops.expand_dims(a, 1) - ops.expand_dims(b, 0)), axis=2)


def mmd(z_q, z_p, kernel="imq", scales=MMD_SCALES):
    """Unbiased estimate of the squared maximum mean discrepancy of two samples.

    The InfoVAE (Zhao et al., 2019) and WAE (Tolstikhin et al., 2018)
    penalty between codes of the encoder `z_q ~ q(z)` and of the prior `z_p
    ~ p(z)`. The U-statistic, which leaves out the pairs of a code with
    itself (so it can be slightly negative; its expectation is the squared
    MMD, 0 for equal distributions):

    `MMD^2 = 1/(n(n-1)) sum_{i != k} K(q_i, q_k)
           + 1/(m(m-1)) sum_{i != k} K(p_i, p_k)
           - 2/(n m) sum_{i, k} K(q_i, p_k)`

    with `K(a, b) = sum_s k_s(a, b)` over `scales`, `r = |a - b|**2` and
    `C_s = 2 * d * s` for codes of `d` values (WAE's constants for a prior
    `N(0, I)`, `C = 2 d sigma^2 * scale`):

    * `"imq"` (inverse multiquadratic): `k_s(a, b) = C_s / (C_s + r)`,
    * `"rbf"` (Gaussian): `k_s(a, b) = exp(-r / C_s)`, i.e.
      `exp(-r / (2 sigma^2 d))` with `sigma^2 = s`.

    `K(a, a) = len(scales)`, so the value grows with the number of scales.

    Args:
        z_q: Tensor of `n >= 2` codes, shape `(n, ...)` (a feature map is
            flattened).
        z_p: Tensor of `m >= 2` codes with as many values each, shape
            `(m, ...)`.
        kernel: str, `"imq"` or `"rbf"`.
        scales: tuple of numbers > 0 (a single number is one scale).

    Returns:
        A float32 scalar: a statistic of the two batches, not per example.
        Memory and time grow as `n * m * d`.

    Example:

    >>> penalty = mmd(z, keras.random.normal(ops.shape(z)))
    """
    kernel = check_choice("kernel", kernel, MMD_KERNELS)
    scales = _check_scales(scales)
    z_q = _flat_codes("z_q", z_q)
    z_p = _flat_codes("z_p", z_p)
    dim_q, dim_p = z_q.shape[1], z_p.shape[1]
    if isinstance(dim_q, int) and isinstance(dim_p, int) and dim_q != dim_p:
        raise ValueError(
            "`z_q` and `z_p` must have as many values per code. Received: "
            f"z_q with {dim_q} and z_p with {dim_p}"
        )
    dim = ops.cast(ops.shape(z_q)[1], "float32")

    def k(squared_distances):
        total = 0.0
        for scale in scales:
            c = 2.0 * scale * dim
            if kernel == "imq":
                total = total + c / (c + squared_distances)
            else:
                total = total + ops.exp(-squared_distances / c)
        return total

    n = ops.cast(ops.shape(z_q)[0], "float32")
    m = ops.cast(ops.shape(z_p)[0], "float32")
    k_qq = k(_squared_distances(z_q, z_q))
    k_pp = k(_squared_distances(z_p, z_p))
    k_qp = k(_squared_distances(z_q, z_p))
    # The pairs of a code with itself (the diagonals) are left out. A batch
    # of one code (possible only in a graph) has no pair: its term is 0.
    within_q = ((ops.sum(k_qq) - ops.trace(k_qq))
                / ops.maximum(n * (n - 1.0), 1.0))
    within_p = ((ops.sum(k_pp) - ops.trace(k_pp))
                / ops.maximum(m * (m - 1.0), 1.0))
    return within_q + within_p - 2.0 * ops.mean(k_qp)


def log_mixture_of_gaussians(z, means, log_vars):
    """Log density of a uniform mixture of diagonal Gaussians (VampPrior).

    Tomczak & Welling, 2018: the prior `p(z) = (1/K) sum_k N(z; mean_k,
    exp(log_var_k))`, with the components the posteriors of `K` pseudo-inputs.
    Computes `logsumexp_k log N(z; mean_k, exp(log_var_k)) - log(K)` with
    each `log N` summed over the code (as `log_normal`). With `K = 1` it is
    `log_normal(z, means[0], log_vars[0])`.

    Args:
        z: Tensor of codes, shape `(batch_size, ...)`.
        means: Tensor of the components' means, shape `(K, ...)` (the code
            shape of `z`).
        log_vars: Tensor of the components' log variances, shape `(K, ...)`
            or broadcastable to `means`.

    Returns:
        A float32 tensor of shape `(batch_size,)`. Memory grows as
        `batch_size * K * d`.

    Example:

    >>> z_mean, z_log_var = encoder(pseudo_inputs)        # (K, d) each
    >>> log_prior = log_mixture_of_gaussians(z, z_mean, z_log_var)
    """
    z, means, log_vars = _float32(z, means, log_vars)
    values = _log_normal_values(ops.expand_dims(z, 1),
                                ops.expand_dims(means, 0),
                                ops.expand_dims(log_vars, 0))
    shape = ops.shape(values)
    per_component = ops.sum(
        ops.reshape(values, (shape[0], shape[1], -1)), axis=2)
    num_components = ops.cast(ops.shape(means)[0], "float32")
    return ops.logsumexp(per_component, axis=1) - ops.log(num_components)
