"""The artefacts of a run: its figures and its quality, judged by a classifier.

`keras_ae.training.train` writes them into the run directory; each is also a
plain function for a model trained any other way.
"""

import os

from keras_ae import plotting
from keras_ae.evaluation.generation import evaluate_generation
from keras_ae.evaluation.generation import plot_samples
from keras_ae.evaluation.generation import reconstruction_agreement
from keras_ae.evaluation.generation import reference_classifier
from keras_ae.samplers import SAMPLER_FILE

__all__ = ["generator_of", "is_labelled_images", "judge_model",
           "write_figures"]


def generator_of(model):
    """What generates for `model`: itself (a prior), its `sampler`, or `None`.

    A model with a prior samples itself; a model without one generates
    through the ex-post sampler `finish_training` fitted (`model.sampler`,
    a Gaussian mixture of its training codes).
    """
    if hasattr(model, "sample"):
        return model
    return getattr(model, "sampler", None)


def is_labelled_images(y_train, x_val):
    """Whether a dataset is images with at least two classes (can be judged)."""
    return x_val.ndim == 4 and len(set(y_train.tolist())) >= 2


def judge_model(model, train, validation, seed=0, num_samples=1000):
    """Judges a trained model of labelled images with a reference classifier.

    The classifier is `keras_ae.evaluation.reference_classifier` of the
    training images: the one that ships with the package for the embedded
    digits (nothing is trained), else trained with seed 0, so that models of
    every seed are judged by the same classifier. It reports how often the
    classifier finds the true class of a validation image in its
    reconstruction, and, for a model that generates, which classes its
    samples cover (`evaluate_generation` of `generator_of(model)`: its
    prior, or its ex-post sampler; `seed` seeds the samples).

    Returns:
        A dict: `reconstruction_agreement`, `original_accuracy` and, for a
        generator, `classes_covered`, `class_shares`, `frechet_distance`.
    """
    (x_train, y_train), (x_val, y_val) = train, validation
    classifier = reference_classifier(x_train, y_train)
    quality = reconstruction_agreement(model, classifier, x_val, y_val)
    generator = generator_of(model)
    if generator is not None:
        quality.update(evaluate_generation(
            generator, classifier, x_val,
            num_samples=min(num_samples, len(x_val)), seed=seed))
    return quality


def write_figures(model, x_val, y_val, run_dir, seed=0, history=None,
                  num_examples=10):
    """Writes the figures of a trained model; returns `{name: path}`.

    A model that generates through an ex-post sampler (`generator_of`) gets
    its samples figure, and the sampler is written beside it as
    `sampler.json` (`keras_ae.samplers.load_sampler` reads it back).
    """
    paths = {}
    originals = x_val[:num_examples]
    # A conditional model encodes and reconstructs each image with its label.
    conditional = getattr(model, "conditional", False)
    labels = (y_val[:num_examples],) if conditional else ()
    paths["reconstructions"] = os.path.join(run_dir, "reconstructions.png")
    plotting.plot_reconstructions(originals,
                                  model.reconstruct(originals, *labels),
                                  paths["reconstructions"])
    paths["latent_space"] = os.path.join(run_dir, "latent_space.png")
    plotting.plot_latent_space(model.encode(x_val, *(
        (y_val,) if conditional else ())), y_val, paths["latent_space"])
    if history:
        paths["learning_curves"] = os.path.join(run_dir, "history.png")
        plotting.plot_history(history, paths["learning_curves"])
    generator = generator_of(model)
    if generator is not None:
        paths["samples"] = os.path.join(run_dir, "samples.png")
        if conditional:
            plotting.plot_class_samples(model, paths["samples"], seed=seed)
        else:
            plot_samples(generator, paths["samples"], num_samples=64,
                         seed=seed)
        if generator is not model:
            paths["sampler"] = generator.save(os.path.join(run_dir,
                                                           SAMPLER_FILE))
        elif model.code_shape == (2,) and not conditional:
            paths["manifold"] = os.path.join(run_dir, "manifold.png")
            plotting.plot_manifold(model, paths["manifold"])
    return paths
