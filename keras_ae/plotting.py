"""Figures: image grids, latent scatters and the VAE's decoded manifold.

Every function draws on a new matplotlib figure, saves it as PNG when given a
`path`, and returns the figure (so notebooks can show it inline).
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from sklearn.decomposition import PCA

__all__ = [
    "is_series", "plot_rows", "plot_reconstructions", "plot_grid",
    "plot_latent_space", "plot_manifold", "plot_class_samples",
    "plot_history"
]


def _as_image(example):
    """Turns one example into something `imshow` draws (H, W) or (H, W, 3)."""
    example = np.asarray(example)
    if example.ndim == 3 and example.shape[-1] == 1:
        example = example[..., 0]
    if example.ndim == 1:
        side = int(np.sqrt(example.size))
        if side * side == example.size:
            example = example.reshape(side, side)
        else:
            example = example[None, :]
    return np.clip(example, 0.0, 1.0)


def is_series(examples):
    """Whether examples are series `(n, timesteps, features)` with few features."""
    examples = np.asarray(examples)
    return examples.ndim == 3 and examples.shape[-1] <= 8


def _draw_series(ax, *series, labels=None):
    for index, values in enumerate(series):
        ax.plot(np.asarray(values), lw=1.0, label=labels[index] if labels else None)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_row(axes, examples, title):
    for ax, example in zip(axes, examples):
        image = _as_image(example)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None,
                  vmin=0.0, vmax=1.0, aspect="auto" if image.shape[0] == 1 else None)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=10)


def plot_rows(rows, path=None, title=None):
    """Draws named rows of images: e.g. clean, corrupted and restored.

    Args:
        rows: dict `{row name: array of examples}`, all rows of equal length.
        path: where to save the PNG, or `None`.
        title: figure title or `None`.
    """
    names = list(rows)
    count = len(rows[names[0]])
    fig, axes = plt.subplots(len(names), count,
                             figsize=(1.1 * count + 1.2, 1.2 * len(names) + 0.4),
                             squeeze=False)
    for row_axes, name in zip(axes, names):
        _draw_row(row_axes, rows[name], name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_reconstructions(originals, reconstructions, path=None, title=None):
    """Draws originals above their reconstructions (series: one over the other)."""
    if is_series(originals):
        count = len(originals)
        fig, axes = plt.subplots(1, count, figsize=(1.8 * count, 2.0),
                                 squeeze=False)
        for ax, original, reconstruction in zip(axes[0], originals,
                                                reconstructions):
            _draw_series(ax, original, reconstruction,
                         labels=("original", "reconstruction"))
        axes[0][0].legend(loc="upper left", fontsize=7)
        fig.suptitle(title or "Series (blue) and their reconstructions (orange)")
        fig.tight_layout()
        return _save(fig, path)
    return plot_rows({"original": originals, "reconstruction": reconstructions},
                     path, title or "Originals (top) and reconstructions")


def plot_grid(images, path=None, title=None, columns=None):
    """Draws images in a square-ish grid, e.g. samples from a VAE's prior."""
    images = np.asarray(images)
    columns = columns or int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns, rows + 0.4),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, image in zip(axes.flat, images):
        if is_series(images):
            ax.set_axis_on()
            _draw_series(ax, image)
            continue
        image = _as_image(image)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.97) if title else None)
    return _save(fig, path)


def plot_latent_space(codes, labels, path=None, title=None,
                      axis_labels=("z[0]", "z[1]")):
    """Scatters 2-D codes coloured by class.

    Codes of more than two dimensions are projected on their first two
    principal components (the axes say so). `axis_labels` names the axes of
    2-D points, e.g. `("PC 1", "PC 2")` for a PCA projection.
    """
    codes = np.asarray(codes)
    codes = codes.reshape(len(codes), -1)  # feature-map codes too
    xlabel, ylabel = axis_labels
    if codes.shape[1] > 2:
        codes = PCA(n_components=2).fit_transform(codes)
        xlabel, ylabel = "PC 1 of the codes", "PC 2 of the codes"
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10",
                        s=6, alpha=0.8)
    fig.colorbar(points, ax=ax, label="class")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Validation examples in latent space")
    fig.tight_layout()
    return _save(fig, path)


def plot_manifold(model, path=None, grid_size=15, extent=2.0):
    """Decodes a regular grid of 2-D codes (a VAE's learned manifold).

    The grid spans `[-extent, extent]` on both axes of the prior N(0, I).
    """
    if model.code_shape != (2,):
        raise ValueError(
            "`plot_manifold` needs a model with latent_dim=2. Received: "
            f"a code of shape {model.code_shape}"
        )
    values = np.linspace(-extent, extent, grid_size, dtype="float32")
    codes = np.array([[x, y] for y in values[::-1] for x in values])
    images = model.decode(codes)
    return plot_grid(images, path, "Decoded grid of the 2-D latent space",
                     columns=grid_size)


def plot_class_samples(model, path=None, num_per_class=10, seed=0):
    """Draws a conditional model's samples, one row per class it was asked for.

    Row `c` holds `model.sample(num_per_class, labels=c, seed=seed)`: the
    same codes decoded as each class, so a column shows one style in every
    class.
    """
    rows = {f"class {c}": model.sample(num_per_class, labels=c, seed=seed)
            for c in range(model.num_classes)}
    return plot_rows(rows, path, "Samples of each asked class (one row each)")


def plot_history(history, path=None):
    """Plots each logged metric of a training history per epoch.

    One panel per metric (the losses, the KL term, the learning rate), the
    training and validation curves together, on integer epochs; the history's
    `epoch` column is the axis, not a panel.
    """
    names = sorted(k for k in history if not k.startswith("val_") and k != "epoch")
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2),
                             squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = range(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker=".", label="train")
        if f"val_{name}" in history:
            ax.plot(range(1, len(history[f"val_{name}"]) + 1),
                    history[f"val_{name}"], marker=".", label="validation")
            ax.legend()
        if name == "learning_rate" and min(history[name], default=0) > 0:
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path):
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig
