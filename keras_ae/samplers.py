"""Ex-post samplers: generate with any autoencoder from a density of its codes.

A plain or regularized autoencoder has no prior to sample from; Ghosh et
al. (2020) fit a density to its training codes after training and decode
draws from it, which pythae's benchmark found as good as a VAE's prior or
better. A sampler answers the same verbs whatever stands behind it:

    sampler = GaussianMixtureSampler(n_components=10).fit(model, x_train)
    codes = sampler.sample_codes(16, seed=0)     # (16, *model.code_shape)
    digits = sampler.sample(16, seed=0)          # decoded, NumPy
    sampler.save("sampler.json")                 # plain JSON, no pickle
    sampler = load_sampler("sampler.json", model)

* `GaussianMixtureSampler`: scikit-learn's `GaussianMixture` fitted to the
  codes (`model.encode`, the posterior means of a VAE).
* `PriorSampler`: the model's own prior (`model.sample_prior`), behind the
  same interface, so that a VAE and an AE + GMM are judged alike
  (`keras_ae.evaluation.evaluate_generation` takes either).
"""

import numpy as np
from sklearn.mixture import GaussianMixture

from keras_ae.checks import check_autoencoder
from keras_ae.checks import check_choice
from keras_ae.checks import check_data
from keras_ae.checks import check_number
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.checks import refuse
from keras_ae.io import read_json_file
from keras_ae.io import write_json

__all__ = ["COVARIANCE_TYPES", "SAMPLER_FILE", "GaussianMixtureSampler",
           "PriorSampler", "load_sampler"]

# The name the main job and the presets give a saved sampler.
SAMPLER_FILE = "sampler.json"
COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


class _Sampler:
    """What every sampler shares: the model it decodes with, `sample`, `save`."""

    _model = None

    @property
    def model(self):
        """The autoencoder whose codes the sampler draws (set by `fit`)."""
        if self._model is None:
            raise ValueError(
                f"This {type(self).__name__} is not fitted yet: call "
                "`fit(model, x)` (or `load_sampler(path, model)`) before "
                "sampling.")
        return self._model

    def sample(self, num_samples, seed=None):
        """Decodes `num_samples` codes drawn from the sampler.

        Args:
            num_samples: int > 0.
            seed: int or `None`. The same seed gives the same samples.

        Returns:
            NumPy array of shape `(num_samples, *model.input_shape_)`.
        """
        return self.model.decode(self.sample_codes(num_samples, seed))

    def save(self, path):
        """Writes the sampler as JSON to `path` (a new file); returns `path`."""
        return write_json(path, {"class": type(self).__name__,
                                 "code_shape": list(self.model.code_shape),
                                 **self._state()})


class GaussianMixtureSampler(_Sampler):
    """A Gaussian mixture fitted to a model's training codes.

    Args:
        n_components: int > 0, the mixture's components (10, one per digit
            class, as pythae's GMM sampler and Ghosh et al. use).
        covariance_type: `"full"` (default), `"diag"`, `"spherical"` or
            `"tied"`, as scikit-learn's `GaussianMixture`.
        reg_covar: float >= 0, added to the diagonal of each covariance.
        max_iter: int > 0, EM iterations at most.
        seed: int or `None`, seed of the fit's initialization.

    Example:

    >>> sampler = GaussianMixtureSampler().fit(ae, x_train)
    >>> digits = sampler.sample(64, seed=0)
    >>> keras_ae.evaluation.evaluate_generation(sampler, classifier, x_val)
    """

    def __init__(self, n_components=10, covariance_type="full",
                 reg_covar=1e-6, max_iter=100, seed=0):
        self.n_components = check_positive_int("n_components", n_components)
        self.covariance_type = check_choice("covariance_type", covariance_type,
                                            COVARIANCE_TYPES)
        self.reg_covar = check_number("reg_covar", reg_covar, minimum=0)
        self.max_iter = check_positive_int("max_iter", max_iter)
        self.seed = check_seed("seed", seed)
        self.weights = self.means = self.covariances = None

    def get_config(self):
        """The constructor's arguments."""
        return {"n_components": self.n_components,
                "covariance_type": self.covariance_type,
                "reg_covar": self.reg_covar, "max_iter": self.max_iter,
                "seed": self.seed}

    def describe(self):
        """A few words on the sampler, for figure titles."""
        return (f"a {self.n_components}-component Gaussian mixture fitted to "
                "the training codes")

    def fit(self, model, x):
        """Fits the mixture to the codes of `x` (`model.encode`); returns self.

        Args:
            model: a keras_ae autoencoder.
            x: its training inputs, at least `n_components` of them.
        """
        check_autoencoder(model)
        x = check_data("x", x, model)
        if len(x) < self.n_components:
            raise ValueError(
                f"`x` must hold at least n_components={self.n_components} "
                f"examples to fit the mixture. Received: {len(x)}")
        codes = model.encode(x).reshape(len(x), -1).astype("float64")
        mixture = GaussianMixture(
            self.n_components, covariance_type=self.covariance_type,
            reg_covar=self.reg_covar, max_iter=self.max_iter,
            random_state=self.seed).fit(codes)
        self.weights = mixture.weights_.astype("float64")
        self.means = mixture.means_.astype("float64")
        self.covariances = _full_covariances(
            mixture.covariances_, self.covariance_type, self.n_components,
            codes.shape[1])
        self._model = model
        return self

    def sample_codes(self, num_samples, seed=None):
        """Draws `num_samples` codes, a NumPy array `(num_samples, *code_shape)`.

        A component is drawn by the mixture's weights, then a code from its
        Gaussian; NumPy's generator of `seed` draws both, so the same seed
        gives the same codes, also after `save` and `load_sampler`.
        """
        model = self.model
        num_samples = check_positive_int("num_samples", num_samples)
        rng = np.random.default_rng(check_seed("seed", seed))
        components = rng.choice(self.n_components, size=num_samples,
                                p=self.weights / self.weights.sum())
        roots = np.linalg.cholesky(self.covariances)
        noise = rng.standard_normal((num_samples, self.means.shape[1]))
        codes = self.means[components] + np.einsum(
            "nij,nj->ni", roots[components], noise)
        return codes.reshape(num_samples, *model.code_shape).astype("float32")

    def _state(self):
        return {"config": self.get_config(), "weights": self.weights,
                "means": self.means, "covariances": self.covariances}

    @classmethod
    def _from_state(cls, state, model):
        sampler = cls(**state["config"])
        sampler.weights = np.asarray(state["weights"], "float64")
        sampler.means = np.asarray(state["means"], "float64")
        sampler.covariances = np.asarray(state["covariances"], "float64")
        k, d = sampler.n_components, model.latent_dim
        if (sampler.weights.shape != (k,) or sampler.means.shape != (k, d)
                or sampler.covariances.shape != (k, d, d)):
            raise ValueError(
                f"The sampler's mixture does not fit the model: it needs "
                f"{k} weights, means of shape {(k, d)} and covariances of "
                f"shape {(k, d, d)} for codes of {d} values. Received: "
                f"{sampler.weights.shape}, {sampler.means.shape} and "
                f"{sampler.covariances.shape}")
        sampler._model = model
        return sampler


class PriorSampler(_Sampler):
    """The model's own prior behind the sampler interface.

    Example:

    >>> sampler = PriorSampler().fit(vae)
    >>> sampler.sample(16, seed=0)      # the same as vae.sample(16, seed=0)
    """

    def get_config(self):
        return {}

    def describe(self):
        return "the model's prior"

    def fit(self, model, x=None):
        """Binds the sampler to `model`, which must have a prior; returns self.

        `x` is not used: the prior was trained with the model.
        """
        check_autoencoder(model)
        if not hasattr(model, "sample_prior"):
            raise ValueError(
                "`model` must have a prior (`sample_prior`) for a "
                f"PriorSampler. Received: a {type(model).__name__}; fit a "
                "GaussianMixtureSampler to its codes instead.")
        self._model = model
        return self

    def sample_codes(self, num_samples, seed=None):
        """Draws `num_samples` codes from the model's prior (`sample_prior`)."""
        num_samples = check_positive_int("num_samples", num_samples)
        return np.asarray(self.model.sample_prior(
            num_samples, check_seed("seed", seed)), "float32")

    def _state(self):
        return {"config": {}}

    @classmethod
    def _from_state(cls, state, model):
        return cls().fit(model)


_SAMPLERS = {cls.__name__: cls for cls in (GaussianMixtureSampler,
                                            PriorSampler)}


def load_sampler(path, model):
    """Reads a sampler written by `save` and binds it to `model`.

    Args:
        path: str, a JSON file from `sampler.save(path)`.
        model: the keras_ae autoencoder it was fitted to (its codes must have
            the saved shape).

    Returns:
        The sampler, ready to `sample`.
    """
    check_autoencoder(model)
    state = read_json_file(SAMPLER_FILE, path)
    kind = state.get("class")
    if kind not in _SAMPLERS:
        refuse("class", kind, f"one of {', '.join(map(repr, _SAMPLERS))} "
               f"(in {path!r})")
    code_shape = tuple(state.get("code_shape") or ())
    if code_shape != tuple(model.code_shape):
        raise ValueError(
            f"The sampler in {path!r} was fitted to codes of shape "
            f"{code_shape}, not to this model's. Received: a model with codes "
            f"of shape {tuple(model.code_shape)}")
    return _SAMPLERS[kind]._from_state(state, model)


def _full_covariances(covariances, covariance_type, k, d):
    """scikit-learn's covariances of any type as `(k, d, d)` matrices."""
    covariances = np.asarray(covariances, "float64")
    if covariance_type == "full":
        return covariances
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    if covariance_type == "spherical":
        return covariances[:, None, None] * np.eye(d)[None]
    return np.broadcast_to(covariances, (k, d, d)).copy()  # tied
