"""The registry of autoencoder families and `build_autoencoder`.

A family is a function `build(input_shape, code_shape, **options)` that
returns two models: an encoder *backbone* mapping inputs to features, and a
decoder mapping a code of shape `code_shape` back to `input_shape`. A code is
a vector, `code_shape=(latent_dim,)`, or, for families that allow it, a
feature map `(height, width, channels)`; the backbone's features then are a
flat vector or a feature map of the code's height and width.

`build_autoencoder` puts the latent head on the backbone (a `Dense` layer for
a vector code, a 1x1 `Conv2D` for a feature map; one code for an AE, `z_mean`
and `z_log_var` for a VAE), wraps both halves in an `AutoEncoder` or a
`VariationalAutoEncoder` and records its own arguments as the model's config,
so that a saved model rebuilds through the registry. A new family is one
module with one function decorated by `@register_family("name", ...)`.
"""

import dataclasses
import inspect

import keras

from keras_ae.checks import check_bool
from keras_ae.checks import check_choice
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_shape
from keras_ae.losses import RECONSTRUCTION_LOSSES
from keras_ae.models import AutoEncoder
from keras_ae.models import VariationalAutoEncoder

_FAMILIES = {}


@dataclasses.dataclass(frozen=True)
class Family:
    """What the registry knows of a family.

    Attributes:
        name: str, the family's name.
        builder: the function `build(input_shape, code_shape, **options)`.
        example_input_shape: tuple, an input shape the family takes; the
            contract tests build every family on it.
        test_options: dict, small options for fast tests (fewer units...).
        map_codes: bool, whether the family takes feature-map codes
            `(height, width, channels)` besides vector codes.
    """

    name: str
    builder: object
    example_input_shape: tuple
    test_options: dict
    map_codes: bool

    def options(self):
        """Returns the family's own options and their defaults as a dict."""
        parameters = inspect.signature(self.builder).parameters
        return {
            name: p.default for name, p in parameters.items()
            if name not in ("input_shape", "code_shape")
        }


def register_family(name, example_input_shape=(28, 28, 1), test_options=None,
                    map_codes=False):
    """Registers a family builder under `name` (a decorator).

    Args:
        name: str, the family's name, unique.
        example_input_shape: tuple of ints, an input shape the family takes.
        test_options: dict of small options for fast tests, or `None`.
        map_codes: bool, whether the builder takes feature-map codes.

    Example:

    >>> @register_family("tiny", test_options={"units": 8})
    ... def build_tiny(input_shape, code_shape, units=64):
    ...     ...
    """
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"`name` must be a non-empty string. Received: name={name!r}")
    example_input_shape = check_shape("example_input_shape",
                                      example_input_shape)
    check_bool("map_codes", map_codes)

    def decorator(builder):
        if name in _FAMILIES:
            raise ValueError(f"Family {name!r} is already registered.")
        family = Family(name, builder, example_input_shape,
                        dict(test_options or {}), map_codes)
        unknown = sorted(set(family.test_options) - set(family.options()))
        if unknown:
            raise ValueError(
                f"`test_options` of family {name!r} name unknown options. "
                f"Received: {', '.join(unknown)}; allowed: "
                f"{', '.join(family.options())}."
            )
        _FAMILIES[name] = family
        return builder

    return decorator


def list_autoencoders():
    """Returns the sorted names of the registered families."""
    return sorted(_FAMILIES)


def get_family(name):
    """Returns the registered `Family` called `name`."""
    check_choice("family", name, list_autoencoders())
    return _FAMILIES[name]


def family_options(family):
    """Returns the family's options and their defaults as a dict."""
    return get_family(family).options()


def check_code_shape(latent_dim, family=None):
    """Returns the code shape that `latent_dim` asks for, as a tuple.

    Args:
        latent_dim: int > 0 (a vector code of that size) or a tuple of three
            ints > 0 `(height, width, channels)` (a feature-map code).
        family: the family's name, or `None`; a feature-map code is refused
            for a family that does not take one.
    """
    if isinstance(latent_dim, (list, tuple)):
        code_shape = check_shape("latent_dim", latent_dim)
        if len(code_shape) != 3:
            raise ValueError(
                "`latent_dim` must be an int (the size of a vector code) or a "
                "tuple (height, width, channels) (a feature-map code). "
                f"Received: latent_dim={latent_dim!r}"
            )
    else:
        code_shape = (check_positive_int("latent_dim", latent_dim),)
    if family is not None and len(code_shape) == 3 and not get_family(
        family
    ).map_codes:
        maps = [name for name in list_autoencoders()
                if _FAMILIES[name].map_codes]
        raise ValueError(
            f"Family {family!r} takes vector codes only: `latent_dim` must be "
            f"an int. Received: latent_dim={latent_dim!r}; feature-map codes "
            f"are taken by: {', '.join(maps) or 'none'}."
        )
    return code_shape


def build_autoencoder(family, input_shape, latent_dim, variational=False,
                      reconstruction_loss="mse", beta=1.0, seed=None,
                      name=None, **options):
    """Builds an autoencoder of a registered family.

    Args:
        family: str, one of `list_autoencoders()`: `"dense"`, `"conv"`,
            `"lstm"` or `"transformer"`.
        input_shape: tuple of ints, shape of one example without the batch
            dimension, e.g. `(28, 28, 1)` for a digit or `(timesteps,
            features)` for a sequence.
        latent_dim: int > 0, the size of a vector code; or, for the conv
            family, a tuple `(height, width, channels)`: a feature-map code,
            whose height and width are the input's divided by
            `2 ** len(filters)` (e.g. `(7, 7, 8)` for digits).
        variational: bool. `True` builds a `VariationalAutoEncoder`.
        reconstruction_loss: `"mse"` or `"bce"`.
        beta: float >= 0, weight of the KL term (VAE only).
        seed: int or `None`, seed of the VAE's sampling (VAE only).
        name: str or `None`, the model's name (default
            `"<family>_<ae|vae>"`).
        **options: the family's own options; `family_options(family)` lists
            them with their defaults.

    Returns:
        An `AutoEncoder` or a `VariationalAutoEncoder`, built and ready to
        `compile`. Its `get_config()` holds these arguments (every family
        option included, defaults filled in), so `from_config` and
        `keras.models.load_model` rebuild it through this function.

    Example:

    >>> vae = build_autoencoder("conv", (28, 28, 1), latent_dim=16,
    ...                         variational=True, filters=(32, 64))
    >>> denoiser = build_autoencoder("conv", (28, 28, 1), latent_dim=(7, 7, 8))
    """
    spec = get_family(family)
    input_shape = check_shape("input_shape", input_shape)
    code_shape = check_code_shape(latent_dim, family)
    check_bool("variational", variational)
    check_choice("reconstruction_loss", reconstruction_loss,
                 RECONSTRUCTION_LOSSES)
    allowed = spec.options()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"Unknown option(s) for family {family!r}. Received: "
            f"{', '.join(unknown)}; allowed: {', '.join(allowed) or 'none'}."
        )
    options = {**allowed, **options}
    if reconstruction_loss == "bce" and options.get(
        "output_activation", "sigmoid"
    ) != "sigmoid":
        raise ValueError(
            "`reconstruction_loss='bce'` needs outputs in [0, 1]: use "
            "output_activation='sigmoid'. Received: output_activation="
            f"{options['output_activation']!r}"
        )
    backbone, decoder = spec.builder(input_shape, code_shape, **options)
    expected = (None, *code_shape[:-1]) if len(code_shape) == 3 else (None,)
    if tuple(backbone.output.shape[:-1]) != expected:
        raise ValueError(
            f"The backbone of family {family!r} must output features of shape "
            f"{(*expected, 'features')} for a code of shape {code_shape}. "
            f"Received: features of shape {tuple(backbone.output.shape)}"
        )

    def head(units, layer_name, **kwargs):
        if len(code_shape) == 3:
            return keras.layers.Conv2D(units, 1, name=layer_name, **kwargs)
        return keras.layers.Dense(units, name=layer_name, **kwargs)

    features = backbone.output
    channels = code_shape[-1]
    kind = "vae" if variational else "ae"
    config = {
        "family": family, "input_shape": input_shape,
        "latent_dim": code_shape if len(code_shape) == 3 else code_shape[0],
        "options": options,
    }
    if variational:
        z_mean = head(channels, "z_mean")(features)
        z_log_var = head(channels, "z_log_var",
                         kernel_initializer="zeros")(features)
        encoder = keras.Model(backbone.input, [z_mean, z_log_var],
                              name=f"{family}_encoder")
        model = VariationalAutoEncoder(
            encoder, decoder, reconstruction_loss=reconstruction_loss,
            beta=beta, seed=seed, name=name or f"{family}_{kind}",
        )
    else:
        z = head(channels, "z")(features)
        encoder = keras.Model(backbone.input, z, name=f"{family}_encoder")
        model = AutoEncoder(encoder, decoder,
                            reconstruction_loss=reconstruction_loss,
                            name=name or f"{family}_{kind}")
    model.architecture = config
    model.build((None, *input_shape))
    return model
