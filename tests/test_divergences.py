"""Tests of keras_ae.divergences against NumPy / SciPy references."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp
from scipy.stats import norm

from keras_ae import divergences as dv
from keras_ae.losses import reconstruction_loss


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _posteriors(rng, batch, dim, variances=(0.1, 1.5)):
    z_mean = rng.standard_normal((batch, dim))
    z_log_var = np.log(rng.uniform(*variances, (batch, dim)))
    z = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal((batch, dim))
    return z.astype("float32"), z_mean.astype("float32"), z_log_var.astype("float32")


# --- Gaussian log densities ---------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 3), (4, 2, 3, 2)])
def test_log_normal_matches_scipy(rng, shape):
    z = rng.standard_normal(shape).astype("float32")
    mean = rng.standard_normal(shape).astype("float32")
    log_var = rng.uniform(-2, 1, shape).astype("float32")
    expected = norm.logpdf(z, mean, np.exp(0.5 * log_var)).reshape(4, -1).sum(1)
    result = _np(dv.log_normal(z, mean, log_var))
    assert result.shape == (4,) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        _np(dv.log_standard_normal(z)),
        norm.logpdf(z).reshape(4, -1).sum(1), rtol=1e-5, atol=1e-5)


def test_log_normal_broadcasts_shared_parameters(rng):
    z = rng.standard_normal((5, 3)).astype("float32")
    mean, log_var = np.full((1, 3), 0.5, "float32"), np.float32(-1.0)
    expected = norm.logpdf(z, 0.5, math.exp(-0.5)).sum(1)
    np.testing.assert_allclose(_np(dv.log_normal(z, mean, log_var)), expected,
                               rtol=1e-5)


# --- Decoder log-likelihood ---------------------------------------------------


def test_log_likelihood_mse_is_unit_variance_gaussian(rng):
    x = rng.uniform(size=(3, 4, 4, 1)).astype("float32")
    x_hat = rng.uniform(size=(3, 4, 4, 1)).astype("float32")
    expected = norm.logpdf(x, x_hat, 1.0).reshape(3, -1).sum(1)
    np.testing.assert_allclose(_np(dv.log_likelihood(x, x_hat, "mse")),
                               expected, rtol=1e-5)


def test_log_likelihood_bce_clips_like_keras(rng):
    x = rng.uniform(size=(3, 10)).astype("float32")
    x_hat = rng.uniform(size=(3, 10)).astype("float32")
    x_hat[0, :3] = [0.0, 1.0, 1e-12]  # clipped to [1e-7, 1 - 1e-7]
    eps = np.float32(1e-7)  # clipped in float32: 1 - eps is 1 - 2**-23
    clipped = np.clip(x_hat, eps, np.float32(1) - eps).astype("float64")
    expected = np.sum(x * np.log(clipped) + (1 - x) * np.log(1 - clipped), 1)
    result = _np(dv.log_likelihood(x, x_hat, "bce"))
    assert np.all(np.isfinite(result))
    np.testing.assert_allclose(result, expected, rtol=1e-4)
    np.testing.assert_allclose(
        result, -_np(reconstruction_loss(x, x_hat, "bce")), rtol=1e-6)


# --- Importance-weighted bound ------------------------------------------------


def test_iwae_bound_matches_scipy_and_is_stable(rng):
    log_weights = rng.normal(-3.0, 2.0, (7, 5)).astype("float32")
    np.testing.assert_allclose(
        _np(dv.importance_weighted_bound(log_weights)),
        logsumexp(log_weights, axis=0) - math.log(7), rtol=1e-5)
    # Far from 0, a naive log(mean(exp(w))) overflows or underflows.
    for offset in (-5000.0, 5000.0):
        bound = _np(dv.importance_weighted_bound(log_weights + offset))
        np.testing.assert_allclose(
            bound, logsumexp(log_weights, axis=0) - math.log(7) + offset,
            rtol=1e-5)


def test_iwae_bound_with_one_sample_is_the_log_weight(rng):
    log_weights = rng.normal(0.0, 3.0, (1, 6)).astype("float32")
    np.testing.assert_array_equal(
        _np(dv.importance_weighted_bound(log_weights)), log_weights[0])


def test_iwae_bound_jensen_and_increases_with_k(rng):
    # log w ~ N(0, 1): log E[w] = 0.5, and E[L_k] increases towards it.
    log_weights = rng.standard_normal((1000, 2000)).astype("float32")
    full = _np(dv.importance_weighted_bound(log_weights))
    assert np.all(full >= log_weights.mean(axis=0) - 1e-5)
    means = [float(np.mean(_np(dv.importance_weighted_bound(log_weights[:k]))))
             for k in (1, 2, 5, 20, 100, 1000)]
    assert np.all(np.diff(means) > 0), means
    assert abs(means[0]) < 0.1                   # E[L_1] = E[log w] = 0
    assert abs(means[-1] - 0.5) < 0.01           # bias ~ (e - 1) / (2 k)


# --- Beta-TC-VAE decomposition ------------------------------------------------


def _reference_terms(z, z_mean, z_log_var, dataset_size, estimator):
    """Brute-force loops, float64."""
    batch, dim = z.shape
    big_n, m = dataset_size, batch - 1
    # log q(z_ij | x_k) for every i, k, j.
    pairs = np.empty((batch, batch, dim))
    for i in range(batch):
        for k in range(batch):
            pairs[i, k] = norm.logpdf(z[i], z_mean[k], np.exp(0.5 * z_log_var[k]))
    log_w = np.empty((batch, batch))
    for i in range(batch):
        for k in range(batch):
            if estimator == "mws":
                log_w[i, k] = -math.log(batch * big_n)
            elif k == i:
                log_w[i, k] = math.log(1 / big_n)
            elif k == (i + 1) % batch:
                log_w[i, k] = math.log((big_n - m) / (big_n * m))
            else:
                log_w[i, k] = math.log(1 / m)
    log_q_zx = np.array([pairs[i, i].sum() for i in range(batch)])
    log_q_z = logsumexp(log_w + pairs.sum(2), axis=1)
    log_q_marginals = logsumexp(log_w[:, :, None] + pairs, axis=1).sum(1)
    log_p_z = norm.logpdf(z).sum(1)
    return {"mutual_information": log_q_zx - log_q_z,
            "total_correlation": log_q_z - log_q_marginals,
            "dimension_wise_kl": log_q_marginals - log_p_z}


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_tc_terms_match_brute_force(rng, estimator):
    z, z_mean, z_log_var = _posteriors(rng, 6, 3)
    terms = dv.total_correlation_terms(z, z_mean, z_log_var, 100, estimator)
    expected = _reference_terms(z, z_mean, z_log_var, 100, estimator)
    assert set(terms) == set(expected)
    for name, value in terms.items():
        value = _np(value)
        assert value.shape == (6,) and value.dtype == np.float32
        np.testing.assert_allclose(value, expected[name], rtol=1e-4,
                                   atol=1e-4, err_msg=name)


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_tc_terms_add_up_to_log_q_minus_log_p(rng, estimator):
    z, z_mean, z_log_var = _posteriors(rng, 64, 5)
    terms = dv.total_correlation_terms(z, z_mean, z_log_var, 1000, estimator)
    total = sum(_np(t).astype("float64") for t in terms.values())
    exact = (norm.logpdf(z, z_mean, np.exp(0.5 * z_log_var)).sum(1)
             - norm.logpdf(z).sum(1))
    np.testing.assert_allclose(total, exact, rtol=1e-5, atol=2e-5)


def test_tc_terms_of_identical_posteriors(rng):
    # q(z|x) the same for all x: q(z) = q(z|x) exactly, factorized.
    batch, dim, big_n = 8, 3, 500
    z_mean = np.tile(rng.standard_normal((1, dim)), (batch, 1)).astype("float32")
    z_log_var = np.tile(rng.uniform(-1, 0, (1, dim)), (batch, 1)).astype("float32")
    z = (z_mean + rng.standard_normal((batch, dim))).astype("float32")
    mss = dv.total_correlation_terms(z, z_mean, z_log_var, big_n, "mss")
    np.testing.assert_allclose(_np(mss["mutual_information"]), 0.0, atol=1e-5)
    np.testing.assert_allclose(_np(mss["total_correlation"]), 0.0, atol=1e-5)
    # Minibatch weighted sampling undercounts every density by log(N).
    mws = dv.total_correlation_terms(z, z_mean, z_log_var, big_n, "mws")
    log_n = math.log(big_n)
    np.testing.assert_allclose(_np(mws["mutual_information"]), log_n, rtol=1e-5)
    np.testing.assert_allclose(_np(mws["total_correlation"]),
                               (dim - 1) * log_n, rtol=1e-5)


def test_tc_terms_mean_is_the_analytic_kl(rng):
    # Narrow posteriors: the Monte Carlo error of the one-sample KL is then
    # about 0.25% of the KL (4 standard errors inside the 1% tolerance).
    z, z_mean, z_log_var = _posteriors(rng, 4000, 3, variances=(0.002, 0.01))
    terms = dv.total_correlation_terms(z, z_mean, z_log_var, 60000, "mss")
    estimate = float(np.mean(sum(_np(t).astype("float64") for t in terms.values())))
    kl = 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1 - z_log_var, axis=1)
    assert abs(estimate - kl.mean()) < 0.01 * kl.mean(), (estimate, kl.mean())


def _gaussian_family(rng, batch, dim, correlated, std=0.5):
    """Posteriors N(m, std^2 I) whose aggregate is N(0, Sigma), unit variances."""
    if correlated:
        m = np.repeat(rng.standard_normal((batch, 1)), dim, axis=1)
    else:
        m = rng.standard_normal((batch, dim))
    z_mean = math.sqrt(1 - std**2) * m
    z = z_mean + std * rng.standard_normal((batch, dim))
    z_log_var = np.full((batch, dim), math.log(std**2))
    return [a.astype("float32") for a in (z, z_mean, z_log_var)]


def test_total_correlation_is_near_0_for_independent_dimensions(rng):
    dim, big_n = 3, 60000
    independent = _gaussian_family(rng, 1000, dim, correlated=False)
    correlated = _gaussian_family(rng, 1000, dim, correlated=True)
    # The correlated aggregate is N(0, 0.75 * 11^T + 0.25 I): TC = 0.928.
    sigma = 0.75 * np.ones((dim, dim)) + 0.25 * np.eye(dim)
    analytic_tc = -0.5 * math.log(np.linalg.det(sigma))
    tc = {}
    for estimator in ("mss", "mws"):
        for name, codes in (("ind", independent), ("cor", correlated)):
            terms = dv.total_correlation_terms(*codes, big_n, estimator)
            tc[estimator, name] = float(np.mean(_np(terms["total_correlation"])))
            if estimator == "mss":  # q(z_j) = p(z_j) = N(0, 1)
                assert abs(np.mean(_np(terms["dimension_wise_kl"]))) < 0.05
    assert abs(tc["mss", "ind"]) < 0.05, tc
    # (The batch's own spread of correlated means moves it by about 5%.)
    assert abs(tc["mss", "cor"] - analytic_tc) < 0.2 * analytic_tc, tc
    # The weighted estimator is offset by about (d - 1) log N (documented).
    offset = (dim - 1) * math.log(big_n)
    assert abs(tc["mws", "ind"] - offset) < 0.1, tc
    assert tc["mws", "cor"] - tc["mws", "ind"] > 0.5 * analytic_tc, tc


def test_tc_terms_flatten_feature_maps(rng):
    z, z_mean, z_log_var = _posteriors(rng, 5, 12)
    flat = dv.total_correlation_terms(z, z_mean, z_log_var, 50, "mss")
    maps = dv.total_correlation_terms(
        *(a.reshape(5, 2, 2, 3) for a in (z, z_mean, z_log_var)), 50, "mss")
    for name in flat:
        np.testing.assert_allclose(_np(maps[name]), _np(flat[name]), rtol=1e-6)


# --- Maximum mean discrepancy -------------------------------------------------


def _reference_mmd(a, b, kernel, scales):
    a = a.reshape(len(a), -1).astype("float64")
    b = b.reshape(len(b), -1).astype("float64")
    dim = a.shape[1]

    def k(u, v):
        r = np.sum((u - v) ** 2)
        cs = [2 * dim * s for s in scales]
        if kernel == "imq":
            return sum(c / (c + r) for c in cs)
        return sum(math.exp(-r / c) for c in cs)

    n, m = len(a), len(b)
    xx = sum(k(a[i], a[j]) for i in range(n) for j in range(n) if i != j)
    yy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(a[i], b[j]) for i in range(n) for j in range(m))
    return xx / (n * (n - 1)) + yy / (m * (m - 1)) - 2 * xy / (n * m)


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_matches_brute_force_u_statistic(rng, kernel):
    a = rng.standard_normal((7, 3)).astype("float32")
    b = (rng.standard_normal((5, 3)) + 0.3).astype("float32")
    result = _np(dv.mmd(a, b, kernel=kernel))
    assert result.shape == () and result.dtype == np.float32
    np.testing.assert_allclose(
        result, _reference_mmd(a, b, kernel, dv.MMD_SCALES), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        _np(dv.mmd(a, b, kernel=kernel, scales=(0.3, 4))),
        _reference_mmd(a, b, kernel, (0.3, 4)), rtol=1e-4, atol=1e-6)
    # Map codes are flattened.
    np.testing.assert_allclose(
        _np(dv.mmd(a.reshape(7, 1, 3, 1), b.reshape(5, 3, 1, 1), kernel=kernel)),
        result, rtol=1e-6)


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_is_near_0_for_one_distribution(rng, kernel):
    z_q, z_p = rng.standard_normal((2, 500, 4)).astype("float32")
    same = float(_np(dv.mmd(z_q, z_p, kernel=kernel)))
    shifted = float(_np(dv.mmd(z_q + 1.0, z_p, kernel=kernel)))
    scaled = float(_np(dv.mmd(2.0 * z_q, z_p, kernel=kernel)))
    assert abs(same) < 0.01, same
    assert shifted > 20 * max(abs(same), 1e-3), (same, shifted)
    assert scaled > 20 * max(abs(same), 1e-3), (same, scaled)


# --- VampPrior ----------------------------------------------------------------


def test_mixture_with_one_component_is_log_normal(rng):
    z = rng.standard_normal((6, 4)).astype("float32")
    mean = rng.standard_normal((1, 4)).astype("float32")
    log_var = rng.uniform(-1, 1, (1, 4)).astype("float32")
    np.testing.assert_allclose(
        _np(dv.log_mixture_of_gaussians(z, mean, log_var)),
        _np(dv.log_normal(z, mean, log_var)), rtol=1e-6, atol=1e-6)


def test_mixture_matches_brute_force_on_maps(rng):
    z = rng.standard_normal((3, 2, 2, 2)).astype("float32")
    means = rng.standard_normal((5, 2, 2, 2)).astype("float32")
    log_vars = rng.uniform(-1, 1, (5, 2, 2, 2)).astype("float32")
    expected = np.array([
        logsumexp([norm.logpdf(z[i], means[k], np.exp(0.5 * log_vars[k])).sum()
                   for k in range(5)]) - math.log(5)
        for i in range(3)])
    result = _np(dv.log_mixture_of_gaussians(z, means, log_vars))
    assert result.shape == (3,)
    np.testing.assert_allclose(result, expected, rtol=1e-5)
    # Far from every component, exp(log N) underflows; logsumexp does not.
    far = _np(dv.log_mixture_of_gaussians(z + 100.0, means, log_vars))
    assert np.all(np.isfinite(far)) and np.all(far < -1000)


# --- Graphs, dtypes, errors ---------------------------------------------------


def test_everything_runs_in_tf_function_with_float16(rng):
    z, z_mean, z_log_var = (a.astype("float16") for a in _posteriors(rng, 8, 3))
    x = rng.uniform(size=(8, 5)).astype("float16")
    spec = tf.TensorSpec([None, None], tf.float16)

    @tf.function(input_signature=[spec] * 4)
    def graph(z, z_mean, z_log_var, x):
        outputs = {
            "log_normal": dv.log_normal(z, z_mean, z_log_var),
            "log_standard_normal": dv.log_standard_normal(z),
            "bce": dv.log_likelihood(x, x, "bce"),
            "mse": dv.log_likelihood(x, x * 0.5, "mse"),
            "iwae": dv.importance_weighted_bound(z),
            "mmd_imq": dv.mmd(z, z_mean, "imq"),
            "mmd_rbf": dv.mmd(z, z_mean, "rbf"),
            "mixture": dv.log_mixture_of_gaussians(z, z_mean[:3], z_log_var[:3]),
        }
        for estimator in ("mws", "mss"):
            for name, value in dv.total_correlation_terms(
                    z, z_mean, z_log_var, 100, estimator).items():
                outputs[f"{estimator}_{name}"] = value
        return outputs

    def eager(*args):
        return graph.python_function(*args)

    from_graph = graph(z, z_mean, z_log_var, x)
    # The same values in float32, eagerly: the functions cast first.
    from_float32 = eager(*(a.astype("float32") for a in (z, z_mean, z_log_var, x)))
    assert len(from_graph) == 14
    for name, value in from_graph.items():
        assert value.dtype == tf.float32, name
        assert np.all(np.isfinite(_np(value))), name
        np.testing.assert_allclose(_np(value), _np(from_float32[name]),
                                   rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("call, match", [
    (lambda z: dv.mmd(z, z, kernel="gauss"),
     r"Unknown `kernel`. Received: kernel='gauss'; allowed: 'imq', 'rbf'"),
    (lambda z: dv.mmd(z, z, scales=()), r"`scales` must be .*scales=\(\)"),
    (lambda z: dv.mmd(z, z, scales=(1.0, -2.0)), r"scales=\(1.0, -2.0\)"),
    (lambda z: dv.mmd(z[:1], z), r"`z_q` must hold at least 2 codes"),
    (lambda z: dv.mmd(z, z[:, :2]), r"as many values per code"),
    (lambda z: dv.total_correlation_terms(z, z, z, 0),
     r"`dataset_size` must be a positive integer. Received: dataset_size=0"),
    (lambda z: dv.total_correlation_terms(z, z, z, -5), r"dataset_size=-5"),
    (lambda z: dv.total_correlation_terms(z, z, z, 10.5), r"dataset_size=10.5"),
    (lambda z: dv.total_correlation_terms(z, z, z, 3),
     r"at least the batch size .*Received: dataset_size=3 for a batch of 4"),
    (lambda z: dv.total_correlation_terms(z, z, z, 100, estimator="mc"),
     r"Unknown `estimator`. Received: estimator='mc'; allowed: 'mws', 'mss'"),
    (lambda z: dv.log_likelihood(z, z, "l1"),
     r"Unknown `kind`. Received: kind='l1'; allowed: 'mse', 'bce'"),
])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.zeros((4, 3), "float32"))
