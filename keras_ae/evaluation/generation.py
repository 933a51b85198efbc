"""Generation: samples from the prior, judged by a digit classifier.

A generator of digits is good when its samples look like digits of every
class in the right proportions. Both are measured with a small *reference
classifier* trained on the labelled training images
(`train_reference_classifier`; for the embedded digits, the one that ships
trained with the package: `reference_classifier` picks it):

* `evaluate_generation`: the Frechet distance between the classifier's
  features of real and of generated images (a "digit FID": FID with this
  classifier in place of Inception, which runs offline; pythae reports FID),
  and the share of each class among the samples;
* `reconstruction_agreement`: how often the classifier recognises the true
  class of an image in its reconstruction (an autoencoder that turns a 4
  into a 9 fails it, whatever its pixel error).

A generator is a model with a prior (`sample`: a VAE and the objectives
built on it) or an ex-post sampler of `keras_ae.samplers` fitted to a
model's codes (anything with `sample(num_samples, seed)`), so that an AE or
an RAE with a Gaussian mixture is judged as a VAE is.

Plotting helpers: `plot_samples`, `plot_interpolations`,
`plot_latent_traversals`.
"""

import hashlib
import os
import warnings

import keras
import matplotlib.pyplot as plt
import numpy as np
from scipy import linalg

from keras_ae import plotting
from keras_ae.checks import check_autoencoder
from keras_ae.checks import check_data
from keras_ae.checks import check_images
from keras_ae.checks import check_labels
from keras_ae.checks import check_number
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.io import file_sha256
from keras_ae.io import read_json_file
from keras_ae.objectives import AutoEncoder
from keras_ae.objectives import VariationalAutoEncoder

__all__ = ["FEATURES_LAYER", "build_reference_classifier", "check_generator",
           "classifier_features", "data_fingerprint", "evaluate_generation",
           "frechet_distance", "load_reference_classifier",
           "plot_interpolations", "plot_latent_traversals", "plot_samples",
           "reconstruction_agreement", "reference_classifier",
           "samples_title", "train_reference_classifier"]

FEATURES_LAYER = "features"
# The reference classifiers that ship with the package: `<name>.weights.h5`
# and `<name>.json` (what it was trained on, how, and its accuracy).
REFERENCE_CLASSIFIERS_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "reference_classifiers")


def build_reference_classifier(input_shape, num_classes, seed=None):
    """Builds the small convnet that judges generated and restored images.

    The keras.io "simple MNIST convnet" (two 3x3 convolutions of 32 and 64
    filters with max pooling, dropout 0.5) with a 64-unit `Dense` layer
    named `"features"` before the softmax: its outputs are the features of
    the Frechet distance.

    Args:
        input_shape: tuple `(height, width, channels)`.
        num_classes: int >= 2.
        seed: int or `None`, seed of the initializers and the dropout.

    Returns:
        An uncompiled `keras.Model` from images to class probabilities.
    """
    seed = check_seed("seed", seed)
    num_classes = check_positive_int("num_classes", num_classes)

    def init(offset):
        return keras.initializers.GlorotUniform(
            None if seed is None else seed + offset)

    layers = keras.layers
    inputs = keras.Input(input_shape, name="images")
    x = layers.Conv2D(32, 3, activation="relu", kernel_initializer=init(0),
                      name="conv_0")(inputs)
    x = layers.MaxPooling2D(2, name="pool_0")(x)
    x = layers.Conv2D(64, 3, activation="relu", kernel_initializer=init(1),
                      name="conv_1")(x)
    x = layers.MaxPooling2D(2, name="pool_1")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.5, seed=seed, name="dropout")(x)
    x = layers.Dense(64, activation="relu", kernel_initializer=init(2),
                     name=FEATURES_LAYER)(x)
    outputs = layers.Dense(num_classes, activation="softmax",
                           kernel_initializer=init(3),
                           name="class_probabilities")(x)
    return keras.Model(inputs, outputs, name="reference_classifier")


def train_reference_classifier(x, y, epochs=8, batch_size=128, seed=0,
                               verbose=0):
    """Trains `build_reference_classifier` on labelled images.

    Eight epochs on the 4,000 embedded training digits reach about 96 % on
    the official MNIST test digits.

    Args:
        x: images `(n, height, width, channels)` in [0, 1].
        y: integer labels, one per image.
        epochs: int > 0.
        batch_size: int > 0.
        seed: int, seed of the weights, the dropout and the shuffles.
        verbose: Keras' `fit` verbosity.

    Returns:
        The trained classifier (compiled, with an `accuracy` metric).
    """
    x = check_images("x", x)
    y = check_labels("x", x, "y", y)
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_seed("seed", seed)
    num_classes = int(y.max()) + 1
    if num_classes < 2:
        raise ValueError("`y` must hold at least 2 classes. Received: labels "
                         f"{np.unique(y).tolist()}")
    keras.utils.set_random_seed(seed)
    classifier = build_reference_classifier(x.shape[1:], num_classes, seed)
    classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
    classifier.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=verbose)
    return classifier


def data_fingerprint(x, y):
    """The SHA-256 of labelled data: its shapes, float32 values and labels.

    Two datasets share a fingerprint only when they hold the same values in
    the same order, which is what decides that a shipped reference
    classifier was trained on them.
    """
    x = np.ascontiguousarray(x, "float32")
    y = np.ascontiguousarray(y, "int64")
    digest = hashlib.sha256(repr((x.shape, y.shape)).encode())
    digest.update(x.tobytes())
    digest.update(y.tobytes())
    return digest.hexdigest()


def _reference_classifier_files(name):
    names = sorted(f[:-len(".json")] for f in os.listdir(REFERENCE_CLASSIFIERS_DIR)
                   if f.endswith(".json"))
    if name not in names:
        raise ValueError(f"`name` must be one of {names}. Received: name={name!r}")
    stem = os.path.join(REFERENCE_CLASSIFIERS_DIR, name)
    return stem + ".weights.h5", stem + ".json"


def load_reference_classifier(name="digits"):
    """Loads a reference classifier that ships with the package.

    `"digits"` is `train_reference_classifier` of the embedded digits'
    training split (`keras_ae.data.load_digits()`, seed 0) with its default
    settings, trained once and shipped so that the main job, the benchmarks
    and the tests judge every model by the same weights on every machine,
    without training them again. `reference_classifier` picks it whenever
    the data are those digits.

    Args:
        name: str, the shipped classifier (`"digits"`).

    Returns:
        `(classifier, metadata)`: the compiled classifier (as
        `train_reference_classifier` returns it) and the dict its
        `<name>.json` holds (`fingerprint`, `epochs`, `seed`,
        `validation_accuracy`, versions).

    Raises:
        ValueError: for an unknown name, or weights whose SHA-256 is not the
            one recorded (a damaged file).
    """
    weights, metadata_path = _reference_classifier_files(name)
    metadata = read_json_file(os.path.basename(metadata_path), metadata_path)
    found = file_sha256(weights)
    if found != metadata["weights_sha256"]:
        raise ValueError(
            f"The reference classifier {name!r} is damaged: the SHA-256 of "
            f"{os.path.basename(weights)} is {found}, its metadata records "
            f"{metadata['weights_sha256']}. Reinstall keras_ae.")
    classifier = build_reference_classifier(
        tuple(metadata["input_shape"]), metadata["num_classes"],
        metadata["seed"])
    classifier.load_weights(weights)
    classifier.compile(optimizer="adam",
                       loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
    return classifier, metadata


def reference_classifier(x, y, seed=0):
    """The reference classifier of labelled images: shipped, or trained.

    For the embedded digits' training split and seed 0 (what the main job,
    the benchmarks and the presets judge with) this loads the classifier
    that ships with the package (`load_reference_classifier`), which is
    what `train_reference_classifier(x, y, seed=0)` trains; for any other
    images or seed it trains one.

    Args:
        x: images `(n, height, width, channels)` in [0, 1].
        y: integer labels, one per image.
        seed: int, seed of a classifier that must be trained.

    Returns:
        The compiled classifier.

    Example:

    >>> (x_train, y_train), (x_val, y_val) = keras_ae.data.load_digits()
    >>> judge = reference_classifier(x_train, y_train)  # shipped: no training
    """
    x = check_images("x", x)
    y = check_labels("x", x, "y", y)
    seed = check_seed("seed", seed)
    if seed == 0:
        fingerprint = data_fingerprint(x, y)
        for name in sorted(os.listdir(REFERENCE_CLASSIFIERS_DIR)):
            if not name.endswith(".json"):
                continue
            path = os.path.join(REFERENCE_CLASSIFIERS_DIR, name)
            if read_json_file(name, path)["fingerprint"] == fingerprint:
                return load_reference_classifier(name[:-len(".json")])[0]
    return train_reference_classifier(x, y, seed=seed)


def _check_classifier(classifier):
    try:
        classifier.get_layer(FEATURES_LAYER)
    except (AttributeError, ValueError):
        raise ValueError(
            "`classifier` must be a model from `train_reference_classifier` "
            f"(with a {FEATURES_LAYER!r} layer). Received: {classifier!r}"
        ) from None
    return classifier


def classifier_features(classifier, x, batch_size=512):
    """Returns the reference classifier's features of images `x`."""
    _check_classifier(classifier)
    extractor = keras.Model(classifier.input,
                            classifier.get_layer(FEATURES_LAYER).output)
    # Called eagerly, batch by batch: `predict` on a model made per call
    # traces a new function each time, and TensorFlow warns of retracing.
    x = np.asarray(x, "float32")
    batches = [keras.ops.convert_to_numpy(extractor(x[i:i + batch_size],
                                                    training=False))
               for i in range(0, len(x), batch_size)]
    if not batches:
        return np.zeros((0, extractor.output.shape[-1]), "float64")
    return np.concatenate(batches).astype("float64")


def frechet_distance(features_a, features_b):
    """Frechet distance between Gaussians fitted to two sets of features.

    `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))` (Heusel et al.,
    2017): 0 for identical statistics, larger as they differ. The same
    number of examples on both sides keeps the estimates comparable.

    Args:
        features_a: array `(n_a, d)`.
        features_b: array `(n_b, d)`.

    Returns:
        A float >= 0.
    """
    a = np.asarray(features_a, "float64")
    b = np.asarray(features_b, "float64")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(
        len(a), len(b)
    ) < 2:
        raise ValueError(
            "`features_a` and `features_b` must be 2-D arrays with the same "
            "number of columns and at least 2 rows each. Received: shapes "
            f"{a.shape} and {b.shape}"
        )
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    # A generator that collapses onto a few images has a singular
    # covariance: a tiny ridge keeps the square root finite (as the usual
    # FID implementations do) and changes the distance by about 1e-6.
    ridge = 1e-6 * np.eye(len(cov_a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm((cov_a + ridge) @ (cov_b + ridge))
    if np.iscomplexobj(root):
        # Round-off gives tiny imaginary parts to a real square root.
        root = root.real
    distance = (np.sum((mean_a - mean_b) ** 2)
                + np.trace(cov_a + cov_b - 2.0 * root))
    return float(max(distance, 0.0))


def check_generator(generator, name="generator"):
    """Returns `(generator, model)` if `generator` can draw samples.

    A generator is a keras_ae model with a prior (`sample`) or a sampler
    with `sample(num_samples, seed)` (`keras_ae.samplers`); `model` is the
    autoencoder that decodes its samples (`None` for a sampler without one).
    """
    if isinstance(generator, AutoEncoder):
        if hasattr(generator, "sample"):
            return generator, generator
        raise ValueError(
            f"`{name}` must be a model with a prior (`sample`, e.g. a VAE) "
            "or a sampler with `sample(num_samples, seed)` "
            f"(keras_ae.samplers). Received: {name} of type "
            f"{type(generator).__name__}, which has no prior; pass "
            "keras_ae.samplers.GaussianMixtureSampler().fit(model, x_train) "
            "(the main job fits one as `model.sampler`).")
    if not callable(getattr(generator, "sample", None)):
        raise ValueError(
            f"`{name}` must be a model with a prior (`sample`, e.g. a VAE) "
            "or a sampler with `sample(num_samples, seed)` "
            f"(keras_ae.samplers). Received: {name} of type "
            f"{type(generator).__name__}")
    model = getattr(generator, "model", None)
    return generator, model if isinstance(model, AutoEncoder) else None


def evaluate_generation(generator, classifier, x_real, num_samples=1000,
                        seed=0, min_share=0.02):
    """Judges a generator's samples with a reference classifier.

    Draws `num_samples` samples (`generator.sample`, seeded), classifies
    them and compares their features with those of `num_samples` real
    images.

    Args:
        generator: a keras_ae model with a prior (a VAE, an IWAE, a
            VampPrior...) or a sampler of `keras_ae.samplers` fitted to a
            model of images (an AE or an RAE with a Gaussian mixture).
        classifier: a model from `train_reference_classifier`.
        x_real: held-out real images of the model's input shape, at least
            `num_samples` of them (the first `num_samples` are used).
        num_samples: int >= 2.
        seed: int, seed of the samples.
        min_share: float in [0, 1], the share of the samples a class needs to
            count as covered (0.02: a fifth of its fair share among 10).

    Returns:
        A dict: `frechet_distance`, `class_shares` (a list, one share per
        class), `classes_covered` (classes with at least `min_share`),
        `largest_share`, and `share_gap` (the total variation distance
        between the class shares and the uniform shares: 0 is balanced, 0.9
        is one class only among 10).

    Example:

    >>> classifier = train_reference_classifier(x_train, y_train)
    >>> evaluate_generation(vae, classifier, x_val)["frechet_distance"]
    >>> sampler = keras_ae.samplers.GaussianMixtureSampler().fit(ae, x_train)
    >>> evaluate_generation(sampler, classifier, x_val)["classes_covered"]
    """
    generator, model = check_generator(generator)
    _check_classifier(classifier)
    num_samples = check_positive_int("num_samples", num_samples)
    min_share = check_number("min_share", min_share, minimum=0, maximum=1)
    x_real = check_data("x_real", x_real, model)
    if len(x_real) < num_samples:
        raise ValueError(
            f"`x_real` must hold at least num_samples={num_samples} images. "
            f"Received: {len(x_real)}"
        )
    samples = np.asarray(generator.sample(num_samples,
                                          seed=check_seed("seed", seed)))
    probabilities = classifier.predict(samples, batch_size=512, verbose=0)
    num_classes = probabilities.shape[1]
    shares = np.bincount(probabilities.argmax(axis=1),
                         minlength=num_classes) / num_samples
    distance = frechet_distance(classifier_features(classifier, x_real[:num_samples]),
                                classifier_features(classifier, samples))
    return {
        "frechet_distance": distance,
        "class_shares": [float(s) for s in shares],
        "classes_covered": int(np.sum(shares >= min_share)),
        "largest_share": float(shares.max()),
        "share_gap": float(0.5 * np.abs(shares - 1.0 / num_classes).sum()),
    }


def reconstruction_agreement(model, classifier, x, y):
    """How often the reference classifier finds an image's class in its reconstruction.

    Args:
        model: a keras_ae autoencoder of images.
        classifier: a model from `train_reference_classifier`.
        x: held-out images of the model's input shape.
        y: their integer labels.

    Returns:
        A dict: `reconstruction_agreement` (share of reconstructions
        classified as the true label) and `original_accuracy` (the same
        classifier on the original images: the ceiling).
    """
    check_autoencoder(model)
    _check_classifier(classifier)
    x = check_data("x", x, model)
    y = check_labels("x", x, "y", y)

    def accuracy(images):
        predicted = classifier.predict(images, batch_size=512, verbose=0)
        return float(np.mean(predicted.argmax(axis=1) == y))

    # A conditional model reconstructs each image given its true label.
    labels = (y,) if getattr(model, "conditional", False) else ()
    return {"reconstruction_agreement": accuracy(model.reconstruct(x, *labels)),
            "original_accuracy": accuracy(x)}


def plot_samples(generator, path=None, num_samples=64, seed=0, title=None):
    """Draws samples of a generator (a model's prior, or a sampler) in a grid.

    Args:
        generator: a keras_ae model with a prior, or a sampler of
            `keras_ae.samplers` (see `evaluate_generation`).
        path: where to save the PNG, or `None`.
        num_samples: int > 0.
        seed: int, seed of the samples.
        title: str, or `None` for one that says where the samples come from.
    """
    generator, _ = check_generator(generator)
    return plotting.plot_grid(generator.sample(num_samples, seed=seed), path,
                              title or samples_title(generator))


def samples_title(generator):
    """`"Samples decoded from ..."`: the prior of a model, or a sampler."""
    if isinstance(generator, AutoEncoder):
        if getattr(type(generator), "log_prior",
                   None) is VariationalAutoEncoder.log_prior:
            return "Samples decoded from the prior N(0, I)"
        return f"Samples decoded from the learned prior ({generator.objective})"
    describe = getattr(generator, "describe", None)
    return ("Samples decoded from " + describe() if callable(describe)
            else "Samples")


def plot_latent_traversals(model, x=None, path=None, num_steps=9, extent=3.0,
                           dims=None):
    """Draws one row per code dimension: the decoded code as that value varies.

    Each row starts from one code (the code of `x`, the posterior mean for a
    VAE, or the zero code) and sets one of its values to `num_steps` evenly
    spaced points of `[-extent, extent]`, the others kept: how each
    dimension changes the output (for a beta-TC-VAE, one factor each when
    the code is disentangled).

    Args:
        model: a keras_ae autoencoder with vector codes.
        x: one input (the input's shape), or `None` for the zero code.
        path: where to save the PNG, or `None`.
        num_steps: int >= 2, points per row.
        extent: float > 0, the half-width of the range, in the prior's
            standard deviations.
        dims: sequence of code dimensions to draw, or `None` for all.

    Returns:
        The matplotlib figure.

    Example:

    >>> plot_latent_traversals(tcvae, x_val[0], "traversals.png")
    """
    check_autoencoder(model)
    if len(model.code_shape) != 1:
        raise ValueError(
            "`plot_latent_traversals` takes a model with vector codes. "
            f"Received: a model with codes of shape {model.code_shape}")
    if check_positive_int("num_steps", num_steps) < 2:
        raise ValueError(
            f"`num_steps` must be >= 2. Received: num_steps={num_steps}")
    extent = check_number("extent", extent, minimum=1e-6)
    latent_dim = model.latent_dim
    if dims is None:
        dims = range(latent_dim)
    dims = [int(d) for d in dims]
    if not dims or any(d < 0 or d >= latent_dim for d in dims):
        raise ValueError(
            f"`dims` must be code dimensions in [0, {latent_dim}). Received: "
            f"dims={dims}")
    if x is None:
        code = np.zeros(latent_dim, "float32")
    else:
        code = model.encode(check_data("x", np.asarray(x)[None], model))[0]
    values = np.linspace(-extent, extent, num_steps, dtype="float32")
    rows = {}
    for d in dims:
        codes = np.repeat(code[None], num_steps, axis=0)
        codes[:, d] = values
        rows[f"z[{d}]"] = model.decode(codes)
    fig = plotting.plot_rows(
        rows, None, f"Latent traversals: each row sets one code value from "
        f"{-extent:g} to {extent:g}")
    # A tall figure: keep 0.4 inch free for the title above the first row.
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def plot_interpolations(model, x_starts, x_ends, path=None, num_steps=10):
    """Draws one row per pair: the decoded segment between two inputs' codes.

    Args:
        model: a keras_ae autoencoder (`model.interpolate` decodes the
            points of the segment between the two codes, `z_mean` for a VAE).
        x_starts: inputs where the rows start.
        x_ends: inputs where the rows end, as many as `x_starts`.
        path: where to save the PNG, or `None`.
        num_steps: int >= 2, points per row, both ends included.
    """
    check_autoencoder(model)
    x_starts = check_data("x_starts", x_starts, model)
    x_ends = check_data("x_ends", x_ends, model)
    if len(x_starts) != len(x_ends):
        raise ValueError(
            "`x_starts` and `x_ends` must hold as many inputs. Received: "
            f"{len(x_starts)} and {len(x_ends)}"
        )
    rows = {f"pair {i + 1}": model.interpolate(a, b, num_steps)
            for i, (a, b) in enumerate(zip(x_starts, x_ends))}
    return plotting.plot_rows(rows, path,
                              "Decoded straight lines between two codes")
