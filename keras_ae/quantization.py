"""Vector quantization of codes: the bottleneck of a VQ-VAE.

`VectorQuantizer` (van den Oord et al., 2017, "Neural Discrete Representation
Learning") replaces each vector of an encoder's output by its nearest entry
in a learned codebook. The codes of an example are then integer indices:
`(batch_size, height, width)` for a feature map, `(batch_size, length)` for
a sequence. An autoregressive prior over those indices
(`keras_ae.priors.PixelCNNPrior`) makes the model generative.

How a VQ-VAE's `train_step` uses the layer:

```python
with tf.GradientTape() as tape:
    z = encoder(x, training=True)
    vq = quantizer.quantize_with_losses(z)  # one nearest-code search
    reconstruction = decoder(vq["quantized"], training=True)
    per_example = (reconstruction_loss(y, reconstruction)
                   + vq["codebook_loss"] + vq["commitment_loss"])
    loss = ops.mean(per_example)
gradients = tape.gradient(loss, model.trainable_weights)
optimizer.apply_gradients(zip(gradients, model.trainable_weights))
restarted = quantizer.train_update(z, vq["indices"])  # after the step
```

`train_update` makes the updates outside the gradient: the running usage of
the codes, the EMA codebook (`ema=True`) and the restart of unused codes
(`restart_unused=True`). A `test_step` calls only `quantize_with_losses`.
"""

import numbers

import keras
import numpy as np
from keras import ops

from keras_ae.checks import check_bool
from keras_ae.checks import check_number
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed

__all__ = ["VectorQuantizer"]


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


def _check_open_unit_interval(name, value):
    """Returns `value` as a float if it is a number in (0, 1)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 < value < 1.0
    ):
        raise ValueError(
            f"`{name}` must be a number in the open interval (0, 1). "
            f"Received: {name}={value!r}"
        )
    return float(value)


@keras.saving.register_keras_serializable(package="keras_ae")
class VectorQuantizer(keras.layers.Layer):
    """Replaces each vector of its inputs by the nearest codebook vector.

    The inputs hold vectors of size `embedding_dim` on their last axis, at
    any number of positions: `(batch_size, embedding_dim)`,
    `(batch_size, length, embedding_dim)` or `(batch_size, height, width,
    embedding_dim)`. The nearest code is found by squared Euclidean distance,
    `|z|^2 - 2 z.e + |e|^2`, and the output is the straight-through estimate
    `z + stop_gradient(q - z)`: its value is the codebook vector `q`, its
    gradient flows to `z` unchanged.

    The codebook learns one of two ways:

    - `ema=False`: by gradient, through the codebook loss
      `||stop_gradient(z) - q||^2`;
    - `ema=True`: by exponential moving averages of the encoder outputs
      assigned to each code (`update_codebook`), with Laplace smoothing of
      the cluster sizes; the codebook is then not trainable and the codebook
      loss is zero. Only the commitment loss enters the objective.

    Either way the commitment loss
    `commitment_cost * ||z - stop_gradient(q)||^2` keeps the encoder's
    outputs close to their codes. `quantize_with_losses` and `quantization_losses`
    return both losses per example, summed over the positions and the
    embedding dimensions, so that they weigh like a reconstruction loss
    summed over features.

    The layer keeps a running share of assignments of every code (updated
    by `update_usage`, whichever `ema`). With `restart_unused=True`,
    `restart_dead_codes` replaces the codes whose running share fell below
    `restart_threshold / num_embeddings` by encoder outputs drawn at random
    from the current batch. `train_update` makes all of these updates in
    order; call it once per training step, after the gradient step.

    Every computation is float32. The inference path (`call`, `indices`,
    `lookup`) converts to TensorFlow Lite with builtin ops only.

    Args:
        num_embeddings: int >= 2. Number of codebook vectors.
        embedding_dim: int > 0. Size of each codebook vector: the last axis
            of the inputs.
        commitment_cost: float >= 0. Weight of the commitment loss (beta in
            the paper; 0.25 there).
        ema: bool. Learn the codebook by exponential moving averages instead
            of by gradient.
        decay: float in (0, 1). Decay of the moving averages: of the EMA
            codebook and of the running usage of the codes.
        epsilon: float > 0. Laplace smoothing of the EMA cluster sizes, so
            that no code divides by zero.
        restart_unused: bool. Whether `train_update` restarts codes that
            fell out of use.
        restart_threshold: float in (0, 1). A code is dead when its running
            share of assignments is below `restart_threshold` times the
            uniform share `1 / num_embeddings`. Every code starts, and
            restarts, at that share: a code that no vector picks in a step
            falls below it, and the next restart gives it a new vector.
        seed: int or `None`. Seed of the codebook's initializer and of the
            layer's random generator (the restarts' draws).
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Float tensor of shape `(batch_size, ..., embedding_dim)`.
        return_indices: Python bool. Also return the indices.

    Returns:
        The quantized tensor, float32, of the shape of `inputs`; with
        `return_indices=True`, a tuple `(quantized, indices)` with int32
        `indices` of shape `(batch_size, ...)`.

    Example:

    >>> vq = VectorQuantizer(num_embeddings=16, embedding_dim=8, seed=0)
    >>> z = keras.random.normal((2, 4, 4, 8), seed=1)
    >>> tuple(vq(z).shape)
    (2, 4, 4, 8)
    >>> tuple(vq.indices(z).shape)
    (2, 4, 4)
    >>> terms = vq.quantize_with_losses(z)
    >>> tuple(terms["commitment_loss"].shape)
    (2,)
    """

    def __init__(
        self,
        num_embeddings,
        embedding_dim,
        commitment_cost=0.25,
        ema=False,
        decay=0.99,
        epsilon=1e-5,
        restart_unused=True,
        restart_threshold=0.1,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (
            isinstance(num_embeddings, bool)
            or not isinstance(num_embeddings, numbers.Integral)
            or num_embeddings < 2
        ):
            raise ValueError(
                "`num_embeddings` must be an integer >= 2. Received: "
                f"num_embeddings={num_embeddings!r}"
            )
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.commitment_cost = check_number("commitment_cost", commitment_cost,
                                            minimum=0)
        self.ema = check_bool("ema", ema)
        self.decay = _check_open_unit_interval("decay", decay)
        self.epsilon = _check_positive_number("epsilon", epsilon)
        self.restart_unused = check_bool("restart_unused", restart_unused)
        self.restart_threshold = _check_open_unit_interval(
            "restart_threshold", restart_threshold)
        self.seed = check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        # Every shape is known: the codebook exists before the first call, so
        # that `lookup` of indices works on a fresh or a loaded layer.
        self.build()

    def build(self, input_shape=None):
        if input_shape is not None:
            self._check_shape(input_shape)
        # Uniform in +-sqrt(3 / embedding_dim): codes of about unit norm,
        # the scale of an encoder's outputs at initialization.
        initializer = keras.initializers.VarianceScaling(
            scale=1.0, mode="fan_out", distribution="uniform", seed=self.seed)
        # Under tf.distribute the replicas assign the codebook and the
        # moving averages outside the gradient: the restart's draws of the
        # first replica win, the moving averages are averaged.
        self.codebook = self.add_weight(
            shape=(self.num_embeddings, self.embedding_dim),
            initializer=initializer,
            trainable=not self.ema,
            dtype="float32",
            aggregation="only_first_replica",
            name="codebook",
        )
        self.running_usage = self.add_weight(
            shape=(self.num_embeddings,),
            initializer=keras.initializers.Constant(self._dead_share),
            trainable=False,
            dtype="float32",
            aggregation="mean",
            name="running_usage",
        )
        if self.ema:
            # As if every code had been assigned its own initial value once:
            # the EMA codebook starts where the initializer put it.
            self.ema_cluster_size = self.add_weight(
                shape=(self.num_embeddings,),
                initializer="ones",
                trainable=False,
                dtype="float32",
                aggregation="mean",
                name="ema_cluster_size",
            )
            initial = ops.convert_to_tensor(self.codebook)
            self.ema_embedding_sum = self.add_weight(
                shape=(self.num_embeddings, self.embedding_dim),
                initializer=lambda shape, dtype=None: ops.cast(initial, dtype),
                trainable=False,
                dtype="float32",
                aggregation="mean",
                name="ema_embedding_sum",
            )

    @property
    def _dead_share(self):
        # A code starts, and restarts, on probation at the dead share itself:
        # the first step in which no vector picks it sends it below, and the
        # next restart gives it a new vector (as Jukebox's bottleneck does).
        # From the uniform share, a code never picked would wait
        # log(restart_threshold) / log(decay) steps (229 with the defaults),
        # longer than many runs.
        return self.restart_threshold / self.num_embeddings

    def _check_shape(self, shape):
        shape = tuple(shape)
        if len(shape) < 2 or shape[-1] != self.embedding_dim:
            raise ValueError(
                "`VectorQuantizer` expects inputs of shape (batch_size, ..., "
                f"embedding_dim={self.embedding_dim}). Received: inputs with "
                f"shape {shape}"
            )

    # --- Inference: nearest codes and their vectors ---------------------------

    def _flatten(self, z):
        self._check_shape(z.shape)
        z = ops.cast(z, "float32")
        return z, ops.reshape(z, (-1, self.embedding_dim))

    def distances(self, z):
        """Returns the squared distances of every vector of `z` to every code.

        Args:
            z: Float tensor of shape `(batch_size, ..., embedding_dim)`.

        Returns:
            Float32 tensor of shape `(batch_size, ..., num_embeddings)`.
        """
        z, flat = self._flatten(z)
        codebook = ops.convert_to_tensor(self.codebook)
        distances = (
            ops.sum(ops.square(flat), axis=1, keepdims=True)
            - 2.0 * ops.matmul(flat, ops.transpose(codebook))
            + ops.sum(ops.square(codebook), axis=1)[None, :]
        )
        return ops.reshape(
            distances, (*ops.shape(z)[:-1], self.num_embeddings))

    def indices(self, z):
        """Returns the index of the nearest codebook vector at every position.

        Args:
            z: Float tensor of shape `(batch_size, ..., embedding_dim)`.

        Returns:
            Int32 tensor of shape `(batch_size, ...)`.
        """
        distances = self.distances(z)
        # The argmin as the smallest index at the minimum distance, the
        # first one on ties as argmin takes it. `ops.argmin` of floats tells
        # -0.0 from 0.0 with a BitwiseAnd, which TensorFlow Lite has only
        # as a Flex op; these are builtins (REDUCE_MIN, LESS_EQUAL, SELECT).
        nearest = ops.min(distances, axis=-1, keepdims=True)
        codes = ops.arange(self.num_embeddings, dtype="int32")
        indices = ops.min(
            ops.where(distances <= nearest, codes, self.num_embeddings),
            axis=-1)
        # A NaN distance matches nothing: keep its index in range.
        return ops.minimum(indices, self.num_embeddings - 1)

    def check_indices(self, indices, name="indices"):
        """Returns `indices` as an int32 NumPy array if they are valid codes.

        For the eager checks of a model's verbs (`decode` of indices, a
        prior's samples): integers in `[0, num_embeddings)`.

        Args:
            indices: array-like of integers.
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
        if array.size and (
            array.min() < 0 or array.max() >= self.num_embeddings
        ):
            raise ValueError(
                f"`{name}` must lie in [0, num_embeddings) = [0, "
                f"{self.num_embeddings}). Received: {name} with values in "
                f"[{int(array.min())}, {int(array.max())}]"
            )
        return array.astype("int32")

    def lookup(self, indices):
        """Returns the codebook vectors of `indices`.

        NumPy arrays and lists are checked with `check_indices` first; a
        tensor is not (out of range, TensorFlow's gather fails on CPU and
        returns zeros on GPU).

        Args:
            indices: Integer tensor or array of shape `(batch_size, ...)`.

        Returns:
            Float32 tensor of shape `(batch_size, ..., embedding_dim)`.
        """
        if not (ops.is_tensor(indices) or isinstance(indices, keras.KerasTensor)):
            indices = self.check_indices(indices)
        return ops.take(ops.convert_to_tensor(self.codebook),
                        ops.cast(indices, "int32"), axis=0)

    def call(self, inputs, return_indices=False):
        z = ops.cast(inputs, "float32")
        indices = self.indices(z)
        quantized = _straight_through(z, self.lookup(indices))
        if return_indices:
            return quantized, indices
        return quantized

    def compute_output_spec(self, inputs, return_indices=False):
        quantized = keras.KerasTensor(inputs.shape, dtype="float32")
        if return_indices:
            return quantized, keras.KerasTensor(inputs.shape[:-1], dtype="int32")
        return quantized

    # --- Training: losses ------------------------------------------------------

    def quantization_losses(self, z, indices):
        """Returns the codebook and commitment losses of every example.

        Both are summed over the positions and the embedding dimensions of
        an example. With `ema=True` the codebook loss is zero: the moving
        averages, not the gradient, move the codebook.

        Args:
            z: Float tensor of shape `(batch_size, ..., embedding_dim)`, the
                encoder's outputs.
            indices: Int tensor of shape `(batch_size, ...)`, the codes of
                `z` (`indices(z)`).

        Returns:
            Dict of float32 tensors of shape `(batch_size,)`:
            `"codebook_loss"`, `sum ||stop_gradient(z) - q||^2`, and
            `"commitment_loss"`, `commitment_cost * sum ||z - stop_gradient(q)||^2`.
        """
        z = ops.cast(z, "float32")
        return self._loss_terms(z, self.lookup(indices))

    def _loss_terms(self, z, q):
        axes = tuple(range(1, len(z.shape)))
        commitment = self.commitment_cost * ops.sum(
            ops.square(z - ops.stop_gradient(q)), axis=axes)
        if self.ema:
            codebook = ops.zeros_like(commitment)
        else:
            codebook = ops.sum(ops.square(ops.stop_gradient(z) - q), axis=axes)
        return {"codebook_loss": codebook, "commitment_loss": commitment}

    def quantize_with_losses(self, z):
        """Quantizes `z` and returns everything a training step needs.

        Args:
            z: Float tensor of shape `(batch_size, ..., embedding_dim)`.

        Returns:
            Dict with `"quantized"` (the straight-through output, as `call`
            returns it), `"indices"` (int32, `(batch_size, ...)`),
            `"codebook_loss"` and `"commitment_loss"` (float32,
            `(batch_size,)`, as `quantization_losses` returns them).
        """
        z = ops.cast(z, "float32")
        indices = self.indices(z)
        q = self.lookup(indices)
        return {"quantized": _straight_through(z, q), "indices": indices,
                **self._loss_terms(z, q)}

    # --- Statistics of a batch of indices -------------------------------------

    def _counts(self, indices):
        flat = ops.reshape(ops.cast(indices, "int32"), (-1,))
        return ops.sum(ops.one_hot(flat, self.num_embeddings, dtype="float32"),
                       axis=0)

    def perplexity(self, indices):
        """Returns `exp(entropy)` of the codes' frequencies in `indices`.

        `num_embeddings` when every code is used equally often, 1 when one
        code takes every position.

        Args:
            indices: Int tensor of any shape.

        Returns:
            Float32 scalar tensor.
        """
        counts = self._counts(indices)
        p = counts / ops.maximum(ops.sum(counts), 1.0)
        entropy = -ops.sum(
            ops.where(p > 0, p * ops.log(ops.maximum(p, 1e-30)), 0.0))
        return ops.exp(entropy)

    def usage(self, indices):
        """Returns the share of the codebook that `indices` use, in [0, 1].

        Args:
            indices: Int tensor of any shape.

        Returns:
            Float32 scalar tensor.
        """
        return ops.mean(ops.cast(self._counts(indices) > 0, "float32"))

    # --- Training: updates outside the gradient ------------------------------

    def update_usage(self, indices):
        """Moves the running share of assignments of each code towards `indices`'.

        Args:
            indices: Int tensor of shape `(batch_size, ...)`.
        """
        counts = self._counts(indices)
        share = counts / ops.maximum(ops.sum(counts), 1.0)
        self.running_usage.assign(
            self.decay * self.running_usage + (1.0 - self.decay) * share)

    def update_codebook(self, z, indices):
        """Makes one EMA update of the codebook (`ema=True` only).

        The moving averages of each code's cluster size (number of
        assignments) and of the sum of its assigned vectors decay by
        `decay`; the cluster sizes are Laplace-smoothed with `epsilon`, and
        the codebook becomes the smoothed averages.

        Args:
            z: Float tensor of shape `(batch_size, ..., embedding_dim)`.
            indices: Int tensor of shape `(batch_size, ...)`, the codes of
                `z`.
        """
        if not self.ema:
            raise ValueError(
                "`update_codebook` moves an EMA codebook; this layer learns "
                "its codebook by gradient. Received: ema=False; build the "
                "layer with ema=True to use it."
            )
        _, flat = self._flatten(ops.stop_gradient(z))
        one_hot = ops.one_hot(ops.reshape(ops.cast(indices, "int32"), (-1,)),
                              self.num_embeddings, dtype="float32")
        decay = self.decay
        cluster_size = (decay * self.ema_cluster_size
                        + (1.0 - decay) * ops.sum(one_hot, axis=0))
        embedding_sum = (decay * self.ema_embedding_sum
                         + (1.0 - decay) * ops.matmul(ops.transpose(one_hot),
                                                      flat))
        self.ema_cluster_size.assign(cluster_size)
        self.ema_embedding_sum.assign(embedding_sum)
        total = ops.sum(cluster_size)
        smoothed = ((cluster_size + self.epsilon)
                    / (total + self.num_embeddings * self.epsilon) * total)
        self.codebook.assign(embedding_sum / smoothed[:, None])

    def restart_dead_codes(self, z):
        """Replaces the dead codes by encoder outputs drawn from `z`.

        A code is dead when its running share of assignments (see
        `update_usage`) is below `restart_threshold / num_embeddings`. Each
        dead code becomes a vector of `z` drawn uniformly (with
        replacement) by the layer's random generator; its running share is
        reset to the dead share itself (so that it is drawn again after the
        first step in which no vector picks it), and with `ema=True` its moving averages
        to one assignment of its new value. Graph-friendly: the same ops run
        whether or not a code is dead.

        Args:
            z: Float tensor of shape `(batch_size, ..., embedding_dim)`.

        Returns:
            Int32 scalar tensor, the number of codes restarted.
        """
        _, flat = self._flatten(ops.stop_gradient(z))
        dead = self.running_usage < self._dead_share
        draws = keras.random.randint(
            (self.num_embeddings,), 0, ops.shape(flat)[0],
            seed=self.seed_generator)
        candidates = ops.take(flat, draws, axis=0)
        self.codebook.assign(
            ops.where(dead[:, None], candidates, self.codebook))
        self.running_usage.assign(
            ops.where(dead, self._dead_share, self.running_usage))
        if self.ema:
            self.ema_cluster_size.assign(
                ops.where(dead, 1.0, self.ema_cluster_size))
            self.ema_embedding_sum.assign(
                ops.where(dead[:, None], candidates, self.ema_embedding_sum))
        return ops.sum(ops.cast(dead, "int32"))

    def train_update(self, z, indices):
        """Makes every update of one training step outside the gradient.

        In order: `update_usage`, `update_codebook` (with `ema=True`),
        `restart_dead_codes` (with `restart_unused=True`). Call it once per
        training step, after the gradient step, with the batch's encoder
        outputs and their indices; never in a test step.

        Args:
            z: Float tensor of shape `(batch_size, ..., embedding_dim)`.
            indices: Int tensor of shape `(batch_size, ...)`, the codes of
                `z`.

        Returns:
            Int32 scalar tensor, the number of codes restarted (0 when
            `restart_unused=False`).
        """
        self.update_usage(indices)
        if self.ema:
            self.update_codebook(z, indices)
        if self.restart_unused:
            return self.restart_dead_codes(z)
        return ops.convert_to_tensor(0, dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "commitment_cost": self.commitment_cost,
            "ema": self.ema,
            "decay": self.decay,
            "epsilon": self.epsilon,
            "restart_unused": self.restart_unused,
            "restart_threshold": self.restart_threshold,
            "seed": self.seed,
        })
        return config


def _straight_through(z, q):
    """`q` in value, the identity in gradient (the straight-through estimator)."""
    return z + ops.stop_gradient(q - z)
