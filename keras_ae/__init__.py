"""keras_ae: a Keras 3 model zoo of autoencoders, ready for TF Serving and LiteRT.

The zoo has two axes, each a registry: architecture *families* (`dense`,
`conv`, `lstm`, `transformer`) and *objectives* (`ae`, `vae`, ...).
`build_autoencoder(family, input_shape, latent_dim, objective=...)` builds
any objective on any family that can take it; `from_preset(name)` loads a
trained model that ships with the package.
"""

# Before TensorFlow is imported: the command line's terminal shows
# TensorFlow's own C++ lines only with --verbose (see keras_ae._terminal).
from keras_ae import _terminal  # noqa: E402

_terminal.quiet_if_command_line()

from keras_ae import callbacks  # noqa: E402
from keras_ae import corruptions  # noqa: E402
from keras_ae import data  # noqa: E402
from keras_ae import distribute  # noqa: E402
from keras_ae import evaluation  # noqa: E402
from keras_ae import export  # noqa: E402
from keras_ae import families  # noqa: E402  (registers the families)
from keras_ae import objectives  # noqa: E402  (registers the objectives)
from keras_ae import plotting  # noqa: E402
from keras_ae import recipes  # noqa: E402
from keras_ae.config import ModelConfig  # noqa: E402
from keras_ae.config import TrainingConfig  # noqa: E402
from keras_ae.export import convert_to_tflite  # noqa: E402
from keras_ae.export import export_saved_model  # noqa: E402
from keras_ae.layers import Sampling  # noqa: E402
from keras_ae.losses import kl_divergence  # noqa: E402
from keras_ae.losses import reconstruction_loss  # noqa: E402
from keras_ae.objectives import VQVAE  # noqa: E402
from keras_ae.objectives import AutoEncoder  # noqa: E402
from keras_ae.objectives import BetaTCVAE  # noqa: E402
from keras_ae.objectives import ConditionalVAE  # noqa: E402
from keras_ae.objectives import ImportanceWeightedAutoEncoder  # noqa: E402
from keras_ae.objectives import InfoVAE  # noqa: E402
from keras_ae.objectives import RegularizedAutoEncoder  # noqa: E402
from keras_ae.objectives import VampPriorVAE  # noqa: E402
from keras_ae.objectives import VariationalAutoEncoder  # noqa: E402
from keras_ae.presets import from_preset  # noqa: E402
from keras_ae.presets import list_presets  # noqa: E402
from keras_ae.presets import save_to_preset  # noqa: E402
from keras_ae.registry import family_options  # noqa: E402
from keras_ae.registry import list_autoencoders  # noqa: E402
from keras_ae.registry import list_families  # noqa: E402
from keras_ae.registry import list_objectives  # noqa: E402
from keras_ae.registry import objective_options  # noqa: E402
from keras_ae.registry import register_family  # noqa: E402
from keras_ae.registry import register_objective  # noqa: E402
from keras_ae.spec import ModelSpec  # noqa: E402
from keras_ae.spec import build_autoencoder  # noqa: E402
from keras_ae.version import __version__  # noqa: E402, F401

__all__ = [
    "AutoEncoder", "BetaTCVAE", "ConditionalVAE",
    "ImportanceWeightedAutoEncoder", "InfoVAE",
    "ModelConfig", "ModelSpec", "RegularizedAutoEncoder", "Sampling",
    "TrainingConfig", "VQVAE", "VampPriorVAE", "VariationalAutoEncoder",
    "build_autoencoder", "callbacks",
    "convert_to_tflite", "corruptions", "data", "distribute", "evaluation",
    "export", "export_saved_model", "families", "family_options", "from_preset",
    "kl_divergence", "list_autoencoders", "list_families", "list_objectives",
    "list_presets", "save_to_preset",
    "objective_options", "objectives", "plotting", "recipes",
    "reconstruction_loss", "register_family", "register_objective",
]
