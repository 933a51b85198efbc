"""What the commands print: the run's and the evaluation's main figures."""

__all__ = ["summarize_run", "summarize_evaluation"]


class _Lines:
    """Aligned `label  value` lines under headings."""

    def __init__(self, *head):
        self.lines = list(head)

    def heading(self, text):
        self.lines.append(text)

    def add(self, label, value, width=42):
        self.lines.append(f"  {label:<{width}} {value}")

    def __str__(self):
        return "\n".join(self.lines)


def summarize_run(result):
    """Formats a `keras_ae.training.train` result for the terminal."""
    if not result.get("chief", True):
        return (f"Trained as a worker; the chief writes the run to "
                f"{result['run_dir']}")
    out = _Lines(f"Run written to {result['run_dir']}")
    width = max(len(k) for k in [*result["artefacts"], *result["metrics"]])
    for name, path in result["artefacts"].items():
        out.add(name, path, width)
    out.heading(f"Metrics of epoch {result['best_epoch']} of "
                f"{result['epochs']} (the weights kept):")
    for name, value in sorted(result["metrics"].items()):
        out.add(name, f"{value:.4f}", width)
    quality = result.get("quality")
    if quality:
        out.heading("Judged by a reference classifier trained on the "
                    "training images:")
        out.lines.append(
            f"  the true class is recognised in "
            f"{quality['reconstruction_agreement']:.1%} of the validation "
            f"reconstructions (in {quality['original_accuracy']:.1%} of the "
            "originals)")
        if "classes_covered" in quality:
            out.lines.append(
                f"  {quality['classes_covered']} of "
                f"{len(quality['class_shares'])} classes covered by the "
                f"samples (>= 2% of them each); largest share "
                f"{quality['largest_share']:.1%}, digit FID "
                f"{quality['frechet_distance']:.1f}")
    return str(out)


def summarize_evaluation(result):
    """Formats the main figures of an `evaluate_model` result for the terminal."""
    metrics = result["metrics"]
    described = metrics["model"]
    out = _Lines(f"Evaluation written to {result['output_dir']}",
                 f"Model: {described['class']} of the "
                 f"{described.get('family') or 'unrecorded'} family, code of "
                 f"shape {tuple(described['code_shape'])}")
    for name in sorted(result["files"]):
        out.lines.append(f"  {result['files'][name]}")
    out.heading("Main metrics:")
    for task in ("denoising", "occlusion"):
        if task in metrics:
            m = metrics[task]
            out.add(f"{task}: PSNR corrupted -> restored",
                    f"{m['restored_psnr']:.4g} dB (from "
                    f"{m['corrupted_psnr']:.4g})")
            out.add(f"{task}: SSIM corrupted -> restored",
                    f"{m['restored_ssim']:.4g} (from {m['corrupted_ssim']:.4g})")
            if "inpainted_psnr" in m:
                out.add(f"{task}: PSNR inpainted (restored where occluded)",
                        f"{m['inpainted_psnr']:.4g} dB (from "
                        f"{m['corrupted_psnr']:.4g})")
    m = metrics["pca_comparison"]
    out.add("MSE autoencoder", f"{m['ae_mse']:.4g} (PCA {m['pca_mse']:.4g}, "
            f"mean image {m['mean_image_mse']:.4g})")
    m = metrics["classification"]
    for key in sorted(k for k in m if k.startswith("probe_accuracy")):
        tag = key.rsplit("_", 1)[1]
        unit = "" if tag == "all" else "/class"
        out.add(f"probe accuracy, {tag} labels{unit}",
                f"{m[key]:.4g} (pixels {m[f'pixels_accuracy_{tag}']:.4g}, PCA "
                f"{m[f'pca_accuracy_{tag}']:.4g})")
        if f"fine_tuned_accuracy_{tag}" in m:
            out.add(f"fine-tuned accuracy, {tag} labels{unit}",
                    f"{m[f'fine_tuned_accuracy_{tag}']:.4g} (pixels "
                    f"{m[f'pixels_accuracy_{tag}']:.4g})")
    if "likelihood" in metrics:
        m = metrics["likelihood"]
        out.add("negative ELBO (nats)", f"{m['negative_elbo']:.4g}")
        out.add(f"IW-NLL, k={int(m['k'])} (nats)", f"{m['iw_nll']:.4g}")
    if "anomaly_detection" in metrics:
        m = metrics["anomaly_detection"]
        out.add(f"anomaly ROC AUC (class {int(m['normal_class'])} normal)",
                f"{m['roc_auc']:.4g} (PCA {m['pca_roc_auc']:.4g})")
    return str(out)
