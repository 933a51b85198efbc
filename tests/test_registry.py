"""The registry: a family is one decorated function, and it records what it built."""

import keras
import numpy as np
import pytest

import keras_ae
from keras_ae import registry


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry that the test may add families to."""
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))


def build_tiny(input_shape, code_shape, units=8, output_activation="sigmoid"):
    inputs = keras.Input(input_shape)
    x = keras.layers.Dense(units, activation="relu")(keras.layers.Flatten()(inputs))
    codes = keras.Input(code_shape)
    y = keras.layers.Dense(int(np.prod(input_shape)),
                           activation=output_activation)(codes)
    return (keras.Model(inputs, x),
            keras.Model(codes, keras.layers.Reshape(input_shape)(y)))


def test_a_new_family_is_one_decorated_function(scratch_registry):
    registry.register_family("tiny", example_input_shape=(5,),
                             test_options={"units": 4})(build_tiny)
    assert "tiny" in keras_ae.list_autoencoders()
    assert keras_ae.family_options("tiny") == {"units": 8,
                                               "output_activation": "sigmoid"}
    spec = registry.get_family("tiny")
    assert spec.example_input_shape == (5,) and spec.test_options == {"units": 4}
    model = keras_ae.build_autoencoder("tiny", (5,), 2, variational=True)
    assert model.family == "tiny"
    assert model.get_config()["options"] == {"units": 8,
                                             "output_activation": "sigmoid"}
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()


def test_registering_refuses_duplicates_and_unknown_test_options(scratch_registry):
    with pytest.raises(ValueError, match="Family 'conv' is already registered"):
        registry.register_family("conv")(build_tiny)
    with pytest.raises(ValueError, match="`test_options` of family 'tiny' name "
                       "unknown options. Received: width; allowed: units, "
                       "output_activation"):
        registry.register_family("tiny", test_options={"width": 3})(build_tiny)
    with pytest.raises(ValueError, match="`map_codes` must be a bool"):
        registry.register_family("tiny", map_codes="yes")


def test_the_config_fills_in_every_default():
    model = keras_ae.build_autoencoder("conv", (28, 28, 1), 3, filters=(8, 16))
    config = model.get_config()
    assert config["options"] == {**keras_ae.family_options("conv"),
                                 "filters": [8, 16]}
    assert config["latent_dim"] == 3 and config["input_shape"] == [28, 28, 1]


def test_build_autoencoder_checks_variational():
    with pytest.raises(ValueError, match="`variational` must be a bool. "
                       "Received: variational='yes'"):
        keras_ae.build_autoencoder("dense", (4,), 2, variational="yes")
