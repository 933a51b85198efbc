"""Small settings for the tests: each family's input and options, each objective's.

The contract suite builds every family x objective pair from these. A new
family or objective adds its entry here; `test_contract.py` fails by name for
one without settings.
"""

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
}

LATENT_DIM = 4


def training_data(model, x):
    """The positional arguments of `fit` for inputs `x`: `(x,)` by default.

    A conditional objective adds its labels here.
    """
    return (x,)


def split_inputs(data):
    """`(x, y)` for `compute_terms` from `training_data`'s arguments."""
    return data[0], data[0]


def signature_input(model, spec, rng, batch=3):
    """A batch for one input of a serving signature: values in [0, 1)."""
    shape = (batch, *spec.shape[1:])
    return rng.random(shape).astype(spec.dtype.as_numpy_dtype)
