"""Benchmark scripts of keras_ae. Run each from the repository root, e.g.
`python -m benchmarks.families`; they write to `benchmarks/results/`."""
