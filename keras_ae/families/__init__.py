"""The architecture families. Importing a module registers its family."""

from keras_ae.families import conv  # noqa: F401
from keras_ae.families import dense  # noqa: F401
from keras_ae.families import lstm  # noqa: F401
from keras_ae.families import transformer  # noqa: F401

__all__ = ["conv", "dense", "lstm", "transformer"]
