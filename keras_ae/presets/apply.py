"""Applying a preset to your own data: restore a folder of images, score series.

`restore_folder(model, folder, output_dir)` runs an image autoencoder (a
denoiser, an inpainter, any reconstruction model) over every image of a
folder and writes the restored images and a figure; `score_series_file(
model, csv_path, output_dir, anomaly)` scores each series of a CSV by its
reconstruction error against the preset's threshold and writes the scores
and a figure. `python -m keras_ae apply` runs them on a preset.
"""

import csv
import os

import keras

from keras_ae import plotting
from keras_ae.checks import check_autoencoder
from keras_ae.checks import check_output_dir
from keras_ae.data.files import load_image_folder
from keras_ae.data.files import load_series_csv
from keras_ae.evaluation.anomaly import plot_score_histogram
from keras_ae.evaluation.anomaly import reconstruction_errors
from keras_ae.io import write_json

__all__ = ["restore_folder", "score_series_file"]


def restore_folder(model, folder, output_dir):
    """Restores every image of `folder` with `model`; writes PNGs and a figure.

    The images are read with `keras.utils.image_dataset_from_directory`,
    resized to the model's input size, in grey or colour as the model takes
    them, and scaled to [0, 1].

    Returns:
        `{"output_dir": ..., "images": n, "files": {name: path}}`.
    """
    check_autoencoder(model)
    check_output_dir("output_dir", output_dir, must_be_new=True)
    shape = model.input_shape_
    if len(shape) != 3:
        raise ValueError(
            "`model` must take images (height, width, channels) to restore a "
            f"folder. Received: a model with input shape {shape}")
    color_mode = {1: "grayscale", 3: "rgb"}.get(shape[2])
    if color_mode is None:
        raise ValueError(f"`model` takes {shape[2]} channels; a folder of images "
                         "gives 1 (grey) or 3 (colour).")
    x, _ = load_image_folder(folder, image_size=shape[:2], color_mode=color_mode)
    restored = model.reconstruct(x)
    os.makedirs(output_dir)
    files = {}
    for index, image in enumerate(restored):
        path = os.path.join(output_dir, f"restored_{index:05d}.png")
        keras.utils.save_img(path, image, scale=True)
    files["restored"] = output_dir
    files["figure"] = os.path.join(output_dir, "restorations.png")
    plotting.plot_reconstructions(x[:10], restored[:10], files["figure"],
                                  title="Inputs above their restorations")
    return {"output_dir": output_dir, "images": int(len(x)), "files": files}


def score_series_file(model, csv_path, output_dir, anomaly):
    """Scores each series (a row) of a CSV for anomalies; writes scores and a figure.

    Each row is prepared as the preset's training windows were: centred on
    its mean and divided by `anomaly["scale"]`; its score is its summed
    squared reconstruction error, and a score above `anomaly["threshold"]`
    (a quantile of the training windows' scores) flags it.

    Args:
        model: a sequence autoencoder taking `(window, 1)` series.
        csv_path: str, a CSV of fixed-length series, one a row.
        output_dir: str, a new directory for `scores.csv`, `summary.json` and
            `scores.png`.
        anomaly: the preset's `metadata["anomaly"]`: `window`, `scale`,
            `threshold`.

    Returns:
        `{"output_dir": ..., "series": n, "flagged": k, "files": {...}}`.
    """
    check_autoencoder(model)
    check_output_dir("output_dir", output_dir, must_be_new=True)
    x, _ = load_series_csv(csv_path)
    if x.shape[1:] != model.input_shape_:
        raise ValueError(
            f"`data` must hold series of {model.input_shape_[0]} values (the "
            f"preset's window). Received: series of {x.shape[1]} values in "
            f"{csv_path!r}")
    windows = (x - x.mean(axis=1, keepdims=True)) / anomaly["scale"]
    scores = reconstruction_errors(model, windows)
    flags = scores > anomaly["threshold"]
    os.makedirs(output_dir)
    files = {"scores": os.path.join(output_dir, "scores.csv"),
             "summary": os.path.join(output_dir, "summary.json"),
             "figure": os.path.join(output_dir, "scores.png")}
    with open(files["scores"], "x", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "score", "anomalous"])
        for row, (score, flag) in enumerate(zip(scores, flags)):
            writer.writerow([row, f"{score:.6g}", int(flag)])
    plot_score_histogram(scores, flags.astype("int64"), anomaly["threshold"],
                         files["figure"], title="Scores of the series (flagged "
                         "above the threshold)")
    summary = {"series": int(len(x)), "flagged": int(flags.sum()),
               "threshold": float(anomaly["threshold"])}
    write_json(files["summary"], summary)
    return {"output_dir": output_dir, **summary, "files": files}

