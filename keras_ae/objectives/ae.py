"""The plain autoencoder, `objective="ae"`, and the base class of every objective.

`AutoEncoder` holds an `encoder` and a `decoder` and trains with its own
`train_step` and `test_step`, so `compile(optimizer=...)` followed by `fit`
is all a model needs. An objective is a subclass that changes what the
encoder outputs (`build_encoder`), which loss terms a batch has
(`compute_terms`) and how they add up (`total_loss`, `training_loss`); the
verbs (`encode`, `decode`, `reconstruct`, `interpolate`), the data checks,
the serving signatures and the config come with the base class.

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
from keras_ae.checks import check_fits_in_memory
from keras_ae.checks import check_model_data
from keras_ae.checks import check_number
from keras_ae.checks import check_optimizer
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_sample_weight
from keras_ae.checks import refuse
from keras_ae.compat import MultiWorkerSymbolicBuild
from keras_ae.distribute import is_multi_worker
from keras_ae.losses import RECONSTRUCTION_LOSSES
from keras_ae.losses import reconstruction_loss as reconstruction_loss_fn
from keras_ae.registry import get_family
from keras_ae.registry import register_objective
from keras_ae.samplers import GaussianMixtureSampler
from keras_ae.spec import ModelSpec

__all__ = ["AutoEncoder", "code_head", "reduce_per_example"]


def code_head(features, spec, name, units=None, **kwargs):
    """A latent head on the backbone's features: `Dense`, or a 1x1 `Conv2D` for a map code."""
    units = units or spec.code_shape[-1]
    if len(spec.code_shape) == 3:
        return keras.layers.Conv2D(units, 1, name=name, **kwargs)(features)
    return keras.layers.Dense(units, name=name, **kwargs)(features)


def reduce_per_example(per_example, sample_weight):
    """`sum(w * loss) / batch_size`, Keras' "sum_over_batch_size" reduction."""
    if sample_weight is not None:
        sample_weight = ops.reshape(
            ops.cast(sample_weight, per_example.dtype), (-1,))
        per_example = per_example * sample_weight
    return ops.mean(per_example)


@register_objective("ae")
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

    # The batch's loss terms, each logged with its own `Mean` tracker.
    loss_terms = ("reconstruction_loss",)
    # Whether the model takes class labels with its inputs, as the dict
    # `{"inputs": x, "labels": labels}` (`keras_ae.data.make_dataset(...,
    # labels=...)` builds it).
    conditional = False

    def __init__(self, encoder, decoder, reconstruction_loss="mse", **kwargs):
        super().__init__(**kwargs)
        # === Layers ===
        self.encoder = encoder
        self.decoder = decoder
        # === Config ===
        self.reconstruction_loss = check_choice(
            "reconstruction_loss", reconstruction_loss, RECONSTRUCTION_LOSSES)
        # What `build_autoencoder` built the model from, or `None`.
        self.spec = None
        self.input_shape_ = tuple(encoder.input_shape[1:]) if not isinstance(
            encoder.input, (list, tuple, dict)) else tuple(
                encoder.inputs[0].shape[1:])
        # The code is a vector `(latent_dim,)` or a feature map
        # `(height, width, channels)`; `latent_dim` is its size either way.
        self.code_shape = self.code_shape_of(encoder, decoder)
        self.latent_dim = math.prod(self.code_shape)
        # === Metrics ===
        self.loss_tracker = keras.metrics.Mean(name="loss")
        for term in self.loss_terms:
            setattr(self, f"{term}_tracker", keras.metrics.Mean(name=term))

    def code_shape_of(self, encoder, decoder):
        """The shape of one code; the decoder's input by default."""
        return tuple(int(d) for d in decoder.input_shape[1:])

    def build(self, input_shape=None):
        # The encoder and decoder arrive built and no other layer holds
        # weights. Building records the input shape, which saving, loading
        # and export need, and locks the model's state.
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker,
                *(getattr(self, f"{term}_tracker") for term in self.loss_terms)]

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """Configures the model for training.

        The model computes its own loss (see `reconstruction_loss` and the
        objective's options), so `loss` and `metrics` must be left unset,
        and so must `loss_weights` and `weighted_metrics`, which it would
        ignore. `optimizer` is a Keras optimizer or the name of one.
        """
        if loss is not None:
            raise ValueError(
                f"{type(self).__name__} computes its own loss; `compile` does "
                f"not take one. Received: loss={loss!r}. Choose the "
                "reconstruction loss when building the model: "
                f"reconstruction_loss={RECONSTRUCTION_LOSSES}.")
        if metrics:
            raise ValueError(
                f"{type(self).__name__} logs its own metrics ("
                f"{', '.join(m.name for m in self.metrics)}); `compile` does "
                f"not take any. Received: metrics={metrics!r}")
        for ignored in ("loss_weights", "weighted_metrics"):
            if kwargs.get(ignored) is not None:
                raise ValueError(
                    f"{type(self).__name__} computes its own loss, so "
                    f"`compile` does not take `{ignored}`, which it would "
                    f"ignore. Received: {ignored}={kwargs[ignored]!r}. Weigh "
                    "the examples with fit(..., sample_weight=...) instead.")
        check_optimizer("optimizer", optimizer)
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # Restores the optimizer (and its state) of a saved model.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # --- NumPy data is checked before any step runs --------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto",
            callbacks=None, validation_split=0.0, validation_data=None,
            shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, **kwargs):
        """`keras.Model.fit`, with the data and the arguments checked first.

        `sample_weight` (one weight >= 0 per example) weighs each example's
        loss, `sum_i(w_i * loss_i) / batch_size`, with or without `y`
        (without it the target is `x`: Keras alone would drop the weights).
        """
        x, y, validation_data = check_model_data(self, x, y, validation_data)
        _check_fit_arguments(batch_size=batch_size, epochs=epochs,
                             initial_epoch=initial_epoch,
                             validation_split=validation_split,
                             class_weight=class_weight)
        x, y, sample_weight = _weighted(x, y, sample_weight)
        return super().fit(
            x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
            callbacks=callbacks, validation_split=validation_split,
            validation_data=validation_data, shuffle=shuffle,
            sample_weight=sample_weight, initial_epoch=initial_epoch,
            **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto",
                 sample_weight=None, **kwargs):
        """`keras.Model.evaluate`, with the data and the arguments checked first."""
        x, y, _ = check_model_data(self, x, y)
        _check_fit_arguments(batch_size=batch_size)
        x, y, sample_weight = _weighted(x, y, sample_weight)
        return super().evaluate(x, y, batch_size=batch_size, verbose=verbose,
                                sample_weight=sample_weight, **kwargs)

    def predict(self, x, *args, **kwargs):
        x, _, _ = check_model_data(self, x, targets=False, allow_empty=True)
        if isinstance(x, np.ndarray) and len(x) == 0:
            return np.zeros((0, *self.input_shape_), dtype="float32")
        return super().predict(x, *args, **kwargs)

    # --- Forward pass -------------------------------------------------------

    def check_inputs(self, inputs, argument="x"):
        """Raises `ValueError` if `inputs` does not match the model's input shape."""
        if isinstance(inputs, dict):
            raise ValueError(
                f"A {type(self).__name__} takes no labels: `{argument}` must "
                f"be a tensor of inputs. Received: {argument} as a dict with "
                f"keys {sorted(inputs)}")
        shape = tuple(inputs.shape)
        if len(shape) != len(self.input_shape_) + 1 or any(
            d is not None and d != e for d, e in zip(shape[1:], self.input_shape_)
        ):
            raise ValueError(
                f"`{argument}` must have shape (batch_size, "
                f"{', '.join(map(str, self.input_shape_))}) for this model. "
                f"Received: {argument} with shape {shape}")

    def call(self, inputs, training=False):
        self.check_inputs(inputs)
        return self.decoder(self.encoder(inputs, training=training),
                            training=training)

    def reconstruction_term(self, y, reconstruction, sample_weight):
        """The batch's reconstruction loss, reduced over the batch."""
        return reduce_per_example(
            reconstruction_loss_fn(y, reconstruction, self.reconstruction_loss),
            sample_weight)

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the batch's loss terms as a dict of scalars.

        Each term is reduced as `sum_i(w_i * term_i) / batch_size`.
        """
        self.check_inputs(x)
        reconstruction = self(x, training=training)
        return {"reconstruction_loss": self.reconstruction_term(
            y, reconstruction, sample_weight)}

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
        batch_size = ops.cast(ops.shape(tf.nest.flatten(x)[0])[0], "float32")
        self.loss_tracker.update_state(loss, sample_weight=batch_size)
        for tracker in self.metrics[1:]:
            tracker.update_state(terms[tracker.name], sample_weight=batch_size)
        logs = {m.name: m.result() for m in self.metrics}
        if is_multi_worker():
            # Keras' `fit` reduces the logs of several workers along axis 0,
            # which a scalar does not have (tensorflow/tensorflow#72388).
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def finish_training(self, x, y=None, seed=0, verbose=0):
        """Trains what the model needs after `fit`, before it is saved.

        The main job calls it once `fit` has ended. A model that generates
        through a second model (e.g. a learned prior over its codes) trains
        it here. A model without a prior (`sample`) and with vector codes
        (an AE, an RAE) gets an ex-post sampler: a Gaussian mixture fitted
        to its training codes, `model.sampler`, which the main job saves as
        `sampler.json` and judges as it judges a VAE's prior.

        Args:
            x: the training inputs.
            y: their labels, or `None`.
            seed: int, seed of that training.
            verbose: Keras' `fit` verbosity.
        """
        if not hasattr(self, "sample") and len(self.code_shape) == 1:
            self.sampler = GaussianMixtureSampler(seed=seed).fit(self, x)

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
                f"Received: z with shape {z.shape}")
        return self._batched(self._decode_codes, z, batch_size,
                             output_shape=self.input_shape_, name="z")

    def _decode_codes(self, z):
        """The decoder at inference on a batch of codes (a VQ-VAE quantizes first)."""
        return self.decoder(z, training=False)

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
        if check_positive_int("num_steps", num_steps) < 2:
            raise ValueError(
                f"`num_steps` must be >= 2. Received: num_steps={num_steps}")
        check_fits_in_memory(
            "num_steps", num_steps,
            4 * (math.prod(self.input_shape_) + self.latent_dim),
            f"float32 codes and outputs of shape {self.input_shape_}")
        codes = self.encode(np.stack([x_start, x_end]))
        weights = np.linspace(0.0, 1.0, num_steps, dtype="float32")[:, None]
        weights = weights.reshape((num_steps,) + (1,) * len(self.code_shape))
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

    # --- Serving ----------------------------------------------------------------

    def serving_signatures(self):
        """The SavedModel signatures: `{name: (function, [tf.TensorSpec, ...])}`.

        Each function takes the named tensors of its specs and returns a dict
        of named float32 outputs, at inference (`training=False`): the
        signatures are deterministic. `keras_ae.export` exports exactly these.
        """
        inputs = tf.TensorSpec((None, *self.input_shape_), tf.float32,
                               name="inputs")
        z = tf.TensorSpec((None, *self.code_shape), tf.float32, name="z")

        def serving_default(inputs):
            return {"reconstruction": _float32(self(inputs, training=False))}

        def encode(inputs):
            return _float32_dict(self.encode_outputs(inputs))

        def decode(z):
            return {"reconstruction": _float32(self.decoder(z, training=False))}

        return {"serving_default": (serving_default, [inputs]),
                "encode": (encode, [inputs]), "decode": (decode, [z])}

    def encode_outputs(self, inputs):
        """The `encode` signature's outputs: `{"z": codes}` for an AE."""
        return {"z": self.encoder(inputs, training=False)}

    # --- Config ---------------------------------------------------------------

    @classmethod
    def from_spec(cls, spec):
        """Builds the model a `ModelSpec` describes (see `build_autoencoder`)."""
        backbone, decoder = get_family(spec.family).builder(
            spec.input_shape, cls.decoder_code_shape(spec),
            **spec.family_options)
        code_shape = spec.code_shape
        expected = (None, *code_shape[:-1]) if len(code_shape) == 3 else (None,)
        if tuple(backbone.output.shape[:-1]) != expected:
            raise ValueError(
                f"The backbone of family {spec.family!r} must output features "
                f"of shape {(*expected, 'features')} for a code of shape "
                f"{code_shape}. Received: features of shape "
                f"{tuple(backbone.output.shape)}")
        encoder = cls.build_encoder(backbone, spec)
        model = cls(encoder, decoder, reconstruction_loss=spec.reconstruction_loss,
                    name=spec.name or f"{spec.family}_{spec.objective}",
                    **spec.objective_options)
        model.spec = spec
        model.build((None, *spec.input_shape))
        return model

    @classmethod
    def build_encoder(cls, backbone, spec):
        """The encoder: the backbone and the latent head(s) of the objective."""
        z = code_head(backbone.output, spec, "z")
        return keras.Model(backbone.input, z, name=f"{spec.family}_encoder")

    @classmethod
    def decoder_code_shape(cls, spec):
        """The shape of the decoder's input for a spec: its code shape."""
        return spec.code_shape

    @property
    def family(self):
        """The registered family the model was built from, or `None`."""
        return self.spec.family if self.spec else None

    def get_config(self):
        """Returns the model's config.

        A model from `keras_ae.build_autoencoder` returns its `ModelSpec`
        (family, input shape, code, objective, every option, loss), and
        `from_config` rebuilds it through the registries. A model assembled
        from any encoder and decoder returns their serialized graphs.
        """
        config = {"name": self.name, "trainable": self.trainable}
        if self.spec is not None:
            return {**config, **self.spec.to_config()}
        return {**config, "reconstruction_loss": self.reconstruction_loss,
                **self.graph_config(),
                "encoder": keras.layers.serialize(self.encoder),
                "decoder": keras.layers.serialize(self.decoder)}

    def graph_config(self):
        """The constructor's own arguments, for a hand-assembled model."""
        return {}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        trainable = config.pop("trainable", True)
        if "family" in config:
            model = ModelSpec.from_config(config).build()
        else:
            config["encoder"] = keras.layers.deserialize(config["encoder"])
            config["decoder"] = keras.layers.deserialize(config["decoder"])
            model = cls(**config)
            model.build((None, *model.input_shape_))
        model.trainable = trainable
        return model


def _check_fit_arguments(batch_size=None, epochs=1, initial_epoch=0,
                         validation_split=0.0, class_weight=None):
    """Refuses what Keras' `fit` would take silently or fail on late."""
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    check_positive_int("epochs", epochs)
    if initial_epoch != 0:
        check_positive_int("initial_epoch", initial_epoch)
    try:
        fraction = check_number("validation_split", validation_split,
                                minimum=0, maximum=1) < 1
    except ValueError:
        fraction = False
    if not fraction:
        refuse("validation_split", validation_split,
               "a number in [0, 1), the share of `x` held out for validation")
    if class_weight is not None:
        raise ValueError(
            "An autoencoder reconstructs its inputs and has no classes: `fit` "
            f"does not take `class_weight`. Received: class_weight="
            f"{class_weight!r}. Weigh examples with sample_weight=...")


def _weighted(x, y, sample_weight):
    """`(x, y, sample_weight)` with the weights checked and kept by Keras.

    Keras drops the weights of data without targets, so the target is made
    explicit when there are weights: `x` itself, or a conditional model's
    `inputs`.
    """
    if sample_weight is None:
        return x, y, None
    inputs = x["inputs"] if isinstance(x, dict) and "inputs" in x else x
    if not isinstance(inputs, np.ndarray):
        raise ValueError(
            "`sample_weight` weighs the examples of array inputs; a dataset "
            "carries its weights in its batches, (x, y, sample_weight). "
            f"Received: x of type {type(x).__name__} and sample_weight")
    sample_weight = check_sample_weight("sample_weight", sample_weight,
                                        len(inputs))
    return x, inputs if y is None else y, sample_weight


def _float32(tensor):
    return tf.cast(tensor, tf.float32)


def _float32_dict(outputs):
    return {name: _float32(value) for name, value in outputs.items()}
