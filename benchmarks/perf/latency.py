"""Section `latency`: every family's VAE in each deployed form, at batch 1
and 256. The forms are built by `benchmarks.deployment.deployed_forms`."""

import numpy as np

from benchmarks import common
from benchmarks.deployment import deployed_forms
from benchmarks.perf.settings import build_model

BATCH_SIZES = (1, 256)
FORMS = ("keras_function", "keras", "saved_model", "litert_float",
         "litert_dynamic", "litert_int8")


def benchmark_latency(family, data, settings, work_dir, seed=0,
                      litert_threads=None):
    """Returns the latency rows of one family's VAE, one per form."""
    (x_train, _), (x_val, _) = data
    model = build_model(family, x_train.shape[1:], True, seed)
    forms = deployed_forms(model, x_train, work_dir, f"{family}_vae", FORMS,
                           litert_threads)
    batch = x_val[:max(BATCH_SIZES)]
    reference = forms["keras_function"][0](batch)
    rows = []
    for form, built in forms.items():
        row = {"family": family, "kind": "vae", "form": form}
        if isinstance(built, str):
            rows.append({**row, "error": built})
            continue
        fn, _, delegate = built
        row["delegate"] = delegate
        row["max_abs_vs_keras"] = float(np.max(np.abs(fn(batch) - reference)))
        for size in BATCH_SIZES:
            x = np.ascontiguousarray(x_val[:size])
            seconds, calls = common.median_seconds(
                lambda: fn(x), settings["latency_warmup"],
                settings["latency_repeats"], settings["latency_max_seconds"])
            row[f"latency_ms_batch_{size}"] = 1000 * seconds
            row[f"calls_batch_{size}"] = calls
        rows.append(row)
    return rows


def latency_lines(report):
    config = report["config"]
    lines = [
        "## Inference latency", "",
        f"Each family's VAE (untrained weights: latency does not depend on "
        f"them), median of {config['latency_repeats']} calls after "
        f"{config['latency_warmup']} warm-up calls (slow forms: fewer, at "
        f"least 3, once {config['latency_max_seconds']:g} s of calls have "
        "passed; `calls_batch_*` in the JSON), NumPy in and out. "
        "`keras_function` is the model in a `tf.function`, `keras` its "
        "`predict_on_batch`. LiteRT threads: "
        f"{config['litert_threads'] or 'the interpreter default'}.", "",
        "| family | form | latency @1 (ms) | latency @256 (ms) | max abs vs "
        "Keras | delegate |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in report["results"]["latency"]:
        if "error" in row:
            lines.append(f"| {row['family']} | {row['form']} | failed: "
                         f"{row['error'][:120]} | | | |")
            continue
        lines.append(
            f"| {row['family']} | {row['form']} | "
            f"{row['latency_ms_batch_1']:.3f} | "
            f"{row['latency_ms_batch_256']:.2f} | "
            f"{row['max_abs_vs_keras']:.1e} | {row['delegate'] or '-'} |")
    return lines + [""]
