"""Discrete codes: the zoo's VQ-VAE and its prior against the keras.io VQ-VAE.

Both models have the keras.io example's layout, a 7x7 map of 16-dimensional
vectors with a codebook of 64, and train on the same digits for the same
epochs, then their PixelCNN priors on their training indices for the
same epochs. The zoo's is `build_autoencoder("conv", (28, 28, 1), (7, 7,
16), objective="vq_vae", num_embeddings=64)` trained as the main job
trains it (Adam 3e-3 with the cosine decay, batch 128, then
`fit_prior`); the anchor is `benchmarks.reference_vq_vae`. Both are judged
on the held-out digits: reconstruction PSNR, the share of the codebook
their codes use, and the reference classifier on 1,000 samples of the
prior (digit FID, classes covered), beside the zoo's conv VAE.
"""

import time

import numpy as np

from benchmarks.quality.context import row
from benchmarks.quality.context import timed_fit
from benchmarks.quality.context import train_zoo_model

TASK = "VQ-VAE (7x7x16, 64 codes)"
ANCHOR = "keras.io VQ-VAE"
LATENT = (7, 7, 16)
NUM_EMBEDDINGS = 64


def _train_zoo_vq_vae(context):
    """The zoo's VQ-VAE as the main job trains it; returns `(model, ae s, prior s)`."""
    import keras

    from keras_ae.callbacks import training_recipe
    from keras_ae.config import ModelConfig
    from keras_ae.config import TrainingConfig
    from keras_ae.data import make_dataset

    settings = TrainingConfig()
    keras.utils.set_random_seed(context.model_seed)
    model = ModelConfig(
        family="conv", objective="vq_vae", latent_dim=LATENT,
        options={"num_embeddings": NUM_EMBEDDINGS,
                 "prior_epochs": context.epochs}).spec(
        context.x_train.shape[1:], seed=context.model_seed).build()
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate))
    callbacks = training_recipe(
        context.epochs, settings.learning_rate, kl_warmup_epochs=0,
        cosine_decay=settings.cosine_decay, restore_best_weights=False)
    seconds = timed_fit(
        model, make_dataset(context.x_train, batch_size=settings.batch_size,
                            seed=context.model_seed),
        epochs=context.epochs, shuffle=False, verbose=0, callbacks=callbacks)
    start = time.perf_counter()
    model.finish_training(context.x_train, seed=context.model_seed)
    return model, seconds, time.perf_counter() - start


class _KerasIOGenerator:
    """The anchor as the judges take it: `sample`, `reconstruct`, `encode_indices`."""

    def __init__(self, model, pixelcnn):
        self.model = None  # no keras_ae model decodes its samples
        self.vq_vae = model
        self.pixelcnn = pixelcnn

    def reconstruct(self, x):
        return np.clip(self.vq_vae.predict(x - 0.5, batch_size=256,
                                           verbose=0) + 0.5, 0.0, 1.0)

    def encode_indices(self, x):
        from keras import ops

        z = self.vq_vae.encoder.predict(x - 0.5, batch_size=256, verbose=0)
        return ops.convert_to_numpy(self.vq_vae.indices(z))

    def sample(self, num_samples, seed=0):
        from keras import ops

        from benchmarks.reference_vq_vae import sample_keras_io_pixelcnn

        grids = sample_keras_io_pixelcnn(self.pixelcnn, num_samples, seed)
        images = self.vq_vae.decoder.predict(
            ops.convert_to_numpy(self.vq_vae.lookup(grids)), batch_size=256,
            verbose=0)
        return np.clip(images + 0.5, 0.0, 1.0)


def _train_keras_io(context):
    """The keras.io VQ-VAE and its PixelCNN; returns `(generator, ae s, prior s)`."""
    import keras

    from benchmarks.reference_vq_vae import KerasIOVQVAE
    from benchmarks.reference_vq_vae import build_keras_io_pixelcnn

    keras.utils.set_random_seed(context.model_seed)
    model = KerasIOVQVAE(np.var(context.x_train), latent_dim=LATENT[-1],
                         num_embeddings=NUM_EMBEDDINGS)
    model.compile(optimizer=keras.optimizers.Adam())
    seconds = timed_fit(model, context.x_train - 0.5, epochs=context.epochs,
                        batch_size=context.batch_size, verbose=0)
    generator = _KerasIOGenerator(model, build_keras_io_pixelcnn(
        LATENT[:2], NUM_EMBEDDINGS))
    indices = generator.encode_indices(context.x_train)
    prior_seconds = timed_fit(generator.pixelcnn, indices, indices,
                              batch_size=context.batch_size,
                              epochs=context.epochs, validation_split=0.1,
                              verbose=0)
    return generator, seconds, prior_seconds


def run_discrete(context):
    """Reconstruction, codebook use and prior samples, zoo against keras.io."""
    from keras_ae import plotting
    from keras_ae.evaluation import evaluate_generation
    from keras_ae.evaluation import psnr_ssim

    zoo, zoo_seconds, zoo_prior_seconds = _train_zoo_vq_vae(context)
    anchor, anchor_seconds, anchor_prior_seconds = _train_keras_io(context)
    vae, vae_seconds = train_zoo_model(context, "vae")
    num_samples = 200 if context.small else 1000
    details = {"zoo_seconds": zoo_seconds, "zoo_prior_seconds": zoo_prior_seconds,
               "anchor_seconds": anchor_seconds,
               "anchor_prior_seconds": anchor_prior_seconds,
               "vae_seconds": vae_seconds}
    both = (zoo_seconds + zoo_prior_seconds,
            anchor_seconds + anchor_prior_seconds)
    rows = []
    for name, (x, _) in context.held_out.items():
        n = min(num_samples, len(x))
        scores = {}
        for label, model in (("zoo", zoo), ("anchor", anchor), ("vae", vae)):
            scores[label] = evaluate_generation(
                model, context.classifier(), x, num_samples=n,
                seed=context.seed)
            if label != "vae":
                scores[label]["psnr"] = psnr_ssim(
                    x, model.reconstruct(x))["psnr"]
                scores[label]["codebook_in_use"] = len(np.unique(
                    model.encode_indices(x))) / NUM_EMBEDDINGS
        details[name] = scores
        z, a, v = scores["zoo"], scores["anchor"], scores["vae"]
        rows += [
            row(TASK, "reconstruction PSNR (dB)", name, z["psnr"], a["psnr"],
                ANCHOR, z["psnr"] >= a["psnr"], ">= anchor", zoo_seconds,
                anchor_seconds),
            row(TASK, "share of the codebook in use", name,
                z["codebook_in_use"], a["codebook_in_use"], ANCHOR,
                z["codebook_in_use"] >= 0.5, ">= 0.5", zoo_seconds,
                anchor_seconds),
            row(TASK, f"prior samples: classes covered (of {n})", name,
                z["classes_covered"], a["classes_covered"], ANCHOR,
                z["classes_covered"] >= 9, ">= 9", *both),
            row(TASK, "prior samples: digit FID", name,
                z["frechet_distance"], a["frechet_distance"], ANCHOR,
                z["frechet_distance"] <= v["frechet_distance"],
                f"<= zoo VAE ({v['frechet_distance']:.2f})", *both),
            row(TASK, "prior samples: digit FID", name,
                z["frechet_distance"], v["frechet_distance"],
                "zoo conv VAE (latent 16)",
                z["frechet_distance"] <= v["frechet_distance"], "<= anchor",
                zoo_seconds + zoo_prior_seconds, vae_seconds),
        ]
    for label, model in (("vq_vae_keras_ae", zoo), ("vq_vae_keras_io", anchor)):
        plotting.plot_grid(model.sample(64, seed=context.seed),
                           context.figure(f"samples_{label}"),
                           f"{label}: index grids drawn from the PixelCNN "
                           "prior, decoded")
    return rows, details
