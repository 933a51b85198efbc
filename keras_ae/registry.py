"""The zoo's two axes as tables of names: architecture families and objectives.

A *family* is a function `build(input_shape, code_shape, **options)` that
returns an encoder backbone (inputs to features) and a decoder (codes to
outputs); `@register_family("name")` puts it in the table. An *objective*
is a model class (what the model trains for: `"ae"`, `"vae"`, `"iwae"`...);
`@register_objective("name")` puts it in the table. Any objective builds on
any family that gives it the code it needs (`keras_ae.build_autoencoder`).

This module holds the tables only: it imports nothing of the package, so
that the families, the objectives, the builder and the checks can all
import it.
"""

import dataclasses
import inspect

__all__ = [
    "Family", "Objective", "family_options", "get_family", "get_objective",
    "list_autoencoders", "list_families", "list_objectives",
    "objective_options", "register_family", "register_objective",
]

_FAMILIES = {}
_OBJECTIVES = {}

# Constructor arguments of every model class that are not objective options.
_MODEL_ARGUMENTS = ("self", "encoder", "decoder", "reconstruction_loss")


@dataclasses.dataclass(frozen=True)
class Family:
    """A registered family: its `builder` and whether it takes feature-map codes."""

    name: str
    builder: object
    map_codes: bool

    def options(self):
        """The family's own options and their defaults, as a dict."""
        return _defaults(self.builder, ("input_shape", "code_shape"))


@dataclasses.dataclass(frozen=True)
class Objective:
    """A registered objective: its model class and the codes it takes."""

    name: str
    model_class: type
    map_codes: bool

    def options(self):
        """The objective's own options and their defaults, as a dict."""
        return _defaults(self.model_class.__init__, _MODEL_ARGUMENTS)


def _defaults(function, skipped):
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if name not in skipped and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
    }


def _register(table, kind, name, entry):
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"A {kind} name must be an identifier. Received: "
                         f"name={name!r}")
    if name in table:
        raise ValueError(f"The {kind} {name!r} is already registered.")
    table[name] = entry


def register_family(name, map_codes=False):
    """Registers a family builder under `name` (a decorator).

    Args:
        name: str, the family's name, unique.
        map_codes: bool, whether the builder also takes feature-map codes
            `(height, width, channels)` besides vector codes.

    Example:

    >>> @register_family("tiny")
    ... def build_tiny(input_shape, code_shape, units=64):
    ...     ...
    """

    def decorator(builder):
        _register(_FAMILIES, "family", name, Family(name, builder,
                                                    bool(map_codes)))
        return builder

    return decorator


def register_objective(name, map_codes=True):
    """Registers a model class as the objective `name` (a class decorator).

    The objective's options are the keyword arguments of the class's
    constructor after `encoder`, `decoder` and `reconstruction_loss`.

    Args:
        name: str, the objective's name, unique.
        map_codes: bool, whether the objective works with feature-map codes.
    """

    def decorator(model_class):
        _register(_OBJECTIVES, "objective", name,
                  Objective(name, model_class, bool(map_codes)))
        model_class.objective = name
        return model_class

    return decorator


def list_families():
    """Returns the sorted names of the registered families."""
    return sorted(_FAMILIES)


# The name of 0.1.0 and 0.2.0, kept: the families were the only axis.
list_autoencoders = list_families


def list_objectives():
    """Returns the names of the registered objectives, in registration order."""
    return list(_OBJECTIVES)


def _lookup(table, kind, name):
    if not isinstance(name, str) or name not in table:
        raise ValueError(f"Unknown `{kind}`. Received: {kind}={name!r}; "
                         f"allowed: {', '.join(map(repr, table))}.")
    return table[name]


def get_family(name):
    """Returns the registered `Family` called `name`."""
    return _lookup(_FAMILIES, "family", name)


def get_objective(name):
    """Returns the registered `Objective` called `name`."""
    return _lookup(_OBJECTIVES, "objective", name)


def family_options(family):
    """Returns the family's options and their defaults as a dict."""
    return get_family(family).options()


def objective_options(objective):
    """Returns the objective's options and their defaults as a dict."""
    return get_objective(objective).options()
