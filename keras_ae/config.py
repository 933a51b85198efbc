"""The two configs of a run: what model to build, and how to train it.

`ModelConfig` names the model without its input shape (which the data gives):
family, code, objective, reconstruction loss and options. `TrainingConfig`
holds every setting of the main job: data, epochs, batch size, optimizer,
the training recipe, the judge, export and distribution. Both are frozen
dataclasses whose fields are declared once, with their default, a help text
and the check that a value must pass; the check runs when the config is
made, so a config that exists is valid. `keras_ae.training.train` takes the
two, the run directory records them (`run_config.json`), and the command
line's flags are generated from their fields (`keras_ae.cli`).

Example:

>>> training = TrainingConfig(epochs=2, batch_size=64)
>>> model = ModelConfig(family="dense", objective="ae", latent_dim=8)
>>> keras_ae.training.train(model, training, run_name="quick")
"""

import dataclasses
import json

from keras_ae import checks
from keras_ae.distribute import DISTRIBUTION_STRATEGIES
from keras_ae.registry import get_objective
from keras_ae.registry import list_families
from keras_ae.registry import list_objectives
from keras_ae.spec import ModelSpec

__all__ = ["ModelConfig", "TrainingConfig", "Recipe", "setting",
           "DISTRIBUTION_STRATEGIES", "CORRUPTIONS", "COLOR_MODES"]

CORRUPTIONS = ("none", "gaussian_noise", "occlusion")
COLOR_MODES = ("grayscale", "rgb")


def setting(default, help, check=None, flag=None, parse=None, choices=None):
    """A config field: its default, help text, check and command-line flag.

    Args:
        default: the default value (written here only).
        help: str, the help text of the field and of its flag.
        check: `check(name, value)` returning the checked value, or `None`.
        flag: str, the flag's name (default: `--<field-name>`), or `""` for a
            field without a flag.
        parse: a function from the flag's text to the value.
        choices: a function returning the allowed values, shown in `--help`.
    """
    metadata = {"help": help, "check": check, "flag": flag, "parse": parse,
                "choices": choices}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class _Config:
    """Checks every field on creation; converts to and from JSON dicts."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            check = field.metadata.get("check")
            if check is not None:
                value = check(field.name, getattr(self, field.name))
                object.__setattr__(self, field.name, value)

    def to_dict(self):
        """The config as a JSON-ready dict."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values):
        """A config from `to_dict`'s output; unknown keys are refused."""
        if isinstance(values, cls):
            return values
        if not isinstance(values, dict):
            raise ValueError(
                f"A {cls.__name__} must be made from a dict. Received: "
                f"{type(values).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(
                f"Unknown {cls.__name__} setting(s). Received: "
                f"{', '.join(unknown)}; allowed: {', '.join(names)}.")
        return cls(**values)

    def replace(self, **changes):
        """A copy with `changes` applied (and checked)."""
        return dataclasses.replace(self, **changes)


def _check_latent_dim(name, value):
    if isinstance(value, list):
        value = tuple(value)
    return value  # checked with the family by `ModelSpec.create`


def _check_options(name, value):
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(
            f"`{name}` must be a dict of option names to values. Received: "
            f"{name}={value!r}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}


def _check_kl_warmup(name, value):
    return 0 if value == 0 and not isinstance(value, bool) else (
        checks.check_positive_int(name, value))


def _check_learning_rate(name, value):
    return checks.check_number(name, value, minimum=1e-12, maximum=10.0)


def _check_optional_clip_norm(name, value):
    return None if value is None else checks.check_number(
        name, value, minimum=1e-12)


def _parse_optional_number(text):
    return None if text.lower() == "none" else float(text)


def _check_fraction(name, value):
    return checks.check_number(name, value, minimum=1e-6, maximum=1 - 1e-6)


def _check_optional_size(name, value):
    return None if value is None else checks.check_shape(name, value, 2, 2)


def _choice(allowed):
    return lambda name, value: checks.check_choice(name, value, allowed)


def _parse_code(text):
    """`--latent-dim`: `16` (a vector code) or `7,7,4` (a feature map)."""
    values = tuple(int(v) for v in text.split(","))
    return values[0] if len(values) == 1 else values


def _parse_size(text):
    """`--image-size`: `28,28` or `none`."""
    if text.lower() == "none":
        return None
    return tuple(int(v) for v in text.split(","))


def _families():
    return list_families()


def _objectives():
    return list_objectives()


@dataclasses.dataclass(frozen=True)
class ModelConfig(_Config):
    """What model a run trains; `build_autoencoder`'s arguments but the input shape.

    The family, the objective and the options are checked against the
    registries by `ModelSpec.create` when the model is built, once the data
    has given the input shape.
    """

    # The names are checked when the config is made, before any data loads.
    family: str = setting("conv", "architecture family", choices=_families,
                          check=lambda n, v: checks.check_choice(
                              n, v, _families()))
    objective: str = setting(
        "vae", "what the model trains for (e.g. ae, vae, iwae)",
        choices=_objectives,
        check=lambda n, v: checks.check_choice(n, v, _objectives()))
    latent_dim: object = setting(
        16, "size of the code, or height,width,channels of a feature-map "
        "code (families and objectives that take one); 2 also draws the "
        "latent plane", check=_check_latent_dim, parse=_parse_code)
    reconstruction_loss: str = setting(
        "bce", "reconstruction loss, summed over the features of each "
        "example", choices=lambda: ("mse", "bce"), flag="--loss",
        check=lambda n, v: checks.check_choice(n, v, ("mse", "bce")))
    options: dict = setting(
        {}, "family and objective options, NAME=JSON (repeatable, e.g. "
        "--option 'filters=[32, 64]' --option beta=2; "
        "keras_ae.family_options(family) and objective_options(objective) "
        "list them)", check=_check_options, flag="--option")

    def spec(self, input_shape, seed=None, dataset_size=None):
        """The `ModelSpec` of this config for inputs of `input_shape`.

        A model that draws random numbers gets `seed` unless its options
        set one; a model whose objective weighs its batches by the size of
        the training set (beta-TC-VAE) gets `dataset_size`, the number of
        training examples, unless its options set it.
        """
        options = dict(self.options)
        objective = get_objective(self.objective)
        if "seed" in objective.options():
            options.setdefault("seed", seed)
        if "dataset_size" in objective.options() and dataset_size is not None:
            options.setdefault("dataset_size", dataset_size)
        return ModelSpec.create(self.family, input_shape, self.latent_dim,
                                self.objective, self.reconstruction_loss,
                                **options)


@dataclasses.dataclass(frozen=True)
class TrainingConfig(_Config):
    """How a run trains: data, optimization, the recipe, judge and export."""

    data: str = setting(
        "digits", "'digits' (5,000 MNIST digits shipped in a package, "
        "offline), 'ecg' (windows of a normal ECG shipped in a package), a "
        "TFDS dataset name (downloaded on first use), or a path: "
        "a folder of images (sub-folders are classes), a .npy/.npz array "
        "file or a .csv of fixed-length series",
        check=checks.check_data_source)
    image_size: object = setting(
        None, "height,width the images of a folder are resized to ('none': "
        "keep their size, which must then be the same for all)",
        check=_check_optional_size, parse=_parse_size)
    color_mode: str = setting("grayscale", "colour mode of a folder of images",
                              check=_choice(COLOR_MODES),
                              choices=lambda: COLOR_MODES)
    validation_fraction: float = setting(
        0.2, "share of the data held out for validation (when the data has "
        "no test split)", check=_check_fraction)
    epochs: int = setting(30, "number of epochs",
                          check=checks.check_positive_int)
    batch_size: int = setting(128, "global batch size",
                              check=checks.check_positive_int)
    learning_rate: float = setting(3e-3, "Adam's (initial) learning rate",
                                   check=_check_learning_rate)
    gradient_clip_norm: object = setting(
        None, "clip the gradients to this global norm ('none': no clipping)",
        check=_check_optional_clip_norm, parse=_parse_optional_number)
    kl_warmup_epochs: int = setting(
        5, "epochs over which the KL term of a VAE reaches its full weight; "
        "0: none", check=_check_kl_warmup)
    cosine_decay: bool = setting(
        True, "decay the learning rate along a half cosine",
        check=checks.check_bool)
    restore_best_weights: bool = setting(
        True, "end with the weights of the epoch with the lowest val_loss",
        check=checks.check_bool)
    corruption: str = setting(
        "none", "train to restore corrupted inputs: gaussian_noise (sigma "
        "0.5) or occlusion (a 10x10 square)", check=_choice(CORRUPTIONS),
        choices=lambda: CORRUPTIONS)
    seed: int = setting(0, "seed of the weights, shuffles and sampling",
                        check=checks.check_seed)
    judge: bool = setting(
        True, "score the reconstructions and samples with a reference "
        "classifier (quality.json)", check=checks.check_bool)
    export: bool = setting(
        True, "write the SavedModel and TensorFlow Lite model",
        check=checks.check_bool)
    distribute: str = setting(
        "none", "tf.distribute strategy: 'mirrored' trains on all local "
        "GPUs, 'multi-worker' across the machines of TF_CONFIG",
        check=_choice(DISTRIBUTION_STRATEGIES),
        choices=lambda: DISTRIBUTION_STRATEGIES)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named pair of configs: a model of the zoo and how it is trained.

    The quality benchmark trains its zoo models from recipes and the presets
    are trained from them (`keras_ae.recipes`).
    """

    name: str
    description: str
    model: ModelConfig
    training: TrainingConfig
    application: str = "reconstruction"
