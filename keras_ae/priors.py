"""Autoregressive priors over grids of code indices, in plain Keras 3.

A VQ-VAE (`keras_ae.quantization.VectorQuantizer`) turns an example into a
grid of integer codes; `PixelCNNPrior` (van den Oord et al., 2016, "Pixel
Recurrent Neural Networks") learns the distribution of those grids, one
position at a time in raster order:
`p(grid) = prod_(i, j) p(grid[i, j] | the positions before (i, j))`.
Sampling it and decoding the samples generates new examples.

Causality comes from masked convolutions (`MaskedConv2D`): the first layer
(mask type A) sees only the positions strictly before the centre, the
following ones (type B) also the centre, whose features already depend
only on earlier positions. A sequence of `L` codes is the grid `(1, L)`:
the kernels are then `(1, kernel_size)` and the masked convolutions are
causal 1-D convolutions.
"""

import numbers

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ae.checks import check_bool
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed

__all__ = ["MASK_TYPES", "MaskedConv2D", "PixelCNNPrior", "causal_mask"]

MASK_TYPES = ("A", "B")


def _check_num_embeddings(num_embeddings):
    if (
        isinstance(num_embeddings, bool)
        or not isinstance(num_embeddings, numbers.Integral)
        or num_embeddings < 2
    ):
        raise ValueError(
            "`num_embeddings` must be an integer >= 2. Received: "
            f"num_embeddings={num_embeddings!r}"
        )
    return int(num_embeddings)


def _check_positive_number(name, value):
    """Returns `value` as a float if it is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"`{name}` must be a finite number > 0. Received: {name}={value!r}"
        )
    return float(value)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_kernel_size(kernel_size, mask_type="B"):
    """Returns `kernel_size` as a tuple `(height, width)` of odd ints > 0."""
    sizes = (kernel_size, kernel_size) if _is_int(kernel_size) else kernel_size
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = ()
    if len(sizes) != 2 or not all(_is_int(s) and s > 0 and s % 2 for s in sizes):
        raise ValueError(
            "`kernel_size` must be an odd positive integer or a tuple of two "
            "(the centre of the kernel is the position it predicts). "
            f"Received: kernel_size={kernel_size!r}"
        )
    if mask_type == "A" and sizes == (1, 1):
        raise ValueError(
            "`kernel_size` must be larger than 1 with mask_type='A': a 1x1 "
            "kernel without its centre sees nothing. Received: "
            f"kernel_size={kernel_size!r}"
        )
    return tuple(int(s) for s in sizes)


def causal_mask(kernel_size, mask_type):
    """Returns the raster-order mask of a kernel as a float32 NumPy array.

    Ones at the rows above the centre and left of it in the centre row; type
    `"B"` keeps the centre too, type `"A"` does not.

    Args:
        kernel_size: tuple `(height, width)` of odd ints.
        mask_type: `"A"` or `"B"`.

    Returns:
        Array of shape `kernel_size`.

    Example:

    >>> causal_mask((3, 3), "A")
    array([[1., 1., 1.],
           [1., 0., 0.],
           [0., 0., 0.]], dtype=float32)
    """
    height, width = kernel_size
    mask = np.zeros((height, width), dtype="float32")
    mask[: height // 2, :] = 1.0
    mask[height // 2, : width // 2 + (mask_type == "B")] = 1.0
    return mask


@keras.saving.register_keras_serializable(package="keras_ae")
class MaskedConv2D(keras.layers.Layer):
    """A 2-D convolution whose kernel sees only earlier positions in raster order.

    The kernel is multiplied by a fixed mask (`causal_mask`), built with the
    kernel: ones above the centre row and left of the centre in it; mask
    type `"A"` drops the centre, type `"B"` keeps it. The padding is always
    `"same"` and the stride 1, so that output `(i, j)` depends on the
    inputs at the positions before `(i, j)` (type A), or up to and
    including it (type B).

    Args:
        filters: int > 0. Number of output channels.
        kernel_size: odd int, or tuple of two odd ints `(height, width)`.
        mask_type: `"A"` (first layer of a stack) or `"B"`.
        use_bias: bool. Whether to add a bias.
        kernel_initializer: initializer of the kernel.
        bias_initializer: initializer of the bias.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Tensor of shape `(batch_size, height, width, channels)`.

    Returns:
        Tensor of shape `(batch_size, height, width, filters)`.

    Example:

    >>> layer = MaskedConv2D(8, 3, mask_type="A")
    >>> tuple(layer(keras.ops.zeros((2, 4, 4, 3))).shape)
    (2, 4, 4, 8)
    """

    def __init__(self, filters, kernel_size, mask_type="B", use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        if mask_type not in MASK_TYPES:
            raise ValueError(
                "`mask_type` must be 'A' (the centre is masked) or 'B'. "
                f"Received: mask_type={mask_type!r}"
            )
        self.mask_type = mask_type
        self.kernel_size = _check_kernel_size(kernel_size, mask_type)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if len(input_shape) != 4 or channels is None:
            raise ValueError(
                "`MaskedConv2D` expects inputs of shape (batch_size, height, "
                "width, channels) with a known number of channels. Received: "
                f"inputs with shape {tuple(input_shape)}"
            )
        self.kernel = self.add_weight(
            shape=(*self.kernel_size, channels, self.filters),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(self.filters,), initializer=self.bias_initializer,
            name="bias") if self.use_bias else None
        # A constant, not a weight: a saved file cannot carry another mask.
        self.kernel_mask = causal_mask(self.kernel_size, self.mask_type)[
            :, :, None, None]

    def call(self, inputs):
        kernel = self.kernel * ops.cast(self.kernel_mask, self.kernel.dtype)
        outputs = ops.conv(inputs, kernel, strides=1, padding="same")
        if self.use_bias:
            outputs = outputs + self.bias
        return outputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "mask_type": self.mask_type,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(
                self.bias_initializer),
        })
        return config


class _Compiled:
    """Holds the compiled forward pass out of sight of TensorFlow's tracking.

    A `tf.function` attribute of a model would be saved with it by
    `tf.saved_model.save` and `keras.export`.
    """

    logits_at = None


@keras.saving.register_keras_serializable(package="keras_ae")
class PixelCNNPrior(keras.Model):
    """A PixelCNN over grids of code indices: an autoregressive prior.

    The network embeds the indices, applies a type-A `MaskedConv2D`, then
    `num_layers` residual blocks (ReLU, 1x1 convolution to `filters // 2`
    channels, ReLU, type-B masked convolution, ReLU, 1x1 convolution back
    to `filters`), and 1x1 convolutions to `num_embeddings` logits per
    position. The logits at `(i, j)` depend only on the indices at earlier
    positions in raster order (rows above, and left in the same row).

    It trains like any Keras classifier, on the indices as inputs and
    targets:

    ```python
    prior.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    prior.fit(indices, indices, epochs=10)
    ```

    `compile(optimizer=...)` without a loss takes that loss, and `fit(x)`
    without targets takes `x`. The logged loss is the mean negative
    log-likelihood per position, in nats: `log(num_embeddings)` for a
    uniform prior. NumPy indices given to `fit`, `evaluate`, `predict` and
    `log_likelihood` are checked first: integers in `[0, num_embeddings)`
    of shape `(num_grids, *grid_shape)`.

    A sequence of `L` indices is the grid `(1, L)`: the kernels are then
    `(1, kernel_size)`, causal 1-D convolutions.

    As in the original PixelCNN, a stack of masked convolutions has a blind
    spot: the logits at `(i, j)` never see the positions of row `i - r`
    right of column `j + r * (kernel_size // 2)`, a wedge above and to the
    right (the Gated PixelCNN's two stacks remove it). A sequence has none.

    Args:
        num_embeddings: int >= 2. Number of codes: the indices lie in
            `[0, num_embeddings)`.
        grid_shape: tuple of two ints > 0, `(height, width)` of a grid;
            `(1, length)` for a sequence.
        filters: int > 0. Channels of the embedding and of the stack.
        num_layers: int >= 0. Number of masked residual blocks after the
            type-A layer; each widens the receptive field by
            `kernel_size // 2` positions.
        kernel_size: odd int >= 3. Size of the masked kernels.
        seed: int or `None`. Seed of the model's random generator, which
            `sample` draws from when it is given no seed. The weights'
            initializers follow Keras' global seed
            (`keras.utils.set_random_seed`).
        **kwargs: Base model keyword arguments, such as `name`.

    Call arguments:
        inputs: Int tensor of shape `(batch_size, *grid_shape)`.
        training: Python bool, whether the model runs in training mode.

    Returns:
        Float32 logits of shape `(batch_size, *grid_shape, num_embeddings)`.

    Example:

    >>> prior = PixelCNNPrior(num_embeddings=8, grid_shape=(4, 4), seed=0)
    >>> prior.compile(optimizer="adam")
    >>> history = prior.fit(indices, indices, epochs=5, verbose=0)
    >>> grids = prior.sample(16, seed=1)        # int32, shape (16, 4, 4)
    >>> nats = prior.log_likelihood(grids)      # float32, shape (16,)
    """

    def __init__(self, num_embeddings, grid_shape, filters=64, num_layers=4,
                 kernel_size=5, seed=None, **kwargs):
        num_embeddings = _check_num_embeddings(num_embeddings)
        grid_shape = _check_grid_shape(grid_shape)
        filters = check_positive_int("filters", filters)
        if not _is_int(num_layers) or num_layers < 0:
            raise ValueError(
                "`num_layers` must be a non-negative integer. Received: "
                f"num_layers={num_layers!r}"
            )
        if not _is_int(kernel_size) or kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(
                "`kernel_size` must be an odd integer >= 3. Received: "
                f"kernel_size={kernel_size!r}"
            )
        seed = check_seed("seed", seed)
        super().__init__(**kwargs)
        # === Config ===
        self.num_embeddings = num_embeddings
        self.grid_shape = grid_shape
        self.filters = filters
        self.num_layers = int(num_layers)
        self.kernel_size = int(kernel_size)
        self.seed = seed
        # === Layers ===
        self.network = _pixelcnn(num_embeddings, grid_shape, filters,
                                 self.num_layers, self.kernel_size,
                                 name=f"{self.name}_network")
        # === State ===
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._compiled = _Compiled()
        # Built from the start: a fresh prior samples, saves and exports.
        self.build((None, *grid_shape))

    def build(self, input_shape=None):
        # The functional network is built when it is made, and no other
        # layer holds weights.
        self.built = True

    def call(self, inputs, training=False):
        shape = tuple(inputs.shape[1:])
        if shape != self.grid_shape:
            raise ValueError(
                "`inputs` must have shape (batch_size, "
                f"{', '.join(map(str, self.grid_shape))}) for this prior. "
                f"Received: inputs with shape {tuple(inputs.shape)}"
            )
        return self.network(ops.cast(inputs, "int32"), training=training)

    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        """Configures the model for training.

        `loss` defaults to `SparseCategoricalCrossentropy(from_logits=True)`,
        the negative log-likelihood per position.
        """
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def compile_from_config(self, config):
        # Restores the optimizer (and its state) of a saved model.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # --- NumPy indices are checked before any step runs --------------------

    def check_indices(self, indices, name="indices"):
        """Returns `indices` as an int32 NumPy array of grids, or raises.

        Args:
            indices: array-like of integers of shape `(num_grids,
                *grid_shape)`, each in `[0, num_embeddings)`.
            name: str, the argument named in errors.

        Returns:
            `indices` as an int32 NumPy array.
        """
        array = np.asarray(indices)
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"`{name}` must hold integer code indices. Received: {name} "
                f"of dtype {array.dtype} with shape {array.shape}"
            )
        if array.shape[1:] != self.grid_shape or array.ndim != 3:
            raise ValueError(
                f"`{name}` must have shape (num_grids, "
                f"{', '.join(map(str, self.grid_shape))}) for this prior. "
                f"Received: {name} with shape {array.shape}"
            )
        if array.size and (
            array.min() < 0 or array.max() >= self.num_embeddings
        ):
            raise ValueError(
                f"`{name}` must lie in [0, num_embeddings) = [0, "
                f"{self.num_embeddings}). Received: {name} with values in "
                f"[{int(array.min())}, {int(array.max())}]"
            )
        return array.astype("int32")

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        if _is_array(x):
            x = self.check_indices(x, "x")
            y = x if y is None else self.check_indices(y, "y")
        if isinstance(validation_data, (tuple, list)) and validation_data and (
            _is_array(validation_data[0])
        ):
            x_val = self.check_indices(validation_data[0], "validation_data[0]")
            y_val = validation_data[1] if len(validation_data) > 1 else None
            y_val = x_val if y_val is None else self.check_indices(
                y_val, "validation_data[1]")
            validation_data = (x_val, y_val, *validation_data[2:])
        return super().fit(x, y, *args, validation_data=validation_data,
                           **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        if _is_array(x):
            x = self.check_indices(x, "x")
            y = x if y is None else self.check_indices(y, "y")
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        if _is_array(x):
            x = self.check_indices(x, "x")
        return super().predict(x, *args, **kwargs)

    # --- The prior's verbs -----------------------------------------------------

    def log_likelihood(self, indices, batch_size=256):
        """Returns the log-probability of each grid under the prior, in nats.

        Args:
            indices: int array of shape `(num_grids, *grid_shape)`.
            batch_size: int > 0, grids per forward pass.

        Returns:
            Float32 NumPy array of shape `(num_grids,)`; divide by
            `-prod(grid_shape)` for the NLL per position.
        """
        indices = self.check_indices(indices)
        batch_size = check_positive_int("batch_size", batch_size)
        results = []
        for start in range(0, len(indices), batch_size):
            batch = indices[start:start + batch_size]
            log_probs = ops.log_softmax(self.network(batch, training=False),
                                        axis=-1)
            chosen = ops.take_along_axis(log_probs, batch[..., None], axis=-1)
            results.append(ops.convert_to_numpy(
                ops.sum(chosen, axis=(1, 2, 3))))
        if not results:
            return np.zeros((0,), dtype="float32")
        return np.concatenate(results).astype("float32")

    def sample(self, num_samples, seed=None, temperature=1.0):
        """Draws grids from the prior, one position at a time in raster order.

        Every position takes one forward pass of the whole batch of grids
        (`height * width` passes in all, compiled once), and one categorical
        draw per grid from the logits at that position divided by
        `temperature`.

        Args:
            num_samples: int > 0.
            seed: int or `None`. The same seed gives the same grids; `None`
                draws from the model's own generator (seeded by its `seed`),
                which moves on with every call.
            temperature: float > 0. Below 1 sharpens the distributions,
                above 1 flattens them.

        Returns:
            Int32 NumPy array of shape `(num_samples, *grid_shape)`.
        """
        num_samples = check_positive_int("num_samples", num_samples)
        seed = check_seed("seed", seed)
        temperature = _check_positive_number("temperature", temperature)
        generator = (self.seed_generator if seed is None
                     else keras.random.SeedGenerator(seed))
        logits_at = self._logits_at_function()
        height, width = self.grid_shape
        grids = np.zeros((num_samples, height, width), dtype="int32")
        for position in range(height * width):
            logits = logits_at(ops.convert_to_tensor(grids),
                               ops.convert_to_tensor(position, dtype="int32"))
            draws = keras.random.categorical(
                logits / temperature, 1, dtype="int32", seed=generator)
            grids[:, position // width, position % width] = (
                ops.convert_to_numpy(draws)[:, 0])
        return grids

    def _logits_at_function(self):
        if self._compiled.logits_at is None:
            height, width = self.grid_shape
            network = self.network

            def logits_at(grids, position):
                logits = network(grids, training=False)
                logits = ops.reshape(
                    logits, (-1, height * width, self.num_embeddings))
                return ops.take(logits, position, axis=1)

            # One trace for any number of samples and every position.
            self._compiled.logits_at = tf.function(
                logits_at, input_signature=[
                    tf.TensorSpec((None, height, width), tf.int32),
                    tf.TensorSpec((), tf.int32)])
        return self._compiled.logits_at

    # --- Config ---------------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_embeddings": self.num_embeddings,
            "grid_shape": self.grid_shape,
            "filters": self.filters,
            "num_layers": self.num_layers,
            "kernel_size": self.kernel_size,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["grid_shape"] = tuple(config["grid_shape"])
        return cls(**config)


def _pixelcnn(num_embeddings, grid_shape, filters, num_layers, kernel_size,
              name):
    """The PixelCNN as a functional model: indices to logits."""
    # A grid of one row has no rows above: a kernel of one row is the same
    # causal convolution, without the rows of zeros.
    kernel = (1 if grid_shape[0] == 1 else kernel_size, kernel_size)
    inner = max(filters // 2, 1)
    inputs = keras.Input(grid_shape, dtype="int32", name="indices")
    x = keras.layers.Embedding(num_embeddings, filters, name="embedding")(inputs)
    x = MaskedConv2D(filters, kernel, mask_type="A", name="masked_conv_a")(x)
    for i in range(num_layers):
        y = keras.layers.ReLU(name=f"block_{i}_relu_in")(x)
        y = keras.layers.Conv2D(inner, 1, name=f"block_{i}_reduce")(y)
        y = keras.layers.ReLU(name=f"block_{i}_relu_reduce")(y)
        y = MaskedConv2D(inner, kernel, mask_type="B",
                         name=f"block_{i}_masked_conv_b")(y)
        y = keras.layers.ReLU(name=f"block_{i}_relu_conv")(y)
        y = keras.layers.Conv2D(filters, 1, name=f"block_{i}_expand")(y)
        x = keras.layers.Add(name=f"block_{i}_add")([x, y])
    x = keras.layers.ReLU(name="head_relu")(x)
    x = keras.layers.Conv2D(filters, 1, activation="relu", name="head_conv")(x)
    logits = keras.layers.Conv2D(num_embeddings, 1, dtype="float32",
                                 name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def _check_grid_shape(grid_shape):
    try:
        shape = tuple(grid_shape)
    except TypeError:
        shape = ()
    if len(shape) != 2 or not all(_is_int(d) and d > 0 for d in shape):
        raise ValueError(
            "`grid_shape` must be a tuple of two positive integers (height, "
            "width); use (1, length) for a sequence. Received: "
            f"grid_shape={grid_shape!r}"
        )
    return tuple(int(d) for d in shape)


def _is_array(value):
    return isinstance(value, (np.ndarray, list)) or (
        value is not None and hasattr(value, "__array__")
        and not isinstance(value, dict)
    )
