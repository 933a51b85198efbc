"""The zoo's named recipes: a model config and how it trains.

Each recipe is what the quality benchmark trains for a task and what the
matching preset was trained with: `train --recipe NAME` runs it as the main
job (`python -m keras_ae train --recipe conv_denoiser_digits`). The
settings were chosen by measurement at 30 epochs of the embedded digits;
`benchmarks/results/ablation/quality.md` (`--ablation`, measured with
0.2.0) says what each choice bought.
"""

import difflib

from keras_ae.config import ModelConfig
from keras_ae.config import Recipe
from keras_ae.config import TrainingConfig

__all__ = ["RECIPES", "get_recipe", "list_recipes"]

# The zoo's plain autoencoders train at a constant rate (the cosine decay
# cost the denoiser 0.3 dB) and without the KL warm-up, which they ignore.
_CONSTANT_RATE = {"cosine_decay": False, "kl_warmup_epochs": 0,
                  "learning_rate": 1e-3}
_MAP_CODE = {"filters": (32, 48)}

RECIPES = {recipe.name: recipe for recipe in (
    Recipe("conv_vae_digits",
           "Conv VAE, latent 16, on the embedded digits: the main job; "
           "generation from the prior, codes, likelihood.",
           ModelConfig("conv", "vae", 16),
           TrainingConfig(), "generation"),
    Recipe("conv_vae_digits_batch64",
           "Conv VAE, latent 16, Adam 2e-3 at batch 64 (KL warm-up, cosine "
           "decay): the quality benchmark's VAE, whose ablation compares it "
           "with the main job's 3e-3 at batch 128.",
           ModelConfig("conv", "vae", 16),
           TrainingConfig(learning_rate=2e-3, batch_size=64), "generation"),
    Recipe("conv_cvae_digits",
           "Conditional conv VAE, latent 16, trained with the embedded "
           "digits' labels: draws the digit it is asked for.",
           ModelConfig("conv", "cvae", 16, options={"num_classes": 10}),
           TrainingConfig(learning_rate=2e-3, batch_size=64),
           "conditional generation"),
    Recipe("conv_rae_digits",
           "Conv RAE, latent 16, at the main job's settings: a Gaussian "
           "mixture of its codes (fitted after training) is the zoo's best "
           "generator of digits.",
           ModelConfig("conv", "rae", 16),
           TrainingConfig(), "generation"),
    Recipe("conv_vq_vae_digits",
           "Conv VQ-VAE with the keras.io example's 7x7 map of 16-dimensional "
           "codes from a codebook of 64, and a PixelCNN prior over the "
           "indices trained after it.",
           ModelConfig("conv", "vq_vae", (7, 7, 16),
                       options={"num_embeddings": 64, "prior_epochs": 30}),
           TrainingConfig(kl_warmup_epochs=0), "generation"),
    Recipe("conv_denoiser_digits",
           "Conv AE with a 7x7x16 feature-map code trained to remove "
           "Gaussian noise (sigma 0.5) from digits.",
           ModelConfig("conv", "ae", (7, 7, 16), options=_MAP_CODE),
           TrainingConfig(corruption="gaussian_noise", **_CONSTANT_RATE),
           "noise removal"),
    Recipe("conv_inpainter_digits",
           "Conv AE with a 7x7x16 feature-map code trained to fill a 10x10 "
           "occluding square in digits.",
           ModelConfig("conv", "ae", (7, 7, 16), options=_MAP_CODE),
           TrainingConfig(corruption="occlusion", **_CONSTANT_RATE),
           "occlusion removal"),
    Recipe("conv_ae_digits",
           "Conv AE, latent 16, on the embedded digits: the encoder the "
           "classifier is fine-tuned from.",
           ModelConfig("conv", "ae", 16),
           TrainingConfig(**_CONSTANT_RATE), "classification"),
    Recipe("lstm_ae_digits",
           "Bidirectional LSTM AE, latent 16, reading digits as 28 rows.",
           ModelConfig("lstm", "ae", 16),
           TrainingConfig(**_CONSTANT_RATE), "dimensionality reduction"),
    Recipe("lstm_anomaly_ecg",
           "LSTM AE, latent 8, trained on normal windows of an ECG (sktime's "
           "MIT-BIH excerpt): scores windows for anomalies.",
           ModelConfig("lstm", "ae", 8, "mse",
                       options={"units": (32,), "output_activation": "linear"}),
           TrainingConfig(data="ecg", epochs=40, batch_size=32, judge=False,
                          **_CONSTANT_RATE),
           "anomaly detection"),
    Recipe("transformer_ae_digits",
           "Transformer AE (7x7 patches), latent 16, on the embedded digits.",
           ModelConfig("transformer", "ae", 16),
           TrainingConfig(**_CONSTANT_RATE), "dimensionality reduction"),
)}


def list_recipes():
    """Returns the names of the recipes, sorted."""
    return sorted(RECIPES)


def get_recipe(name):
    """Returns the `Recipe` called `name`."""
    if name not in RECIPES:
        close = difflib.get_close_matches(str(name), RECIPES, n=3)
        raise ValueError(
            f"Unknown `recipe`. Received: recipe={name!r}"
            f"{'; did you mean ' + ', '.join(map(repr, close)) + '?' if close else ''}"
            f" Allowed: {', '.join(list_recipes())}.")
    return RECIPES[name]
