"""Trained models that ship with the package, in keras-hub's preset layout.

A preset is a directory:

    <name>/
        config.json        the model's serialized config (its `ModelSpec`)
        model.weights.h5   the trained weights
        metadata.json      versions, date, parameter count, the weights'
                           SHA-256, the recipe and data it was trained on,
                           its training time and its measured figures
        README.md          the model card
        (sampler.json)     a fitted ex-post sampler, for models that have one
        (classifier.keras) the classifier of a classifier preset

`list_presets()` lists those in this package; `from_preset(name)` loads one
offline, and takes a preset directory or a run directory of the main job
too; `save_to_preset(model_or_run_dir, directory)` writes one.

Example:

>>> vae = keras_ae.from_preset("conv_vae_digits")
>>> vae.sample(4).shape
(4, 28, 28, 1)
"""

import dataclasses
import datetime
import difflib
import os

import h5py
import keras

from keras_ae.checks import check_autoencoder
from keras_ae.checks import check_keras_file
from keras_ae.checks import check_output_dir
from keras_ae.io import file_sha256
from keras_ae.io import read_json_file
from keras_ae.io import write_json
from keras_ae.samplers import SAMPLER_FILE
from keras_ae.samplers import load_sampler
from keras_ae.version import __version__

__all__ = ["PRESETS_DIR", "PresetInfo", "from_preset", "list_presets", "preset_path",
           "without_training_state",
           "load_preset_metadata", "preset_name", "save_to_preset"]

PRESETS_DIR = os.path.dirname(os.path.abspath(__file__))
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
CARD_FILE = "README.md"
PRESET_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, CARD_FILE)


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    """One line of `list_presets()`: a preset's name and what it is."""

    name: str
    description: str
    family: str
    objective: str
    application: str
    path: str


def _preset_dirs():
    return sorted(
        entry for entry in os.listdir(PRESETS_DIR)
        if os.path.isfile(os.path.join(PRESETS_DIR, entry, METADATA_FILE)))


def list_presets(family=None, objective=None, application=None):
    """Lists the presets that ship with the package, optionally filtered.

    Args:
        family: str or `None`, keep the presets of this family.
        objective: str or `None`, keep the presets of this objective.
        application: str or `None`, keep the presets for this application
            (e.g. `"noise removal"`, `"generation"`, `"anomaly detection"`).

    Returns:
        A list of `PresetInfo`, sorted by name.
    """
    found = []
    for name in _preset_dirs():
        path = os.path.join(PRESETS_DIR, name)
        meta = load_preset_metadata(path)
        info = PresetInfo(name, meta.get("description", ""),
                          meta.get("family", ""), meta.get("objective", ""),
                          meta.get("application", ""), path)
        if all(wanted is None or wanted == getattr(info, key) for key, wanted in
               (("family", family), ("objective", objective),
                ("application", application))):
            found.append(info)
    return found


def preset_name(name_or_directory):
    """The name of a preset given by name or by directory."""
    return os.path.basename(os.path.normpath(preset_path(name_or_directory)))


def preset_path(name_or_directory):
    if not isinstance(name_or_directory, (str, os.PathLike)):
        raise ValueError(
            "`preset` must be a preset name or a directory. Received: "
            f"preset={name_or_directory!r}")
    path = os.fspath(name_or_directory)
    if os.path.isdir(path):
        return path
    if os.sep not in path and os.path.isdir(os.path.join(PRESETS_DIR, path)):
        return os.path.join(PRESETS_DIR, path)
    names = _preset_dirs()
    close = difflib.get_close_matches(path, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else "."
    raise ValueError(
        f"Unknown `preset`: no preset and no directory named {path!r}"
        f"{hint} Allowed: {', '.join(names) or 'none'}, or the path of a "
        "preset or run directory.")


def load_preset_metadata(path):
    """Reads a preset directory's `metadata.json`."""
    return read_json_file(METADATA_FILE, os.path.join(path, METADATA_FILE))


def from_preset(preset, verify=True):
    """Loads a trained model from a preset, offline.

    Args:
        preset: str, the name of a preset of `list_presets()`, the path of
            a preset directory, or the path of a run directory of the main
            job (which holds `model.keras`).
        verify: bool, check that the weights' SHA-256 matches
            `metadata.json` before loading them.

    Returns:
        The model. A preset with an ex-post sampler returns the model with
        the fitted sampler as `model.sampler`; a classifier preset returns
        the classifier (a `keras.Model` from images to class
        probabilities).
    """
    path = preset_path(preset)
    if (os.path.isfile(os.path.join(path, "model.keras"))
            and not os.path.isfile(os.path.join(path, METADATA_FILE))):
        # A run directory of the main job, with the ex-post sampler the run
        # fitted for a model without a prior.
        model_file = check_keras_file("preset", os.path.join(path, "model.keras"))
        model = check_autoencoder(keras.saving.load_model(model_file), "preset")
        if os.path.isfile(os.path.join(path, SAMPLER_FILE)):
            model.sampler = load_sampler(os.path.join(path, SAMPLER_FILE),
                                         model)
        return model
    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)
               if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise FileNotFoundError(
            f"`preset` {path!r} is not a complete preset: {', '.join(missing)} "
            f"missing. Allowed: a directory with {', '.join(PRESET_FILES[:3])}.")
    metadata = load_preset_metadata(path)
    weights = os.path.join(path, WEIGHTS_FILE)
    if verify:
        recorded = {WEIGHTS_FILE: metadata.get("weights_sha256"),
                    **metadata.get("files_sha256", {})}
        for name, digest in recorded.items():
            _check_hash(path, name, digest)
    config = read_json_file(CONFIG_FILE, os.path.join(path, CONFIG_FILE))
    try:
        model = keras.saving.deserialize_keras_object(config)
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(
            f"`preset` {path!r}: {CONFIG_FILE} does not describe a keras_ae "
            f"model ({str(error).splitlines()[0]}).") from None
    check_autoencoder(model, "preset")
    _load_weights(model, weights, path)
    extras = metadata.get("extras", {})
    if "sampler" in extras:
        model.sampler = load_sampler(os.path.join(path, extras["sampler"]), model)
    if "classifier" in extras:
        classifier_file = check_keras_file(
            "preset", os.path.join(path, extras["classifier"]))
        return keras.saving.load_model(classifier_file)
    return model


def _check_hash(path, name, digest):
    file_path = os.path.join(path, name)
    if not os.path.isfile(file_path):
        raise FileNotFoundError(
            f"`preset` {path!r} lacks {name}, which {METADATA_FILE} lists.")
    found = file_sha256(file_path)
    if found != digest:
        raise ValueError(
            f"`preset` {path!r}: the SHA-256 of {name} does not match "
            f"{METADATA_FILE} (received {found[:16]}..., recorded "
            f"{str(digest)[:16]}...); the file is damaged or was replaced. "
            "Reinstall keras_ae or save the preset again.")


def _load_weights(model, weights, path):
    try:
        model.load_weights(weights)
    except (ValueError, OSError, KeyError) as error:
        raise ValueError(
            f"`preset` {path!r}: {os.path.basename(weights)} does not fit the "
            f"model of {CONFIG_FILE} ({str(error).splitlines()[0]}); the "
            "weights belong to another architecture or are damaged.") from None


def save_to_preset(model, directory, description="", application="",
                   card=None, **metadata):
    """Writes a model, or a run directory's model, as a preset directory.

    Args:
        model: a keras_ae model, or the path of a run directory (its
            `model.keras` and `run_config.json` are read).
        directory: str, a new (or empty) directory for the preset.
        description: str, one line for `list_presets()`.
        application: str, what the preset is for.
        card: str or `None`, the model card (`README.md`); `None` writes a
            short one from the metadata.
        **metadata: further JSON-ready entries of `metadata.json` (the
            recipe, the training command and time, the figures...).

    Returns:
        The path of `directory`.
    """
    if isinstance(model, (str, os.PathLike)):
        run_dir = os.fspath(model)
        model_file = check_keras_file("model", os.path.join(run_dir, "model.keras"))
        run_config = os.path.join(run_dir, "run_config.json")
        if os.path.isfile(run_config):
            metadata.setdefault("run_config", read_json_file("run_config.json",
                                                             run_config))
        model = keras.saving.load_model(model_file)
    check_autoencoder(model)
    directory = check_output_dir("directory", directory, must_be_new=True)
    model = without_training_state(model)
    os.makedirs(directory, exist_ok=True)
    weights = os.path.join(directory, WEIGHTS_FILE)
    model.save_weights(weights)
    with h5py.File(weights, "r"):
        pass  # fail here, not at load time, if the file is unreadable
    write_json(os.path.join(directory, CONFIG_FILE),
               keras.saving.serialize_keras_object(model))
    spec = model.spec
    entries = {
        "name": os.path.basename(os.path.normpath(directory)),
        "description": description, "application": application,
        "family": spec.family if spec else None,
        "objective": getattr(model, "objective", None),
        "keras_version": keras.__version__, "keras_ae_version": __version__,
        "date": datetime.date.today().isoformat(),
        "parameter_count": int(model.count_params()),
        "weights_sha256": file_sha256(weights),
        **metadata,
    }
    write_json(os.path.join(directory, METADATA_FILE), entries)
    with open(os.path.join(directory, CARD_FILE), "x", encoding="utf-8") as f:
        f.write(card if card is not None else _default_card(entries))
    return directory


def without_training_state(model):
    """An uncompiled copy of `model` with its weights: no optimizer state.

    A preset ships what inference and fine-tuning need; the optimizer's
    moments would triple its size. A keras_ae model and another Keras model
    (a classifier) alike are rebuilt from their config:
    `keras.models.clone_model` would compile the copy as the model was, and
    the copy's optimizer would be saved with it.
    """
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def _default_card(entries):
    lines = [f"# {entries['name']}", "", entries["description"], "",
             f"- family: {entries['family']}; objective: {entries['objective']}",
             f"- parameters: {entries['parameter_count']:,}",
             f"- keras_ae {entries['keras_ae_version']}, Keras "
             f"{entries['keras_version']}", ""]
    return "\n".join(lines)

