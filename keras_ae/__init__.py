"""keras_ae: a Keras 3 model zoo of autoencoders and variational autoencoders."""

from keras_ae import families  # noqa: F401  (registers the families)
from keras_ae import callbacks  # noqa: F401
from keras_ae import corruptions  # noqa: F401
from keras_ae import data  # noqa: F401
from keras_ae import distribute  # noqa: F401
from keras_ae import evaluation  # noqa: F401
from keras_ae import export  # noqa: F401
from keras_ae import plotting  # noqa: F401
from keras_ae import timeseries  # noqa: F401
from keras_ae.export import convert_to_tflite
from keras_ae.export import export_saved_model
from keras_ae.layers import Sampling
from keras_ae.losses import kl_divergence
from keras_ae.losses import reconstruction_loss
from keras_ae.models import AutoEncoder
from keras_ae.models import VariationalAutoEncoder
from keras_ae.registry import build_autoencoder
from keras_ae.registry import family_options
from keras_ae.registry import list_autoencoders
from keras_ae.registry import register_family

__version__ = "0.2.0"
