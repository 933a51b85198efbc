"""What autoencoders are for, measured: the applications of a trained model.

Every function takes a trained `keras_ae` autoencoder and NumPy data, checks
its inputs in Keras' voice before computing anything, and returns a plain
dict of floats (ready for `json.dump`); figures go to a PNG when given a
`path`.

Applications:
    restoration      `evaluate_restoration`: PSNR/SSIM of corrupted and of
                     restored images against the clean ones (`psnr_ssim`).
    compression      `compare_with_pca`: reconstruction MSE of the code vs
                     PCA with as many components, and vs the mean image.
    representation   `build_classifier`, `evaluate_classification`: linear
                     probe on frozen codes, fine-tuned encoder, and logistic
                     regression on pixels and on PCA features, with 10 and
                     100 labels per class and with all labels.
    likelihood       `negative_elbo`, `importance_weighted_nll` (VAE).
    generation       `plot_samples`, `plot_interpolations`, and
                     `keras_ae.plotting.plot_manifold` for a 2-D code.
    anomalies        `reconstruction_errors`, `choose_threshold`,
                     `evaluate_anomaly_detection`, `evaluate_digit_anomaly`;
                     time series in `keras_ae.timeseries`.

`evaluate_model` runs every application that fits a model and writes
`metrics.json` and the figures into a new directory; `python -m keras_ae
evaluate model.keras` does the same from the command line.

Likelihoods (`negative_elbo`, `importance_weighted_nll`) are in nats per
example. The decoder's output `x_hat` defines `p(x|z)`:

* `reconstruction_loss="bce"`: a Bernoulli likelihood per value,
  `log p(x|z) = sum_j x_j log x_hat_j + (1 - x_j) log(1 - x_hat_j)` with
  `x_hat` clipped to `[1e-7, 1 - 1e-7]` as Keras' binary cross-entropy does,
  i.e. minus the model's own reconstruction loss. For grey levels in (0, 1)
  (the digits are not binarized) this is the usual convention, not a
  normalized density: compare figures between models on the same data only.
* `reconstruction_loss="mse"`: a Gaussian of unit variance per value,
  `log p(x|z) = -0.5 * sum_j (x_j - x_hat_j)**2 - (D / 2) log(2 pi)` with `D`
  values per example. (The model trains on the plain sum of squares, which
  is this likelihood for a variance of 1/2, up to a constant.)

The prior is `N(0, I)` and `q(z|x) = N(z_mean, exp(z_log_var))`; the KL term
of the ELBO is the analytic one, with weight 1 whatever the model's `beta`.
"""

import json
import math
import numbers
import os

import keras
import numpy as np

from keras_ae.checks import check_finite
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.checks import check_unit_range
from keras_ae.models import AutoEncoder
from keras_ae.models import VariationalAutoEncoder

DEFAULT_LABELS_PER_CLASS = (10, 100, None)


# --- Input checks ------------------------------------------------------------


def _check_autoencoder(model, name="model", variational=False):
    kind = VariationalAutoEncoder if variational else AutoEncoder
    if not isinstance(model, kind):
        raise ValueError(
            f"`{name}` must be a keras_ae "
            f"{'VariationalAutoEncoder' if variational else 'AutoEncoder'} "
            "(e.g. from `keras_ae.build_autoencoder`"
            f"{', variational=True' if variational else ''}). Received: "
            f"{name} of type {type(model).__name__}"
        )
    return model


def _check_data(name, x, model=None):
    """Returns `x` as finite float32; images (rank 4) must lie in [0, 1]."""
    x = check_finite(name, np.asarray(x, dtype="float32"))
    if x.ndim == 4:
        check_unit_range(name, x)
    if model is not None:
        model.check_inputs(x, name)
    if len(x) == 0:
        raise ValueError(f"`{name}` must hold at least one example. Received: "
                         f"{name} with shape {x.shape}")
    return x


def _check_images(name, x):
    x = np.asarray(x, dtype="float32")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(
            f"`{name}` must be images of shape (num_images, height, width"
            f"[, channels]). Received: {name} with shape {x.shape}"
        )
    return check_unit_range(name, check_finite(name, x))


def _check_labels(x_name, x, y_name, y):
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"`{y_name}` must hold one label per example of `{x_name}`. "
            f"Received: {len(x)} examples in {x_name} and {y_name} with shape "
            f"{y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"`{y_name}` must hold integer class labels. "
                             f"Received: {y_name} of dtype {y.dtype}")
    y = y.astype("int64")
    if y.size and y.min() < 0:
        raise ValueError(f"`{y_name}` must hold labels >= 0. Received: "
                         f"{y_name} with minimum {y.min()}")
    return y


def _check_quantile(quantile):
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not (
        0.0 <= quantile <= 1.0
    ):
        raise ValueError(
            f"`quantile` must be a number in [0, 1]. Received: quantile={quantile!r}"
        )
    return float(quantile)


def _flat(x):
    return np.asarray(x, dtype="float64").reshape(len(x), -1)


def fit_pca(flat_train, num_components):
    """Fits scikit-learn's exact PCA with at most `num_components` components.

    With more examples than features the components come from the
    eigendecomposition of the covariance (`svd_solver="covariance_eigh"`,
    several times faster than a full SVD of the data), otherwise from a full
    SVD. `num_components` is capped by the number of examples and features.
    """
    from sklearn.decomposition import PCA

    num_samples, num_features = flat_train.shape
    solver = "covariance_eigh" if num_samples >= num_features else "full"
    return PCA(n_components=min(num_components, num_samples, num_features),
               svd_solver=solver).fit(flat_train)


# --- Image quality -----------------------------------------------------------


def psnr_ssim(clean, other):
    """Mean PSNR (dB) and SSIM of images against their clean versions.

    Uses `tf.image.psnr` and `tf.image.ssim` with `max_val=1` (SSIM's
    default 11x11 Gaussian window) on each pair, then averages over the
    images. A pair of identical images has an infinite PSNR, and so has the
    mean then (`evaluate_restoration` leaves such pairs out).

    Args:
        clean: images `(n, height, width[, channels])` in [0, 1], height and
            width at least 11.
        other: images of the same shape in [0, 1].

    Returns:
        `{"psnr": float, "ssim": float}`.

    Example:

    >>> psnr_ssim(x_test, np.clip(x_test + 0.1, 0, 1))["psnr"]
    """
    import tensorflow as tf

    clean = _check_images("clean", clean)
    other = _check_images("other", other)
    if clean.shape != other.shape:
        raise ValueError(
            "`clean` and `other` must have the same shape. Received: "
            f"{clean.shape} and {other.shape}"
        )
    if len(clean) == 0:
        raise ValueError("`clean` must hold at least one image. Received: 0")
    if min(clean.shape[1:3]) < 11:
        raise ValueError(
            "SSIM needs images of at least 11x11 pixels. Received: images of "
            f"shape {clean.shape[1:]}"
        )
    psnr = tf.image.psnr(clean, other, max_val=1.0).numpy()
    ssim = tf.image.ssim(clean, other, max_val=1.0).numpy()
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}


# --- Restoration -------------------------------------------------------------


def corrupt(corruption, x, seed=0, batch_size=256):
    """Corrupts `x` batch by batch with a fresh copy of `corruption` seeded `seed`.

    A layer whose config has a `seed` (every `keras_ae.corruptions` layer,
    and Keras' random layers) is rebuilt from its config with `seed`, so the
    result depends on `seed` only, not on how often the layer ran before.
    Any other callable is called as is, with `training=True`.
    """
    layer = corruption
    if hasattr(corruption, "get_config"):
        config = corruption.get_config()
        if "seed" in config:
            layer = type(corruption).from_config({**config, "seed": seed})
    out = [keras.ops.convert_to_numpy(layer(x[i:i + batch_size], training=True))
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype("float32")


def evaluate_restoration(model, x_clean, corruption, seed=0, path=None,
                         num_shown=10, title=None):
    """Measures how well a model restores corrupted images.

    Corrupts `x_clean` with `corruption` (seeded by `seed`, see `corrupt`),
    restores the result with `model.reconstruct` (clipped to [0, 1]) and
    compares both to the clean images with `psnr_ssim`. Images that the
    corruption left unchanged (e.g. an occluder on black background) are
    left out of every comparison and counted in `num_unchanged`.

    For a corruption that only writes zeros (`fills_with_zeros`, as
    `Occlusion` and `TokenMasking`), every non-zero corrupted value is an
    observed one; the usual inpainting result keeps those and takes the
    model's output elsewhere (the holes, and black background where the
    model should output about 0). It is reported as `inpainted_psnr` and
    `inpainted_ssim`; no clean pixel is used to build it.

    Args:
        model: a keras_ae autoencoder, ideally trained on corrupted inputs
            (`fit(corrupted, clean)` or `make_dataset(..., corruption=...)`).
        x_clean: images in [0, 1] of the model's input shape.
        corruption: a corruption layer, e.g. `GaussianNoise(0.5)`.
        seed: int, seed of the corruption.
        path: where to save a figure (clean / corrupted / restored rows), or
            `None`.
        num_shown: int, examples in the figure.
        title: figure title or `None`.

    Returns:
        A dict of floats: `corrupted_psnr`, `corrupted_ssim`,
        `restored_psnr`, `restored_ssim`, `num_images`, `num_unchanged`,
        and for a zero-filling corruption `inpainted_psnr`, `inpainted_ssim`.
    """
    from keras_ae import plotting

    _check_autoencoder(model)
    x = _check_images("x_clean", x_clean)
    model.check_inputs(x, "x_clean")
    seed = check_seed("seed", seed)
    corrupted = corrupt(corruption, x, seed)
    changed = np.any(corrupted != x, axis=tuple(range(1, x.ndim)))
    if not changed.any():
        raise ValueError(
            "`corruption` left every image unchanged; there is nothing to "
            f"restore. Received: corruption={corruption!r}"
        )
    x, corrupted = x[changed], corrupted[changed]
    restored = np.clip(model.reconstruct(corrupted), 0.0, 1.0)
    before = psnr_ssim(x, corrupted)
    after = psnr_ssim(x, restored)
    metrics = {
        "corrupted_psnr": before["psnr"], "corrupted_ssim": before["ssim"],
        "restored_psnr": after["psnr"], "restored_ssim": after["ssim"],
        "num_images": float(changed.sum()),
        "num_unchanged": float((~changed).sum()),
    }
    rows = {"clean": x, "corrupted": corrupted, "restored": restored}
    if getattr(corruption, "fills_with_zeros", False):
        rows["inpainted"] = np.where(corrupted != 0.0, corrupted, restored)
        inpainted = psnr_ssim(x, rows["inpainted"])
        metrics.update({"inpainted_psnr": inpainted["psnr"],
                        "inpainted_ssim": inpainted["ssim"]})
    if path is not None:
        plotting.plot_rows(
            {name: images[:num_shown] for name, images in rows.items()},
            path,
            title or (f"{type(corruption).__name__}: PSNR {before['psnr']:.1f}"
                      f" -> {after['psnr']:.1f} dB, SSIM {before['ssim']:.2f}"
                      f" -> {after['ssim']:.2f} (restored)"),
        )
    return metrics


# --- Compression: the code against PCA ---------------------------------------


def compare_with_pca(model, x_train, x_test, path=None, num_shown=10):
    """Compares the model's reconstructions with PCA's on held-out data.

    PCA (scikit-learn) keeps as many components as the model's code
    (`latent_dim`, at most the number of training examples or features) and
    is fitted on `x_train`; both are evaluated on `x_test`. The mean-image
    baseline predicts the mean training example for every input.

    Returns:
        A dict of floats, mean squared errors per value (pixel): `ae_mse`,
        `pca_mse`, `mean_image_mse`, and `num_components`.
    """
    _check_autoencoder(model)
    x_train = _check_data("x_train", x_train, model)
    x_test = _check_data("x_test", x_test, model)
    flat_train, flat_test = _flat(x_train), _flat(x_test)
    pca = fit_pca(flat_train, model.latent_dim)
    components = int(pca.n_components_)
    pca_reconstruction = pca.inverse_transform(pca.transform(flat_test))
    ae_reconstruction = _flat(model.reconstruct(x_test))
    mean_image = flat_train.mean(axis=0, keepdims=True)
    if path is not None and x_test.ndim == 4:
        from keras_ae import plotting

        plotting.plot_rows(
            {"original": x_test[:num_shown],
             "autoencoder": ae_reconstruction[:num_shown].reshape(
                 x_test[:num_shown].shape),
             f"PCA ({components})": pca_reconstruction[:num_shown].reshape(
                 x_test[:num_shown].shape)},
            path, "Held-out reconstructions: autoencoder and PCA, "
            f"{components} numbers per code",
        )
    return {
        "ae_mse": float(np.mean((ae_reconstruction - flat_test) ** 2)),
        "pca_mse": float(np.mean((pca_reconstruction - flat_test) ** 2)),
        "mean_image_mse": float(np.mean((mean_image - flat_test) ** 2)),
        "num_components": float(components),
    }


# --- Representation: classification from the code ----------------------------


def build_classifier(autoencoder, num_classes, freeze_encoder=True, seed=None):
    """Puts a softmax head on a copy of an autoencoder's encoder.

    The classifier is functional: `inputs -> encoder -> Dense(num_classes,
    softmax)`. For a VAE the encoder keeps its `z_mean` branch only. The
    encoder is a copy with the same weights, so training the classifier
    never changes the autoencoder.

    Args:
        autoencoder: a keras_ae `AutoEncoder` or `VariationalAutoEncoder`.
        num_classes: int >= 2.
        freeze_encoder: bool. `True` trains the head only (a linear probe);
            `False` fine-tunes the encoder too.
        seed: int or `None`, seed of the head's initializer.

    Returns:
        An uncompiled `keras.Model` mapping inputs to class probabilities.

    Example:

    >>> classifier = build_classifier(model, num_classes=10,
    ...                               freeze_encoder=False)
    >>> classifier.compile("adam", "sparse_categorical_crossentropy",
    ...                    metrics=["accuracy"])
    >>> classifier.fit(x_labelled, y_labelled, epochs=5)
    """
    _check_autoencoder(autoencoder, "autoencoder")
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, (int, np.integer))
        or num_classes < 2
    ):
        raise ValueError(
            "`num_classes` must be an integer >= 2. Received: "
            f"num_classes={num_classes!r}"
        )
    if not isinstance(freeze_encoder, bool):
        raise ValueError("`freeze_encoder` must be a bool. Received: "
                         f"freeze_encoder={freeze_encoder!r}")
    variational = isinstance(autoencoder, VariationalAutoEncoder)
    outputs = autoencoder.encoder.output
    code = outputs[0] if variational else outputs
    if isinstance(code, (list, tuple)) or tuple(code.shape) != (
        None, autoencoder.latent_dim
    ):
        shapes = [tuple(o.shape) for o in
                  (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
        raise ValueError(
            "`autoencoder` must have an encoder whose code has shape "
            f"(batch_size, latent_dim={autoencoder.latent_dim})"
            f"{' (z_mean of a VAE)' if variational else ''}. Received: an "
            f"encoder with output shape(s) {shapes}"
        )
    encoder = keras.models.clone_model(autoencoder.encoder)
    encoder.set_weights(autoencoder.encoder.get_weights())
    if variational:
        # Only the z_mean branch: z_log_var would get no gradient.
        encoder = keras.Model(encoder.input, encoder.output[0],
                              name=f"{encoder.name}_mean")
    encoder.trainable = not freeze_encoder
    inputs = keras.Input(autoencoder.input_shape_, name="inputs")
    code = encoder(inputs)
    probabilities = keras.layers.Dense(
        num_classes, activation="softmax", name="class_probabilities",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
    )(code)
    return keras.Model(inputs, probabilities,
                       name=f"{autoencoder.name}_classifier")


def _check_labels_per_class(labels_per_class, y_train):
    """Returns a tuple of ints > 0 or `None`, each available in every class."""
    if labels_per_class is None or isinstance(labels_per_class, numbers.Integral):
        labels_per_class = (labels_per_class,)
    labels_per_class = tuple(labels_per_class)
    smallest = int(np.bincount(y_train)[np.unique(y_train)].min())
    if not labels_per_class or any(
        n is not None and (isinstance(n, bool)
                           or not isinstance(n, numbers.Integral)
                           or n <= 0 or n > smallest)
        for n in labels_per_class
    ):
        raise ValueError(
            "`labels_per_class` must be a non-empty tuple of ints in [1, "
            f"{smallest}] (the size of the smallest class of y_train) or None "
            f"(all labels). Received: labels_per_class={labels_per_class!r}"
        )
    return tuple(None if n is None else int(n) for n in labels_per_class)


def stratified_subset(y, per_class, seed=0):
    """Indices of `per_class` examples of each class, drawn with `seed`.

    `per_class=None` returns every index.
    """
    y = np.asarray(y)
    if per_class is None:
        return np.arange(len(y))
    per_class = check_positive_int("labels_per_class", per_class)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        if len(members) < per_class:
            raise ValueError(
                f"`labels_per_class` asks for {per_class} labels of class "
                f"{label}, which has {len(members)} training examples. "
                f"Received: labels_per_class={per_class}"
            )
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def _logistic_accuracy(train_features, y_train, test_features, y_test,
                       standardize):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from threadpoolctl import threadpool_limits

    steps = [StandardScaler()] if standardize else []
    classifier = make_pipeline(*steps, LogisticRegression(max_iter=2000))
    # lbfgs makes many small BLAS calls: one thread is several times faster
    # than OpenBLAS's threads (measured 5x on 2 cores beside TensorFlow).
    with threadpool_limits(1, user_api="blas"):
        classifier.fit(train_features, y_train)
        return float(classifier.score(test_features, y_test))


def evaluate_classification(model, x_train, y_train, x_test, y_test,
                            labels_per_class=DEFAULT_LABELS_PER_CLASS, seed=0,
                            fine_tune_steps=300, batch_size=64,
                            learning_rate=1e-3, verbose=0):
    """Held-out accuracy of classifiers built on the code, against baselines.

    For each entry `n` of `labels_per_class` (`None`: all labels), `n`
    labelled training examples per class are drawn (stratified, `seed`) and
    four classifiers are trained on them and scored on `x_test`:

    * `probe`: logistic regression on the frozen codes (`model.encode`,
      `z_mean` for a VAE), standardized;
    * `fine_tuned`: `build_classifier(model, freeze_encoder=False)` trained
      with Adam for about `fine_tune_steps` steps (skipped when 0); this
      calls `keras.utils.set_random_seed(seed)`;
    * `pixels`: logistic regression on the raw values (already in [0, 1]);
    * `pca`: logistic regression on standardized PCA features with as many
      components as the code, PCA fitted on all of `x_train` (unlabelled, as
      the autoencoder was).

    The logistic regressions are scikit-learn's (L2, C=1, lbfgs).

    Returns:
        A dict of floats with keys `<method>_accuracy_<n>` (`<n>` = `10`,
        `100`, ... or `all`) and `majority_accuracy` (the share of the most
        frequent test class, the trivial baseline).
    """
    _check_autoencoder(model)
    x_train = _check_data("x_train", x_train, model)
    x_test = _check_data("x_test", x_test, model)
    y_train = _check_labels("x_train", x_train, "y_train", y_train)
    y_test = _check_labels("x_test", x_test, "y_test", y_test)
    seed = check_seed("seed", seed)
    labels_per_class = _check_labels_per_class(labels_per_class, y_train)
    subsets = {("all" if n is None else str(n)): stratified_subset(y_train, n, seed)
               for n in labels_per_class}
    if fine_tune_steps:
        check_positive_int("fine_tune_steps", fine_tune_steps)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    if num_classes < 2:
        raise ValueError("`y_train` must hold at least 2 classes. Received: "
                         f"labels {np.unique(y_train).tolist()}")

    codes_train, codes_test = model.encode(x_train), model.encode(x_test)
    flat_train, flat_test = _flat(x_train), _flat(x_test)
    pca = fit_pca(flat_train, model.latent_dim)
    pca_train, pca_test = pca.transform(flat_train), pca.transform(flat_test)

    results = {"majority_accuracy": float(np.bincount(y_test).max() / len(y_test))}
    for tag, index in subsets.items():
        y = y_train[index]
        results[f"probe_accuracy_{tag}"] = _logistic_accuracy(
            codes_train[index], y, codes_test, y_test, standardize=True)
        results[f"pixels_accuracy_{tag}"] = _logistic_accuracy(
            flat_train[index], y, flat_test, y_test, standardize=False)
        results[f"pca_accuracy_{tag}"] = _logistic_accuracy(
            pca_train[index], y, pca_test, y_test, standardize=True)
        if fine_tune_steps:
            keras.utils.set_random_seed(seed)
            classifier = build_classifier(model, num_classes,
                                          freeze_encoder=False, seed=seed)
            classifier.compile(
                optimizer=keras.optimizers.Adam(learning_rate),
                loss="sparse_categorical_crossentropy")
            steps_per_epoch = math.ceil(len(index) / batch_size)
            classifier.fit(x_train[index], y, batch_size=batch_size,
                           epochs=max(1, math.ceil(fine_tune_steps / steps_per_epoch)),
                           verbose=verbose)
            predicted = classifier.predict(x_test, batch_size=256,
                                           verbose=0).argmax(axis=1)
            results[f"fine_tuned_accuracy_{tag}"] = float(
                np.mean(predicted == y_test))
    return results


# --- Likelihood of a VAE -----------------------------------------------------


def _log_likelihood(vae, x, x_hat):
    """`log p(x|z)` per example, in float64 (see the module docstring)."""
    from keras_ae.losses import reconstruction_loss

    if vae.reconstruction_loss == "bce":
        nll = keras.ops.convert_to_numpy(reconstruction_loss(x, x_hat, "bce"))
        return -nll.astype("float64")
    squares = np.sum((_flat(x) - _flat(x_hat)) ** 2, axis=1)
    dim = _flat(x).shape[1]
    return -0.5 * squares - 0.5 * dim * math.log(2.0 * math.pi)


def _posterior_samples(vae, x, num_samples, rng):
    """Draws `num_samples` codes per example; returns `(z, eps, z_mean, z_log_var)`.

    `z` and `eps` have shape `(num_samples, batch, latent_dim)`.
    """
    z_mean, z_log_var = vae.encode_distribution(x)
    z_mean, z_log_var = z_mean.astype("float64"), z_log_var.astype("float64")
    eps = rng.standard_normal((num_samples, *z_mean.shape))
    return z_mean + np.exp(0.5 * z_log_var) * eps, eps, z_mean, z_log_var


def _decoded_log_likelihood(vae, x, z):
    """`log p(x|z_s)` for codes `z` of shape `(S, batch, d)` -> `(S, batch)`."""
    num_samples, batch = z.shape[:2]
    x_hat = vae.decode(z.reshape(num_samples * batch, -1).astype("float32"),
                       batch_size=1024)
    x_tiled = np.broadcast_to(x[None], (num_samples, *x.shape)).reshape(
        num_samples * batch, *x.shape[1:])
    return _log_likelihood(vae, x_tiled, x_hat).reshape(num_samples, batch)


def _chunks(x, num_samples, max_decoded=8192):
    size = max(1, max_decoded // num_samples)
    for i in range(0, len(x), size):
        yield x[i:i + size]


def negative_elbo(vae, x, num_samples=1, seed=0):
    """Monte Carlo estimate of the negative ELBO of a VAE, in nats per example.

    `-ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I))`: the expectation
    is averaged over `num_samples` codes per example drawn from `q(z|x)`,
    the KL divergence is analytic and weighted 1 (whatever the model's
    `beta`). For a `"bce"` model this is the model's own loss; the
    likelihoods are in the module docstring.

    Args:
        vae: a keras_ae `VariationalAutoEncoder`.
        x: inputs of the model's input shape (images in [0, 1]).
        num_samples: int > 0, codes drawn per example.
        seed: int, seed of the draws.

    Returns:
        A dict of floats, means over the examples: `negative_elbo`,
        `reconstruction_nll` (`E_q[-log p(x|z)]`) and `kl`.
    """
    from keras_ae.losses import kl_divergence

    _check_autoencoder(vae, "vae", variational=True)
    x = _check_data("x", x, vae)
    num_samples = check_positive_int("num_samples", num_samples)
    rng = np.random.default_rng(check_seed("seed", seed))
    nll, kl = [], []
    for batch in _chunks(x, num_samples):
        z, _, z_mean, z_log_var = _posterior_samples(vae, batch, num_samples, rng)
        nll.append(-_decoded_log_likelihood(vae, batch, z).mean(axis=0))
        kl.append(keras.ops.convert_to_numpy(kl_divergence(z_mean, z_log_var)))
    nll, kl = np.concatenate(nll), np.concatenate(kl)
    return {"negative_elbo": float(np.mean(nll + kl)),
            "reconstruction_nll": float(np.mean(nll)), "kl": float(np.mean(kl))}


def importance_weighted_nll(vae, x, k=100, seed=0):
    """Importance-weighted estimate of `-log p(x)` (Burda et al., 2016), nats.

    `-log (1/k sum_i p(x|z_i) p(z_i) / q(z_i|x))` with `z_i ~ q(z|x)`,
    computed in log space with logsumexp, vectorized over the `k` samples,
    and averaged over the examples. Its expectation is an upper bound of
    `-log p(x)` that decreases with `k` towards it; at `k=1` it is a
    one-sample estimate of the negative ELBO (with a sampled KL). The
    likelihoods are in the module docstring.

    Args:
        vae: a keras_ae `VariationalAutoEncoder`.
        x: inputs of the model's input shape (images in [0, 1]).
        k: int > 0, importance samples per example.
        seed: int, seed of the draws.

    Returns:
        `{"iw_nll": float, "k": float}`.
    """
    from scipy.special import logsumexp

    _check_autoencoder(vae, "vae", variational=True)
    x = _check_data("x", x, vae)
    k = check_positive_int("k", k)
    rng = np.random.default_rng(check_seed("seed", seed))
    nll = []
    for batch in _chunks(x, k):
        z, eps, _, z_log_var = _posterior_samples(vae, batch, k, rng)
        log_likelihood = _decoded_log_likelihood(vae, batch, z)
        # The log(2 pi) terms of the prior and the posterior cancel.
        log_prior = -0.5 * np.sum(z**2, axis=-1)
        log_posterior = -0.5 * np.sum(eps**2 + z_log_var[None], axis=-1)
        log_weights = log_likelihood + log_prior - log_posterior
        nll.append(math.log(k) - logsumexp(log_weights, axis=0))
    return {"iw_nll": float(np.mean(np.concatenate(nll))), "k": float(k)}


# --- Generation --------------------------------------------------------------


def plot_samples(vae, path=None, num_samples=64, seed=0):
    """Draws samples decoded from the prior N(0, I) of a VAE in a grid."""
    from keras_ae import plotting

    _check_autoencoder(vae, "vae", variational=True)
    return plotting.plot_grid(vae.sample(num_samples, seed=seed), path,
                              "Samples decoded from the prior N(0, I)")


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
    from keras_ae import plotting

    _check_autoencoder(model)
    x_starts = _check_data("x_starts", x_starts, model)
    x_ends = _check_data("x_ends", x_ends, model)
    if len(x_starts) != len(x_ends):
        raise ValueError(
            "`x_starts` and `x_ends` must hold as many inputs. Received: "
            f"{len(x_starts)} and {len(x_ends)}"
        )
    rows = {f"pair {i + 1}": model.interpolate(a, b, num_steps)
            for i, (a, b) in enumerate(zip(x_starts, x_ends))}
    return plotting.plot_rows(rows, path,
                              "Decoded straight lines between two codes")


# --- Anomaly detection -------------------------------------------------------


def reconstruction_errors(model, x, batch_size=256):
    """Anomaly scores: each example's mean squared reconstruction error.

    Returns:
        float64 array of shape `(num_examples,)`, the mean over the example's
        values of `(x - model.reconstruct(x))**2`.
    """
    _check_autoencoder(model)
    x = _check_data("x", x, model)
    reconstruction = model.reconstruct(x, batch_size=batch_size)
    return np.mean((_flat(reconstruction) - _flat(x)) ** 2, axis=1)


def choose_threshold(train_scores, quantile=0.99):
    """The anomaly threshold: a quantile of the scores of normal training data.

    Only training scores may set the threshold; the test labels never do.

    Args:
        train_scores: 1-D array of the scores of (normal) training examples.
        quantile: float in [0, 1]; a score above the threshold is flagged.

    Returns:
        float, `np.quantile(train_scores, quantile)`.
    """
    quantile = _check_quantile(quantile)
    scores = check_finite("train_scores", np.asarray(train_scores, "float64"))
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(
            "`train_scores` must be a non-empty 1-D array of scores. "
            f"Received: train_scores with shape {scores.shape}"
        )
    return float(np.quantile(scores, quantile))


def pca_reconstruction_errors(x_train, x, num_components):
    """Scores of the PCA baseline: mean squared error of a PCA reconstruction."""
    flat_train, flat = _flat(x_train), _flat(x)
    pca = fit_pca(flat_train, num_components)
    reconstruction = pca.inverse_transform(pca.transform(flat))
    return np.mean((reconstruction - flat) ** 2, axis=1)


def evaluate_anomaly_detection(model, x_train_normal, x_test, y_test_is_anomaly,
                               quantile=0.99, path=None, title=None):
    """Scores anomalies by reconstruction error; reports AUC and thresholded figures.

    The model should be trained on normal data only. The threshold is the
    `quantile` of the scores of `x_train_normal` (`choose_threshold`); a
    test example scoring above it is flagged.

    Args:
        model: a keras_ae autoencoder.
        x_train_normal: normal training inputs.
        x_test: test inputs, normal and anomalous.
        y_test_is_anomaly: 1-D array, 1 (or True) for an anomaly, one per
            test input; both classes must occur.
        quantile: float in [0, 1].
        path: where to save a histogram of the test scores, or `None`.
        title: title of that figure (the AUC is appended), or `None`.

    Returns:
        A dict of floats: `roc_auc` (`sklearn.metrics.roc_auc_score` of the
        scores), `precision`, `recall`, `f1`, `false_positive_rate` at the
        threshold, `threshold`, `quantile`, `pca_roc_auc` (the same scores
        from a PCA with `latent_dim` components fitted on `x_train_normal`),
        `num_test`, `num_anomalies`.
    """
    _check_autoencoder(model)
    quantile = _check_quantile(quantile)
    x_train_normal = _check_data("x_train_normal", x_train_normal, model)
    x_test = _check_data("x_test", x_test, model)
    labels = _check_anomaly_labels(x_test, y_test_is_anomaly)
    threshold = choose_threshold(reconstruction_errors(model, x_train_normal),
                                 quantile)
    scores = reconstruction_errors(model, x_test)
    metrics = anomaly_metrics(scores, labels, threshold)
    baseline = pca_reconstruction_errors(x_train_normal, x_test,
                                         model.latent_dim)
    if path is not None:
        plot_score_histogram(
            scores, labels, threshold, path,
            f"{title or 'Test scores'}: ROC AUC {metrics['roc_auc']:.3f}")
    metrics.update({
        "quantile": quantile,
        "pca_roc_auc": anomaly_metrics(baseline, labels, threshold)["roc_auc"],
    })
    return metrics


def _check_anomaly_labels(x_test, y_test_is_anomaly, x_name="x_test",
                          y_name="y_test_is_anomaly"):
    labels = np.asarray(y_test_is_anomaly)
    if labels.ndim != 1 or len(labels) != len(x_test):
        raise ValueError(
            f"`{y_name}` must hold one label per example of `{x_name}`. "
            f"Received: {len(x_test)} examples in {x_name} and "
            f"{y_name} with shape {labels.shape}"
        )
    if not np.all(np.isin(labels, (0, 1))):
        raise ValueError(f"`{y_name}` must hold 0/1 or booleans. Received: "
                         f"values {np.unique(labels)[:5].tolist()}")
    labels = labels.astype("int64")
    if labels.size == 0 or labels.min() == labels.max():
        raise ValueError(
            f"`{y_name}` must hold both normal (0) and anomalous (1) examples "
            f"for a ROC AUC. Received: values {np.unique(labels).tolist()}"
        )
    return labels


def anomaly_metrics(scores, is_anomaly, threshold):
    """ROC AUC of anomaly scores, and the figures of flagging `scores > threshold`.

    Args:
        scores: 1-D array, higher means more anomalous.
        is_anomaly: 1-D array of 0/1 (or booleans), one per score, with both
            values present.
        threshold: float; a score strictly above it is flagged.

    Returns:
        A dict of floats: `roc_auc` (`sklearn.metrics.roc_auc_score`),
        `precision`, `recall`, `f1` (0 when nothing is flagged),
        `false_positive_rate`, `threshold`, `num_test`, `num_anomalies`.
    """
    from sklearn.metrics import f1_score
    from sklearn.metrics import precision_score
    from sklearn.metrics import recall_score
    from sklearn.metrics import roc_auc_score

    scores = check_finite("scores", np.asarray(scores, dtype="float64"))
    labels = _check_anomaly_labels(scores, is_anomaly, "scores", "is_anomaly")
    flagged = (scores > threshold).astype("int64")
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "precision": float(precision_score(labels, flagged, zero_division=0)),
        "recall": float(recall_score(labels, flagged, zero_division=0)),
        "f1": float(f1_score(labels, flagged, zero_division=0)),
        "false_positive_rate": float(flagged[labels == 0].mean()),
        "threshold": float(threshold),
        "num_test": float(len(labels)),
        "num_anomalies": float(labels.sum()),
    }


def plot_score_histogram(scores, is_anomaly, threshold, path=None, title=None):
    """Histograms of the scores of normal and anomalous examples, and the threshold."""
    import matplotlib.pyplot as plt

    scores, is_anomaly = np.asarray(scores), np.asarray(is_anomaly).astype(bool)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    bins = np.logspace(np.log10(max(scores.min(), 1e-8)),
                       np.log10(max(scores.max(), 2e-8)), 50)
    ax.hist(scores[~is_anomaly], bins=bins, alpha=0.6, density=True,
            label="normal")
    ax.hist(scores[is_anomaly], bins=bins, alpha=0.6, density=True,
            label="anomaly")
    ax.axvline(threshold, color="crimson", ls=":", label="threshold")
    ax.set_xscale("log")
    ax.set_xlabel("reconstruction error (MSE per value)")
    ax.set_ylabel("density")
    ax.set_title(title or "Anomaly scores of the test examples")
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def untrained_copy(model, seed=0):
    """A new model of the same architecture and loss, freshly initialized."""
    _check_autoencoder(model)
    keras.utils.set_random_seed(check_seed("seed", seed))
    copy = type(model).from_config(model.get_config())
    return copy


def evaluate_digit_anomaly(model, x_train, y_train, x_test, y_test,
                           normal_class=1, epochs=5, quantile=0.99, seed=0,
                           batch_size=32, learning_rate=1e-3, path=None,
                           verbose=0):
    """One class is normal, the others are anomalies: trains and scores a copy.

    A fresh model of `model`'s architecture and loss (`untrained_copy`) is
    trained with Adam on the `normal_class` examples of `x_train` only,
    then `evaluate_anomaly_detection` scores `x_test`, where every other
    class is an anomaly. `model` itself is not changed.

    Returns:
        The dict of `evaluate_anomaly_detection`, plus `normal_class`,
        `epochs` and `anomaly_share` (the share of anomalies in `x_test`).
    """
    from keras_ae.data import make_dataset

    _check_autoencoder(model)
    x_train = _check_data("x_train", x_train, model)
    x_test = _check_data("x_test", x_test, model)
    y_train = _check_labels("x_train", x_train, "y_train", y_train)
    y_test = _check_labels("x_test", x_test, "y_test", y_test)
    if normal_class not in set(y_train.tolist()):
        raise ValueError(
            "`normal_class` must be a class of `y_train`. Received: "
            f"normal_class={normal_class!r}; classes "
            f"{np.unique(y_train).tolist()}"
        )
    epochs = check_positive_int("epochs", epochs)
    copy = untrained_copy(model, seed)
    copy.compile(optimizer=keras.optimizers.Adam(learning_rate))
    normal = x_train[y_train == normal_class]
    copy.fit(make_dataset(normal, batch_size=batch_size, seed=seed),
             epochs=epochs, verbose=verbose, shuffle=False)
    is_anomaly = (y_test != normal_class).astype("int64")
    metrics = evaluate_anomaly_detection(
        copy, normal, x_test, is_anomaly, quantile, path=path,
        title=f"Class {normal_class} normal, the others anomalies")
    metrics.update({"normal_class": float(normal_class), "epochs": float(epochs),
                    "anomaly_share": float(is_anomaly.mean())})
    return metrics


# --- Everything at once ------------------------------------------------------


def evaluate_model(model, x_train, y_train, x_test, y_test, output_dir, seed=0,
                   normal_class=1, anomaly_epochs=5, fine_tune_steps=300,
                   labels_per_class=DEFAULT_LABELS_PER_CLASS, iw_samples=100,
                   max_likelihood_examples=1000, verbose=0):
    """Runs every application that fits `model`; writes `metrics.json` and figures.

    Tasks, by model:

    * images (rank-4 inputs in [0, 1]): restoration of Gaussian noise
      (`noise_factor=0.5`) and of one occluding square of ~10/28 of the side
      (`denoising`, `occlusion`; a model trained on clean images restores
      them zero-shot), interpolation figure, and anomaly detection with
      `normal_class` normal (`anomaly_detection`, trains a copy for
      `anomaly_epochs` epochs; 0 skips it);
    * every model: reconstruction against PCA (`pca_comparison`), latent
      scatter of `x_test`, classification with `labels_per_class`
      (`classification`; the fine-tuned classifier is skipped when
      `fine_tune_steps=0`);
    * a VAE: negative ELBO and importance-weighted NLL with `k=iw_samples`
      on the first `max_likelihood_examples` test examples (`likelihood`),
      samples from the prior, and the decoded manifold when `latent_dim=2`.

    Files: `metrics.json`, `restoration_noise.png`,
    `restoration_occlusion.png`, `pca_comparison.png`, `latent_space.png`,
    `interpolations.png`, `anomaly_scores.png`, and for a VAE `samples.png`
    (and `manifold.png`). Every argument is checked before anything is
    written; `output_dir` must not exist or be an empty directory.

    Returns:
        `{"output_dir": str, "metrics": dict, "files": {name: path}}`.
    """
    from keras_ae import plotting
    from keras_ae.corruptions import GaussianNoise
    from keras_ae.corruptions import Occlusion

    # --- Check everything before touching the disk --------------------------
    _check_autoencoder(model)
    x_train = _check_data("x_train", x_train, model)
    x_test = _check_data("x_test", x_test, model)
    y_train = _check_labels("x_train", x_train, "y_train", y_train)
    y_test = _check_labels("x_test", x_test, "y_test", y_test)
    seed = check_seed("seed", seed)
    iw_samples = check_positive_int("iw_samples", iw_samples)
    max_likelihood_examples = check_positive_int("max_likelihood_examples",
                                                 max_likelihood_examples)
    if anomaly_epochs:
        anomaly_epochs = check_positive_int("anomaly_epochs", anomaly_epochs)
        if normal_class not in set(y_train.tolist()):
            raise ValueError(
                "`normal_class` must be a class of `y_train`. Received: "
                f"normal_class={normal_class!r}; classes "
                f"{np.unique(y_train).tolist()}"
            )
    if fine_tune_steps:
        check_positive_int("fine_tune_steps", fine_tune_steps)
    labels_per_class = _check_labels_per_class(labels_per_class, y_train)
    check_output_dir(output_dir)

    os.makedirs(output_dir, exist_ok=True)
    files = {}

    def file(name):
        files[name] = os.path.join(output_dir, name)
        return files[name]

    variational = isinstance(model, VariationalAutoEncoder)
    images = x_train.ndim == 4
    metrics = {
        "model": {"name": model.name, "class": type(model).__name__,
                  "latent_dim": model.latent_dim,
                  "input_shape": list(model.input_shape_),
                  "reconstruction_loss": model.reconstruction_loss},
        "data": {"num_train": len(x_train), "num_test": len(x_test)},
        "seed": seed,
    }
    if images and min(x_test.shape[1:3]) >= 11:  # SSIM's window
        side = max(1, round(min(x_test.shape[1:3]) * 10 / 28))
        metrics["denoising"] = evaluate_restoration(
            model, x_test, GaussianNoise(0.5), seed, file("restoration_noise.png"))
        metrics["occlusion"] = evaluate_restoration(
            model, x_test, Occlusion((side, side)), seed,
            file("restoration_occlusion.png"))
    metrics["pca_comparison"] = compare_with_pca(
        model, x_train, x_test, file("pca_comparison.png") if images else None)
    plotting.plot_latent_space(model.encode(x_test), y_test,
                               file("latent_space.png"))
    metrics["classification"] = evaluate_classification(
        model, x_train, y_train, x_test, y_test, labels_per_class, seed=seed,
        fine_tune_steps=fine_tune_steps, verbose=verbose)
    if variational:
        subset = x_test[:max_likelihood_examples]
        metrics["likelihood"] = {
            **negative_elbo(model, subset, num_samples=1, seed=seed),
            **importance_weighted_nll(model, subset, k=iw_samples, seed=seed),
            "num_examples": float(len(subset)),
        }
        if images:
            plot_samples(model, file("samples.png"), seed=seed)
            if model.latent_dim == 2:
                plotting.plot_manifold(model, file("manifold.png"))
    if images:
        starts, ends = _interpolation_pairs(y_test)
        plot_interpolations(model, x_test[starts], x_test[ends],
                            file("interpolations.png"))
        if anomaly_epochs:
            metrics["anomaly_detection"] = evaluate_digit_anomaly(
                model, x_train, y_train, x_test, y_test,
                normal_class=normal_class, epochs=anomaly_epochs, seed=seed,
                path=file("anomaly_scores.png"), verbose=verbose)
    metrics_path = file("metrics.json")
    metrics["files"] = sorted(os.path.basename(p) for p in files.values())
    write_json(metrics_path, metrics)
    import matplotlib.pyplot as plt

    plt.close("all")
    return {"output_dir": output_dir, "metrics": metrics, "files": files}


def _interpolation_pairs(labels, num_pairs=4):
    """Indices of pairs of test examples of different classes (deterministic)."""
    starts, ends = [], []
    classes = np.unique(labels)
    for i in range(min(num_pairs, len(classes))):
        a = classes[i % len(classes)]
        b = classes[(i + len(classes) // 2) % len(classes)]
        starts.append(np.flatnonzero(labels == a)[0])
        ends.append(np.flatnonzero(labels == b)[0])
    return np.array(starts), np.array(ends)


def check_output_dir(output_dir):
    """Raises `FileExistsError` unless `output_dir` is new or an empty directory."""
    if os.path.isdir(output_dir) and not os.listdir(output_dir):
        return output_dir
    if os.path.exists(output_dir):
        raise FileExistsError(
            "`output_dir` already exists and is not empty; nothing is "
            f"overwritten. Received: output_dir={output_dir!r}"
        )
    return output_dir


def write_json(path, data):
    """Writes `data` as JSON to a new file (never overwrites).

    NumPy numbers become Python numbers; infinite or NaN floats become
    `null`, so the file is strict JSON.
    """
    with open(path, "x") as f:
        json.dump(_jsonable(data), f, indent=2, allow_nan=False)
        f.write("\n")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


# --- Command line ------------------------------------------------------------


def add_commands(subparsers):
    """Adds the `evaluate` command to the `keras_ae` command line."""
    parser = subparsers.add_parser(
        "evaluate", help="evaluate a saved model on its applications",
        description="Evaluate a saved .keras autoencoder on its applications "
        "(restoration, compression vs PCA, classification from the code, VAE "
        "likelihood and generation, anomaly detection) and write "
        "metrics.json and figures. The held-out set is the validation split "
        "of the run (its dataset and seed are read from run_config.json next "
        "to the model when present).",
    )
    parser.add_argument("model", help="path of a saved .keras model")
    parser.add_argument("--output-dir", default=None,
                        help="new directory for the results (default: "
                        "<model dir>/evaluation); never overwritten")
    parser.add_argument("--dataset", default=None,
                        help="dataset name (default: the run's dataset from "
                        "run_config.json, else 'digits')")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the corruptions, label subsets, "
                        "samples and trained copies (default: %(default)s)")
    parser.add_argument("--normal-class", type=int, default=1,
                        help="class that is normal in anomaly detection "
                        "(default: %(default)s)")
    parser.add_argument("--anomaly-epochs", type=int, default=5,
                        help="epochs of the copy trained on the normal class; "
                        "0 skips anomaly detection (default: %(default)s)")
    parser.add_argument("--fine-tune-steps", type=int, default=300,
                        help="steps of the fine-tuned classifier; 0 skips it "
                        "(default: %(default)s)")
    parser.add_argument("--labels-per-class", default="10,100,all",
                        help="comma-separated label budgets of the "
                        "classification task, 'all' for every label "
                        "(default: %(default)s)")
    parser.add_argument("--iw-samples", type=int, default=100,
                        help="importance samples k of the VAE's IW-NLL "
                        "(default: %(default)s)")
    parser.set_defaults(run=_run_evaluate)
    return parser


def _run_evaluate(args):
    import keras_ae  # noqa: F401  (registers the classes for loading)
    from keras_ae.data import load_dataset

    if not os.path.isfile(args.model):
        raise FileNotFoundError(
            f"No saved model at the given path. Received: model={args.model!r}")
    if not args.model.endswith(".keras"):
        raise ValueError("`model` must be a .keras file. Received: "
                         f"model={args.model!r}")
    labels_per_class = _parse_labels_per_class(args.labels_per_class)
    output_dir = args.output_dir or os.path.join(
        os.path.dirname(args.model) or ".", "evaluation")
    check_output_dir(output_dir)
    seed = check_seed("seed", args.seed)
    dataset, split_seed = args.dataset, seed
    config_path = os.path.join(os.path.dirname(args.model) or ".",
                               "run_config.json")
    if os.path.exists(config_path):
        with open(config_path) as f:
            run_config = json.load(f)
        dataset = dataset or run_config.get("dataset", "digits")
        split_seed = run_config.get("seed", seed)
    else:
        print("No run_config.json next to the model: the held-out split uses "
              f"--seed {seed}; it is held out only if training used the same.")
    dataset = dataset or "digits"
    model = keras.models.load_model(args.model)
    _check_autoencoder(model, "model")
    (x_train, y_train), (x_test, y_test) = load_dataset(dataset, seed=split_seed)
    result = evaluate_model(
        model, x_train, y_train, x_test, y_test, output_dir, seed=seed,
        normal_class=args.normal_class, anomaly_epochs=args.anomaly_epochs,
        fine_tune_steps=args.fine_tune_steps, labels_per_class=labels_per_class,
        iw_samples=args.iw_samples,
    )
    print(summarize(result))


def _parse_labels_per_class(text):
    budgets = []
    for item in text.split(","):
        item = item.strip()
        if item == "all":
            budgets.append(None)
        elif item.isdigit() and int(item) > 0:
            budgets.append(int(item))
        else:
            raise ValueError(
                "`--labels-per-class` must be comma-separated positive ints "
                f"or 'all'. Received: --labels-per-class {text!r}")
    return tuple(budgets)


def summarize(result):
    """Formats the main figures of an `evaluate_model` result for the terminal."""
    metrics = result["metrics"]
    lines = [f"Evaluation written to {result['output_dir']}"]
    for name in sorted(result["files"]):
        lines.append(f"  {result['files'][name]}")
    lines.append("Main metrics:")

    def add(label, value, unit=""):
        lines.append(f"  {label:<42} {value:.4g}{unit}")

    for task in ("denoising", "occlusion"):
        if task in metrics:
            m = metrics[task]
            add(f"{task}: PSNR corrupted -> restored",
                m["restored_psnr"], f" dB (from {m['corrupted_psnr']:.4g})")
            add(f"{task}: SSIM corrupted -> restored",
                m["restored_ssim"], f" (from {m['corrupted_ssim']:.4g})")
    m = metrics["pca_comparison"]
    add("MSE autoencoder", m["ae_mse"],
        f" (PCA {m['pca_mse']:.4g}, mean image {m['mean_image_mse']:.4g})")
    m = metrics["classification"]
    for key in sorted(k for k in m if k.startswith("probe_accuracy")):
        tag = key.rsplit("_", 1)[1]
        add(f"probe accuracy, {tag} labels{'' if tag == 'all' else '/class'}",
            m[key], f" (pixels {m[f'pixels_accuracy_{tag}']:.4g}, PCA "
            f"{m[f'pca_accuracy_{tag}']:.4g})")
    if "likelihood" in metrics:
        m = metrics["likelihood"]
        add("negative ELBO (nats)", m["negative_elbo"])
        add(f"IW-NLL, k={int(m['k'])} (nats)", m["iw_nll"])
    if "anomaly_detection" in metrics:
        m = metrics["anomaly_detection"]
        add(f"anomaly ROC AUC (class {int(m['normal_class'])} normal)",
            m["roc_auc"], f" (PCA {m['pca_roc_auc']:.4g})")
    return "\n".join(lines)
