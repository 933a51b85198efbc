"""The registries: a family is one decorated function, an objective one decorated class."""

import keras
import numpy as np
import pytest

import keras_ae
from keras_ae import registry
from keras_ae.spec import ModelSpec


@pytest.fixture
def scratch_registry(monkeypatch):
    """Copies of the tables that the test may add entries to."""
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    monkeypatch.setattr(registry, "_OBJECTIVES", dict(registry._OBJECTIVES))


def build_tiny(input_shape, code_shape, units=8, output_activation="sigmoid"):
    inputs = keras.Input(input_shape)
    x = keras.layers.Dense(units, activation="relu")(keras.layers.Flatten()(inputs))
    codes = keras.Input(code_shape)
    y = keras.layers.Dense(int(np.prod(input_shape)),
                           activation=output_activation)(codes)
    return (keras.Model(inputs, x),
            keras.Model(codes, keras.layers.Reshape(input_shape)(y)))


def test_a_new_family_is_one_decorated_function(scratch_registry):
    registry.register_family("tiny")(build_tiny)
    assert "tiny" in keras_ae.list_families()
    assert keras_ae.family_options("tiny") == {"units": 8,
                                               "output_activation": "sigmoid"}
    model = keras_ae.build_autoencoder("tiny", (5,), 2, objective="vae")
    assert model.family == "tiny"
    assert model.get_config()["family_options"] == {
        "units": 8, "output_activation": "sigmoid"}
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()


def test_a_new_objective_is_one_decorated_class(scratch_registry):
    @registry.register_objective("scaled_ae", map_codes=False)
    class ScaledAutoEncoder(keras_ae.AutoEncoder):
        def __init__(self, encoder, decoder, reconstruction_loss="mse",
                     scale=2.0, **kwargs):
            super().__init__(encoder, decoder, reconstruction_loss, **kwargs)
            self.scale = scale

        def total_loss(self, terms):
            return self.scale * terms["reconstruction_loss"]

    assert keras_ae.list_objectives()[-1] == "scaled_ae"
    assert keras_ae.objective_options("scaled_ae") == {"scale": 2.0}
    model = keras_ae.build_autoencoder("dense", (5,), 2, objective="scaled_ae",
                                       scale=3.0, hidden_units=(4,))
    assert model.scale == 3.0 and model.objective == "scaled_ae"
    assert model.get_config()["objective_options"] == {"scale": 3.0}
    with pytest.raises(ValueError, match="Objective 'scaled_ae' takes vector "
                       "codes only"):
        keras_ae.build_autoencoder("conv", (8, 8, 1), (2, 2, 2),
                                   objective="scaled_ae", filters=(4, 8))


def test_registering_refuses_duplicates_and_bad_names(scratch_registry):
    with pytest.raises(ValueError, match="The family 'conv' is already registered"):
        registry.register_family("conv")(build_tiny)
    with pytest.raises(ValueError, match="The objective 'vae' is already "
                       "registered"):
        registry.register_objective("vae")(keras_ae.VariationalAutoEncoder)
    with pytest.raises(ValueError, match="must be an identifier. Received: "
                       "name='my family'"):
        registry.register_family("my family")(build_tiny)


def test_the_config_fills_in_every_default():
    model = keras_ae.build_autoencoder("conv", (28, 28, 1), 3, filters=(8, 16))
    config = model.get_config()
    assert config["family_options"] == {**keras_ae.family_options("conv"),
                                        "filters": [8, 16]}
    assert config["objective"] == "ae" and config["objective_options"] == {}
    assert config["latent_dim"] == 3 and config["input_shape"] == [28, 28, 1]


def test_variational_means_the_vae_objective():
    assert keras_ae.build_autoencoder(
        "dense", (4,), 2, variational=True).objective == "vae"
    assert keras_ae.build_autoencoder(
        "dense", (4,), 2, variational=False).objective == "ae"
    with pytest.raises(ValueError, match="`variational` must be a bool. "
                       "Received: variational='yes'"):
        keras_ae.build_autoencoder("dense", (4,), 2, variational="yes")
    with pytest.raises(ValueError, match="`variational=True` means "
                       "objective='vae'"):
        keras_ae.build_autoencoder("dense", (4,), 2, variational=True,
                                   objective="ae")


def test_options_of_one_objective_are_refused_by_another():
    with pytest.raises(ValueError, match=r"Received: beta \(beta is an option "
                       r"of objective 'vae'"):
        keras_ae.build_autoencoder("dense", (4,), 2, beta=2.0)
    with pytest.raises(ValueError, match="Objective 'ae' draws no random "
                       "numbers, so it takes no `seed`. Received: seed=3"):
        keras_ae.build_autoencoder("dense", (4,), 2, seed=3)
    # `seed=None` asks for nothing: every objective takes it.
    assert keras_ae.build_autoencoder("dense", (4,), 2, seed=None).objective == "ae"


def test_a_spec_reads_the_configs_of_0_2_0():
    old = {"family": "dense", "input_shape": [4], "latent_dim": 2,
           "options": {"hidden_units": [8]}, "variational": True, "beta": 0.5,
           "seed": 1, "reconstruction_loss": "mse", "name": "old"}
    spec = ModelSpec.from_config(old)
    assert spec.objective == "vae"
    assert spec.objective_options == {"beta": 0.5, "seed": 1}
    assert spec.family_options["hidden_units"] == (8,)
    assert ModelSpec.from_config(spec.to_config()) == spec
