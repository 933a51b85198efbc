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
    representation   `build_classifier`, `fine_tune_classifier`,
                     `evaluate_classification`: linear
                     probe on frozen codes, fine-tuned encoder, and logistic
                     regression on pixels and on PCA features, with 10 and
                     100 labels per class and with all labels.
    likelihood       `negative_elbo`, `importance_weighted_nll` (VAE).
    generation       `evaluate_generation` (digit FID and class shares of
                     samples of a model's prior or of a sampler of
                     `keras_ae.samplers`, judged by
                     `reference_classifier`: shipped for the embedded
                     digits, else `train_reference_classifier`),
                     `reconstruction_agreement`, `plot_samples`,
                     `plot_interpolations`, `plot_latent_traversals`, and
                     `keras_ae.plotting.plot_manifold` for a 2-D code.
    anomalies        `reconstruction_errors`, `choose_threshold`,
                     `evaluate_anomaly_detection`, `evaluate_digit_anomaly`;
                     time series in `keras_ae.timeseries`.

Each application is a module of this package (`restoration`, `compression`,
`representation`, `likelihood`, `generation`, `anomaly`); its functions are
importable from `keras_ae.evaluation` directly.

`evaluate_model` (in `report`) runs every application that fits a model and
writes `metrics.json` and the figures into a new directory; `python -m
keras_ae evaluate model.keras` does the same from the command line.

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

`q(z|x) = N(z_mean, exp(z_log_var))` and the prior is the model's own
(`log_prior`): `N(0, I)` for a VAE, an IWAE, a beta-TC-VAE and an InfoVAE,
whose ELBO has the analytic KL term; the learned mixture of a VampPrior,
whose KL term is a Monte Carlo estimate over the same codes. The KL has
weight 1 whatever the model's `beta`.
"""

from keras_ae.evaluation._common import fit_pca
from keras_ae.evaluation.anomaly import anomaly_metrics
from keras_ae.evaluation.anomaly import choose_threshold
from keras_ae.evaluation.anomaly import evaluate_anomaly_detection
from keras_ae.evaluation.anomaly import evaluate_digit_anomaly
from keras_ae.evaluation.anomaly import pca_reconstruction_errors
from keras_ae.evaluation.anomaly import plot_score_histogram
from keras_ae.evaluation.anomaly import reconstruction_errors
from keras_ae.evaluation.anomaly import untrained_copy
from keras_ae.evaluation.compression import compare_with_pca
from keras_ae.evaluation.generation import build_reference_classifier
from keras_ae.evaluation.generation import check_generator
from keras_ae.evaluation.generation import classifier_features
from keras_ae.evaluation.generation import data_fingerprint
from keras_ae.evaluation.generation import evaluate_generation
from keras_ae.evaluation.generation import frechet_distance
from keras_ae.evaluation.generation import load_reference_classifier
from keras_ae.evaluation.generation import plot_interpolations
from keras_ae.evaluation.generation import plot_latent_traversals
from keras_ae.evaluation.generation import plot_samples
from keras_ae.evaluation.generation import reconstruction_agreement
from keras_ae.evaluation.generation import reference_classifier
from keras_ae.evaluation.generation import train_reference_classifier
from keras_ae.evaluation.likelihood import importance_weighted_nll
from keras_ae.evaluation.likelihood import negative_elbo
from keras_ae.evaluation.report import evaluate_model
from keras_ae.evaluation.representation import DEFAULT_LABELS_PER_CLASS
from keras_ae.evaluation.representation import build_classifier
from keras_ae.evaluation.representation import evaluate_classification
from keras_ae.evaluation.representation import fine_tune_classifier
from keras_ae.evaluation.representation import stratified_subset
from keras_ae.evaluation.restoration import corrupt
from keras_ae.evaluation.restoration import evaluate_restoration
from keras_ae.evaluation.restoration import psnr_ssim

__all__ = [
    "fit_pca", "anomaly_metrics", "choose_threshold",
    "evaluate_anomaly_detection", "evaluate_digit_anomaly",
    "pca_reconstruction_errors", "plot_score_histogram",
    "reconstruction_errors", "untrained_copy", "compare_with_pca",
    "build_reference_classifier", "classifier_features", "data_fingerprint",
    "evaluate_generation", "frechet_distance", "check_generator",
    "load_reference_classifier", "reference_classifier",
    "plot_interpolations", "plot_latent_traversals", "plot_samples",
    "reconstruction_agreement", "train_reference_classifier",
    "importance_weighted_nll", "negative_elbo", "evaluate_model",
    "DEFAULT_LABELS_PER_CLASS", "build_classifier", "evaluate_classification",
    "fine_tune_classifier", "stratified_subset", "corrupt",
    "evaluate_restoration", "psnr_ssim"
]
