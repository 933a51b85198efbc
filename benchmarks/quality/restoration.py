"""Restoration tasks: noise removal and occlusion removal."""

import numpy as np

from benchmarks.quality.context import row
from benchmarks.quality.context import timed_fit
from benchmarks.quality.context import train_zoo_model

NOISE_STDDEV = 0.5
OCCLUSION_SIZE = 10


def _restoration_anchor(context, corruption):
    """The keras.io denoiser trained as its example does: corrupted once."""
    import keras

    from benchmarks.anchors import build_keras_io_denoiser
    from keras_ae.evaluation import corrupt

    keras.utils.set_random_seed(context.model_seed)
    anchor = build_keras_io_denoiser(context.x_train.shape[1:])
    corrupted = corrupt(corruption, context.x_train, seed=context.model_seed + 1)
    seconds = timed_fit(anchor, corrupted, context.x_train, epochs=context.epochs,
                        batch_size=context.batch_size, shuffle=True, verbose=0)
    return anchor, seconds


def _restore(model, corrupted):
    predict = getattr(model, "reconstruct", None)
    if predict is None:
        return np.clip(model.predict(corrupted, batch_size=256, verbose=0), 0, 1)
    return np.clip(predict(corrupted), 0.0, 1.0)


def run_denoising(context):
    from keras_ae import plotting
    from keras_ae.corruptions import GaussianNoise
    from keras_ae.evaluation import corrupt
    from keras_ae.evaluation import psnr_ssim

    noise = GaussianNoise(NOISE_STDDEV, seed=context.model_seed)
    zoo, zoo_seconds = train_zoo_model(context, "denoising", corruption=noise)
    anchor, anchor_seconds = _restoration_anchor(context, noise)
    rows, details = [], {"zoo_seconds": zoo_seconds,
                         "anchor_seconds": anchor_seconds}
    for name, (x, _) in context.held_out.items():
        noisy = corrupt(noise, x, seed=context.seed)
        zoo_out, anchor_out = _restore(zoo, noisy), _restore(anchor, noisy)
        scores = {"noisy": psnr_ssim(x, noisy), "zoo": psnr_ssim(x, zoo_out),
                  "anchor": psnr_ssim(x, anchor_out)}
        details[name] = scores
        rows.append(row("noise removal (sigma 0.5)", "PSNR (dB)", name,
                        scores["zoo"]["psnr"], scores["anchor"]["psnr"],
                        "keras.io denoising AE",
                        scores["zoo"]["psnr"] >= scores["anchor"]["psnr"] + 1.0,
                        "anchor + 1 dB", zoo_seconds, anchor_seconds))
        plotting.plot_rows(
            {"clean": x[:10], "noisy": noisy[:10], "keras.io": anchor_out[:10],
             "keras_ae": zoo_out[:10]}, context.figure(f"denoising_{name}"),
            f"Noise removal, sigma 0.5: PSNR noisy {scores['noisy']['psnr']:.1f}, "
            f"keras.io {scores['anchor']['psnr']:.1f}, keras_ae "
            f"{scores['zoo']['psnr']:.1f} dB")
    return rows, details


def run_occlusion(context):
    from keras_ae import plotting
    from keras_ae.corruptions import Occlusion
    from keras_ae.evaluation import corrupt
    from keras_ae.evaluation import psnr_ssim

    occlusion = Occlusion(OCCLUSION_SIZE, seed=context.model_seed)
    zoo, zoo_seconds = train_zoo_model(context, "occlusion", corruption=occlusion)
    anchor, anchor_seconds = _restoration_anchor(context, occlusion)
    mean_image = context.x_train.mean(axis=0)
    rows, details = [], {"zoo_seconds": zoo_seconds,
                         "anchor_seconds": anchor_seconds}
    for name, (x, _) in context.held_out.items():
        occluded = corrupt(occlusion, x, seed=context.seed)
        changed = np.any(occluded != x, axis=(1, 2, 3))
        x, occluded = x[changed], occluded[changed]
        observed = occluded != 0.0
        zoo_out, anchor_out = _restore(zoo, occluded), _restore(anchor, occluded)
        images = {
            "occluded": occluded,
            "mean-image fill": np.where(observed, occluded, mean_image),
            "keras_ae raw": zoo_out,
            "keras_ae inpainted": np.where(observed, occluded, zoo_out),
            "keras.io raw": anchor_out,
            "keras.io inpainted": np.where(observed, occluded, anchor_out),
        }
        scores = {k: psnr_ssim(x, v) for k, v in images.items()}
        details[name] = {**scores, "num_images": int(changed.sum())}
        base = scores["occluded"]["psnr"]
        for kind, margin in (("raw", 1.0), ("inpainted", 3.0)):
            zoo_psnr = scores[f"keras_ae {kind}"]["psnr"]
            rows.append(row(f"occlusion removal, {kind}", "PSNR (dB)", name,
                            zoo_psnr, scores[f"keras.io {kind}"]["psnr"],
                            "keras.io denoiser arch.", zoo_psnr >= base + margin,
                            f"occluded ({base:.2f}) + {margin:g} dB",
                            zoo_seconds, anchor_seconds))
        plotting.plot_rows({"clean": x[:10], **{k: v[:10] for k, v in images.items()}},
                           context.figure(f"occlusion_{name}"),
                           "Occlusion removal (10x10 square), PSNR in dB:\n" + ", ".join(
                               f"{k} {v['psnr']:.1f}" for k, v in scores.items()))
    return rows, details


def run_denoiser_ablation(context):
    """The denoiser with the cosine decay it goes without: PSNR per held-out set."""
    from keras_ae.corruptions import GaussianNoise
    from keras_ae.evaluation import corrupt
    from keras_ae.evaluation import psnr_ssim

    results = {}
    for label, overrides in (("the zoo's denoiser recipe (constant rate)", {}),
                             ("with cosine decay", {"cosine_decay": True})):
        noise = GaussianNoise(NOISE_STDDEV, seed=context.model_seed)
        model, seconds = train_zoo_model(context, "denoising", corruption=noise,
                                         **overrides)
        results[label] = {"seconds": seconds, **{
            name: psnr_ssim(x, _restore(model, corrupt(noise, x, seed=context.seed)))["psnr"]
            for name, (x, _) in context.held_out.items()}}
    return results
