"""`tf.data` pipelines for training autoencoders."""

import numpy as np
import tensorflow as tf

from keras_ae.checks import check_finite
from keras_ae.checks import check_positive_int

__all__ = ["make_dataset"]


def make_dataset(x, y=None, batch_size=128, shuffle=True, seed=0,
                 corruption=None, cache=True, labels=None):
    """Builds a `tf.data` pipeline for an autoencoder.

    Yields `x` alone (the target is the input), `(x, y)` when `y` is given,
    or `(corruption(x), x)` when a `corruption` layer is given, for training
    a model that restores corrupted inputs. With `labels` (a conditional
    model), the inputs are the dict `{"inputs": x, "labels": labels}`: the
    way every conditional objective of the zoo takes its labels.

    Args:
        x: array of inputs.
        y: array of targets or `None`.
        batch_size: int > 0.
        shuffle: bool, reshuffled each epoch.
        seed: int, seed of the shuffle.
        corruption: a callable (e.g. a `keras_ae.corruptions` layer) applied to
            each batch, or `None`.
        cache: bool, cache the examples in memory after the first epoch.
        labels: array of integer class labels, one per input, or `None`.

    Returns:
        A batched, prefetched `tf.data.Dataset`.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    x = check_finite("x", np.asarray(x, dtype="float32"))
    parts = {"inputs": x}
    for name, values, dtype, noun in (("y", y, "float32", "targets"),
                                      ("labels", labels, "int32", "labels")):
        if values is None:
            continue
        values = np.asarray(values)
        if len(values) != len(x):
            raise ValueError(
                f"`{name}` must hold one entry per input. Received: {len(x)} "
                f"inputs and {len(values)} {noun}.")
        parts[name] = check_finite(name, values).astype(dtype)
    dataset = tf.data.Dataset.from_tensor_slices(parts)
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    # A sequential map: parallel calls would draw from the corruption's seed
    # generator in scheduling order, so the same seed would give different
    # corrupted batches from run to run. Prefetch still overlaps the
    # corruption with training.
    dataset = dataset.map(lambda batch: _element(batch, corruption))
    # In-memory examples have no files to split: workers of a multi-worker
    # run each take their share of the batches.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def _element(batch, corruption):
    """One batch as `fit` takes it: inputs, and a target when there is one."""
    clean = batch["inputs"]
    inputs = clean if corruption is None else corruption(clean, training=True)
    if "labels" in batch:
        inputs = {"inputs": inputs, "labels": batch["labels"]}
    if "y" in batch:
        return inputs, batch["y"]
    if corruption is not None:
        return inputs, clean
    return inputs
