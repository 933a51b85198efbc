"""The objectives: what a model trains for. Importing a module registers it.

One module per objective, each holding its model class:

    ae    AutoEncoder               reconstruction only (the base class)
    vae   VariationalAutoEncoder    the ELBO, with beta
    iwae  ImportanceWeightedAutoEncoder  the k-sample bound (Burda et al.)
    beta_tcvae  BetaTCVAE           the KL split into MI, TC and
                                    dimension-wise KL (Chen et al.)
    info_vae  InfoVAE               ELBO + MMD of the codes (Zhao et al.);
                                    WAE-MMD with beta=0
    rae   RegularizedAutoEncoder    code and decoder L2 penalties (Ghosh
                                    et al.); generates through a sampler
    vampprior  VampPriorVAE         a learned mixture prior (Tomczak &
                                    Welling)
    cvae  ConditionalVAE            encoder and decoder conditioned on a
                                    class label (Sohn et al.)
    vq_vae  VQVAE                   a codebook of vectors and a PixelCNN
                                    prior over the indices (van den Oord
                                    et al.)

`keras_ae.list_objectives()` lists them; `build_autoencoder(...,
objective=NAME)` builds any of them on any family that gives it the code it
needs.
"""

from keras_ae.objectives.ae import AutoEncoder
from keras_ae.objectives.beta_tcvae import BetaTCVAE
from keras_ae.objectives.cvae import ConditionalVAE
from keras_ae.objectives.info_vae import InfoVAE
from keras_ae.objectives.iwae import ImportanceWeightedAutoEncoder
from keras_ae.objectives.rae import RegularizedAutoEncoder
from keras_ae.objectives.vae import VariationalAutoEncoder
from keras_ae.objectives.vampprior import VampPriorVAE
from keras_ae.objectives.vq_vae import VQVAE

__all__ = ["AutoEncoder", "VariationalAutoEncoder",
           "ImportanceWeightedAutoEncoder", "BetaTCVAE", "InfoVAE",
           "RegularizedAutoEncoder", "VampPriorVAE", "ConditionalVAE",
           "VQVAE"]
