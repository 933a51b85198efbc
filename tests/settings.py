"""Small settings for the tests: each family's input and options, each objective's.

The contract suite builds every family x objective pair from these. A new
family or objective adds its entry here; `test_contract.py` fails by name for
one without settings.
"""

import os

import numpy as np

# Family -> (input shape, options): small inputs and widths keep each build,
# trace and conversion to about a second.
FAMILIES = {
    "dense": ((8, 8, 1), {"hidden_units": (16,)}),
    "conv": ((8, 8, 1), {"filters": (4, 8), "residual_blocks": 1}),
    "lstm": ((6, 4), {"units": (8,)}),
    "transformer": ((8, 8, 1), {"patch_size": 4, "embed_dim": 8,
                                "num_heads": 2, "mlp_dim": 16,
                                "num_layers": 1}),
}

# Objective -> options for the tests (fewer samples, pseudo-inputs...).
OBJECTIVES = {
    "ae": {},
    "vae": {"seed": 0},
    "iwae": {"num_samples": 3, "seed": 0},
    # At least the contract's batches of 16.
    "beta_tcvae": {"dataset_size": 64, "seed": 0},
    "info_vae": {"seed": 0},
    "rae": {},
    "vampprior": {"num_pseudo_inputs": 3, "seed": 0},
    "cvae": {"num_classes": 3, "seed": 0},
    # A small codebook and prior: the contract trains a step, not a model.
    "vq_vae": {"num_embeddings": 8, "prior_filters": 8, "prior_layers": 1,
               "prior_epochs": 1, "seed": 0},
}

LATENT_DIM = 4


def labels_for(model, num_examples):
    """`()`, or `(labels,)` for a conditional model: the classes in turn."""
    if not getattr(model, "conditional", False):
        return ()
    return ((np.arange(num_examples) % model.num_classes).astype("int32"),)


def verb_arguments(model, x):
    """The arguments of `encode`, `reconstruct` and `decode` for `x` (inputs or codes).

    `(x,)`, or `(x, labels)` for a conditional model.
    """
    return (x, *labels_for(model, len(x)))


def training_data(model, x):
    """The positional arguments of `fit` for inputs `x`: `(x,)` by default.

    A conditional model takes `({"inputs": x, "labels": labels},)`.
    """
    labels = labels_for(model, len(x))
    if labels:
        return ({"inputs": x, "labels": labels[0]},)
    return (x,)


def split_inputs(data):
    """`(x, y)` for `compute_terms` from `training_data`'s arguments."""
    if isinstance(data[0], dict):
        return data[0], data[0]["inputs"]
    return data[0], data[0]


def code_shape(model, latent_dim):
    """The code shape of a model built with `latent_dim`.

    `(latent_dim,)` or the map; `latent_dim` vectors of `embedding_dim`
    values for a vector-quantized vector code.
    """
    if isinstance(latent_dim, tuple):
        return latent_dim
    depth = getattr(model, "quantizer", None)
    return (latent_dim,) if depth is None else (latent_dim,
                                                depth.embedding_dim)


# Integer signature inputs and the model attribute that bounds their values.
INTEGER_INPUTS = {"labels": "num_classes", "indices": "num_embeddings"}


def signature_input(model, spec, rng, batch=3):
    """A batch for one input of a serving signature.

    Floats in [0, 1); integer inputs (labels, codebook indices) drawn in
    their range.
    """
    shape = (batch, *spec.shape[1:])
    if spec.dtype.is_integer:
        high = getattr(model, INTEGER_INPUTS[spec.name])
        return rng.integers(0, high, shape).astype(spec.dtype.as_numpy_dtype)
    return rng.random(shape).astype(spec.dtype.as_numpy_dtype)


def file_tree(root):
    """What a refusal must leave as it was: {relative path: (size, mtime, mode)} of everything under `root`."""
    found = {}
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories + files:
            path = os.path.join(directory, name)
            stat = os.stat(path)
            found[os.path.relpath(path, root)] = (
                stat.st_size if name in files else None, stat.st_mtime_ns,
                stat.st_mode)
    return found
