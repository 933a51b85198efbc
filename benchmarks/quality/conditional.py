"""Conditional generation: the conv CVAE against a VAE with classifier rejection.

The zoo's CVAE is the zoo's VAE recipe (`context.ZOO["vae"]`) with
`objective="cvae"`, trained on the same digits with their labels for the
same epochs. The baseline makes an unconditional model conditional after
the fact: it draws samples from the zoo's VAE and keeps, for each class,
those a second digit classifier (the reference classifier's architecture,
another seed) assigns to it. Both are judged by the reference classifier:
how often it recognises the asked class (100 samples per class), the digit
FID of each class's samples against the held-out digits of that class, and
how often it recognises an image's class in its reconstruction.
"""

import time

import numpy as np

from benchmarks.quality.context import row
from benchmarks.quality.context import timed_fit
from benchmarks.quality.context import train_zoo_model
from benchmarks.quality.context import zoo_recipe

TASK = "conditional generation (CVAE)"
ANCHOR = "VAE + classifier rejection"


def _train_cvae(context):
    """The zoo's VAE recipe with `objective="cvae"`, trained with the labels."""
    import keras

    from keras_ae.callbacks import training_recipe
    from keras_ae.data import make_dataset

    recipe = zoo_recipe("vae")
    settings = recipe.training
    keras.utils.set_random_seed(context.model_seed)
    model = recipe.model.replace(objective="cvae").spec(
        context.x_train.shape[1:], seed=context.model_seed).build()
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate))
    callbacks = training_recipe(
        context.epochs, settings.learning_rate,
        kl_warmup_epochs=settings.kl_warmup_epochs,
        cosine_decay=settings.cosine_decay, restore_best_weights=False)
    seconds = timed_fit(
        model, make_dataset(context.x_train, batch_size=settings.batch_size,
                            seed=context.model_seed, labels=context.y_train),
        epochs=context.epochs, shuffle=False, verbose=0, callbacks=callbacks)
    return model, seconds


def _rejection_samples(vae, rejector, per_class, num_classes, seed,
                       max_draws_per_sample=50):
    """Samples of the VAE kept by `rejector`, `per_class` of each class.

    Draws until every class has `per_class` samples that `rejector` assigns
    to it, or `max_draws_per_sample` draws per sample asked for; a class
    still short then takes the drawn samples `rejector` finds likeliest of
    it (the VAE of a short run may draw some classes almost never).

    Returns `(samples, asked, drawn, short)`: the kept samples in class
    order, the class each was kept for, how many samples were drawn in all,
    and the classes that had to be filled by likelihood.
    """
    wanted = per_class * num_classes
    draws, probabilities, batch = [], [], 2000
    while True:
        samples = vae.sample(batch, seed=seed + len(draws))
        draws.append(samples)
        probabilities.append(rejector.predict(samples, batch_size=512,
                                              verbose=0))
        seen = np.concatenate(probabilities).argmax(1)
        counts = np.bincount(seen, minlength=num_classes)
        if counts.min() >= per_class or (
                len(draws) * batch >= max_draws_per_sample * wanted):
            break
    samples, probabilities = np.concatenate(draws), np.concatenate(probabilities)
    kept, short = [], []
    for c in range(num_classes):
        index = np.flatnonzero(seen == c)[:per_class]
        if len(index) < per_class:
            short.append(c)
            taken = set(index.tolist())
            likeliest = [i for i in np.argsort(-probabilities[:, c])
                         if i not in taken][:per_class - len(index)]
            index = np.concatenate([index, likeliest]).astype(int)
        kept.append(samples[index])
    asked = np.repeat(np.arange(num_classes), per_class)
    return np.concatenate(kept), asked, len(samples), short


def _judge_samples(context, samples, asked):
    """Recognised shares (all, per class) by the reference classifier."""
    seen = context.classifier().predict(samples, batch_size=512,
                                        verbose=0).argmax(1)
    per_class = [float(np.mean(seen[asked == c] == c))
                 for c in np.unique(asked)]
    return {"recognised": float(np.mean(seen == asked)),
            "recognised_per_class": per_class,
            "worst_class": float(min(per_class))}


def _class_fids(context, samples, asked, x, y):
    """The digit FID of each class's samples against held-out digits of it."""
    from keras_ae.evaluation import classifier_features
    from keras_ae.evaluation import frechet_distance

    classifier = context.classifier()
    fids = []
    for c in np.unique(asked):
        mine = samples[asked == c]
        real = x[y == c][:len(mine)]
        fids.append(frechet_distance(classifier_features(classifier, real),
                                     classifier_features(classifier, mine)))
    return fids


def run_conditional(context):
    """The CVAE against the VAE + classifier rejection: recognition, FID, agreement."""
    from keras_ae import plotting
    from keras_ae.evaluation import reconstruction_agreement
    from keras_ae.evaluation import train_reference_classifier

    per_class = 20 if context.small else 100
    num_classes = int(context.y_train.max()) + 1
    cvae, cvae_seconds = _train_cvae(context)
    vae, vae_seconds = train_zoo_model(context, "vae")
    # The rejection's classifier is not the judge: a model that selects with
    # the judge itself would be recognised every time by construction.
    start = time.perf_counter()
    rejector = train_reference_classifier(
        context.x_train, context.y_train, epochs=2 if context.small else 8,
        seed=context.seed + 1)
    rejector_seconds = time.perf_counter() - start
    asked = np.repeat(np.arange(num_classes), per_class)
    samples = {"zoo": cvae.sample(len(asked), labels=asked,
                                  seed=context.seed)}
    samples["anchor"], _, drawn, short = _rejection_samples(
        vae, rejector, per_class, num_classes, context.seed)
    judged = {k: _judge_samples(context, v, asked) for k, v in samples.items()}
    common = (cvae_seconds, vae_seconds)
    details = {"cvae_seconds": cvae_seconds, "vae_seconds": vae_seconds,
               "rejector_seconds": rejector_seconds,
               "vae_samples_drawn": drawn,
               "classes_filled_by_likelihood": short,
               "vae_acceptance": len(asked) / drawn, "samples": judged}
    z, a = judged["zoo"], judged["anchor"]
    rows = [
        row(TASK, f"asked class recognised ({per_class} per class)", "samples",
            z["recognised"], a["recognised"], ANCHOR, z["recognised"] >= 0.95,
            ">= 0.95", *common),
        row(TASK, "asked class recognised, worst class", "samples",
            z["worst_class"], a["worst_class"], ANCHOR,
            z["worst_class"] >= 0.90, ">= 0.90", *common),
        row(TASK, "samples drawn per sample kept", "samples", 1.0,
            drawn / len(asked), ANCHOR, True, "(reported)", *common),
    ]
    for name, (x, y) in context.held_out.items():
        fids = {k: _class_fids(context, v, asked, x, y)
                for k, v in samples.items()}
        agreement = {
            "zoo": reconstruction_agreement(cvae, context.classifier(), x, y),
            "anchor": reconstruction_agreement(vae, context.classifier(), x, y)}
        details[name] = {"class_fids": fids, "agreement": agreement}
        rows += [
            row(TASK, "digit FID per class, mean of the classes", name,
                np.mean(fids["zoo"]), np.mean(fids["anchor"]), ANCHOR,
                np.mean(fids["zoo"]) <= np.mean(fids["anchor"]), "(reported)",
                *common),
            row(TASK, "digit FID per class, worst class", name,
                max(fids["zoo"]), max(fids["anchor"]), ANCHOR,
                max(fids["zoo"]) <= max(fids["anchor"]), "(reported)",
                *common),
            row(TASK, "reconstruction agreement", name,
                agreement["zoo"]["reconstruction_agreement"],
                agreement["anchor"]["reconstruction_agreement"],
                "zoo VAE (unconditional)",
                agreement["zoo"]["reconstruction_agreement"]
                >= agreement["anchor"]["reconstruction_agreement"],
                ">= anchor", *common),
        ]
    plotting.plot_class_samples(cvae, context.figure("samples_cvae"),
                                seed=context.seed)
    order = np.concatenate([np.flatnonzero(asked == c)[:10]
                            for c in range(num_classes)])
    plotting.plot_rows(
        {f"class {c}": samples["anchor"][order[c * 10:(c + 1) * 10]]
         for c in range(num_classes)},
        context.figure("samples_vae_rejection"),
        "VAE samples kept by a classifier for each class")
    return rows, details
