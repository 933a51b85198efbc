"""Section `reference`: keras_ae's VAE against the keras.io VAE example.

The same encoder and decoder, initial weights, data, epochs and seeds:
keras_ae trains the zoo's way (`make_dataset` + `fit(validation_data=...)`),
the reference the example's way (`fit(x_train, batch_size=128)`). Both are
scored by `keras_ae.evaluation.negative_elbo`.
"""

import statistics

import keras

import keras_ae
from benchmarks import flops
from benchmarks import reference_vae
from benchmarks.perf.settings import BATCH_SIZE
from benchmarks.perf.settings import fit_and_time
from keras_ae.data import make_dataset
from keras_ae.evaluation import negative_elbo


def build_zoo_twin(reference):
    """Builds keras_ae's VAE around the reference's architecture and weights.

    The conv family cannot express the keras.io model (no `Dense(16)` before
    the latent head, a `Conv2D` output layer and a zero-initialized
    `z_log_var`), so the reference's own builders make the encoder and the
    decoder; the encoder drops its `Sampling` output, since
    `VariationalAutoEncoder` samples `z` itself. The initial weights are
    copied from `reference`.
    """
    encoder = reference_vae.build_encoder()
    encoder = keras.Model(encoder.input, encoder.outputs[:2], name="encoder")
    decoder = reference_vae.build_decoder()
    for twin, source in ((encoder, reference.encoder),
                         (decoder, reference.decoder)):
        for target, weight in zip(twin.trainable_weights,
                                  source.trainable_weights, strict=True):
            target.assign(weight)
    model = keras_ae.VariationalAutoEncoder(
        encoder, decoder, reconstruction_loss="bce", seed=1337,
        name="keras_ae_vae")
    model.build((None, *model.input_shape_))
    return model


def as_zoo_vae(reference):
    """The reference's trained encoder and decoder (shared, not copied) as a
    keras_ae VAE, so that one function scores both models."""
    encoder = keras.Model(reference.encoder.input,
                          reference.encoder.outputs[:2])
    return keras_ae.VariationalAutoEncoder(encoder, reference.decoder,
                                           reconstruction_loss="bce")


def compare_with_reference(data, settings, seed=0):
    """Trains the keras.io VAE and keras_ae's twin; returns both rows."""
    (x_train, _), (x_val, _) = data
    epochs = settings["reference_epochs"]
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    reference = reference_vae.build_reference_vae()
    zoo = build_zoo_twin(reference)
    zoo.compile(optimizer=keras.optimizers.Adam())

    keras.utils.set_random_seed(seed)
    reference_timing = fit_and_time(
        reference, x_train, 1, epochs - 1, len(x_train),
        batch_size=reference_vae.BATCH_SIZE)
    keras.utils.set_random_seed(seed)
    zoo_timing = fit_and_time(
        zoo, make_dataset(x_train, batch_size=reference_vae.BATCH_SIZE,
                          seed=seed),
        1, epochs - 1, len(x_train), shuffle=False,
        validation_data=make_dataset(x_val, batch_size=BATCH_SIZE,
                                     shuffle=False))

    draws = settings["elbo_draws"]
    rows = [
        {"model": "keras.io reference VAE",
         "path": "fit(x_train, batch_size=128)",
         **reference_timing,
         "validation_negative_elbo": negative_elbo(
             as_zoo_vae(reference), x_val, draws, seed)["negative_elbo"]},
        {"model": "keras_ae VariationalAutoEncoder",
         "path": "fit(make_dataset(x_train), validation_data=make_dataset("
                 "x_val))",
         **zoo_timing,
         "validation_negative_elbo": negative_elbo(
             zoo, x_val, draws, seed)["negative_elbo"]},
    ]
    return {
        "epochs": epochs,
        "elbo_draws": draws,
        "built_as": "identical encoder/decoder models passed to "
                    "keras_ae.VariationalAutoEncoder(encoder, decoder, "
                    "reconstruction_loss='bce'); initial weights copied from "
                    "the reference",
        "forward_flops_per_example": flops.forward_flops(zoo),
        "rows": rows,
        "throughput_ratio": (zoo_timing["examples_per_second"]
                             / reference_timing["examples_per_second"]),
        "wall_throughput_ratio": (
            zoo_timing["wall_examples_per_second"]
            / reference_timing["wall_examples_per_second"]),
    }


def compare_over_seeds(data, settings):
    """Runs `compare_with_reference` for several seeds; returns runs and means.

    The held-out -ELBO of a latent_dim 2 VAE after 10 epochs moves by several
    nats from seed to seed, so one seed cannot say which model is better.
    """
    seeds = [settings["seed"] + i for i in range(settings["reference_seeds"])]
    runs = [dict(compare_with_reference(data, settings, seed), seed=seed)
            for seed in seeds]
    elbos = [[run["rows"][i]["validation_negative_elbo"] for run in runs]
             for i in (0, 1)]
    ratios = [run["throughput_ratio"] for run in runs]
    return {
        **{key: runs[0][key] for key in ("epochs", "elbo_draws", "built_as",
                                         "forward_flops_per_example")},
        "runs": runs,
        "seeds": seeds,
        "mean_negative_elbo": {"reference": statistics.mean(elbos[0]),
                               "keras_ae": statistics.mean(elbos[1])},
        "median_throughput_ratio": statistics.median(ratios),
        "median_wall_throughput_ratio": statistics.median(
            run["wall_throughput_ratio"] for run in runs),
    }


def reference_lines(report):
    result = report["results"]["reference"]
    ratio = result["median_throughput_ratio"]
    faster = "faster" if ratio >= 1 else "slower"
    elbo = result["mean_negative_elbo"]
    lines = [
        "## keras_ae against the keras.io VAE example", "",
        "The same convolutional VAE (latent_dim 2, keras.io's architecture, "
        f"{result['forward_flops_per_example'] / 1e6:.2f} MFLOPs per forward "
        f"example) built as {result['built_as']}; same data, "
        f"{result['epochs']} epochs, same seed in each pair; the reference "
        "trains first, then keras_ae, in the same process; one pair per "
        f"seed ({', '.join(map(str, result['seeds']))}). Throughput: median "
        "of the epochs after the first; \"train\" leaves keras_ae's per-epoch "
        "validation out, \"wall\" counts it. Held-out negative ELBO: "
        "`keras_ae.evaluation.negative_elbo` on the 1,000 validation digits "
        "(BCE summed over pixels + analytic KL, z drawn from q(z|x), "
        f"{result['elbo_draws']} draws), one function for both models "
        "(lower is better).", "",
        "| seed | model | training path | train examples/s | wall examples/s "
        "| held-out -ELBO (nats) |",
        "| ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for run in result["runs"]:
        for row in run["rows"]:
            lines.append(
                f"| {run['seed']} | {row['model']} | `{row['path']}` | "
                f"{row['examples_per_second']:,.0f} | "
                f"{row['wall_examples_per_second']:,.0f} | "
                f"{row['validation_negative_elbo']:.2f} |")
    return lines + [
        "",
        f"Over the seeds, keras_ae trains at a median {ratio:.2f}x the "
        f"reference's throughput ({abs(ratio - 1) * 100:.0f}% {faster}); "
        "counting its validation passes, "
        f"{result['median_wall_throughput_ratio']:.2f}x. Mean held-out "
        f"-ELBO: keras_ae {elbo['keras_ae']:.2f} nats, reference "
        f"{elbo['reference']:.2f} nats.", "",
    ]
