"""Generation tasks: the conv VAE against the keras.io VAE, the main job, the ablation."""

import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.quality.context import row
from benchmarks.quality.context import timed_fit
from benchmarks.quality.context import train_zoo_model
from benchmarks.quality.context import zoo_recipe


def _reference_vae(context):
    """The keras.io VAE with a 16-number code, as a keras_ae model to judge it."""
    import keras

    from benchmarks.reference_vae import build_reference_vae
    from keras_ae import VariationalAutoEncoder

    keras.utils.set_random_seed(context.model_seed)
    reference = build_reference_vae(latent_dim=zoo_recipe("vae").model.latent_dim)
    seconds = timed_fit(reference, context.x_train, epochs=context.epochs,
                        batch_size=context.batch_size, verbose=0)
    encoder = keras.Model(reference.encoder.input, reference.encoder.output[:2])
    judged = VariationalAutoEncoder(encoder, reference.decoder,
                                    reconstruction_loss="bce", seed=context.seed)
    return judged, seconds


def _judge_vae(context, vae, x):
    """Likelihood on all of `x`; IW-NLL (k=100) and generation on 1,000 digits."""
    from keras_ae import evaluation

    k = 20 if context.small else 100
    subset = x[:200] if context.small else x[:1000]
    num_samples = min(len(x), 200 if context.small else 1000)
    return {
        **evaluation.negative_elbo(vae, x, num_samples=5, seed=context.seed),
        **evaluation.importance_weighted_nll(vae, subset, k=k, seed=context.seed),
        **evaluation.evaluate_generation(vae, context.classifier(), x,
                                         num_samples=num_samples, seed=context.seed),
    }


def run_vae(context):
    from keras_ae import plotting

    zoo, zoo_seconds = train_zoo_model(context, "vae")
    anchor, anchor_seconds = _reference_vae(context)
    rows, details = [], {"zoo_seconds": zoo_seconds,
                         "anchor_seconds": anchor_seconds}
    for name, (x, _) in context.held_out.items():
        scores = {"zoo": _judge_vae(context, zoo, x),
                  "anchor": _judge_vae(context, anchor, x)}
        details[name] = scores
        z, a = scores["zoo"], scores["anchor"]
        common = (zoo_seconds, anchor_seconds)
        rows += [
            row("VAE (latent 16)", "negative ELBO (nats)", name,
                z["negative_elbo"], a["negative_elbo"], "keras.io VAE",
                z["negative_elbo"] <= 100.0, "<= 100", *common),
            row("VAE (latent 16)", f"IW-NLL, k={int(z['k'])} (nats)", name,
                z["iw_nll"], a["iw_nll"], "keras.io VAE",
                z["iw_nll"] <= a["iw_nll"], "<= anchor", *common),
            row("generation", "digit FID", name, z["frechet_distance"],
                a["frechet_distance"], "keras.io VAE",
                z["frechet_distance"] < a["frechet_distance"], "< anchor", *common),
            row("generation", "class-share gap (TV from uniform)", name,
                z["share_gap"], a["share_gap"], "keras.io VAE",
                z["share_gap"] < a["share_gap"], "< anchor", *common),
            row("generation", "classes covered (>= 2% of samples)", name,
                z["classes_covered"], a["classes_covered"], "keras.io VAE",
                z["classes_covered"] >= a["classes_covered"], ">= anchor", *common),
        ]
    for label, model in (("keras_ae", zoo), ("keras_io", anchor)):
        plotting.plot_grid(model.sample(64, seed=context.seed),
                           context.figure(f"samples_{label}"),
                           f"{label}: samples decoded from the prior N(0, I)")
    return rows, details


def run_main_job(context):
    """`python -m keras_ae train` with its defaults, timed as a whole command.

    In the small mode it trains `--epochs` epochs and exports nothing.
    """
    small = (["--epochs", str(context.epochs), "--no-export"]
             if context.small else [])
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "keras_ae", "train", "--output-dir",
             directory, "--run-name", "main", "--seed",
             str(context.model_seed), *small],
            capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if result.returncode:
            raise RuntimeError(f"The main job failed:\n{result.stderr[-3000:]}")
        with open(os.path.join(directory, "main", "quality.json")) as f:
            quality = json.load(f)
    details = {"wall_seconds": seconds, **quality}
    rows = [
        row("main job (defaults)", "reconstruction agreement", "embedded_validation",
            quality["reconstruction_agreement"], None, "-",
            quality["reconstruction_agreement"] >= 0.85, ">= 0.85", seconds),
        row("main job (defaults)", "classes covered by 1,000 samples",
            "embedded_validation", quality["classes_covered"], None, "-",
            quality["classes_covered"] >= 9, ">= 9", seconds),
    ]
    return rows, details


ABLATION = {
    "the zoo's VAE recipe": {},
    "without KL warm-up": {"kl_warmup_epochs": 0},
    "without cosine decay": {"cosine_decay": False},
    "batch 32 instead of 64": {"batch_size": 32},
    "batch 128 instead of 64": {"batch_size": 128},
    "Adam 1e-3, batch 128, no warm-up, no decay": {
        "learning_rate": 1e-3, "batch_size": 128, "kl_warmup_epochs": 0,
        "cosine_decay": False},
}


def run_ablation(context):
    """The conv VAE without each piece of the recipe: -ELBO per held-out set."""
    from keras_ae import evaluation

    results = {}
    for label, recipe in ABLATION.items():
        vae, seconds = train_zoo_model(context, "vae", **recipe)
        results[label] = {"seconds": seconds, **{
            name: evaluation.negative_elbo(vae, x, num_samples=5,
                                           seed=context.seed)["negative_elbo"]
            for name, (x, _) in context.held_out.items()}}
    return results
