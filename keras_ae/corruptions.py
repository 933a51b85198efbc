"""Seeded corruption layers: the inputs of denoising and inpainting autoencoders.

Each layer corrupts a batch when called with `training=True` and returns its
input unchanged otherwise, like `keras.layers.GaussianNoise`. They own their
`keras.random.SeedGenerator`, use only `keras.ops` and `keras.random`, and
run inside `tf.data` pipelines:

>>> dataset = keras_ae.data.make_dataset(
...     x_train, corruption=GaussianNoise(0.5, seed=0))
>>> model.fit(dataset, epochs=5)      # learns noisy -> clean

Images are `(batch_size, height, width, channels)` in [0, 1]; `Occlusion`
also takes `(batch_size, height, width)`; `TokenMasking` takes images or
sequences `(batch_size, timesteps, features)`.

Determinism: a layer built with the same integer `seed` draws the same
sequence of corruptions on the same sequence of calls. In a `tf.data`
pipeline with `num_parallel_calls > 1` (as `make_dataset` uses), parallel
batches draw from the shared generator in the order the runtime schedules
them; for a bit-exact corrupted set, call the layer eagerly on the batches in
order (as `keras_ae.evaluation.evaluate_restoration` does).
"""

import numbers

import keras
from keras import ops

from keras_ae.checks import check_bool
from keras_ae.checks import check_number
from keras_ae.checks import check_positive_int
from keras_ae.checks import check_positive_ints
from keras_ae.checks import check_seed

__all__ = [
    "GaussianNoise", "SaltAndPepper", "Occlusion", "TokenMasking",
    "corruption_for"
]


class _Corruption(keras.layers.Layer):
    """Base class: seed handling, the `training` switch and the config."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return self.corrupt(ops.convert_to_tensor(inputs, dtype=self.compute_dtype))

    def corrupt(self, inputs):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_ae")
class GaussianNoise(_Corruption):
    """Adds zero-mean Gaussian noise, optionally clipped to [0, 1].

    Computes `x + noise_factor * epsilon` with `epsilon ~ N(0, 1)` drawn
    independently for every value, then clips to [0, 1] if `clip=True` (the
    classic denoising-autoencoder corruption of Keras' tutorial).

    Args:
        noise_factor: float >= 0, standard deviation of the noise.
        clip: bool, whether to clip the result to [0, 1].
        seed: int or `None`, seed of the layer's random generator.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Tensor of any shape.
        training: Python bool. `False` returns `inputs` unchanged.

    Example:

    >>> noisy = GaussianNoise(0.5, seed=0)(x_batch, training=True)
    """

    def __init__(self, noise_factor=0.5, clip=True, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.noise_factor = check_number("noise_factor", noise_factor, minimum=0)
        self.clip = check_bool("clip", clip)

    def corrupt(self, inputs):
        noise = keras.random.normal(ops.shape(inputs), dtype=inputs.dtype,
                                    seed=self.seed_generator)
        outputs = inputs + self.noise_factor * noise
        if self.clip:
            outputs = ops.clip(outputs, 0.0, 1.0)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({"noise_factor": self.noise_factor, "clip": self.clip})
        return config


@keras.saving.register_keras_serializable(package="keras_ae")
class SaltAndPepper(_Corruption):
    """Sets a random fraction of the pixels to 0 (pepper) or 1 (salt).

    Each pixel is hit independently with probability `rate`; a hit pixel is
    pepper or salt with probability 1/2 each. For images `(batch_size,
    height, width, channels)` a pixel is a location (all of its channels get
    the same value); for any other rank every value is a pixel.

    Args:
        rate: float in [0, 1], probability that a pixel is hit.
        seed: int or `None`, seed of the layer's random generator.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Tensor of images `(batch_size, height, width, channels)` or
            of any shape.
        training: Python bool. `False` returns `inputs` unchanged.

    Example:

    >>> speckled = SaltAndPepper(0.1, seed=0)(x_batch, training=True)
    """

    def __init__(self, rate=0.1, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = check_number("rate", rate, 0.0, 1.0)

    def corrupt(self, inputs):
        shape = ops.shape(inputs)
        if len(inputs.shape) == 4:
            shape = (shape[0], shape[1], shape[2], 1)
        u = keras.random.uniform(shape, dtype=inputs.dtype,
                                 seed=self.seed_generator)
        pepper = ops.cast(u < 0.5 * self.rate, inputs.dtype)
        salt = ops.cast((u >= 0.5 * self.rate) & (u < self.rate), inputs.dtype)
        return inputs * (1.0 - pepper - salt) + salt

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate})
        return config


@keras.saving.register_keras_serializable(package="keras_ae")
class Occlusion(_Corruption):
    """Sets `count` random rectangles of each image to 0 (an inpainting task).

    Each rectangle is `size = (height, width)` pixels, placed uniformly at
    random inside the image, independently for every example and rectangle
    (rectangles may overlap). The masks of the whole batch are built at once
    with `keras.ops` (no Python loop over the examples).

    Args:
        size: int or tuple `(height, width)` of positive ints, size of a
            rectangle; an int gives a square.
        count: int > 0, rectangles per image.
        seed: int or `None`, seed of the layer's random generator.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Tensor of images `(batch_size, height, width, channels)` or
            `(batch_size, height, width)`, at least `size` in height and
            width.
        training: Python bool. `False` returns `inputs` unchanged.

    The layer only writes zeros (`fills_with_zeros = True`): every non-zero
    value of its output is an observed input value, which inpainting
    evaluations may keep (see `keras_ae.evaluation.evaluate_restoration`).

    Example:

    >>> occluded = Occlusion(size=(10, 10), count=1, seed=0)(
    ...     x_batch, training=True)
    """

    fills_with_zeros = True

    def __init__(self, size=(10, 10), count=1, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.size = _check_size("size", size)
        self.count = check_positive_int("count", count)

    def corrupt(self, inputs):
        rank = len(inputs.shape)
        if rank not in (3, 4):
            raise ValueError(
                "`Occlusion` takes images of shape (batch_size, height, "
                "width[, channels]). Received: inputs with shape "
                f"{tuple(inputs.shape)}"
            )
        height, width = inputs.shape[1], inputs.shape[2]
        h, w = self.size
        if h > height or w > width:
            raise ValueError(
                "`size` must fit in the images. Received: size="
                f"{self.size} for images of height {height} and width {width}"
            )
        batch = ops.shape(inputs)[0]
        top = keras.random.randint((batch, self.count), 0, height - h + 1,
                                   seed=self.seed_generator)
        left = keras.random.randint((batch, self.count), 0, width - w + 1,
                                    seed=self.seed_generator)
        rows = ops.arange(height, dtype="int32")[None, None, :]
        cols = ops.arange(width, dtype="int32")[None, None, :]
        top = ops.cast(top, "int32")[:, :, None]
        left = ops.cast(left, "int32")[:, :, None]
        in_rows = ops.cast((rows >= top) & (rows < top + h), inputs.dtype)
        in_cols = ops.cast((cols >= left) & (cols < left + w), inputs.dtype)
        # (batch, count, height, 1) * (batch, count, 1, width), then the
        # union over the rectangles.
        covered = ops.max(in_rows[:, :, :, None] * in_cols[:, :, None, :], axis=1)
        if rank == 4:
            covered = covered[..., None]
        return inputs * (1.0 - covered)

    def get_config(self):
        config = super().get_config()
        config.update({"size": list(self.size), "count": self.count})
        return config


@keras.saving.register_keras_serializable(package="keras_ae")
class TokenMasking(_Corruption):
    """Sets a random share of the tokens of each example to 0 (MAE-style).

    A token is what the transformer family embeds: a square patch of
    `patch_size` x `patch_size` pixels of an image `(batch_size, height,
    width, channels)`, or one time step of a sequence `(batch_size,
    timesteps, features)`. Exactly `round(rate * num_tokens)` tokens of each
    example, chosen uniformly without replacement, are set to 0.

    Args:
        rate: float in [0, 1], share of the tokens to mask.
        patch_size: int > 0, side of an image patch; must divide the height
            and the width. Unused for sequences.
        seed: int or `None`, seed of the layer's random generator.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Tensor of images `(batch_size, height, width, channels)` or
            sequences `(batch_size, timesteps, features)`.
        training: Python bool. `False` returns `inputs` unchanged.

    Like `Occlusion`, the layer only writes zeros (`fills_with_zeros = True`).

    Example:

    >>> masked = TokenMasking(rate=0.5, patch_size=7, seed=0)(
    ...     x_batch, training=True)
    """

    fills_with_zeros = True

    def __init__(self, rate=0.5, patch_size=7, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = check_number("rate", rate, 0.0, 1.0)
        self.patch_size = check_positive_int("patch_size", patch_size)

    def corrupt(self, inputs):
        rank = len(inputs.shape)
        if rank == 4:
            height, width = inputs.shape[1], inputs.shape[2]
            p = self.patch_size
            if height % p or width % p:
                raise ValueError(
                    "`patch_size` must divide the height and width of the "
                    f"images. Received: patch_size={p} for images of shape "
                    f"{tuple(inputs.shape[1:])}"
                )
            grid = (height // p, width // p)
        elif rank == 3:
            grid = (inputs.shape[1],)
        else:
            raise ValueError(
                "`TokenMasking` takes images (batch_size, height, width, "
                "channels) or sequences (batch_size, timesteps, features). "
                f"Received: inputs with shape {tuple(inputs.shape)}"
            )
        num_tokens = 1
        for g in grid:
            num_tokens *= g
        num_masked = int(round(self.rate * num_tokens))
        batch = ops.shape(inputs)[0]
        scores = keras.random.uniform((batch, num_tokens),
                                      seed=self.seed_generator)
        # The rank of each token's score: a uniformly random permutation.
        ranks = ops.argsort(ops.argsort(scores, axis=1), axis=1)
        masked = ops.cast(ranks < num_masked, inputs.dtype)
        if rank == 4:
            masked = ops.reshape(masked, (batch, *grid))
            masked = ops.repeat(ops.repeat(masked, p, axis=1), p, axis=2)
        return inputs * (1.0 - masked[..., None])

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "patch_size": self.patch_size})
        return config


def _check_size(name, size):
    """Returns `size` as a `(height, width)` tuple of positive ints."""
    square = isinstance(size, numbers.Integral) and not isinstance(size, bool)
    checked = (size, size) if square else size
    try:
        checked = check_positive_ints(name, checked)
    except ValueError:
        checked = ()
    if len(checked) != 2:
        raise ValueError(
            f"`{name}` must be a positive int or a tuple (height, width) of "
            f"positive ints. Received: {name}={size!r}"
        )
    return checked


def corruption_for(name, seed=None, image_shape=(28, 28)):
    """The corruption layer a `TrainingConfig.corruption` names, or `None`.

    `"gaussian_noise"`: `GaussianNoise(0.5)`; `"occlusion"`: one square
    `Occlusion` of about 10/28 of the image's side (10x10 on digits).
    """
    if name == "gaussian_noise":
        return GaussianNoise(0.5, seed=seed)
    if name == "occlusion":
        side = max(1, round(min(image_shape[:2]) * 10 / 28))
        return Occlusion((side, side), seed=seed)
    return None
