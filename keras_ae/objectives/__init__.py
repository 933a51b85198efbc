"""The objectives: what a model trains for. Importing a module registers it.

One module per objective, each holding its model class:

    ae    AutoEncoder               reconstruction only (the base class)
    vae   VariationalAutoEncoder    the ELBO, with beta

`keras_ae.list_objectives()` lists them; `build_autoencoder(...,
objective=NAME)` builds any of them on any family that gives it the code it
needs.
"""

from keras_ae.objectives.ae import AutoEncoder
from keras_ae.objectives.vae import VariationalAutoEncoder

__all__ = ["AutoEncoder", "VariationalAutoEncoder"]
