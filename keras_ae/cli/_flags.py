"""Command-line flags generated from config fields and function signatures.

A setting's default and help text are written once, where the setting is
defined (a `keras_ae.config` field, or a function's signature with its help
here), and the flags are made from them.
"""

import argparse
import dataclasses
import inspect
import json

__all__ = ["add_config_flags", "config_from_args", "parse_options",
           "signature_defaults"]


def _flag(field):
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def add_config_flags(parser, config_class, group_title=None):
    """Adds one flag per field of `config_class` to `parser`.

    Booleans get `--name/--no-name`; the `options` dict is a repeatable
    `--option NAME=JSON`; other fields parse with their `parse` function or
    their default's type. Every flag's default is `None` ("not given"), so
    that `config_from_args` keeps the config's own defaults.
    """
    group = parser.add_argument_group(group_title) if group_title else parser
    for field in dataclasses.fields(config_class):
        meta = field.metadata
        default = (field.default if field.default is not dataclasses.MISSING
                   else field.default_factory())
        help_text = meta["help"]
        if meta.get("choices"):
            help_text += f"; one of: {', '.join(map(str, meta['choices']()))}"
        if isinstance(default, dict):
            group.add_argument(_flag(field), dest=field.name, action="append",
                               metavar="NAME=JSON", default=None,
                               help=help_text)
            continue
        kwargs = {"dest": field.name, "default": None,
                  "help": f"{help_text} (default: {_shown(default)})"}
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            parse = meta.get("parse") or (type(default) if default is not None
                                          else str)
            kwargs["type"] = _named(parse, field.name)
            kwargs["metavar"] = field.name.upper()
        group.add_argument(_flag(field), **kwargs)
    return parser


def config_from_args(config_class, args, base=None):
    """The config of the flags given on the command line, over `base`."""
    given = {}
    for field in dataclasses.fields(config_class):
        value = getattr(args, field.name, None)
        if value is None:
            continue
        if isinstance(value, list):  # --option NAME=JSON ...
            value = {**getattr(base, field.name, {}), **parse_options(value)}
        given[field.name] = value
    base = base if base is not None else config_class()
    return base.replace(**given) if given else base


def parse_options(pairs):
    """`["filters=[32, 64]", "beta=2"]` -> `{"filters": (32, 64), "beta": 2}`."""
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(
                f"`--option` must be NAME=JSON. Received: --option {pair!r}")
        try:
            options[name] = json.loads(value)
        except json.JSONDecodeError:
            options[name] = value
        if isinstance(options[name], list):
            options[name] = tuple(options[name])
    return options


def signature_defaults(function):
    """`{parameter: default}` of `function`, for flags that call it."""
    return {name: parameter.default
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.default is not inspect.Parameter.empty}


def _shown(value):
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return value


def _named(parse, name):
    """`parse` under the field's name, which argparse shows in its errors."""

    def parse_value(text):
        return parse(text)

    parse_value.__name__ = name
    return parse_value
