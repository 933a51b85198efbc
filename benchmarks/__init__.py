"""Benchmark scripts of keras_ae. Run each from the repository root, e.g.
`python -m benchmarks.families`; they write to `benchmarks/results/` and
share their runner, `benchmarks.common`."""

import os

# Before TensorFlow is first imported: keep its start-up logs out of the runs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
