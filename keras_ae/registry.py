"""The registry of autoencoder families and `build_autoencoder`.

A family is a function `build(input_shape, latent_dim, **options)` that
returns two models: an encoder *backbone* mapping inputs to a feature vector,
and a decoder mapping a code of size `latent_dim` back to `input_shape`.
`build_autoencoder` puts the latent head on the backbone (one `Dense` code
for an AE, `z_mean` and `z_log_var` for a VAE) and wraps both halves in an
`AutoEncoder` or a `VariationalAutoEncoder`. A new family is one module with
one function decorated by `@register_family("name")`.
"""

import inspect

import keras

from keras_ae.checks import check_choice
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_shape
from keras_ae.losses import RECONSTRUCTION_LOSSES
from keras_ae.models import AutoEncoder
from keras_ae.models import VariationalAutoEncoder

_FAMILIES = {}


def register_family(name):
    """Registers a family builder under `name` (a decorator)."""

    def decorator(builder):
        if name in _FAMILIES:
            raise ValueError(f"Family {name!r} is already registered.")
        _FAMILIES[name] = builder
        return builder

    return decorator


def list_autoencoders():
    """Returns the sorted names of the registered families."""
    return sorted(_FAMILIES)


def family_options(family):
    """Returns the family's options and their defaults as a dict."""
    check_choice("family", family, list_autoencoders())
    parameters = inspect.signature(_FAMILIES[family]).parameters
    return {
        name: p.default for name, p in parameters.items()
        if name not in ("input_shape", "latent_dim")
    }


def build_autoencoder(family, input_shape, latent_dim, variational=False,
                      reconstruction_loss="mse", beta=1.0, seed=None,
                      **options):
    """Builds an autoencoder of a registered family.

    Args:
        family: str, one of `list_autoencoders()`: `"dense"`, `"conv"`,
            `"lstm"` or `"transformer"`.
        input_shape: tuple of ints, shape of one example without the batch
            dimension, e.g. `(28, 28, 1)` for a digit or `(timesteps,
            features)` for a sequence.
        latent_dim: int > 0, size of the code.
        variational: bool. `True` builds a `VariationalAutoEncoder`.
        reconstruction_loss: `"mse"` or `"bce"`.
        beta: float >= 0, weight of the KL term (VAE only).
        seed: int or `None`, seed of the VAE's sampling (VAE only).
        **options: the family's own options; `family_options(family)` lists
            them with their defaults.

    Returns:
        An `AutoEncoder` or a `VariationalAutoEncoder`, built and ready to
        `compile`.

    Example:

    >>> vae = build_autoencoder("conv", (28, 28, 1), latent_dim=16,
    ...                         variational=True, filters=(32, 64))
    """
    check_choice("family", family, list_autoencoders())
    input_shape = check_shape("input_shape", input_shape)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    check_choice("reconstruction_loss", reconstruction_loss,
                 RECONSTRUCTION_LOSSES)
    allowed = family_options(family)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"Unknown option(s) for family {family!r}. Received: "
            f"{', '.join(unknown)}; allowed: {', '.join(allowed) or 'none'}."
        )
    output_activation = options.get("output_activation",
                                    allowed.get("output_activation"))
    if reconstruction_loss == "bce" and output_activation != "sigmoid":
        raise ValueError(
            "`reconstruction_loss='bce'` needs outputs in [0, 1]: use "
            "output_activation='sigmoid'. Received: output_activation="
            f"{output_activation!r}"
        )
    backbone, decoder = _FAMILIES[family](input_shape, latent_dim, **options)
    features = backbone.output
    if variational:
        z_mean = keras.layers.Dense(latent_dim, name="z_mean")(features)
        z_log_var = keras.layers.Dense(
            latent_dim, name="z_log_var", kernel_initializer="zeros"
        )(features)
        encoder = keras.Model(backbone.input, [z_mean, z_log_var],
                              name=f"{family}_encoder")
        model = VariationalAutoEncoder(
            encoder, decoder, reconstruction_loss=reconstruction_loss,
            beta=beta, seed=seed, name=f"{family}_vae",
        )
    else:
        z = keras.layers.Dense(latent_dim, name="z")(features)
        encoder = keras.Model(backbone.input, z, name=f"{family}_encoder")
        model = AutoEncoder(encoder, decoder,
                            reconstruction_loss=reconstruction_loss,
                            name=f"{family}_ae")
    model.build((None, *input_shape))
    return model
