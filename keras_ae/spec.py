"""What a model is built from: `ModelSpec`, and `build_autoencoder`.

A `ModelSpec` is the model's config (keras-hub's way: the config is the
builder's arguments): the family and its options, the input shape, the
code, the objective and its options, and the reconstruction loss.
`ModelSpec.create` checks how the arguments fit together, once: the names
of the family and the objective, the shapes, which options belong to which,
and the codes each takes. The values of a family's options are checked by
the family's builder, those of an objective's options by its model class:
each where it is owned. A model built from a spec keeps it as `model.spec`
and returns it from `get_config`, so `from_config` and `load_model` rebuild
it the same way.
"""

import dataclasses
import math
import numbers

from keras_ae import registry
from keras_ae.checks import check_fits_in_memory
from keras_ae.checks import check_shape

__all__ = ["ModelSpec", "build_autoencoder"]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The arguments a model of the zoo is built from (see `build_autoencoder`).

    Attributes:
        family: str, a registered family.
        input_shape: tuple of ints, one example's shape.
        latent_dim: int (a vector code) or `(height, width, channels)` (a
            feature-map code).
        objective: str, a registered objective.
        reconstruction_loss: `"mse"` or `"bce"`.
        family_options: dict, every option of the family (defaults filled).
        objective_options: dict, every option of the objective.
        name: str or `None`, the model's name.
    """

    family: str
    input_shape: tuple
    latent_dim: object
    objective: str = "ae"
    reconstruction_loss: str = "mse"
    family_options: dict = dataclasses.field(default_factory=dict)
    objective_options: dict = dataclasses.field(default_factory=dict)
    name: str = None

    @classmethod
    def create(cls, family, input_shape, latent_dim, objective="ae",
               reconstruction_loss="mse", name=None, **options):
        """Checks the arguments once and returns the spec they make."""
        family_entry = registry.get_family(family)
        objective_entry = registry.get_objective(objective)
        input_shape = check_shape("input_shape", input_shape)
        latent_dim = _check_latent_dim(latent_dim)
        # The layers next to the code hold about one weight per code value
        # and input value: a code too large for memory fails here, by name,
        # not in an allocation deep in the builder.
        check_fits_in_memory(
            "latent_dim", math.prod(latent_dim if isinstance(latent_dim, tuple)
                                    else (latent_dim,)),
            4 * math.prod(input_shape),
            f"float32 weights per code value (inputs of shape {input_shape})")
        if isinstance(latent_dim, tuple):
            for entry, kind in ((family_entry, "Family"),
                                (objective_entry, "Objective")):
                if not entry.map_codes:
                    raise ValueError(
                        f"{kind} {entry.name!r} takes vector codes only: "
                        f"`latent_dim` must be an int. Received: latent_dim="
                        f"{latent_dim!r}; feature-map codes are taken by "
                        f"families {_takers(registry.list_families(), registry.get_family)}"
                        f" and objectives "
                        f"{_takers(registry.list_objectives(), registry.get_objective)}.")
        family_options = family_entry.options()
        objective_options = objective_entry.options()
        if "seed" not in objective_options and "seed" in options:
            if options["seed"] is not None:
                raise ValueError(
                    f"Objective {objective!r} draws no random numbers, so it "
                    f"takes no `seed`. Received: seed={options['seed']!r}; "
                    "seed its weights with keras.utils.set_random_seed(seed); "
                    "objectives that take a seed: " + ", ".join(
                        n for n in registry.list_objectives()
                        if "seed" in registry.get_objective(n).options()) + ".")
            options = {k: v for k, v in options.items() if k != "seed"}
        unknown = sorted(set(options) - set(family_options)
                         - set(objective_options))
        if unknown:
            raise ValueError(
                f"Unknown option(s) for family {family!r} and objective "
                f"{objective!r}. Received: {', '.join(unknown)}"
                f"{_owners(unknown)}; allowed: family options "
                f"{', '.join(family_options) or 'none'}; objective options "
                f"{', '.join(objective_options) or 'none'}.")
        family_options.update(
            {k: v for k, v in options.items() if k in family_options})
        objective_options.update(
            {k: v for k, v in options.items() if k in objective_options})
        activation = family_options.get("output_activation", "sigmoid")
        if reconstruction_loss == "bce" and activation != "sigmoid":
            raise ValueError(
                "`reconstruction_loss='bce'` needs outputs in [0, 1]: use "
                "output_activation='sigmoid'. Received: output_activation="
                f"{activation!r}")
        return cls(family, input_shape, latent_dim, objective,
                   reconstruction_loss, family_options, objective_options,
                   name)

    @property
    def code_shape(self):
        """The code's shape: `(latent_dim,)` or `(height, width, channels)`."""
        if isinstance(self.latent_dim, tuple):
            return self.latent_dim
        return (self.latent_dim,)

    @property
    def latent_size(self):
        """The number of values in a code."""
        return math.prod(self.code_shape)

    def build(self):
        """Builds the model this spec describes (through its objective's class)."""
        return registry.get_objective(self.objective).model_class.from_spec(self)

    def to_config(self):
        """The spec as a JSON-ready dict (tuples become lists)."""
        return _to_json(dataclasses.asdict(self))

    @classmethod
    def from_config(cls, config):
        """The spec of a config from `to_config`, or of a 0.2.0 model config.

        0.2.0 wrote `options` (the family's), `variational` and, for a VAE,
        `beta` and `seed`.
        """
        config = _from_json(dict(config))
        if "options" in config:
            variational = config.pop("variational", False)
            objective_options = {}
            if variational:
                objective_options = {"beta": config.pop("beta", 1.0),
                                     "seed": config.pop("seed", None)}
            config = {"family": config["family"],
                      "input_shape": config["input_shape"],
                      "latent_dim": config["latent_dim"],
                      "objective": "vae" if variational else "ae",
                      "reconstruction_loss": config.get("reconstruction_loss",
                                                        "mse"),
                      "family_options": config["options"],
                      "objective_options": objective_options,
                      "name": config.get("name")}
        fields = {f.name for f in dataclasses.fields(cls)}
        spec = cls.create(
            config["family"], config["input_shape"], config["latent_dim"],
            config.get("objective", "ae"),
            config.get("reconstruction_loss", "mse"), config.get("name"),
            **config.get("family_options", {}),
            **config.get("objective_options", {}))
        unknown = set(config) - fields
        if unknown:
            raise ValueError(f"Unknown model config keys: {sorted(unknown)}")
        return spec


def build_autoencoder(family, input_shape, latent_dim, objective=None,
                      variational=None, reconstruction_loss="mse", name=None,
                      **options):
    """Builds an autoencoder: any objective on any family that can take it.

    Args:
        family: str, one of `list_families()`: `"dense"`, `"conv"`, `"lstm"`
            or `"transformer"`.
        input_shape: tuple of ints, the shape of one example without the
            batch dimension, e.g. `(28, 28, 1)` for a digit or `(timesteps,
            features)` for a sequence.
        latent_dim: int > 0, the size of a vector code; or a tuple
            `(height, width, channels)`, a feature-map code, for the
            families and objectives that take one (the conv family: the
            height and width are the input's divided by `2 ** len(filters)`,
            e.g. `(7, 7, 8)` for digits).
        objective: str, one of `list_objectives()` (default `"ae"`, or
            `"vae"` with `variational=True`).
        variational: bool or `None`, the 0.2.0 way to choose: `True` means
            `objective="vae"`, `False` means `"ae"`.
        reconstruction_loss: `"mse"` or `"bce"`.
        name: str or `None`, the model's name (default
            `"<family>_<objective>"`).
        **options: the family's own options (`family_options(family)`) and
            the objective's (`objective_options(objective)`: `beta` and
            `seed` of a VAE, `num_samples` of an IWAE...).

    Returns:
        A built model of the objective's class, ready to `compile`. Its
        `get_config()` holds these arguments, every option with its default
        filled in, so `from_config` and `keras.models.load_model` rebuild it.

    Example:

    >>> vae = build_autoencoder("conv", (28, 28, 1), latent_dim=16,
    ...                         objective="vae", filters=(32, 64))
    >>> iwae = build_autoencoder("dense", (28, 28, 1), 16, objective="iwae",
    ...                          num_samples=5)
    >>> denoiser = build_autoencoder("conv", (28, 28, 1), latent_dim=(7, 7, 8))
    """
    if variational is not None:
        if not isinstance(variational, bool):
            raise ValueError(
                f"`variational` must be a bool. Received: variational={variational!r}")
        implied = "vae" if variational else "ae"
        if objective not in (None, implied):
            raise ValueError(
                f"`variational={variational}` means objective={implied!r}; pass "
                f"one of them. Received: objective={objective!r}")
        objective = implied
    return ModelSpec.create(family, input_shape, latent_dim,
                            objective or "ae", reconstruction_loss, name,
                            **options).build()


def _check_latent_dim(latent_dim):
    if isinstance(latent_dim, (list, tuple)):
        shape = check_shape("latent_dim", latent_dim)
        if len(shape) == 3:
            return shape
    elif isinstance(latent_dim, numbers.Integral) and not isinstance(
            latent_dim, bool) and latent_dim > 0:
        return int(latent_dim)
    raise ValueError(
        "`latent_dim` must be an int > 0 (the size of a vector code) or a "
        "tuple (height, width, channels) (a feature-map code). Received: "
        f"latent_dim={latent_dim!r}")


def _takers(names, get):
    return ", ".join(n for n in names if get(n).map_codes) or "none"


def _owners(unknown):
    """` (x is an option of objective 'iwae')` for options of other objectives."""
    owners = []
    for option in unknown:
        found = [n for n in registry.list_objectives()
                 if option in registry.get_objective(n).options()]
        found += [f"family {n!r}" for n in registry.list_families()
                  if option in registry.get_family(n).options()]
        if found:
            named = ", ".join(f"objective {n!r}" if not n.startswith("family")
                              else n for n in found)
            owners.append(f"{option} is an option of {named}")
    return f" ({'; '.join(owners)})" if owners else ""


def _to_json(value):
    """Tuples to lists, recursively: the config as JSON holds it."""
    if isinstance(value, dict):
        return {key: _to_json(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def _from_json(value):
    """Lists back to tuples, recursively, as the builders take them."""
    if isinstance(value, dict):
        return {key: _from_json(v) for key, v in value.items()}
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value
