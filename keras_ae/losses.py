"""Per-example loss terms of the autoencoders.

Every function here returns one value per example, shape `(batch_size,)`:
the models reduce them over the batch themselves (see `AutoEncoder`). They
compute in float32 whatever the model's dtype policy, so sums over many
features stay accurate under mixed precision.
"""

from keras import ops

__all__ = ["RECONSTRUCTION_LOSSES", "reconstruction_loss", "kl_divergence"]

RECONSTRUCTION_LOSSES = ("mse", "bce")


def reconstruction_loss(y_true, y_pred, kind="mse"):
    """Reconstruction error of each example, summed over its features.

    Args:
        y_true: Tensor of targets, shape `(batch_size, ...)`.
        y_pred: Tensor of reconstructions, same shape as `y_true`.
        kind: `"mse"` (squared error) or `"bce"` (binary cross-entropy; the
            targets must lie in [0, 1] and `y_pred` be probabilities).

    Returns:
        A tensor of shape `(batch_size,)`.
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    if kind == "mse":
        per_feature = ops.square(y_true - y_pred)
    elif kind == "bce":
        per_feature = ops.binary_crossentropy(y_true, y_pred, from_logits=False)
    else:
        raise ValueError(
            f"Unknown `kind`. Received: kind={kind!r}; "
            f"allowed: {RECONSTRUCTION_LOSSES}."
        )
    return ops.sum(ops.reshape(per_feature, (ops.shape(y_pred)[0], -1)), axis=1)


def kl_divergence(z_mean, z_log_var):
    """KL divergence from N(z_mean, exp(z_log_var)) to N(0, I), per example.

    Computes `0.5 * sum(exp(z_log_var) + z_mean**2 - 1 - z_log_var)` over
    every axis of the code but the batch axis (a vector code, or the height,
    width and channels of a feature-map code). It is zero exactly when
    `z_mean = 0` and `z_log_var = 0` and positive otherwise.

    Returns:
        A tensor of shape `(batch_size,)`.
    """
    z_mean = ops.cast(z_mean, "float32")
    z_log_var = ops.cast(z_log_var, "float32")
    per_value = ops.exp(z_log_var) + ops.square(z_mean) - 1.0 - z_log_var
    return 0.5 * ops.sum(
        ops.reshape(per_value, (ops.shape(z_mean)[0], -1)), axis=1)
