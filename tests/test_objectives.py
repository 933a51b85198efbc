"""The continuous-code objectives and the ex-post samplers: what the contract does not cover.

Each objective's loss is checked against an independent NumPy computation
on a tiny model with fixed noise; then what is special to each: the IWAE
bound tightening with `k`, the beta-TC decomposition adding up to the KL,
the MMD of matched codes, the VampPrior's samples coming from its
pseudo-inputs and its prior reaching the likelihood evaluation; the samplers
(fit, seeded samples, JSON round trip, closer to the codes than N(0, I));
and the bad inputs, each refused with a clear message and nothing written.
"""

import math
import os

import keras
import numpy as np
import pytest
from keras import ops
from scipy.special import logsumexp
from settings import file_tree

import keras_ae
from keras_ae import cli
from keras_ae import evaluation
from keras_ae import samplers
from keras_ae.registry import get_objective

SHAPE = (6,)
LOG_2PI = math.log(2.0 * math.pi)
X = np.random.default_rng(0).uniform(0.05, 0.95, (32, *SHAPE)).astype("float32")


def tiny(objective, latent_dim=2, **options):
    """A dense model with linear maps to and from the code: quick to check by hand."""
    keras.utils.set_random_seed(0)
    return keras_ae.build_autoencoder(
        "dense", SHAPE, latent_dim, objective=objective,
        reconstruction_loss="bce", hidden_units=(), **options)


def set_posterior(model, mean_scale=1.0, mean_bias=0.0, log_var_bias=0.0):
    """Sets the encoder's heads: a wider spread of means, a chosen variance."""
    kernel, bias = model.encoder.get_layer("z_mean").get_weights()
    model.encoder.get_layer("z_mean").set_weights(
        [kernel * mean_scale, bias + mean_bias])
    kernel, bias = model.encoder.get_layer("z_log_var").get_weights()
    model.encoder.get_layer("z_log_var").set_weights(
        [kernel, np.full_like(bias, log_var_bias)])


def fix_noise(monkeypatch, layer, noise):
    """Makes a `Sampling` layer use `noise` as its epsilon."""
    noise = ops.convert_to_tensor(noise, "float32")
    monkeypatch.setattr(
        layer, "call",
        lambda inputs: inputs[0] + ops.exp(0.5 * inputs[1]) * noise)


def np_log_normal(z, mean, log_var):
    return -0.5 * np.sum(LOG_2PI + log_var + (z - mean) ** 2 / np.exp(log_var),
                         axis=-1)


def np_log_likelihood(x, x_hat):
    """Bernoulli log-likelihood, `x_hat` clipped as Keras' BCE does."""
    p = np.clip(x_hat, 1e-7, 1 - 1e-7)
    return np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=-1)


def np_decode(model, z):
    return keras.ops.convert_to_numpy(model.decoder(z)).astype("float64")


def terms_of(model, x, **kwargs):
    return {k: float(v) for k, v in model.compute_terms(x, x, **kwargs).items()}


# --- IWAE ----------------------------------------------------------------------


def test_iwae_loss_is_the_k_sample_bound(monkeypatch):
    k = 4
    model = tiny("iwae", num_samples=k, seed=0)
    set_posterior(model, mean_scale=3.0, log_var_bias=-1.0)
    eps = np.random.default_rng(1).standard_normal((k * len(X), 2))
    fix_noise(monkeypatch, model.sampling, eps)
    weights = np.linspace(0.5, 1.5, len(X)).astype("float32")
    terms = terms_of(model, X, sample_weight=weights)

    mean, log_var = (a.astype("float64") for a in model.encode_distribution(X))
    mean_k, log_var_k = np.tile(mean, (k, 1)), np.tile(log_var, (k, 1))
    z = mean_k + np.exp(0.5 * log_var_k) * eps
    log_px = np_log_likelihood(np.tile(X, (k, 1)), np_decode(model, z))
    log_w = (log_px - 0.5 * np.sum(z**2 + LOG_2PI, axis=-1)
             - np_log_normal(z, mean_k, log_var_k)).reshape(k, -1)
    bound = logsumexp(log_w, axis=0) - math.log(k)
    kl = 0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=-1)
    assert terms["iwae_bound"] == pytest.approx(np.mean(weights * bound), rel=1e-5)
    assert terms["reconstruction_loss"] == pytest.approx(
        np.mean(weights * -log_px.reshape(k, -1).mean(axis=0)), rel=1e-5)
    assert terms["kl_loss"] == pytest.approx(np.mean(weights * kl), rel=1e-5)
    assert float(model.total_loss(terms)) == pytest.approx(-terms["iwae_bound"])
    # The warm-up moves the gradient's loss from the reconstruction term
    # alone to the bound.
    for w in (0.0, 0.25, 1.0):
        model.kl_weight.assign(w)
        assert float(model.training_loss(terms)) == pytest.approx(
            (1 - w) * terms["reconstruction_loss"] - w * terms["iwae_bound"])


def test_the_iwae_bound_tightens_with_k():
    x = np.random.default_rng(2).uniform(0.05, 0.95, (256, *SHAPE)).astype("float32")
    bounds, elbos = {}, []
    reference = tiny("iwae", num_samples=1, seed=0)
    # A posterior much wider than the true one leaves a large gap to close.
    set_posterior(reference, mean_scale=2.0, log_var_bias=1.0)
    for k in (1, 5, 50):
        model = tiny("iwae", num_samples=k, seed=k)
        model.set_weights(reference.get_weights())
        draws = [terms_of(model, x) for _ in range(10)]
        bounds[k] = np.mean([d["iwae_bound"] for d in draws])
        if k == 1:
            elbos = [-(d["reconstruction_loss"] + d["kl_loss"]) for d in draws]
    print("IWAE bounds by k:", bounds, "ELBO:", np.mean(elbos))
    # Seen: L_1 -7.76, L_5 -4.91, L_50 -4.39 nats, the ELBO -7.69 (with
    # the mean instead of the logsumexp, L_k stays at the ELBO for every k).
    assert bounds[5] > bounds[1] + 1.0
    assert bounds[50] > bounds[5] + 0.2
    # L_1 is the ELBO (with a sampled KL): equal in expectation.
    assert bounds[1] == pytest.approx(np.mean(elbos), abs=0.25)


# --- beta-TC-VAE ------------------------------------------------------------------


def test_the_tc_decomposition_sums_to_the_kl(monkeypatch):
    x = np.random.default_rng(3).uniform(0.05, 0.95, (256, *SHAPE)).astype("float32")
    model = tiny("beta_tcvae", latent_dim=3, dataset_size=1000, seed=0,
                 alpha=1.0, beta=1.0, gamma=1.0)
    set_posterior(model, mean_scale=4.0, log_var_bias=-1.5)
    mean, log_var = (a.astype("float64") for a in model.encode_distribution(x))
    kl = np.mean(0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=-1))
    # Over many draws the three terms add up to the analytic KL.
    sums = [sum(terms_of(model, x)[t] for t in ("mutual_information",
                                               "total_correlation",
                                               "dimension_wise_kl"))
            for _ in range(20)]
    print("TC terms' sum", np.mean(sums), "analytic KL", kl)
    assert np.mean(sums) == pytest.approx(kl, rel=0.01)
    # At one draw, exactly log q(z|x) - log p(z).
    eps = np.random.default_rng(4).standard_normal((len(x), 3))
    fix_noise(monkeypatch, model.sampling, eps)
    z = mean + np.exp(0.5 * log_var) * eps
    sampled_kl = np.mean(np_log_normal(z, mean, log_var)
                         + 0.5 * np.sum(z**2 + LOG_2PI, axis=-1))
    terms = terms_of(model, x)
    assert (terms["mutual_information"] + terms["total_correlation"]
            + terms["dimension_wise_kl"]) == pytest.approx(sampled_kl, rel=1e-4)
    assert terms["reconstruction_loss"] == pytest.approx(
        np.mean(-np_log_likelihood(x, np_decode(model, z))), rel=1e-5)
    # The weights apply to their own terms.
    weighted = tiny("beta_tcvae", latent_dim=3, dataset_size=1000, seed=0,
                    alpha=2.0, beta=3.0, gamma=0.5)
    assert float(weighted.total_loss(terms)) == pytest.approx(
        terms["reconstruction_loss"] + 2.0 * terms["mutual_information"]
        + 3.0 * terms["total_correlation"] + 0.5 * terms["dimension_wise_kl"])
    weighted.kl_weight.assign(0.0)
    assert float(weighted.training_loss(terms)) == pytest.approx(
        terms["reconstruction_loss"])


def test_the_main_job_gives_beta_tcvae_the_size_of_the_training_set():
    config = keras_ae.ModelConfig("dense", "beta_tcvae", 4)
    assert config.spec((8,), seed=0, dataset_size=123).objective_options[
        "dataset_size"] == 123
    given = config.replace(options={"dataset_size": 7})
    assert given.spec((8,), dataset_size=123).objective_options[
        "dataset_size"] == 7
    # Objectives without the option are left as they were.
    assert "dataset_size" not in keras_ae.ModelConfig(
        "dense", "vae", 4).spec((8,), dataset_size=123).objective_options


# --- InfoVAE ------------------------------------------------------------------------


def np_mmd(a, b, scales=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)):
    """The IMQ U-statistic of WAE, written out."""
    d = a.shape[1]

    def k(u, v):
        r = np.sum((u[:, None] - v[None]) ** 2, axis=-1)
        return sum(2 * d * s / (2 * d * s + r) for s in scales)

    def within(u):
        n = len(u)
        kernel = k(u, u)
        return (kernel.sum() - np.trace(kernel)) / (n * (n - 1))

    return within(a) + within(b) - 2 * k(a, b).mean()


def test_info_vae_loss_adds_the_mmd_of_codes_and_prior_draws(monkeypatch):
    model = tiny("info_vae", seed=0, beta=0.5, mmd_weight=10.0)
    set_posterior(model, mean_scale=3.0, mean_bias=1.0, log_var_bias=-2.0)
    rng = np.random.default_rng(5)
    eps, prior = rng.standard_normal((2, len(X), 2))
    fix_noise(monkeypatch, model.sampling, eps)
    fix_noise(monkeypatch, model.prior_sampling, prior)
    terms = terms_of(model, X)
    mean, log_var = (a.astype("float64") for a in model.encode_distribution(X))
    z = mean + np.exp(0.5 * log_var) * eps
    kl = np.mean(0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=-1))
    assert terms["mmd_loss"] == pytest.approx(np_mmd(z, prior), rel=1e-4)
    assert terms["kl_loss"] == pytest.approx(kl, rel=1e-5)
    assert float(model.total_loss(terms)) == pytest.approx(
        terms["reconstruction_loss"] + 0.5 * kl + 10.0 * terms["mmd_loss"],
        rel=1e-6)


def test_the_mmd_is_near_zero_for_codes_drawn_like_the_prior():
    x = np.random.default_rng(6).uniform(0.05, 0.95, (256, *SHAPE)).astype("float32")
    matched = tiny("info_vae", seed=0)
    # Every posterior N(0, I): the codes are draws of the prior.
    set_posterior(matched, mean_scale=0.0)
    shifted = tiny("info_vae", seed=0)
    set_posterior(shifted, mean_scale=0.0, mean_bias=1.0)
    near = [terms_of(matched, x)["mmd_loss"] for _ in range(5)]
    far = [terms_of(shifted, x)["mmd_loss"] for _ in range(5)]
    print("MMD matched", near, "shifted by 1", far)
    # Seen: |MMD| <= 0.013 matched, 0.72 to 1.17 with the codes shifted by 1.
    assert max(abs(v) for v in near) < 0.05
    assert min(far) > 10 * max(abs(v) for v in near)


def test_which_objectives_take_feature_map_codes():
    # InfoVAE flattens a map for the MMD; the estimators of beta-TC-VAE and
    # the VampPrior's mixture are over vector codes.
    assert get_objective("info_vae").map_codes
    assert get_objective("iwae").map_codes and get_objective("rae").map_codes
    assert not get_objective("beta_tcvae").map_codes
    assert not get_objective("vampprior").map_codes
    model = keras_ae.build_autoencoder(
        "conv", (8, 8, 1), (2, 2, 2), objective="info_vae", filters=(4, 8),
        seed=0)
    terms = terms_of(model, np.random.default_rng(7).random((8, 8, 8, 1),
                                                            "float32"))
    assert np.isfinite(terms["mmd_loss"])


# --- RAE ------------------------------------------------------------------------------


def test_rae_loss_adds_the_code_and_decoder_penalties():
    model = tiny("rae", code_weight=0.1, decoder_weight=0.01)
    terms = terms_of(model, X)
    z = model.encode(X).astype("float64")
    squares = sum(float(np.sum(w.numpy().astype("float64") ** 2))
                  for w in model.decoder.trainable_weights)
    assert terms["reconstruction_loss"] == pytest.approx(
        np.mean(-np_log_likelihood(X, np_decode(model, z))), rel=1e-5)
    assert terms["code_loss"] == pytest.approx(
        np.mean(0.5 * np.sum(z**2, axis=-1)), rel=1e-5)
    assert terms["decoder_loss"] == pytest.approx(squares, rel=1e-5)
    assert float(model.total_loss(terms)) == pytest.approx(
        terms["reconstruction_loss"] + 0.1 * terms["code_loss"]
        + 0.01 * squares, rel=1e-6)
    assert not hasattr(model, "sample")  # it generates through a sampler


# --- VampPrior ------------------------------------------------------------------------


def np_log_mixture(z, means, log_vars):
    per_component = np.stack([np_log_normal(z, m, v)
                              for m, v in zip(means, log_vars)], axis=1)
    return logsumexp(per_component, axis=1) - math.log(len(means))


def test_vampprior_kl_is_against_the_mixture_of_its_pseudo_inputs(monkeypatch):
    model = tiny("vampprior", num_pseudo_inputs=3, seed=0, beta=2.0)
    set_posterior(model, mean_scale=3.0, log_var_bias=-1.0)
    pseudo = keras.ops.convert_to_numpy(model.pseudo_inputs())
    assert pseudo.shape == (3, *SHAPE) and 0 < pseudo.min() < pseudo.max() < 1
    eps = np.random.default_rng(8).standard_normal((len(X), 2))
    fix_noise(monkeypatch, model.sampling, eps)
    terms = terms_of(model, X)
    mean, log_var = (a.astype("float64") for a in model.encode_distribution(X))
    p_mean, p_log_var = (a.astype("float64")
                         for a in model.encode_distribution(pseudo))
    z = mean + np.exp(0.5 * log_var) * eps
    kl = np.mean(np_log_normal(z, mean, log_var)
                 - np_log_mixture(z, p_mean, p_log_var))
    assert terms["kl_loss"] == pytest.approx(kl, rel=1e-5)
    assert float(model.total_loss(terms)) == pytest.approx(
        terms["reconstruction_loss"] + 2.0 * kl, rel=1e-6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.log_prior(z.astype("float32"))),
        np_log_mixture(z, p_mean, p_log_var), rtol=1e-5)


def test_vampprior_samples_come_from_its_pseudo_inputs():
    model = tiny("vampprior", num_pseudo_inputs=3, seed=0)
    # Narrow posteriors and three distinct pseudo-inputs: three clusters.
    set_posterior(model, mean_scale=5.0, log_var_bias=-8.0)
    model.pseudo_input_logits.assign(
        np.array([[-4.0] * 6, [4.0] * 6, [-4.0, 4.0] * 3], "float32"))
    means, _ = model.encode_distribution(
        keras.ops.convert_to_numpy(model.pseudo_inputs()))
    codes = model.sample_prior(3000, seed=0)
    distances = np.linalg.norm(codes[:, None] - means[None], axis=-1)
    assert distances.min(axis=1).max() < 0.2  # each code at one component
    shares = np.bincount(distances.argmin(axis=1), minlength=3) / len(codes)
    np.testing.assert_allclose(shares, 1 / 3, atol=0.04)  # uniform mixture
    np.testing.assert_array_equal(codes, model.sample_prior(3000, seed=0))
    np.testing.assert_array_equal(model.sample(4, seed=1),
                                  model.decode(model.sample_prior(4, seed=1)))


def test_the_likelihood_evaluation_uses_the_models_own_prior():
    model = tiny("vampprior", num_pseudo_inputs=3, seed=0)
    set_posterior(model, mean_scale=3.0, log_var_bias=-1.0)
    x, k = X[:8], 5
    iw = evaluation.importance_weighted_nll(model, x, k=k, seed=3)["iw_nll"]
    elbo = evaluation.negative_elbo(model, x, num_samples=k, seed=3)
    # The same draws, by hand: the evaluation's generator gives eps.
    eps = np.random.default_rng(3).standard_normal((k, len(x), 2))
    mean, log_var = (a.astype("float64") for a in model.encode_distribution(x))
    pseudo = keras.ops.convert_to_numpy(model.pseudo_inputs())
    p_mean, p_log_var = (a.astype("float64")
                         for a in model.encode_distribution(pseudo))
    z = mean + np.exp(0.5 * log_var) * eps
    log_px = np_log_likelihood(np.tile(x, (k, 1)),
                               np_decode(model, z.reshape(-1, 2))).reshape(k, -1)
    log_q = np_log_normal(z, mean, log_var)
    log_p = np_log_mixture(z.reshape(-1, 2), p_mean, p_log_var).reshape(k, -1)
    expected = np.mean(math.log(k) - logsumexp(log_px + log_p - log_q, axis=0))
    assert iw == pytest.approx(expected, rel=1e-5)
    assert elbo["kl"] == pytest.approx(np.mean(log_q - log_p), rel=1e-5)
    # With N(0, I) instead, the figure differs: the prior reached it.
    standard = tiny("vae", seed=0)
    standard.encoder.set_weights(model.encoder.get_weights())
    standard.decoder.set_weights(model.decoder.get_weights())
    assert evaluation.importance_weighted_nll(
        standard, x, k=k, seed=3)["iw_nll"] != pytest.approx(iw, rel=1e-3)


# --- Samplers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digit_ae(digits):
    (x, _), _ = digits
    x = x[:1000]
    keras.utils.set_random_seed(0)
    model = keras_ae.build_autoencoder("dense", x.shape[1:], 4,
                                       reconstruction_loss="bce",
                                       hidden_units=(64,))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x, epochs=2, batch_size=64, verbose=0)
    return model, x


@pytest.mark.slow  # trains for tens of steps
def test_gaussian_mixture_sampler_round_trip(digit_ae, tmp_path):
    model, x = digit_ae
    sampler = samplers.GaussianMixtureSampler(n_components=5, seed=0).fit(model, x)
    codes = sampler.sample_codes(200, seed=1)
    assert codes.shape == (200, 4) and codes.dtype == np.float32
    np.testing.assert_array_equal(codes, sampler.sample_codes(200, seed=1))
    assert not np.array_equal(codes, sampler.sample_codes(200, seed=2))
    images = sampler.sample(6, seed=1)
    assert images.shape == (6, *x.shape[1:])
    np.testing.assert_array_equal(images,
                                  model.decode(sampler.sample_codes(6, seed=1)))
    path = tmp_path / samplers.SAMPLER_FILE
    sampler.save(str(path))
    with pytest.raises(FileExistsError):
        sampler.save(str(path))
    loaded = samplers.load_sampler(str(path), model)
    assert type(loaded) is samplers.GaussianMixtureSampler
    assert loaded.get_config() == sampler.get_config()
    np.testing.assert_array_equal(loaded.sample_codes(200, seed=1), codes)
    np.testing.assert_array_equal(loaded.sample(6, seed=1), images)
    assert b"pickle" not in path.read_bytes()


@pytest.mark.slow  # its fixture trains the autoencoder
def test_mixture_codes_are_closer_to_the_training_codes_than_the_normal(digit_ae):
    model, x = digit_ae
    codes = model.encode(x)
    sampler = samplers.GaussianMixtureSampler(seed=0).fit(model, x)
    mixture = sampler.sample_codes(len(x), seed=0)
    normal = np.random.default_rng(0).standard_normal(codes.shape)
    to_mixture = evaluation.frechet_distance(codes, mixture)
    to_normal = evaluation.frechet_distance(codes, normal)
    print("Frechet distance of the codes to the GMM's", to_mixture,
          "to N(0, I)'s", to_normal)
    assert to_mixture < 0.1 * to_normal


def test_prior_sampler_is_the_models_prior(tmp_path):
    vae = tiny("vae", seed=0)
    sampler = samplers.PriorSampler().fit(vae)
    np.testing.assert_array_equal(sampler.sample(5, seed=3), vae.sample(5, seed=3))
    path = str(tmp_path / "prior.json")
    sampler.save(path)
    loaded = samplers.load_sampler(path, vae)
    np.testing.assert_array_equal(loaded.sample(5, seed=3), vae.sample(5, seed=3))


@pytest.mark.slow  # its fixture trains the autoencoder
def test_the_main_job_fits_a_sampler_for_a_model_without_a_prior(digit_ae,
                                                                   tmp_path):
    model, x = digit_ae
    model.finish_training(x, seed=0)
    assert isinstance(model.sampler, samplers.GaussianMixtureSampler)
    vae = tiny("vae", seed=0)
    vae.finish_training(X, seed=0)
    assert not hasattr(vae, "sampler")  # its prior generates
    from keras_ae.run_artefacts import write_figures

    paths = write_figures(model, x[:50], np.arange(50) % 10, str(tmp_path))
    assert os.path.getsize(paths["samples"]) > 0
    np.testing.assert_array_equal(
        samplers.load_sampler(paths["sampler"], model).sample(3, seed=0),
        model.sampler.sample(3, seed=0))


@pytest.mark.slow
@pytest.mark.slow  # its fixture trains the autoencoder
def test_generation_is_judged_for_a_sampler_as_for_a_prior(digit_ae, digits):
    model, x = digit_ae
    (_, y), (x_val, _) = digits
    classifier = evaluation.train_reference_classifier(x, y[:1000], epochs=1)
    sampler = samplers.GaussianMixtureSampler(seed=0).fit(model, x)
    result = evaluation.evaluate_generation(sampler, classifier, x_val,
                                            num_samples=200)
    assert result["frechet_distance"] > 0 and sum(result["class_shares"]) == (
        pytest.approx(1.0))
    with pytest.raises(ValueError, match="has no prior; pass keras_ae.samplers"):
        evaluation.evaluate_generation(model, classifier, x_val)


# --- Bad inputs: refused with the argument's name, nothing written -----------------------


def _build(objective, **options):
    return lambda: keras_ae.build_autoencoder(
        "dense", SHAPE, 2, objective=objective, hidden_units=(), **options)


BAD_INPUTS = {
    "iwae/num_samples-0": (_build("iwae", num_samples=0), "num_samples=0"),
    "iwae/num_samples-float": (_build("iwae", num_samples=2.5),
                               "num_samples=2.5"),
    "info_vae/unknown-kernel": (_build("info_vae", kernel="gauss"),
                                "kernel='gauss'; allowed: 'imq', 'rbf'"),
    "info_vae/negative-mmd-weight": (_build("info_vae", mmd_weight=-1.0),
                                     "mmd_weight=-1.0"),
    "info_vae/no-scales": (_build("info_vae", scales=()), "scales=()"),
    "info_vae/negative-scale": (_build("info_vae", scales=(1.0, -2.0)),
                                "scales=(1.0, -2.0)"),
    "vampprior/0-pseudo-inputs": (_build("vampprior", num_pseudo_inputs=0),
                                  "num_pseudo_inputs=0"),
    "vampprior/negative-beta": (_build("vampprior", beta=-1.0), "beta=-1.0"),
    "beta_tcvae/negative-alpha": (_build("beta_tcvae", alpha=-0.5),
                                  "alpha=-0.5"),
    "beta_tcvae/negative-gamma": (_build("beta_tcvae", gamma=-1),
                                  "gamma=-1"),
    "beta_tcvae/dataset-size-0": (_build("beta_tcvae", dataset_size=0),
                                  "dataset_size=0"),
    "beta_tcvae/unknown-estimator": (_build("beta_tcvae", estimator="mwss"),
                                     "estimator='mwss'"),
    "rae/negative-code-weight": (_build("rae", code_weight=-1e-3),
                                 "code_weight=-0.001"),
    "rae/nan-decoder-weight": (_build("rae", decoder_weight=float("nan")),
                               "decoder_weight=nan"),
    "rae/seed": (_build("rae", seed=1), "draws no random numbers"),
    "vae/an-iwae-option": (
        _build("vae", num_samples=5),
        "num_samples is an option of objective 'iwae'"),
    "iwae/an-info-vae-option": (
        _build("iwae", mmd_weight=1.0),
        "mmd_weight is an option of objective 'info_vae'"),
    "rae/a-vampprior-option": (
        _build("rae", num_pseudo_inputs=10),
        "num_pseudo_inputs is an option of objective 'vampprior'"),
    "beta_tcvae/fit-without-dataset-size": (
        lambda: _build("beta_tcvae", seed=0)().fit(X, verbose=0),
        "needs `dataset_size`"),
    "sampler/0-components": (
        lambda: samplers.GaussianMixtureSampler(n_components=0),
        "n_components=0"),
    "sampler/covariance-type": (
        lambda: samplers.GaussianMixtureSampler(covariance_type="ful"),
        "covariance_type='ful'"),
    "sampler/not-fitted": (
        lambda: samplers.GaussianMixtureSampler().sample(3),
        "not fitted yet"),
    "sampler/fewer-codes-than-components": (
        lambda: samplers.GaussianMixtureSampler(n_components=50).fit(
            _build("ae")(), X), "at least n_components=50 examples"),
    "sampler/prior-of-an-ae": (
        lambda: samplers.PriorSampler().fit(_build("ae")()),
        "must have a prior"),
    "sampler/sample-0": (
        lambda: samplers.PriorSampler().fit(_build("vae")()).sample(0),
        "num_samples=0"),
}


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_refused_and_nothing_is_written(case, tmp_path,
                                                     monkeypatch):
    call, fragment = case
    monkeypatch.chdir(tmp_path)
    before = file_tree(tmp_path)
    with pytest.raises(ValueError) as raised:
        call()
    assert fragment in str(raised.value)
    assert file_tree(tmp_path) == before


def test_a_sampler_of_another_model_is_refused(tmp_path):
    sampler = samplers.GaussianMixtureSampler(n_components=2).fit(
        tiny("ae"), X)
    path = str(tmp_path / "sampler.json")
    sampler.save(path)
    with pytest.raises(ValueError, match=r"fitted to codes of shape \(2,\).*"
                       r"Received: a model with codes of shape \(3,\)"):
        samplers.load_sampler(path, tiny("ae", latent_dim=3))


@pytest.mark.parametrize("option, fragment", [
    ("num_samples=0", "num_samples=0"),
    ('kernel="gauss"', "kernel='gauss'"),
])
def test_the_main_job_refuses_bad_objective_options_before_writing(
        option, fragment, tmp_path, capsys):
    objective = {"num_samples": "iwae", "kernel": "info_vae",
                 "num_pseudo_inputs": "vampprior",
                 "mmd_weight": "info_vae"}[option.split("=")[0]]
    output_dir = tmp_path / "runs"
    code = cli.main(["train", "--family", "dense", "--objective", objective,
                     "--epochs", "1", "--option", option, "--output-dir",
                     str(output_dir)])
    assert code == 2
    assert fragment in capsys.readouterr().err
    assert not output_dir.exists()
