"""The two autoencoder models of the zoo: `AutoEncoder` and `VariationalAutoEncoder`.

Both hold an `encoder` and a `decoder` (any Keras models, usually built by a
family in `keras_ae.families`) and train with their own `train_step` and
`test_step`, so `compile(optimizer=...)` followed by `fit` is all they need.

Loss reduction: the reconstruction loss of an example is summed over all of
its features (pixels, time steps x channels); the loss of a batch is
`sum_i(w_i * loss_i) / batch_size` with sample weights `w_i` (1 by default),
as Keras' `"sum_over_batch_size"` reduction does. The logged epoch figures
are averages over examples.
"""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ae.checks import check_choice
from keras_ae.checks import check_examples
from keras_ae.checks import check_model_data
from keras_ae.checks import check_non_negative_number
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.compat import MultiWorkerSymbolicBuild
from keras_ae.distribute import is_multi_worker
from keras_ae.layers import Sampling
from keras_ae.losses import RECONSTRUCTION_LOSSES
from keras_ae.losses import kl_divergence
from keras_ae.losses import reconstruction_loss as reconstruction_loss_fn


@keras.saving.register_keras_serializable(package="keras_ae")
class AutoEncoder(MultiWorkerSymbolicBuild, keras.Model):
    """An autoencoder: `decoder(encoder(x))` trained to reproduce its target.

    `fit(x)` trains the model to reconstruct `x`; `fit(x, y)` trains it to
    map `x` to `y`, e.g. a noisy or occluded input to its clean original.

    Args:
        encoder: `keras.Model` mapping inputs of shape `input_shape` to codes
            of shape `code_shape`: a vector `(latent_dim,)` or a feature map
            `(height, width, channels)`.
        decoder: `keras.Model` mapping codes of shape `code_shape` back to
            outputs of shape `input_shape`.
        reconstruction_loss: `"mse"` (squared error) or `"bce"` (binary
            cross-entropy, for targets in [0, 1] and a sigmoid output). Summed
            over the features of each example.
        **kwargs: Base model keyword arguments, such as `name`.

    Call arguments:
        inputs: Tensor of shape `(batch_size, *input_shape)`.
        training: Python bool, whether the model runs in training mode.

    Example:

    >>> model = keras_ae.build_autoencoder("dense", (28, 28, 1), latent_dim=8)
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(x_train, epochs=1, verbose=0)
    >>> codes = model.encode(x_train[:4])          # shape (4, 8)
    >>> images = model.reconstruct(x_train[:4])    # shape (4, 28, 28, 1)
    """

    def __init__(self, encoder, decoder, reconstruction_loss="mse", **kwargs):
        super().__init__(**kwargs)
        check_choice("reconstruction_loss", reconstruction_loss,
                     RECONSTRUCTION_LOSSES)
        # === Layers ===
        self.encoder = encoder
        self.decoder = decoder
        # === Config ===
        self.reconstruction_loss = reconstruction_loss
        # What `build_autoencoder` built the model from, or `None`.
        self.architecture = None
        self.input_shape_ = tuple(encoder.input_shape[1:])
        # The code is a vector `(latent_dim,)` or a feature map
        # `(height, width, channels)`; `latent_dim` is its size either way.
        self.code_shape = tuple(int(d) for d in decoder.input_shape[1:])
        self.latent_dim = math.prod(self.code_shape)
        # === Metrics ===
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(
            name="reconstruction_loss"
        )

    def build(self, input_shape=None):
        # The encoder and decoder arrive built and no other layer holds
        # weights. Building records the input shape, which saving, loading
        # and export need, and locks the model's state.
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_loss_tracker]

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """Configures the model for training.

        The model computes its own loss (see `reconstruction_loss` and, for a
        VAE, `beta`), so `loss` and `metrics` must be left unset.
        """
        if loss is not None:
            raise ValueError(
                f"{type(self).__name__} computes its own loss; `compile` does "
                f"not take one. Received: loss={loss!r}. Choose the "
                "reconstruction loss when building the model: "
                f"reconstruction_loss={RECONSTRUCTION_LOSSES}."
            )
        if metrics:
            raise ValueError(
                f"{type(self).__name__} logs its own metrics ("
                f"{', '.join(m.name for m in self.metrics)}); `compile` does "
                f"not take any. Received: metrics={metrics!r}"
            )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # Restores the optimizer (and its state) of a saved model.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # --- NumPy data is checked before any step runs --------------------------

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        x, y, validation_data = check_model_data(self, x, y, validation_data)
        return super().fit(x, y, *args, validation_data=validation_data,
                           **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x, y, _ = check_model_data(self, x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        x, _, _ = check_model_data(self, x, targets=False, allow_empty=True)
        if isinstance(x, np.ndarray) and len(x) == 0:
            return np.zeros((0, *self.input_shape_), dtype="float32")
        return super().predict(x, *args, **kwargs)

    # --- Forward pass -------------------------------------------------------

    def check_inputs(self, inputs, argument="x"):
        """Raises `ValueError` if `inputs` does not match the model's input shape."""
        shape = tuple(inputs.shape)
        if len(shape) != len(self.input_shape_) + 1 or any(
            d is not None and d != e for d, e in zip(shape[1:], self.input_shape_)
        ):
            raise ValueError(
                f"`{argument}` must have shape (batch_size, "
                f"{', '.join(map(str, self.input_shape_))}) for this model. "
                f"Received: {argument} with shape {shape}"
            )

    def call(self, inputs, training=False):
        self.check_inputs(inputs)
        return self.decoder(self.encoder(inputs, training=training),
                            training=training)

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the batch's loss terms as a dict of scalars.

        Each term is reduced as `sum_i(w_i * term_i) / batch_size`.
        """
        self.check_inputs(x)
        reconstruction = self(x, training=training)
        return {
            "reconstruction_loss": _reduce(
                reconstruction_loss_fn(y, reconstruction, self.reconstruction_loss),
                sample_weight,
            )
        }

    def total_loss(self, terms):
        """The logged `loss`: the objective the model is judged by."""
        return terms["reconstruction_loss"]

    def training_loss(self, terms):
        """The loss the gradient step follows; `total_loss` by default."""
        return self.total_loss(terms)

    # --- Training -----------------------------------------------------------

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            y = x
        with tf.GradientTape() as tape:
            terms = self.compute_terms(x, y, sample_weight, training=True)
            loss = self.training_loss(terms)
            # Under tf.distribute each replica's gradients are summed: scale
            # the per-replica mean so that the sum is the global-batch mean.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled_loss = self.optimizer.scale_loss(loss / replicas)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._update_trackers(self.total_loss(terms), terms, x)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            y = x
        terms = self.compute_terms(x, y, sample_weight, training=False)
        return self._update_trackers(self.total_loss(terms), terms, x)

    def _update_trackers(self, loss, terms, x):
        batch_size = ops.cast(ops.shape(x)[0], "float32")
        self.loss_tracker.update_state(loss, sample_weight=batch_size)
        for tracker in self.metrics[1:]:
            tracker.update_state(terms[tracker.name], sample_weight=batch_size)
        logs = {m.name: m.result() for m in self.metrics}
        if is_multi_worker():
            # Keras' `fit` reduces the logs of several workers along axis 0,
            # which a scalar does not have (tensorflow/tensorflow#72388).
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    # --- The verbs of every autoencoder ---------------------------------------

    def encode(self, x, batch_size=256):
        """Returns the codes of `x` as a NumPy array `(num_examples, *code_shape)`.

        For a VAE the code is the posterior mean `z_mean`.
        """
        return self._batched(lambda b: self._code(self.encoder(b, training=False)),
                             x, batch_size, check=True,
                             output_shape=self.code_shape)

    def decode(self, z, batch_size=256):
        """Returns the decoder's outputs for codes `z` as a NumPy array."""
        z = np.asarray(z, dtype="float32")
        if z.shape[1:] != self.code_shape:
            raise ValueError(
                "`z` must have shape (num_codes, "
                f"{', '.join(map(str, self.code_shape))}). "
                f"Received: z with shape {z.shape}"
            )
        return self._batched(lambda b: self.decoder(b, training=False), z,
                             batch_size, output_shape=self.input_shape_,
                             name="z")

    def reconstruct(self, x, batch_size=256):
        """Returns the deterministic reconstructions of `x` as a NumPy array."""
        return self._batched(lambda b: self(b, training=False), x, batch_size,
                             check=True, output_shape=self.input_shape_)

    def interpolate(self, x_start, x_end, num_steps=8):
        """Decodes `num_steps` codes on the segment between two inputs' codes.

        Args:
            x_start: One input, shape `input_shape`.
            x_end: One input, shape `input_shape`.
            num_steps: int >= 2, number of points including both ends.

        Returns:
            NumPy array of shape `(num_steps, *input_shape)`.
        """
        num_steps = check_positive_int("num_steps", num_steps)
        if num_steps < 2:
            raise ValueError(
                f"`num_steps` must be >= 2. Received: num_steps={num_steps}"
            )
        codes = self.encode(np.stack([x_start, x_end]))
        weights = np.linspace(0.0, 1.0, num_steps, dtype="float32")[:, None]
        return self.decode((1.0 - weights) * codes[0] + weights * codes[1])

    def _code(self, encoder_outputs):
        return encoder_outputs

    def _batched(self, fn, x, batch_size, check=False, output_shape=None,
                 name="x"):
        batch_size = check_positive_int("batch_size", batch_size)
        x = check_examples(name, x, self.input_shape_ if check else None,
                           allow_empty=True)
        outputs = [
            keras.ops.convert_to_numpy(fn(x[i:i + batch_size]))
            for i in range(0, len(x), batch_size)
        ]
        if not outputs:
            return np.zeros((0, *(output_shape or ())), dtype="float32")
        return np.concatenate(outputs, axis=0)

    # --- Config ---------------------------------------------------------------

    @property
    def family(self):
        """The registered family the model was built from, or `None`."""
        return self.architecture["family"] if self.architecture else None

    def get_config(self):
        """Returns the model's config.

        A model from `keras_ae.build_autoencoder` returns that function's
        arguments (family, input shape, latent size or code shape, every
        family option, loss, and for a VAE beta and seed), and `from_config`
        rebuilds it through the registry. A model assembled from any encoder
        and decoder returns their serialized graphs.
        """
        config = {"name": self.name, "trainable": self.trainable,
                  "reconstruction_loss": self.reconstruction_loss}
        if self.architecture:
            return {**config, **_to_json(self.architecture),
                    "variational": isinstance(self, VariationalAutoEncoder)}
        return {**config,
                "encoder": keras.layers.serialize(self.encoder),
                "decoder": keras.layers.serialize(self.decoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        trainable = config.pop("trainable", True)
        if "family" in config:
            from keras_ae.registry import build_autoencoder

            options = _from_json(config.pop("options"))
            model = build_autoencoder(**_from_json(config), **options)
        else:
            config["encoder"] = keras.layers.deserialize(config["encoder"])
            config["decoder"] = keras.layers.deserialize(config["decoder"])
            model = cls(**config)
            model.build((None, *model.input_shape_))
        model.trainable = trainable
        return model


@keras.saving.register_keras_serializable(package="keras_ae")
class VariationalAutoEncoder(AutoEncoder):
    """A variational autoencoder (Kingma & Welling, 2014).

    The encoder outputs the mean and log-variance of a Gaussian posterior
    `q(z|x)`; a `Sampling` layer draws `z` from it with the
    reparameterization trick; the decoder maps `z` back to the input space.
    Training minimizes the negative ELBO,
    `reconstruction_loss + beta * KL(q(z|x) || N(0, I))`, with the analytic
    KL divergence (`beta != 1` gives a beta-VAE).

    At inference (`training=False`) the model decodes `z_mean`, so its output
    is deterministic and exported models can be compared exactly.

    Args:
        encoder: `keras.Model` mapping inputs to a list `[z_mean, z_log_var]`,
            each of shape `code_shape` (a vector or a feature map).
        decoder: `keras.Model` mapping codes of shape `code_shape` to
            outputs of the input's shape.
        reconstruction_loss: `"mse"` or `"bce"`, summed over features.
        beta: float >= 0, weight of the KL term.
        seed: int or `None`, seed of the `Sampling` layer.
        **kwargs: Base model keyword arguments, such as `name`.

    Example:

    >>> vae = keras_ae.build_autoencoder(
    ...     "dense", (28, 28, 1), latent_dim=2, variational=True)
    >>> vae.compile(optimizer="adam")
    >>> history = vae.fit(x_train, validation_data=(x_val,), epochs=1)
    >>> history.history["val_kl_loss"]
    >>> digits = vae.sample(16, seed=0)            # shape (16, 28, 28, 1)
    """

    def __init__(self, encoder, decoder, reconstruction_loss="mse", beta=1.0,
                 seed=None, **kwargs):
        if not isinstance(encoder.output, (list, tuple)) or len(encoder.output) != 2:
            raise ValueError(
                "`encoder` of a VariationalAutoEncoder must output "
                "[z_mean, z_log_var]. Received: an encoder with outputs "
                f"{encoder.output}"
            )
        beta = check_non_negative_number("beta", beta)
        seed = check_seed("seed", seed)
        super().__init__(encoder, decoder, reconstruction_loss, **kwargs)
        # === Layers ===
        self.sampling = Sampling(seed=seed, name="sampling")
        # === Config ===
        self.beta = beta
        self.seed = seed
        # === State ===
        # The share of the KL term in the gradient step, annealed from 0 to 1
        # by `keras_ae.callbacks.KLWarmup`; the logged loss always weighs it 1.
        self.kl_weight = keras.Variable(1.0, trainable=False, name="kl_weight",
                                        dtype="float32")
        # === Metrics ===
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_loss_tracker,
                self.kl_loss_tracker]

    def call(self, inputs, training=False):
        self.check_inputs(inputs)
        z_mean, z_log_var = self.encoder(inputs, training=training)
        z = self.sampling([z_mean, z_log_var]) if training else z_mean
        return self.decoder(z, training=training)

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the reconstruction and KL terms of the batch.

        The code is sampled in training and in evaluation alike, so that the
        evaluated loss is a one-sample estimate of the negative ELBO.
        """
        self.check_inputs(x)
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        reconstruction = self.decoder(z, training=training)
        return {
            "reconstruction_loss": _reduce(
                reconstruction_loss_fn(y, reconstruction, self.reconstruction_loss),
                sample_weight,
            ),
            "kl_loss": _reduce(kl_divergence(z_mean, z_log_var), sample_weight),
        }

    def total_loss(self, terms):
        return terms["reconstruction_loss"] + self.beta * terms["kl_loss"]

    def training_loss(self, terms):
        # `kl_weight` is 1 unless a `keras_ae.callbacks.KLWarmup` anneals it.
        kl_weight = ops.cast(self.kl_weight, "float32")
        return (terms["reconstruction_loss"]
                + self.beta * kl_weight * terms["kl_loss"])

    def load_own_variables(self, store):
        # Files written before `kl_weight` existed hold no variable of the
        # model itself: keep its value, 1.
        if len(store.keys()) == 0:
            return
        super().load_own_variables(store)

    def encode_distribution(self, x, batch_size=256):
        """Returns `(z_mean, z_log_var)` of the posterior of `x` as NumPy arrays."""
        both = self._batched(
            lambda b: ops.stack(self.encoder(b, training=False), axis=1),
            x, batch_size, check=True, output_shape=(2, *self.code_shape),
        )
        return both[:, 0], both[:, 1]

    def sample(self, num_samples, seed=None):
        """Decodes `num_samples` codes drawn from the prior N(0, I).

        Args:
            num_samples: int > 0.
            seed: int or `None`. The same seed gives the same samples.

        Returns:
            NumPy array of shape `(num_samples, *input_shape)`.
        """
        num_samples = check_positive_int("num_samples", num_samples)
        seed = check_seed("seed", seed)
        z = keras.random.normal((num_samples, *self.code_shape), seed=seed)
        return self.decode(keras.ops.convert_to_numpy(z))

    def _code(self, encoder_outputs):
        return encoder_outputs[0]

    def get_config(self):
        config = super().get_config()
        config.update({"beta": self.beta, "seed": self.seed})
        return config


def _to_json(value):
    """Tuples to lists, recursively: the config as JSON will hold it."""
    if isinstance(value, dict):
        return {key: _to_json(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def _from_json(value):
    """Lists back to tuples, recursively, as the builders take them."""
    if isinstance(value, dict):
        return {key: _from_json(v) for key, v in value.items()}
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value


def _reduce(per_example, sample_weight):
    """`sum(w * loss) / batch_size`, Keras' "sum_over_batch_size" reduction."""
    if sample_weight is not None:
        sample_weight = ops.reshape(
            ops.cast(sample_weight, per_example.dtype), (-1,))
        per_example = per_example * sample_weight
    return ops.mean(per_example)
