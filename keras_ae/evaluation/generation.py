"""Generation: samples from the prior and interpolations between codes."""

from keras_ae.evaluation._common import check_autoencoder
from keras_ae.evaluation._common import check_data


def plot_samples(vae, path=None, num_samples=64, seed=0):
    """Draws samples decoded from the prior N(0, I) of a VAE in a grid."""
    from keras_ae import plotting

    check_autoencoder(vae, "vae", variational=True)
    return plotting.plot_grid(vae.sample(num_samples, seed=seed), path,
                              "Samples decoded from the prior N(0, I)")


def plot_interpolations(model, x_starts, x_ends, path=None, num_steps=10):
    """Draws one row per pair: the decoded segment between two inputs' codes.

    Args:
        model: a keras_ae autoencoder (`model.interpolate` decodes the
            points of the segment between the two codes, `z_mean` for a VAE).
        x_starts: inputs where the rows start.
        x_ends: inputs where the rows end, as many as `x_starts`.
        path: where to save the PNG, or `None`.
        num_steps: int >= 2, points per row, both ends included.
    """
    from keras_ae import plotting

    check_autoencoder(model)
    x_starts = check_data("x_starts", x_starts, model)
    x_ends = check_data("x_ends", x_ends, model)
    if len(x_starts) != len(x_ends):
        raise ValueError(
            "`x_starts` and `x_ends` must hold as many inputs. Received: "
            f"{len(x_starts)} and {len(x_ends)}"
        )
    rows = {f"pair {i + 1}": model.interpolate(a, b, num_steps)
            for i, (a, b) in enumerate(zip(x_starts, x_ends))}
    return plotting.plot_rows(rows, path,
                              "Decoded straight lines between two codes")
