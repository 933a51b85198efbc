"""The core contract: Sampling, the loss terms, AutoEncoder and VAE training."""

import keras
import numpy as np
import pytest

import keras_ae
from keras_ae.layers import Sampling
from keras_ae.losses import kl_divergence
from keras_ae.losses import reconstruction_loss


def test_sampling_statistics_match_mean_and_std():
    num_draws = 20000
    mean = np.array([[-1.0, 0.5, 3.0]], dtype="float32")
    std = np.array([[0.5, 1.0, 2.0]], dtype="float32")
    z_mean = np.repeat(mean, num_draws, axis=0)
    z_log_var = np.repeat(np.log(std**2), num_draws, axis=0)
    z = keras.ops.convert_to_numpy(Sampling(seed=7)([z_mean, z_log_var]))
    # Standard errors: std/sqrt(n) ~ 0.014 for the mean at std 2.
    np.testing.assert_allclose(z.mean(axis=0), mean[0], atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), std[0], rtol=0.03)


def test_sampling_is_reproducible_for_a_seed_and_serializable():
    z_mean = np.zeros((4, 2), "float32")
    z_log_var = np.zeros((4, 2), "float32")
    a = keras.ops.convert_to_numpy(Sampling(seed=3)([z_mean, z_log_var]))
    b = keras.ops.convert_to_numpy(Sampling(seed=3)([z_mean, z_log_var]))
    c = keras.ops.convert_to_numpy(Sampling(seed=4)([z_mean, z_log_var]))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    layer = Sampling(seed=3, name="s")
    assert Sampling.from_config(layer.get_config()).seed == 3


def test_sampling_on_one_device_draws_keras_normal_sequence():
    # Sampling folds the replica's id into its seed only under several
    # replicas (tests/test_distribute.py); on one device it draws what
    # keras.random.normal draws from the same seed, call after call.
    zeros = np.zeros((5, 3), "float32")
    layer, generator = Sampling(seed=11), keras.random.SeedGenerator(11)
    for _ in range(3):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(layer([zeros, zeros])),
            keras.ops.convert_to_numpy(keras.random.normal((5, 3), seed=generator)))


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_sampling_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        Sampling(seed=seed)


def test_kl_divergence_matches_numpy_reference(rng):
    z_mean = rng.normal(size=(16, 5)).astype("float32")
    z_log_var = rng.normal(size=(16, 5)).astype("float32")
    expected = 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1.0 - z_log_var,
                            axis=1)
    got = keras.ops.convert_to_numpy(kl_divergence(z_mean, z_log_var))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert np.all(got >= 0)
    zero = kl_divergence(np.zeros((2, 3), "float32"), np.zeros((2, 3), "float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(zero), 0.0, atol=1e-7)


def test_reconstruction_losses_sum_over_features(rng):
    y = rng.uniform(size=(3, 4, 4, 1)).astype("float32")
    p = rng.uniform(0.05, 0.95, size=(3, 4, 4, 1)).astype("float32")
    mse = keras.ops.convert_to_numpy(reconstruction_loss(y, p, "mse"))
    np.testing.assert_allclose(mse, ((y - p) ** 2).reshape(3, -1).sum(1),
                               rtol=1e-5)
    bce = keras.ops.convert_to_numpy(reconstruction_loss(y, p, "bce"))
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p)).reshape(3, -1).sum(1)
    np.testing.assert_allclose(bce, expected, rtol=1e-4)


def _fit(model, x, epochs=1, **kwargs):
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model.fit(x, epochs=epochs, batch_size=128, verbose=0, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("variational", [False, True], ids=["ae", "vae"])
def test_one_epoch_lowers_the_loss_on_the_digits(digits, variational):
    (x_train, _), (x_val, _) = digits
    model = keras_ae.build_autoencoder("dense", (28, 28, 1), 8,
                                       variational=variational,
                                       reconstruction_loss="bce")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    before = model.evaluate(x_val, batch_size=256, verbose=0, return_dict=True)
    _fit(model, x_train)
    after = model.evaluate(x_val, batch_size=256, verbose=0, return_dict=True)
    assert after["loss"] < 0.8 * before["loss"]


def test_vae_logs_validation_terms_and_loss_is_their_weighted_sum(digits):
    (x_train, _), (x_val, _) = digits
    vae = keras_ae.build_autoencoder("dense", (28, 28, 1), 4, variational=True,
                                     beta=0.5, hidden_units=(64,))
    # One step (one batch of 128) logs every figure.
    history = _fit(vae, x_train[:128], validation_data=(x_val[:256],)).history
    for name in ("loss", "reconstruction_loss", "kl_loss", "val_loss",
                 "val_reconstruction_loss", "val_kl_loss"):
        assert name in history and np.isfinite(history[name][0])
    # Metrics are averages of per-batch values, so loss = recon + beta * kl.
    np.testing.assert_allclose(
        history["val_loss"][0],
        history["val_reconstruction_loss"][0] + 0.5 * history["val_kl_loss"][0],
        rtol=1e-4,
    )
    assert history["val_kl_loss"][0] > 0


def test_ae_logs_loss_and_reconstruction_loss_only(digits):
    (x_train, _), (x_val, _) = digits
    model = keras_ae.build_autoencoder("dense", (28, 28, 1), 4,
                                       hidden_units=(32,))
    history = _fit(model, x_train[:128], validation_data=(x_val[:128],)).history
    assert sorted(history) == ["loss", "reconstruction_loss", "val_loss",
                               "val_reconstruction_loss"]


@pytest.mark.slow
def test_training_on_pairs_reconstructs_the_targets(rng):
    # The target is the input mirrored left-right: a model trained on (x, y)
    # must learn the mapping, not the identity.
    x = rng.uniform(size=(512, 6)).astype("float32")
    y = x[:, ::-1].copy()
    model = keras_ae.build_autoencoder("dense", (6,), 6, hidden_units=(64,),
                                       output_activation="linear")
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, y, epochs=60, batch_size=64, verbose=0)
    out = model.reconstruct(x[:64])
    error_to_target = np.mean((out - y[:64]) ** 2)
    error_to_input = np.mean((out - x[:64]) ** 2)
    assert error_to_target < 0.01
    assert error_to_input > 10 * error_to_target


def test_sample_weights_weight_the_loss(rng):
    x = rng.uniform(size=(8, 5)).astype("float32")
    model = keras_ae.build_autoencoder("dense", (5,), 2, hidden_units=(8,))
    terms = model.compute_terms(x, x)
    weights = np.array([1, 0, 1, 0, 1, 0, 1, 0], "float32")
    weighted = model.compute_terms(x, x, sample_weight=weights)
    per_example = np.sum((model.reconstruct(x) - x) ** 2, axis=1)
    np.testing.assert_allclose(float(terms["reconstruction_loss"]),
                               per_example.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(weighted["reconstruction_loss"]),
                               (per_example * weights).sum() / 8, rtol=1e-5)


def test_vae_inference_is_deterministic_and_sampling_is_seeded():
    vae = keras_ae.build_autoencoder("dense", (6,), 2, variational=True,
                                     hidden_units=(8,), seed=5)
    x = np.random.default_rng(1).uniform(size=(4, 6)).astype("float32")
    np.testing.assert_array_equal(vae.predict(x, verbose=0),
                                  vae.predict(x, verbose=0))
    np.testing.assert_array_equal(vae.sample(3, seed=1), vae.sample(3, seed=1))
    assert not np.allclose(vae.sample(3, seed=1), vae.sample(3, seed=2))
    z_mean, z_log_var = vae.encode_distribution(x)
    np.testing.assert_allclose(vae.encode(x), z_mean)
    assert z_log_var.shape == (4, 2)


def test_interpolate_starts_and_ends_at_the_inputs_codes():
    model = keras_ae.build_autoencoder("dense", (6,), 2, hidden_units=(8,))
    x = np.random.default_rng(2).uniform(size=(2, 6)).astype("float32")
    path = model.interpolate(x[0], x[1], num_steps=5)
    assert path.shape == (5, 6)
    np.testing.assert_allclose(path[0], model.reconstruct(x[:1])[0], atol=1e-6)
    np.testing.assert_allclose(path[-1], model.reconstruct(x[1:])[0], atol=1e-6)


# --- Bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"family": "resnet"}, "family='resnet'"),
        ({"latent_dim": 0}, "latent_dim=0"),
        ({"latent_dim": -3}, "latent_dim=-3"),
        ({"reconstruction_loss": "mae"}, "reconstruction_loss='mae'"),
        ({"beta": -0.1, "variational": True}, "beta=-0.1"),
        ({"input_shape": (28, 0)}, "input_shape=\\(28, 0\\)"),
        ({"hidden_units_typo": 3}, "hidden_units_typo"),
        ({"reconstruction_loss": "bce", "output_activation": "linear"},
         "output_activation='linear'"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    arguments = {"family": "dense", "input_shape": (28, 28, 1), "latent_dim": 2}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        keras_ae.build_autoencoder(**arguments)


def test_wrong_input_shape_is_refused_with_the_expected_shape():
    model = keras_ae.build_autoencoder("dense", (28, 28, 1), 2)
    with pytest.raises(ValueError, match=r"\(batch_size, 28, 28, 1\).*\(4, 28, 28\)"):
        model.reconstruct(np.zeros((4, 28, 28), "float32"))
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"\(batch_size, 28, 28, 1\)"):
        model.fit(np.zeros((4, 32, 32, 1), "float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"z.*\(num_codes, 2\)"):
        model.decode(np.zeros((4, 3), "float32"))


def test_compile_refuses_a_loss_it_would_ignore():
    model = keras_ae.build_autoencoder("dense", (6,), 2, hidden_units=(8,))
    with pytest.raises(ValueError, match="loss='mse'"):
        model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="metrics"):
        model.compile(optimizer="adam", metrics=["mae"])


def test_mixed_precision_trains_with_a_scaled_loss_in_float32(rng):
    x = rng.uniform(size=(128, 8, 8, 1)).astype("float32")
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras_ae.build_autoencoder("conv", (8, 8, 1), 2,
                                           variational=True, filters=(8,),
                                           reconstruction_loss="bce")
        model.compile(optimizer="adam")
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        terms = model.compute_terms(x[:16], x[:16])
        assert all(v.dtype == "float32" for v in terms.values())
        history = model.fit(x, epochs=1, batch_size=128, verbose=0).history  # one step
        assert np.all(np.isfinite(history["loss"]))
    finally:
        keras.mixed_precision.set_global_policy(previous)
