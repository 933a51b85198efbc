"""Restoration: image quality of corrupted and of restored images."""

import keras
import numpy as np
import tensorflow as tf

from keras_ae import plotting
from keras_ae.checks import check_autoencoder
from keras_ae.checks import check_images
from keras_ae.checks import check_seed

__all__ = ["psnr_ssim", "corrupt", "evaluate_restoration"]


def psnr_ssim(clean, other):
    """Mean PSNR (dB) and SSIM of images against their clean versions.

    Uses `tf.image.psnr` and `tf.image.ssim` with `max_val=1` (SSIM's
    default 11x11 Gaussian window) on each pair, then averages over the
    images. A pair of identical images has an infinite PSNR, and so has the
    mean then (`evaluate_restoration` leaves such pairs out).

    Args:
        clean: images `(n, height, width[, channels])` in [0, 1], height and
            width at least 11.
        other: images of the same shape in [0, 1].

    Returns:
        `{"psnr": float, "ssim": float}`.

    Example:

    >>> psnr_ssim(x_test, np.clip(x_test + 0.1, 0, 1))["psnr"]
    """
    clean = check_images("clean", clean)
    other = check_images("other", other)
    if clean.shape != other.shape:
        raise ValueError(
            "`clean` and `other` must have the same shape. Received: "
            f"{clean.shape} and {other.shape}"
        )
    if len(clean) == 0:
        raise ValueError("`clean` must hold at least one image. Received: 0")
    if min(clean.shape[1:3]) < 11:
        raise ValueError(
            "SSIM needs images of at least 11x11 pixels. Received: images of "
            f"shape {clean.shape[1:]}"
        )
    psnr = tf.image.psnr(clean, other, max_val=1.0).numpy()
    ssim = tf.image.ssim(clean, other, max_val=1.0).numpy()
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}


# --- Restoration -------------------------------------------------------------


def corrupt(corruption, x, seed=0, batch_size=256):
    """Corrupts `x` batch by batch with a fresh copy of `corruption` seeded `seed`.

    A layer whose config has a `seed` (every `keras_ae.corruptions` layer,
    and Keras' random layers) is rebuilt from its config with `seed`, so the
    result depends on `seed` only, not on how often the layer ran before.
    Any other callable is called as is, with `training=True`.
    """
    layer = corruption
    if hasattr(corruption, "get_config"):
        config = corruption.get_config()
        if "seed" in config:
            layer = type(corruption).from_config({**config, "seed": seed})
    out = [keras.ops.convert_to_numpy(layer(x[i:i + batch_size], training=True))
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype("float32")


def evaluate_restoration(model, x_clean, corruption, seed=0, path=None,
                         num_shown=10, title=None):
    """Measures how well a model restores corrupted images.

    Corrupts `x_clean` with `corruption` (seeded by `seed`, see `corrupt`),
    restores the result with `model.reconstruct` (clipped to [0, 1]) and
    compares both to the clean images with `psnr_ssim`. Images that the
    corruption left unchanged (e.g. an occluder on black background) are
    left out of every comparison and counted in `num_unchanged`.

    For a corruption that only writes zeros (`fills_with_zeros`, as
    `Occlusion` and `TokenMasking`), every non-zero corrupted value is an
    observed one; the usual inpainting result keeps those and takes the
    model's output elsewhere (the holes, and black background where the
    model should output about 0). It is reported as `inpainted_psnr` and
    `inpainted_ssim`; no clean pixel is used to build it.

    Args:
        model: a keras_ae autoencoder, ideally trained on corrupted inputs
            (`fit(corrupted, clean)` or `make_dataset(..., corruption=...)`).
        x_clean: images in [0, 1] of the model's input shape.
        corruption: a corruption layer, e.g. `GaussianNoise(0.5)`.
        seed: int, seed of the corruption.
        path: where to save a figure (clean / corrupted / restored rows), or
            `None`.
        num_shown: int, examples in the figure.
        title: figure title or `None`.

    Returns:
        A dict of floats: `corrupted_psnr`, `corrupted_ssim`,
        `restored_psnr`, `restored_ssim`, `num_images`, `num_unchanged`,
        and for a zero-filling corruption `inpainted_psnr`, `inpainted_ssim`.
    """
    check_autoencoder(model)
    x = check_images("x_clean", x_clean)
    model.check_inputs(x, "x_clean")
    seed = check_seed("seed", seed)
    corrupted = corrupt(corruption, x, seed)
    changed = np.any(corrupted != x, axis=tuple(range(1, x.ndim)))
    if not changed.any():
        raise ValueError(
            "`corruption` left every image unchanged; there is nothing to "
            f"restore. Received: corruption={corruption!r}"
        )
    x, corrupted = x[changed], corrupted[changed]
    restored = np.clip(model.reconstruct(corrupted), 0.0, 1.0)
    before = psnr_ssim(x, corrupted)
    after = psnr_ssim(x, restored)
    metrics = {
        "corrupted_psnr": before["psnr"], "corrupted_ssim": before["ssim"],
        "restored_psnr": after["psnr"], "restored_ssim": after["ssim"],
        "num_images": float(changed.sum()),
        "num_unchanged": float((~changed).sum()),
    }
    rows = {"clean": x, "corrupted": corrupted, "restored": restored}
    if getattr(corruption, "fills_with_zeros", False):
        rows["inpainted"] = np.where(corrupted != 0.0, corrupted, restored)
        inpainted = psnr_ssim(x, rows["inpainted"])
        metrics.update({"inpainted_psnr": inpainted["psnr"],
                        "inpainted_ssim": inpainted["ssim"]})
    if path is not None:
        plotting.plot_rows(
            {name: images[:num_shown] for name, images in rows.items()},
            path,
            title or (f"{type(corruption).__name__}: PSNR {before['psnr']:.1f}"
                      f" -> {after['psnr']:.1f} dB, SSIM {before['ssim']:.2f}"
                      f" -> {after['ssim']:.2f} (restored)"),
        )
    return metrics
