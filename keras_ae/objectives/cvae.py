"""The conditional VAE, `objective="cvae"` (Sohn et al., 2015).

A VAE whose encoder and decoder both see the class label of each example:
`q(z | x, c)` and `p(x | z, c)`. Asking the decoder for a class is then a
matter of passing that class: `sample(100, labels=3)` draws threes.

How the label enters: a one-hot vector of the label is concatenated to the
backbone's features before the latent heads, and to the code before the
decoder, so the decoder's input has `latent_dim + num_classes` values (the
generic way, every family). A family that keeps the image's map (the conv
family, `map_codes=True`) also sees the label from its first layer, as
one-hot planes beside the image's channels: the generic way alone let the
class leak into the code, and samples drawn with `z ~ N(0, I)` followed the
code's class rather than the asked one (measured in `ConditionalVAE`).
"""

import numbers

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ae.checks import check_examples
from keras_ae.checks import check_model_data
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.checks import refuse
from keras_ae.losses import kl_divergence
from keras_ae.objectives.ae import code_head
from keras_ae.objectives.ae import reduce_per_example
from keras_ae.objectives.vae import VariationalAutoEncoder
from keras_ae.registry import get_family
from keras_ae.registry import register_objective

__all__ = ["ConditionalVAE", "LabelOneHot", "LabelPlanes"]

INPUTS = "inputs"
LABELS = "labels"


def _check_num_classes(num_classes):
    if check_positive_int("num_classes", num_classes) < 2:
        refuse("num_classes", num_classes, "an integer >= 2")
    return int(num_classes)


@keras.saving.register_keras_serializable(package="keras_ae")
class LabelOneHot(keras.layers.Layer):
    """Turns integer class labels into float32 one-hot vectors.

    Args:
        num_classes: int >= 2, the length of the vectors.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        labels: Int tensor of shape `(batch_size,)`.

    Returns:
        Float32 tensor of shape `(batch_size, num_classes)`; a label outside
        `[0, num_classes)` gives a row of zeros (the models' verbs refuse
        such labels before they get here).

    Example:

    >>> LabelOneHot(3)(np.array([0, 2]))
    <tf.Tensor: shape=(2, 3), dtype=float32, numpy=
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)>
    """

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = _check_num_classes(num_classes)

    def call(self, labels):
        return ops.one_hot(ops.cast(labels, "int32"), self.num_classes,
                           dtype="float32")

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="keras_ae")
class LabelPlanes(keras.layers.Layer):
    """Spreads one-hot labels over an image's height and width, as planes.

    Args:
        height: int > 0.
        width: int > 0.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        one_hot: Float tensor of shape `(batch_size, num_classes)`.

    Returns:
        Float32 tensor of shape `(batch_size, height, width, num_classes)`:
        plane `c` is 1 everywhere for a label `c`, 0 for the others.

    Example:

    >>> LabelPlanes(2, 3)(LabelOneHot(4)(np.array([1]))).shape
    TensorShape([1, 2, 3, 4])
    """

    def __init__(self, height, width, **kwargs):
        super().__init__(**kwargs)
        self.height = check_positive_int("height", height)
        self.width = check_positive_int("width", width)

    def call(self, one_hot):
        # A product with ones broadcasts with builtin TensorFlow Lite ops.
        ones = ops.ones((1, self.height, self.width, 1), dtype="float32")
        return ones * ops.cast(one_hot, "float32")[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height,
                "width": self.width}


@register_objective("cvae", map_codes=False)
@keras.saving.register_keras_serializable(package="keras_ae")
class ConditionalVAE(VariationalAutoEncoder):
    """A conditional VAE: encoder and decoder conditioned on a class label.

    The model takes its inputs with their labels, as the dict
    `{"inputs": x, "labels": labels}` (integer labels in
    `[0, num_classes)`), in `fit`, `evaluate` and `predict` alike; no target
    is needed (the target is `x`). `keras_ae.data.make_dataset(x,
    labels=y)` builds that pipeline. Training minimizes the conditional
    negative ELBO, `reconstruction_loss + beta * KL(q(z|x, c) || N(0, I))`.

    The verbs take the labels beside the inputs: `encode(x, labels)`,
    `decode(z, labels)`, `reconstruct(x, labels)`; `sample(n, labels)`
    decodes `z ~ N(0, I)` with the asked labels (an int for one class, an
    array for one label per sample, `None` for classes in turn). A missing
    label, a label outside `[0, num_classes)` or a label array of the
    wrong length is refused with a `ValueError` before anything runs.

    How the label enters: a one-hot vector concatenated to the backbone's
    features before the latent heads and to the code before the decoder, on
    every family; the conv family also takes it as one-hot planes beside
    the image's channels. On the embedded digits the planes made the
    samples of the asked class clearly more recognisable than the label
    joining the features alone: the planes let the encoder take the class
    out of the code, while the backbone's features already carry the class
    before a label that joins them late.

    Args:
        encoder: `keras.Model` mapping `[inputs, labels]` to
            `[z_mean, z_log_var]`, each of shape `(latent_dim,)`; labels are
            int32 of shape `(batch_size,)`.
        decoder: `keras.Model` mapping codes of shape
            `(latent_dim + num_classes,)` (the code, then the one-hot label)
            to outputs of the input's shape.
        reconstruction_loss: `"mse"` or `"bce"`, summed over features.
        num_classes: int >= 2, the number of classes.
        beta: float >= 0, weight of the KL term.
        seed: int or `None`, seed of the `Sampling` layer.
        **kwargs: Base model keyword arguments, such as `name`.

    Call arguments:
        inputs: the dict `{"inputs": x, "labels": labels}`.
        training: Python bool, whether the model runs in training mode.

    Example:

    >>> cvae = keras_ae.build_autoencoder(
    ...     "conv", (28, 28, 1), latent_dim=16, objective="cvae",
    ...     num_classes=10, reconstruction_loss="bce")
    >>> cvae.compile(optimizer="adam")
    >>> history = cvae.fit({"inputs": x_train, "labels": y_train}, epochs=1)
    >>> sevens = cvae.sample(16, labels=7, seed=0)   # shape (16, 28, 28, 1)
    >>> codes = cvae.encode(x_val, y_val)           # shape (n, 16)
    """

    conditional = True

    def __init__(self, encoder, decoder, reconstruction_loss="mse",
                 num_classes=10, beta=1.0, seed=None, **kwargs):
        num_classes = _check_num_classes(num_classes)
        if not isinstance(encoder.input, (list, tuple)) or len(
                encoder.inputs) != 2:
            raise ValueError(
                f"`encoder` of a {type(self).__name__} must take "
                "[inputs, labels]. Received: an encoder with inputs "
                f"{encoder.input}")
        super().__init__(encoder, decoder, reconstruction_loss, beta=beta,
                         seed=seed, **kwargs)
        expected = (self.code_shape[0] + num_classes,)
        if tuple(decoder.input_shape[1:]) != expected:
            raise ValueError(
                f"`decoder` of a {type(self).__name__} must take codes of "
                f"shape {expected}: latent_dim={self.code_shape[0]} values, "
                f"then the one-hot label of num_classes={num_classes}. "
                f"Received: a decoder with input shape {decoder.input_shape}")
        # === Config ===
        self.num_classes = num_classes
        # === Layers ===
        self.label_one_hot = LabelOneHot(num_classes, name="label_one_hot")

    @classmethod
    def build_encoder(cls, backbone, spec):
        num_classes = spec.objective_options["num_classes"]
        labels = keras.Input((), dtype="int32", name=LABELS)
        one_hot = LabelOneHot(num_classes, name="encoder_label_one_hot")(labels)
        inputs = backbone.input
        family = get_family(spec.family)
        if family.map_codes:
            # A family that keeps the image's map sees the label from its
            # first layer, as one-hot planes beside the image's channels
            # (see the class docstring for the measurement).
            height, width = spec.input_shape[:2]
            channels = spec.input_shape[2] if len(spec.input_shape) == 3 else 1
            inputs = keras.Input(spec.input_shape, name=INPUTS)
            images = inputs if len(spec.input_shape) == 3 else (
                keras.layers.Reshape((height, width, 1), name="add_channel")(
                    inputs))
            planes = LabelPlanes(height, width, name="label_planes")(one_hot)
            backbone = family.builder(
                (height, width, channels + num_classes),
                cls.decoder_code_shape(spec), **spec.family_options)[0]
            features = backbone(keras.layers.Concatenate(
                name="image_and_label_planes")([images, planes]))
        else:
            features = backbone.output
        features = keras.layers.Concatenate(name="features_and_label")(
            [features, one_hot])
        z_mean = code_head(features, spec, "z_mean")
        # A zero kernel starts every posterior at unit variance.
        z_log_var = code_head(features, spec, "z_log_var",
                              kernel_initializer="zeros")
        return keras.Model([inputs, labels], [z_mean, z_log_var],
                           name=f"{spec.family}_encoder")

    @classmethod
    def decoder_code_shape(cls, spec):
        num_classes = _check_num_classes(spec.objective_options["num_classes"])
        return (spec.latent_dim + num_classes,)

    def code_shape_of(self, encoder, decoder):
        return tuple(int(d) for d in encoder.output[0].shape[1:])

    def _build_with_labels(self):
        # Keras records the shapes `build` was called with, and the default
        # signature that SavedModel export traces calls the model on them:
        # they must be the dict the model takes, not the images' shape.
        self.build({INPUTS: (None, *self.input_shape_), LABELS: (None,)})
        return self

    @classmethod
    def from_spec(cls, spec):
        return super().from_spec(spec)._build_with_labels()

    @classmethod
    def from_config(cls, config):
        return super().from_config(config)._build_with_labels()

    # --- Labels -----------------------------------------------------------------

    def check_labels(self, labels, num_examples, name="labels"):
        """Returns `labels` as an int32 array of `num_examples` valid labels.

        Args:
            labels: an int (the same class for every example) or an array
                of integer labels, one per example, in `[0, num_classes)`.
            num_examples: int, how many examples the labels go with.
            name: str, the argument named in errors.

        Returns:
            Int32 NumPy array of shape `(num_examples,)`.
        """
        if labels is None:
            raise ValueError(
                f"A {type(self).__name__} needs the class label of every "
                f"example: pass `{name}`, integers in [0, {self.num_classes})."
                f" Received: {name}=None")
        if isinstance(labels, numbers.Integral) and not isinstance(labels, bool):
            labels = np.full((num_examples,), labels)
        array = np.asarray(labels)
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
            if not (np.issubdtype(array.dtype, np.floating) and array.size
                    and np.all(np.isfinite(array))
                    and np.all(np.mod(array, 1) == 0)):
                raise ValueError(
                    f"`{name}` must hold integer class labels. Received: "
                    f"{name} of dtype {array.dtype} with shape {array.shape}")
        if array.ndim != 1 or len(array) != num_examples:
            raise ValueError(
                f"`{name}` must hold one label per example: shape "
                f"({num_examples},). Received: {name} with shape "
                f"{array.shape}")
        if array.size and (array.min() < 0 or array.max() >= self.num_classes):
            raise ValueError(
                f"`{name}` must lie in [0, num_classes) = [0, "
                f"{self.num_classes}). Received: {name} with values in "
                f"[{array.min():g}, {array.max():g}]")
        return array.astype("int32")

    def _split(self, inputs):
        """`(x, labels)` of the model's inputs, the dict `{"inputs", "labels"}`."""
        self._check_keys(inputs)
        return (ops.convert_to_tensor(inputs[INPUTS]),
                ops.cast(inputs[LABELS], "int32"))

    def _check_keys(self, inputs):
        if not isinstance(inputs, dict) or set(inputs) != {INPUTS, LABELS}:
            keys = (f"a dict with keys {sorted(inputs)}"
                    if isinstance(inputs, dict) else "inputs without labels")
            raise ValueError(
                f"A {type(self).__name__} takes its inputs with their labels, "
                f"as the dict {{'{INPUTS}': x, '{LABELS}': labels}} "
                f"(`keras_ae.data.make_dataset(x, labels=y)` builds it). "
                f"Received: {keys}")

    def _check_model_inputs(self, x, name="x", targets=True, allow_empty=False):
        """Checks NumPy dict inputs of `fit`/`evaluate`/`predict`; datasets pass."""
        if not isinstance(x, dict):
            if isinstance(x, (np.ndarray, list)) or hasattr(x, "__array__"):
                self._check_keys(x)  # raises: the labels are missing
            return x
        self._check_keys(x)
        inputs, labels = x[INPUTS], x[LABELS]
        if isinstance(inputs, (np.ndarray, list)) or hasattr(inputs, "__array__"):
            inputs, _, _ = check_model_data(
                self, inputs, targets=targets, allow_empty=allow_empty,
                names=(f"{name}['{INPUTS}']", "y"))
            labels = self.check_labels(labels, len(inputs),
                                       f"{name}['{LABELS}']")
        return {INPUTS: inputs, LABELS: labels}

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        x = self._check_model_inputs(x, targets=y is None)
        if isinstance(validation_data, (tuple, list)) and validation_data:
            validation_data = (self._check_model_inputs(
                validation_data[0], "validation_data[0]",
                targets=len(validation_data) < 2), *validation_data[1:])
        return super().fit(x, y, *args, validation_data=validation_data,
                           **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x = self._check_model_inputs(x, targets=y is None)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        x = self._check_model_inputs(x, targets=False, allow_empty=True)
        if isinstance(x, dict) and isinstance(x[INPUTS], np.ndarray) and (
                len(x[INPUTS]) == 0):
            return np.zeros((0, *self.input_shape_), dtype="float32")
        return super().predict(x, *args, **kwargs)

    # --- Forward pass -------------------------------------------------------

    def _decode(self, z, labels, training=False):
        code = ops.concatenate([ops.cast(z, "float32"),
                                self.label_one_hot(labels)], axis=-1)
        return self.decoder(code, training=training)

    def call(self, inputs, training=False):
        x, labels = self._split(inputs)
        self.check_inputs(x)
        z_mean, z_log_var = self.encoder([x, labels], training=training)
        z = self.sampling([z_mean, z_log_var]) if training else z_mean
        return self._decode(z, labels, training=training)

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the reconstruction and KL terms of a batch of `{"inputs", "labels"}`.

        `y` is the target, or the inputs' dict itself when there is none.
        """
        inputs, labels = self._split(x)
        self.check_inputs(inputs)
        if y is None or isinstance(y, dict):
            y = inputs
        labels = _checked_in_graph(labels, self.num_classes)
        z_mean, z_log_var = self.encoder([inputs, labels], training=training)
        z = self.sampling([z_mean, z_log_var])
        reconstruction = self._decode(z, labels, training=training)
        return {
            "reconstruction_loss": self.reconstruction_term(
                y, reconstruction, sample_weight),
            "kl_loss": reduce_per_example(kl_divergence(z_mean, z_log_var),
                                          sample_weight),
        }

    # --- The verbs, with labels -------------------------------------------------

    def _verb(self, fn, x, labels, batch_size, output_shape):
        """`fn(x_batch, labels_batch)` over batches, as one NumPy array."""
        batch_size = check_positive_int("batch_size", batch_size)
        labels = self.check_labels(labels, len(x))
        outputs = [
            keras.ops.convert_to_numpy(fn(x[i:i + batch_size],
                                          labels[i:i + batch_size]))
            for i in range(0, len(x), batch_size)
        ]
        if not outputs:
            return np.zeros((0, *output_shape), dtype="float32")
        return np.concatenate(outputs, axis=0)

    def _examples(self, x):
        return check_examples("x", x, self.input_shape_, allow_empty=True)

    def encode(self, x, labels=None, batch_size=256):
        """Returns the posterior means of `x` given `labels`, shape `(n, latent_dim)`.

        Args:
            x: inputs of the model's input shape.
            labels: an int or an array of integer labels, one per input.
            batch_size: int > 0.
        """
        x = self._examples(x)
        return self._verb(
            lambda b, c: self.encoder([b, c], training=False)[0], x, labels,
            batch_size, self.code_shape)

    def encode_distribution(self, x, labels=None, batch_size=256):
        """Returns `(z_mean, z_log_var)` of `q(z | x, labels)` as NumPy arrays."""
        x = self._examples(x)
        both = self._verb(
            lambda b, c: ops.stack(self.encoder([b, c], training=False), axis=1),
            x, labels, batch_size, (2, *self.code_shape))
        return both[:, 0], both[:, 1]

    def decode(self, z, labels=None, batch_size=256):
        """Returns the decoder's outputs for codes `z` of the classes `labels`.

        Args:
            z: codes of shape `(n, latent_dim)`.
            labels: an int or an array of integer labels, one per code.
            batch_size: int > 0.
        """
        z = check_examples("z", z, allow_empty=True)
        if z.shape[1:] != self.code_shape:
            raise ValueError(
                f"`z` must have shape (num_codes, {self.code_shape[0]}). "
                f"Received: z with shape {z.shape}")
        return self._verb(lambda b, c: self._decode(b, c), z, labels,
                          batch_size, self.input_shape_)

    def reconstruct(self, x, labels=None, batch_size=256):
        """Returns the deterministic reconstructions of `x` given `labels`."""
        x = self._examples(x)
        return self._verb(lambda b, c: self({INPUTS: b, LABELS: c}), x,
                          labels, batch_size, self.input_shape_)

    def interpolate(self, x_start, x_end, num_steps=8, labels=None):
        """Decodes `num_steps` codes between two inputs' codes, in one class.

        Args:
            x_start: One input, shape `input_shape`.
            x_end: One input, shape `input_shape`.
            num_steps: int >= 2, number of points including both ends.
            labels: int, the class both inputs are encoded and the points
                decoded with.

        Returns:
            NumPy array of shape `(num_steps, *input_shape)`.
        """
        if check_positive_int("num_steps", num_steps) < 2:
            raise ValueError(
                f"`num_steps` must be >= 2. Received: num_steps={num_steps}")
        label = self.check_labels(labels, 1)[0]
        codes = self.encode(np.stack([x_start, x_end]), int(label))
        weights = np.linspace(0.0, 1.0, num_steps, dtype="float32")[:, None]
        return self.decode((1.0 - weights) * codes[0] + weights * codes[1],
                           int(label))

    def balanced_labels(self, num_samples):
        """Labels `0, 1, ..., num_classes - 1, 0, 1, ...`: classes in turn."""
        return np.arange(num_samples, dtype="int32") % self.num_classes

    def sample(self, num_samples, labels=None, seed=None):
        """Decodes `num_samples` codes drawn from N(0, I) with the asked labels.

        Args:
            num_samples: int > 0.
            labels: an int (every sample of that class), an array of one
                label per sample, or `None` (the classes in turn, as evenly
                as `num_samples` allows).
            seed: int or `None`. The same seed and labels give the same
                samples.

        Returns:
            NumPy array of shape `(num_samples, *input_shape)`.
        """
        num_samples = check_positive_int("num_samples", num_samples)
        seed = check_seed("seed", seed)
        if labels is None:
            labels = self.balanced_labels(num_samples)
        labels = self.check_labels(labels, num_samples)
        return self.decode(self.sample_prior(num_samples, seed), labels)

    # --- Serving ----------------------------------------------------------------

    def serving_signatures(self):
        """`serving_default`, `encode` and `decode`, each with an int32 `labels` input."""
        inputs = tf.TensorSpec((None, *self.input_shape_), tf.float32,
                               name=INPUTS)
        labels = tf.TensorSpec((None,), tf.int32, name=LABELS)
        z = tf.TensorSpec((None, *self.code_shape), tf.float32, name="z")

        def serving_default(inputs, labels):
            outputs = self({INPUTS: inputs, LABELS: labels}, training=False)
            return {"reconstruction": tf.cast(outputs, tf.float32)}

        def encode(inputs, labels):
            z_mean, z_log_var = self.encoder([inputs, labels], training=False)
            return {"z_mean": tf.cast(z_mean, tf.float32),
                    "z_log_var": tf.cast(z_log_var, tf.float32)}

        def decode(z, labels):
            return {"reconstruction": tf.cast(self._decode(z, labels),
                                              tf.float32)}

        return {"serving_default": (serving_default, [inputs, labels]),
                "encode": (encode, [inputs, labels]),
                "decode": (decode, [z, labels])}

    def graph_config(self):
        return {"num_classes": self.num_classes, **super().graph_config()}


def _checked_in_graph(labels, num_classes):
    """`labels` as int32, with a check that stops a step on a label out of range.

    NumPy labels are checked before any step runs; the labels of a
    `tf.data` pipeline are seen only here, in the step.
    """
    labels = tf.cast(labels, tf.int32)
    in_range = tf.reduce_all((labels >= 0) & (labels < num_classes))
    check = tf.debugging.Assert(in_range, [
        f"`labels` must lie in [0, num_classes) = [0, {num_classes}). "
        "Received: labels with values in", tf.reduce_min(labels),
        tf.reduce_max(labels)])
    with tf.control_dependencies([check]):
        return tf.identity(labels)
